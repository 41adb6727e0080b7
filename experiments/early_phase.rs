//! Early-phase perturbations of the ticket's kept weights at the rewind point (Frankle, Schwab
//! & Morcos 2020) and ticket transfer to another optimizer (Morcos et al. 2019) on
//! LeNet-300-100 / Fashion-MNIST; 95% intervals over seeds and paired differences.
//!
//! `scripts/with-torch cargo run --release --features torch --bin early_phase [-- --jobs N]`
//! runs `experiments/sweeps/early_phase.toml` with its runs under `results/early_phase/runs/`
//! and writes `results/early_phase/{rows.csv, points.csv, early_phase.md, early_phase.svg,
//! .png}`.

use clap::Parser;
use lottery_experiments::early_phase as ep;
use lottery_experiments::evidence::{ci_series, write_flat, Ci};
use lottery_experiments::plot::{figure, Panel};
use lottery_experiments::{sweeps, write_rows, ExperimentArgs};

#[derive(Parser)]
#[command(about = "Early-phase perturbations and ticket transfer")]
struct Args {
    #[command(flatten)]
    common: ExperimentArgs,
    #[command(flatten)]
    sweep: sweeps::SweepFlags,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = args.common.prepare("early_phase")?;
    let Some(table) = sweeps::run("early_phase", args.common.paper, &dir, &args.sweep)? else {
        return Ok(());
    };
    let rows = ep::rows(&table)?;
    write_rows(&dir.join("rows.csv"), &rows)?;
    let points = ep::points(&rows);
    write_flat(&dir.join("points.csv"), &points)?;
    let dense = Ci::of(
        &rows
            .iter()
            .filter(|r| r.arm == "dense (transfer settings)")
            .map(|r| r.accuracy)
            .collect::<Vec<_>>(),
    );
    let md = ep::markdown(&points, dense);
    lottery::io::write_atomic(&dir.join("early_phase.md"), md.as_bytes())?;
    // One panel per rewind point: the paired difference of each arm with the ticket, by level.
    let mut ks: Vec<usize> = points.iter().map(|p| p.k).collect();
    ks.sort_unstable();
    ks.dedup();
    let panels: Vec<Panel> = ks
        .iter()
        .map(|&k| {
            let mut arms: Vec<String> = points
                .iter()
                .filter(|p| p.k == k)
                .map(|p| p.arm.clone())
                .collect();
            arms.sort();
            arms.dedup();
            let series = arms
                .iter()
                .filter(|a| *a != "ticket")
                .map(|a| {
                    ci_series(
                        a.clone(),
                        points
                            .iter()
                            .filter(|p| p.k == k && p.arm == *a)
                            .map(|p| (p.remaining_pct, p.minus_ticket)),
                        100.0,
                    )
                })
                .collect();
            Panel {
                title: if k == 0 {
                    "Perturbed at initialization, minus the ticket".into()
                } else {
                    format!("Perturbed at iteration {k}, minus the ticket")
                },
                x_label: "% of weights remaining".into(),
                y_label: "points (paired, 95% CI)".into(),
                log_x: true,
                log_y: false,
                series,
                cells: vec![],
                legend_lower: true,
            }
        })
        .collect();
    figure(&dir.join("early_phase"), &panels, 2)?;
    print!("{md}");
    eprintln!("{}", dir.display());
    Ok(())
}
