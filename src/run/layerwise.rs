//! The settings of `lottery prune layerwise` (one-shot layerwise pruning of a trained run,
//! `nn::layerwise`, feature `torch`): typed, checked in one place ([`LayerwiseSettings::check`]),
//! held by the run's configuration ([`super::RunConfig::layerwise`]), and resolvable by sweep
//! cells without libtorch. They serialize to the same JSON as when they were strings, so every
//! layerwise directory keeps its name.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest;

use crate::names::named_enum;
use crate::select::budget::{Accepts, SparsityBudget, Strategy, Structure};
use crate::solver::layer::{LayerSolver, SolverSettings};
use crate::{Error, Result};

named_enum!(
    /// What a layer is pruned on.
    Objective, "objective", {
        /// $\frac12(w - \bar w)^\top H(w - \bar w)$ of each row, $H = X^\top X/n$ of the layer's
        /// inputs, in cascade (the default).
        Reconstruction = "reconstruction",
        /// The layer's empirical Fisher from per-sample gradients of the loss on the
        /// calibration samples, all the layer's weights at once
        /// ([`crate::problem::FisherQuadratic`]).
        Fisher = "fisher",
    }
);

/// The settings of a layerwise pruning run (all of them enter its directory's hash).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerwiseSettings {
    /// The solver (a [`LayerSolver`] of the registry: `obs`, `omp`, `sparsegpt`, …).
    pub solver: LayerSolver,
    /// Fraction of each pooled layer's weights removed, in (0, 1) (an N:M budget's is its own
    /// $1 - N/M$).
    pub sparsity: f64,
    /// `row` (per unit), `layer`, `N:M`, `block:HxW` or `channel` ([`Structure`], written `layer`
    /// for [`Structure::Unstructured`]).
    #[serde(serialize_with = "layer_spelling", deserialize_with = "structure")]
    pub budget: Structure,
    /// Calibration samples from the training split.
    pub calibration: usize,
    /// Damping relative to the mean diagonal of $H$ (SparseGPT's `percdamp`).
    pub damp: f64,
    /// Fine-tuning iterations with the mask fixed (0: none): the source run's optimizer and
    /// learning-rate schedule, restarted at iteration 0 (warm-up and drops included).
    pub finetune: usize,
    /// Seed of the calibration sample.
    pub seed: u64,
    /// `reconstruction` (default) or `fisher`. Left out of the serialized settings at its
    /// default, so run directories named before it existed keep their names.
    #[serde(default = "reconstruction", skip_serializing_if = "is_reconstruction")]
    pub objective: Objective,
    /// The solvers' own settings (serialized only where they differ from their defaults).
    #[serde(flatten)]
    pub solvers: SolverSettings,
}

fn reconstruction() -> Objective {
    Objective::Reconstruction
}

fn is_reconstruction(o: &Objective) -> bool {
    *o == Objective::Reconstruction
}

fn layer_spelling<S: Serializer>(b: &Structure, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&b.layerwise_name())
}

fn structure<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Structure, D::Error> {
    let s = String::deserialize(d)?;
    s.parse()
        .map_err(|e: Error| serde::de::Error::custom(e.to_string()))
}

/// The default sparsity of a layerwise run (an N:M budget removes its own $1 - N/M$).
pub const SPARSITY: f64 = 0.9;

impl Default for LayerwiseSettings {
    fn default() -> Self {
        LayerwiseSettings {
            solver: LayerSolver::Obs,
            sparsity: SPARSITY,
            budget: Structure::Row,
            calibration: 1000,
            damp: 0.01,
            finetune: 0,
            seed: 0,
            objective: Objective::Reconstruction,
            solvers: SolverSettings::default(),
        }
    }
}

impl LayerwiseSettings {
    /// The keys of a layerwise run's settings, as `--set` and a sweep's `layerwise` cells take
    /// them (a cell spells `seed` `calibration_seed`, since its `seed` is the source run's).
    pub fn keys() -> Vec<&'static str> {
        let mut k = vec![
            "solver",
            "sparsity",
            "budget",
            "calibration",
            "damp",
            "finetune",
            "seed",
            "objective",
        ];
        k.extend(SolverSettings::keys());
        k
    }

    /// Whether these are the defaults.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Settings from flat keys on top of these ([`Self::keys`]; values as TOML values), each
    /// checked when set: an unknown key or a bad value is one line naming it.
    pub fn with(mut self, pairs: &[(String, toml::Value)]) -> Result<Self> {
        for (k, v) in pairs {
            let keys = Self::keys();
            if !keys.contains(&k.as_str()) {
                return Err(Error::param(
                    "layerwise",
                    format!(
                        "unknown key `{}` (one of {})",
                        k.escape_debug(),
                        keys.join(", ")
                    ),
                ));
            }
            let mut table = match serde_json::to_value(&self) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => unreachable!("settings serialize to an object"),
            };
            let v =
                serde_json::to_value(v).map_err(|e| Error::param("layerwise", e.to_string()))?;
            table.insert(k.clone(), v);
            self = serde_json::from_value(serde_json::Value::Object(table)).map_err(|e| {
                Error::param(
                    "layerwise",
                    format!(
                        "`{}`: {}",
                        k.escape_debug(),
                        e.to_string().replace('\n', " ")
                    ),
                )
            })?;
        }
        Ok(self)
    }

    /// Settings from flat keys on top of the defaults, checked ([`Self::check`]); without a
    /// `sparsity` key the default is [`SPARSITY`], or an N:M budget's own $1 - N/M$.
    pub fn from_keys(pairs: &[(String, toml::Value)]) -> Result<Self> {
        let mut s = Self::default().with(pairs)?;
        if !pairs.iter().any(|(k, _)| k == "sparsity") {
            s.sparsity = SparsityBudget::default_sparsity(s.budget, SPARSITY);
        }
        s.check()?;
        Ok(s)
    }

    /// The layerwise budget: the sparsity and structure, every layer on its own.
    pub fn budget(&self) -> SparsityBudget {
        SparsityBudget {
            sparsity: self.sparsity,
            strategy: Strategy::Layerwise,
            structure: self.budget,
            output: 1.0,
        }
    }

    /// Every check of the settings, in one place: the budget (through the budget type; an N:M
    /// budget only with a solver that takes it), the calibration, the damping, the objective
    /// (the Fisher objective couples a layer's rows: a `layer` budget, a solver that needs no
    /// $H$) and the solvers' own settings.
    pub fn check(&self) -> Result<()> {
        self.budget()
            .check_for("a layerwise run", Accepts::ALL, true, String::new)?;
        if self.calibration == 0 {
            return Err(Error::param("calibration", "must be >= 1"));
        }
        if !self.damp.is_finite() || self.damp < 0.0 {
            return Err(Error::param(
                "damp",
                format!("must be finite and >= 0, got {}", self.damp),
            ));
        }
        let spec = self.solver.spec();
        if matches!(self.budget, Structure::NofM { .. }) && !spec.n_of_m {
            return Err(Error::param(
                "budget",
                format!(
                    "`{}` with solver {} (N:M runs with {})",
                    self.budget,
                    spec.name,
                    LayerSolver::names_where(|s| s.n_of_m)
                ),
            ));
        }
        if self.objective == Objective::Fisher {
            if self.budget != Structure::Unstructured {
                return Err(Error::param(
                    "budget",
                    format!(
                        "the Fisher objective couples a layer's rows: it takes `layer`, not `{}`",
                        self.budget.layerwise_name()
                    ),
                ));
            }
            if !spec.fisher {
                return Err(Error::param(
                    "solver",
                    format!(
                        "{} needs H itself; the Fisher objective runs {}",
                        spec.name,
                        LayerSolver::names_where(|s| s.fisher)
                    ),
                ));
            }
        }
        self.solvers.check()
    }

    /// The directory name under the level: solver and a hash of every setting.
    pub fn dir_name(&self) -> String {
        let text = serde_json::to_string(self).expect("plain settings serialize");
        let sha = sha2::Sha256::digest(text.as_bytes());
        let hex: String = sha.iter().take(6).map(|b| format!("{b:02x}")).collect();
        format!("layerwise_{}_{hex}", self.solver)
    }
}
