//! One-shot layerwise pruning of converged networks (issue 12): every layerwise solver of
//! `lottery prune layerwise` against one-shot magnitude pruning and against IMP at the same
//! sparsity, with and without a short fine-tuning, with the compute behind each result; and
//! whether the measurable hypotheses of the convex theorems (coherence and the extreme
//! eigenvalues of each layer's normalized $H$) predict where the solvers gain on magnitude.
//!
//! The sweep (`experiments/sweeps/one_shot.toml`) has an `imp` part per model — IMP with a
//! uniform per-layer rate, so that its level-$L$ network has exactly the per-layer sparsity of
//! a layerwise cell, and its level 0 is the converged dense network every layerwise cell prunes
//! — and `layerwise` parts (solver × sparsity × seed, fine-tuning 0 or ≤ 1 epoch) sharing it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::evidence::Ci;
use crate::sweeps::{field, records};
use lottery::{Error, Result};

/// The arm of IMP's pruned levels.
pub const IMP: &str = "IMP";
/// The arm of the dense network (IMP's level 0).
pub const DENSE: &str = "dense";
/// The layerwise baseline.
pub const MAGNITUDE: &str = "magnitude";

/// One result: a layerwise cell, or a level of an IMP run.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Model: the preset, from the run's name.
    pub model: String,
    /// A layerwise solver, [`IMP`] or [`DENSE`].
    pub arm: String,
    /// Fine-tuning iterations after layerwise pruning (IMP and dense: 0).
    pub finetune: usize,
    /// Seed of the source run (shared by every arm of a model).
    pub seed: u64,
    /// Fraction of the prunable weights remaining.
    pub remaining: f64,
    /// Test accuracy right after pruning, before any fine-tuning (IMP, dense: the final one).
    pub pruned_accuracy: f64,
    /// Final test accuracy (after fine-tuning, if any).
    pub test_accuracy: f64,
    /// Training iterations behind the result: the source's levels up to the pruned one, plus
    /// the fine-tuning (IMP: every level up to this one).
    pub compute: usize,
    /// Mean over layers of the solver's relative reconstruction error (NaN for IMP, dense).
    pub relative_error: f64,
    /// … of magnitude pruning under the same budget and inputs.
    pub magnitude_relative_error: f64,
    /// The run directory, relative to the runs root.
    pub run_dir: String,
}

fn model_of(run_dir: &str) -> String {
    let top = run_dir.split('/').next().unwrap_or(run_dir);
    top.rsplit_once('-')
        .map(|(m, _)| m.to_string())
        .unwrap_or_else(|| top.to_string())
}

fn float(r: &BTreeMap<String, String>, k: &str) -> f64 {
    r.get(k).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

/// The rows of the sweep's merged table.
pub fn rows(table: &[Vec<String>]) -> Result<Vec<Row>> {
    let mut out = Vec::new();
    for r in records(table) {
        let run_dir: String = field(&r, "run_dir")?;
        let solver = r.get("solver").cloned().unwrap_or_default();
        let test: f64 = field(&r, "test_accuracy")?;
        let (arm, finetune, pruned) = if solver.is_empty() {
            let level: usize = field(&r, "level")?;
            let arm = if level == 0 { DENSE } else { IMP };
            (arm.to_string(), 0, test)
        } else {
            // The layerwise phase trains only its fine-tuning (the column is absent when the
            // fine-tuning length is not a varying key of the sweep).
            let ft: usize = field(&r, "iterations_trained")?;
            (solver, ft, field(&r, "pruned_test_accuracy")?)
        };
        out.push(Row {
            model: model_of(&run_dir),
            arm,
            finetune,
            seed: field(&r, "seed")?,
            remaining: field(&r, "remaining")?,
            pruned_accuracy: pruned,
            test_accuracy: test,
            compute: field(&r, "cumulative_iterations")?,
            relative_error: float(&r, "relative_error"),
            magnitude_relative_error: float(&r, "magnitude_relative_error"),
            run_dir,
        });
    }
    if !out.iter().any(|r| r.arm != IMP && r.arm != DENSE) {
        return Err(Error::param("results", "no layerwise cell in the table"));
    }
    Ok(out)
}

/// The sparsity level of a result: $\lfloor 20\log_2(\text{remaining}) \rceil$, so that a
/// layerwise cell and the IMP level of the same per-layer sparsity share a key although their
/// realized fractions differ by rounding (a row budget rounds each row's count: at 98.4% the
/// LeNet-300-100 layers keep 1.55% against IMP's 1.56%). Distinct levels must be more than 3.5%
/// apart in remaining fraction (0.95 and 0.9375 are −86 and −80).
pub fn level_key(remaining: f64) -> i64 {
    (20.0 * remaining.log2()).round() as i64
}

/// One arm at one sparsity of one model.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    /// Model.
    pub model: String,
    /// Arm.
    pub arm: String,
    /// Fine-tuning iterations.
    pub finetune: usize,
    /// Weights remaining (%), the mean over seeds.
    pub remaining_pct: f64,
    /// Test accuracy right after pruning.
    pub pruned_accuracy: Ci,
    /// Final test accuracy.
    pub accuracy: Ci,
    /// Paired by seed: this arm's final accuracy minus magnitude's (same fine-tuning).
    pub minus_magnitude: Ci,
    /// Paired by seed: this arm's final accuracy minus IMP's at the same sparsity.
    pub minus_imp: Ci,
    /// Mean relative reconstruction error over layers.
    pub relative_error: Ci,
    /// Mean training iterations behind the result.
    pub compute: f64,
    /// `compute` over IMP's at the same sparsity (NaN without that IMP level).
    pub compute_over_imp: f64,
}

/// The cells: every (model, arm, fine-tuning, sparsity), sorted.
pub fn cells(rows: &[Row]) -> Vec<Cell> {
    let mut keys: Vec<(String, String, usize, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.model.clone(),
                r.arm.clone(),
                r.finetune,
                level_key(r.remaining),
            )
        })
        .collect();
    keys.sort();
    keys.dedup();
    let pick = |model: &str, arm: &str, ft: usize, key: i64| -> Vec<&Row> {
        rows.iter()
            .filter(|r| r.model == model && r.arm == arm && r.finetune == ft)
            .filter(|r| level_key(r.remaining) == key)
            .collect()
    };
    let by_seed = |rs: &[&Row]| -> BTreeMap<u64, f64> {
        rs.iter().map(|r| (r.seed, r.test_accuracy)).collect()
    };
    keys.into_iter()
        .map(|(model, arm, ft, key)| {
            let here = pick(&model, &arm, ft, key);
            let imp = pick(&model, IMP, 0, key);
            let mag = pick(&model, MAGNITUDE, ft, key);
            let vals = |f: fn(&Row) -> f64| Ci::of(&here.iter().map(|r| f(r)).collect::<Vec<_>>());
            let mean = |rs: &[&Row], f: fn(&Row) -> f64| {
                rs.iter().map(|r| f(r)).sum::<f64>() / rs.len().max(1) as f64
            };
            let compute = mean(&here, |r| r.compute as f64);
            let compute_over_imp = if imp.is_empty() {
                f64::NAN
            } else {
                compute / mean(&imp, |r| r.compute as f64)
            };
            let layerwise = arm != IMP && arm != DENSE;
            Cell {
                remaining_pct: 100.0 * mean(&here, |r| r.remaining),
                pruned_accuracy: vals(|r| r.pruned_accuracy),
                accuracy: vals(|r| r.test_accuracy),
                minus_magnitude: if layerwise && arm != MAGNITUDE {
                    Ci::paired(&by_seed(&here), &by_seed(&mag))
                } else {
                    Ci::of(&[])
                },
                minus_imp: if layerwise {
                    Ci::paired(&by_seed(&here), &by_seed(&imp))
                } else {
                    Ci::of(&[])
                },
                relative_error: if layerwise {
                    vals(|r| r.relative_error)
                } else {
                    Ci::of(&[])
                },
                compute,
                compute_over_imp,
                model,
                arm,
                finetune: ft,
            }
        })
        .collect()
}

/// The arms of a set of cells in display order: magnitude first, then the solvers by name, IMP
/// and dense last.
pub fn arms(cells: &[Cell]) -> Vec<String> {
    let mut a: Vec<String> = cells.iter().map(|c| c.arm.clone()).collect();
    a.sort_by_key(|x| match x.as_str() {
        MAGNITUDE => (0, x.clone()),
        IMP => (2, x.clone()),
        DENSE => (3, x.clone()),
        _ => (1, x.clone()),
    });
    a.dedup();
    a
}

/// One wide table per model and fine-tuning length: a row per sparsity, a column per arm (final
/// test accuracy, %), IMP's accuracy and compute at the levels it has.
pub fn markdown(cells: &[Cell]) -> String {
    let mut out = String::new();
    let mut groups: Vec<(String, usize)> = cells
        .iter()
        .filter(|c| c.arm != IMP && c.arm != DENSE)
        .map(|c| (c.model.clone(), c.finetune))
        .collect();
    groups.sort();
    groups.dedup();
    for (model, ft) in groups {
        let here: Vec<&Cell> = cells
            .iter()
            .filter(|c| c.model == model && c.finetune == ft && c.arm != IMP && c.arm != DENSE)
            .collect();
        let solvers = arms(&here.iter().map(|c| (*c).clone()).collect::<Vec<_>>());
        let dense = cells
            .iter()
            .find(|c| c.model == model && c.arm == DENSE)
            .map(|c| c.accuracy.show(100.0, 2))
            .unwrap_or_else(|| "—".into());
        out.push_str(&format!(
            "\n**{model}, fine-tuning {ft} iterations** (final test accuracy %, mean ± 95% CI; dense {dense})\n\n"
        ));
        let mut header = vec!["% remaining".to_string()];
        header.extend(solvers.iter().cloned());
        header.push("IMP".into());
        header.push("IMP iterations".into());
        header.push("layerwise iterations".into());
        let mut pcts: Vec<i64> = here
            .iter()
            .map(|c| level_key(c.remaining_pct / 100.0))
            .collect();
        pcts.sort_unstable_by(|a, b| b.cmp(a));
        pcts.dedup();
        let rows: Vec<Vec<String>> = pcts
            .iter()
            .map(|&k| {
                let at = |arm: &str, f: usize| {
                    cells.iter().find(|c| {
                        c.model == model
                            && c.arm == arm
                            && c.finetune == f
                            && level_key(c.remaining_pct / 100.0) == k
                    })
                };
                let shown = here
                    .iter()
                    .find(|c| level_key(c.remaining_pct / 100.0) == k)
                    .map(|c| c.remaining_pct)
                    .unwrap_or(f64::NAN);
                let mut line = vec![format!("{shown:.2}")];
                for s in &solvers {
                    line.push(
                        at(s, ft)
                            .map(|c| c.accuracy.show(100.0, 2))
                            .unwrap_or_else(|| "—".into()),
                    );
                }
                let imp = at(IMP, 0);
                line.push(
                    imp.map(|c| c.accuracy.show(100.0, 2))
                        .unwrap_or_else(|| "—".into()),
                );
                line.push(
                    imp.map(|c| format!("{:.0}", c.compute))
                        .unwrap_or_else(|| "—".into()),
                );
                line.push(
                    solvers
                        .first()
                        .and_then(|s| at(s, ft))
                        .map(|c| format!("{:.0}", c.compute))
                        .unwrap_or_else(|| "—".into()),
                );
                line
            })
            .collect();
        let h: Vec<&str> = header.iter().map(String::as_str).collect();
        out.push_str(&crate::evidence::markdown(&h, &rows));
    }
    out
}

/// The targets, paired by seed: at the sparsities nearest 95% and 98% without
/// fine-tuning, each solver minus magnitude; with fine-tuning, each solver minus IMP at the same
/// sparsity and its compute over IMP's.
pub fn targets(cells: &[Cell]) -> String {
    let mut rows = Vec::new();
    for c in cells {
        if c.arm == IMP || c.arm == DENSE || c.arm == MAGNITUDE {
            continue;
        }
        let sparsity = 100.0 - c.remaining_pct;
        let near = |t: f64| (sparsity - t).abs() < 0.25;
        if c.finetune == 0 && (near(95.0) || near(98.0)) {
            rows.push(vec![
                c.model.clone(),
                c.arm.clone(),
                "0".into(),
                format!("{sparsity:.2}"),
                c.minus_magnitude.show(100.0, 2),
                "≥ 5".into(),
                "".into(),
                "".into(),
            ]);
        }
        if c.finetune > 0 && c.minus_imp.n > 0 {
            rows.push(vec![
                c.model.clone(),
                c.arm.clone(),
                c.finetune.to_string(),
                format!("{sparsity:.2}"),
                c.minus_magnitude.show(100.0, 2),
                "".into(),
                c.minus_imp.show(100.0, 2),
                format!("{:.3}", c.compute_over_imp),
            ]);
        }
    }
    crate::evidence::markdown(
        &[
            "model",
            "solver",
            "fine-tuning",
            "% sparsity",
            "− magnitude (points)",
            "target",
            "− IMP (points; target ≥ −1)",
            "compute / IMP's (target ≤ 0.2)",
        ],
        &rows,
    )
}

/// One layer of one model at one sparsity: the hypotheses' proxies of its normalized $H$ (over
/// the seeds' dense networks) and each solver's reconstruction error over magnitude's.
#[derive(Clone, Debug, Serialize)]
pub struct Proxy {
    /// Model.
    pub model: String,
    /// Layer (position in the cascade).
    pub layer: usize,
    /// The weight's name.
    pub name: String,
    /// Sparsity (%).
    pub sparsity_pct: f64,
    /// Inputs per row.
    pub inputs: usize,
    /// Inputs dead on every calibration sample.
    pub dead_inputs: Ci,
    /// Mutual coherence of the normalized $H$.
    pub coherence: Ci,
    /// Smallest eigenvalue of the normalized $H$.
    pub lambda_min: Ci,
    /// Largest eigenvalue.
    pub lambda_max: Ci,
    /// Relative reconstruction error of each solver over magnitude's (same layer, inputs and
    /// budget; mean over seeds).
    pub error_over_magnitude: BTreeMap<String, Ci>,
}

/// The per-layer proxies and error ratios, read from the `summary.json` of every layerwise cell
/// without fine-tuning (under `runs`).
pub fn proxies(rows: &[Row], runs: &Path) -> Result<Vec<Proxy>> {
    type Key = (String, usize, i64);
    #[derive(Default)]
    struct Acc {
        name: String,
        inputs: usize,
        remaining_pct: f64,
        dead: Vec<f64>,
        coherence: Vec<f64>,
        lmin: Vec<f64>,
        lmax: Vec<f64>,
        ratio: BTreeMap<String, Vec<f64>>,
    }
    let mut acc: BTreeMap<Key, Acc> = BTreeMap::new();
    for r in rows
        .iter()
        .filter(|r| r.finetune == 0 && r.arm != IMP && r.arm != DENSE)
    {
        let path = runs.join(&r.run_dir).join("summary.json");
        let s: serde_json::Value = lottery::io::read_json(&path)?;
        let layers = s["trace"]["layers"].as_array().ok_or_else(|| {
            Error::param(
                "results",
                format!("{}: no per-layer report", path.display()),
            )
        })?;
        for (i, l) in layers.iter().enumerate() {
            let get = |k: &str| l[k].as_f64().unwrap_or(f64::NAN);
            let key = (r.model.clone(), i, level_key(r.remaining));
            let a = acc.entry(key).or_default();
            a.name = l["name"].as_str().unwrap_or("").to_string();
            a.inputs = l["cols"].as_u64().unwrap_or(0) as usize;
            a.remaining_pct = 100.0 * r.remaining;
            a.ratio
                .entry(r.arm.clone())
                .or_default()
                .push(get("relative_error") / get("magnitude_relative_error"));
            // The proxies depend on the calibration inputs, which past the first layer come
            // from the already-pruned network (cascade): take them from the magnitude cell,
            // once per seed.
            if r.arm == MAGNITUDE {
                a.dead.push(get("dead_inputs"));
                a.coherence.push(get("coherence"));
                if let Some(e) = l["eigenvalues"].as_array() {
                    a.lmin.push(e[0].as_f64().unwrap_or(f64::NAN));
                    a.lmax.push(e[1].as_f64().unwrap_or(f64::NAN));
                }
            }
        }
    }
    Ok(acc
        .into_iter()
        .map(|((model, layer, _), a)| Proxy {
            model,
            layer,
            name: a.name,
            sparsity_pct: 100.0 - a.remaining_pct,
            inputs: a.inputs,
            dead_inputs: Ci::of(&a.dead),
            coherence: Ci::of(&a.coherence),
            lambda_min: Ci::of(&a.lmin),
            lambda_max: Ci::of(&a.lmax),
            error_over_magnitude: a
                .ratio
                .into_iter()
                .filter(|(arm, _)| arm != MAGNITUDE)
                .map(|(arm, v)| (arm, Ci::of(&v)))
                .collect(),
        })
        .collect())
}

/// A small positive quantity in scientific notation (mean ± half-width).
fn sci(c: &Ci) -> String {
    if c.n == 0 || !c.mean.is_finite() {
        return "—".into();
    }
    format!("{:.1e} ± {:.1e}", c.mean, c.ci95)
}

/// The proxies' table: a row per (model, layer, sparsity).
pub fn proxy_markdown(proxies: &[Proxy]) -> String {
    let mut solvers: Vec<String> = proxies
        .iter()
        .flat_map(|p| p.error_over_magnitude.keys().cloned())
        .collect();
    solvers.sort();
    solvers.dedup();
    let mut header: Vec<String> = [
        "model",
        "layer",
        "inputs",
        "% sparsity",
        "dead inputs",
        "coherence",
        "λ_min",
        "λ_max",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend(solvers.iter().map(|s| format!("{s} / magnitude")));
    let rows: Vec<Vec<String>> = proxies
        .iter()
        .map(|p| {
            let mut line = vec![
                p.model.clone(),
                p.name.clone(),
                p.inputs.to_string(),
                format!("{:.2}", p.sparsity_pct),
                p.dead_inputs.show(1.0, 1),
                p.coherence.show(1.0, 3),
                sci(&p.lambda_min),
                p.lambda_max.show(1.0, 1),
            ];
            for s in &solvers {
                line.push(
                    p.error_over_magnitude
                        .get(s)
                        .map(|c| c.show(1.0, 3))
                        .unwrap_or_else(|| "—".into()),
                );
            }
            line
        })
        .collect();
    let h: Vec<&str> = header.iter().map(String::as_str).collect();
    crate::evidence::markdown(&h, &rows)
}
