//! One training phase — an IMP level, a method's search or final training, an LMC copy — and
//! the loop that runs it: learning-rate schedule (warm-up, step drops), evaluation on
//! validation and test every `eval_every` iterations, the early-stopping iteration (minimum
//! validation loss), a progress bar, and a checkpoint at every epoch from which an interrupted
//! phase resumes to exactly the same result on CPU. What moves the prunable weights is a
//! [`Dynamics`]; the files are written through [`super::rundir`].

use std::path::{Path, PathBuf};

use tch::{nn::VarStore, Device, Tensor};

use super::data::Data;
use super::dynamics::{Dynamics, FixedMask, Flow};
use super::models::{Arch, Init, Network};
use super::optim::{Optimizer, OptimizerKind};
use super::params::{assign, named_vars, prunable, Params};
use super::rundir::{self, MetricRow, Progress, Summary};
use super::target::{self, Target};
use crate::data::Batcher;
use crate::run::kinds::OptimizerName;
use crate::run::RunConfig;
use crate::select::Mask;
use crate::space::SparseVector;
use crate::Result;

use super::descent::Before;
pub use super::env::{cpu_threads, Env};
pub use super::models::{evaluate, evaluate_with};

/// How a training segment starts and what it saves on the way.
#[derive(Debug, Default)]
pub struct Segment {
    /// Iteration the segment starts at (late rewinding resumes the schedule and the data order
    /// at $k$); the segment runs to the phase's length.
    pub start: usize,
    /// Save the weights at these iterations to these files (rewind points).
    pub snapshots: Vec<(usize, PathBuf)>,
    /// A constant learning rate for the whole segment instead of the schedule (fine-tuning).
    pub constant_lr: Option<f64>,
    /// Also save the optimizer's state with each snapshot (to
    /// [`snapshot_state_path`]`(path)`: the dynamics' state as `dynamics.*`, the other
    /// variables' optimizer as `optimizer.*` with its step count).
    pub snapshot_state: bool,
    /// Start from this optimizer state (as [`Segment::snapshot_state`] writes it) instead of a
    /// fresh one, when the segment does not resume a checkpoint.
    pub initial_state: Option<Vec<(String, Tensor)>>,
}

/// Where a snapshot's optimizer state goes: `<stem>.state.safetensors` beside it.
pub fn snapshot_state_path(snapshot: &Path) -> PathBuf {
    let stem = snapshot
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    snapshot.with_file_name(format!("{stem}.state.safetensors"))
}

/// What [`Phase::run_loop`] returns.
#[derive(Clone, Debug)]
pub struct Trained {
    /// Validation and test metrics.
    pub metrics: Vec<MetricRow>,
    /// The iteration training ended at (`iterations`, or earlier when the dynamics stopped).
    pub stopped_at: usize,
    /// The dynamics' trace at the end.
    pub trace: serde_json::Value,
}

/// Everything a phase of training needs: the run's settings, network, data, directory,
/// length and sparsity budget. IMP, every method of the zoo, the branches and LMC train
/// through it.
#[derive(Clone)]
pub struct Phase<'a> {
    /// Settings (optimizer, batch, schedule, evaluation, method knobs).
    pub cfg: &'a RunConfig,
    /// Where and how.
    pub env: &'a Env,
    /// The network.
    pub net: &'a Network,
    /// Its variables (holding the initialization when a method starts).
    pub vs: &'a VarStore,
    /// The data (empty for `--dataset none`).
    pub data: &'a Data,
    /// Prunable weights (shared storage with `vs`).
    pub x: &'a Params,
    /// The run directory.
    pub run_dir: &'a Path,
    /// Training length.
    pub iterations: usize,
    /// The sparsity budget.
    pub target: Target,
}

impl<'a> Phase<'a> {
    /// The phase of a run: length from the config and the data, budget from the strategy.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: &'a RunConfig,
        env: &'a Env,
        net: &'a Network,
        vs: &'a VarStore,
        data: &'a Data,
        x: &'a Params,
        run_dir: &'a Path,
        iterations: usize,
    ) -> Self {
        Phase {
            cfg,
            env,
            net,
            vs,
            data,
            x,
            run_dir,
            iterations,
            target: target::target(cfg, net, x),
        }
    }

    /// The same phase under other settings (a different trainer or data order).
    pub fn with_cfg<'b>(&self, cfg: &'b RunConfig) -> Phase<'b>
    where
        'a: 'b,
    {
        Phase {
            cfg,
            ..self.clone()
        }
    }

    /// Train the network from its current weights under a fixed `mask` into `dir` with the
    /// run's optimizer (see [`Phase::train_with`]).
    pub fn train(
        &self,
        mask: &Mask,
        level: usize,
        base_lr: f64,
        segment: &Segment,
        dir: &Path,
    ) -> Result<Summary> {
        let mut p = self.x.shallow_clone();
        p.apply_mask(mask);
        let mut fixed = FixedMask::new(
            optimizer_kind(self.cfg),
            self.cfg.weight_decay,
            self.x,
            mask,
            vec![],
        );
        Ok(self.train_with(&mut fixed, level, base_lr, segment, dir)?.0)
    }

    /// Train the network from its current weights under `dynamics` into `dir`: writes the
    /// config, the start weights and the mask, trains (resuming a checkpoint if there is one),
    /// then writes the final weights, the final mask, `metrics.csv` and `summary.json`.
    pub fn train_with(
        &self,
        dynamics: &mut dyn Dynamics,
        level: usize,
        base_lr: f64,
        segment: &Segment,
        dir: &Path,
    ) -> Result<(Summary, Trained)> {
        rundir::create(dir)?;
        rundir::write_config(dir, self.cfg, false)?;
        if !rundir::has_checkpoint(dir) {
            rundir::save_mask(&dir.join(rundir::MASK), self.x, &dynamics.mask())?;
            rundir::save_tensors(&dir.join(rundir::START), &named_vars(self.vs))?;
        }
        let trained = self.run_loop(dynamics, base_lr, self.iterations, segment, dir)?;
        let mask = dynamics.mask();
        rundir::save_mask(&dir.join(rundir::MASK), self.x, &mask)?;
        rundir::save_tensors(&dir.join(rundir::FINAL), &named_vars(self.vs))?;
        let summary = self.finish(dir, level, &mask, &trained.metrics)?;
        Ok((summary, trained))
    }

    /// Write `metrics.csv` and `summary.json` of a finished training into `dir`.
    pub fn finish(
        &self,
        dir: &Path,
        level: usize,
        mask: &Mask,
        metrics: &[MetricRow],
    ) -> Result<Summary> {
        rundir::write_metrics(&dir.join(rundir::METRICS), metrics)?;
        let mut summary =
            rundir::summarize(level, self.x, mask, metrics, self.data.planted.as_ref());
        summary.recovery =
            super::planted::recovery(self.net, self.vs, self.data, self.cfg.seed, mask)?;
        rundir::write_summary(dir, &summary)?;
        Ok(summary)
    }

    /// Restore the run's initialization into the network.
    pub fn rewind_to_init(&self) -> Result<()> {
        assign(
            self.vs,
            &rundir::load_tensors(&self.run_dir.join(rundir::INIT))?,
        )
    }

    /// The mask of an interrupted final phase (its checkpoint exists), so that a resumed run
    /// trains the same ticket without recomputing it.
    pub fn saved_mask(&self) -> Result<Option<Mask>> {
        if !rundir::has_checkpoint(self.run_dir) {
            return Ok(None);
        }
        rundir::load_mask(&self.run_dir.join(rundir::MASK), self.x).map(Some)
    }

    /// `run_dir/search` (created).
    pub fn search_dir(&self) -> Result<PathBuf> {
        rundir::search_dir(self.run_dir)
    }

    /// Dense training from the initialization into `dir` (resumable; skipped when finished):
    /// the search phase of the criteria that need trained weights. Leaves the trained weights
    /// in the network.
    pub fn train_dense(&self, dir: &Path) -> Result<Summary> {
        if let Some(s) = rundir::finished(dir)? {
            assign(self.vs, &rundir::load_tensors(&dir.join(rundir::FINAL))?)?;
            return Ok(s);
        }
        if !rundir::has_checkpoint(dir) {
            self.rewind_to_init()?;
        }
        let full = Mask::full(&self.x.group_sizes());
        self.train(&full, 0, self.cfg.lr, &Segment::default(), dir)
    }

    /// Train the network from its current weights under a fixed `mask` into the run directory:
    /// the last phase of most methods.
    pub fn train_ticket(&self, mask: &Mask, segment: &Segment) -> Result<Summary> {
        self.train(mask, 0, self.cfg.lr, segment, self.run_dir)
    }

    /// Write the data-free result: mask, start weights (the initialization under the mask) and a
    /// summary without accuracies.
    pub fn write_untrained(&self, mask: &Mask) -> Result<Summary> {
        let mut x = self.x.shallow_clone();
        x.apply_mask(mask);
        rundir::save_mask(&self.run_dir.join(rundir::MASK), self.x, mask)?;
        rundir::save_tensors(&self.run_dir.join(rundir::START), &named_vars(self.vs))?;
        self.finish(self.run_dir, 0, mask, &[])
    }

    /// The training loop alone: from the store's current weights up to `iterations` under
    /// `dynamics`, writing only checkpoints into `dir` (every epoch: weights, the optimizer of
    /// the other variables, the dynamics' state and trace, the data order) and the segment's
    /// snapshots; if `dir` holds a checkpoint, resumes from it.
    pub fn run_loop(
        &self,
        dynamics: &mut dyn Dynamics,
        base_lr: f64,
        iterations: usize,
        segment: &Segment,
        dir: &Path,
    ) -> Result<Trained> {
        let (cfg, net, vs, data) = (self.cfg, self.net, self.vs, self.data);
        let per_epoch = (data.train_len() / cfg.batch).max(1);
        // Checkpoints at epoch ends, at least `checkpoint_spacing` iterations apart.
        let checkpoint_every =
            per_epoch * super::env::checkpoint_spacing()?.div_ceil(per_epoch).max(1);
        let mut x = prunable(vs, net);
        let rest_vars: Vec<(String, Tensor)> = named_vars(vs)
            .into_iter()
            .filter(|(name, _)| !x.names.contains(name))
            .collect();
        let mut rest: Vec<Tensor> = rest_vars.iter().map(|(_, t)| t.shallow_clone()).collect();
        let rest_masks: Vec<Option<Tensor>> = rest_vars
            .iter()
            .map(|(name, _)| dynamics.rest_mask(name))
            .collect();
        let mut opt = Optimizer::new(optimizer_kind(cfg), cfg.weight_decay, &rest);
        let mut progress = self.start(dynamics, &mut opt, segment, dir)?;
        let bar = indicatif::ProgressBar::new(iterations as u64);
        if !self.env.progress {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        bar.set_position(progress.iteration as u64);
        if progress.metrics.is_empty() {
            self.record(progress.iteration, &mut progress.metrics, dynamics);
        }
        let trains = dynamics.trains_network();
        while progress.iteration < iterations {
            let it = progress.iteration;
            let idx = Tensor::from_slice(
                &progress
                    .batcher
                    .next_batch()
                    .iter()
                    .map(|&i| i as i64)
                    .collect::<Vec<_>>(),
            )
            .to_device(vs.device());
            let xs = data.train.0.index_select(0, &idx);
            let ys = data.train.1.index_select(0, &idx);
            for p in x.tensors.iter_mut().chain(rest.iter_mut()) {
                p.zero_grad();
            }
            let w = dynamics.forward_weights(true);
            let (mut loss, _) = net.loss_and_correct_with(&xs, &ys, true, w.as_deref());
            if let Some(p) = dynamics.penalty() {
                loss += p;
            }
            let value = loss.double_value(&[]);
            if !value.is_finite() || (cfg.divergence_loss > 0.0 && value > cfg.divergence_loss) {
                return Err(diverged(dir, it + 1, "loss".into(), value));
            }
            loss.backward();
            let lr = segment
                .constant_lr
                .unwrap_or_else(|| lr_at(cfg, base_lr, it, per_epoch));
            let descent = dynamics
                .observes_descent()
                .then(|| Before::take(net, &xs, &ys, &x.tensors, &rest));
            if trains {
                opt.step(&mut rest, &rest_masks, lr);
            }
            dynamics.update(&mut x, lr, it)?;
            if let Some(before) = descent {
                dynamics.observe_descent(&before.step(net, &xs, &ys, &x.tensors, &rest, it, lr));
            }
            progress.iteration += 1;
            progress.optimizer_steps = opt.steps;
            let flow = dynamics.after(progress.iteration, &mut x)?;
            self.snapshots(segment, progress.iteration, &opt, dynamics)?;
            bar.inc(1);
            let stop = flow == Flow::Stop;
            if progress.iteration.is_multiple_of(cfg.eval_every)
                || progress.iteration == iterations
                || stop
            {
                self.record(progress.iteration, &mut progress.metrics, dynamics);
            }
            if stop {
                break;
            }
            if progress.iteration.is_multiple_of(checkpoint_every)
                && progress.iteration < iterations
            {
                self.checkpoint(dir, &mut progress, &opt, dynamics)?;
            }
        }
        bar.finish_and_clear();
        check_finite(dir, progress.iteration, vs)?;
        rundir::clear_checkpoint(dir, &progress)?;
        Ok(Trained {
            metrics: progress.metrics,
            stopped_at: progress.iteration,
            trace: dynamics.trace(),
        })
    }

    /// Where the loop starts: the segment's start (its data order replayed, the optimizer's and
    /// the dynamics' state from `segment.initial_state` when given), or `dir`'s checkpoint when
    /// there is one (weights, optimizer, dynamics' state and trace, data order, metrics).
    fn start(
        &self,
        dynamics: &mut dyn Dynamics,
        opt: &mut Optimizer,
        segment: &Segment,
        dir: &Path,
    ) -> Result<Progress> {
        let (cfg, vs) = (self.cfg, self.vs);
        let mut batcher = Batcher::new(self.data.train_len(), cfg.batch, cfg.seed ^ 0x5eed)?;
        for _ in 0..segment.start {
            batcher.next_batch();
        }
        let mut progress = Progress {
            iteration: segment.start,
            optimizer_steps: 0,
            batcher,
            metrics: vec![],
            tensors: String::new(),
            trace: serde_json::Value::Null,
        };
        let device = vs.device();
        if !rundir::has_checkpoint(dir) {
            if let Some(state) = &segment.initial_state {
                opt.load_named_state(&with_prefix(state, "optimizer.", device), "")?;
                dynamics.load_state(&with_prefix(state, "dynamics.", device))?;
                progress.optimizer_steps = opt.steps;
            }
            return Ok(progress);
        }
        let tensors;
        (progress, tensors) = rundir::read_checkpoint(dir)?;
        let weights: Vec<(String, Tensor)> = tensors
            .iter()
            .filter(|(k, _)| !k.starts_with("optimizer.") && !k.starts_with("dynamics."))
            .map(|(k, t)| (k.clone(), t.shallow_clone()))
            .collect();
        assign(vs, &weights)?;
        opt.load_state(
            &with_prefix(&tensors, "optimizer.", device),
            progress.optimizer_steps,
        )?;
        dynamics.load_state(&with_prefix(&tensors, "dynamics.", device))?;
        dynamics.load_trace(&progress.trace)?;
        Ok(progress)
    }

    /// Evaluate on validation and test at iteration `it` (with the dynamics' forward weights).
    fn record(&self, it: usize, metrics: &mut Vec<MetricRow>, dynamics: &dyn Dynamics) {
        let w = tch::no_grad(|| dynamics.forward_weights(false));
        for (split, set) in [("val", &self.data.val), ("test", &self.data.test)] {
            let (loss, accuracy) = evaluate_with(self.net, set, w.as_deref());
            metrics.push(MetricRow {
                iteration: it,
                split: split.into(),
                loss,
                accuracy,
            });
        }
    }

    /// The segment's snapshots due at iteration `done` (weights, and with `snapshot_state` the
    /// optimizer's and the dynamics' state), unless already written.
    fn snapshots(
        &self,
        segment: &Segment,
        done: usize,
        opt: &Optimizer,
        dynamics: &dyn Dynamics,
    ) -> Result<()> {
        for (k, path) in &segment.snapshots {
            let state_missing = segment.snapshot_state && !snapshot_state_path(path).exists();
            if done == *k && (!path.exists() || state_missing) {
                if segment.snapshot_state {
                    let mut state = opt.named_state("optimizer.");
                    state.extend(
                        dynamics
                            .state()
                            .into_iter()
                            .map(|(k, t)| (format!("dynamics.{k}"), t)),
                    );
                    rundir::save_tensors(&snapshot_state_path(path), &state)?;
                }
                rundir::save_tensors(path, &named_vars(self.vs))?;
            }
        }
        Ok(())
    }

    /// Checkpoint into `dir`: the weights, the optimizer of the other variables, the dynamics'
    /// state and trace, and `progress` (never a diverged state: the last checkpoint stays a good
    /// one).
    fn checkpoint(
        &self,
        dir: &Path,
        progress: &mut Progress,
        opt: &Optimizer,
        dynamics: &dyn Dynamics,
    ) -> Result<()> {
        check_finite(dir, progress.iteration, self.vs)?;
        progress.trace = dynamics.trace();
        let mut named = named_vars(self.vs);
        named.extend(
            opt.state()
                .into_iter()
                .map(|(k, t)| (format!("optimizer.{k}"), t)),
        );
        named.extend(
            dynamics
                .state()
                .into_iter()
                .map(|(k, t)| (format!("dynamics.{k}"), t)),
        );
        rundir::write_checkpoint(dir, &named, progress)
    }
}

/// The tensors of `named` under `prefix`, the prefix removed, on `device`.
fn with_prefix(named: &[(String, Tensor)], prefix: &str, device: Device) -> Vec<(String, Tensor)> {
    named
        .iter()
        .filter_map(|(k, t)| {
            k.strip_prefix(prefix)
                .map(|r| (r.to_string(), t.to_device(device)))
        })
        .collect()
}

/// Record a divergence at `iteration` in `dir` (its summary), keeping the last checkpoint.
fn diverged(dir: &Path, iteration: usize, quantity: String, value: f64) -> crate::Error {
    rundir::write_divergence(
        dir,
        rundir::Divergence {
            iteration,
            quantity,
            value: format!("{value:.4e}"),
            checkpoint: rundir::checkpoint_iteration(dir),
        },
    )
}

/// A divergence error unless every variable of `vs` is finite.
fn check_finite(dir: &Path, iteration: usize, vs: &VarStore) -> Result<()> {
    for (name, t) in named_vars(vs) {
        let finite = tch::no_grad(|| t.isfinite().all().int64_value(&[]) == 1);
        if !finite {
            let bad = tch::no_grad(|| t.masked_select(&t.isfinite().logical_not()));
            let value = bad.double_value(&[0]);
            return Err(diverged(dir, iteration, format!("weight {name}"), value));
        }
    }
    Ok(())
}

/// Learning rate at iteration `it` (0-based): linear warm-up, then ×`lr_gamma` at every drop.
pub fn lr_at(cfg: &RunConfig, base: f64, it: usize, per_epoch: usize) -> f64 {
    let mut lr = base;
    if cfg.warmup > 0 && it < cfg.warmup {
        lr *= (it + 1) as f64 / cfg.warmup as f64;
    }
    let drops = cfg.lr_drop_iterations.iter().filter(|&&d| it >= d).count()
        + cfg
            .lr_drop_epochs
            .iter()
            .filter(|&&e| it >= e * per_epoch)
            .count();
    lr * cfg.lr_gamma.powi(drops as i32)
}

/// The optimizer a config asks for.
pub fn optimizer_kind(cfg: &RunConfig) -> OptimizerKind {
    match cfg.optimizer {
        OptimizerName::Adam => OptimizerKind::adam(),
        OptimizerName::Sgd => OptimizerKind::Sgd {
            momentum: cfg.momentum,
            nesterov: cfg.nesterov,
        },
    }
}

/// The model and initialization a config names.
pub fn arch_of(cfg: &RunConfig) -> Result<(Arch, Init)> {
    Ok((cfg.model, cfg.init))
}

/// The network a config names, for `data`'s input shape and classes, initialized from the
/// config's seed (the same weights every time).
pub fn build_network(cfg: &RunConfig, data: &Data, device: Device) -> Result<(VarStore, Network)> {
    let (arch, init) = arch_of(cfg)?;
    tch::manual_seed(cfg.seed as i64);
    let vs = VarStore::new(device);
    let net = Network::build(&vs, arch, &cfg.hidden, data.shape, data.classes, init)?;
    Ok((vs, net))
}

/// The network of a run, built from its config (seeded), holding the run's initialization:
/// `run_dir/init.safetensors`, written on first use and read back on every later one, so that
/// every level, method phase or copy can rewind to it. Returns the store, the network and that
/// file's path.
pub fn network_of(
    cfg: &RunConfig,
    data: &Data,
    device: Device,
    run_dir: &Path,
) -> Result<(VarStore, Network, PathBuf)> {
    let (vs, net) = build_network(cfg, data, device)?;
    let init_path = run_dir.join(rundir::INIT);
    if init_path.exists() {
        match rundir::load_tensors(&init_path) {
            Ok(named) => assign(&vs, &named)?,
            // The initialization is a function of the seed: a damaged file is rewritten when
            // the rewrite matches the manifest byte for byte.
            Err(damage) => rundir::restore_tensors(&init_path, &named_vars(&vs), damage)?,
        }
    } else {
        rundir::save_tensors(&init_path, &named_vars(&vs))?;
    }
    Ok((vs, net, init_path))
}
