//! The settings of `lottery prune layerwise` (one-shot layerwise pruning of a trained run,
//! `nn::layerwise`, feature `torch`), here so that sweep cells can resolve them without libtorch.

use serde::{Deserialize, Serialize};
use sha2::Digest;

/// The settings of a layerwise pruning run (all of them enter its directory's hash).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerwiseSettings {
    /// Solver: a `solver::layer::LayerSolver` name (`obs`, `omp`, `sparsegpt`, …).
    pub solver: String,
    /// Fraction of each pooled layer's weights removed, in (0, 1) (ignored by N:M budgets,
    /// which fix their own).
    pub sparsity: f64,
    /// `row`, `layer` or `N:M`.
    pub budget: String,
    /// Calibration samples from the training split.
    pub calibration: usize,
    /// Damping relative to the mean diagonal of $H$ (SparseGPT's `percdamp`).
    pub damp: f64,
    /// Fine-tuning iterations with the mask fixed (0: none): the source run's optimizer and
    /// learning-rate schedule, restarted at iteration 0 (warm-up and drops included).
    pub finetune: usize,
    /// Seed of the calibration sample.
    pub seed: u64,
}

impl Default for LayerwiseSettings {
    fn default() -> Self {
        LayerwiseSettings {
            solver: "obs".into(),
            sparsity: 0.9,
            budget: "row".into(),
            calibration: 1000,
            damp: 0.01,
            finetune: 0,
            seed: 0,
        }
    }
}

impl LayerwiseSettings {
    /// The directory name under the level: solver and a hash of every setting.
    pub fn dir_name(&self) -> String {
        let text = serde_json::to_string(self).expect("plain settings serialize");
        let sha = sha2::Sha256::digest(text.as_bytes());
        let hex: String = sha.iter().take(6).map(|b| format!("{b:02x}")).collect();
        format!("layerwise_{}_{hex}", self.solver)
    }
}
