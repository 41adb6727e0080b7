//! The method zoo on LeNet-300-100 / Fashion-MNIST: final test accuracy against the percentage
//! of weights remaining for every `lottery prune` method, with IMP, the dense network (Adam and
//! SGD) and the optimizer controls (gradual and one-shot pruning with the convex trainers' SGD);
//! mean with its 95% interval over seeds, paired differences with gradual pruning, and the
//! compute axis (total training iterations per result).
//!
//! `scripts/with-torch cargo run --release --features torch --bin methods [-- --paper]
//! [--jobs N] [--executor slurm]` runs the sweep `experiments/sweeps/methods.toml`
//! (`-paper.toml`) with its runs under `results/methods/runs/` and writes
//! `results/methods/{methods.csv, points.csv, methods.md, methods.svg, .png}`.

use clap::Parser;
use lottery_experiments::evidence::{ci_series, write_flat};
use lottery_experiments::plot::{figure, Panel, Series};
use lottery_experiments::{methods as me, sweeps, write_rows, ExperimentArgs};

#[derive(Parser)]
#[command(about = "Every pruning method of the zoo on LeNet-300-100 / Fashion-MNIST")]
struct Args {
    #[command(flatten)]
    common: ExperimentArgs,
    #[command(flatten)]
    sweep: sweeps::SweepFlags,
}

const PANELS: [(&str, &[&str]); 7] = [
    (
        "Pruning at initialization",
        &["snip", "grasp", "synflow", "magnitude-init", "random"],
    ),
    (
        "Pruning at initialization, ERK's per-layer counts",
        &[
            "snip (ERK)",
            "grasp (ERK)",
            "synflow (ERK)",
            "magnitude-init (ERK)",
            "random (ERK)",
            "random",
        ],
    ),
    (
        "Pruning during training; supermasks",
        &[
            "dpf",
            "gradual",
            "continuous",
            "early-bird",
            "supermask",
            "edge-popup",
            "edge-popup (per layer)",
        ],
    ),
    (
        "Convex methods as trainers (SGD 0.1)",
        &["iht", "sfw", "md", "greedy"],
    ),
    (
        "Sparse from the start; AC/DC (Adam)",
        &[
            "gradual",
            "gradual (ERK)",
            "rigl (ERK)",
            "set (ERK)",
            "acdc",
        ],
    ),
    (
        "Structured budgets (gradual; AC/DC at N:M)",
        &[
            "gradual",
            "gradual (per layer)",
            "gradual (2:4)",
            "gradual (1:4)",
            "acdc (2:4)",
            "acdc (1:4)",
            "gradual (block:4x4)",
            "gradual (channel)",
        ],
    ),
    (
        "Optimizer controls (SGD 0.1 unless Adam)",
        &[
            "gradual",
            "gradual (SGD)",
            "one-shot at 0.9T (SGD)",
            "sfw",
            "md",
            "iht",
        ],
    ),
];

/// The compute panel's methods: one of each cost (one training, several, IMP's levels).
const COMPUTE: [&str; 7] = [
    "gradual",
    "continuous",
    "dpf",
    "synflow",
    "md",
    "iht",
    "imp",
];

fn curve(points: &[me::Point], method: &str) -> Series {
    let mut here: Vec<&me::Point> = points.iter().filter(|p| p.method == method).collect();
    here.sort_by(|a, b| b.remaining_pct.total_cmp(&a.remaining_pct));
    ci_series(
        method,
        here.iter().map(|p| (p.remaining_pct, p.accuracy)),
        100.0,
    )
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let common = args.common;
    let dir = common.prepare("methods")?;
    let Some(table) = sweeps::run("methods", common.paper, &dir, &args.sweep)? else {
        return Ok(());
    };
    let rows = me::rows(&table)?;
    write_rows(&dir.join("methods.csv"), &rows)?;
    let points = me::points(&rows);
    write_flat(&dir.join("points.csv"), &points)?;
    let mut sparsities: Vec<f64> = rows
        .iter()
        .filter(|r| !["imp", "dense", "dense (SGD)"].contains(&r.method.as_str()))
        .map(|r| (r.sparsity * 1000.0).round() / 1000.0)
        .collect();
    sparsities.sort_by(f64::total_cmp);
    sparsities.dedup();
    let mut md = me::markdown(
        &points
            .iter()
            .filter(|p| p.method != "imp")
            .cloned()
            .collect::<Vec<_>>(),
        &sparsities,
    );
    for p in points.iter().filter(|p| p.method.starts_with("dense")) {
        md.push_str(&format!(
            "\n{} (no pruning): {} ({:.0} iterations)",
            p.method,
            p.accuracy.show(100.0, 1),
            p.iterations
        ));
    }
    for p in points.iter().filter(|p| p.method == "imp") {
        md.push_str(&format!(
            "\nIMP at {:.1}% remaining: {} ({:.0} iterations)",
            p.remaining_pct,
            p.accuracy.show(100.0, 1),
            p.iterations
        ));
    }
    md.push_str("\n\nPaired differences (points, mean ± 95% CI over seeds):\n\n");
    md.push_str(&me::differences_markdown(&points, &sparsities));
    md.push('\n');
    lottery::io::write_atomic(&dir.join("methods.md"), md.as_bytes())?;
    let level = |m: &str| {
        points
            .iter()
            .find(|p| p.method == m)
            .map(|p| 100.0 * p.accuracy.mean)
            .unwrap_or(f64::NAN)
    };
    let (dense, dense_sgd) = (level("dense"), level("dense (SGD)"));
    let mut panels: Vec<Panel> = PANELS
        .iter()
        .map(|(title, methods)| {
            let mut series: Vec<Series> = methods.iter().map(|m| curve(&points, m)).collect();
            series.push(curve(&points, "imp"));
            series.push(Series::bound(
                "dense (Adam)",
                vec![(1.0, dense), (100.0, dense)],
            ));
            series.push(Series::bound(
                "dense (SGD)",
                vec![(1.0, dense_sgd), (100.0, dense_sgd)],
            ));
            Panel {
                title: (*title).into(),
                x_label: "% of weights remaining".into(),
                y_label: "final test accuracy (%, 95% CI)".into(),
                log_x: true,
                log_y: false,
                series,
                cells: vec![],
                legend_lower: true,
            }
        })
        .collect();
    // The compute axis: accuracy at the second-highest sparsity against total iterations.
    if let Some(&at) = sparsities.iter().rev().nth(1).or(sparsities.last()) {
        let series = points
            .iter()
            .filter(|p| COMPUTE.contains(&p.method.as_str()))
            .filter(|p| {
                (p.sparsity - at).abs() < 1e-9
                    || (p.method == "imp" && (p.sparsity - at).abs() < 0.02)
            })
            .map(|p| ci_series(p.method.clone(), [(p.iterations, p.accuracy)], 100.0))
            .collect();
        panels.push(Panel {
            title: format!("Compute: {:.0}% sparsity", 100.0 * at),
            x_label: "total training iterations".into(),
            y_label: "final test accuracy (%)".into(),
            log_x: true,
            log_y: false,
            series,
            cells: vec![],
            legend_lower: true,
        });
    }
    figure(&dir.join("methods"), &panels, 3)?;
    print!("{md}");
    eprintln!("{}", dir.display());
    Ok(())
}
