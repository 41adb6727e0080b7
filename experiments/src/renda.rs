//! Rewinding against fine-tuning (Renda, Frankle & Carbin 2020) at equal retraining budgets:
//! for each model, budget $t$ and pruning level, the final test accuracy of weight rewinding
//! (to $k = T - t$), learning-rate rewinding and fine-tuning — mean with its 95% interval over
//! seeds — and the paired differences (the three arms of a seed share the dense network and
//! its first pruning). Sweep: `experiments/sweeps/renda.toml`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::evidence::Ci;
use crate::sweeps::{field, records};
use lottery::{Error, Result};

/// The arms.
pub const ARMS: [&str; 3] = ["weight rewinding", "LR rewinding", "fine-tuning"];

/// One level of one IMP run.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Model (the preset, from the run's name).
    pub model: String,
    /// One of [`ARMS`].
    pub arm: String,
    /// Retraining budget $t$ (iterations).
    pub budget: usize,
    /// Seed.
    pub seed: u64,
    /// Level.
    pub level: usize,
    /// Fraction of the weights remaining.
    pub remaining: f64,
    /// Test accuracy at the end of retraining.
    pub test_accuracy: f64,
    /// Iterations this level trained.
    pub iterations_trained: usize,
}

/// A cell of the comparison: model, budget, level.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    /// Model.
    pub model: String,
    /// Budget $t$.
    pub budget: usize,
    /// Level.
    pub level: usize,
    /// Weights remaining (%).
    pub remaining_pct: f64,
    /// Final test accuracy of each arm.
    pub weight_rewinding: Ci,
    /// …
    pub lr_rewinding: Ci,
    /// …
    pub fine_tuning: Ci,
    /// Paired differences.
    pub lr_minus_weight: Ci,
    /// …
    pub lr_minus_finetune: Ci,
    /// …
    pub weight_minus_finetune: Ci,
}

/// The rows of the sweep's table (levels ≥ 1; level 0 is the shared dense network).
pub fn rows(table: &[Vec<String>]) -> Result<Vec<Row>> {
    let mut out = Vec::new();
    for r in records(table) {
        let level: usize = field(&r, "level")?;
        let run: String = field(&r, "run_dir")?;
        let model = run
            .rsplit_once('-')
            .map(|(m, _)| m.to_string())
            .unwrap_or(run.clone());
        let trained: usize = field(&r, "iterations_trained")?;
        let rewind: String = field(&r, "rewind")?;
        let retrain: usize = field(&r, "retrain")?;
        let (arm, budget) = match rewind.as_str() {
            "lr" => (ARMS[1], retrain),
            "finetune" => (ARMS[2], retrain),
            // Weight rewinding to k (or to init): the level retrains T - k iterations.
            _ => (ARMS[0], trained),
        };
        if level == 0 {
            continue;
        }
        out.push(Row {
            model,
            arm: arm.into(),
            budget,
            seed: field(&r, "seed")?,
            level,
            remaining: field(&r, "remaining")?,
            test_accuracy: field(&r, "test_accuracy")?,
            iterations_trained: trained,
        });
    }
    if out.is_empty() {
        return Err(Error::param("results", "no pruned level in the table"));
    }
    Ok(out)
}

/// The comparison cells.
pub fn cells(rows: &[Row]) -> Vec<Cell> {
    let mut keys: Vec<(String, usize, usize)> = rows
        .iter()
        .map(|r| (r.model.clone(), r.budget, r.level))
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|(model, budget, level)| {
            let arm = |a: &str| -> BTreeMap<u64, f64> {
                rows.iter()
                    .filter(|r| r.model == model && r.budget == budget && r.level == level)
                    .filter(|r| r.arm == a)
                    .map(|r| (r.seed, r.test_accuracy))
                    .collect()
            };
            let (w, l, f) = (arm(ARMS[0]), arm(ARMS[1]), arm(ARMS[2]));
            let v = |m: &BTreeMap<u64, f64>| Ci::of(&m.values().copied().collect::<Vec<_>>());
            let remaining = rows
                .iter()
                .find(|r| r.model == model && r.level == level)
                .map(|r| r.remaining)
                .unwrap_or(f64::NAN);
            Cell {
                remaining_pct: 100.0 * remaining,
                weight_rewinding: v(&w),
                lr_rewinding: v(&l),
                fine_tuning: v(&f),
                lr_minus_weight: Ci::paired(&l, &w),
                lr_minus_finetune: Ci::paired(&l, &f),
                weight_minus_finetune: Ci::paired(&w, &f),
                model,
                budget,
                level,
            }
        })
        .collect()
}

/// The markdown table (accuracies in %).
pub fn markdown(cells: &[Cell]) -> String {
    let header = [
        "model",
        "budget t",
        "level",
        "% remaining",
        "weight rewinding",
        "LR rewinding",
        "fine-tuning",
        "LR − weight",
        "LR − fine-tune",
        "weight − fine-tune",
    ];
    let rows: Vec<Vec<String>> = cells
        .iter()
        .map(|c| {
            vec![
                c.model.clone(),
                c.budget.to_string(),
                c.level.to_string(),
                format!("{:.1}", c.remaining_pct),
                c.weight_rewinding.show(100.0, 2),
                c.lr_rewinding.show(100.0, 2),
                c.fine_tuning.show(100.0, 2),
                c.lr_minus_weight.show(100.0, 2),
                c.lr_minus_finetune.show(100.0, 2),
                c.weight_minus_finetune.show(100.0, 2),
            ]
        })
        .collect();
    crate::evidence::markdown(&header, &rows)
}
