//! IMP against random reinitialization and random pruning on LeNet-300-100 / Fashion-MNIST:
//! test accuracy and early-stop iteration against the percentage of weights remaining (log
//! axis), mean ± standard deviation over seeds.
//!
//! `scripts/with-torch cargo run --release --features torch --bin lottery_curve [-- --paper]
//! [--jobs N] [--executor slurm]` runs the sweep `experiments/sweeps/lottery_curve.toml`
//! (`-paper.toml`) with its runs under `results/lottery_curve/runs/` and writes
//! `results/lottery_curve/{curve.csv, lottery_curve.svg, .png}`; the sweep's own
//! `runs/sweeps/<name>/results.csv` holds every row.

use clap::Parser;
use lottery_experiments::plot::{figure, mean_std, Panel, Series};
use lottery_experiments::{lottery_curve as lc, sweeps, write_rows, ExperimentArgs};

#[derive(Parser)]
#[command(
    about = "IMP vs random reinitialization vs random pruning on LeNet-300-100 / Fashion-MNIST"
)]
struct Args {
    #[command(flatten)]
    common: ExperimentArgs,
    #[command(flatten)]
    sweep: sweeps::SweepFlags,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let common = args.common;
    let dir = common.prepare("lottery_curve")?;
    let start = std::time::Instant::now();
    let Some(table) = sweeps::run("lottery_curve", common.paper, &dir, &args.sweep)? else {
        return Ok(());
    };
    let rows = lc::rows(&table)?;
    write_rows(&dir.join("curve.csv"), &rows)?;
    let methods = ["IMP (rewind to init)", "random reinit", "random pruning"];
    let series = |value: &dyn Fn(&lc::Row) -> f64| -> Vec<Series> {
        methods
            .iter()
            .map(|m| {
                let mut levels: Vec<usize> = rows
                    .iter()
                    .filter(|r| r.method == *m)
                    .map(|r| r.level)
                    .collect();
                levels.sort_unstable();
                levels.dedup();
                let mut pts = Vec::new();
                let mut errs = Vec::new();
                for l in levels {
                    let at: Vec<&lc::Row> = rows
                        .iter()
                        .filter(|r| r.method == *m && r.level == l)
                        .collect();
                    let (mv, sv) = mean_std(&at.iter().map(|r| value(r)).collect::<Vec<_>>());
                    pts.push((100.0 * at[0].remaining, mv));
                    errs.push(sv);
                }
                let mut s = Series::line(*m, pts);
                s.err = Some(errs);
                s
            })
            .collect()
    };
    let panels = vec![
        Panel {
            title: "Test accuracy at early stopping".into(),
            x_label: "% of weights remaining".into(),
            y_label: "test accuracy".into(),
            log_x: true,
            log_y: false,
            series: series(&|r| r.early_stop_test_accuracy),
            cells: vec![],
            legend_lower: false,
        },
        Panel {
            title: "Early-stop iteration (min. validation loss)".into(),
            x_label: "% of weights remaining".into(),
            y_label: "iteration".into(),
            log_x: true,
            log_y: false,
            series: series(&|r| r.early_stop_iteration as f64),
            cells: vec![],
            legend_lower: false,
        },
    ];
    figure(&dir.join("lottery_curve"), &panels, 2)?;
    eprintln!(
        "lottery_curve: {} trainings in {:.0}s",
        rows.len(),
        start.elapsed().as_secs_f64()
    );
    println!("{}", dir.display());
    Ok(())
}
