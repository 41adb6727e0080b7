//! The method zoo: every pruning method of the reading list, and the convex methods as network
//! trainers, on one footing — same models, data, run layout and command line
//! (`lottery prune <method>`).
//!
//! | method | what it does | reference | module |
//! |---|---|---|---|
//! | `dpf` | forward at $m\odot w$, gradient to the dense $w$, magnitude mask every 16 steps, Zhu–Gupta ramp | Lin et al. 2020 | [`dynamic`] |
//! | `gradual` | Zhu–Gupta cubic schedule of magnitude pruning (`straight_through = true`: pruned weights keep their gradient) | Zhu & Gupta 2017; Gale et al. 2019 | [`dynamic`] |
//! | `supermask` | learned Bernoulli mask over frozen weights, or mask criteria × actions on kept / pruned weights | Zhou et al. 2019 | [`supermask`] |
//! | `edge-popup` | fixed-density supermask: top-$k$ of $\|s\|$ in the forward pass, straight-through scores | Ramanujan et al. 2020 | [`edge_popup`] |
//! | `snip`, `grasp`, `synflow`, `magnitude-init`, `random` | pruning at initialization | Lee et al. 2019; Wang et al. 2020; Tanaka et al. 2020 | [`pai`] |
//! | `group-lasso` | proximal group lasso on the first layer's input columns, then hard thresholding to the budget at `threshold_at` | Yuan & Lin 2006 | [`group`] |
//! | `oracle` | the planted teacher's support in the student's first units, trained from the initialization (the oracle ticket) | this project | [`pai`], [`crate::nn::planted`] |
//! | `continuous` | $w\odot\sigma(\beta s)$, $\beta$ annealed, $\ell_1$ on the mask, rounds with rewinding | Savarese et al. 2020 | [`continuous`] |
//! | `early-bird` | magnitude (or batch-norm channel) masks of the last epochs compared by the fraction of the kept set that changed (or You et al.'s Hamming distance) | You et al. 2020 | [`early_bird`] |
//! | `acdc` | dense warm-up, then sparse phases (top-$k$ magnitude at the start, mask fixed) and dense phases in turn, a final sparse phase; the co-trained dense model is evaluated too | Peste et al. 2021 | [`acdc`] |
//! | `rigl`, `set` | constant sparsity from a random (ERK with `strategy = "erk"`) mask; every `dst_every` steps drop the smallest magnitudes and grow the largest dense gradients (RigL) or at random (SET), cosine-decayed fraction | Evci et al. 2020; Mocanu et al. 2018 | [`dst`] |
//! | `iht`, `sfw`, `md`, `greedy` | the convex layer's IHT step, $k$-sparse Frank-Wolfe vertex and combination, entropic step and greedy growth ([`crate::solver::step`]) on the network | this project | [`convex`] |
//!
//! Linear mode connectivity is [`lmc`]; the early-phase perturbations and ticket transfer are
//! branches of an IMP level ([`crate::nn::branch::run_branch`]), sharing
//! [`crate::nn::perturb`] with the supermask actions.
//!
//! **Sparsity.** `--sparsity S` is the fraction of the prunable weights removed (the output
//! layer is outside the pool when the preset does not prune it). With `strategy = "global"` the
//! pool keeps exactly $N - \mathrm{round}(SN)$ weights; with `layerwise` every pooled layer keeps
//! exactly $n_l - \mathrm{round}(Sn_l)$ ([`crate::nn::target::Target`]). Pruning at
//! initialization is global by definition (its scores are compared across layers) under
//! `global` and `layerwise` alike; `strategy = "erk"` fixes its per-layer counts by ERK
//! ([`pai`]).
//!
//! **Layout.** `<runs>/<preset>-<method>-<hash>/` holds `config.toml`, `init.safetensors`, the
//! final sparse network's `mask.safetensors`, `start.safetensors`, `final.safetensors`,
//! `metrics.csv` and `summary.json` (with `method` and the method's `trace`), and for methods
//! with a search phase a `search/` directory (dense training, rounds, …). Every phase
//! checkpoints each epoch and a rerun resumes; a finished run is returned as is.

pub mod acdc;
pub mod continuous;
pub mod convex;
pub mod dst;
pub mod dynamic;
pub mod early_bird;
pub mod edge_popup;
pub mod group;
pub mod lmc;
pub mod pai;
pub mod supermask;

use std::path::PathBuf;

use super::data::{load_data, Data};
use super::params;
use super::phase::{self, Env, Phase};
use super::rundir::{self, finished};
use crate::run::kinds::{Dataset, Method};
use crate::run::RunConfig;
use crate::{Error, Result};

/// The context every method runs in: [`Phase`].
pub type Ctx<'a> = Phase<'a>;

/// Run (or resume) `lottery prune <cfg.method>`; returns the run directory.
pub fn run_prune(cfg: &RunConfig, env: &Env) -> Result<PathBuf> {
    cfg.validate()?;
    if !cfg.method.is_prune() {
        return Err(Error::param(
            "method",
            format!(
                "`{}` is not a pruning method ({})",
                cfg.method,
                Method::NAMES[2..].join(", ")
            ),
        ));
    }
    if cfg.budget.sparsity <= 0.0 {
        return Err(Error::param(
            "sparsity",
            "set a sparsity in (0, 1) (fraction of prunable weights removed)",
        ));
    }
    let data_free = cfg.dataset == Dataset::None;
    if data_free && !cfg.method.is_data_free() {
        return Err(Error::param(
            "dataset",
            format!(
                "`{}` needs data; only synflow, magnitude-init, random run with --dataset none",
                cfg.method,
            ),
        ));
    }
    let run_dir = env.run_dir(cfg)?;
    let _run = env.open(&run_dir, cfg, "prune", &[])?;
    if finished(&run_dir)?.is_some_and(|s| s.method.is_some()) {
        return Ok(run_dir);
    }
    rundir::write_config(&run_dir, cfg, false)?;
    let data = if data_free {
        Data::none(cfg)
    } else {
        load_data(cfg, env.data_dir.as_deref(), env.device)?
    };
    let (vs, net, _) = phase::network_of(cfg, &data, env.device, &run_dir)?;
    let x = params::prunable(&vs, &net);
    let iterations = if data_free {
        0
    } else {
        cfg.total_iterations(data.train_len())
    };
    let ctx = Phase::new(cfg, env, &net, &vs, &data, &x, &run_dir, iterations);
    ctx.target.check()?;
    let (mut summary, trace) = match cfg.method {
        Method::Snip
        | Method::Grasp
        | Method::Synflow
        | Method::MagnitudeInit
        | Method::Random
        | Method::Oracle => pai::run(&ctx)?,
        Method::Supermask => supermask::run(&ctx)?,
        Method::EdgePopup => edge_popup::run(&ctx)?,
        Method::Continuous => continuous::run(&ctx)?,
        Method::EarlyBird => early_bird::run(&ctx)?,
        Method::Iht | Method::Sfw | Method::Md | Method::Greedy => convex::run(&ctx)?,
        Method::Dpf | Method::Gradual => dynamic::run(&ctx)?,
        Method::GroupLasso => group::run(&ctx)?,
        Method::Acdc => acdc::run(&ctx)?,
        Method::Rigl | Method::Set => dst::run(&ctx)?,
        Method::Imp | Method::Lmc => unreachable!("refused above"),
    };
    summary.method = Some(cfg.method.to_string());
    summary.trace = Some(trace);
    rundir::write_summary(&run_dir, &summary)?;
    Ok(run_dir)
}
