//! Running a method of the zoo (feature `torch`): [`run_prune`] — the checks, the run
//! directory, the data, the network and its [`Phase`], then the method's file's `run` through
//! the registry's dispatch — and the context every method runs in ([`Ctx`]).

use std::path::PathBuf;

use crate::nn::data::{load_data, Data};
use crate::nn::params;
use crate::nn::phase::{self, Env, Phase};
use crate::nn::rundir::{self, finished, Summary};
use crate::run::kinds::Dataset;
use crate::run::RunConfig;
use crate::zoo::Method;
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
                Method::prune_methods()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    // The budget's settings for this method, with a sparsity target (one place, one message).
    cfg.budget.check_for(
        &format!("`{}`", cfg.method),
        cfg.method.spec().accepts,
        true,
        || Method::takers(cfg.budget.structure),
    )?;
    let data_free = cfg.dataset == Dataset::None;
    if data_free && !cfg.method.is_data_free() {
        let free: Vec<&str> = Method::prune_methods()
            .filter(|m| m.is_data_free())
            .map(Method::as_str)
            .collect();
        return Err(Error::param(
            "dataset",
            format!(
                "`{}` needs data; only {} run with --dataset none",
                cfg.method,
                free.join(", ")
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
    let (mut summary, trace) = dispatch(&ctx)?;
    summary.method = Some(cfg.method.to_string());
    summary.trace = Some(trace);
    rundir::write_summary(&run_dir, &summary)?;
    Ok(run_dir)
}

/// The method's own `run`, found through the registry (`zoo::families!`): each file's
/// `run(ctx)` serves the methods it declares.
fn dispatch(ctx: &Ctx) -> Result<(Summary, serde_json::Value)> {
    macro_rules! by_family {
        ($($module:ident),+) => {
            match ctx.cfg.method.family() {
                $(Some(stringify!($module)) => crate::zoo::$module::run(ctx),)+
                _ => unreachable!("imp and lmc are refused before the dispatch"),
            }
        };
    }
    crate::zoo::families!(by_family)
}
