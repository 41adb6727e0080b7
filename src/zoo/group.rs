//! `group-lasso`: a group-sparse first layer. Training with the run's optimizer, each step
//! followed by the proximal operator of $\eta\lambda\sum_j \|W_{:,j}\|_2$ on the first layer's
//! input columns $W_{:,j}$ (block soft-thresholding, Yuan & Lin 2006: a column whose norm falls
//! below $\eta\lambda$ is zeroed, the others shrink by $\eta\lambda$ in norm), which removes
//! whole input features; at `threshold_at` the weights are hard-thresholded to the budget
//! ([`crate::solver::step::threshold`], the convex layer's step) and training continues on that
//! support. `group_lambda` is $\lambda$ (0.1), $\eta$ the step's learning rate.
//!
//! With SGD this is proximal stochastic gradient on the group-lasso objective; with Adam it is
//! the common heuristic that applies the unweighted prox after the preconditioned step (the
//! exact prox under Adam's diagonal metric weights each coordinate; Deleu & Bengio 2021). The
//! column groups are not [`crate::space::SparseVector`]'s groups (layers), so the prox acts on
//! the tensor directly. The trace records the live input columns every 100 steps.

use serde::{Deserialize, Serialize};

use super::MethodSpec;
use crate::{Error, Result};

/// The group lasso.
pub const GROUP_LASSO: MethodSpec = MethodSpec::prune(
    "group-lasso",
    "proximal group lasso on the first layer's input columns, then hard thresholding",
);

/// The group lasso's settings (key `group_lambda`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// $\lambda$ of the penalty on the first layer's input columns (0.1).
    pub group_lambda: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            group_lambda: 0.1,
        }
    }
}

impl Settings {
    /// The keys.
    pub const KEYS: &'static [&'static str] = &["group_lambda"];

    /// The penalty is finite and non-negative.
    pub fn check(&self) -> Result<()> {
        if !(self.group_lambda.is_finite() && self.group_lambda >= 0.0) {
            return Err(Error::param(
                "group_lambda",
                format!("{} must be >= 0", self.group_lambda),
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
    use tch::{Kind, Tensor};

    use crate::zoo::convex::Thresholded;
    use crate::zoo::train::Ctx;
    use crate::nn::dynamics::{Dynamics, FixedMask, Flow};
    use crate::nn::params::Params;
    use crate::nn::phase::{optimizer_kind, Segment};
    use crate::nn::rundir::{self, Summary};
    use crate::select::Mask;
    use crate::space::SparseVector;
    use crate::{Error, Result};

    /// Block soft-thresholding of the columns of `w` (out × in) at `t`: every column scaled by
    /// $\max(0, 1 - t/\|w_{:,j}\|_2)$. Returns the number of nonzero columns left.
    pub fn prox_columns(w: &Tensor, t: f64) -> i64 {
        tch::no_grad(|| {
            let norms = w
                .square()
                .sum_dim_intlist([0i64].as_slice(), true, Kind::Float)
                .sqrt();
            let factor = (norms.clamp_min(1e-30).reciprocal() * (-t) + 1.0).clamp_min(0.0);
            let mut w = w.shallow_clone();
            let _ = w.f_mul_(&factor).expect("shapes agree");
            factor.gt(0.0).sum(Kind::Int64).int64_value(&[])
        })
    }

    /// The group-lasso trainer's dynamics.
    #[derive(Debug)]
    pub struct GroupLasso {
        fixed: FixedMask,
        lambda: f64,
        th: Thresholded,
        live: Vec<(usize, i64)>,
    }

    impl Dynamics for GroupLasso {
        fn update(&mut self, x: &mut Params, lr: f64, it: usize) -> Result<()> {
            self.fixed.update(x, lr, it)?;
            if !self.th.fixed {
                let live = prox_columns(&x.tensors[0], lr * self.lambda);
                if it.is_multiple_of(100) {
                    self.live.push((it, live));
                }
            }
            Ok(())
        }

        fn after(&mut self, done: usize, x: &mut Params) -> Result<Flow> {
            if self.th.after(done, x)? {
                self.fixed.set_mask(x, self.th.mask.clone());
            }
            Ok(Flow::Continue)
        }

        crate::nn::dynamics::fixed_mask_state!(fixed);

        fn trace(&self) -> serde_json::Value {
            json!({ "thresholded": self.th.fixed, "lambda": self.lambda, "live_columns": self.live })
        }

        fn load_trace(&mut self, trace: &serde_json::Value) -> Result<()> {
            self.th.fixed = trace["thresholded"].as_bool().unwrap_or(false);
            self.live = serde_json::from_value(trace["live_columns"].clone()).unwrap_or_default();
            Ok(())
        }
    }

    /// Train `group-lasso` from the initialization into the run directory.
    pub fn run(ctx: &Ctx) -> Result<(Summary, serde_json::Value)> {
        let cfg = ctx.cfg;
        if ctx.x.tensors.first().map(Tensor::dim) != Some(2) {
            return Err(Error::param(
                "method",
                "`group-lasso` groups the first layer's input columns: it needs a fully connected \
                 first layer",
            ));
        }
        if !rundir::has_checkpoint(ctx.run_dir) {
            ctx.rewind_to_init()?;
        }
        let full = Mask::full(&ctx.x.group_sizes());
        let mut dynamics = GroupLasso {
            fixed: FixedMask::new(optimizer_kind(cfg), cfg.weight_decay, ctx.x, &full, vec![])
                .saving_mask(),
            lambda: cfg.methods.group.group_lambda,
            th: Thresholded::new(ctx)?,
            live: Vec::new(),
        };
        let (summary, trained) =
            ctx.train_with(&mut dynamics, 0, cfg.lr, &Segment::default(), ctx.run_dir)?;
        Ok((summary, trained.trace))
    }
}
