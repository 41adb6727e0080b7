//! Training a masked network for one IMP level: learning-rate schedule (warm-up, step drops),
//! evaluation on validation and test every `eval_every` iterations, the early-stopping iteration
//! (minimum validation loss), a progress bar, and a checkpoint at every epoch from which an
//! interrupted level resumes to exactly the same result on CPU.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{nn::VarStore, Device, Kind, Tensor};

use super::models::Network;
use super::optim::{Optimizer, OptimizerKind};
use super::params::Params;
use crate::data::{self, Batcher, Dataset, Split};
use crate::run::RunConfig;
use crate::select::Mask;
use crate::{Error, Result};

/// Train, validation and test sets as tensors on the device.
#[derive(Debug)]
pub struct Data {
    /// Features ($N \times C \times H \times W$) and labels (length $N$).
    pub train: (Tensor, Tensor),
    /// Validation split (held out from the training set).
    pub val: (Tensor, Tensor),
    /// Test set.
    pub test: (Tensor, Tensor),
    /// $(C, H, W)$.
    pub shape: [usize; 3],
    /// Classes.
    pub classes: usize,
    /// The planted support, for the `teacher` dataset (one group per teacher layer).
    pub planted: Option<crate::select::Mask>,
}

fn to_tensors(d: &Dataset, device: Device) -> (Tensor, Tensor) {
    let [c, h, w] = d.shape.map(|v| v as i64);
    let x = Tensor::from_slice(&d.x)
        .view([d.len() as i64, c, h, w])
        .to_device(device);
    let y = Tensor::from_slice(&d.y)
        .to_kind(Kind::Int64)
        .to_device(device);
    (x, y)
}

/// Load `cfg.dataset` (from `data_dir`, or its default location), hold out `cfg.validation`
/// training samples (seeded by `cfg.seed`), normalize with the training statistics.
pub fn load_data(cfg: &RunConfig, data_dir: Option<&Path>, device: Device) -> Result<Data> {
    let mut planted = None;
    let (train, test) = match cfg.dataset.as_str() {
        "fashion-mnist" | "mnist" => {
            let default = if cfg.dataset == "mnist" {
                "data/mnist"
            } else {
                data::FASHION_MNIST_DIR
            };
            let dir = data_dir
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(default));
            (
                data::load_mnist(&dir, Split::Train)?,
                data::load_mnist(&dir, Split::Test)?,
            )
        }
        "cifar10" => {
            let dir = data_dir
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("data/cifar10"));
            (
                data::cifar::read(&data::cifar::files(&dir, true))?,
                data::cifar::read(&data::cifar::files(&dir, false))?,
            )
        }
        "teacher" => {
            let (tr, te, teacher) = data::teacher::TeacherParams {
                seed: cfg.seed,
                ..Default::default()
            }
            .generate()?;
            planted = Some(teacher.mask);
            (tr, te)
        }
        other => {
            return Err(Error::param(
                "dataset",
                format!("unknown dataset `{other}`"),
            ))
        }
    };
    let (mut tr, mut va) = train.split_validation(cfg.validation.min(train.len() / 2), cfg.seed)?;
    let mut te = test;
    let (mean, std) = tr.channel_stats();
    for d in [&mut tr, &mut va, &mut te] {
        d.normalize(&mean, &std);
    }
    Ok(Data {
        planted,
        shape: tr.shape,
        classes: tr.classes,
        train: to_tensors(&tr, device),
        val: to_tensors(&va, device),
        test: to_tensors(&te, device),
    })
}

/// One row of `metrics.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricRow {
    /// Iteration.
    pub iteration: usize,
    /// `val` or `test`.
    pub split: String,
    /// Mean cross-entropy.
    pub loss: f64,
    /// Accuracy in [0, 1].
    pub accuracy: f64,
}

/// What is checkpointed besides tensors.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Progress {
    /// Iterations done.
    pub iteration: usize,
    /// Optimizer steps (Adam's bias correction).
    pub optimizer_steps: i64,
    /// Data order.
    pub batcher: Batcher,
    /// Metrics so far.
    pub metrics: Vec<MetricRow>,
    /// Tensor file of this checkpoint.
    pub tensors: String,
    /// The training dynamics' own small state ([`Dynamics::trace`]).
    #[serde(default)]
    pub trace: serde_json::Value,
}

/// Mean loss and accuracy of `net` on a split, in batches of 1000.
pub fn evaluate(net: &Network, split: &(Tensor, Tensor)) -> (f64, f64) {
    evaluate_with(net, split, None)
}

/// [`evaluate`] with replacement prunable weights (see [`Network::forward_with`]).
pub fn evaluate_with(
    net: &Network,
    split: &(Tensor, Tensor),
    weights: Option<&[Tensor]>,
) -> (f64, f64) {
    tch::no_grad(|| {
        let n = split.1.size()[0];
        let (mut loss, mut correct) = (0.0, 0i64);
        let mut i = 0;
        while i < n {
            let b = (n - i).min(1000);
            let (l, c) = net.loss_and_correct_with(
                &split.0.narrow(0, i, b),
                &split.1.narrow(0, i, b),
                false,
                weights,
            );
            loss += l.double_value(&[]) * b as f64;
            correct += c;
            i += b;
        }
        (loss / n as f64, correct as f64 / n as f64)
    })
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
    match cfg.optimizer.as_str() {
        "adam" => OptimizerKind::adam(),
        _ => OptimizerKind::Sgd {
            momentum: cfg.momentum,
            nesterov: cfg.nesterov,
        },
    }
}

/// Write named tensors as safetensors, atomically.
pub fn save_tensors(path: &Path, named: &[(String, Tensor)]) -> Result<()> {
    let tmp = path.with_extension("tmp.safetensors");
    let refs: Vec<(&str, Tensor)> = named
        .iter()
        .map(|(n, t)| (n.as_str(), t.to_device(Device::Cpu)))
        .collect();
    Tensor::write_safetensors(&refs, &tmp)
        .map_err(|e| Error::param("safetensors", format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })
}

/// Read safetensors into named CPU tensors.
pub fn load_tensors(path: &Path) -> Result<Vec<(String, Tensor)>> {
    Tensor::read_safetensors(path).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Copy named tensors into the store's variables of the same names.
pub fn assign(vs: &VarStore, named: &[(String, Tensor)]) -> Result<()> {
    let vars = vs.variables();
    tch::no_grad(|| {
        for (n, t) in named {
            let mut v = vars
                .get(n)
                .ok_or_else(|| Error::param("weights", format!("no variable `{n}` in the model")))?
                .shallow_clone();
            v.copy_(t);
        }
        Ok(())
    })
}

/// All variables of the store, sorted by name.
pub fn named_vars(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// How a training segment starts and what it saves on the way.
#[derive(Clone, Debug, Default)]
pub struct Segment {
    /// Iteration the segment starts at (late rewinding resumes the schedule and the data order
    /// at $k$); the segment runs to `iterations`.
    pub start: usize,
    /// Save the weights at these iterations to these files (rewind points).
    pub snapshots: Vec<(usize, PathBuf)>,
}

/// Whether training goes on after an iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep training.
    Continue,
    /// Stop here (an early-bird ticket was drawn).
    Stop,
}

/// How the prunable weights evolve during training: the one place where the pruning methods
/// differ. The loop ([`Loop::train_with`]) draws the batches, runs forward and backward, updates the
/// other variables (biases, batch norm) with the run's optimizer, evaluates, checkpoints and
/// resumes; a `Dynamics` decides what the forward pass sees, what is added to the loss, how the
/// prunable weights move given their gradients, and what happens to the mask between steps.
pub trait Dynamics {
    /// Prunable weights for the forward pass, in [`Network::prunable`] order, when they are a
    /// differentiable function of other tensors (supermask scores, continuous sparsification);
    /// `None` uses the stored weights. `train` is false for evaluation (deterministic masks).
    fn forward_weights(&self, _train: bool) -> Option<Vec<Tensor>> {
        None
    }

    /// Whether the network's variables are trained at all (false: frozen weights, as under a
    /// learned supermask).
    fn trains_network(&self) -> bool {
        true
    }

    /// A term added to the training loss (e.g. $\lambda\,\|\sigma(\beta s)\|_1$).
    fn penalty(&self) -> Option<Tensor> {
        None
    }

    /// Mask (0/1, same shape) of a non-prunable variable, e.g. the batch-norm scale and shift of a
    /// pruned channel.
    fn rest_mask(&self, _name: &str) -> Option<Tensor> {
        None
    }

    /// Move the prunable weights `x` given their gradients (`x.tensors[i].grad()`) at learning
    /// rate `lr`, iteration `it` (0-based); also steps any tensors of the dynamics' own (and
    /// zeroes their gradients).
    fn update(&mut self, x: &mut Params, lr: f64, it: usize) -> Result<()>;

    /// After `done` iterations: mask schedules, ticket detection.
    fn after(&mut self, _done: usize, _x: &mut Params) -> Result<Flow> {
        Ok(Flow::Continue)
    }

    /// The support the weights live on now.
    fn mask(&self) -> Mask;

    /// Tensors to checkpoint.
    fn state(&self) -> Vec<(String, Tensor)>;

    /// Restore [`Dynamics::state`].
    fn load_state(&mut self, named: &[(String, Tensor)]) -> Result<()>;

    /// Small JSON state (checkpointed; e.g. the early-bird distance trace).
    fn trace(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Restore [`Dynamics::trace`].
    fn load_trace(&mut self, _trace: &serde_json::Value) -> Result<()> {
        Ok(())
    }
}

/// Restore tensors named `prefix.<i>` into `slots[i]`.
pub fn load_indexed(named: &[(String, Tensor)], prefix: &str, slots: &mut [Tensor]) -> Result<()> {
    for (name, t) in named {
        let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        let i: usize = rest
            .parse()
            .map_err(|_| Error::param("checkpoint", format!("bad tensor name `{name}`")))?;
        let slot = slots
            .get_mut(i)
            .ok_or_else(|| Error::param("checkpoint", format!("unexpected tensor `{name}`")))?;
        tch::no_grad(|| slot.copy_(t));
    }
    Ok(())
}

/// Tensors as `prefix.<i>`.
pub fn indexed(prefix: &str, tensors: &[Tensor]) -> Vec<(String, Tensor)> {
    tensors
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("{prefix}.{i}"), t.shallow_clone()))
        .collect()
}

/// The mask tensors of `mask` for `params` (0/1, the parameters' kind and device).
pub fn mask_tensors(params: &Params, mask: &Mask) -> Vec<Tensor> {
    (0..params.names.len())
        .map(|g| params.mask_tensor(mask, g))
        .collect()
}

/// A fixed mask and the run's optimizer: ordinary (IMP) training of a sparse network.
#[derive(Debug)]
pub struct FixedMask {
    mask: Mask,
    masks: Vec<Option<Tensor>>,
    opt: Optimizer,
    rest: Vec<(String, Tensor)>,
}

impl FixedMask {
    /// Train `x` under `mask` with optimizer `kind`; `rest` masks other variables by name.
    pub fn new(
        kind: OptimizerKind,
        weight_decay: f64,
        x: &Params,
        mask: &Mask,
        rest: Vec<(String, Tensor)>,
    ) -> Self {
        FixedMask {
            masks: mask_tensors(x, mask).into_iter().map(Some).collect(),
            mask: mask.clone(),
            opt: Optimizer::new(kind, weight_decay, &x.tensors),
            rest,
        }
    }
}

impl FixedMask {
    /// Keep pruned weights at their current values (frozen) instead of zero.
    pub fn frozen(mut self) -> Self {
        self.opt.freeze_masked = true;
        self
    }
}

impl Dynamics for FixedMask {
    fn rest_mask(&self, name: &str) -> Option<Tensor> {
        self.rest
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.shallow_clone())
    }

    fn update(&mut self, x: &mut Params, lr: f64, _it: usize) -> Result<()> {
        self.opt.step(&mut x.tensors, &self.masks, lr);
        Ok(())
    }

    fn mask(&self) -> Mask {
        self.mask.clone()
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.opt.named_state("opt.")
    }

    fn load_state(&mut self, named: &[(String, Tensor)]) -> Result<()> {
        self.opt.load_named_state(named, "opt.")
    }
}

/// Train from the store's current weights up to `iterations`, with `masks` (by variable name)
/// held fixed, learning rate `base_lr`. Checkpoints into `dir` every epoch; if `dir` holds a
/// checkpoint, resumes from it. Returns the metrics.
#[allow(clippy::too_many_arguments)]
pub fn train(
    cfg: &RunConfig,
    net: &Network,
    vs: &VarStore,
    data: &Data,
    masks: &[(String, Tensor)],
    base_lr: f64,
    iterations: usize,
    segment: &Segment,
    dir: &Path,
    show_progress: bool,
) -> Result<Vec<MetricRow>> {
    let x = prunable(vs, net);
    let device = vs.device();
    let mut mask = Mask::full(&crate::space::SparseVector::group_sizes(&x));
    for (g, name) in x.names.iter().enumerate() {
        if let Some((_, t)) = masks.iter().find(|(n, _)| n == name) {
            let bytes = Vec::<u8>::try_from(
                &t.to_device(Device::Cpu)
                    .flatten(0, -1)
                    .ne(0.0)
                    .to_kind(Kind::Uint8),
            )
            .map_err(|e| Error::param("mask", e.to_string()))?;
            let offset = mask.group_range(g).start;
            for (j, b) in bytes.iter().enumerate() {
                if *b == 0 {
                    mask.remove(offset + j);
                }
            }
        }
    }
    let rest = masks
        .iter()
        .filter(|(n, _)| !x.names.contains(n))
        .map(|(n, t)| (n.clone(), t.to_device(device)))
        .collect();
    let mut dynamics = FixedMask::new(optimizer_kind(cfg), cfg.weight_decay, &x, &mask, rest);
    let run = Loop {
        cfg,
        net,
        vs,
        data,
        base_lr,
        iterations,
        segment,
        dir,
        show_progress,
    };
    Ok(run.train_with(&mut dynamics)?.metrics)
}

/// The network's prunable weights as one [`Params`] (shared storage).
pub fn prunable(vs: &VarStore, net: &Network) -> Params {
    let vars = vs.variables();
    Params::new(
        net.prunable.clone(),
        net.prunable
            .iter()
            .map(|n| vars[n].shallow_clone())
            .collect(),
    )
}

/// What [`Loop::train_with`] returns.
#[derive(Clone, Debug)]
pub struct Trained {
    /// Validation and test metrics.
    pub metrics: Vec<MetricRow>,
    /// The iteration training ended at (`iterations`, or earlier when the dynamics stopped).
    pub stopped_at: usize,
    /// The dynamics' trace at the end.
    pub trace: serde_json::Value,
}

/// One training segment's settings.
#[derive(Debug)]
pub struct Loop<'a> {
    /// The run's settings (optimizer, batch, schedule, evaluation).
    pub cfg: &'a RunConfig,
    /// The network.
    pub net: &'a Network,
    /// Its variables.
    pub vs: &'a VarStore,
    /// The data.
    pub data: &'a Data,
    /// Base learning rate.
    pub base_lr: f64,
    /// Train up to this iteration.
    pub iterations: usize,
    /// Start iteration and rewind snapshot.
    pub segment: &'a Segment,
    /// Checkpoint directory.
    pub dir: &'a Path,
    /// Show a progress bar.
    pub show_progress: bool,
}

impl Loop<'_> {
    /// Train from the store's current weights up to `iterations` under `dynamics`. Checkpoints
    /// into `dir` every epoch (weights, the optimizer of the other variables, the dynamics' state
    /// and trace, the data order); if `dir` holds a checkpoint, resumes from it.
    pub fn train_with(&self, dynamics: &mut dyn Dynamics) -> Result<Trained> {
        let (cfg, net, vs, data, dir) = (self.cfg, self.net, self.vs, self.data, self.dir);
        let n = data.train.1.size()[0] as usize;
        let per_epoch = (n / cfg.batch).max(1);
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
        let mut batcher = Batcher::new(n, cfg.batch, cfg.seed ^ 0x5eed)?;
        for _ in 0..self.segment.start {
            batcher.next_batch();
        }
        let mut progress = Progress {
            iteration: self.segment.start,
            optimizer_steps: 0,
            batcher,
            metrics: vec![],
            tensors: String::new(),
            trace: serde_json::Value::Null,
        };
        let ckpt = dir.join("checkpoint.json");
        if ckpt.exists() {
            let text = std::fs::read_to_string(&ckpt).map_err(|e| Error::Io {
                path: ckpt.clone(),
                source: e,
            })?;
            progress = serde_json::from_str(&text).map_err(|e| Error::Format {
                path: ckpt.clone(),
                reason: e.to_string(),
            })?;
            let tensors = load_tensors(&dir.join(&progress.tensors))?;
            let take = |prefix: &str| -> Vec<(String, Tensor)> {
                tensors
                    .iter()
                    .filter_map(|(k, t)| {
                        k.strip_prefix(prefix)
                            .map(|r| (r.to_string(), t.to_device(vs.device())))
                    })
                    .collect()
            };
            let weights: Vec<(String, Tensor)> = tensors
                .iter()
                .filter(|(k, _)| !k.starts_with("optimizer.") && !k.starts_with("dynamics."))
                .map(|(k, t)| (k.clone(), t.shallow_clone()))
                .collect();
            assign(vs, &weights)?;
            opt.load_state(&take("optimizer."), progress.optimizer_steps)?;
            dynamics.load_state(&take("dynamics."))?;
            dynamics.load_trace(&progress.trace)?;
        }
        let bar = indicatif::ProgressBar::new(self.iterations as u64);
        if !self.show_progress {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        bar.set_position(progress.iteration as u64);
        let record = |it: usize, metrics: &mut Vec<MetricRow>, dynamics: &dyn Dynamics| {
            let w = tch::no_grad(|| dynamics.forward_weights(false));
            for (split, set) in [("val", &data.val), ("test", &data.test)] {
                let (loss, accuracy) = evaluate_with(net, set, w.as_deref());
                metrics.push(MetricRow {
                    iteration: it,
                    split: split.into(),
                    loss,
                    accuracy,
                });
            }
        };
        if progress.metrics.is_empty() {
            record(progress.iteration, &mut progress.metrics, dynamics);
        }
        let trains = dynamics.trains_network();
        while progress.iteration < self.iterations {
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
            loss.backward();
            let lr = lr_at(cfg, self.base_lr, it, per_epoch);
            if trains {
                opt.step(&mut rest, &rest_masks, lr);
            }
            dynamics.update(&mut x, lr, it)?;
            progress.iteration += 1;
            progress.optimizer_steps = opt.steps;
            let flow = dynamics.after(progress.iteration, &mut x)?;
            for (k, path) in &self.segment.snapshots {
                if progress.iteration == *k && !path.exists() {
                    save_tensors(path, &named_vars(vs))?;
                }
            }
            bar.inc(1);
            let stop = flow == Flow::Stop;
            if progress.iteration % cfg.eval_every == 0
                || progress.iteration == self.iterations
                || stop
            {
                record(progress.iteration, &mut progress.metrics, dynamics);
            }
            if stop {
                break;
            }
            if progress.iteration % per_epoch == 0 && progress.iteration < self.iterations {
                progress.trace = dynamics.trace();
                checkpoint(dir, vs, &opt, &*dynamics, &mut progress)?;
            }
        }
        bar.finish_and_clear();
        let _ = std::fs::remove_file(dir.join("checkpoint.json"));
        if !progress.tensors.is_empty() {
            let _ = std::fs::remove_file(dir.join(&progress.tensors));
        }
        Ok(Trained {
            metrics: progress.metrics,
            stopped_at: progress.iteration,
            trace: dynamics.trace(),
        })
    }
}

fn checkpoint(
    dir: &Path,
    vs: &VarStore,
    opt: &Optimizer,
    dynamics: &dyn Dynamics,
    progress: &mut Progress,
) -> Result<()> {
    let mut named = named_vars(vs);
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
    let old = std::mem::replace(
        &mut progress.tensors,
        format!("checkpoint_{}.safetensors", progress.iteration),
    );
    save_tensors(&dir.join(&progress.tensors), &named)?;
    let json =
        serde_json::to_string(progress).map_err(|e| Error::param("checkpoint", e.to_string()))?;
    crate::io::write_atomic(&dir.join("checkpoint.json"), json.as_bytes())?;
    if !old.is_empty() {
        let _ = std::fs::remove_file(dir.join(old));
    }
    Ok(())
}
