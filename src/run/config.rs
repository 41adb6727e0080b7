//! Run configuration: named presets with the papers' settings, overridable key by key from a
//! TOML file or the command line; unknown keys are errors.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::kinds::{Arch, Dataset, Init, Method, OptimizerName, Rewind, Structure};
pub use super::knobs::TeacherKnobs;
use super::layerwise::LayerwiseSettings;
use crate::select::budget::SparsityBudget;
use crate::{Error, Result};

/// Every setting of a training / IMP run. Defaults come from the preset.
///
/// Keys are flat in TOML and on the command line (`--set cs_rounds=5`); method knobs are
/// grouped here by method (`cfg.cs.rounds`). Unknown keys are refused by
/// [`RunConfig::from_toml`] and [`RunConfig::set`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Preset the defaults come from.
    pub preset: String,
    /// `lenet300`, `conv2`, `conv4`, `conv6`, `resnet20`, `vgg16`, `conv1d`, `mlp`.
    pub model: Arch,
    /// Hidden widths of `model = mlp` (ignored by the other models; \[300, 100\]).
    pub hidden: Vec<usize>,
    /// `fashion-mnist`, `mnist`, `cifar10`, `teacher`, or `none` (data-free pruning at
    /// initialization).
    pub dataset: Dataset,
    /// `glorot` (LTH paper) or `kaiming` (open_lth).
    pub init: Init,
    /// `sgd` or `adam`.
    pub optimizer: OptimizerName,
    /// Learning rate.
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// Batch size.
    pub batch: usize,
    /// Training length per level in iterations (0 = use `epochs`).
    pub iterations: usize,
    /// Training length per level in epochs (used when `iterations` is 0).
    pub epochs: usize,
    /// Learning-rate drops (×`lr_gamma`) at these epochs.
    pub lr_drop_epochs: Vec<usize>,
    /// Learning-rate drops (×`lr_gamma`) at these iterations.
    pub lr_drop_iterations: Vec<usize>,
    /// Drop factor.
    pub lr_gamma: f64,
    /// Linear warm-up iterations.
    pub warmup: usize,
    /// Evaluate on validation and test every this many iterations.
    pub eval_every: usize,
    /// Training samples held out for validation (early-stopping iteration; at least 1, at most
    /// half of the training set, checked when the data is loaded).
    pub validation: usize,
    /// IMP levels after the dense level 0.
    pub levels: usize,
    /// Fraction of the remaining weights pruned per level in fully connected layers.
    pub rate_fc: f64,
    /// … in convolutional layers.
    pub rate_conv: f64,
    /// … in the output layer (layerwise), when `prune_output`.
    pub rate_output: f64,
    /// Fraction pruned per level under the global strategy.
    pub rate_global: f64,
    /// Whether the output layer's weight is prunable.
    pub prune_output: bool,
    /// One-shot pruning: when > 0, the fraction of the remaining prunable weights removed at
    /// each level, in every prunable layer (layerwise) or globally, replacing the rates above;
    /// with `levels = 1` it prunes the trained network to sparsity `oneshot` in one shot.
    pub oneshot: f64,
    /// `init`, an iteration number `k` (late rewinding), `lr` (learning-rate rewinding) or
    /// `finetune`.
    pub rewind: Rewind,
    /// Learning rate of fine-tuning: 0 (default) is Renda et al.'s definition, the **final**
    /// learning rate of the original schedule (warm-up and drops applied at iteration $T-1$);
    /// a positive value overrides it.
    pub finetune_lr: f64,
    /// Retraining budget $t$ in iterations of `rewind = lr` and `rewind = finetune` at levels
    /// $\ge 1$ (0, the default: the full training length $T$). Learning-rate rewinding replays
    /// the schedule's last $t$ iterations (from $T-t$, with the data order of those
    /// iterations); fine-tuning trains $t$ iterations at the constant fine-tuning rate. Weight
    /// rewinding to $k$ retrains $T-k$ iterations, so `rewind = k` and `retrain = T - k` compare
    /// the three at equal budgets (Renda, Frankle & Carbin 2020).
    pub retrain: usize,
    /// Seed of initialization, data order and the validation split.
    pub seed: u64,
    /// Training stops as diverged when a mini-batch loss is non-finite or above this (1e4; a
    /// cross-entropy of $10^4$ puts probability $e^{-10^4}$ on the true class — Adam at a huge
    /// learning rate reaches $10^{19}$ without ever overflowing); 0 = non-finite values only.
    pub divergence_loss: f64,
    /// `imp`, or a method of [`crate::zoo`] (`lottery prune <method>`).
    pub method: Method,
    /// The sparsity budget (keys `sparsity`: the fraction of the prunable weights a `prune`
    /// method removes, `lottery prune` default 0.8; `strategy`: `layerwise`, `global` or `erk`,
    /// which also spreads IMP's levels; `budget`: `unstructured`, `N:M`, `block:HxW` or
    /// `channel`; `budget_output`: the output layer's allocation). [`crate::select::budget`]
    /// turns it into the counts every method keeps.
    #[serde(flatten)]
    pub budget: SparsityBudget,
    /// Learning rate (Adam) of supermask, edge-popup and continuous-sparsification scores (0.1).
    pub score_lr: f64,
    /// The methods' settings: one group per method file of the registry ([`crate::zoo`]),
    /// flattened (`--set cs_rounds=5`); `cfg.methods.continuous.rounds`.
    #[serde(flatten)]
    pub methods: crate::zoo::Settings,
    /// The planted teacher of `dataset = teacher`.
    #[serde(flatten)]
    pub teacher: TeacherKnobs,
    /// The settings of a layerwise run (`lottery prune layerwise`), a group of their own:
    /// serialized (the table `layerwise`) only when they differ from the defaults, so that no
    /// other run's settings, identity or name change.
    #[serde(default, skip_serializing_if = "LayerwiseSettings::is_default")]
    pub layerwise: LayerwiseSettings,
}

/// A TOML value as JSON; NaN and infinities (which JSON cannot hold) are refused here.
fn json_of(key: &str, v: toml::Value) -> Result<serde_json::Value> {
    let bad = |why: String| Error::param("config", format!("`{}`: {why}", key.escape_debug()));
    fn finite(v: &toml::Value) -> bool {
        match v {
            toml::Value::Float(f) => f.is_finite(),
            toml::Value::Array(a) => a.iter().all(finite),
            toml::Value::Table(t) => t.values().all(finite),
            _ => true,
        }
    }
    if !finite(&v) {
        return Err(bad(format!("{v} is not a finite number")));
    }
    serde_json::to_value(&v).map_err(|e| bad(e.to_string().replace('\n', " ")))
}

impl RunConfig {
    /// The preset, then the keys of a TOML document on top (its `preset` key, if any, picks the
    /// preset unless `preset` is given).
    pub fn from_toml(text: &str, preset: Option<&str>) -> Result<Self> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| Error::param("config", e.message().replace('\n', " ")))?;
        Self::from_table(table, preset)
    }

    /// [`RunConfig::from_toml`] of a parsed table (a sweep cell's settings).
    pub fn from_table(table: toml::Table, preset: Option<&str>) -> Result<Self> {
        let name = preset
            .map(str::to_string)
            .or_else(|| {
                table
                    .get("preset")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            })
            .ok_or_else(|| {
                Error::param(
                    "config",
                    "no preset given (set `preset = \"…\"` or --preset)",
                )
            })?;
        let mut cfg = Self::preset(&name)?;
        // Fast path: every key known, the merged table deserializes and every field is in range
        // (then each intermediate state of the key-by-key path would be too).
        let mut merged = cfg.table()?;
        let known = table
            .keys()
            .all(|k| k == "preset" || merged.contains_key(k));
        if known {
            for (k, v) in &table {
                if k != "preset" {
                    merged.insert(k.clone(), json_of(k, v.clone())?);
                }
            }
            if let Ok(next) = serde_json::from_value::<Self>(serde_json::Value::Object(merged)) {
                if next.validate_fields().is_ok() {
                    next.validate()?;
                    return Ok(next);
                }
            }
        }
        // Key by key, for an error that names the key.
        for (k, v) in table {
            if k != "preset" {
                let current = cfg.table()?;
                let v = json_of(&k, v)?;
                cfg.set_value(current, &k, v)?;
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// This config as a JSON object (the working form of `set`: serde_json is an order of
    /// magnitude faster than a TOML document here).
    fn table(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut m)) => {
                // The layerwise group is left out at its defaults; it is still a key.
                if !m.contains_key("layerwise") {
                    let d = serde_json::to_value(&self.layerwise)
                        .map_err(|e| Error::param("config", e.to_string()))?;
                    m.insert("layerwise".into(), d);
                }
                Ok(m)
            }
            _ => Err(Error::param("config", "settings are not a table")),
        }
    }

    /// Override one key from a command-line string (parsed as a TOML value, or taken as a
    /// string when it does not parse).
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        // String-valued keys take the text as is (so `--rewind 500` is the string "500").
        let current = self.table()?;
        if let Some(serde_json::Value::String(_)) = current.get(key) {
            return self.set_value(current, key, serde_json::Value::String(value.to_string()));
        }
        let parsed = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_string()));
        let parsed = json_of(key, parsed)?;
        self.set_value(current, key, parsed)
    }

    /// Set `key` in `table` (this config as a table) and take the result if it is valid.
    fn set_value(
        &mut self,
        mut table: serde_json::Map<String, serde_json::Value>,
        key: &str,
        value: serde_json::Value,
    ) -> Result<()> {
        if !table.contains_key(key) {
            return Err(Error::param(
                "config",
                format!("unknown key `{}`", key.escape_debug()),
            ));
        }
        table.insert(key.to_string(), value);
        let next: Self = serde_json::from_value(serde_json::Value::Object(table)).map_err(|e| {
            let msg = e.to_string().replace('\n', " ");
            Error::param("config", format!("`{}`: {msg}", key.escape_debug()))
        })?;
        // A refused value leaves the settings as they were.
        next.validate_fields()?;
        *self = next;
        Ok(())
    }

    /// Check every field's range and the settings' consistency (enum-valued settings are
    /// checked when they are parsed). Each key is checked when it is set; the consistency of
    /// several keys when the run starts (and after a TOML file), so that `--set` order does
    /// not matter.
    pub fn validate(&self) -> Result<()> {
        self.validate_fields()?;
        let bad = |name: &'static str, why: String| Err(Error::param(name, why));
        if self.iterations == 0 && self.epochs == 0 {
            return bad("iterations", "set iterations or epochs".into());
        }
        self.methods.dynamic.check_ramp()?;
        if self.teacher.teacher_online && self.iterations == 0 {
            return bad(
                "teacher_online",
                "needs `iterations` (the number of fresh samples is iterations x batch)".into(),
            );
        }
        self.check_budget()?;
        if let (Some(k), true) = (self.rewind.late(), self.iterations > 0) {
            if k > self.iterations {
                return bad(
                    "rewind",
                    format!(
                        "iteration {k} is beyond the training length {}",
                        self.iterations
                    ),
                );
            }
        }
        Ok(())
    }

    /// The budget fits the method (the structures its spec takes, [`crate::zoo::MethodSpec`])
    /// and the model (its settings were checked with the fields).
    fn check_budget(&self) -> Result<()> {
        let spec = self.method.spec();
        self.budget
            .check_for(&format!("`{}`", self.method), spec.accepts, false, || {
                Method::takers(self.budget.structure)
            })?;
        if self.budget.structure == Structure::Channel && self.model == Arch::Resnet20 {
            return Err(Error::param(
                "budget",
                "`channel` follows a chain of layers; resnet20's shortcuts are not one",
            ));
        }
        Ok(())
    }

    /// Check each field's own range: the training settings, IMP's, the budget (its type's own
    /// check), every method file's settings (the registry's), the planted teacher's and the
    /// layerwise group's — each in the place that owns it.
    fn validate_fields(&self) -> Result<()> {
        self.check_training()?;
        self.check_imp()?;
        self.budget.check()?;
        self.methods.check()?;
        self.teacher.check()?;
        self.layerwise.check()?;
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err(Error::param(
                "hidden",
                format!("{:?}: one or more widths, each >= 1", self.hidden),
            ));
        }
        Ok(())
    }

    /// The optimizer, schedule and evaluation settings.
    fn check_training(&self) -> Result<()> {
        let bad = |name: &'static str, why: String| Err(Error::param(name, why));
        for (name, v) in [
            ("lr", self.lr),
            ("lr_gamma", self.lr_gamma),
            ("score_lr", self.score_lr),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(name, format!("{v} must be > 0"));
            }
        }
        if self.batch == 0 {
            return bad("batch", "must be >= 1".into());
        }
        if self.eval_every == 0 {
            return bad("eval_every", "must be >= 1".into());
        }
        if self.validation == 0 {
            return bad(
                "validation",
                "must be >= 1 (the early-stopping iteration is read on it)".into(),
            );
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad("momentum", format!("{} is not in [0, 1)", self.momentum));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(
                "weight_decay",
                format!("{} must be >= 0", self.weight_decay),
            );
        }
        if !(self.divergence_loss.is_finite() && self.divergence_loss >= 0.0) {
            return bad(
                "divergence_loss",
                format!("{} must be >= 0 (0: non-finite only)", self.divergence_loss),
            );
        }
        Ok(())
    }

    /// IMP's levels, per-level rates and retraining.
    fn check_imp(&self) -> Result<()> {
        let bad = |name: &'static str, why: String| Err(Error::param(name, why));
        for (name, r) in [
            ("rate_fc", self.rate_fc),
            ("rate_conv", self.rate_conv),
            ("rate_output", self.rate_output),
            ("rate_global", self.rate_global),
            ("oneshot", self.oneshot),
        ] {
            if !(0.0..1.0).contains(&r) {
                return bad(name, format!("{r} is not in [0, 1)"));
            }
        }
        if !(self.finetune_lr.is_finite() && self.finetune_lr >= 0.0) {
            return bad(
                "finetune_lr",
                format!(
                    "{} must be >= 0 (0: the schedule's final rate)",
                    self.finetune_lr
                ),
            );
        }
        if self.levels > 1000 {
            return bad("levels", format!("{} > 1000", self.levels));
        }
        Ok(())
    }

    /// The settings that differ from the preset's, as `(key, value)` in key order.
    pub fn non_default(&self) -> Result<Vec<(String, String)>> {
        let base = toml::Table::try_from(Self::preset(&self.preset)?)
            .map_err(|e| Error::param("config", e.to_string()))?;
        let this =
            toml::Table::try_from(self).map_err(|e| Error::param("config", e.to_string()))?;
        let mut diff: Vec<(String, String)> = this
            .iter()
            .filter(|(k, v)| base.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        diff.sort();
        Ok(diff)
    }

    /// The run's name: the preset and a SHA-256 of its non-default settings (16 hex digits).
    pub fn hash(&self) -> Result<String> {
        let mut h = Sha256::new();
        h.update(self.preset.as_bytes());
        for (k, v) in self.non_default()? {
            h.update(b"\n");
            h.update(k.as_bytes());
            h.update(b"=");
            h.update(v.as_bytes());
        }
        let digest = h.finalize();
        let prefix = if self.method == Method::Imp {
            self.preset.clone()
        } else {
            format!("{}-{}", self.preset, self.method)
        };
        Ok(format!(
            "{}-{}",
            prefix,
            digest
                .iter()
                .take(8)
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ))
    }

    /// As TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a RunConfig serializes")
    }

    /// Iterations per level given the training-set size.
    pub fn total_iterations(&self, train_size: usize) -> usize {
        if self.iterations > 0 {
            self.iterations
        } else {
            self.epochs * (train_size / self.batch).max(1)
        }
    }
}
