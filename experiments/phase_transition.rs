//! Donoho–Tanner phase-transition diagrams for IHT, NIHT, HTP, CoSaMP, OMP and ℓ1 (pairwise
//! Frank-Wolfe), with the ℓ1 statistical-dimension curve overlaid.
//!
//! `cargo run --release --bin phase_transition [-- --paper] [--out results]`
//! writes `results/phase_transition/{cells.csv, phase_transition.svg, .png, config.json}`.

use clap::Parser;
use lottery_experiments::plot::{figure, Panel, Series};
use lottery_experiments::{phase_transition as pt, write_rows, ExperimentArgs};

#[derive(Parser)]
#[command(
    about = "Donoho–Tanner phase transitions of IHT, NIHT, HTP, CoSaMP, OMP and ℓ1 (Frank-Wolfe)"
)]
struct Args {
    #[command(flatten)]
    common: ExperimentArgs,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse().common;
    let mut cfg = args.size(pt::Config::paper_size, pt::Config::default_size);
    cfg.seed = args.seed;
    let dir = args.prepare("phase_transition")?;
    let start = std::time::Instant::now();
    let cells = pt::run(&cfg)?;
    write_rows(&dir.join("cells.csv"), &cells)?;
    let curve = pt::l1_curve(200);
    let half = |v: &[f64], i: usize| {
        let lo = if i == 0 {
            v[0] - (v[1] - v[0]) / 2.0
        } else {
            (v[i - 1] + v[i]) / 2.0
        };
        let hi = if i + 1 == v.len() {
            v[i] + (v[i] - v[i - 1]) / 2.0
        } else {
            (v[i] + v[i + 1]) / 2.0
        };
        (lo, hi)
    };
    let panels: Vec<Panel> = pt::ALGORITHMS
        .iter()
        .map(|alg| {
            let cells_alg: Vec<_> = cells.iter().filter(|c| c.algorithm == *alg).collect();
            let rects = cells_alg
                .iter()
                .map(|c| {
                    let i = cfg.deltas.iter().position(|&d| d == c.delta).unwrap();
                    let j = cfg.rhos.iter().position(|&r| r == c.rho).unwrap();
                    let (x0, x1) = half(&cfg.deltas, i);
                    let (y0, y1) = half(&cfg.rhos, j);
                    (x0, x1, y0, y1, c.successes as f64 / c.trials as f64)
                })
                .collect();
            Panel {
                title: format!("{alg} (black = always recovers)"),
                x_label: "δ = n/d".into(),
                y_label: "ρ = k/n".into(),
                log_x: false,
                log_y: false,
                series: vec![Series::bound(
                    "ℓ1 transition (ALMT 2014)",
                    curve
                        .iter()
                        .cloned()
                        .filter(|&(_, r)| r <= *cfg.rhos.last().unwrap() + 0.05)
                        .collect(),
                )],
                cells: rects,
                legend_lower: false,
            }
        })
        .collect();
    figure(&dir.join("phase_transition"), &panels, 3)?;
    lottery::io::write_json(&dir.join("config.json"), &cfg)?;
    eprintln!(
        "phase_transition: {} cells in {:.1}s",
        cells.len(),
        start.elapsed().as_secs_f64()
    );
    println!("{}", dir.display());
    Ok(())
}
