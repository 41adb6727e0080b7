//! Frankle & Carbin (2019) at the paper's pruning schedule, read as a referee would: for each
//! IMP level, the ticket's test accuracy at its early-stopping iteration against random
//! reinitialization, random pruning, the dense network trained once, and the **compute-matched**
//! dense network — the long dense run early-stopped within the ticket's total budget
//! $(L+1)\,T$ — each as a mean with its 95% interval over seeds, and the **paired**
//! differences (the arms share seeds). "Learns faster" is measured without censoring by the
//! budget: iterations until the validation accuracy first reaches the dense network's
//! early-stopped validation accuracy (same seed), with the runs that never reach it counted.
//!
//! Sweeps: `experiments/sweeps/frankle_carbin.toml` (LeNet-300-100 / Fashion-MNIST) and
//! `frankle_carbin-mnist1d.toml` (LeNet-300-100 and the conv net on MNIST-1D; a `preset`
//! column separates them).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::evidence::{early_stop_within, iterations_to, read_metrics, run_level_dir, Ci, Eval};
use crate::sweeps::{field, records};
use lottery::{Error, Result};

/// The arms of the experiment.
pub const ARMS: [&str; 4] = ["IMP", "random reinit", "random pruning", "dense (long)"];

/// One run (a level of IMP, a branch, or the long dense run) with what is measured on it.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    /// Model / preset (empty when the sweep has one).
    pub group: String,
    /// One of [`ARMS`].
    pub arm: String,
    /// Seed.
    pub seed: u64,
    /// IMP level (0 for the dense runs).
    pub level: usize,
    /// Fraction of the prunable weights remaining.
    pub remaining: f64,
    /// Early-stopping iteration (least validation loss).
    pub early_stop_iteration: usize,
    /// Test accuracy there.
    pub early_stop_test_accuracy: f64,
    /// Whether the minimum is the last evaluation (censored by the budget).
    pub censored: bool,
    /// Iterations until the validation accuracy reaches the target (None: never).
    pub iterations_to_target: Option<usize>,
    /// The target: the same seed's dense (level 0) early-stopped validation accuracy.
    pub target_val_accuracy: f64,
    /// Training iterations of this run and every run it depends on (level L of IMP: L + 1
    /// trainings).
    pub cumulative_iterations: usize,
}

/// One level's summary over seeds.
#[derive(Clone, Debug, Serialize)]
pub struct Level {
    /// Model / preset.
    pub group: String,
    /// IMP level.
    pub level: usize,
    /// Weights remaining (%).
    pub remaining_pct: f64,
    /// Total training iterations of the ticket, $(L+1)\,T$.
    pub ticket_iterations: usize,
    /// Early-stop test accuracy of each arm.
    pub imp: Ci,
    /// …
    pub random_reinit: Ci,
    /// …
    pub random_pruning: Ci,
    /// The dense network trained once ($T$ iterations), early-stopped.
    pub dense: Ci,
    /// The dense network early-stopped within $(L+1)\,T$ iterations.
    pub dense_matched: Ci,
    /// Paired differences IMP − compute-matched dense, IMP − random reinit, IMP − random pruning.
    pub imp_minus_dense_matched: Ci,
    /// …
    pub imp_minus_reinit: Ci,
    /// …
    pub imp_minus_pruning: Ci,
    /// Early-stopping iteration of the ticket.
    pub imp_early_stop_iteration: Ci,
    /// Tickets whose validation minimum is their last evaluation.
    pub imp_censored: usize,
    /// Iterations to the dense network's validation accuracy (over the runs that reach it) and
    /// how many of the seeds reach it: IMP, random reinit, random pruning.
    pub imp_to_target: Ci,
    /// …
    pub reinit_to_target: Ci,
    /// …
    pub pruning_to_target: Ci,
}

/// (group, arm, seed, level).
type CurveKey = (String, &'static str, u64, usize);

/// Every run of the sweep's table (runs under `runs`), measured.
pub fn runs(table: &[Vec<String>], runs_root: &Path) -> Result<Vec<Run>> {
    let recs = records(table);
    let arm_of = |r: &BTreeMap<String, String>| -> Result<&'static str> {
        Ok(
            match (
                r.get("command").map(String::as_str),
                r.get("kind").map(String::as_str),
            ) {
                (Some("imp"), _) => ARMS[0],
                (_, Some("random-reinit")) => ARMS[1],
                (_, Some("random-prune")) => ARMS[2],
                (Some("train"), _) => ARMS[3],
                _ => return Err(Error::param("results", format!("unexpected row {r:?}"))),
            },
        )
    };
    let group = |r: &BTreeMap<String, String>| r.get("preset").cloned().unwrap_or_default();
    let mut curves: BTreeMap<CurveKey, (Vec<Eval>, f64)> = BTreeMap::new();
    for r in &recs {
        let evals = read_metrics(&run_level_dir(runs_root, r)?)?;
        curves.insert(
            (group(r), arm_of(r)?, field(r, "seed")?, field(r, "level")?),
            (evals, field(r, "remaining")?),
        );
    }
    let mut out = Vec::new();
    for ((g, arm, seed, level), (evals, remaining)) in &curves {
        let dense0 = curves
            .get(&(g.clone(), ARMS[0], *seed, 0))
            .ok_or_else(|| Error::param("results", format!("no dense level 0 for seed {seed}")))?;
        let per_level = dense0.0.last().map(|e| e.iteration).unwrap_or(0);
        let target = early_stop_within(&dense0.0, usize::MAX)
            .map(|e| e.val_accuracy)
            .unwrap_or(f64::NAN);
        let es = early_stop_within(evals, usize::MAX)
            .ok_or_else(|| Error::param("results", format!("{arm} seed {seed}: no evaluations")))?;
        let last = evals.last().map(|e| e.iteration).unwrap_or(0);
        let cumulative = match *arm {
            "IMP" => (level + 1) * per_level,
            "dense (long)" => last,
            _ => (level + 1) * per_level,
        };
        out.push(Run {
            group: g.clone(),
            arm: arm.to_string(),
            seed: *seed,
            level: *level,
            remaining: *remaining,
            early_stop_iteration: es.iteration,
            early_stop_test_accuracy: es.test_accuracy,
            censored: es.iteration == last,
            iterations_to_target: iterations_to(evals, target),
            target_val_accuracy: target,
            cumulative_iterations: cumulative,
        });
    }
    Ok(out)
}

/// The per-level summaries; `long` are the long dense runs' curves by (group, seed).
pub fn levels(runs: &[Run], long: &BTreeMap<(String, u64), Vec<Eval>>) -> Vec<Level> {
    let by = |g: &str, arm: &str, level: usize| -> BTreeMap<u64, &Run> {
        runs.iter()
            .filter(|r| r.group == g && r.arm == arm && r.level == level)
            .map(|r| (r.seed, r))
            .collect()
    };
    let acc = |m: &BTreeMap<u64, &Run>| -> BTreeMap<u64, f64> {
        m.iter()
            .map(|(s, r)| (*s, r.early_stop_test_accuracy))
            .collect()
    };
    let vals = |m: &BTreeMap<u64, f64>| m.values().copied().collect::<Vec<_>>();
    let to_target = |m: &BTreeMap<u64, &Run>| {
        Ci::of(
            &m.values()
                .filter_map(|r| r.iterations_to_target.map(|v| v as f64))
                .collect::<Vec<_>>(),
        )
    };
    let mut groups: Vec<String> = runs.iter().map(|r| r.group.clone()).collect();
    groups.sort();
    groups.dedup();
    let mut out = Vec::new();
    for g in groups {
        let mut ls: Vec<usize> = runs
            .iter()
            .filter(|r| r.group == g && r.arm == "IMP")
            .map(|r| r.level)
            .collect();
        ls.sort_unstable();
        ls.dedup();
        let dense = acc(&by(&g, "IMP", 0));
        for l in ls {
            let imp = by(&g, "IMP", l);
            let Some(any) = imp.values().next() else {
                continue;
            };
            let per_level = any.cumulative_iterations / (l + 1);
            let budget = (l + 1) * per_level;
            let matched: BTreeMap<u64, f64> = long
                .iter()
                .filter(|((gg, _), _)| *gg == g)
                .filter_map(|((_, s), ev)| {
                    // Only a run at least as long as the budget matches it.
                    let reaches = ev.last().is_some_and(|e| e.iteration >= budget);
                    reaches
                        .then(|| early_stop_within(ev, budget).map(|e| (*s, e.test_accuracy)))
                        .flatten()
                })
                .collect();
            let (reinit, pruning) = (by(&g, ARMS[1], l), by(&g, ARMS[2], l));
            let (a_imp, a_re, a_pr) = (acc(&imp), acc(&reinit), acc(&pruning));
            out.push(Level {
                group: g.clone(),
                level: l,
                remaining_pct: 100.0 * any.remaining,
                ticket_iterations: budget,
                imp: Ci::of(&vals(&a_imp)),
                random_reinit: Ci::of(&vals(&a_re)),
                random_pruning: Ci::of(&vals(&a_pr)),
                dense: Ci::of(&vals(&dense)),
                dense_matched: Ci::of(&vals(&matched)),
                imp_minus_dense_matched: Ci::paired(&a_imp, &matched),
                imp_minus_reinit: Ci::paired(&a_imp, &a_re),
                imp_minus_pruning: Ci::paired(&a_imp, &a_pr),
                imp_early_stop_iteration: Ci::of(
                    &imp.values()
                        .map(|r| r.early_stop_iteration as f64)
                        .collect::<Vec<_>>(),
                ),
                imp_censored: imp.values().filter(|r| r.censored).count(),
                imp_to_target: to_target(&imp),
                reinit_to_target: to_target(&reinit),
                pruning_to_target: to_target(&pruning),
            });
        }
    }
    out
}

/// The long dense runs' curves by (group, seed).
pub fn long_curves(
    table: &[Vec<String>],
    runs_root: &Path,
) -> Result<BTreeMap<(String, u64), Vec<Eval>>> {
    let mut out = BTreeMap::new();
    for r in records(table) {
        if r.get("command").map(String::as_str) == Some("train") {
            let g = r.get("preset").cloned().unwrap_or_default();
            out.insert(
                (g, field(&r, "seed")?),
                read_metrics(&run_level_dir(runs_root, &r)?)?,
            );
        }
    }
    Ok(out)
}

/// The markdown table of the summaries (accuracies in %, intervals at 95%).
pub fn markdown(levels: &[Level]) -> String {
    let header = [
        "model",
        "level",
        "% remaining",
        "ticket iterations",
        "IMP",
        "random reinit",
        "random pruning",
        "dense (T)",
        "dense, matched",
        "IMP − matched dense",
        "IMP − reinit",
        "IMP − pruning",
        "IMP early stop (it.)",
        "censored",
        "IMP it. to dense val. acc. (reached)",
        "reinit it. (reached)",
    ];
    let rows: Vec<Vec<String>> = levels
        .iter()
        .map(|l| {
            vec![
                if l.group.is_empty() {
                    "—".into()
                } else {
                    l.group.clone()
                },
                l.level.to_string(),
                format!("{:.1}", l.remaining_pct),
                l.ticket_iterations.to_string(),
                l.imp.show(100.0, 2),
                l.random_reinit.show(100.0, 2),
                l.random_pruning.show(100.0, 2),
                l.dense.show(100.0, 2),
                l.dense_matched.show(100.0, 2),
                l.imp_minus_dense_matched.show(100.0, 2),
                l.imp_minus_reinit.show(100.0, 2),
                l.imp_minus_pruning.show(100.0, 2),
                l.imp_early_stop_iteration.show(1.0, 0),
                format!("{}/{}", l.imp_censored, l.imp.n),
                format!(
                    "{} ({}/{})",
                    l.imp_to_target.show(1.0, 0),
                    l.imp_to_target.n,
                    l.imp.n
                ),
                format!(
                    "{} ({}/{})",
                    l.reinit_to_target.show(1.0, 0),
                    l.reinit_to_target.n,
                    l.random_reinit.n
                ),
            ]
        })
        .collect();
    crate::evidence::markdown(&header, &rows)
}
