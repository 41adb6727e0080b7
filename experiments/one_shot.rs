//! One-shot layerwise pruning of converged networks (issue 12): each layerwise solver against
//! one-shot magnitude pruning and IMP at the same per-layer sparsity, with no retraining and
//! after ≤ 1 epoch of fine-tuning, with the compute of each; and the coherence / eigenvalue
//! proxies of every layer's $H$ beside each solver's reconstruction error over magnitude's.
//!
//! `scripts/mnist1d && scripts/with-torch cargo run --release --features torch --bin one_shot
//! [-- --jobs N] [--executor slurm]` runs `experiments/sweeps/one_shot.toml` with its runs
//! under `results/one_shot/runs/` and writes `results/one_shot/{rows.csv, cells.csv, cells.md,
//! targets.md, proxies.json, proxies.md, one_shot.svg, .png}`.

use clap::Parser;
use lottery_experiments::evidence::Ci;
use lottery_experiments::evidence::{ci_series, remaining_panel, write_flat};
use lottery_experiments::one_shot::{self as os, Cell, DENSE, IMP};
use lottery_experiments::plot::{figure, Panel, Series};
use lottery_experiments::{sweeps, write_rows, ExperimentArgs};

#[derive(Parser)]
#[command(about = "One-shot layerwise pruning against magnitude and IMP (issue 12)")]
struct Args {
    #[command(flatten)]
    common: ExperimentArgs,
    #[command(flatten)]
    sweep: sweeps::SweepFlags,
}

fn curve(cells: &[&Cell], arm: &str, value: impl Fn(&Cell) -> Ci, scale: f64) -> Series {
    let mut here: Vec<&&Cell> = cells.iter().filter(|c| c.arm == arm).collect();
    here.sort_by(|a, b| b.remaining_pct.total_cmp(&a.remaining_pct));
    ci_series(arm, here.iter().map(|c| (c.remaining_pct, value(c))), scale)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = args.common.prepare("one_shot")?;
    let Some(table) = sweeps::run("one_shot", args.common.paper, &dir, &args.sweep)? else {
        return Ok(());
    };
    let rows = os::rows(&table)?;
    let cells = os::cells(&rows);
    write_rows(&dir.join("rows.csv"), &rows)?;
    write_flat(&dir.join("cells.csv"), &cells)?;
    let md = os::markdown(&cells);
    lottery::io::write_atomic(&dir.join("cells.md"), md.as_bytes())?;
    let targets = os::targets(&cells);
    lottery::io::write_atomic(&dir.join("targets.md"), targets.as_bytes())?;
    let proxies = os::proxies(&rows, &dir.join("runs"))?;
    lottery::io::write_json(&dir.join("proxies.json"), &proxies)?;
    let pmd = os::proxy_markdown(&proxies);
    lottery::io::write_atomic(&dir.join("proxies.md"), pmd.as_bytes())?;

    let mut models: Vec<String> = cells.iter().map(|c| c.model.clone()).collect();
    models.sort();
    models.dedup();
    let mut panels: Vec<Panel> = Vec::new();
    for m in &models {
        let here: Vec<&Cell> = cells.iter().filter(|c| &c.model == m).collect();
        let dense = here
            .iter()
            .find(|c| c.arm == DENSE)
            .map(|c| 100.0 * c.accuracy.mean)
            .unwrap_or(f64::NAN);
        let mut fts: Vec<usize> = here.iter().map(|c| c.finetune).collect();
        fts.sort_unstable();
        fts.dedup();
        let solvers: Vec<String> = os::arms(&here.iter().map(|c| (*c).clone()).collect::<Vec<_>>())
            .into_iter()
            .filter(|a| a != IMP && a != DENSE)
            .collect();
        for &ft in &fts {
            let at: Vec<&Cell> = here
                .iter()
                .copied()
                .filter(|c| c.finetune == ft || c.arm == IMP)
                .collect();
            let mut series: Vec<Series> = solvers
                .iter()
                .map(|s| curve(&at, s, |c| c.accuracy, 100.0))
                .filter(|s| !s.points.is_empty())
                .collect();
            series.push(curve(&at, IMP, |c| c.accuracy, 100.0));
            series.push(Series::bound("dense", vec![(0.5, dense), (100.0, dense)]));
            let title = if ft == 0 {
                format!("{m}: one shot, no retraining")
            } else {
                format!("{m}: one shot + {ft} fine-tuning iterations")
            };
            panels.push(remaining_panel(
                title,
                "final test accuracy (%, 95% CI)",
                series,
            ));
        }
        let at: Vec<&Cell> = here.iter().copied().filter(|c| c.finetune == 0).collect();
        panels.push(Panel {
            log_y: true,
            ..remaining_panel(
                format!("{m}: layer reconstruction error"),
                "mean relative error over layers",
                solvers
                    .iter()
                    .map(|s| curve(&at, s, |c| c.relative_error, 1.0))
                    .collect(),
            )
        });
    }
    figure(&dir.join("one_shot"), &panels, 3)?;
    print!("{md}\n{targets}\n{pmd}");
    eprintln!("{}", dir.display());
    Ok(())
}
