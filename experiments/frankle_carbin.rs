//! Frankle & Carbin at the paper's schedule with the controls a referee asks for: random
//! reinitialization, random pruning, the dense network trained once and the compute-matched
//! dense network; 95% intervals over seeds and paired differences; iterations until the dense
//! network's validation accuracy (not censored by the budget).
//!
//! `scripts/with-torch cargo run --release --features torch --bin frankle_carbin [-- --sweep
//! experiments/sweeps/frankle_carbin-mnist1d.toml] [--jobs N] [--executor slurm]` runs the
//! sweep (default `experiments/sweeps/frankle_carbin.toml`) with its runs under
//! `results/<sweep name>/runs/` and writes `results/<sweep name>/{runs.csv, levels.csv,
//! levels.md, <sweep name>[-<model>].svg, .png}`.

use clap::Parser;
use lottery_experiments::evidence::{ci_series, remaining_panel, Ci};
use lottery_experiments::frankle_carbin as fc;
use lottery_experiments::plot::{figure, Series};
use lottery_experiments::{sweeps, write_rows, ExperimentArgs};

#[derive(Parser)]
#[command(about = "Frankle & Carbin at the paper's schedule, with controls and matched compute")]
struct Args {
    #[command(flatten)]
    common: ExperimentArgs,
    #[command(flatten)]
    sweep: sweeps::SweepFlags,
}

fn series(name: &str, levels: &[&fc::Level], v: impl Fn(&fc::Level) -> Ci, scale: f64) -> Series {
    ci_series(name, levels.iter().map(|l| (l.remaining_pct, v(l))), scale)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let name = args
        .sweep
        .sweep
        .as_ref()
        .and_then(|p| p.file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "frankle_carbin".into());
    let dir = args.common.prepare(&name)?;
    let Some(table) = sweeps::run(&name, args.common.paper, &dir, &args.sweep)? else {
        return Ok(());
    };
    let runs_root = dir.join("runs");
    let runs = fc::runs(&table, &runs_root)?;
    let long = fc::long_curves(&table, &runs_root)?;
    let levels = fc::levels(&runs, &long);
    write_rows(&dir.join("runs.csv"), &runs)?;
    lottery_experiments::evidence::write_flat(&dir.join("levels.csv"), &levels)?;
    let md = fc::markdown(&levels);
    lottery::io::write_atomic(&dir.join("levels.md"), md.as_bytes())?;
    let mut groups: Vec<String> = levels.iter().map(|l| l.group.clone()).collect();
    groups.dedup();
    for g in groups {
        let ls: Vec<&fc::Level> = levels.iter().filter(|l| l.group == g).collect();
        let panels = vec![
            remaining_panel(
                "Test accuracy at early stopping (mean, 95% CI)",
                "test accuracy (%)",
                vec![
                    series("IMP (rewind to init)", &ls, |l| l.imp, 100.0),
                    series("random reinit", &ls, |l| l.random_reinit, 100.0),
                    series("random pruning", &ls, |l| l.random_pruning, 100.0),
                    series("dense, compute-matched", &ls, |l| l.dense_matched, 100.0),
                ],
            ),
            remaining_panel(
                "Paired differences (points, 95% CI)",
                "IMP minus control",
                vec![
                    series(
                        "IMP − matched dense",
                        &ls,
                        |l| l.imp_minus_dense_matched,
                        100.0,
                    ),
                    series("IMP − random reinit", &ls, |l| l.imp_minus_reinit, 100.0),
                    series("IMP − random pruning", &ls, |l| l.imp_minus_pruning, 100.0),
                ],
            ),
            remaining_panel(
                "Iterations to the dense validation accuracy",
                "iterations (runs that reach it)",
                vec![
                    series("IMP", &ls, |l| l.imp_to_target, 1.0),
                    series("random reinit", &ls, |l| l.reinit_to_target, 1.0),
                    series("random pruning", &ls, |l| l.pruning_to_target, 1.0),
                ],
            ),
            remaining_panel(
                "Early-stopping iteration of the ticket",
                "iteration",
                vec![series("IMP", &ls, |l| l.imp_early_stop_iteration, 1.0)],
            ),
        ];
        let stem = if g.is_empty() {
            name.clone()
        } else {
            format!("{name}-{g}")
        };
        figure(&dir.join(stem), &panels, 2)?;
    }
    print!("{md}");
    eprintln!("{}", dir.display());
    Ok(())
}
