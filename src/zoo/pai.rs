//! Pruning at initialization: score the initial weights, keep the top of the pool, train the
//! sparse network from the initialization (Tanaka et al. 2020, and the methods they compare).
//!
//! | method | score of weight $\theta_i$ | data |
//! |---|---|---|
//! | `snip` (Lee et al. 2019) | $\lvert \theta_i\, \partial L/\partial\theta_i \rvert$ on one batch of `pai_samples` | yes |
//! | `grasp` (Wang et al. 2020) | $\theta_i (Hg)_i$ with $g = \nabla L$, logits divided by `grasp_temperature` (200); the **largest** are kept, i.e. the top of $-\theta\odot Hg$ (removing them would least reduce the gradient flow) is removed | yes |
//! | `synflow` (Tanaka et al. 2020) | $\lvert \theta_i\, \partial R/\partial\theta_i\rvert$, $R = \mathbb 1^\top\big(\prod_l \lvert W_l\rvert\big)\mathbb 1$: the network with $\lvert\theta\rvert$ on an all-ones input, in f64, batch norm in eval mode; `synflow_rounds` (100) rounds, round $r$ keeping the fraction $(1-S)^{r/R}$ | no |
//! | `magnitude-init` | $\lvert\theta_i\rvert$ | no |
//! | `random` | uniform | no |
//! | `oracle` | 1 on the planted teacher's support embedded in the student's first units, 0 elsewhere ([`crate::nn::planted::oracle_scores`]; `dataset = teacher`) | the teacher |
//!
//! All six prune **globally** over the pool (their scores are compared across layers; this is
//! what makes SynFlow's layer-collapse argument meaningful), keeping exactly
//! $\mathrm{round}((1 - S)N)$ weights ([`crate::select::budget::kept`]), whether the preset's strategy is `global` or `layerwise`.
//! With `strategy = "erk"` the allocation is ERK's instead ([`crate::select::erk_densities`]):
//! every layer keeps its ERK count and the scores choose only *within* a layer. That separates
//! what a method's scores decide (which weights) from what its global ranking decides (how
//! many per layer): Frankle et al. (2021) find that shuffling these methods' masks within each
//! layer costs nothing, so their per-layer counts carry what they achieve; `random` with ERK is
//! the random-pruning baseline of Liu et al. (2022). SynFlow's rounds re-allocate by ERK at each round's sparsity.
//! `summary.json` lists the per-layer survival and the trace names the allocation. With
//! `--dataset none` the data-free ones write the mask and the masked initialization without
//! training.

use serde::{Deserialize, Serialize};

use super::MethodSpec;
use crate::{Error, Result};

/// SNIP.
pub const SNIP: MethodSpec = MethodSpec::prune(
    "snip",
    "pruning at initialization by |w dL/dw| on one batch (Lee et al.)",
)
.structured();

/// GraSP.
pub const GRASP: MethodSpec = MethodSpec::prune(
    "grasp",
    "pruning at initialization by the Hessian-gradient product (Wang et al.)",
)
.structured();

/// SynFlow.
pub const SYNFLOW: MethodSpec = MethodSpec::prune(
    "synflow",
    "data-free pruning at initialization by synaptic flow, iterated (Tanaka et al.)",
)
.structured()
.data_free();

/// Magnitude at initialization.
pub const MAGNITUDE_INIT: MethodSpec =
    MethodSpec::prune("magnitude-init", "pruning at initialization by |w|")
        .structured()
        .data_free();

/// Random pruning at initialization.
pub const RANDOM: MethodSpec =
    MethodSpec::prune("random", "random pruning at initialization")
        .structured()
        .data_free();

/// The oracle ticket.
pub const ORACLE: MethodSpec = MethodSpec::prune(
    "oracle",
    "the planted teacher's support in the student's first units, from the initialization",
);

/// Pruning at initialization; keys as the fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// SynFlow: pruning rounds on the exponential schedule (100).
    pub synflow_rounds: usize,
    /// SNIP / GraSP: training samples in the scoring batch (256).
    pub pai_samples: usize,
    /// GraSP: softmax temperature (200).
    pub grasp_temperature: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            synflow_rounds: 100,
            pai_samples: 256,
            grasp_temperature: 200.0,
        }
    }
}

impl Settings {
    /// The keys.
    pub const KEYS: &'static [&'static str] = &["synflow_rounds", "pai_samples", "grasp_temperature"];

    /// Each key's range.
    pub fn check(&self) -> Result<()> {
        for (name, v) in [("synflow_rounds", self.synflow_rounds), ("pai_samples", self.pai_samples)] {
            if v == 0 {
                return Err(Error::param(name, "must be >= 1"));
            }
        }
        if !(self.grasp_temperature.is_finite() && self.grasp_temperature > 0.0) {
            return Err(Error::param(
                "grasp_temperature",
                format!("{} must be > 0", self.grasp_temperature),
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
    use tch::nn::VarStore;
    use tch::{Kind, Tensor};

    use crate::zoo::train::Ctx;
    use crate::data::Batcher;
    use crate::nn::models::Network;
    use crate::nn::params::{self, Params};
    use crate::nn::phase;
    use crate::nn::rundir::Summary;
    use crate::nn::target::Target;
    use crate::run::kinds::{Dataset, Method, Strategy};
    use crate::select::{by_value, Largest, Mask, Random, Scores};
    use crate::space::SparseVector;
    use crate::Result;

    /// Scores of a list of tensors (one group each), as f64 on the host.
    pub fn scores_of(names: &[String], tensors: Vec<Tensor>) -> Scores {
        Params::new(names.to_vec(), tensors).to_scores()
    }

    /// The scoring batch of SNIP and GraSP: `pai_samples` training samples drawn with the run's seed.
    fn scoring_batch(ctx: &Ctx) -> Result<(Tensor, Tensor)> {
        let n = ctx.data.train.1.size()[0] as usize;
        let b = ctx.cfg.methods.pai.pai_samples.min(n);
        let mut batcher = Batcher::new(n, b, ctx.cfg.seed ^ 0x5a1)?;
        let idx: Vec<i64> = batcher.next_batch().iter().map(|&i| i as i64).collect();
        let idx = Tensor::from_slice(&idx).to_device(ctx.vs.device());
        Ok((
            ctx.data.train.0.index_select(0, &idx),
            ctx.data.train.1.index_select(0, &idx),
        ))
    }

    /// SNIP: $|\theta \odot \nabla L(\theta)|$ on one batch.
    pub fn snip_scores(ctx: &Ctx) -> Result<Scores> {
        let (xs, ys) = scoring_batch(ctx)?;
        let (loss, _) = ctx.net.loss_and_correct(&xs, &ys, true);
        let grads = Tensor::run_backward(&[loss], &ctx.x.tensors, false, false);
        let s = tch::no_grad(|| {
            grads
                .iter()
                .zip(&ctx.x.tensors)
                .map(|(g, w)| (g * w).abs())
                .collect()
        });
        Ok(scores_of(&ctx.x.names, s))
    }

    /// GraSP: $\theta \odot Hg$ (Hessian-gradient product by double back-propagation).
    pub fn grasp_scores(ctx: &Ctx) -> Result<Scores> {
        let (xs, ys) = scoring_batch(ctx)?;
        let t = ctx.cfg.methods.pai.grasp_temperature;
        // The temperature softens a softmax; squared error on real-valued targets has none.
        let t = if crate::nn::models::regression(&ys) {
            1.0
        } else {
            t
        };
        let loss = |()| crate::nn::models::loss_of(&(ctx.net.forward_t(&xs, true) / t), &ys);
        let g: Vec<Tensor> = Tensor::run_backward(&[loss(())], &ctx.x.tensors, false, false)
            .into_iter()
            .map(|t| t.detach())
            .collect();
        let g2 = Tensor::run_backward(&[loss(())], &ctx.x.tensors, true, true);
        let z = g2
            .iter()
            .zip(&g)
            .map(|(a, b)| (a * b).sum(Kind::Float))
            .fold(
                Tensor::zeros([], (Kind::Float, ctx.vs.device())),
                |acc, v| acc + v,
            );
        let hg = Tensor::run_backward(&[z], &ctx.x.tensors, false, false);
        let s = tch::no_grad(|| hg.iter().zip(&ctx.x.tensors).map(|(h, w)| h * w).collect());
        by_value(&scores_of(&ctx.x.names, s))
    }

    /// SynFlow's iterative, data-free pruning on the exponential schedule; returns the mask and,
    /// per round, the fraction kept.
    pub fn synflow_mask(ctx: &Ctx, target: &Target) -> Result<(Mask, Vec<f64>)> {
        let cfg = ctx.cfg;
        let (arch, init) = phase::arch_of(cfg)?;
        let mut vs2 = VarStore::new(ctx.vs.device());
        let net2 = Network::build(
            &vs2,
            arch,
            &cfg.hidden,
            ctx.data.shape,
            ctx.data.classes,
            init,
        )?;
        vs2.double();
        let own = ctx.vs.variables();
        tch::no_grad(|| {
            for (name, mut v) in vs2.variables() {
                v.copy_(&own[&name].abs().to_kind(Kind::Double));
            }
        });
        let x2 = params::prunable(&vs2, &net2);
        let abs: Vec<Tensor> = x2.tensors.iter().map(|t| t.detach().copy()).collect();
        let [c, h, w] = ctx.data.shape.map(|v| v as i64);
        let ones = Tensor::ones([1, c, h, w], (Kind::Double, ctx.vs.device()));
        let mut mask = Mask::full(&x2.group_sizes());
        let mut kept = Vec::with_capacity(cfg.methods.pai.synflow_rounds);
        let rounds = cfg.methods.pai.synflow_rounds;
        for r in 1..=rounds {
            let masks = x2.mask_tensors(&mask);
            tch::no_grad(|| {
                for ((t, a), m) in x2.tensors.iter().zip(&abs).zip(&masks) {
                    let mut t = t.shallow_clone();
                    t.copy_(&(a * m));
                }
            });
            let out = net2.forward_t(&ones, false).sum(Kind::Double);
            let grads = Tensor::run_backward(&[out], &x2.tensors, false, false);
            let s = tch::no_grad(|| {
                grads
                    .iter()
                    .zip(&x2.tensors)
                    .map(|(g, t)| (g * t).abs())
                    .collect()
            });
            let sparsity = 1.0 - (1.0 - target.sparsity()).powf(r as f64 / rounds as f64);
            mask = target.select(&Largest, &scores_of(&x2.names, s), sparsity)?;
            kept.push(mask.density());
        }
        Ok((mask, kept))
    }

    /// Score at initialization, keep the top of the pool, train the ticket from the
    /// initialization (or, without data, write it untrained).
    pub fn run(ctx: &Ctx) -> Result<(Summary, serde_json::Value)> {
        let cfg = ctx.cfg;
        let (target, allocation) = match cfg.budget.strategy {
            Strategy::Erk => (ctx.target.clone(), "erk"),
            Strategy::Global | Strategy::Layerwise => {
                (ctx.target.clone().with_strategy(Strategy::Global), "global")
            }
        };
        let s = target.sparsity();
        let mut trace = json!({});
        let mask = match ctx.saved_mask()? {
            Some(m) => m,
            None => {
                ctx.rewind_to_init()?;
                let m = match cfg.method {
                    Method::MagnitudeInit => target.select(&Largest, &ctx.x.to_scores(), s)?,
                    Method::Random => target.select(
                        &Random {
                            seed: cfg.seed ^ 0x7a11,
                        },
                        &ctx.x.to_scores(),
                        s,
                    )?,
                    Method::Snip => target.select(&Largest, &snip_scores(ctx)?, s)?,
                    Method::Grasp => target.select(&Largest, &grasp_scores(ctx)?, s)?,
                    Method::Oracle => {
                        let scores = crate::nn::planted::oracle_scores(ctx.net, ctx.x, ctx.data)?;
                        let m = target.select(&Largest, &scores, s)?;
                        let planted = scores.values().iter().filter(|&&v| v > 0.0).count();
                        let kept = (0..scores.values().len())
                            .filter(|&i| scores.values()[i] > 0.0 && m.contains(i))
                            .count();
                        trace = json!({ "planted": planted, "planted_kept": kept, "kept": m.count() });
                        m
                    }
                    _ => {
                        let (m, kept) = synflow_mask(ctx, &target)?;
                        trace = json!({ "rounds": kept.len(), "kept_per_round": kept });
                        m
                    }
                };
                ctx.rewind_to_init()?;
                m
            }
        };
        trace["allocation"] = json!(allocation);
        let summary = if cfg.dataset == Dataset::None {
            ctx.write_untrained(&mask)?
        } else {
            ctx.train_ticket(&mask, &phase::Segment::default())?
        };
        Ok((summary, trace))
    }
}
