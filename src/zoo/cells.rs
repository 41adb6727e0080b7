//! Running one cell of a sweep ([`crate::run::sweep`]) in this process: the command's ordinary
//! run (hash-named, resumable, identity checked), then the rows of `results.csv` read back from
//! the run's `summary.json` and `metrics.csv` files.
//!
//! Cells that need another run first — a `branch` its IMP run, an `lmc` with a ticket the IMP
//! run whose mask it takes — run it themselves; when another worker holds that run (two cells
//! with the same parent), the cell waits for it and then finds it finished.

use std::path::{Path, PathBuf};

use crate::nn::phase::Env;
use crate::nn::rundir::{self, level_dir, MetricRow, Summary};
use crate::run::sweep::{Cell, Command, Resolved, Row};
use crate::run::{Rewind, RunConfig};
use crate::{Error, Result};

/// Call `f` until it does not fail with [`Error::InUse`] (another process holds the run),
/// polling every second.
pub fn wait_for<T>(mut f: impl FnMut() -> Result<T>) -> Result<T> {
    let mut said = false;
    loop {
        match f() {
            Err(Error::InUse { dir, owner }) => {
                if !said {
                    eprintln!("waiting for {} (in use by process {owner})", dir.display());
                    said = true;
                }
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
            other => return other,
        }
    }
}

fn metrics(dir: &Path) -> Result<Vec<MetricRow>> {
    let path = dir.join(rundir::METRICS);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let mut r = csv::Reader::from_path(&path).map_err(|e| Error::Format {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    r.deserialize()
        .map(|row| {
            row.map_err(|e| Error::Format {
                path: path.clone(),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// Iterations trained in one phase directory: the span of its `metrics.csv` (evaluations are
/// recorded at the phase's first and last iteration).
pub fn phase_iterations(dir: &Path) -> Result<usize> {
    let m = metrics(dir)?;
    let lo = m.iter().map(|r| r.iteration).min().unwrap_or(0);
    let hi = m.iter().map(|r| r.iteration).max().unwrap_or(0);
    Ok(hi - lo)
}

/// [`phase_iterations`] summed over `dir` and every directory below it.
pub fn tree_iterations(dir: &Path) -> Result<usize> {
    let mut total = phase_iterations(dir)?;
    let entries = std::fs::read_dir(dir).map_err(|e| Error::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let mut subdirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    for d in subdirs {
        total += tree_iterations(&d)?;
    }
    Ok(total)
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn relative(env: &Env, dir: &Path) -> String {
    dir.strip_prefix(&env.runs)
        .unwrap_or(dir)
        .display()
        .to_string()
}

fn summary_of(dir: &Path) -> Result<Summary> {
    rundir::finished(dir)?
        .ok_or_else(|| Error::param("sweep", format!("{} did not finish", dir.display())))
}

/// The row of a finished phase directory.
fn row(env: &Env, dir: &Path, level: Option<usize>, iterations: usize) -> Result<Row> {
    let s = summary_of(dir)?;
    let m = metrics(dir)?;
    let val = m
        .iter()
        .rev()
        .find(|r| r.split == "val")
        .map(|r| r.accuracy);
    // On the planted teacher: the matched recovery scores and the positional overlap.
    let mut extra = std::collections::BTreeMap::new();
    if let Some(rec) = &s.recovery {
        extra.insert("matched_f1".to_string(), rec.matched_f1);
        extra.insert("identifiable_f1".to_string(), rec.identifiable_f1);
        extra.insert("feature_f1".to_string(), rec.feature_f1);
        if let Some(h) = rec.hidden_f1 {
            extra.insert("hidden_f1".to_string(), h);
        }
        // The final test loss: on regression targets, the excess over the teacher's zero.
        if let Some(t) = m.iter().rev().find(|r| r.split == "test") {
            extra.insert("test_loss".to_string(), t.loss);
        }
        let pos: Vec<f64> = rec.layers.iter().filter_map(|l| l.positional).collect();
        if !pos.is_empty() {
            extra.insert(
                "positional_overlap".to_string(),
                pos.iter().sum::<f64>() / pos.len() as f64,
            );
        }
    }
    // AC/DC's co-trained dense model.
    let dense = s.trace.as_ref().map(|t| &t["dense_model"]);
    if let Some(acc) = dense.and_then(|d| d["test_accuracy"].as_f64()) {
        extra.insert("dense_model_test_accuracy".to_string(), acc);
    }
    Ok(Row {
        run_dir: relative(env, dir),
        level,
        remaining: finite(s.remaining),
        test_accuracy: finite(s.final_test_accuracy),
        val_accuracy: val.and_then(finite),
        early_stop_iteration: (!m.is_empty()).then_some(s.early_stop_iteration),
        early_stop_test_accuracy: finite(s.early_stop_test_accuracy),
        iterations_trained: iterations,
        cumulative_iterations: iterations,
        extra,
    })
}

/// One row per level of a finished IMP run (`cumulative_iterations` adds up the levels).
fn imp_rows(env: &Env, run: &Path, levels: usize) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut total = 0;
    for level in 0..=levels {
        let dir = level_dir(run, level);
        let it = phase_iterations(&dir)?;
        total += it;
        let mut r = row(env, &dir, Some(level), it)?;
        r.run_dir = relative(env, run);
        r.cumulative_iterations = total;
        rows.push(r);
    }
    Ok(rows)
}

fn imp(cfg: &RunConfig, env: &Env) -> Result<PathBuf> {
    wait_for(|| crate::nn::imp::run_imp(cfg, env))
}

/// Run `cell` (resolved as `r`) under `env` and return its rows.
pub fn run_cell(cell: &Cell, r: &Resolved, env: &Env) -> Result<Vec<Row>> {
    match cell.command {
        Command::Imp | Command::Train => {
            let run = imp(&r.config, env)?;
            imp_rows(env, &run, r.config.levels)
        }
        Command::Prune => {
            let run = wait_for(|| crate::zoo::train::run_prune(&r.config, env))?;
            Ok(vec![row(env, &run, None, tree_iterations(&run)?)?])
        }
        Command::Layerwise => {
            let (settings, level) = r.layerwise.clone().expect("resolved for layerwise");
            let run = imp(&r.config, env)?;
            let dir =
                wait_for(|| crate::nn::layerwise::run_layerwise(&run, level, &settings, env))?;
            let it = phase_iterations(&dir)?;
            let mut r = row(env, &dir, Some(level), it)?;
            // The ticket's full cost: every level of the source run up to this one, then the
            // fine-tuning.
            let source: usize = (0..=level)
                .map(|l| phase_iterations(&level_dir(&run, l)))
                .sum::<Result<usize>>()?;
            r.cumulative_iterations = source + it;
            let s = summary_of(&dir)?;
            if let Some(trace) = &s.trace {
                if let Some(acc) = trace["pruned_test_accuracy"].as_f64() {
                    r.extra.insert("pruned_test_accuracy".into(), acc);
                }
                if let Some(layers) = trace["layers"].as_array() {
                    let mean = |key: &str| {
                        layers.iter().filter_map(|l| l[key].as_f64()).sum::<f64>()
                            / layers.len().max(1) as f64
                    };
                    r.extra
                        .insert("relative_error".into(), mean("relative_error"));
                    r.extra.insert(
                        "magnitude_relative_error".into(),
                        mean("magnitude_relative_error"),
                    );
                }
            }
            Ok(vec![r])
        }
        Command::Branch => {
            let (kind, level, seed) = r.branch.expect("resolved for branch");
            let run = imp(&r.config, env)?;
            let levels: Vec<usize> = match level {
                Some(l) => vec![l],
                None => (1..=r.config.levels).collect(),
            };
            let mut rows = Vec::new();
            for l in levels {
                let dir = wait_for(|| {
                    crate::nn::branch::run_branch(kind, &run, l, seed, &r.transfer, env)
                })?;
                let it = phase_iterations(&dir)?;
                rows.push(row(env, &dir, Some(l), it)?);
            }
            Ok(rows)
        }
        Command::Lmc => {
            let lmc = r.lmc.clone().expect("resolved for lmc");
            let mut rows = Vec::new();
            // The dense network: one lmc run over every k. A ticket: for each k the mask IMP
            // finds with rewinding to k, so one lmc run per k (the parent is shared).
            let groups: Vec<Vec<usize>> = if lmc.ticket_level > 0 {
                lmc.ks.iter().map(|&k| vec![k]).collect()
            } else {
                vec![lmc.ks.clone()]
            };
            for ks in groups {
                let mask = if lmc.ticket_level > 0 {
                    let imp_cfg = RunConfig {
                        rewind: match ks[0] {
                            0 => Rewind::Init,
                            k => Rewind::Iteration(k),
                        },
                        ..r.config.clone()
                    };
                    let run = imp(&imp_cfg, env)?;
                    Some(level_dir(&run, lmc.ticket_level).join(rundir::MASK))
                } else {
                    None
                };
                let remaining = match &mask {
                    Some(m) => summary_of(m.parent().expect("a level dir"))?.remaining,
                    None => 1.0,
                };
                let base = wait_for(|| {
                    crate::nn::lmc::run_lmc(
                        &r.config,
                        env,
                        &ks,
                        mask.as_deref(),
                        lmc.points,
                        lmc.control,
                    )
                })?;
                for &k in &ks {
                    let kdir = base.join(format!("k_{k}"));
                    let s: crate::nn::lmc::LmcSummary =
                        crate::io::read_json(&kdir.join(rundir::SUMMARY))?;
                    let it = tree_iterations(&kdir)? + k;
                    let mut extra = std::collections::BTreeMap::new();
                    extra.insert("k".to_string(), k as f64);
                    extra.insert("instability_test".to_string(), s.instability_test);
                    extra.insert("instability_train".to_string(), s.instability_train);
                    rows.push(Row {
                        run_dir: relative(env, &base),
                        level: (lmc.ticket_level > 0).then_some(lmc.ticket_level),
                        remaining: Some(remaining),
                        test_accuracy: finite(1.0 - s.endpoint_test_errors[0]),
                        val_accuracy: None,
                        early_stop_iteration: None,
                        early_stop_test_accuracy: None,
                        iterations_trained: it,
                        cumulative_iterations: it,
                        extra,
                    });
                }
            }
            Ok(rows)
        }
    }
}

/// What a worker does with `--cell I`: take the cell's lock, run the cell (on CPU with one
/// thread, as every run: [`crate::nn::phase::cpu_threads`]) and record its rows or its error in
/// the sweep's state. `Ok(None)`: another process holds the cell.
pub fn run_in_process(
    sweep: &crate::run::sweep::Sweep,
    sweep_dir: &Path,
    index: usize,
    env: &Env,
) -> Result<Option<Vec<Row>>> {
    let cell = sweep.cell(index)?;
    let resolved = cell.resolve()?;
    crate::run::sweep::work(sweep_dir, &cell, || run_cell(&cell, &resolved, env))
}
