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
    /// `row`, `layer`, `N:M` or `channel`.
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
    /// `reconstruction` (default: $H = X^\top X/n$ of each row, in cascade) or `fisher` (the
    /// layer's empirical Fisher from per-sample gradients of the loss on the calibration
    /// samples, all the layer's weights at once; [`crate::problem::FisherQuadratic`]). Left out
    /// of the serialized settings at its default, so run directories named before it existed
    /// keep their names.
    #[serde(default = "reconstruction", skip_serializing_if = "is_reconstruction")]
    pub objective: String,
}

fn reconstruction() -> String {
    RECONSTRUCTION.into()
}

fn is_reconstruction(s: &str) -> bool {
    s == RECONSTRUCTION
}

/// The default objective.
pub const RECONSTRUCTION: &str = "reconstruction";
/// The Fisher objective.
pub const FISHER: &str = "fisher";
/// The channel budget: whole rows (units, filters) removed, the next layer's inputs from them
/// too, every kept row refit on the live inputs (`solver::layer::prune_channels`).
pub const CHANNEL: &str = "channel";

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
            objective: reconstruction(),
        }
    }
}

impl LayerwiseSettings {
    /// The objective is one of the two, and the Fisher objective has a layer budget.
    pub fn check_objective(&self) -> crate::Result<()> {
        match self.objective.as_str() {
            RECONSTRUCTION => Ok(()),
            FISHER if self.budget == "layer" => Ok(()),
            FISHER => Err(crate::Error::param(
                "budget",
                format!(
                    "the Fisher objective couples a layer's rows: it takes `layer`, not `{}`",
                    self.budget.escape_debug()
                ),
            )),
            other => Err(crate::Error::param(
                "objective",
                format!(
                    "unknown objective `{}` (reconstruction or fisher)",
                    other.escape_debug()
                ),
            )),
        }
    }

    /// The directory name under the level: solver and a hash of every setting.
    pub fn dir_name(&self) -> String {
        let text = serde_json::to_string(self).expect("plain settings serialize");
        let sha = sha2::Sha256::digest(text.as_bytes());
        let hex: String = sha.iter().take(6).map(|b| format!("{b:02x}")).collect();
        format!("layerwise_{}_{hex}", self.solver)
    }
}
