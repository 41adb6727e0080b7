//! Weight rewinding, learning-rate rewinding and fine-tuning at equal retraining budgets
//! (Renda, Frankle & Carbin 2020) under a decaying schedule, on LeNet-300-100 / Fashion-MNIST
//! and the MNIST-1D conv net; 95% intervals over seeds and paired differences.
//!
//! `scripts/mnist1d && scripts/with-torch cargo run --release --features torch --bin renda
//! [-- --jobs N] [--executor slurm]` runs `experiments/sweeps/renda.toml` with its runs under
//! `results/renda/runs/` and writes `results/renda/{rows.csv, cells.csv, cells.md,
//! renda-<model>.svg, .png}`.

use clap::Parser;
use lottery_experiments::evidence::{ci_series, remaining_panel, write_flat, Ci};
use lottery_experiments::plot::{figure, Series};
use lottery_experiments::renda;
use lottery_experiments::{sweeps, write_rows, ExperimentArgs};

#[derive(Parser)]
#[command(about = "Rewinding vs fine-tuning at equal retraining budgets (Renda et al. 2020)")]
struct Args {
    #[command(flatten)]
    common: ExperimentArgs,
    #[command(flatten)]
    sweep: sweeps::SweepFlags,
}

fn series(name: &str, cells: &[&renda::Cell], v: impl Fn(&renda::Cell) -> Ci) -> Series {
    ci_series(name, cells.iter().map(|c| (c.remaining_pct, v(c))), 100.0)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = args.common.prepare("renda")?;
    let Some(table) = sweeps::run("renda", args.common.paper, &dir, &args.sweep)? else {
        return Ok(());
    };
    let rows = renda::rows(&table)?;
    let cells = renda::cells(&rows);
    write_rows(&dir.join("rows.csv"), &rows)?;
    write_flat(&dir.join("cells.csv"), &cells)?;
    let md = renda::markdown(&cells);
    lottery::io::write_atomic(&dir.join("cells.md"), md.as_bytes())?;
    let mut models: Vec<String> = cells.iter().map(|c| c.model.clone()).collect();
    models.dedup();
    for m in models {
        let mut budgets: Vec<usize> = cells
            .iter()
            .filter(|c| c.model == m)
            .map(|c| c.budget)
            .collect();
        budgets.sort_unstable();
        budgets.dedup();
        let mut panels = Vec::new();
        let mut diffs = Vec::new();
        for &t in &budgets {
            let at: Vec<&renda::Cell> = cells
                .iter()
                .filter(|c| c.model == m && c.budget == t)
                .collect();
            panels.push(remaining_panel(
                format!("{m}: retraining budget t = {t}"),
                "final test accuracy (%)",
                vec![
                    series("weight rewinding", &at, |c| c.weight_rewinding),
                    series("LR rewinding", &at, |c| c.lr_rewinding),
                    series("fine-tuning", &at, |c| c.fine_tuning),
                ],
            ));
            diffs.push(series(&format!("t = {t}"), &at, |c| c.lr_minus_finetune));
        }
        panels.push(remaining_panel(
            format!("{m}: LR rewinding − fine-tuning (paired)"),
            "points",
            diffs,
        ));
        figure(&dir.join(format!("renda-{m}")), &panels, 2)?;
    }
    print!("{md}");
    eprintln!("{}", dir.display());
    Ok(())
}
