//! The convex layer's algorithms as network trainers: `iht`, `sfw` and `md` (and `greedy`, in
//! [`super::greedy`]) apply the steps of [`crate::solver::step`] — the same functions the ndarray solvers call — to the
//! network's prunable weights (plain SGD at `convex_lr` for every other variable):
//!
#![doc = include_str!("../../theory/network-trainers.md")]

use serde::{Deserialize, Serialize};

use super::MethodSpec;
use crate::names::named_enum;
use crate::{Error, Result};

/// IHT as a network trainer.
pub const IHT: MethodSpec = MethodSpec::prune(
    "iht",
    "the convex layer's IHT step on the network (hard-thresholded SGD)",
);

/// Stochastic Frank-Wolfe.
pub const SFW: MethodSpec = MethodSpec::prune(
    "sfw",
    "stochastic Frank-Wolfe over k-sparse polytopes, thresholded at threshold_at",
);

/// Entropic mirror descent.
pub const MD: MethodSpec = MethodSpec::prune(
    "md",
    "entropic mirror descent on the magnitudes, thresholded at threshold_at",
);

named_enum!(
    /// Step sizes of the stochastic Frank-Wolfe trainer (`fw_schedule`).
    FwSchedule, "fw_schedule", {
        /// $\gamma$ = `fw_step`, $\rho$ = `fw_averaging` at every step (what networks use).
        Constant = "constant",
        /// $\gamma = 1/\sqrt{T+1}$ for a run of $T$ steps, $\rho$ = `fw_averaging`: the step of
        /// Lacoste-Julien (2016)'s nonconvex gap rate $\min_{t \le T} g_t = O(1/\sqrt T)$
        /// (deterministic gradients; Reddi et al. 2016 keep it with minibatches growing to $T$).
        Horizon = "horizon",
        /// $\gamma_t = 2/(t+8)$, $\rho_t = 4/(t+8)^{2/3}$: Mokhtari, Hassani & Karbasi (2018)'s
        /// stochastic conditional gradient, $O(t^{-1/3})$ for smooth convex objectives.
        Decreasing = "decreasing",
    }
);

/// The convex trainers; keys as the fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
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
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            convex_lr: 0.1,
            fw_step: 0.001,
            fw_averaging: 0.1,
            fw_schedule: FwSchedule::Constant,
            fw_radius: 5.0,
            threshold_at: 0.9,
        }
    }
}

impl Settings {
    /// The keys.
    pub const KEYS: &'static [&'static str] = &[
        "convex_lr",
        "fw_step",
        "fw_averaging",
        "fw_schedule",
        "fw_radius",
        "threshold_at",
    ];

    /// Each key's range.
    pub fn check(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.threshold_at) {
            return Err(Error::param(
                "threshold_at",
                format!("{} is not in [0, 1]", self.threshold_at),
            ));
        }
        for (name, v) in [("convex_lr", self.convex_lr), ("fw_radius", self.fw_radius)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::param(name, format!("{v} must be > 0")));
            }
        }
        for (name, v) in [("fw_averaging", self.fw_averaging), ("fw_step", self.fw_step)] {
            if !(v > 0.0 && v <= 1.0) {
                return Err(Error::param(name, format!("{v} is not in (0, 1]")));
            }
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
    use crate::nn::dynamics::{indexed, DescentStep, Dynamics, Flow};
    use crate::nn::params::Params;
    use crate::nn::phase::Segment;
    use crate::nn::rundir::{self, mask_from_state, mask_state, Summary};
    use crate::run::kinds::{FwSchedule, Method, OptimizerName};
    use crate::run::RunConfig;
    use crate::select::{Budget, Largest, Mask};
    use crate::solver::{
        self,
        step::{entropic_step, frank_wolfe_update, sparse_polytope_vertex_grouped, threshold},
    };
    use crate::space::SparseVector;
    use crate::{Error, Result};

    /// Hard-thresholded SGD: the convex solver's own IHT step ([`solver::iht::Iht::step_on`]) at
    /// the run's budget, with the stochastic gradient. Every step's descent on its own minibatch is
    /// measured ([`DescentLog`]).
    #[derive(Debug)]
    pub struct Iht {
        iht: solver::iht::Iht,
        budget: Budget,
        mask: Mask,
        descent: DescentLog,
    }

    /// How often the descent inequality of `theory/iht_descent.md` fails along a training run: the
    /// inequality $f_B(x^+) \le f_B(x) - (\frac1{2\eta} - \frac L2)\|x^+-x\|^2$ holds for the
    /// step's own minibatch loss $f_B$ when $f_B$ is $L$-smooth along the step with $\eta L \le 1$.
    /// Logged: the steps, those whose minibatch loss rose (`ascents`), those whose curvature along
    /// the step exceeded $1/\eta$ (`smoothness_violations`: the hypothesis fails), and every 100th
    /// step as `[iteration, f_B(x), f_B(x+), eta * curvature]`.
    #[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
    pub struct DescentLog {
        /// Steps measured.
        pub steps: usize,
        /// Steps with $f_B(x^+) > f_B(x)$.
        pub ascents: usize,
        /// Steps with $\eta\hat L > 1$.
        pub smoothness_violations: usize,
        /// Every 100th step: iteration, $f_B(x)$, $f_B(x^+)$, $\eta\hat L$.
        pub samples: Vec<(usize, f64, f64, f64)>,
    }

    impl DescentLog {
        /// Count one step.
        pub fn add(&mut self, s: &DescentStep) {
            self.steps += 1;
            self.ascents += usize::from(s.after > s.before);
            let eta_l = s.lr * s.curvature();
            self.smoothness_violations += usize::from(eta_l > 1.0);
            if s.iteration.is_multiple_of(100) {
                self.samples.push((s.iteration, s.before, s.after, eta_l));
            }
        }
    }

    impl Dynamics for Iht {
        fn observes_descent(&self) -> bool {
            true
        }

        fn observe_descent(&mut self, step: &DescentStep) {
            self.descent.add(step);
        }

        fn trace(&self) -> serde_json::Value {
            json!({ "descent": self.descent })
        }

        fn load_trace(&mut self, trace: &serde_json::Value) -> Result<()> {
            if let Ok(d) = serde_json::from_value(trace["descent"].clone()) {
                self.descent = d;
            }
            Ok(())
        }

        fn update(&mut self, x: &mut Params, lr: f64, _it: usize) -> Result<()> {
            let g = x.gradients();
            self.mask = self.iht.step_on(x, &g, lr, &self.budget)?;
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

    /// What the Frank-Wolfe, mirror-descent and group-lasso trainers share: the budget, the
    /// iteration at which the iterate is thresholded (`threshold_at`), and the support after it.
    #[derive(Debug)]
    pub struct Thresholded {
        budget: Budget,
        at: usize,
        /// The support after the threshold (full before it).
        pub mask: Mask,
        /// Whether the threshold has happened.
        pub fixed: bool,
    }

    impl Thresholded {
        /// The run's budget and schedule.
        pub fn new(ctx: &Ctx) -> Result<Self> {
            Ok(Thresholded {
                budget: ctx.target.budget(ctx.target.sparsity())?,
                at: ((ctx.cfg.methods.convex.threshold_at * ctx.iterations as f64).round() as usize)
                    .clamp(1, ctx.iterations.max(1)),
                mask: Mask::full(&ctx.x.group_sizes()),
                fixed: false,
            })
        }

        /// Threshold at the scheduled iteration; true when it did.
        pub fn after(&mut self, done: usize, x: &mut Params) -> Result<bool> {
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
            /// Step sizes over time ($\gamma$ and $\rho$ above are the constant ones).
            schedule: FwSchedule,
            /// The run's length $T$.
            horizon: usize,
            /// Every 100th step: the Frank-Wolfe gap $\langle d, x - v\rangle$ of the averaged
            /// direction at the iterate (`[iteration, gap]`).
            gaps: Vec<(usize, f64)>,
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
        fn update(&mut self, x: &mut Params, lr: f64, it: usize) -> Result<()> {
            let g = x.gradients();
            match &mut self.step {
                ConvexStep::FrankWolfe {
                    taus,
                    gamma,
                    rho,
                    avg,
                    schedule,
                    horizon,
                    gaps,
                } => {
                    let (gamma_t, rho_t) = fw_steps(*schedule, *gamma, *rho, it, *horizon);
                    tch::no_grad(|| {
                        if avg.is_empty() {
                            *avg = g.tensors.iter().map(|t| t.detach().copy()).collect();
                        } else {
                            for (d, gi) in avg.iter_mut().zip(&g.tensors) {
                                let _ = d.f_lerp_(gi, rho_t).expect("shapes agree");
                            }
                        }
                    });
                    let d = Params::new(
                        g.names.clone(),
                        avg.iter().map(Tensor::shallow_clone).collect(),
                    );
                    let (v, _) = sparse_polytope_vertex_grouped(&d, taus, &Largest, &self.th.budget)?;
                    if it.is_multiple_of(100) {
                        gaps.push((it, d.dot(x) - d.dot(&v)));
                    }
                    frank_wolfe_update(x, &v, gamma_t);
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
                ConvexStep::FrankWolfe {
                    taus,
                    gaps,
                    schedule,
                    ..
                } => {
                    json!({
                        "thresholded": self.th.fixed,
                        "tau": taus,
                        "schedule": schedule.as_str(),
                        "gap": gaps,
                    })
                }
                ConvexStep::Mirror { radii, .. } => {
                    json!({ "thresholded": self.th.fixed, "radii": radii })
                }
            }
        }

        fn load_trace(&mut self, trace: &serde_json::Value) -> Result<()> {
            self.th.fixed = trace["thresholded"].as_bool().unwrap_or(false);
            match &mut self.step {
                ConvexStep::Mirror { radii, .. } => {
                    if let Some(r) = trace["radii"].as_array() {
                        *radii = r.iter().filter_map(|v| v.as_f64()).collect();
                    }
                }
                ConvexStep::FrankWolfe { gaps, .. } => {
                    *gaps = serde_json::from_value(trace["gap"].clone()).unwrap_or_default();
                }
            }
            Ok(())
        }
    }

    /// $(\gamma_t, \rho_t)$ of step `it` (0-based) of a run of `horizon` steps under `schedule`,
    /// from the constant `gamma`, `rho` (see [`FwSchedule`]).
    ///
    /// ```
    /// use lottery::zoo::convex::fw_steps;
    /// use lottery::run::kinds::FwSchedule;
    /// assert_eq!(fw_steps(FwSchedule::Constant, 0.001, 0.1, 7, 100), (0.001, 0.1));
    /// assert_eq!(fw_steps(FwSchedule::Horizon, 0.001, 0.1, 7, 99), (0.1, 0.1));
    /// let (g, r) = fw_steps(FwSchedule::Decreasing, 0.001, 0.1, 0, 100);
    /// assert_eq!(g, 0.25);
    /// assert!((r - 1.0).abs() < 1e-12); // 4 / 8^{2/3}
    /// ```
    pub fn fw_steps(
        schedule: FwSchedule,
        gamma: f64,
        rho: f64,
        it: usize,
        horizon: usize,
    ) -> (f64, f64) {
        match schedule {
            FwSchedule::Constant => (gamma, rho),
            FwSchedule::Horizon => (1.0 / ((horizon + 1) as f64).sqrt(), rho),
            FwSchedule::Decreasing => {
                let t = (it + 8) as f64;
                (2.0 / t, (4.0 / t.powf(2.0 / 3.0)).min(1.0))
            }
        }
    }

    /// Plain SGD at `convex_lr` for every variable: the step the convex analyses assume.
    pub fn convex_config(cfg: &RunConfig) -> RunConfig {
        RunConfig {
            optimizer: OptimizerName::Sgd,
            momentum: 0.0,
            nesterov: false,
            lr: cfg.methods.convex.convex_lr,
            ..cfg.clone()
        }
    }

    /// Train with the convex method's dynamics from the initialization into the run directory.
    pub fn run(ctx: &Ctx) -> Result<(Summary, serde_json::Value)> {
        train_convex(ctx, |cfg, budget| {
            Ok(match cfg.method {
                Method::Iht => Box::new(Iht {
                    iht: solver::iht::Iht::new(solver::iht::ThresholdParams::new(
                        budget.total(&ctx.x.group_sizes())?.unwrap_or(1),
                    ))?,
                    budget,
                    mask: Mask::full(&ctx.x.group_sizes()),
                    descent: DescentLog::default(),
                }),
                Method::Sfw => {
                    let taus = tch::no_grad(|| {
                        ctx.x
                            .tensors
                            .iter()
                            .map(|t| cfg.methods.convex.fw_radius * t.std(true).double_value(&[]))
                            .collect()
                    });
                    Box::new(Projected {
                        step: ConvexStep::FrankWolfe {
                            taus,
                            gamma: cfg.methods.convex.fw_step,
                            rho: cfg.methods.convex.fw_averaging,
                            avg: Vec::new(),
                            schedule: cfg.methods.convex.fw_schedule,
                            horizon: ctx.iterations,
                            gaps: Vec::new(),
                        },
                        th: Thresholded::new(ctx)?,
                    })
                }
                Method::Md => {
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
                        th: Thresholded::new(ctx)?,
                    })
                }
                other => {
                    return Err(Error::param(
                        "method",
                        format!("`{other}` is not a convex trainer"),
                    ))
                }
            })
        })
    }

    /// Train a convex trainer from the initialization into the run directory with plain SGD at
    /// `convex_lr` ([`convex_config`]): `dynamics` builds it from that config and the run's
    /// budget (this file's trainers and greedy growth's).
    pub fn train_convex(
        ctx: &Ctx,
        dynamics: impl FnOnce(&RunConfig, Budget) -> Result<Box<dyn Dynamics>>,
    ) -> Result<(Summary, serde_json::Value)> {
        let trainer = convex_config(ctx.cfg);
        if !rundir::has_checkpoint(ctx.run_dir) {
            ctx.rewind_to_init()?;
        }
        let budget = ctx.target.budget(ctx.target.sparsity())?;
        let mut dynamics = dynamics(&trainer, budget)?;
        let (summary, trained) = ctx.with_cfg(&trainer).train_with(
            dynamics.as_mut(),
            0,
            trainer.lr,
            &Segment::default(),
            ctx.run_dir,
        )?;
        Ok((summary, trained.trace))
    }
}
