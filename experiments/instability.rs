//! Instability against the rewind iteration k on LeNet-300-100 / Fashion-MNIST: the dense
//! network, the IMP ticket found with rewinding to k, and its controls (random pruning, random
//! reinitialization); late rewinding's accuracy; 95% intervals over seeds, paired differences.
//!
//! `scripts/with-torch cargo run --release --features torch --bin instability [-- --paper]
//! [--jobs N] [--executor slurm]` runs the sweep `experiments/sweeps/instability.toml`
//! (`-paper.toml`) with its runs under `results/instability/runs/` and writes
//! `results/instability/{instability.csv, late_rewinding.csv, points.csv, late.csv,
//! instability.md, instability.svg, .png}`.

use clap::Parser;
use lottery_experiments::evidence::{ci_series, remaining_panel, write_flat, Ci};
use lottery_experiments::plot::{figure, Panel, Series};
use lottery_experiments::{instability as ins, sweeps, write_rows, ExperimentArgs};

#[derive(Parser)]
#[command(about = "Linear-mode-connectivity instability against the rewind iteration")]
struct Args {
    #[command(flatten)]
    common: ExperimentArgs,
    #[command(flatten)]
    sweep: sweeps::SweepFlags,
}

fn series(points: &[ins::Point], network: &str, v: impl Fn(&ins::Point) -> Ci) -> Series {
    // k = 0 sits at 1 on the log axis.
    ci_series(
        network,
        points
            .iter()
            .filter(|p| p.network == network)
            .map(|p| ((p.k as f64).max(1.0), v(p))),
        100.0,
    )
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let common = args.common;
    let dir = common.prepare("instability")?;
    let Some(table) = sweeps::run("instability", common.paper, &dir, &args.sweep)? else {
        return Ok(());
    };
    let (rows, late_rows) = ins::rows(&table)?;
    write_rows(&dir.join("instability.csv"), &rows)?;
    write_rows(&dir.join("late_rewinding.csv"), &late_rows)?;
    let points = ins::points(&rows);
    let late = ins::late(&late_rows);
    write_flat(&dir.join("points.csv"), &points)?;
    write_flat(&dir.join("late.csv"), &late)?;
    let md = ins::markdown(&points, &late);
    lottery::io::write_atomic(&dir.join("instability.md"), md.as_bytes())?;
    let networks = ["dense", "IMP ticket", "random pruning", "random reinit"];
    let k_panel = |title: &str, y: &str, v: &dyn Fn(&ins::Point) -> Ci| Panel {
        title: title.into(),
        x_label: "rewind iteration k (0 plotted at 1)".into(),
        y_label: y.into(),
        log_x: true,
        log_y: false,
        series: networks.iter().map(|n| series(&points, n, v)).collect(),
        cells: vec![],
        legend_lower: false,
    };
    let mut ks: Vec<usize> = late.iter().map(|l| l.k).collect();
    ks.dedup();
    let late_series = |v: &dyn Fn(&ins::Late) -> Ci| -> Vec<Series> {
        ks.iter()
            .map(|&k| {
                let name = if k == 0 {
                    "rewind to init".to_string()
                } else {
                    format!("rewind to {k}")
                };
                ci_series(
                    name,
                    late.iter()
                        .filter(|l| l.k == k)
                        .map(|l| (l.remaining_pct, v(l))),
                    100.0,
                )
            })
            .collect()
    };
    let late_panel = |title: &str, y: &str, v: &dyn Fn(&ins::Late) -> Ci| {
        remaining_panel(title, y, late_series(v))
    };
    let panels = [
        k_panel(
            "Test instability (mean, 95% CI)",
            "max path error − mean endpoint error (%)",
            &|p| p.instability_test,
        ),
        k_panel("Test accuracy of a copy", "test accuracy (%)", &|p| {
            p.copy_test_accuracy
        }),
        late_panel(
            "Late rewinding: early-stopped test accuracy",
            "test accuracy (%)",
            &|l| l.accuracy,
        ),
        late_panel(
            "Late rewinding minus rewinding to init (paired)",
            "points",
            &|l| l.minus_init,
        ),
    ];
    figure(&dir.join("instability"), &panels, 2)?;
    print!("{md}");
    eprintln!("{}", dir.display());
    Ok(())
}
