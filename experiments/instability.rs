//! Instability against the rewind iteration k on LeNet-300-100 / Fashion-MNIST: the dense
//! network and an IMP ticket; mean ± standard deviation over seeds (test and train error).
//!
//! `scripts/with-torch cargo run --release --features torch --bin instability [-- --paper]`
//! writes `results/instability/{instability.csv, instability.svg, .png, config.json, runs/}`.

use clap::Parser;
use lottery::experiments::{instability as ins, ExperimentArgs};
use lottery::nn::imp::Env;
use lottery::plot::{figure, mean_std, write_csv, Panel, Series};

#[derive(Parser)]
#[command(about = "Linear-mode-connectivity instability against the rewind iteration")]
struct Args {
    #[command(flatten)]
    common: ExperimentArgs,
    /// Dataset directory (default: the Debian package's).
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let common = args.common;
    let dir = common.prepare("instability")?;
    let mut cfg = if common.paper {
        ins::Config::paper_size()
    } else {
        ins::Config::default_size()
    };
    cfg.seeds = cfg.seeds.iter().map(|s| s + common.seed).collect();
    let env = Env {
        runs: dir.join("runs"),
        data_dir: args.data_dir,
        device: tch::Device::cuda_if_available(),
        progress: false,
    };
    let start = std::time::Instant::now();
    let rows = ins::run(&cfg, &env)?;
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.network.clone(),
                r.seed.to_string(),
                r.k.to_string(),
                format!("{:.6}", r.instability_test),
                format!("{:.6}", r.instability_train),
            ]
        })
        .collect();
    write_csv(
        &dir.join("instability.csv"),
        &[
            "network",
            "seed",
            "k",
            "instability_test",
            "instability_train",
        ],
        &table,
    )?;
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
                for &k in &cfg.ks {
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
    std::fs::write(dir.join("config.json"), serde_json::to_string_pretty(&cfg)?)?;
    eprintln!(
        "instability: {} points in {:.0}s",
        rows.len(),
        start.elapsed().as_secs_f64()
    );
    println!("{}", dir.display());
    Ok(())
}
