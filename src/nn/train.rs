//! Training a masked network for one IMP level: learning-rate schedule (warm-up, step drops),
//! evaluation on validation and test every `eval_every` iterations, the early-stopping iteration
//! (minimum validation loss), a progress bar, and a checkpoint at every epoch from which an
//! interrupted level resumes to exactly the same result on CPU.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{nn::VarStore, Device, Kind, Tensor};

use super::models::Network;
use super::optim::{Optimizer, OptimizerKind};
use crate::data::{self, Batcher, Dataset, Split};
use crate::run::RunConfig;
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
}

/// Mean loss and accuracy of `net` on a split, in batches of 1000.
pub fn evaluate(net: &Network, split: &(Tensor, Tensor)) -> (f64, f64) {
    tch::no_grad(|| {
        let n = split.1.size()[0];
        let (mut loss, mut correct) = (0.0, 0i64);
        let mut i = 0;
        while i < n {
            let b = (n - i).min(1000);
            let (l, c) =
                net.loss_and_correct(&split.0.narrow(0, i, b), &split.1.narrow(0, i, b), false);
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
    /// Save the weights at this iteration to this file (the rewind point).
    pub snapshot: Option<(usize, PathBuf)>,
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
    let n = data.train.1.size()[0] as usize;
    let per_epoch = (n / cfg.batch).max(1);
    let vars = named_vars(vs);
    let mut params: Vec<Tensor> = vars.iter().map(|(_, t)| t.shallow_clone()).collect();
    let mask_of: Vec<Option<Tensor>> = vars
        .iter()
        .map(|(name, _)| {
            masks
                .iter()
                .find(|(m, _)| m == name)
                .map(|(_, t)| t.to_device(vs.device()))
        })
        .collect();
    let mut opt = Optimizer::new(optimizer_kind(cfg), cfg.weight_decay, &params);
    let mut batcher = Batcher::new(n, cfg.batch, cfg.seed ^ 0x5eed)?;
    for _ in 0..segment.start {
        batcher.next_batch();
    }
    let mut progress = Progress {
        iteration: segment.start,
        optimizer_steps: 0,
        batcher,
        metrics: vec![],
        tensors: String::new(),
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
        let (weights, state): (Vec<_>, Vec<_>) = tensors
            .into_iter()
            .partition(|(k, _)| !k.starts_with("optimizer."));
        assign(vs, &weights)?;
        let state: Vec<(String, Tensor)> = state
            .into_iter()
            .map(|(k, t)| {
                (
                    k["optimizer.".len()..].to_string(),
                    t.to_device(vs.device()),
                )
            })
            .collect();
        opt.load_state(&state, progress.optimizer_steps)?;
    }
    let bar = indicatif::ProgressBar::new(iterations as u64);
    if !show_progress {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_position(progress.iteration as u64);
    let record = |it: usize, metrics: &mut Vec<MetricRow>| {
        for (split, set) in [("val", &data.val), ("test", &data.test)] {
            let (loss, accuracy) = evaluate(net, set);
            metrics.push(MetricRow {
                iteration: it,
                split: split.into(),
                loss,
                accuracy,
            });
        }
    };
    if progress.metrics.is_empty() {
        record(progress.iteration, &mut progress.metrics);
    }
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
        for p in params.iter_mut() {
            p.zero_grad();
        }
        let (loss, _) = net.loss_and_correct(&xs, &ys, true);
        loss.backward();
        opt.step(&mut params, &mask_of, lr_at(cfg, base_lr, it, per_epoch));
        progress.iteration += 1;
        progress.optimizer_steps = opt.steps;
        if let Some((k, path)) = &segment.snapshot {
            if progress.iteration == *k && !path.exists() {
                save_tensors(path, &named_vars(vs))?;
            }
        }
        bar.inc(1);
        if progress.iteration % cfg.eval_every == 0 || progress.iteration == iterations {
            record(progress.iteration, &mut progress.metrics);
        }
        if progress.iteration % per_epoch == 0 && progress.iteration < iterations {
            checkpoint(dir, vs, &opt, &mut progress)?;
        }
    }
    bar.finish_and_clear();
    let _ = std::fs::remove_file(dir.join("checkpoint.json"));
    if !progress.tensors.is_empty() {
        let _ = std::fs::remove_file(dir.join(&progress.tensors));
    }
    Ok(progress.metrics)
}

fn checkpoint(dir: &Path, vs: &VarStore, opt: &Optimizer, progress: &mut Progress) -> Result<()> {
    let mut named = named_vars(vs);
    named.extend(
        opt.state()
            .into_iter()
            .map(|(k, t)| (format!("optimizer.{k}"), t)),
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
