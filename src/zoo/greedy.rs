//! `greedy`: forward greedy growth as a network trainer — rounds of the greedy solvers'
//! selection ([`crate::solver::step::grow`]: the largest gradients outside the support, a batch
//! at a time) between which the support is trained as a fixed mask, from an empty support to
//! the run's budget at `schedule_end`, with plain SGD at `convex_lr` like the other convex
//! trainers ([`super::convex`], whose theory/network-trainers.md says what it inherits).

use serde::{Deserialize, Serialize};

use super::MethodSpec;
use crate::{Error, Result};

/// Forward greedy growth.
pub const GREEDY: MethodSpec = MethodSpec::prune(
    "greedy",
    "forward greedy growth: the support grown by gradient in grow_rounds rounds",
);

/// Greedy growth's settings (key `grow_rounds`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Growth rounds (10).
    pub grow_rounds: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { grow_rounds: 10 }
    }
}

impl Settings {
    /// The keys.
    pub const KEYS: &'static [&'static str] = &["grow_rounds"];

    /// At least one round.
    pub fn check(&self) -> Result<()> {
        if self.grow_rounds == 0 {
            return Err(Error::param("grow_rounds", "must be >= 1"));
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

    use crate::nn::dynamics::{Dynamics, FixedMask};
    use crate::nn::params::Params;
    use crate::nn::phase::optimizer_kind;
    use crate::nn::rundir::Summary;
    use crate::select::{Budget, Mask};
    use crate::solver::step::grow;
    use crate::space::SparseVector;
    use crate::zoo::convex::train_convex;
    use crate::zoo::dynamic::Ramp;
    use crate::zoo::train::Ctx;
    use crate::Result;

    /// Forward greedy growth: rounds of [`grow`] (the greedy solvers' selection, a batch at a
    /// time) between which the support is trained as a fixed mask.
    #[derive(Debug)]
    pub struct Greedy {
        budget: Budget,
        at: Vec<usize>,
        round: usize,
        fixed: FixedMask,
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
                    let full = self.fixed.mask().group_sizes();
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
            self.fixed.refresh(x);
            if self.round < self.at.len() && it >= self.at[self.round] {
                let mask = grow(
                    &x.gradients(),
                    &self.fixed.mask(),
                    &self.round_budget(self.round),
                )?;
                // The first support keeps its initial values; later coordinates enter at zero.
                x.apply_mask(&mask);
                self.fixed.set_mask(x, mask);
                self.round += 1;
            }
            self.fixed.update(x, lr, it)
        }

        crate::nn::dynamics::fixed_mask_state!(fixed);

        fn trace(&self) -> serde_json::Value {
            json!({ "round": self.round, "rounds_at": self.at })
        }

        fn load_trace(&mut self, trace: &serde_json::Value) -> Result<()> {
            self.round = trace["round"].as_u64().unwrap_or(0) as usize;
            Ok(())
        }
    }

    /// Train with greedy growth from the initialization into the run directory.
    pub fn run(ctx: &Ctx) -> Result<(Summary, serde_json::Value)> {
        train_convex(ctx, |trainer, budget| {
            let end = Ramp::of(ctx.cfg, ctx.iterations).end;
            let rounds = ctx.cfg.methods.greedy.grow_rounds;
            let empty = Mask::empty(&ctx.x.group_sizes());
            Ok(Box::new(Greedy {
                budget,
                at: (0..rounds).map(|r| r * end / rounds).collect(),
                round: 0,
                fixed: FixedMask::new(
                    optimizer_kind(trainer),
                    trainer.weight_decay,
                    ctx.x,
                    &empty,
                    vec![],
                )
                .saving_mask(),
            }))
        })
    }
}
