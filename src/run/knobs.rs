//! The method and dataset knobs of a [`super::RunConfig`], one struct per group, each flattened
//! into the config's flat key space (`--set cs_rounds=5`).

use serde::{Deserialize, Serialize};

use super::kinds::{
    Criterion, EbDistance, EbVariant, FwSchedule, Kept, Pruned, TeacherKind, TeacherTargets,
};

/// The planted teacher (`dataset = teacher`); keys as the fields. The shape keys apply to the
/// narrow teacher; targets, samples, noise and `teacher_online` to both.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TeacherKnobs {
    /// `wide` (the original random teacher; default) or `narrow` (identifiable).
    pub teacher: TeacherKind,
    /// Narrow teacher: input dimension $d$ (200).
    pub teacher_input: usize,
    /// Narrow teacher: relevant inputs $q$ (40).
    pub teacher_relevant: usize,
    /// Narrow teacher: hidden widths, one or two layers (\[16\]).
    pub teacher_hidden: Vec<usize>,
    /// Narrow teacher: fan-in of each hidden layer's units (\[8\]).
    pub teacher_fan_in: Vec<usize>,
    /// Narrow teacher: outputs (10).
    pub teacher_outputs: usize,
    /// `labels` (argmax, cross-entropy; default) or `regression` (the outputs, squared error).
    pub teacher_targets: TeacherTargets,
    /// Training samples drawn, the validation split included (20000).
    pub teacher_samples: usize,
    /// Standard deviation of Gaussian noise on the training outputs (0).
    pub teacher_noise: f64,
    /// Online: `teacher_samples` is replaced by iterations × batch + validation, so that every
    /// step sees fresh samples (each training sample is used exactly once; false).
    pub teacher_online: bool,
}

/// Schedules of the gradual methods; keys `schedule_start`, `schedule_end`, `dpf_every`,
/// `gradual_every`, `straight_through`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// The sparsity ramp of DPF, gradual magnitude pruning and greedy growth starts at this
    /// fraction of training (0.1) …
    pub schedule_start: f64,
    /// … and reaches its target at this fraction (0.6).
    pub schedule_end: f64,
    /// DPF: recompute the magnitude mask every this many iterations (16).
    pub dpf_every: usize,
    /// Gradual magnitude pruning: prune every this many iterations (Zhu–Gupta's $\Delta t$; 100).
    pub gradual_every: usize,
    /// Gradual magnitude pruning with straight-through gradients to pruned weights (false).
    pub straight_through: bool,
}

/// Supermask settings; keys `supermask_criterion`, `supermask_kept`, `supermask_pruned`,
/// `supermask_natural`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SupermaskKnobs {
    /// `learned`, `large_final`, `large_init`, `magnitude_increase`, `movement`, `random`
    /// (`learned`).
    #[serde(rename = "supermask_criterion")]
    pub criterion: Criterion,
    /// Kept weights are `rewind` (default), `reinit`, `reshuffle` or `signed_constant`.
    #[serde(rename = "supermask_kept")]
    pub kept: Kept,
    /// Pruned weights are `zero` (default) or `freeze` (kept at their initial values).
    #[serde(rename = "supermask_pruned")]
    pub pruned: Pruned,
    /// Learned supermask: `false` (default) calibrates the sampling probabilities to the target
    /// density and keeps the top $1-S$ scores; `true` samples $\mathrm{Bernoulli}(\sigma(s))$
    /// and keeps every score with $\sigma(s) > 1/2$ — the mask at its **natural** density
    /// (Zhou et al.), which `sparsity` then only starts from ($s_0 = \mathrm{logit}(1-S)$).
    #[serde(rename = "supermask_natural")]
    pub natural: bool,
}

/// Continuous sparsification; keys `cs_rounds`, `cs_beta`, `cs_lambda`, `cs_init`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContinuousKnobs {
    /// Rounds (the last one draws the ticket; 3).
    #[serde(rename = "cs_rounds")]
    pub rounds: usize,
    /// Final temperature $\beta$ of each round (200).
    #[serde(rename = "cs_beta")]
    pub beta: f64,
    /// $\lambda$ of the penalty $\lambda\sum_i\sigma(\beta s_i)$ (1e-6).
    #[serde(rename = "cs_lambda")]
    pub lambda: f64,
    /// Initial score $s_0$ (0.5).
    #[serde(rename = "cs_init")]
    pub init: f64,
}

/// Early-bird tickets; keys `eb_every`, `eb_window`, `eb_threshold`, `eb_variant`,
/// `eb_distance`, `eb_lambda`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyBirdKnobs {
    /// Compare masks every this many iterations (0 = one epoch).
    #[serde(rename = "eb_every")]
    pub every: usize,
    /// Number of recent masks compared (5).
    #[serde(rename = "eb_window")]
    pub window: usize,
    /// Draw the ticket when every distance is at most this (0.1).
    #[serde(rename = "eb_threshold")]
    pub threshold: f64,
    /// `unstructured` (weight magnitudes; default) or `channel` (batch-norm scales).
    #[serde(rename = "eb_variant")]
    pub variant: EbVariant,
    /// Distance between masks: `kept` (fraction of the kept set that changed; default) or `all`
    /// (Hamming over all coordinates, You et al.'s original definition for channel masks).
    #[serde(rename = "eb_distance")]
    pub distance: EbDistance,
    /// Channel variant: $\ell_1$ penalty on batch-norm scales (network slimming; 1e-4).
    #[serde(rename = "eb_lambda")]
    pub lambda: f64,
}

/// Pruning at initialization; keys as the fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaiKnobs {
    /// SynFlow: pruning rounds on the exponential schedule (100).
    pub synflow_rounds: usize,
    /// SNIP / GraSP: training samples in the scoring batch (256).
    pub pai_samples: usize,
    /// GraSP: softmax temperature (200).
    pub grasp_temperature: f64,
}

/// The convex trainers; keys as the fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvexKnobs {
    /// Step size of the convex trainers (IHT, forward greedy; Frank-Wolfe and mirror descent
    /// scale it, see their docs; 0.1).
    pub convex_lr: f64,
    /// Stochastic Frank-Wolfe: step $\gamma$ (0.001).
    pub fw_step: f64,
    /// Stochastic Frank-Wolfe: weight $\rho$ of the new stochastic gradient in the averaged
    /// direction $d \leftarrow (1-\rho)d + \rho g$ that the vertex is computed from (Mokhtari,
    /// Hassani & Karbasi 2018; 1 = no averaging; 0.1).
    pub fw_averaging: f64,
    /// Stochastic Frank-Wolfe: `constant` (`fw_step`, `fw_averaging`), `horizon`
    /// ($\gamma = 1/\sqrt{T+1}$) or `decreasing` ($\gamma_t = 2/(t+8)$,
    /// $\rho_t = 4/(t+8)^{2/3}$); see [`FwSchedule`].
    pub fw_schedule: FwSchedule,
    /// Stochastic Frank-Wolfe: vertex magnitude $\tau_l$ as a multiple of layer $l$'s initial
    /// standard deviation (5).
    pub fw_radius: f64,
    /// Frank-Wolfe / mirror descent: hard-threshold the iterate to the budget at this fraction of
    /// training and continue on that support (0.9).
    pub threshold_at: f64,
    /// Forward greedy: growth rounds (10).
    pub grow_rounds: usize,
    /// `group-lasso`: $\lambda$ of the penalty on the first layer's input columns (0.1).
    pub group_lambda: f64,
}

/// Sparse training from the start (`rigl`, `set`) and AC/DC; keys as the fields. Fractions are
/// of the run's iterations $T$.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SparseTrainingKnobs {
    /// RigL / SET: update the mask every this many iterations ($\Delta T$; 100).
    pub dst_every: usize,
    /// RigL / SET: initial update fraction $\alpha$, cosine-decayed to 0 at `dst_end` (0.3).
    pub dst_fraction: f64,
    /// RigL / SET: no mask updates from this fraction of training on ($T_{end}$; 0.75).
    pub dst_end: f64,
    /// AC/DC: dense warm-up, as a fraction of training (0.05: 10 of the CIFAR recipe's 200
    /// epochs).
    pub acdc_warmup: f64,
    /// AC/DC: length of each sparse and each dense phase (0.1: 20 of 200 epochs).
    pub acdc_phase: f64,
    /// AC/DC: length of the final sparse phase (0.15: 30 of 200 epochs).
    pub acdc_final: f64,
}
