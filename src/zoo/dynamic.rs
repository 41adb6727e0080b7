//! Magnitude pruning during one training run: DPF and gradual magnitude pruning. Both prune with
//! the convex layer's hard-thresholding step [`crate::solver::step::threshold`] ($H_s$ with
//! [`crate::select::Largest`]); the convex trainers are in [`super::convex`].
//!
//! # Magnitude schedules
//!
//! * `gradual` (Zhu & Gupta 2017; Gale et al. 2019): every `gradual_every` iterations between
//!   $t_0$ = `schedule_start`·T and $t_1$ = `schedule_end`·T, prune by magnitude to
//!   $s_t = S\,\big(1 - (1 - (t-t_0)/(t_1-t_0))^3\big)$ — the cubic ramp from 0 to $S$ — and
//!   once more at $t_1$ (exactly $S$). Pruned weights stay zero (masked optimizer). With
//!   `straight_through = true` the forward pass uses $m\odot w$ while the dense $w$ receives the
//!   gradient, so a pruned weight can grow back before the next pruning step.
//! * `dpf` (Lin et al. 2020): the straight-through form — forward and backward at $m \odot w$,
//!   the gradient applied to the dense $w$ (error feedback: what pruning removed keeps being
//!   updated and re-enters when it outgrows a kept weight) — with the mask recomputed every
//!   `dpf_every` (16) iterations, on the same ramp and then at $S$ until the end.
//!
//! Stated as an IHT method: DPF keeps a dense iterate $w$ that takes SGD steps with the gradient
//! taken at $x = H_{s_t}(w)$, and refreshes the support of $H$ only every `dpf_every` steps (in
//! between, $x = w \odot m$ with the last support). With `dpf_every = 1`, a constant $s$ and
//! the gradient taken at $w$ it would be IHT with the iterate kept dense; as run, it is IHT's
//! projection applied to an error-feedback iterate, and it inherits none of IHT's guarantees
//! (theory/network-trainers.md).

use serde::{Deserialize, Serialize};

use super::MethodSpec;
use crate::{Error, Result};

/// DPF.
pub const DPF: MethodSpec = MethodSpec::prune(
    "dpf",
    "dynamic pruning with feedback: forward at the masked weights, gradient to the dense ones",
)
.structured();

/// Gradual magnitude pruning.
pub const GRADUAL: MethodSpec = MethodSpec::prune(
    "gradual",
    "gradual magnitude pruning on Zhu & Gupta's cubic schedule",
)
.structured();

/// Schedules of the gradual methods; keys `schedule_start`, `schedule_end`, `dpf_every`,
/// `gradual_every`, `straight_through`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
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

impl Default for Settings {
    fn default() -> Self {
        Settings {
            schedule_start: 0.1,
            schedule_end: 0.6,
            dpf_every: 16,
            gradual_every: 100,
            straight_through: false,
        }
    }
}

impl Settings {
    /// The keys.
    pub const KEYS: &'static [&'static str] = &[
        "schedule_start",
        "schedule_end",
        "dpf_every",
        "gradual_every",
        "straight_through",
    ];

    /// Each key's range, and the ramp's order.
    pub fn check(&self) -> Result<()> {
        for (name, r) in [
            ("schedule_start", self.schedule_start),
            ("schedule_end", self.schedule_end),
        ] {
            if !(0.0..=1.0).contains(&r) {
                return Err(Error::param(name, format!("{r} is not in [0, 1]")));
            }
        }
        for (name, v) in [("dpf_every", self.dpf_every), ("gradual_every", self.gradual_every)] {
            if v == 0 {
                return Err(Error::param(name, "must be >= 1"));
            }
        }
        Ok(())
    }

    /// The ramp's order (checked when the run starts, so that `--set` order does not matter).
    pub fn check_ramp(&self) -> Result<()> {
        if self.schedule_start > self.schedule_end {
            return Err(Error::param("schedule_start", "must be <= schedule_end"));
        }
        Ok(())
    }
}

#[cfg(feature = "torch")]
pub use train::*;

/// The implementation (feature `torch`).
#[cfg(feature = "torch")]
mod train {
    use serde_json::json;
    use tch::Tensor;

    use crate::zoo::train::Ctx;
    use crate::nn::dynamics::{indexed, load_indexed, Dynamics, Flow};
    use crate::nn::optim::{Optimizer, OptimizerKind};
    use crate::nn::params::Params;
    use crate::nn::phase::{optimizer_kind, Segment};
    use crate::nn::rundir::{self, mask_from_state, mask_state, Summary};
    use crate::nn::target::Target;
    use crate::run::kinds::Method;
    use crate::run::RunConfig;
    use crate::select::{Largest, Mask};
    use crate::solver::step::threshold;
    use crate::space::SparseVector;
    use crate::Result;

    /// The sparsity ramp of the gradual methods.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct Ramp {
        /// First pruning iteration $t_0$.
        pub start: usize,
        /// Iteration $t_1$ at which the target is reached.
        pub end: usize,
    }

    impl Ramp {
        /// From `schedule_start` and `schedule_end` of a run of `iterations`.
        pub fn of(cfg: &RunConfig, iterations: usize) -> Self {
            let at = |f: f64| ((f * iterations as f64).round() as usize).clamp(1, iterations.max(1));
            let start = at(cfg.methods.dynamic.schedule_start);
            Ramp {
                start,
                end: at(cfg.methods.dynamic.schedule_end).max(start),
            }
        }

        /// Zhu–Gupta's cubic ramp from 0 to `target`: $s_t = S(1 - (1 - (t - t_0)/(t_1 - t_0))^3)$.
        pub fn sparsity(&self, target: f64, t: usize) -> f64 {
            if t >= self.end {
                return target;
            }
            if t < self.start {
                return 0.0;
            }
            let f = (t - self.start) as f64 / (self.end - self.start) as f64;
            target * (1.0 - (1.0 - f).powi(3))
        }
    }

    /// Gradual magnitude pruning and DPF.
    #[derive(Debug)]
    pub struct Magnitude {
        target: Target,
        goal: f64,
        ramp: Ramp,
        every: usize,
        keep_updating: bool,
        dense: Option<Vec<Tensor>>,
        opt: Optimizer,
        mask: Mask,
        masks: Vec<Option<Tensor>>,
        current: f64,
        /// The mask tensors must be rebuilt (after a restore).
        stale: bool,
        /// Values of the mask's source at the last pruning step.
        last_values: Option<Vec<f64>>,
        /// Coordinates pruned at one pruning step and kept at a later one (cumulative).
        reentered: usize,
        /// Pruned coordinates whose (dense) value changed before the next pruning step (cumulative).
        pruned_updated: usize,
    }

    impl Magnitude {
        /// `straight_through`: keep dense weights that receive the gradient taken at the masked
        /// ones; `every`: pruning interval; `keep_updating`: recompute the mask after the ramp (DPF).
        pub fn new(
            ctx: &Ctx,
            kind: OptimizerKind,
            straight_through: bool,
            every: usize,
            keep_updating: bool,
        ) -> Self {
            let x = ctx.x;
            let dense: Option<Vec<Tensor>> =
                straight_through.then(|| x.tensors.iter().map(|t| t.detach().copy()).collect());
            let opt = Optimizer::new(
                kind,
                ctx.cfg.weight_decay,
                dense.as_deref().unwrap_or(&x.tensors),
            );
            Magnitude {
                target: ctx.target.clone(),
                goal: ctx.target.sparsity(),
                ramp: Ramp::of(ctx.cfg, ctx.iterations),
                every,
                keep_updating,
                dense,
                opt,
                mask: Mask::full(&x.group_sizes()),
                masks: (0..x.tensors.len())
                    .map(|_| None)
                    .collect::<Vec<Option<Tensor>>>(),
                current: 0.0,
                stale: false,
                last_values: None,
                reentered: 0,
                pruned_updated: 0,
            }
        }

        fn due(&self, done: usize) -> bool {
            let (a, b) = (self.ramp.start, self.ramp.end);
            done == b
                || (done >= a && done < b && (done - a).is_multiple_of(self.every))
                || (self.keep_updating && done > b && done.is_multiple_of(self.every))
        }

        /// The weights the mask is computed from: dense (straight-through) or the network's own.
        fn source(&self, x: &Params) -> Params {
            match &self.dense {
                Some(d) => Params::new(
                    x.names.clone(),
                    d.iter().map(|t| t.shallow_clone()).collect(),
                ),
                None => x.shallow_clone(),
            }
        }

        /// Network weights = dense weights under the mask.
        fn project(&self, x: &mut Params) {
            if let Some(d) = &self.dense {
                tch::no_grad(|| {
                    for ((t, w), m) in x.tensors.iter_mut().zip(d).zip(&self.masks) {
                        match m {
                            Some(m) => t.copy_(&(w * m)),
                            None => t.copy_(w),
                        }
                    }
                });
            } else {
                x.apply_mask(&self.mask);
            }
        }
    }

    impl Dynamics for Magnitude {
        fn update(&mut self, x: &mut Params, lr: f64, _it: usize) -> Result<()> {
            if std::mem::take(&mut self.stale) {
                self.masks = x.mask_tensors(&self.mask).into_iter().map(Some).collect();
            }
            match &mut self.dense {
                Some(d) => {
                    let g: Vec<Tensor> = x.tensors.iter().map(Tensor::grad).collect();
                    let none = (0..d.len()).map(|_| None).collect::<Vec<Option<Tensor>>>();
                    self.opt.step_with(d, &g, &none, lr);
                    self.project(x);
                }
                None => self.opt.step(&mut x.tensors, &self.masks, lr),
            }
            Ok(())
        }

        fn after(&mut self, done: usize, x: &mut Params) -> Result<Flow> {
            if self.due(done) {
                self.current = self.ramp.sparsity(self.goal, done);
                let before = self.source(x).to_scores();
                // x <- H(w): the network takes the dense weights (straight-through) or keeps its own,
                // then the shared hard-thresholding step selects and applies the support.
                if let Some(d) = &self.dense {
                    tch::no_grad(|| {
                        for (t, w) in x.tensors.iter_mut().zip(d) {
                            t.copy_(w);
                        }
                    });
                }
                let budget = self.target.budget(self.current)?;
                let old = std::mem::replace(&mut self.mask, threshold(x, &Largest, &budget)?);
                let v = before.values();
                for i in (0..v.len()).filter(|&i| !old.contains(i)) {
                    if self.mask.contains(i) {
                        self.reentered += 1;
                    }
                    // Any change at all counts (but -0 and +0 are the same value).
                    if self
                        .last_values
                        .as_ref()
                        .is_some_and(|l| (l[i] - v[i]).abs() > 0.0)
                    {
                        self.pruned_updated += 1;
                    }
                }
                self.masks = x.mask_tensors(&self.mask).into_iter().map(Some).collect();
                // What the next pruning step compares against: the values after this one.
                self.last_values = Some(self.source(x).to_scores().values().to_vec());
            }
            Ok(Flow::Continue)
        }

        fn mask(&self) -> Mask {
            self.mask.clone()
        }

        fn state(&self) -> Vec<(String, Tensor)> {
            let mut s = mask_state(&self.mask);
            s.extend(self.opt.named_state("opt."));
            if let Some(l) = &self.last_values {
                s.push(("last".into(), Tensor::from_slice(l)));
            }
            if let Some(d) = &self.dense {
                s.extend(indexed("dense", d));
            }
            s
        }

        fn load_state(&mut self, named: &[(String, Tensor)]) -> Result<()> {
            if let Some(m) = mask_from_state(named, &self.mask.group_sizes())? {
                self.stale = m.count() < m.len();
                self.mask = m;
            }
            self.opt.load_named_state(named, "opt.")?;
            if let Some((_, t)) = named.iter().find(|(n, _)| n == "last") {
                self.last_values = Some(
                    Vec::<f64>::try_from(&t.to_kind(tch::Kind::Double))
                        .map_err(|e| crate::Error::param("checkpoint", e.to_string()))?,
                );
            }
            if let Some(d) = &mut self.dense {
                load_indexed(named, "dense", d)?;
            }
            Ok(())
        }

        fn trace(&self) -> serde_json::Value {
            json!({
                "sparsity": self.current,
                "reentered": self.reentered,
                "pruned_updated": self.pruned_updated,
            })
        }

        fn load_trace(&mut self, trace: &serde_json::Value) -> Result<()> {
            self.current = trace["sparsity"].as_f64().unwrap_or(0.0);
            self.reentered = trace["reentered"].as_u64().unwrap_or(0) as usize;
            self.pruned_updated = trace["pruned_updated"].as_u64().unwrap_or(0) as usize;
            Ok(())
        }
    }

    /// Train with DPF or gradual magnitude pruning from the initialization into the run directory.
    pub fn run(ctx: &Ctx) -> Result<(Summary, serde_json::Value)> {
        let cfg = ctx.cfg;
        if !rundir::has_checkpoint(ctx.run_dir) {
            ctx.rewind_to_init()?;
        }
        let kind = optimizer_kind(cfg);
        let mut dynamics = match cfg.method {
            Method::Dpf => Magnitude::new(ctx, kind, true, cfg.methods.dynamic.dpf_every, true),
            _ => Magnitude::new(
                ctx,
                kind,
                cfg.methods.dynamic.straight_through,
                cfg.methods.dynamic.gradual_every,
                false,
            ),
        };
        let (summary, trained) =
            ctx.train_with(&mut dynamics, 0, cfg.lr, &Segment::default(), ctx.run_dir)?;
        Ok((summary, trained.trace))
    }
}
