//! AC/DC — Alternating Compressed/DeCompressed training (Peste, Iofinova, Vladu & Alistarh,
//! NeurIPS 2021): a dense warm-up, then sparse and dense phases in turn, ending with a long
//! sparse phase.
//!
//! * A **sparse phase** starts with the convex layer's hard-thresholding step
//!   [`crate::solver::step::threshold`] ($H_s$ with [`crate::select::Largest`], the run's budget — global top-$k$
//!   by magnitude in the paper) and keeps that mask fixed: the pruned weights are held at zero
//!   and their optimizer moments cleared.
//! * A **dense phase** frees every weight; the pruned ones restart from zero.
//!
//! The schedule, as fractions of the run's $T$ iterations: `acdc_warmup` $w$, phases of
//! `acdc_phase` $p$, a final sparse phase of `acdc_final` $f$. Phase boundaries are
//! $b_i = w + ip$ for $b_i < 1 - f$, sparse from even $i$ and dense from odd $i$, and the final
//! sparse phase starts at $1-f$ (a top-$k$ step there, also when a sparse phase is running).
//! The defaults are the paper's ResNet-20 / CIFAR-10 recipe scaled to the run: pruning at
//! epochs 10, 50, 90, 130, 170 and dense from 30, 70, 110, 150 of 200 gives $w = 0.05$,
//! $p = 0.1$, $f = 0.15$.
//!
//! **The dense model.** AC/DC co-trains a dense model: the weights at the end of the last dense
//! phase (just before the final top-$k$ step) are written to `dense.safetensors` and evaluated;
//! the summary's trace holds its accuracies (`dense_model`).
//!
//! The trace also audits every phase from the weights themselves: at the end of each phase the
//! nonzero count of the pooled weights and, for sparse phases, how many of them lie outside the
//! mask chosen at the phase's start (0 when the mask stayed fixed).
#![doc = include_str!("../../theory/acdc.md")]

use serde::{Deserialize, Serialize};

use super::MethodSpec;
use crate::{Error, Result};

/// AC/DC.
pub const ACDC: MethodSpec = MethodSpec::prune(
    "acdc",
    "AC/DC: alternating sparse (top-k magnitude, mask fixed) and dense phases (Peste et al.)",
)
.structured();

/// AC/DC's settings; fractions of the run's iterations $T$.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// AC/DC: dense warm-up, as a fraction of training (0.05: 10 of the CIFAR recipe's 200
    /// epochs).
    pub acdc_warmup: f64,
    /// AC/DC: length of each sparse and each dense phase (0.1: 20 of 200 epochs).
    pub acdc_phase: f64,
    /// AC/DC: length of the final sparse phase (0.15: 30 of 200 epochs).
    pub acdc_final: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            acdc_warmup: 0.05,
            acdc_phase: 0.1,
            acdc_final: 0.15,
        }
    }
}

impl Settings {
    /// The keys.
    pub const KEYS: &'static [&'static str] = &["acdc_warmup", "acdc_phase", "acdc_final"];

    /// Each key's range, and the phases fit the run.
    pub fn check(&self) -> Result<()> {
        for (name, r) in [("acdc_warmup", self.acdc_warmup), ("acdc_final", self.acdc_final)] {
            if !(0.0..=1.0).contains(&r) {
                return Err(Error::param(name, format!("{r} is not in [0, 1]")));
            }
        }
        if !(self.acdc_phase > 0.0 && self.acdc_phase <= 1.0) {
            return Err(Error::param(
                "acdc_phase",
                format!("{} is not in (0, 1]", self.acdc_phase),
            ));
        }
        if self.acdc_warmup + self.acdc_final > 1.0 {
            return Err(Error::param(
                "acdc_final",
                format!(
                    "acdc_warmup + acdc_final = {} exceeds the run",
                    self.acdc_warmup + self.acdc_final
                ),
            ));
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

    use crate::zoo::train::Ctx;
    use crate::nn::dynamics::{Dynamics, FixedMask, Flow};
    use crate::nn::params::{assign, Params};
    use crate::nn::phase::{evaluate, optimizer_kind, Segment};
    use crate::nn::rundir::{self, Summary};
    use crate::nn::target::Target;
    use crate::select::{Largest, Mask};
    use crate::solver::step::threshold;
    use crate::space::SparseVector;
    use crate::Result;

    /// File of the co-trained dense model in the run directory.
    pub const DENSE: &str = "dense.safetensors";

    /// What starts at an iteration of the AC/DC schedule.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Switch {
        /// Top-$k$ projection; the mask is then fixed.
        Compress,
        /// Every weight free again.
        Decompress,
    }

    /// The AC/DC schedule in iterations: the switches in order (iteration, kind).
    pub fn schedule(iterations: usize, warmup: f64, phase: f64, last: f64) -> Vec<(usize, Switch)> {
        let at = |f: f64| (f * iterations as f64).round() as usize;
        let final_start = 1.0 - last;
        let mut out = Vec::new();
        let mut i = 0usize;
        loop {
            let b = warmup + i as f64 * phase;
            if b >= final_start - 1e-9 {
                break;
            }
            let kind = if i.is_multiple_of(2) {
                Switch::Compress
            } else {
                Switch::Decompress
            };
            out.push((at(b), kind));
            i += 1;
        }
        out.push((at(final_start), Switch::Compress));
        // Switches that round to the same iteration: the later one wins.
        let mut merged: Vec<(usize, Switch)> = Vec::new();
        for s in out {
            match merged.last_mut() {
                Some(l) if l.0 == s.0 => *l = s,
                _ => merged.push(s),
            }
        }
        merged.retain(|s| s.0 < iterations);
        merged
    }

    /// AC/DC as a [`Dynamics`].
    pub struct Acdc {
        target: Target,
        sparsity: f64,
        iterations: usize,
        switches: Vec<(usize, Switch)>,
        inner: FixedMask,
        sparse: bool,
        phases: Vec<serde_json::Value>,
        /// Iteration and kind of the phase in progress.
        started: (usize, &'static str),
    }

    impl Acdc {
        /// The schedule of `ctx`'s run; starts dense.
        pub fn new(ctx: &Ctx) -> Self {
            let (cfg, x) = (ctx.cfg, ctx.x);
            let sp = &cfg.methods.acdc;
            Acdc {
                target: ctx.target.clone(),
                sparsity: ctx.target.sparsity(),
                iterations: ctx.iterations,
                switches: schedule(ctx.iterations, sp.acdc_warmup, sp.acdc_phase, sp.acdc_final),
                inner: FixedMask::new(
                    optimizer_kind(cfg),
                    cfg.weight_decay,
                    x,
                    &Mask::full(&x.group_sizes()),
                    vec![],
                )
                .saving_mask(),
                sparse: false,
                phases: vec![],
                started: (0, "dense"),
            }
        }

        /// The iteration of the final top-$k$ step.
        pub fn final_compression(&self) -> Option<usize> {
            self.switches.last().map(|s| s.0)
        }

        /// Close the phase in progress at iteration `it`: its audit from the weights.
        fn close_phase(&mut self, x: &Params, it: usize) {
            let v = x.to_scores();
            let mask = self.inner.mask();
            let (mut nonzero, mut outside) = (0usize, 0usize);
            for g in (0..mask.n_groups()).filter(|&g| self.target.pooled(g)) {
                for i in mask.group_range(g) {
                    if v.values()[i] != 0.0 {
                        nonzero += 1;
                        outside += usize::from(!mask.contains(i));
                    }
                }
            }
            let (start, kind) = self.started;
            self.phases.push(json!({
                "kind": kind,
                "start": start,
                "end": it,
                "nonzero": nonzero,
                "outside_mask": outside,
                "pool": self.target.pool_size(),
                "kept": (0..mask.n_groups())
                    .filter(|&g| self.target.pooled(g))
                    .map(|g| mask.group_count(g))
                    .sum::<usize>(),
            }));
        }
    }

    impl Dynamics for Acdc {
        fn update(&mut self, x: &mut Params, lr: f64, it: usize) -> Result<()> {
            if let Some(&(_, switch)) = self.switches.iter().find(|s| s.0 == it) {
                if it > 0 {
                    self.close_phase(x, it);
                }
                let mask = match switch {
                    Switch::Compress => threshold(x, &Largest, &self.target.budget(self.sparsity)?)?,
                    Switch::Decompress => Mask::full(&x.group_sizes()),
                };
                self.sparse = switch == Switch::Compress;
                self.started = (it, if self.sparse { "sparse" } else { "dense" });
                self.inner.move_to(x, mask);
            }
            self.inner.update(x, lr, it)
        }

        fn after(&mut self, done: usize, x: &mut Params) -> Result<Flow> {
            if done == self.iterations {
                self.close_phase(x, done);
            }
            Ok(Flow::Continue)
        }

        crate::nn::dynamics::fixed_mask_state!(inner);

        fn trace(&self) -> serde_json::Value {
            json!({
                "sparse": self.sparse,
                "started": [self.started.0, self.started.1],
                "phases": self.phases,
                "switches": self.switches.iter().map(|(t, s)| json!([t, format!("{s:?}")])).collect::<Vec<_>>(),
            })
        }

        fn load_trace(&mut self, trace: &serde_json::Value) -> Result<()> {
            self.sparse = trace["sparse"].as_bool().unwrap_or(false);
            let start = trace["started"][0].as_u64().unwrap_or(0) as usize;
            self.started = (
                start,
                if trace["started"][1].as_str() == Some("sparse") {
                    "sparse"
                } else {
                    "dense"
                },
            );
            self.phases = trace["phases"].as_array().cloned().unwrap_or_default();
            Ok(())
        }
    }

    /// Train with AC/DC from the initialization into the run directory; the trace holds the phase
    /// audits and the co-trained dense model's accuracies.
    pub fn run(ctx: &Ctx) -> Result<(Summary, serde_json::Value)> {
        let cfg = ctx.cfg;
        if !rundir::has_checkpoint(ctx.run_dir) {
            ctx.rewind_to_init()?;
        }
        let mut dynamics = Acdc::new(ctx);
        let dense_path = ctx.run_dir.join(DENSE);
        let segment = Segment {
            snapshots: dynamics
                .final_compression()
                .filter(|&t| t > 0)
                .map(|t| vec![(t, dense_path.clone())])
                .unwrap_or_default(),
            ..Segment::default()
        };
        let (summary, trained) = ctx.train_with(&mut dynamics, 0, cfg.lr, &segment, ctx.run_dir)?;
        let mut trace = trained.trace;
        if let Some(&(t, _)) = segment.snapshots.first() {
            let sparse = rundir::load_tensors(&ctx.run_dir.join(rundir::FINAL))?;
            assign(ctx.vs, &rundir::load_tensors(&dense_path)?)?;
            let scores = ctx.x.to_scores();
            let (mut nonzero, mut pool) = (0usize, 0usize);
            for g in (0..scores.n_groups()).filter(|&g| ctx.target.pooled(g)) {
                pool += scores.group(g).len();
                nonzero += scores.group(g).iter().filter(|&&v| v != 0.0).count();
            }
            let (test_loss, test_accuracy) = evaluate(ctx.net, &ctx.data.test);
            let val = (ctx.data.val.1.size()[0] > 0).then(|| evaluate(ctx.net, &ctx.data.val));
            assign(ctx.vs, &sparse)?;
            trace["dense_model"] = json!({
                "iteration": t,
                "density": nonzero as f64 / pool.max(1) as f64,
                "test_loss": test_loss,
                "test_accuracy": test_accuracy,
                "val_accuracy": val.map(|v| v.1),
            });
        }
        Ok((summary, trace))
    }
}
