//! The method zoo on LeNet-300-100 / Fashion-MNIST: test accuracy against the percentage of
//! weights remaining for every `lottery prune` method at 50–99% sparsity, with IMP and the
//! dense network as references; mean ± standard deviation over seeds.
//!
//! `scripts/with-torch cargo run --release --features torch --bin methods [-- --paper]
//! [--jobs N] [--executor slurm]` runs the sweep `experiments/sweeps/methods.toml`
//! (`-paper.toml`) with its runs under `results/methods/runs/` and writes
//! `results/methods/{methods.csv, methods.svg, .png}`.

use clap::Parser;
use lottery_experiments::plot::{figure, mean_std, Panel, Series};
use lottery_experiments::{methods as me, sweeps, write_rows, ExperimentArgs};

#[derive(Parser)]
#[command(about = "Every pruning method of the zoo on LeNet-300-100 / Fashion-MNIST")]
struct Args {
    #[command(flatten)]
    common: ExperimentArgs,
    #[command(flatten)]
    sweep: sweeps::SweepFlags,
}

const PANELS: [(&str, &[&str]); 3] = [
    (
        "Pruning at initialization",
        &["snip", "grasp", "synflow", "magnitude-init", "random"],
    ),
    (
        "Pruning during training",
        &["dpf", "gradual", "continuous", "early-bird", "supermask"],
    ),
    (
        "Convex methods as trainers",
        &["iht", "sfw", "md", "greedy"],
    ),
];

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let common = args.common;
    let dir = common.prepare("methods")?;
    let start = std::time::Instant::now();
    let Some(table) = sweeps::run("methods", common.paper, &dir, &args.sweep)? else {
        return Ok(());
    };
    let rows = me::rows(&table)?;
    write_rows(&dir.join("methods.csv"), &rows)?;
    // Mean ± std over seeds of the final test accuracy, per method and sparsity level.
    let curve = |method: &str| -> Series {
        let mut keys: Vec<f64> = rows
            .iter()
            .filter(|r| r.method == method)
            .map(|r| (r.remaining * 1e4).round() / 1e4)
            .collect();
        keys.sort_by(f64::total_cmp);
        keys.dedup();
        let mut pts = Vec::new();
        let mut errs = Vec::new();
        for k in keys.into_iter().rev() {
            let acc: Vec<f64> = rows
                .iter()
                .filter(|r| r.method == method && ((r.remaining * 1e4).round() / 1e4) == k)
                .map(|r| r.final_test_accuracy)
                .collect();
            let (m, s) = mean_std(&acc);
            pts.push((100.0 * k, m));
            errs.push(s);
        }
        let mut s = Series::line(method, pts);
        s.err = Some(errs);
        s
    };
    let dense: Vec<f64> = rows
        .iter()
        .filter(|r| r.method == "dense")
        .map(|r| r.final_test_accuracy)
        .collect();
    let dense = mean_std(&dense).0;
    let panels: Vec<Panel> = PANELS
        .iter()
        .map(|(title, methods)| {
            let mut series: Vec<Series> = methods.iter().map(|m| curve(m)).collect();
            series.push(curve("imp"));
            series.push(Series::bound("dense", vec![(0.5, dense), (100.0, dense)]));
            Panel {
                title: (*title).into(),
                x_label: "% of weights remaining".into(),
                y_label: "final test accuracy".into(),
                log_x: true,
                log_y: false,
                series,
                cells: vec![],
                legend_lower: true,
            }
        })
        .collect();
    figure(&dir.join("methods"), &panels, 3)?;
    eprintln!(
        "methods: {} rows in {:.0}s",
        rows.len(),
        start.elapsed().as_secs_f64()
    );
    println!("{}", dir.display());
    Ok(())
}
