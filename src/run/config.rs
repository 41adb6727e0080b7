//! Run configuration: named presets with the papers' settings, overridable key by key from a
//! TOML file or the command line; unknown keys are errors.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Every setting of a training / IMP run. Defaults come from the preset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Preset the defaults come from.
    pub preset: String,
    /// `lenet300`, `conv2`, `conv4`, `conv6`, `resnet20`, `vgg16`.
    pub model: String,
    /// `fashion-mnist`, `mnist`, `cifar10`, `teacher`, or `none` (data-free pruning at
    /// initialization).
    pub dataset: String,
    /// `glorot` (LTH paper) or `kaiming` (open_lth).
    pub init: String,
    /// `sgd` or `adam`.
    pub optimizer: String,
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
    /// Training samples held out for validation (early-stopping iteration).
    pub validation: usize,
    /// IMP levels after the dense level 0.
    pub levels: usize,
    /// `layerwise` (each layer loses its rate) or `global` (one magnitude threshold).
    pub strategy: String,
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
    pub rewind: String,
    /// Learning rate of fine-tuning.
    pub finetune_lr: f64,
    /// Seed of initialization, data order and the validation split.
    pub seed: u64,
    /// `imp`, or a method of [`crate::nn::zoo`] (`lottery prune <method>`).
    pub method: String,
    /// Fraction of the prunable weights a `prune` method removes (`lottery prune` default 0.8).
    pub sparsity: f64,
    /// Schedules of gradual methods (DPF, gradual magnitude, greedy growth): the sparsity ramp
    /// starts at this fraction of training (0.1) …
    pub schedule_start: f64,
    /// … and reaches its target at this fraction (0.6).
    pub schedule_end: f64,
    /// DPF: recompute the magnitude mask every this many iterations (16).
    pub dpf_every: usize,
    /// Gradual magnitude pruning: prune every this many iterations (Zhu–Gupta's $\Delta t$; 100).
    pub gradual_every: usize,
    /// Gradual magnitude pruning with straight-through gradients to pruned weights (false).
    pub straight_through: bool,
    /// Supermask: `learned`, `large_final`, `large_init`, `magnitude_increase`, `movement`,
    /// `random` (`learned`).
    pub supermask_criterion: String,
    /// Supermask: kept weights are `rewind` (default), `reinit`, `reshuffle` or
    /// `signed_constant`.
    pub supermask_kept: String,
    /// Supermask: pruned weights are `zero` (default) or `freeze` (kept at their initial values).
    pub supermask_pruned: String,
    /// Learning rate (Adam) of supermask and continuous-sparsification scores (0.1).
    pub score_lr: f64,
    /// Continuous sparsification: rounds (the last one draws the ticket; 3).
    pub cs_rounds: usize,
    /// Continuous sparsification: final temperature $\beta$ of each round (200).
    pub cs_beta: f64,
    /// Continuous sparsification: $\lambda$ of the penalty $\lambda\sum_i\sigma(\beta s_i)$ (1e-6).
    pub cs_lambda: f64,
    /// Continuous sparsification: initial score $s_0$ (0.5).
    pub cs_init: f64,
    /// Early-bird: compare masks every this many iterations (0 = one epoch).
    pub eb_every: usize,
    /// Early-bird: number of recent masks compared (5).
    pub eb_window: usize,
    /// Early-bird: draw the ticket when every distance is at most this (0.1).
    pub eb_threshold: f64,
    /// Early-bird: `unstructured` (weight magnitudes; default) or `channel` (batch-norm scales).
    pub eb_variant: String,
    /// Early-bird, channel variant: $\ell_1$ penalty on batch-norm scales (network slimming;
    /// 1e-4).
    pub eb_lambda: f64,
    /// SynFlow: pruning rounds on the exponential schedule (100).
    pub synflow_rounds: usize,
    /// SNIP / GraSP: training samples in the scoring batch (256).
    pub pai_samples: usize,
    /// GraSP: softmax temperature (200).
    pub grasp_temperature: f64,
    /// Step size of the convex trainers (IHT, forward greedy; Frank-Wolfe and mirror descent
    /// scale it, see their docs; 0.1).
    pub convex_lr: f64,
    /// Stochastic Frank-Wolfe: step $\gamma$ (0.001).
    pub fw_step: f64,
    /// Stochastic Frank-Wolfe: weight $\rho$ of the new stochastic gradient in the averaged
    /// direction $d \leftarrow (1-\rho)d + \rho g$ that the vertex is computed from (Mokhtari,
    /// Hassani & Karbasi 2018; 1 = no averaging; 0.1).
    pub fw_averaging: f64,
    /// Stochastic Frank-Wolfe: vertex magnitude $\tau_l$ as a multiple of layer $l$'s initial
    /// standard deviation (5).
    pub fw_radius: f64,
    /// Frank-Wolfe / mirror descent: hard-threshold the iterate to the budget at this fraction of
    /// training and continue on that support (0.9).
    pub threshold_at: f64,
    /// Forward greedy: growth rounds (10).
    pub grow_rounds: usize,
}

/// Methods of `lottery prune`.
pub const METHODS: [&str; 14] = [
    "dpf",
    "supermask",
    "snip",
    "grasp",
    "synflow",
    "magnitude-init",
    "random",
    "continuous",
    "early-bird",
    "gradual",
    "iht",
    "sfw",
    "md",
    "greedy",
];

/// The presets by name.
pub const PRESETS: [&str; 7] = [
    "lenet300-lth",
    "conv2-lth",
    "conv4-lth",
    "conv6-lth",
    "lenet300-openlth",
    "resnet20-openlth",
    "vgg16-openlth",
];

const MODELS: [&str; 6] = ["lenet300", "conv2", "conv4", "conv6", "resnet20", "vgg16"];
const DATASETS: [&str; 5] = ["fashion-mnist", "mnist", "cifar10", "teacher", "none"];

impl RunConfig {
    /// The settings of a named preset (Frankle & Carbin 2019 for `*-lth`, open_lth for
    /// `*-openlth`; see ../shared/REFERENCES.md).
    pub fn preset(name: &str) -> Result<Self> {
        let lth = |model: &str, lr: f64, iterations: usize, rate_conv: f64| RunConfig {
            preset: name.to_string(),
            model: model.into(),
            dataset: if model == "lenet300" {
                "fashion-mnist"
            } else {
                "cifar10"
            }
            .into(),
            init: "glorot".into(),
            optimizer: "adam".into(),
            lr,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            batch: 60,
            iterations,
            epochs: 0,
            lr_drop_epochs: vec![],
            lr_drop_iterations: vec![],
            lr_gamma: 0.1,
            warmup: 0,
            eval_every: 1000,
            validation: 5000,
            levels: 20,
            strategy: "layerwise".into(),
            rate_fc: 0.2,
            rate_conv,
            rate_output: 0.1,
            rate_global: 0.2,
            prune_output: true,
            oneshot: 0.0,
            rewind: "init".into(),
            finetune_lr: lr * 0.1,
            seed: 0,
            method: "imp".into(),
            sparsity: 0.0,
            schedule_start: 0.1,
            schedule_end: 0.6,
            dpf_every: 16,
            gradual_every: 100,
            straight_through: false,
            supermask_criterion: "learned".into(),
            supermask_kept: "rewind".into(),
            supermask_pruned: "zero".into(),
            score_lr: 0.1,
            cs_rounds: 3,
            cs_beta: 200.0,
            cs_lambda: 1e-6,
            cs_init: 0.5,
            eb_every: 0,
            eb_window: 5,
            eb_threshold: 0.1,
            eb_variant: "unstructured".into(),
            eb_lambda: 1e-4,
            synflow_rounds: 100,
            pai_samples: 256,
            grasp_temperature: 200.0,
            convex_lr: 0.1,
            fw_step: 0.001,
            fw_averaging: 0.1,
            fw_radius: 5.0,
            threshold_at: 0.9,
            grow_rounds: 10,
        };
        let openlth = |model: &str,
                       epochs: usize,
                       drops: Vec<usize>,
                       momentum: f64,
                       wd: f64,
                       prune_output: bool| RunConfig {
            init: "kaiming".into(),
            optimizer: "sgd".into(),
            lr: 0.1,
            momentum,
            weight_decay: wd,
            batch: 128,
            iterations: 0,
            epochs,
            lr_drop_epochs: drops,
            strategy: "global".into(),
            prune_output,
            finetune_lr: 0.001,
            ..lth(model, 0.1, 0, 0.2)
        };
        Ok(match name {
            "lenet300-lth" => lth("lenet300", 1.2e-3, 50_000, 0.1),
            "conv2-lth" => lth("conv2", 2e-4, 20_000, 0.1),
            "conv4-lth" => lth("conv4", 3e-4, 25_000, 0.1),
            "conv6-lth" => lth("conv6", 3e-4, 30_000, 0.15),
            "lenet300-openlth" => openlth("lenet300", 40, vec![], 0.0, 0.0, false),
            "resnet20-openlth" => openlth("resnet20", 160, vec![80, 120], 0.9, 1e-4, true),
            "vgg16-openlth" => openlth("vgg16", 160, vec![80, 120], 0.9, 1e-4, false),
            other => {
                return Err(Error::param(
                    "preset",
                    format!("unknown preset `{other}` (one of {})", PRESETS.join(", ")),
                ))
            }
        })
    }

    /// The preset, then the keys of a TOML document on top (its `preset` key, if any, picks the
    /// preset unless `preset` is given).
    pub fn from_toml(text: &str, preset: Option<&str>) -> Result<Self> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| Error::param("config", e.message().to_string()))?;
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
        for (k, v) in table {
            if k != "preset" {
                cfg.set_value(&k, v)?;
            }
        }
        Ok(cfg)
    }

    /// Override one key from a command-line string (parsed as a TOML value, or taken as a
    /// string when it does not parse).
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        // String-valued keys take the text as is (so `--rewind 500` is the string "500").
        let current =
            toml::Table::try_from(&*self).map_err(|e| Error::param("config", e.to_string()))?;
        if let Some(toml::Value::String(_)) = current.get(key) {
            return self.set_value(key, toml::Value::String(value.to_string()));
        }
        let parsed = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_string()));
        self.set_value(key, parsed)
    }

    fn set_value(&mut self, key: &str, value: toml::Value) -> Result<()> {
        let mut table =
            toml::Table::try_from(&*self).map_err(|e| Error::param("config", e.to_string()))?;
        if !table.contains_key(key) {
            return Err(Error::param("config", format!("unknown key `{key}`")));
        }
        table.insert(key.to_string(), value);
        *self = table.try_into().map_err(|e: toml::de::Error| {
            Error::param("config", format!("`{key}`: {}", e.message()))
        })?;
        self.validate()
    }

    /// Check every field's range.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &'static str, why: String| Err(Error::param(name, why));
        if !MODELS.contains(&self.model.as_str()) {
            return bad(
                "model",
                format!("unknown model `{}` ({})", self.model, MODELS.join(", ")),
            );
        }
        if !DATASETS.contains(&self.dataset.as_str()) {
            return bad(
                "dataset",
                format!(
                    "unknown dataset `{}` ({})",
                    self.dataset,
                    DATASETS.join(", ")
                ),
            );
        }
        if !["glorot", "kaiming"].contains(&self.init.as_str()) {
            return bad("init", format!("`{}` is not glorot or kaiming", self.init));
        }
        if !["sgd", "adam"].contains(&self.optimizer.as_str()) {
            return bad(
                "optimizer",
                format!("`{}` is not sgd or adam", self.optimizer),
            );
        }
        if !["layerwise", "global"].contains(&self.strategy.as_str()) {
            return bad(
                "strategy",
                format!("`{}` is not layerwise or global", self.strategy),
            );
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr", format!("{} must be > 0", self.lr));
        }
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
        if self.batch == 0 || self.eval_every == 0 {
            return bad("batch", "batch and eval_every must be >= 1".into());
        }
        if self.iterations == 0 && self.epochs == 0 {
            return bad("iterations", "set iterations or epochs".into());
        }
        if !["imp", "lmc"].contains(&self.method.as_str())
            && !METHODS.contains(&self.method.as_str())
        {
            return bad(
                "method",
                format!("unknown method `{}` ({})", self.method, METHODS.join(", ")),
            );
        }
        if !(0.0..1.0).contains(&self.sparsity) {
            return bad("sparsity", format!("{} is not in [0, 1)", self.sparsity));
        }
        for (name, r) in [
            ("schedule_start", self.schedule_start),
            ("schedule_end", self.schedule_end),
            ("threshold_at", self.threshold_at),
            ("eb_threshold", self.eb_threshold),
        ] {
            if !(0.0..=1.0).contains(&r) {
                return bad(name, format!("{r} is not in [0, 1]"));
            }
        }
        if self.schedule_start > self.schedule_end {
            return bad("schedule_start", "must be <= schedule_end".into());
        }
        for (name, v) in [
            ("score_lr", self.score_lr),
            ("cs_beta", self.cs_beta),
            ("convex_lr", self.convex_lr),
            ("fw_radius", self.fw_radius),
            ("grasp_temperature", self.grasp_temperature),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(name, format!("{v} must be > 0"));
            }
        }
        if !(self.fw_averaging > 0.0 && self.fw_averaging <= 1.0) {
            return bad(
                "fw_averaging",
                format!("{} is not in (0, 1]", self.fw_averaging),
            );
        }
        if !(self.fw_step > 0.0 && self.fw_step <= 1.0) {
            return bad("fw_step", format!("{} is not in (0, 1]", self.fw_step));
        }
        for (name, v) in [("cs_lambda", self.cs_lambda), ("eb_lambda", self.eb_lambda)] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(name, format!("{v} must be >= 0"));
            }
        }
        if !self.cs_init.is_finite() {
            return bad("cs_init", "must be finite".into());
        }
        for (name, v) in [
            ("dpf_every", self.dpf_every),
            ("gradual_every", self.gradual_every),
            ("cs_rounds", self.cs_rounds),
            ("eb_window", self.eb_window),
            ("synflow_rounds", self.synflow_rounds),
            ("pai_samples", self.pai_samples),
            ("grow_rounds", self.grow_rounds),
        ] {
            if v == 0 {
                return bad(name, "must be >= 1".into());
            }
        }
        for (name, v, allowed) in [
            (
                "supermask_criterion",
                &self.supermask_criterion,
                &[
                    "learned",
                    "large_final",
                    "large_init",
                    "magnitude_increase",
                    "movement",
                    "random",
                ][..],
            ),
            (
                "supermask_kept",
                &self.supermask_kept,
                &["rewind", "reinit", "reshuffle", "signed_constant"][..],
            ),
            (
                "supermask_pruned",
                &self.supermask_pruned,
                &["zero", "freeze"][..],
            ),
            (
                "eb_variant",
                &self.eb_variant,
                &["unstructured", "channel"][..],
            ),
        ] {
            if !allowed.contains(&v.as_str()) {
                return bad(name, format!("`{v}` is not one of {}", allowed.join(", ")));
            }
        }
        match self.rewind.as_str() {
            "init" | "lr" | "finetune" => {}
            k if k.parse::<usize>().is_ok() => {}
            other => {
                return bad(
                    "rewind",
                    format!("`{other}` is not init, lr, finetune or an iteration"),
                )
            }
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
        let prefix = if self.method == "imp" {
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
