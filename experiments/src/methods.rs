//! Every method of the zoo on LeNet-300-100 / Fashion-MNIST at 50–99% sparsity, several seeds,
//! with IMP and the dense network as references: test accuracy against sparsity.
//!
//! The grid is the sweep file `experiments/sweeps/methods.toml` (`-paper.toml` for the papers'
//! length): an `imp` part (one run per seed; its level 0 is the dense reference) and a `prune`
//! part (method × sparsity × seed), every cell an ordinary hash-named run, executed by the
//! library's local or Slurm executor with one thread per cell, so the results do not depend on
//! the number of workers.

use serde::{Deserialize, Serialize};

use crate::sweeps::field;
use lottery::Result;

/// One point of the figure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Method (`imp`, `dense` or a `lottery prune` method).
    pub method: String,
    /// Seed.
    pub seed: u64,
    /// Requested sparsity (IMP: the level's).
    pub sparsity: f64,
    /// Fraction of prunable weights remaining.
    pub remaining: f64,
    /// Test accuracy at the end of training.
    pub final_test_accuracy: f64,
    /// Test accuracy at the early-stopping iteration (minimum validation loss).
    pub early_stop_test_accuracy: f64,
    /// Training iterations behind the result (IMP: every level up to this one).
    pub cumulative_iterations: usize,
}

/// The method of a `prune` row: its `method` column, or when the method is not a varying key
/// of the sweep, the name of its run (`<preset>-<method>-<hash>`).
fn method_of(r: &std::collections::BTreeMap<String, String>) -> Result<String> {
    if let Some(m) = r.get("method").filter(|m| !m.is_empty()) {
        return Ok(m.clone());
    }
    let run: String = field(r, "run_dir")?;
    let stem = run.rsplit_once('-').map(|(s, _)| s).unwrap_or(&run);
    lottery::run::Method::NAMES
        .iter()
        .filter(|n| stem.ends_with(&format!("-{n}")))
        .max_by_key(|n| n.len())
        .map(|n| n.to_string())
        .ok_or_else(|| lottery::Error::param("results", format!("no method in run `{run}`")))
}

/// The label of a row: the method, or a control (`dense (SGD)`, `gradual (SGD)`,
/// `one-shot at 0.9T (SGD)`), a method run with a per-layer budget where the sweep varies the
/// strategy (`edge-popup (per layer)`, `rigl (ERK)`), `dense` and `imp` for IMP's levels.
fn label(r: &std::collections::BTreeMap<String, String>) -> Result<String> {
    let sgd = r.get("optimizer").map(String::as_str) == Some("sgd");
    Ok(match r.get("command").map(String::as_str) {
        Some("train") => "dense (SGD)".into(),
        Some("imp") => {
            let level: usize = field(r, "level")?;
            if level == 0 { "dense" } else { "imp" }.into()
        }
        _ => {
            let m = method_of(r)?;
            let strategy = r.get("strategy").map(String::as_str);
            let budget = r
                .get("budget")
                .map(String::as_str)
                .filter(|b| !b.is_empty() && *b != "unstructured");
            match (sgd, r.get("schedule_start").map(String::as_str)) {
                _ if budget.is_some() => format!("{m} ({})", budget.unwrap_or_default()),
                (true, Some("0.9")) => ONESHOT_SGD.into(),
                (true, _) => format!("{m} (SGD)"),
                _ if strategy == Some("layerwise") => format!("{m} (per layer)"),
                _ if strategy == Some("erk") => format!("{m} (ERK)"),
                _ => m,
            }
        }
    })
}

/// The figure's rows from the sweep's merged table (data-free rows have no accuracy: NaN). An
/// AC/DC row also gives `acdc (dense model)`: its co-trained dense model, at the same sparsity
/// key and seed.
pub fn rows(table: &[Vec<String>]) -> Result<Vec<Row>> {
    let mut out = Vec::new();
    for r in crate::sweeps::records(table) {
        let remaining: f64 = field(&r, "remaining")?;
        let method = label(&r)?;
        let sparsity = match r.get("command").map(String::as_str) {
            Some("prune") => field(&r, "sparsity")?,
            _ => 1.0 - remaining,
        };
        let row = Row {
            method,
            seed: field(&r, "seed")?,
            sparsity,
            remaining,
            final_test_accuracy: field(&r, "test_accuracy").unwrap_or(f64::NAN),
            early_stop_test_accuracy: field(&r, "early_stop_test_accuracy").unwrap_or(f64::NAN),
            cumulative_iterations: field(&r, "cumulative_iterations")?,
        };
        if let Ok(dense) = field::<f64>(&r, "dense_model_test_accuracy") {
            out.push(Row {
                method: format!("{} (dense model)", row.method),
                remaining: 1.0,
                final_test_accuracy: dense,
                early_stop_test_accuracy: f64::NAN,
                ..row.clone()
            });
        }
        out.push(row);
    }
    Ok(out)
}

/// The label of gradual magnitude pruning under the convex trainers' SGD.
pub const GRADUAL_SGD: &str = "gradual (SGD)";
/// The label of dense SGD pruned once at 0.9T.
pub const ONESHOT_SGD: &str = "one-shot at 0.9T (SGD)";

/// Pruning at initialization, whose `(ERK)` arms are paired with the same method's global
/// allocation.
const PAI: [&str; 5] = ["snip", "grasp", "synflow", "magnitude-init", "random"];

/// The reference an arm is paired with besides gradual pruning: under ERK, gradual pruning under
/// ERK (RigL, SET; the same allocation) or, for pruning at initialization, the same method with
/// its global ranking (the allocation alone); with blocks or channels, gradual pruning with per-layer
/// budgets (the same allocation, unstructured); with N:M, the same method unstructured; AC/DC's
/// dense model, AC/DC's sparse model; SET is paired with RigL (`set (ERK)` → `rigl (ERK)`).
pub fn own_reference(method: &str) -> Option<String> {
    if let Some(sparse) = method.strip_suffix(" (dense model)") {
        return Some(sparse.to_string());
    }
    if method == "set (ERK)" {
        return Some("rigl (ERK)".into());
    }
    if let Some(base) = method.strip_suffix(" (ERK)") {
        // Pruning at initialization: the same scores ranked globally (the allocation alone).
        if PAI.contains(&base) {
            return Some(base.to_string());
        }
        if base != "gradual" {
            return Some("gradual (ERK)".into());
        }
    }
    // N:M: the same method unstructured at the same sparsity (gradual's is the default row).
    if let Some((base, inner)) = method.strip_suffix(')').and_then(|m| m.split_once(" (")) {
        let nm = inner
            .split_once(':')
            .is_some_and(|(n, m)| n.parse::<usize>().is_ok() && m.parse::<usize>().is_ok());
        if nm && base != "gradual" {
            return Some(base.to_string());
        }
    }
    if method.contains("(block:") || method.ends_with("(channel)") {
        return Some("gradual (per layer)".into());
    }
    None
}

/// Random pruning under ERK for a scored pruning-at-initialization arm under ERK: the same
/// per-layer counts, only the choice within each layer differs (`snip (ERK)` → `random (ERK)`).
pub fn random_reference(method: &str) -> Option<String> {
    let base = method.strip_suffix(" (ERK)")?;
    (PAI.contains(&base) && base != "random").then(|| "random (ERK)".to_string())
}

/// The paired differences (points, mean ± 95% CI over seeds): every method against gradual
/// pruning (Adam), and the SGD-trained methods also against the two SGD controls.
pub fn differences_markdown(points: &[Point], sparsities: &[f64]) -> String {
    let mut header: Vec<String> = vec!["method".into(), "minus".into()];
    header.extend(
        sparsities
            .iter()
            .map(|s| format!("{:.0}% sparse", 100.0 * s)),
    );
    let mut methods: Vec<String> = Vec::new();
    for p in points {
        if !methods.contains(&p.method) && p.minus_gradual.n > 0 && p.method != "gradual" {
            methods.push(p.method.clone());
        }
    }
    type Pick = fn(&Point) -> crate::evidence::Ci;
    let refs: [(&str, Pick); 3] = [
        ("gradual", |p| p.minus_gradual),
        (GRADUAL_SGD, |p| p.minus_gradual_sgd),
        (ONESHOT_SGD, |p| p.minus_oneshot_sgd),
    ];
    // One table row: method `m` minus `name`, the difference `pick` at every sparsity.
    let row = |m: &str, name: &str, pick: Pick| -> Vec<String> {
        let mut row = vec![format!("`{m}`"), format!("`{name}`")];
        row.extend(sparsities.iter().map(|s| {
            points
                .iter()
                .find(|p| p.method == m && (p.sparsity - s).abs() < 0.01)
                .map(pick)
                .filter(|c| c.n > 0)
                .map(|c| c.show(100.0, 2))
                .unwrap_or_else(|| "—".into())
        }));
        row
    };
    let mut rows = Vec::new();
    for m in &methods {
        for (name, pick) in refs {
            if name == m {
                continue;
            }
            // The SGD controls only for the methods trained with SGD.
            if name != "gradual"
                && !(m.contains("(SGD)") || ["iht", "sfw", "md", "greedy"].contains(&m.as_str()))
            {
                continue;
            }
            rows.push(row(m, name, pick));
        }
        if let Some(own) = own_reference(m) {
            rows.push(row(m, &own, |p| p.minus_own));
        }
        if let Some(random) = random_reference(m) {
            rows.push(row(m, &random, |p| p.minus_random_erk));
        }
    }
    let h: Vec<&str> = header.iter().map(String::as_str).collect();
    crate::evidence::markdown(&h, &rows)
}

/// One method at one sparsity over seeds.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    /// Method or control.
    pub method: String,
    /// Sparsity (requested; IMP: its level's, rounded to 3 decimals).
    pub sparsity: f64,
    /// Weights remaining (%).
    pub remaining_pct: f64,
    /// Final test accuracy.
    pub accuracy: crate::evidence::Ci,
    /// Paired difference with gradual magnitude pruning (Adam) at the same sparsity and seed.
    pub minus_gradual: crate::evidence::Ci,
    /// … with gradual magnitude pruning under the convex trainers' SGD.
    pub minus_gradual_sgd: crate::evidence::Ci,
    /// … with dense SGD pruned once at 0.9T (what SFW and MD threshold at), mask then fixed.
    pub minus_oneshot_sgd: crate::evidence::Ci,
    /// … with the arm's own reference when it has one ([`own_reference`]): the same budget
    /// allocation or, for AC/DC's dense model, AC/DC's sparse model of the same runs.
    pub minus_own: crate::evidence::Ci,
    /// … for pruning at initialization under ERK, with random pruning under ERK
    /// ([`random_reference`]): the same per-layer counts, so what the scores add.
    pub minus_random_erk: crate::evidence::Ci,
    /// Total training iterations behind the result (mean over seeds).
    pub iterations: f64,
}

/// The summaries; IMP's levels are matched to the sweep's sparsities when within 0.01.
pub fn points(rows: &[Row]) -> Vec<Point> {
    use std::collections::BTreeMap;
    let key = |s: f64| (s * 1000.0).round() as i64;
    let mut keys: Vec<(String, i64)> = rows
        .iter()
        .map(|r| (r.method.clone(), key(r.sparsity)))
        .collect();
    keys.sort();
    keys.dedup();
    let of = |m: &str, k: i64| -> Vec<&Row> {
        rows.iter()
            .filter(|r| r.method == m && key(r.sparsity) == k)
            .collect()
    };
    let acc = |v: &[&Row]| -> BTreeMap<u64, f64> {
        v.iter().map(|r| (r.seed, r.final_test_accuracy)).collect()
    };
    keys.into_iter()
        .map(|(m, k)| {
            let here = of(&m, k);
            let a = acc(&here);
            // Paired with an optional reference arm (no reference: an empty interval).
            let minus = |r: Option<String>| {
                r.map(|r| crate::evidence::Ci::paired(&a, &acc(&of(&r, k))))
                    .unwrap_or_else(|| crate::evidence::Ci::of(&[]))
            };
            Point {
                sparsity: k as f64 / 1000.0,
                remaining_pct: 100.0 * here[0].remaining,
                accuracy: crate::evidence::Ci::of(&a.values().copied().collect::<Vec<_>>()),
                minus_gradual: crate::evidence::Ci::paired(&a, &acc(&of("gradual", k))),
                minus_gradual_sgd: crate::evidence::Ci::paired(&a, &acc(&of(GRADUAL_SGD, k))),
                minus_oneshot_sgd: crate::evidence::Ci::paired(&a, &acc(&of(ONESHOT_SGD, k))),
                minus_own: minus(own_reference(&m)),
                minus_random_erk: minus(random_reference(&m)),
                iterations: here
                    .iter()
                    .map(|r| r.cumulative_iterations as f64)
                    .sum::<f64>()
                    / here.len() as f64,
                method: m,
            }
        })
        .collect()
}

/// The markdown table: one row per method, one column per sparsity (final test accuracy, %,
/// mean ± 95% CI), and the total training iterations at the highest sparsity.
pub fn markdown(points: &[Point], sparsities: &[f64]) -> String {
    let mut methods: Vec<String> = Vec::new();
    for p in points {
        if !methods.contains(&p.method) {
            methods.push(p.method.clone());
        }
    }
    let mut header: Vec<String> = vec!["method".into()];
    header.extend(
        sparsities
            .iter()
            .map(|s| format!("{:.0}% sparse", 100.0 * s)),
    );
    header.push("iterations".into());
    let rows: Vec<Vec<String>> = methods
        .iter()
        .map(|m| {
            let mut row = vec![format!("`{m}`")];
            let mut its = String::from("—");
            for s in sparsities {
                match points
                    .iter()
                    .find(|p| p.method == *m && (p.sparsity - s).abs() < 0.01)
                {
                    Some(p) => {
                        row.push(p.accuracy.show(100.0, 1));
                        its = format!("{:.0}", p.iterations);
                    }
                    None => row.push("—".into()),
                }
            }
            row.push(its);
            row
        })
        .collect();
    let h: Vec<&str> = header.iter().map(String::as_str).collect();
    crate::evidence::markdown(&h, &rows)
}
