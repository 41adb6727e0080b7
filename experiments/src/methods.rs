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

/// The figure's rows from the sweep's merged table (data-free rows have no accuracy: NaN).
pub fn rows(table: &[Vec<String>]) -> Result<Vec<Row>> {
    crate::sweeps::records(table)
        .iter()
        .map(|r| {
            let remaining: f64 = field(r, "remaining")?;
            let (method, sparsity) = if r.get("command").map(String::as_str) == Some("imp") {
                let level: usize = field(r, "level")?;
                (
                    if level == 0 { "dense" } else { "imp" }.to_string(),
                    1.0 - remaining,
                )
            } else {
                (field::<String>(r, "method")?, field(r, "sparsity")?)
            };
            Ok(Row {
                method,
                seed: field(r, "seed")?,
                sparsity,
                remaining,
                final_test_accuracy: field(r, "test_accuracy").unwrap_or(f64::NAN),
                early_stop_test_accuracy: field(r, "early_stop_test_accuracy").unwrap_or(f64::NAN),
                cumulative_iterations: field(r, "cumulative_iterations")?,
            })
        })
        .collect()
}
