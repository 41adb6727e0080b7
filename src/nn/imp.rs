//! Iterative magnitude pruning (Frankle & Carbin 2019) with rewinding to initialization or to
//! iteration $k$ (Frankle et al. 2020), learning-rate rewinding and fine-tuning (Renda et al.
//! 2020), as hash-named, resumable runs.
//!
//! Level 0 trains the dense network. Each next level takes the previous level's final weights,
//! removes a fraction of the **remaining** weights by magnitude — per layer (`layerwise`, with
//! the fc / conv / output rates) or with one global budget — through [`crate::select::Largest`],
//! and trains again from the rewound weights (or, for `lr` and `finetune`, from the final
//! weights). Counts are rounded per level: kept = round(remaining × (1 − rate)).
//!
//! Layout: `<runs>/<hash>/level_<L>/{config.toml, mask.safetensors, start.safetensors,
//! final.safetensors, metrics.csv, summary.json}`; a level with `summary.json` is skipped, an
//! interrupted one resumes from its checkpoint.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;
use tch::{nn::VarStore, Device, Kind, Tensor};

use super::models::{Arch, Init, Network};
use super::params::Params;
use super::train::{self, Data, MetricRow};
use crate::run::{level_dir, RunConfig, RunLock};
use crate::select::{Budget, Largest, Mask, Random, Rule, Scores};
use crate::space::SparseVector;
use crate::{Error, Result};

/// Per-layer survival in `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerCount {
    /// Tensor name.
    pub name: String,
    /// Weights kept.
    pub kept: usize,
    /// Weights in the tensor.
    pub total: usize,
}

/// `summary.json` of a level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Level.
    pub level: usize,
    /// Per prunable tensor.
    pub layers: Vec<LayerCount>,
    /// Fraction of prunable weights remaining.
    pub remaining: f64,
    /// Test accuracy at the end of training.
    #[serde(deserialize_with = "nan_if_null")]
    pub final_test_accuracy: f64,
    /// Best test accuracy over the evaluations.
    #[serde(deserialize_with = "nan_if_null")]
    pub best_test_accuracy: f64,
    /// Iteration of minimum validation loss (early stopping).
    pub early_stop_iteration: usize,
    /// Test accuracy at that iteration.
    #[serde(deserialize_with = "nan_if_null")]
    pub early_stop_test_accuracy: f64,
    /// On the planted-teacher dataset with matching layer shapes: per layer, the fraction of the
    /// planted support that the mask keeps, $|M \cap S^\star| / |S^\star|$ (a random mask of
    /// density $\rho$ keeps $\rho$ of it in expectation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planted_overlap: Option<Vec<f64>>,
    /// `lottery prune` runs: the method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// `lottery prune` runs: what the method recorded on the way (early-bird detection and
    /// distances, SynFlow rounds, continuous-sparsification rounds, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<serde_json::Value>,
}

/// JSON writes NaN (no evaluation: data-free runs) as `null`; read it back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Per group, $|M \cap S| / |S|$, when the masks have the same groups.
pub fn planted_overlap(mask: &Mask, planted: &Mask) -> Option<Vec<f64>> {
    let both = mask.intersection(planted).ok()?;
    Some(
        (0..mask.n_groups())
            .map(|g| both.group_count(g) as f64 / planted.group_count(g).max(1) as f64)
            .collect(),
    )
}

/// Where the options come from at run time (not part of the run's hash).
#[derive(Clone, Debug)]
pub struct Env {
    /// Root of the runs (`runs/`).
    pub runs: PathBuf,
    /// Dataset directory override.
    pub data_dir: Option<PathBuf>,
    /// Device.
    pub device: Device,
    /// Show a progress bar.
    pub progress: bool,
}

/// The model and initialization a config names.
pub fn arch_of(cfg: &RunConfig) -> Result<(Arch, Init)> {
    let init = if cfg.init == "glorot" {
        Init::Glorot
    } else {
        Init::Kaiming
    };
    Ok((cfg.model.parse()?, init))
}

/// The mask of the next level: prune `rate` of the remaining weights of each prunable tensor by
/// magnitude (or globally), never reviving a pruned weight; the output layer is left alone when
/// `prune_output` is false.
pub fn next_mask(cfg: &RunConfig, net: &Network, weights: &Params, mask: &Mask) -> Result<Mask> {
    let scores = weights.to_scores();
    let sizes = scores.group_sizes();
    // |w| + 1 on kept weights, 0 on pruned ones: the top-k never picks a pruned weight.
    let shifted: Vec<f64> = scores
        .values()
        .iter()
        .enumerate()
        .map(|(i, v)| if mask.contains(i) { v.abs() + 1.0 } else { 0.0 })
        .collect();
    let is_output = |g: usize| weights.names[g] == net.output;
    let prunable = |g: usize| cfg.prune_output || !is_output(g);
    let remaining: Vec<usize> = (0..sizes.len()).map(|g| mask.group_count(g)).collect();
    let budget = if cfg.strategy == "layerwise" {
        Budget::PerGroupK(
            (0..sizes.len())
                .map(|g| {
                    let rate = if !prunable(g) {
                        0.0
                    } else if cfg.oneshot > 0.0 {
                        cfg.oneshot
                    } else if is_output(g) {
                        cfg.rate_output
                    } else if weights.tensors[g].dim() == 4 {
                        cfg.rate_conv
                    } else {
                        cfg.rate_fc
                    };
                    (remaining[g] as f64 * (1.0 - rate)).round() as usize
                })
                .collect(),
        )
    } else {
        // One budget over the prunable tensors; excluded tensors keep their weights.
        let pool: usize = (0..sizes.len())
            .filter(|&g| prunable(g))
            .map(|g| remaining[g])
            .sum();
        let rate = if cfg.oneshot > 0.0 {
            cfg.oneshot
        } else {
            cfg.rate_global
        };
        let keep = (pool as f64 * (1.0 - rate)).round() as usize;
        let mut values = shifted.clone();
        for g in (0..sizes.len()).filter(|&g| !prunable(g)) {
            for i in mask.group_range(g) {
                values[i] = 0.0;
            }
        }
        let chosen = Largest.select(
            &Scores::from_parts(values, &sizes)?,
            &Budget::TopK(keep.max(1)),
        )?;
        let mut out = chosen;
        for g in (0..sizes.len()).filter(|&g| !prunable(g)) {
            for i in mask.group_range(g) {
                if mask.contains(i) {
                    out.insert(i);
                }
            }
        }
        return Ok(out);
    };
    Largest.select(&Scores::from_parts(shifted, &sizes)?, &budget)
}

/// Write a mask as `mask.safetensors` (u8 0/1 per prunable tensor).
pub fn save_mask(path: &Path, params: &Params, mask: &Mask) -> Result<()> {
    let named: Vec<(String, Tensor)> = (0..params.names.len())
        .map(|g| {
            let size = params.tensors[g].size();
            (
                params.names[g].clone(),
                Tensor::from_slice(&mask.group_bytes(g)).view(size.as_slice()),
            )
        })
        .collect();
    train::save_tensors(path, &named)
}

/// Read a `mask.safetensors` (u8 0/1 per prunable tensor) back into a [`Mask`].
pub fn load_mask(path: &Path, params: &Params) -> Result<Mask> {
    let named = train::load_tensors(path)?;
    let mut bytes = Vec::new();
    for name in &params.names {
        let t = &named
            .iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| Error::Format {
                path: path.to_path_buf(),
                reason: format!("no tensor `{name}`"),
            })?
            .1;
        bytes.extend(
            Vec::<u8>::try_from(&t.flatten(0, -1).to_kind(Kind::Uint8)).map_err(|e| {
                Error::Format {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                }
            })?,
        );
    }
    Mask::from_bytes(&bytes, &params.group_sizes())
}

pub(crate) fn write_metrics(path: &Path, rows: &[MetricRow]) -> Result<()> {
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.iteration.to_string(),
                r.split.clone(),
                format!("{:.6}", r.loss),
                format!("{:.6}", r.accuracy),
            ]
        })
        .collect();
    crate::plot::write_csv(path, &["iteration", "split", "loss", "accuracy"], &table)
}

pub(crate) fn summarize(
    level: usize,
    params: &Params,
    mask: &Mask,
    metrics: &[MetricRow],
    planted: Option<&Mask>,
) -> Summary {
    let layers: Vec<LayerCount> = (0..params.names.len())
        .map(|g| LayerCount {
            name: params.names[g].clone(),
            kept: mask.group_count(g),
            total: mask.group_range(g).len(),
        })
        .collect();
    let test: Vec<&MetricRow> = metrics.iter().filter(|r| r.split == "test").collect();
    let val: Vec<&MetricRow> = metrics.iter().filter(|r| r.split == "val").collect();
    let best_val = val.iter().min_by(|a, b| {
        a.loss
            .total_cmp(&b.loss)
            .then(a.iteration.cmp(&b.iteration))
    });
    let early = best_val.map(|r| r.iteration).unwrap_or(0);
    Summary {
        level,
        remaining: mask.density(),
        layers,
        final_test_accuracy: test.last().map(|r| r.accuracy).unwrap_or(f64::NAN),
        best_test_accuracy: test.iter().map(|r| r.accuracy).fold(f64::NAN, f64::max),
        early_stop_iteration: early,
        early_stop_test_accuracy: test
            .iter()
            .find(|r| r.iteration == early)
            .map(|r| r.accuracy)
            .unwrap_or(f64::NAN),
        planted_overlap: planted.and_then(|p| planted_overlap(mask, p)),
        method: None,
        trace: None,
    }
}

/// Everything one level's training needs.
#[derive(Clone, Copy)]
pub(crate) struct Level<'a> {
    pub(crate) cfg: &'a RunConfig,
    pub(crate) env: &'a Env,
    pub(crate) net: &'a Network,
    pub(crate) vs: &'a VarStore,
    pub(crate) data: &'a Data,
    pub(crate) params: &'a Params,
}

impl Level<'_> {
    /// Train the network from its current weights under `mask` into `dir` (see
    /// [`Level::train_with`]).
    pub(crate) fn train(
        &self,
        mask: &Mask,
        level: usize,
        base_lr: f64,
        iterations: usize,
        segment: &train::Segment,
        dir: &Path,
    ) -> Result<Summary> {
        let mut p = self.params.shallow_clone();
        p.apply_mask(mask);
        let mut fixed = train::FixedMask::new(
            train::optimizer_kind(self.cfg),
            self.cfg.weight_decay,
            self.params,
            mask,
            vec![],
        );
        Ok(self
            .train_with(&mut fixed, level, base_lr, iterations, segment, dir)?
            .0)
    }

    /// Train the network from its current weights under `dynamics` into `dir`: writes the
    /// config, the start weights and the mask, trains (resuming a checkpoint if there is one),
    /// then writes the final weights, the final mask, `metrics.csv` and `summary.json`.
    pub(crate) fn train_with(
        &self,
        dynamics: &mut dyn train::Dynamics,
        level: usize,
        base_lr: f64,
        iterations: usize,
        segment: &train::Segment,
        dir: &Path,
    ) -> Result<(Summary, train::Trained)> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
        if !dir.join("config.toml").exists() {
            crate::io::write_atomic(&dir.join("config.toml"), self.cfg.to_toml().as_bytes())?;
        }
        if !dir.join("checkpoint.json").exists() {
            save_mask(&dir.join("mask.safetensors"), self.params, &dynamics.mask())?;
            train::save_tensors(&dir.join("start.safetensors"), &train::named_vars(self.vs))?;
        }
        let trained = train::Loop {
            cfg: self.cfg,
            net: self.net,
            vs: self.vs,
            data: self.data,
            base_lr,
            iterations,
            segment,
            dir,
            show_progress: self.env.progress,
        }
        .train_with(dynamics)?;
        let mask = dynamics.mask();
        save_mask(&dir.join("mask.safetensors"), self.params, &mask)?;
        train::save_tensors(&dir.join("final.safetensors"), &train::named_vars(self.vs))?;
        let summary = self.finish(dir, level, &mask, &trained.metrics)?;
        Ok((summary, trained))
    }

    /// Write `metrics.csv` and `summary.json` of a finished training into `dir`.
    pub(crate) fn finish(
        &self,
        dir: &Path,
        level: usize,
        mask: &Mask,
        metrics: &[MetricRow],
    ) -> Result<Summary> {
        write_metrics(&dir.join("metrics.csv"), metrics)?;
        let summary = summarize(
            level,
            self.params,
            mask,
            metrics,
            self.data.planted.as_ref(),
        );
        write_summary(dir, &summary)?;
        Ok(summary)
    }
}

/// Write `summary.json` atomically.
pub(crate) fn write_summary<T: Serialize>(dir: &Path, summary: &T) -> Result<()> {
    let json = serde_json::to_string_pretty(summary)
        .map_err(|e| Error::param("summary", e.to_string()))?;
    crate::io::write_atomic(&dir.join("summary.json"), json.as_bytes())
}

/// A random mask with the same survival as `mask`: the same count per tensor (layerwise) or the
/// same total over the prunable tensors (global); tensors excluded from pruning stay full.
pub fn random_mask_like(
    cfg: &RunConfig,
    net: &Network,
    params: &Params,
    mask: &Mask,
    seed: u64,
) -> Result<Mask> {
    let sizes = params.group_sizes();
    let zeros = Scores::from_parts(vec![0.0; sizes.iter().sum()], &sizes)?;
    let counts: Vec<usize> = (0..sizes.len()).map(|g| mask.group_count(g)).collect();
    if cfg.strategy == "layerwise" {
        return Random { seed }.select(&zeros, &Budget::PerGroupK(counts));
    }
    let excluded: Vec<usize> = (0..sizes.len())
        .filter(|&g| !cfg.prune_output && params.names[g] == net.output)
        .collect();
    let pool: Vec<usize> = (0..sizes.len()).filter(|g| !excluded.contains(g)).collect();
    let pool_sizes: Vec<usize> = pool.iter().map(|&g| sizes[g]).collect();
    let total: usize = pool.iter().map(|&g| counts[g]).sum();
    let inner = Random { seed }.select(
        &Scores::from_parts(vec![0.0; pool_sizes.iter().sum()], &pool_sizes)?,
        &Budget::TopK(total.max(1)),
    )?;
    let mut out = Mask::full(&sizes);
    for (j, &g) in pool.iter().enumerate() {
        let (dst, src) = (mask.group_range(g), inner.group_range(j));
        for (a, b) in dst.zip(src) {
            if !inner.contains(b) {
                out.remove(a);
            }
        }
    }
    Ok(out)
}

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
///   with their signs ([`crate::nn::zoo::perturb`]); training resumes at $k$;
/// * `transfer` — ticket transfer (Morcos et al. 2019): the level's mask and rewind weights
///   trained under other settings (`overrides`: e.g. `dataset=teacher`, `optimizer=sgd`,
///   `lr=0.1`); the input shape and classes must match.
///
/// Written to `<run>/level_<L>/branch_<name>[_s<seed>]/` (`transfer`:
/// `branch_transfer_<sha of the overrides>`); returns that directory.
pub fn run_branch(
    kind: &str,
    run_dir: &Path,
    level: usize,
    seed: u64,
    overrides: &[(String, String)],
    env: &Env,
) -> Result<PathBuf> {
    let text = std::fs::read_to_string(run_dir.join("config.toml")).map_err(|e| Error::Io {
        path: run_dir.join("config.toml"),
        source: e,
    })?;
    let run_cfg = RunConfig::from_toml(&text, None)?;
    let ldir = level_dir(run_dir, level);
    if !ldir.join("summary.json").exists() {
        return Err(Error::param(
            "level",
            format!("{} has not finished (no summary.json)", ldir.display()),
        ));
    }
    const KINDS: [&str; 8] = [
        "random-reinit",
        "random-prune",
        "scratch",
        "perturb-shuffle",
        "perturb-reinit",
        "perturb-signs",
        "perturb-constant",
        "transfer",
    ];
    if !KINDS.contains(&kind) {
        return Err(Error::param(
            "branch",
            format!("unknown branch `{kind}` ({})", KINDS.join(", ")),
        ));
    }
    if kind == "transfer" && overrides.is_empty() {
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
    if kind == "transfer" {
        let text: String = overrides
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect();
        let sha = sha2::Sha256::digest(text.as_bytes());
        name.push('_');
        name.extend(sha.iter().take(6).map(|b| format!("{b:02x}")));
    }
    let dir = ldir.join(name);
    let _lock = RunLock::acquire(&dir)?;
    if dir.join("summary.json").exists() {
        return Ok(dir);
    }
    let data = train::load_data(&cfg, env.data_dir.as_deref(), env.device)?;
    let (arch, init) = arch_of(&cfg)?;
    tch::manual_seed(cfg.seed as i64);
    let vs = VarStore::new(env.device);
    let net = Network::new(&vs, arch, data.shape, data.classes, init)?;
    let params = train::prunable(&vs, &net);
    let level_mask = load_mask(&ldir.join("mask.safetensors"), &params)?;
    let reseed = 1_000_003u64.wrapping_mul(seed + 1) ^ cfg.seed;
    let fresh_init = || -> Result<()> {
        tch::manual_seed(reseed as i64);
        net.reinitialize(&vs, init);
        Ok(())
    };
    // The rewind point of the run: iteration k's weights, or the initialization.
    let rewind_k = run_cfg.rewind.parse::<usize>().ok().filter(|&k| k > 0);
    let rewind_point = || -> Result<(usize, Vec<(String, Tensor)>)> {
        let (k, file) = match rewind_k {
            Some(k) => (k, "rewind.safetensors"),
            None => (0, "init.safetensors"),
        };
        let named = train::load_tensors(&run_dir.join(file))?;
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
        "random-reinit" => {
            fresh_init()?;
            level_mask
        }
        "random-prune" => {
            train::assign(
                &vs,
                &train::load_tensors(&run_dir.join("init.safetensors"))?,
            )?;
            random_mask_like(&cfg, &net, &params, &level_mask, reseed)?
        }
        "scratch" => {
            fresh_init()?;
            random_mask_like(&cfg, &net, &params, &level_mask, reseed)?
        }
        _ => {
            let (k, named) = rewind_point()?;
            if !dir.join("checkpoint.json").exists() {
                train::assign(&vs, &named)?;
                let action = match kind {
                    "perturb-shuffle" => Some(crate::nn::zoo::perturb::Kept::Reshuffle),
                    "perturb-reinit" => Some(crate::nn::zoo::perturb::Kept::Reinit),
                    "perturb-signs" => Some(crate::nn::zoo::perturb::Kept::FlipSigns),
                    "perturb-constant" => Some(crate::nn::zoo::perturb::Kept::SignedConstant),
                    _ => None,
                };
                if let Some(action) = action {
                    let fresh = crate::nn::zoo::perturb::fresh_init(&net, &vs, init, reseed)?;
                    let mut x = params.shallow_clone();
                    crate::nn::zoo::perturb::perturb(
                        &mut x,
                        &level_mask,
                        action,
                        Some(&fresh),
                        reseed,
                    )?;
                }
            }
            start = if kind == "transfer" && overrides.iter().any(|(k, _)| k == "dataset") {
                0
            } else {
                k
            };
            level_mask
        }
    };
    let iterations = cfg.total_iterations(train_size(&data));
    let ctx = Level {
        cfg: &cfg,
        env,
        net: &net,
        vs: &vs,
        data: &data,
        params: &params,
    };
    ctx.train(
        &mask,
        level,
        cfg.lr,
        iterations,
        &train::Segment {
            start: start.min(iterations),
            snapshots: vec![],
        },
        &dir,
    )?;
    Ok(dir)
}

/// The network of a run, built from its config (seeded), holding the run's initialization:
/// `run_dir/init.safetensors`, written on first use and read back on every later one, so that
/// every level, method phase or copy can rewind to it. Returns the store, the network and that
/// file's path.
pub(crate) fn network_of(
    cfg: &RunConfig,
    data: &Data,
    device: Device,
    run_dir: &Path,
) -> Result<(VarStore, Network, PathBuf)> {
    let (arch, init) = arch_of(cfg)?;
    tch::manual_seed(cfg.seed as i64);
    let vs = VarStore::new(device);
    let net = Network::new(&vs, arch, data.shape, data.classes, init)?;
    let init_path = run_dir.join("init.safetensors");
    if init_path.exists() {
        train::assign(&vs, &train::load_tensors(&init_path)?)?;
    } else {
        train::save_tensors(&init_path, &train::named_vars(&vs))?;
    }
    Ok((vs, net, init_path))
}

/// Run (or resume) IMP for `cfg.levels` levels; returns the run directory.
pub fn run_imp(cfg: &RunConfig, env: &Env) -> Result<PathBuf> {
    cfg.validate()?;
    let run_dir = env.runs.join(cfg.hash()?);
    let _lock = RunLock::acquire(&run_dir)?;
    crate::io::write_atomic(&run_dir.join("config.toml"), cfg.to_toml().as_bytes())?;
    let data = train::load_data(cfg, env.data_dir.as_deref(), env.device)?;
    let (vs, net, init_path) = network_of(cfg, &data, env.device, &run_dir)?;
    let params = train::prunable(&vs, &net);
    let n_train = data.train.1.size()[0] as usize;
    let iterations = cfg.total_iterations(n_train);
    let rewind_k: Option<usize> = cfg.rewind.parse().ok();
    let mut mask = Mask::full(&params.group_sizes());
    for level in 0..=cfg.levels {
        let dir = level_dir(&run_dir, level);
        std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
            path: dir.clone(),
            source: e,
        })?;
        if level > 0 {
            let prev = level_dir(&run_dir, level - 1);
            train::assign(&vs, &train::load_tensors(&prev.join("final.safetensors"))?)?;
            mask = next_mask(cfg, &net, &params, &mask)?;
        }
        if dir.join("summary.json").exists() {
            mask = load_mask(&dir.join("mask.safetensors"), &params)?;
            continue;
        }
        // Start weights of this level.
        let (base_lr, start_from_final) = match cfg.rewind.as_str() {
            "lr" if level > 0 => (cfg.lr, true),
            "finetune" if level > 0 => (cfg.finetune_lr, true),
            _ => (cfg.lr, false),
        };
        if !start_from_final && !dir.join("checkpoint.json").exists() {
            let source = match rewind_k {
                Some(k) if level > 0 && k > 0 => run_dir.join("rewind.safetensors"),
                _ => init_path.clone(),
            };
            train::assign(&vs, &train::load_tensors(&source)?)?;
        }
        // Late rewinding: level 0 saves the weights at iteration k; later levels restart from
        // them at iteration k (same schedule and data order from there on).
        let segment = match rewind_k {
            Some(k) if k > 0 && level == 0 => train::Segment {
                start: 0,
                snapshots: vec![(k.min(iterations), run_dir.join("rewind.safetensors"))],
            },
            Some(k) if k > 0 => train::Segment {
                start: k.min(iterations),
                snapshots: vec![],
            },
            _ => train::Segment::default(),
        };
        let level_ctx = Level {
            cfg,
            env,
            net: &net,
            vs: &vs,
            data: &data,
            params: &params,
        };
        level_ctx.train(&mask, level, base_lr, iterations, &segment, &dir)?;
    }
    Ok(run_dir)
}

/// Convenience for tests: train-set size of a loaded dataset.
pub fn train_size(data: &Data) -> usize {
    data.train.1.size()[0] as usize
}
