//! Iterative magnitude pruning (Frankle & Carbin 2019) with rewinding to initialization or to
//! iteration $k$ (Frankle et al. 2020), learning-rate rewinding and fine-tuning (Renda et al.
//! 2020), as hash-named, resumable runs.
//!
//! Level 0 trains the dense network. Each next level takes the previous level's final weights,
//! removes a fraction of the **remaining** weights by magnitude — per layer (`layerwise`, with
//! the fc / conv / output rates) or with one budget over the pool (`global`,
//! [`crate::select::Budget::Pooled`]) — through [`crate::select::Largest`], and trains again
//! from the rewound weights (or, for `lr` and `finetune`, from the final weights). Counts are
//! rounded per level: kept = round(remaining × (1 − rate)).
//!
//! Retraining after pruning follows Renda, Frankle & Carbin (2020) with a retraining budget
//! $t$ (`retrain`; default the full length $T$): **weight rewinding** to $k$ rewinds weights
//! and schedule to iteration $k$ and retrains $T-k$; **learning-rate rewinding** keeps the final
//! weights and replays the schedule's last $t$ iterations; **fine-tuning** keeps the final
//! weights and trains $t$ iterations at the schedule's final learning rate. Under a constant
//! schedule the last two coincide (the final rate is the rate), so the comparison needs a
//! decaying schedule (`lr_drop_iterations`, `lr_gamma`) — see [`level_segment`].
//!
//! Layout: [`super::rundir`]; a level with `summary.json` is skipped, an interrupted one
//! resumes from its checkpoint. The baselines of a level are [`super::branch`].

use std::path::PathBuf;

use super::models::Network;
use super::params::{self, Params};
use super::phase::{self, Env, Phase, Segment};
use super::rundir::{self, level_dir};
use super::target::target;
use crate::run::{Rewind, RunConfig};
use crate::select::{Largest, Mask, Random, Rule, Scores};
use crate::space::SparseVector;
use crate::Result;

/// The mask of the next level: prune `rate` of the remaining weights of each prunable tensor by
/// magnitude (or over the pool), never reviving a pruned weight; the output layer is left alone
/// when `prune_output` is false.
pub fn next_mask(cfg: &RunConfig, net: &Network, weights: &Params, mask: &Mask) -> Result<Mask> {
    let scores = weights.to_scores();
    // |w| + 1 on kept weights, 0 on pruned ones: the top-k never picks a pruned weight.
    let shifted: Vec<f64> = scores
        .values()
        .iter()
        .enumerate()
        .map(|(i, v)| if mask.contains(i) { v.abs() + 1.0 } else { 0.0 })
        .collect();
    let rates: Vec<f64> = (0..weights.names.len())
        .map(|g| {
            if cfg.oneshot > 0.0 {
                cfg.oneshot
            } else if weights.names[g] == net.output {
                cfg.rate_output
            } else if weights.tensors[g].dim() == 4 {
                cfg.rate_conv
            } else {
                cfg.rate_fc
            }
        })
        .collect();
    let global = if cfg.oneshot > 0.0 {
        cfg.oneshot
    } else {
        cfg.rate_global
    };
    let budget = target(cfg, net, weights).budget_of_remaining(mask, &rates, global)?;
    Largest.select(
        &Scores::from_parts(shifted, &scores.group_sizes())?,
        &budget,
    )
}

/// A random mask with the same survival as `mask`: the same count per tensor (layerwise) or the
/// same total over the pool (global); tensors outside the pool stay full.
pub fn random_mask_like(
    cfg: &RunConfig,
    net: &Network,
    params: &Params,
    mask: &Mask,
    seed: u64,
) -> Result<Mask> {
    let sizes = params.group_sizes();
    let zeros = Scores::from_parts(vec![0.0; sizes.iter().sum()], &sizes)?;
    let budget = target(cfg, net, params).budget_like(mask)?;
    Random { seed }.select(&zeros, &budget)
}

/// Run (or resume) IMP for `cfg.levels` levels; returns the run directory.
pub fn run_imp(cfg: &RunConfig, env: &Env) -> Result<PathBuf> {
    cfg.validate()?;
    let run_dir = env.run_dir(cfg)?;
    let _run = env.open(&run_dir, cfg, "imp", &[])?;
    rundir::write_config(&run_dir, cfg, true)?;
    let data = super::data::load_data(cfg, env.data_dir.as_deref(), env.device)?;
    let (vs, net, init_path) = phase::network_of(cfg, &data, env.device, &run_dir)?;
    let params = params::prunable(&vs, &net);
    let iterations = cfg.total_iterations(data.train_len());
    let ctx = Phase::new(cfg, env, &net, &vs, &data, &params, &run_dir, iterations);
    ctx.target.check()?;
    let mut mask = Mask::full(&params.group_sizes());
    for level in 0..=cfg.levels {
        let dir = level_dir(&run_dir, level);
        rundir::create(&dir)?;
        if level > 0 {
            let prev = level_dir(&run_dir, level - 1);
            params::assign(&vs, &rundir::load_tensors(&prev.join(rundir::FINAL))?)?;
            mask = next_mask(cfg, &net, &params, &mask)?;
        }
        if rundir::is_finished(&dir)? {
            mask = rundir::load_mask(&dir.join(rundir::MASK), &params)?;
            continue;
        }
        // Start weights of this level: rewound (init or k), or the previous final weights.
        let start_from_final = level > 0 && matches!(cfg.rewind, Rewind::Lr | Rewind::Finetune);
        if !start_from_final && !rundir::has_checkpoint(&dir) {
            let source = match cfg.rewind.late() {
                Some(_) if level > 0 => run_dir.join(rundir::REWIND),
                _ => init_path.clone(),
            };
            params::assign(&vs, &rundir::load_tensors(&source)?)?;
        }
        let segment = level_segment(cfg, &run_dir, level, iterations, data.train_len())?;
        ctx.train(&mask, level, cfg.lr, &segment, &dir)?;
    }
    Ok(run_dir)
}

/// Where level `level` of an IMP run starts and at what learning rate. Late rewinding: level 0
/// saves the weights at iteration $k$; later levels restart from them at iteration $k$ (same
/// schedule and data order from there on). Learning-rate rewinding (levels $\ge 1$) replays the
/// schedule's last `retrain` iterations; fine-tuning trains `retrain` iterations at the constant
/// rate `finetune_lr`, by default the schedule's final rate (Renda et al. 2020).
pub fn level_segment(
    cfg: &RunConfig,
    run_dir: &std::path::Path,
    level: usize,
    iterations: usize,
    train_len: usize,
) -> Result<Segment> {
    let budget = match cfg.retrain {
        0 => iterations,
        t if t <= iterations => t,
        t => {
            return Err(crate::Error::param(
                "retrain",
                format!("{t} iterations exceed the training length {iterations}"),
            ))
        }
    };
    Ok(match cfg.rewind {
        Rewind::Iteration(k) if k > 0 && level == 0 => Segment {
            snapshots: vec![(k.min(iterations), run_dir.join(rundir::REWIND))],
            ..Segment::default()
        },
        Rewind::Iteration(k) if k > 0 => Segment {
            start: k.min(iterations),
            ..Segment::default()
        },
        Rewind::Lr if level > 0 => Segment {
            start: iterations - budget,
            ..Segment::default()
        },
        Rewind::Finetune if level > 0 => Segment {
            start: iterations - budget,
            constant_lr: Some(finetune_lr(cfg, iterations, train_len)),
            ..Segment::default()
        },
        _ => Segment::default(),
    })
}

/// The fine-tuning learning rate: `finetune_lr`, or when it is 0 the schedule's rate at its
/// last iteration $T-1$ (Renda et al.'s definition).
pub fn finetune_lr(cfg: &RunConfig, iterations: usize, train_len: usize) -> f64 {
    if cfg.finetune_lr > 0.0 {
        cfg.finetune_lr
    } else {
        let per_epoch = (train_len / cfg.batch).max(1);
        phase::lr_at(cfg, cfg.lr, iterations.saturating_sub(1), per_epoch)
    }
}
