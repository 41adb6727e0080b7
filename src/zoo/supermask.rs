//! Supermasks (Zhou, Lan, Liu & Yosinski 2019): what matters in a ticket — the mask, the signs,
//! the values?
//!
//! **Learned supermask** (`supermask_criterion = "learned"`, the default): the weights stay at
//! their random initialization and are never updated; each prunable weight has a score $s_i$ and
//! the forward pass uses $w_i \cdot m_i$ with $m_i \sim \mathrm{Bernoulli}(\sigma(s_i))$ and the
//! straight-through gradient $\partial m_i/\partial s_i := \sigma'(s_i)$ (implemented as
//! $m + \sigma(s) - \mathrm{sg}(\sigma(s))$). Scores are trained with Adam at `score_lr`. To
//! sample masks of the ticket's size, the probabilities are calibrated:
//! $m_i \sim \mathrm{Bernoulli}(\sigma(s_i + c))$ with the shift $c$ (per layer, or over the
//! pool for global pruning) that makes the mean probability $1-S$ — without it the learned
//! density drifts away from the target and the exact-size ticket loses what training found
//! (measured: 84.6% at S = 0.5 but 24.6% at S = 0.9 after 2000 iterations). Evaluation and the ticket use the
//! deterministic mask of the top $1-S$ scores (exact count). The Bernoulli draws are seeded by
//! (seed, iteration), so a resumed run draws the same masks.
//!
//! **Mask criteria × actions**: train the dense network (in `search/`), score each weight by
//! `large_final` $|w_f|$, `large_init` $|w_i|$, `magnitude_increase` $|w_f| - |w_i|$,
//! `movement` $|w_f - w_i|$ or `random`, keep the top of the budget; set the kept weights by
//! `supermask_kept` (`rewind`, `reinit`, `reshuffle`, `signed_constant`, see [`crate::nn::perturb`])
//! and the pruned ones by `supermask_pruned` (`zero`, or `freeze` at their initial values:
//! they take part in the forward pass but never move); then train. The masked network's test
//! accuracy **before** that training is Zhou et al.'s supermask accuracy
//! (`trace.untrained_test_accuracy`); their best criteria keep only weights whose sign training
//! left unchanged (`large_final_same_sign`, `magnitude_increase_same_sign`), with the kept
//! weights set to a signed constant (`supermask_kept = "signed_constant"`).
//!
//! With `supermask_natural = true` the learned mask is not calibrated to the target: it keeps
//! every weight with $\sigma(s) > 1/2$ at the density training found
//! (`trace.natural_density`), as Zhou et al. report it.

use serde::{Deserialize, Serialize};

use super::MethodSpec;
use crate::names::named_enum;
use crate::{Error, Result};

/// The supermask.
pub const SUPERMASK: MethodSpec = MethodSpec::prune(
    "supermask",
    "learned Bernoulli mask over frozen weights, or mask criteria x actions (Zhou et al.)",
);

named_enum!(
    /// Supermask criterion (Zhou et al. 2019), or a learned mask.
    Criterion, "supermask_criterion", {
        /// Learned Bernoulli mask over frozen weights.
        Learned = "learned",
        /// Large final weights.
        LargeFinal = "large_final",
        /// Large initial weights.
        LargeInit = "large_init",
        /// Large final weights that kept their initial sign ($|w_f|$ where
        /// $\mathrm{sign}\,w_f = \mathrm{sign}\,w_i$; the others rank last).
        LargeFinalSameSign = "large_final_same_sign",
        /// Magnitude increase $|w_f| - |w_i|$.
        MagnitudeIncrease = "magnitude_increase",
        /// Magnitude increase of the weights that kept their sign (the others rank last).
        MagnitudeIncreaseSameSign = "magnitude_increase_same_sign",
        /// Movement $|w_f - w_i|$.
        Movement = "movement",
        /// Random.
        Random = "random",
    }
);

named_enum!(
    /// An action on kept weights (supermask actions and early-phase perturbations).
    Kept, "action", {
        /// Leave them.
        Rewind = "rewind",
        /// Fresh initialization.
        Reinit = "reinit",
        /// Permute within each layer.
        Reshuffle = "reshuffle",
        /// Layer standard deviation with the weight's sign.
        SignedConstant = "signed_constant",
        /// Random signs, magnitudes kept.
        FlipSigns = "flip_signs",
    }
);

named_enum!(
    /// What happens to pruned weights under a supermask.
    Pruned, "supermask_pruned", {
        /// Set to zero.
        Zero = "zero",
        /// Frozen at their initial values.
        Freeze = "freeze",
    }
);

/// Supermask settings; keys `supermask_criterion`, `supermask_kept`, `supermask_pruned`,
/// `supermask_natural`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
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

impl Default for Settings {
    fn default() -> Self {
        Settings {
            criterion: Criterion::Learned,
            kept: Kept::Rewind,
            pruned: Pruned::Zero,
            natural: false,
        }
    }
}

impl Settings {
    /// The keys.
    pub const KEYS: &'static [&'static str] = &[
        "supermask_criterion",
        "supermask_kept",
        "supermask_pruned",
        "supermask_natural",
    ];

    /// The kept weights' action is one of the supermask's.
    pub fn check(&self) -> Result<()> {
        if self.kept == Kept::FlipSigns {
            return Err(Error::param(
                "supermask_kept",
                "`flip_signs` is not one of rewind, reinit, reshuffle, signed_constant",
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
    use tch::Tensor;

    use crate::zoo::train::Ctx;
    use crate::nn::dynamics::{Dynamics, FixedMask, LearnedScores};
    use crate::nn::params::Params;
    use crate::nn::perturb::{fresh_init, perturb, Kept};
    use crate::nn::phase;
    use crate::nn::rundir::Summary;
    use crate::nn::target::Target;
    use crate::run::kinds::{Criterion, Pruned};
    use crate::select::{by_value, Largest, Mask, Random, Scores};
    use crate::space::SparseVector;
    use crate::{Error, Result};

    /// A learned Bernoulli mask over frozen weights.
    #[derive(Debug)]
    pub struct Learned {
        names: Vec<String>,
        weights: Vec<Tensor>,
        scores: LearnedScores,
        target: Target,
        goal: f64,
        seed: u64,
        t: usize,
        natural: bool,
    }

    impl Learned {
        /// Scores at $\mathrm{logit}(1 - S)$ for the frozen prunable weights of `ctx`.
        pub fn new(ctx: &Ctx) -> Self {
            let s = ctx.target.sparsity();
            let s0 = ((1.0 - s) / s).ln();
            let scores: Vec<Tensor> = ctx.x.tensors.iter().map(|w| w.full_like(s0)).collect();
            Learned {
                names: ctx.x.names.clone(),
                weights: ctx.x.tensors.iter().map(Tensor::shallow_clone).collect(),
                scores: LearnedScores::new(ctx.x.names.clone(), scores, ctx.cfg.score_lr, "opt."),
                target: ctx.target.clone(),
                goal: s,
                seed: ctx.cfg.seed,
                t: 0,
                natural: ctx.cfg.methods.supermask.natural,
            }
        }

        /// The fraction of pooled weights the natural mask ($\sigma(s) > 1/2$) keeps.
        pub fn natural_density(&self) -> f64 {
            let m = self.mask();
            let sizes = m.group_sizes();
            let (mut kept, mut total) = (0usize, 0usize);
            for (g, &n) in sizes.iter().enumerate() {
                if self.target.pooled(g) {
                    kept += m.group_bytes(g).iter().filter(|&&b| b == 1).count();
                    total += n;
                }
            }
            kept as f64 / total.max(1) as f64
        }

        /// Per group, the shift $c$ that calibrates the sampling probabilities $\sigma(s + c)$ to
        /// the target density $1 - S$ on average (per pooled layer when layerwise, over the pool
        /// otherwise; bisection), so that training samples masks of the size the ticket will have.
        /// Layers outside the pool are never masked ($c = +50$).
        fn shifts(&self) -> Vec<f64> {
            let n = self.scores.tensors.len();
            if self.natural {
                return (0..n)
                    .map(|g| if self.target.pooled(g) { 0.0 } else { 50.0 })
                    .collect();
            }
            let units: Vec<Vec<usize>> = if self.target.is_layerwise() {
                (0..n)
                    .filter(|&g| self.target.pooled(g))
                    .map(|g| vec![g])
                    .collect()
            } else {
                vec![(0..n).filter(|&g| self.target.pooled(g)).collect()]
            };
            let mut c = vec![50.0; n];
            tch::no_grad(|| {
                for unit in units {
                    let flat: Vec<Tensor> = unit
                        .iter()
                        .map(|&g| self.scores.tensors[g].flatten(0, -1))
                        .collect();
                    let all = Tensor::cat(&flat, 0);
                    let density = |shift: f64| {
                        (&all + shift)
                            .sigmoid()
                            .mean(tch::Kind::Double)
                            .double_value(&[])
                    };
                    // 30 halvings of [-60, 60]: |c - c*| < 1.2e-7.
                    let (mut lo, mut hi) = (-60.0, 60.0);
                    for _ in 0..30 {
                        let mid = 0.5 * (lo + hi);
                        if density(mid) < 1.0 - self.goal {
                            lo = mid;
                        } else {
                            hi = mid;
                        }
                    }
                    for &g in &unit {
                        c[g] = 0.5 * (lo + hi);
                    }
                }
            });
            c
        }

        fn score_values(&self) -> Scores {
            self.scores.values()
        }
    }

    impl Dynamics for Learned {
        fn forward_weights(&self, train: bool) -> Option<Vec<Tensor>> {
            if train {
                tch::manual_seed((self.seed.wrapping_mul(1_000_003) ^ self.t as u64) as i64);
                Some(
                    self.weights
                        .iter()
                        .zip(&self.scores.tensors)
                        .zip(self.shifts())
                        .map(|((w, s), c)| {
                            let p = (s + c).sigmoid();
                            let m = tch::no_grad(|| p.bernoulli());
                            w.detach() * (m + &p - p.detach())
                        })
                        .collect(),
                )
            } else {
                let mask = self.mask();
                let x = Params::new(
                    self.names.clone(),
                    self.weights.iter().map(Tensor::shallow_clone).collect(),
                );
                Some(
                    x.mask_tensors(&mask)
                        .iter()
                        .zip(&self.weights)
                        .map(|(m, w)| w.detach() * m)
                        .collect(),
                )
            }
        }

        fn trains_network(&self) -> bool {
            false
        }

        fn update(&mut self, _x: &mut Params, _lr: f64, _it: usize) -> Result<()> {
            self.scores.step();
            self.t += 1;
            Ok(())
        }

        fn mask(&self) -> Mask {
            let values = self.score_values();
            if self.natural {
                // Keep every pooled score with sigma(s) > 1/2; layers outside the pool stay whole.
                let sizes = values.group_sizes();
                let mut bytes = Vec::with_capacity(values.len());
                let mut start = 0;
                for (g, &n) in sizes.iter().enumerate() {
                    let range = start..start + n;
                    start += n;
                    let pooled = self.target.pooled(g);
                    bytes.extend(
                        values.values()[range]
                            .iter()
                            .map(|&s| u8::from(!pooled || s > 0.0)),
                    );
                }
                return Mask::from_bytes(&bytes, &sizes).expect("sizes agree");
            }
            let ranked = by_value(&values).expect("scores are finite");
            self.target
                .select(&Largest, &ranked, self.goal)
                .expect("the budget fits the pool")
        }

        fn state(&self) -> Vec<(String, Tensor)> {
            self.scores.state()
        }

        fn load_state(&mut self, named: &[(String, Tensor)]) -> Result<()> {
            self.scores.load_state(named)
        }

        fn trace(&self) -> serde_json::Value {
            json!({ "t": self.t })
        }

        fn load_trace(&mut self, trace: &serde_json::Value) -> Result<()> {
            self.t = trace["t"].as_u64().unwrap_or(0) as usize;
            Ok(())
        }
    }

    /// The criterion's scores from the initial and the trained weights.
    fn criterion_scores(criterion: Criterion, init: &Scores, fin: &Scores) -> Result<Scores> {
        let sizes = init.group_sizes();
        let (a, b) = (init.values(), fin.values());
        let values: Vec<f64> = match criterion {
            Criterion::LargeFinal => b.iter().map(|v| v.abs()).collect(),
            Criterion::LargeInit => a.iter().map(|v| v.abs()).collect(),
            Criterion::MagnitudeIncrease => a.iter().zip(b).map(|(i, f)| f.abs() - i.abs()).collect(),
            Criterion::LargeFinalSameSign | Criterion::MagnitudeIncreaseSameSign => {
                let base = |i: &f64, f: &f64| {
                    if criterion == Criterion::LargeFinalSameSign {
                        f.abs()
                    } else {
                        f.abs() - i.abs()
                    }
                };
                // Weights whose sign flipped rank below every weight that kept it.
                let floor = a
                    .iter()
                    .zip(b)
                    .map(|(i, f)| base(i, f))
                    .fold(0.0f64, f64::min)
                    - 1.0;
                a.iter()
                    .zip(b)
                    .map(|(i, f)| {
                        if i.signum() == f.signum() && *i != 0.0 {
                            base(i, f)
                        } else {
                            floor - (f - i).abs()
                        }
                    })
                    .collect()
            }
            Criterion::Movement => a.iter().zip(b).map(|(i, f)| (f - i).abs()).collect(),
            Criterion::Learned | Criterion::Random => {
                return Err(Error::param(
                    "supermask_criterion",
                    format!("`{criterion}` has no score of initial and final weights"),
                ))
            }
        };
        by_value(&Scores::from_parts(values, &sizes)?)
    }

    /// Run `lottery prune supermask`.
    pub fn run(ctx: &Ctx) -> Result<(Summary, serde_json::Value)> {
        let cfg = ctx.cfg;
        if cfg.methods.supermask.criterion == Criterion::Learned {
            if !crate::nn::rundir::has_checkpoint(ctx.run_dir) {
                ctx.rewind_to_init()?;
            }
            let mut learned = Learned::new(ctx);
            let (summary, trained) = ctx.train_with(
                &mut learned,
                0,
                cfg.score_lr,
                &phase::Segment::default(),
                ctx.run_dir,
            )?;
            return Ok((
                summary,
                json!({
                    "criterion": "learned",
                    "steps": trained.stopped_at,
                    "natural": cfg.methods.supermask.natural,
                    "natural_density": learned.natural_density(),
                }),
            ));
        }
        let search = ctx.search_dir()?;
        let dense = ctx.train_dense(&search)?;
        let fin = ctx.x.to_scores();
        ctx.rewind_to_init()?;
        let init = ctx.x.to_scores();
        let mask = match ctx.saved_mask()? {
            Some(m) => m,
            None => {
                let m = if cfg.methods.supermask.criterion == Criterion::Random {
                    ctx.target.select(
                        &Random {
                            seed: cfg.seed ^ 0x5e7,
                        },
                        &init,
                        ctx.target.sparsity(),
                    )?
                } else {
                    let s = criterion_scores(cfg.methods.supermask.criterion, &init, &fin)?;
                    ctx.target.select(&Largest, &s, ctx.target.sparsity())?
                };
                let action = cfg.methods.supermask.kept;
                let fresh = match action {
                    Kept::Reinit => {
                        let (_, init_kind) = crate::nn::phase::arch_of(cfg)?;
                        Some(fresh_init(ctx.net, ctx.vs, init_kind, cfg.seed ^ 0xf7e5)?)
                    }
                    _ => None,
                };
                let mut x = ctx.x.shallow_clone();
                perturb(&mut x, &m, action, fresh.as_ref(), cfg.seed ^ 0x5f1)?;
                m
            }
        };
        let freeze = cfg.methods.supermask.pruned == Pruned::Freeze;
        if !freeze {
            let mut x = ctx.x.shallow_clone();
            x.apply_mask(&mask);
        }
        // Zhou et al.'s supermask: the masked network before any training.
        let (_, untrained) = tch::no_grad(|| phase::evaluate(ctx.net, &ctx.data.test));
        let mut fixed = FixedMask::new(
            phase::optimizer_kind(cfg),
            cfg.weight_decay,
            ctx.x,
            &mask,
            vec![],
        );
        if freeze {
            fixed = fixed.frozen();
        }
        let (summary, _) = ctx.train_with(
            &mut fixed,
            0,
            cfg.lr,
            &phase::Segment::default(),
            ctx.run_dir,
        )?;
        Ok((
            summary,
            json!({
                "criterion": cfg.methods.supermask.criterion,
                "kept": cfg.methods.supermask.kept,
                "pruned": cfg.methods.supermask.pruned,
                "dense_test_accuracy": dense.final_test_accuracy,
                "untrained_test_accuracy": untrained,
            }),
        ))
    }
}
