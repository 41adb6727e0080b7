//! Instability against the rewind iteration $k$ (Frankle, Dziugaite, Roy & Carbin 2020) on
//! LeNet-300-100 / Fashion-MNIST, with the paper's controls, and late rewinding.
//!
//! The grid is the sweep file `experiments/sweeps/instability.toml` (`-paper.toml`): `lmc`
//! cells for the dense network and, at the ticket's level, the IMP ticket found with rewinding
//! to each $k$ and its controls (`control`: random pruning, random reinitialization); `imp`
//! cells with `rewind` in the same $k$ (late rewinding). Every value is summarized over seeds
//! with its 95% interval, and the arms that share a seed are compared pairwise.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::evidence::Ci;
use crate::sweeps::{field, records};
use lottery::Result;

/// One point of the instability figure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `dense`, `IMP ticket`, `random pruning` or `random reinit`.
    pub network: String,
    /// Seed.
    pub seed: u64,
    /// Rewind iteration.
    pub k: usize,
    /// Fraction of the weights remaining.
    pub remaining: f64,
    /// Test instability.
    pub instability_test: f64,
    /// Train instability.
    pub instability_train: f64,
    /// Test accuracy of copy A.
    pub copy_test_accuracy: f64,
}

/// One level of a late-rewinding IMP run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LateRow {
    /// Rewind iteration (0: initialization).
    pub k: usize,
    /// Seed.
    pub seed: u64,
    /// Level.
    pub level: usize,
    /// Fraction of the weights remaining.
    pub remaining: f64,
    /// Test accuracy at the early-stopping iteration.
    pub early_stop_test_accuracy: f64,
}

/// The network label of an `lmc` row.
fn network(r: &BTreeMap<String, String>) -> String {
    // `level` is the ticket's level (empty for the dense network).
    let ticket: usize = r.get("level").and_then(|v| v.parse().ok()).unwrap_or(0);
    match (ticket, r.get("control").map(String::as_str)) {
        (0, _) => "dense".into(),
        (_, Some("random-prune")) => "random pruning".into(),
        (_, Some("random-reinit")) => "random reinit".into(),
        _ => "IMP ticket".into(),
    }
}

/// The instability rows (`lmc` cells) and the late-rewinding rows (`imp` cells) of the table.
pub fn rows(table: &[Vec<String>]) -> Result<(Vec<Row>, Vec<LateRow>)> {
    let mut lmc = Vec::new();
    let mut late = Vec::new();
    for r in records(table) {
        match r.get("command").map(String::as_str) {
            Some("lmc") => lmc.push(Row {
                network: network(&r),
                seed: field(&r, "seed")?,
                k: field::<f64>(&r, "k")? as usize,
                remaining: field(&r, "remaining")?,
                instability_test: field(&r, "instability_test")?,
                instability_train: field(&r, "instability_train")?,
                copy_test_accuracy: field(&r, "test_accuracy")?,
            }),
            Some("imp") => {
                let rewind: String = field(&r, "rewind")?;
                late.push(LateRow {
                    k: if rewind == "init" {
                        0
                    } else {
                        field(&r, "rewind")?
                    },
                    seed: field(&r, "seed")?,
                    level: field(&r, "level")?,
                    remaining: field(&r, "remaining")?,
                    early_stop_test_accuracy: field(&r, "early_stop_test_accuracy")?,
                })
            }
            _ => {}
        }
    }
    Ok((lmc, late))
}

/// Instability of one network at one $k$ over seeds, and the ticket's paired differences.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    /// Network.
    pub network: String,
    /// $k$.
    pub k: usize,
    /// Weights remaining (%).
    pub remaining_pct: f64,
    /// Test instability.
    pub instability_test: Ci,
    /// Train instability.
    pub instability_train: Ci,
    /// Copy A's test accuracy.
    pub copy_test_accuracy: Ci,
    /// Test instability of this network minus the IMP ticket's (same seed, same k).
    pub minus_ticket: Ci,
}

/// The summaries of the instability rows.
pub fn points(rows: &[Row]) -> Vec<Point> {
    let mut keys: Vec<(String, usize)> = rows.iter().map(|r| (r.network.clone(), r.k)).collect();
    keys.sort();
    keys.dedup();
    let at = |n: &str, k: usize| -> Vec<&Row> {
        rows.iter().filter(|r| r.network == n && r.k == k).collect()
    };
    keys.into_iter()
        .map(|(n, k)| {
            let here = at(&n, k);
            let by_seed = |v: &[&Row]| -> BTreeMap<u64, f64> {
                v.iter().map(|r| (r.seed, r.instability_test)).collect()
            };
            let vals =
                |f: &dyn Fn(&Row) -> f64| Ci::of(&here.iter().map(|r| f(r)).collect::<Vec<_>>());
            Point {
                remaining_pct: 100.0 * here.first().map(|r| r.remaining).unwrap_or(f64::NAN),
                instability_test: vals(&|r| r.instability_test),
                instability_train: vals(&|r| r.instability_train),
                copy_test_accuracy: vals(&|r| r.copy_test_accuracy),
                minus_ticket: Ci::paired(&by_seed(&here), &by_seed(&at("IMP ticket", k))),
                network: n,
                k,
            }
        })
        .collect()
}

/// Late rewinding at one $k$ and level, and the paired difference with rewinding to init.
#[derive(Clone, Debug, Serialize)]
pub struct Late {
    /// $k$.
    pub k: usize,
    /// Level.
    pub level: usize,
    /// Weights remaining (%).
    pub remaining_pct: f64,
    /// Early-stopped test accuracy.
    pub accuracy: Ci,
    /// Minus the same seed's accuracy with rewinding to initialization.
    pub minus_init: Ci,
}

/// The summaries of the late-rewinding rows.
pub fn late(rows: &[LateRow]) -> Vec<Late> {
    let mut keys: Vec<(usize, usize)> = rows.iter().map(|r| (r.k, r.level)).collect();
    keys.sort();
    keys.dedup();
    let acc = |k: usize, l: usize| -> BTreeMap<u64, f64> {
        rows.iter()
            .filter(|r| r.k == k && r.level == l)
            .map(|r| (r.seed, r.early_stop_test_accuracy))
            .collect()
    };
    keys.into_iter()
        .map(|(k, level)| {
            let a = acc(k, level);
            Late {
                remaining_pct: 100.0
                    * rows
                        .iter()
                        .find(|r| r.k == k && r.level == level)
                        .map(|r| r.remaining)
                        .unwrap_or(f64::NAN),
                accuracy: Ci::of(&a.values().copied().collect::<Vec<_>>()),
                minus_init: Ci::paired(&a, &acc(0, level)),
                k,
                level,
            }
        })
        .collect()
}

/// Markdown tables of both summaries (instability and accuracies in points).
pub fn markdown(points: &[Point], late: &[Late]) -> String {
    let a = crate::evidence::markdown(
        &[
            "network",
            "k",
            "% remaining",
            "test instability",
            "train instability",
            "copy test acc.",
            "minus the ticket (paired)",
        ],
        &points
            .iter()
            .map(|p| {
                vec![
                    p.network.clone(),
                    p.k.to_string(),
                    format!("{:.1}", p.remaining_pct),
                    p.instability_test.show(100.0, 2),
                    p.instability_train.show(100.0, 2),
                    p.copy_test_accuracy.show(100.0, 2),
                    p.minus_ticket.show(100.0, 2),
                ]
            })
            .collect::<Vec<_>>(),
    );
    let b = crate::evidence::markdown(
        &[
            "rewind k",
            "level",
            "% remaining",
            "early-stop test acc.",
            "minus rewind to init (paired)",
        ],
        &late
            .iter()
            .map(|l| {
                vec![
                    l.k.to_string(),
                    l.level.to_string(),
                    format!("{:.1}", l.remaining_pct),
                    l.accuracy.show(100.0, 2),
                    l.minus_init.show(100.0, 2),
                ]
            })
            .collect::<Vec<_>>(),
    );
    format!("{a}\n{b}")
}
