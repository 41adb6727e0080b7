//! The headline lottery-ticket experiment: IMP (rewind to initialization) against random
//! reinitialization and random pruning (same per-layer survival) on LeNet-300-100 /
//! Fashion-MNIST, several seeds; test accuracy and early-stop iteration against the fraction of
//! weights remaining. The grid is the sweep file `experiments/sweeps/lottery_curve.toml`
//! (`-paper.toml` for the paper's size); its cells are ordinary hash-named IMP runs and branches.

use serde::{Deserialize, Serialize};

use crate::sweeps::field;
use lottery::{Error, Result};

/// One point of the curves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `IMP (rewind to init)`, `random reinit` or `random pruning`.
    pub method: String,
    /// Seed.
    pub seed: u64,
    /// Level.
    pub level: usize,
    /// Fraction of prunable weights remaining.
    pub remaining: f64,
    /// Test accuracy at the end of training.
    pub final_test_accuracy: f64,
    /// Iteration of minimum validation loss.
    pub early_stop_iteration: usize,
    /// Test accuracy at that iteration.
    pub early_stop_test_accuracy: f64,
}

/// The curves' rows from the sweep's merged table.
pub fn rows(table: &[Vec<String>]) -> Result<Vec<Row>> {
    crate::sweeps::records(table)
        .iter()
        .map(|r| {
            let method = match (
                r.get("command").map(String::as_str),
                r.get("kind").map(String::as_str),
            ) {
                (Some("imp"), _) => "IMP (rewind to init)",
                (_, Some("random-reinit")) => "random reinit",
                (_, Some("random-prune")) => "random pruning",
                _ => return Err(Error::param("results", format!("unexpected row {r:?}"))),
            };
            Ok(Row {
                method: method.into(),
                seed: field(r, "seed")?,
                level: field(r, "level")?,
                remaining: field(r, "remaining")?,
                final_test_accuracy: field(r, "test_accuracy")?,
                early_stop_iteration: field(r, "early_stop_iteration")?,
                early_stop_test_accuracy: field(r, "early_stop_test_accuracy")?,
            })
        })
        .collect()
}
