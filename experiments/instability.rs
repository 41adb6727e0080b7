//! Instability against the rewind iteration k on LeNet-300-100 / Fashion-MNIST: the dense
//! network and an IMP ticket; mean ± standard deviation over seeds (test and train error).
//!
//! `scripts/with-torch cargo run --release --features torch --bin instability [-- --paper]
//! [--jobs N] [--executor slurm]` runs the sweep `experiments/sweeps/instability.toml`
//! (`-paper.toml`) with its runs under `results/instability/runs/` and writes
//! `results/instability/{instability.csv, instability.svg, .png}`.

use clap::Parser;
use lottery_experiments::plot::{figure, mean_std, Panel, Series};
use lottery_experiments::{instability as ins, sweeps, write_rows, ExperimentArgs};

#[derive(Parser)]
#[command(about = "Linear-mode-connectivity instability against the rewind iteration")]
struct Args {
    #[command(flatten)]
    common: ExperimentArgs,
    #[command(flatten)]
    sweep: sweeps::SweepFlags,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let common = args.common;
    let dir = common.prepare("instability")?;
    let start = std::time::Instant::now();
    let Some(table) = sweeps::run("instability", common.paper, &dir, &args.sweep)? else {
        return Ok(());
    };
    let rows = ins::rows(&table)?;
    let mut ks: Vec<usize> = rows.iter().map(|r| r.k).collect();
    ks.sort_unstable();
    ks.dedup();
    write_rows(&dir.join("instability.csv"), &rows)?;
    let mut networks: Vec<String> = Vec::new();
    for r in &rows {
        if !networks.contains(&r.network) {
            networks.push(r.network.clone());
        }
    }
    let series = |test: bool| -> Vec<Series> {
        networks
            .iter()
            .map(|n| {
                let mut pts = Vec::new();
                let mut errs = Vec::new();
                for &k in &ks {
                    let v: Vec<f64> = rows
                        .iter()
                        .filter(|r| r.network == *n && r.k == k)
                        .map(|r| {
                            if test {
                                r.instability_test
                            } else {
                                r.instability_train
                            }
                        })
                        .collect();
                    let (m, s) = mean_std(&v);
                    // k = 0 sits at 1 on the log axis.
                    pts.push(((k as f64).max(1.0), 100.0 * m));
                    errs.push(100.0 * s);
                }
                let mut s = Series::line(n.clone(), pts);
                s.err = Some(errs);
                s
            })
            .collect()
    };
    let panel = |test: bool| Panel {
        title: format!("{} instability", if test { "Test" } else { "Train" }),
        x_label: "rewind iteration k (0 plotted at 1)".into(),
        y_label: "max error on the path − mean endpoint error (%)".into(),
        log_x: true,
        log_y: false,
        series: series(test),
        cells: vec![],
        legend_lower: false,
    };
    figure(&dir.join("instability"), &[panel(true), panel(false)], 2)?;
    eprintln!(
        "instability: {} points in {:.0}s",
        rows.len(),
        start.elapsed().as_secs_f64()
    );
    println!("{}", dir.display());
    Ok(())
}
