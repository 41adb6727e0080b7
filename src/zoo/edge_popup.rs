//! Edge-popup (Ramanujan, Wortsman, Kembhavi, Farhadi & Rastegari 2020, "What's hidden in a
//! randomly weighted neural network?"): the standard **fixed-density** supermask.
//!
//! The weights stay at their random initialization and are never updated. Each prunable weight
//! has a score $s_i$; the forward pass uses $w_i \cdot h_i$ with $h$ the indicator of the top
//! $1-S$ of $|s|$ (per layer when layerwise — the paper's setting — or over the pool for a
//! global budget; the shared [`crate::select::Largest`] rule), so every forward pass runs a mask of exactly the ticket's size. The backward
//! pass treats $h$ as the identity (straight-through): $\partial L/\partial s_i =
//! \partial L/\partial (w_i h_i)\cdot w_i\,\mathrm{sign}(s_i)$. Scores start uniform in
//! $[-b_l, b_l]$ with $b_l = \sqrt3\,\mathrm{std}(w_l)$ (the variance of the layer's weights, as
//! the paper's Kaiming-uniform scores) and are trained with SGD, momentum 0.9, weight decay
//! $5\cdot10^{-4}$, learning rate `score_lr` (0.1) with cosine decay over the run — the
//! paper's optimizer. The weights are the run's initialization (`supermask_kept = "rewind"`) or
//! the paper's best, the **signed Kaiming constant** (`signed_constant`: each weight set to its
//! layer's standard deviation with its own sign).

use super::MethodSpec;

/// Edge-popup.
pub const EDGE_POPUP: MethodSpec = MethodSpec::prune(
    "edge-popup",
    "a fixed-density supermask: top-k scores in the forward pass (Ramanujan et al.)",
);

/// No settings of its own (`score_lr` is the run's).
pub type Settings = crate::zoo::NoSettings;

#[cfg(feature = "torch")]
pub use train::*;

/// The implementation (feature `torch`).
#[cfg(feature = "torch")]
mod train {
    use serde_json::json;
    use tch::Tensor;

    use crate::zoo::train::Ctx;
    use crate::nn::dynamics::{Dynamics, LearnedScores};
    use crate::nn::optim::OptimizerKind;
    use crate::nn::params::Params;
    use crate::nn::perturb::{perturb, Kept};
    use crate::nn::phase::Segment;
    use crate::nn::rundir::{self, Summary};
    use crate::select::{Budget, Largest, Mask, Rule};
    use crate::space::SparseVector;
    use crate::{Error, Result};

    /// Scores whose top $1-S$ (by $|s|$) select the frozen weights the forward pass uses.
    #[derive(Debug)]
    pub struct EdgePopup {
        names: Vec<String>,
        weights: Vec<Tensor>,
        scores: LearnedScores,
        budget: Budget,
        base_lr: f64,
        horizon: usize,
    }

    impl EdgePopup {
        /// Scores for the frozen prunable weights of `ctx`, drawn with the run's seed.
        pub fn new(ctx: &Ctx) -> Result<Self> {
            tch::manual_seed((ctx.cfg.seed ^ 0xed9e) as i64);
            let init: Vec<Tensor> = tch::no_grad(|| {
                ctx.x
                    .tensors
                    .iter()
                    .map(|w| {
                        let b = 3f64.sqrt() * w.std(true).double_value(&[]);
                        (w.rand_like() * 2.0 - 1.0) * b
                    })
                    .collect()
            });
            let scores = LearnedScores::new(ctx.x.names.clone(), init, ctx.cfg.score_lr, "opt.")
                .with_optimizer(
                    OptimizerKind::Sgd {
                        momentum: 0.9,
                        nesterov: false,
                    },
                    5e-4,
                );
            Ok(EdgePopup {
                names: ctx.x.names.clone(),
                weights: ctx.x.tensors.iter().map(Tensor::shallow_clone).collect(),
                scores,
                budget: ctx.target.budget(ctx.target.sparsity())?,
                base_lr: ctx.cfg.score_lr,
                horizon: ctx.iterations.max(1),
            })
        }

        /// The mask of the top scores by $|s|$ under the budget: the shared selection rule
        /// ([`crate::select::Largest`], exact counts, ties to the lower index) on the scores'
        /// magnitudes, as every other method selects.
        fn selected(&self) -> Mask {
            let magnitudes = tch::no_grad(|| {
                Params::new(
                    self.names.clone(),
                    self.scores.tensors.iter().map(Tensor::abs).collect(),
                )
                .to_scores()
            });
            Largest
                .select(&magnitudes, &self.budget)
                .expect("the budget fits the scores")
        }

        /// The 0/1 mask tensors of [`EdgePopup::selected`] (no gradient).
        fn masks(&self) -> Vec<Tensor> {
            let frozen = Params::new(
                self.names.clone(),
                self.weights.iter().map(Tensor::shallow_clone).collect(),
            );
            frozen.mask_tensors(&self.selected())
        }
    }

    impl Dynamics for EdgePopup {
        fn forward_weights(&self, train: bool) -> Option<Vec<Tensor>> {
            let masks = self.masks();
            Some(
                self.weights
                    .iter()
                    .zip(&self.scores.tensors)
                    .zip(masks)
                    .map(|((w, s), m)| {
                        if train {
                            // Straight through: the value is w·h, the gradient reaches s through |s|.
                            let a = s.abs();
                            w.detach() * (m + &a - a.detach())
                        } else {
                            w.detach() * m
                        }
                    })
                    .collect(),
            )
        }

        fn trains_network(&self) -> bool {
            false
        }

        fn update(&mut self, _x: &mut Params, _lr: f64, it: usize) -> Result<()> {
            let progress = it as f64 / self.horizon as f64;
            self.scores
                .set_lr(self.base_lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
            self.scores.step();
            Ok(())
        }

        fn mask(&self) -> Mask {
            self.selected()
        }

        fn state(&self) -> Vec<(String, Tensor)> {
            self.scores.state()
        }

        fn load_state(&mut self, named: &[(String, Tensor)]) -> Result<()> {
            self.scores.load_state(named)
        }
    }

    /// Run `lottery prune edge-popup`.
    pub fn run(ctx: &Ctx) -> Result<(Summary, serde_json::Value)> {
        let cfg = ctx.cfg;
        let kept = cfg.methods.supermask.kept;
        if !matches!(kept, Kept::Rewind | Kept::SignedConstant) {
            return Err(Error::param(
                "supermask_kept",
                format!(
                    "edge-popup keeps the initialization (rewind) or signed_constant, not `{kept}`"
                ),
            ));
        }
        if !rundir::has_checkpoint(ctx.run_dir) {
            ctx.rewind_to_init()?;
            let mut x = ctx.x.shallow_clone();
            let all = Mask::full(&x.group_sizes());
            perturb(&mut x, &all, kept, None, cfg.seed)?;
        }
        let mut popup = EdgePopup::new(ctx)?;
        let (summary, trained) = ctx.train_with(
            &mut popup,
            0,
            cfg.score_lr,
            &Segment::default(),
            ctx.run_dir,
        )?;
        Ok((
            summary,
            json!({ "kept": kept, "steps": trained.stopped_at, "score_optimizer": "sgd(0.9, 5e-4), cosine" }),
        ))
    }
}
