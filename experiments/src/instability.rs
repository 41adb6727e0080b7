//! Instability against the rewind iteration $k$ (Frankle et al. 2020) on LeNet-300-100 /
//! Fashion-MNIST: the dense network, and the sparse network of an IMP ticket (its mask, trained
//! from the dense parent's weights at $k$), several seeds.
//!
//! The grid is the sweep file `experiments/sweeps/instability.toml` (`-paper.toml`): `lmc`
//! cells over seed × `ticket_level` (0: dense), each an ordinary resumable `lottery lmc` run.

use serde::{Deserialize, Serialize};

use crate::sweeps::field;
use lottery::Result;

/// One point of the figure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `dense` or `IMP ticket (x% remaining)`.
    pub network: String,
    /// Seed.
    pub seed: u64,
    /// Rewind iteration.
    pub k: usize,
    /// Test instability.
    pub instability_test: f64,
    /// Train instability.
    pub instability_train: f64,
}

/// The figure's rows from the sweep's merged table.
pub fn rows(table: &[Vec<String>]) -> Result<Vec<Row>> {
    crate::sweeps::records(table)
        .iter()
        .map(|r| {
            let ticket: usize = field(r, "ticket_level")?;
            let remaining: f64 = field(r, "remaining")?;
            Ok(Row {
                network: if ticket == 0 {
                    "dense".into()
                } else {
                    format!("IMP ticket ({:.1}% remaining)", 100.0 * remaining)
                },
                seed: field(r, "seed")?,
                k: field::<f64>(r, "k")? as usize,
                instability_test: field(r, "instability_test")?,
                instability_train: field(r, "instability_train")?,
            })
        })
        .collect()
}
