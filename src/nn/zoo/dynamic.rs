//! Methods whose mask moves during one training run: DPF, gradual magnitude pruning, and the
//! convex layer's algorithms as network trainers.
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
//! # The convex methods as network trainers
//!
//! `iht`, `sfw`, `md` and `greedy` apply the convex layer's own step functions to the network
//! (plain SGD at `convex_lr` for every other variable):
//!
#![doc = include_str!("../../../theory/network-trainers.md")]

use serde_json::json;
use tch::Tensor;

use super::{mask_from_state, mask_state, Ctx, Target};
use crate::nn::imp::Summary;
use crate::nn::optim::{Optimizer, OptimizerKind};
use crate::nn::params::Params;
use crate::nn::train::{self, indexed, load_indexed, mask_tensors, Dynamics, Flow};
use crate::run::RunConfig;
use crate::select::{grow, Budget, Largest, Mask};
use crate::space::{
    entropic_step, gradient_threshold_step, sparse_polytope_vertex_grouped, threshold, SparseVector,
};
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
        let start = at(cfg.schedule_start);
        Ramp {
            start,
            end: at(cfg.schedule_end).max(start),
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

/// The prunable gradients as a [`Params`].
fn gradients(x: &Params) -> Params {
    Params::new(
        x.names.clone(),
        x.tensors.iter().map(|t| t.grad().shallow_clone()).collect(),
    )
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
            goal: ctx.cfg.sparsity,
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
            || (done >= a && done < b && (done - a) % self.every == 0)
            || (self.keep_updating && done > b && done % self.every == 0)
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
            self.masks = mask_tensors(x, &self.mask).into_iter().map(Some).collect();
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
            let scores = self.source(x).to_scores();
            let old = std::mem::replace(
                &mut self.mask,
                self.target.select(&Largest, &scores, self.current)?,
            );
            let v = scores.values();
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
            self.masks = mask_tensors(x, &self.mask).into_iter().map(Some).collect();
            self.project(x);
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

/// Hard-thresholded SGD: the IHT step on the network.
#[derive(Debug)]
pub struct Iht {
    budget: Budget,
    mask: Mask,
}

impl Dynamics for Iht {
    fn update(&mut self, x: &mut Params, lr: f64, _it: usize) -> Result<()> {
        let g = gradients(x);
        self.mask = gradient_threshold_step(x, &g, lr, &Largest, &self.budget)?;
        Ok(())
    }

    fn mask(&self) -> Mask {
        self.mask.clone()
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        mask_state(&self.mask)
    }

    fn load_state(&mut self, named: &[(String, Tensor)]) -> Result<()> {
        if let Some(m) = mask_from_state(named, &self.mask.group_sizes())? {
            self.mask = m;
        }
        Ok(())
    }
}

/// What the Frank-Wolfe and mirror-descent trainers share: the budget, the iteration at which
/// the iterate is thresholded, and the support after it.
#[derive(Debug)]
struct Thresholded {
    budget: Budget,
    at: usize,
    mask: Mask,
    fixed: bool,
}

impl Thresholded {
    fn new(ctx: &Ctx) -> Self {
        Thresholded {
            budget: ctx.target.budget(ctx.cfg.sparsity),
            at: ((ctx.cfg.threshold_at * ctx.iterations as f64).round() as usize)
                .clamp(1, ctx.iterations.max(1)),
            mask: Mask::full(&ctx.x.group_sizes()),
            fixed: false,
        }
    }

    /// Threshold at the scheduled iteration; true when it did.
    fn after(&mut self, done: usize, x: &mut Params) -> Result<bool> {
        if done == self.at && !self.fixed {
            self.mask = threshold(x, &Largest, &self.budget)?;
            self.fixed = true;
            return Ok(true);
        }
        Ok(false)
    }
}

/// The step of a [`Projected`] trainer.
#[derive(Debug)]
pub enum ConvexStep {
    /// Stochastic Frank-Wolfe over a product of $k$-sparse polytopes: per-layer radii, step.
    FrankWolfe {
        /// $\tau_l$.
        taus: Vec<f64>,
        /// $\gamma$.
        gamma: f64,
        /// Weight $\rho$ of the new gradient in the averaged direction
        /// $d \leftarrow (1-\rho) d + \rho g$ (1 = the plain stochastic gradient).
        rho: f64,
        /// The averaged gradient $d$ (empty before the first step).
        avg: Vec<Tensor>,
    },
    /// Entropic mirror descent on each layer's magnitudes, signs fixed.
    Mirror {
        /// $\ell_1$ radius $R_l$ of each layer's sphere.
        radii: Vec<f64>,
        /// $n_l / R_l$ (times the learning rate: the step $\eta_l$).
        scale: Vec<f64>,
    },
}

/// Frank-Wolfe or mirror descent, hard-thresholded to the budget at `threshold_at`.
#[derive(Debug)]
pub struct Projected {
    step: ConvexStep,
    th: Thresholded,
}

impl Dynamics for Projected {
    fn update(&mut self, x: &mut Params, lr: f64, _it: usize) -> Result<()> {
        let g = gradients(x);
        match &mut self.step {
            ConvexStep::FrankWolfe {
                taus,
                gamma,
                rho,
                avg,
            } => {
                tch::no_grad(|| {
                    if avg.is_empty() {
                        *avg = g.tensors.iter().map(|t| t.detach().copy()).collect();
                    } else {
                        for (d, gi) in avg.iter_mut().zip(&g.tensors) {
                            let _ = d.f_lerp_(gi, *rho).expect("shapes agree");
                        }
                    }
                });
                let d = Params::new(
                    g.names.clone(),
                    avg.iter().map(Tensor::shallow_clone).collect(),
                );
                let (v, _) = sparse_polytope_vertex_grouped(&d, taus, &Largest, &self.th.budget)?;
                x.scale(1.0 - *gamma);
                x.axpy(*gamma, &v);
                if self.th.fixed {
                    x.apply_mask(&self.th.mask);
                }
            }
            ConvexStep::Mirror { radii, scale } => {
                let etas: Vec<f64> = scale.iter().map(|s| s * lr).collect();
                entropic_step(x, &g, &etas, radii);
            }
        }
        Ok(())
    }

    fn after(&mut self, done: usize, x: &mut Params) -> Result<Flow> {
        if self.th.after(done, x)? {
            if let ConvexStep::Mirror { radii, .. } = &mut self.step {
                *radii = x.group_l1();
            }
        }
        Ok(Flow::Continue)
    }

    fn mask(&self) -> Mask {
        self.th.mask.clone()
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut s = mask_state(&self.th.mask);
        if let ConvexStep::FrankWolfe { avg, .. } = &self.step {
            s.extend(indexed("avg", avg));
        }
        s
    }

    fn load_state(&mut self, named: &[(String, Tensor)]) -> Result<()> {
        if let Some(m) = mask_from_state(named, &self.th.mask.group_sizes())? {
            self.th.mask = m;
        }
        if let ConvexStep::FrankWolfe { avg, .. } = &mut self.step {
            let saved: Vec<Tensor> = (0..)
                .map_while(|i| {
                    named
                        .iter()
                        .find(|(n, _)| *n == format!("avg.{i}"))
                        .map(|(_, t)| t.detach().copy())
                })
                .collect();
            if !saved.is_empty() {
                *avg = saved;
            }
        }
        Ok(())
    }

    fn trace(&self) -> serde_json::Value {
        match &self.step {
            ConvexStep::FrankWolfe { taus, .. } => {
                json!({ "thresholded": self.th.fixed, "tau": taus })
            }
            ConvexStep::Mirror { radii, .. } => {
                json!({ "thresholded": self.th.fixed, "radii": radii })
            }
        }
    }

    fn load_trace(&mut self, trace: &serde_json::Value) -> Result<()> {
        self.th.fixed = trace["thresholded"].as_bool().unwrap_or(false);
        if let (ConvexStep::Mirror { radii, .. }, Some(r)) =
            (&mut self.step, trace["radii"].as_array())
        {
            *radii = r.iter().filter_map(|v| v.as_f64()).collect();
        }
        Ok(())
    }
}

/// Forward greedy growth.
#[derive(Debug)]
pub struct Greedy {
    budget: Budget,
    at: Vec<usize>,
    round: usize,
    opt: Optimizer,
    mask: Mask,
    masks: Vec<Option<Tensor>>,
}

impl Greedy {
    /// The budget of round `r` (0-based) of `rounds`: the fraction $(r+1)/R$ of the final counts
    /// in the pool (layers outside the pool stay whole).
    fn round_budget(&self, r: usize) -> Budget {
        let f = (r + 1) as f64 / self.at.len() as f64;
        let part = |k: usize| ((k as f64 * f).round() as usize).max(1);
        match &self.budget {
            Budget::Pooled { k, pool } => Budget::Pooled {
                k: part(*k),
                pool: pool.clone(),
            },
            Budget::PerGroupK(ks) => {
                let full = self.mask.group_sizes();
                Budget::PerGroupK(
                    ks.iter()
                        .zip(&full)
                        .map(|(&k, &n)| if k == n { n } else { part(k) })
                        .collect(),
                )
            }
            other => other.clone(),
        }
    }
}

impl Dynamics for Greedy {
    fn update(&mut self, x: &mut Params, lr: f64, it: usize) -> Result<()> {
        if self.round > 0 && self.masks.iter().any(Option::is_none) {
            // Restored from a checkpoint.
            self.masks = mask_tensors(x, &self.mask).into_iter().map(Some).collect();
        }
        if self.round < self.at.len() && it >= self.at[self.round] {
            let g = gradients(x).to_scores();
            self.mask = grow(&g, &self.mask, &self.round_budget(self.round))?;
            self.masks = mask_tensors(x, &self.mask).into_iter().map(Some).collect();
            // The first support keeps its initial values; later coordinates enter at zero.
            x.apply_mask(&self.mask);
            self.round += 1;
        }
        self.opt.step(&mut x.tensors, &self.masks, lr);
        Ok(())
    }

    fn mask(&self) -> Mask {
        self.mask.clone()
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut s = mask_state(&self.mask);
        s.extend(self.opt.named_state("opt."));
        s
    }

    fn load_state(&mut self, named: &[(String, Tensor)]) -> Result<()> {
        if let Some(m) = mask_from_state(named, &self.mask.group_sizes())? {
            self.mask = m;
        }
        self.opt.load_named_state(named, "opt.")
    }

    fn trace(&self) -> serde_json::Value {
        json!({ "round": self.round, "rounds_at": self.at })
    }

    fn load_trace(&mut self, trace: &serde_json::Value) -> Result<()> {
        self.round = trace["round"].as_u64().unwrap_or(0) as usize;
        Ok(())
    }
}

/// Plain SGD at `convex_lr` for every variable: the step the convex analyses assume.
pub fn convex_config(cfg: &RunConfig) -> RunConfig {
    RunConfig {
        optimizer: "sgd".into(),
        momentum: 0.0,
        nesterov: false,
        lr: cfg.convex_lr,
        ..cfg.clone()
    }
}

/// Train with the method's dynamics from the initialization into the run directory.
pub fn run(ctx: &Ctx) -> Result<(Summary, serde_json::Value)> {
    let cfg = ctx.cfg;
    let convex = matches!(cfg.method.as_str(), "iht" | "sfw" | "md" | "greedy");
    let trainer = if convex {
        convex_config(cfg)
    } else {
        cfg.clone()
    };
    if !ctx.run_dir.join("checkpoint.json").exists() {
        ctx.rewind_to_init()?;
    }
    let kind = train::optimizer_kind(&trainer);
    let budget = ctx.target.budget(cfg.sparsity);
    let mut dynamics: Box<dyn Dynamics> = match cfg.method.as_str() {
        "dpf" => Box::new(Magnitude::new(ctx, kind, true, cfg.dpf_every, true)),
        "gradual" => Box::new(Magnitude::new(
            ctx,
            kind,
            cfg.straight_through,
            cfg.gradual_every,
            false,
        )),
        "iht" => Box::new(Iht {
            budget,
            mask: Mask::full(&ctx.x.group_sizes()),
        }),
        "sfw" => {
            let taus = tch::no_grad(|| {
                ctx.x
                    .tensors
                    .iter()
                    .map(|t| cfg.fw_radius * t.std(true).double_value(&[]))
                    .collect()
            });
            Box::new(Projected {
                step: ConvexStep::FrankWolfe {
                    taus,
                    gamma: cfg.fw_step,
                    rho: cfg.fw_averaging,
                    avg: Vec::new(),
                },
                th: Thresholded::new(ctx),
            })
        }
        "md" => {
            let radii = ctx.x.group_l1();
            let scale = ctx
                .x
                .group_sizes()
                .iter()
                .zip(&radii)
                .map(|(&n, r)| n as f64 / r.max(f64::MIN_POSITIVE))
                .collect();
            Box::new(Projected {
                step: ConvexStep::Mirror { radii, scale },
                th: Thresholded::new(ctx),
            })
        }
        _ => {
            let end = Ramp::of(cfg, ctx.iterations).end;
            let rounds = cfg.grow_rounds;
            Box::new(Greedy {
                budget,
                at: (0..rounds).map(|r| r * end / rounds).collect(),
                round: 0,
                opt: Optimizer::new(kind, trainer.weight_decay, &ctx.x.tensors),
                mask: Mask::empty(&ctx.x.group_sizes()),
                masks: (0..ctx.x.tensors.len())
                    .map(|_| None)
                    .collect::<Vec<Option<Tensor>>>(),
            })
        }
    };
    let level = crate::nn::imp::Level {
        cfg: &trainer,
        ..ctx.level()
    };
    let (summary, trained) = level.train_with(
        dynamics.as_mut(),
        0,
        trainer.lr,
        ctx.iterations,
        &train::Segment::default(),
        ctx.run_dir,
    )?;
    Ok((summary, trained.trace))
}
