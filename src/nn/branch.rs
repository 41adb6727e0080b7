//! The branches of a finished IMP level: the baselines (random reinitialization, random
//! pruning, the pruned architecture from scratch), the early-phase perturbations and ticket
//! transfer. Each trains into `<run>/level_<L>/branch_<name>/` with the level's files.

use std::path::{Path, PathBuf};

use sha2::Digest;
use tch::Tensor;

use super::imp::random_mask_like;
use super::params;
use super::perturb;
use super::phase::{Env, Phase, Segment};
use super::rundir;
use crate::run::kinds::BranchKind;
use crate::{Error, Result};

/// The branches of a level:
///
/// * `random-reinit` — same mask, fresh initialization;
/// * `random-prune` — random mask with the same per-layer or global survival, original
///   initialization;
/// * `scratch` — the pruned architecture (per-layer survival) with a random mask and a fresh
///   initialization (Liu et al. 2019);
/// * `perturb-shuffle`, `perturb-reinit`, `perturb-signs`, `perturb-constant` — the early-phase
///   perturbations of Frankle, Schwab & Morcos 2020: the level's mask, the weights at the rewind
///   point (iteration $k$ of the run, or the initialization) with the kept weights shuffled
///   within each layer, redrawn, given random signs, or set to the layer's standard deviation
///   with their signs ([`crate::nn::perturb`]); training resumes at $k$;
/// * `transfer` — ticket transfer (Morcos et al. 2019): the level's mask and rewind weights
///   trained under other settings (`overrides`: e.g. `dataset=teacher`, `optimizer=sgd`,
///   `lr=0.1`); the input shape and classes must match.
///
/// Written to `<run>/level_<L>/branch_<name>[_s<seed>]/` (`transfer`:
/// `branch_transfer_<sha of the overrides>`); returns that directory.
pub fn run_branch(
    kind: BranchKind,
    run_dir: &Path,
    level: usize,
    seed: u64,
    overrides: &[(String, String)],
    env: &Env,
) -> Result<PathBuf> {
    let (run_cfg, ldir) = rundir::finished_level(run_dir, level)?;
    if kind == BranchKind::Transfer && overrides.is_empty() {
        return Err(Error::param(
            "set",
            "transfer needs at least one --set KEY=VALUE (dataset, optimizer, lr, …)",
        ));
    }
    let mut cfg = run_cfg.clone();
    for (k, v) in overrides {
        cfg.set(k, v)?;
    }
    let mut name = if seed == 0 {
        format!("branch_{kind}")
    } else {
        format!("branch_{kind}_s{seed}")
    };
    if kind == BranchKind::Transfer {
        let text: String = overrides
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect();
        let sha = sha2::Sha256::digest(text.as_bytes());
        name.push('_');
        name.extend(sha.iter().take(6).map(|b| format!("{b:02x}")));
    }
    let dir = ldir.join(name);
    let _run = env.open(
        &dir,
        &cfg,
        "branch",
        &[
            ("branch", serde_json::json!(kind.to_string())),
            ("branch_seed", serde_json::json!(seed)),
            ("branch_level", serde_json::json!(level)),
        ],
    )?;
    if rundir::is_finished(&dir)? {
        return Ok(dir);
    }
    let data = super::data::load_data(&cfg, env.data_dir.as_deref(), env.device)?;
    let (vs, net) = super::phase::build_network(&cfg, &data, env.device)?;
    let init = cfg.init;
    let params = params::prunable(&vs, &net);
    let level_mask = rundir::load_mask(&ldir.join(rundir::MASK), &params)?;
    let reseed = 1_000_003u64.wrapping_mul(seed + 1) ^ cfg.seed;
    let fresh_init = || -> Result<()> {
        tch::manual_seed(reseed as i64);
        net.reinitialize(&vs, init);
        Ok(())
    };
    // The rewind point of the run: iteration k's weights, or the initialization.
    let rewind_k = run_cfg.rewind.late();
    let rewind_point = || -> Result<(usize, Vec<(String, Tensor)>)> {
        let (k, file) = match rewind_k {
            Some(k) => (k, rundir::REWIND),
            None => (0, rundir::INIT),
        };
        let named = rundir::load_tensors(&run_dir.join(file))?;
        let vars = vs.variables();
        for (n, t) in &named {
            match vars.get(n) {
                Some(v) if v.size() == t.size() => {}
                _ => {
                    return Err(Error::Shape(format!(
                        "`{n}` of the run does not fit the model on this dataset"
                    )))
                }
            }
        }
        Ok((k, named))
    };
    let mut start = 0;
    let mask = match kind {
        BranchKind::RandomReinit => {
            fresh_init()?;
            level_mask
        }
        BranchKind::RandomPrune => {
            params::assign(&vs, &rundir::load_tensors(&run_dir.join(rundir::INIT))?)?;
            random_mask_like(&cfg, &net, &params, &level_mask, reseed)?
        }
        BranchKind::Scratch => {
            fresh_init()?;
            random_mask_like(&cfg, &net, &params, &level_mask, reseed)?
        }
        BranchKind::PerturbShuffle
        | BranchKind::PerturbReinit
        | BranchKind::PerturbSigns
        | BranchKind::PerturbConstant
        | BranchKind::Transfer => {
            let (k, named) = rewind_point()?;
            if !rundir::has_checkpoint(&dir) {
                params::assign(&vs, &named)?;
                if let Some(action) = kind.perturbation() {
                    let fresh = perturb::fresh_init(&net, &vs, init, reseed)?;
                    let mut x = params.shallow_clone();
                    perturb::perturb(&mut x, &level_mask, action, Some(&fresh), reseed)?;
                }
            }
            start = if kind == BranchKind::Transfer && overrides.iter().any(|(k, _)| k == "dataset")
            {
                0
            } else {
                k
            };
            level_mask
        }
    };
    let iterations = cfg.total_iterations(data.train_len());
    let ctx = Phase::new(&cfg, env, &net, &vs, &data, &params, run_dir, iterations);
    ctx.train(
        &mask,
        level,
        cfg.lr,
        &Segment {
            start: start.min(iterations),
            snapshots: vec![],
            ..Segment::default()
        },
        &dir,
    )?;
    Ok(dir)
}
