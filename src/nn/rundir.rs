//! The run-directory format, in one place: every file a run writes and reads, and how.
//!
//! ```text
//! runs/<preset>[-<method>]-<hash>/
//!   config.toml            the run's settings (TOML, every key)
//!   init.safetensors       the initialization every level, phase or copy rewinds to
//!   rewind.safetensors     weights at iteration k (late rewinding)
//!   level_<L>/             IMP levels; a `lottery prune` run keeps these files at its root
//!     config.toml
//!     mask.safetensors     u8 0/1 per prunable tensor, named as in the model
//!     start.safetensors    weights the training started from
//!     final.safetensors    weights at the end
//!     metrics.csv          iteration, split, loss, accuracy
//!     summary.json         per-layer survival, accuracies, early-stop iteration (written last)
//!     checkpoint.json      while training: progress, data order, metrics so far, and
//!     checkpoint_<i>.safetensors  weights, optimizer moments and the method's tensors
//!   search/                methods with a search phase (dense training, rounds, …)
//! ```
//!
//! Safetensors and JSON/CSV files are written atomically (temporary file, then rename), so a
//! crash leaves the previous version or the new one. A directory holding `summary.json` is
//! finished; one holding `checkpoint.json` resumes from it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use super::params::{mask_from_named, mask_group_u8, Params};
use crate::data::Batcher;
use crate::run::RunConfig;
use crate::select::Mask;
use crate::space::SparseVector;
use crate::{Error, Result};

/// `config.toml`.
pub const CONFIG: &str = "config.toml";
/// `init.safetensors`.
pub const INIT: &str = "init.safetensors";
/// `rewind.safetensors`.
pub const REWIND: &str = "rewind.safetensors";
/// `mask.safetensors`.
pub const MASK: &str = "mask.safetensors";
/// `start.safetensors`.
pub const START: &str = "start.safetensors";
/// `final.safetensors`.
pub const FINAL: &str = "final.safetensors";
/// `metrics.csv`.
pub const METRICS: &str = "metrics.csv";
/// `summary.json`.
pub const SUMMARY: &str = "summary.json";
/// `checkpoint.json`.
pub const CHECKPOINT: &str = "checkpoint.json";

/// `<run>/level_<level>/`.
pub fn level_dir(run_dir: &Path, level: usize) -> PathBuf {
    run_dir.join(format!("level_{level}"))
}

/// Create `dir` and its parents.
pub fn create(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Io {
        path: dir.to_path_buf(),
        source: e,
    })
}

/// `<run>/search/` (created).
pub fn search_dir(run_dir: &Path) -> Result<PathBuf> {
    let dir = run_dir.join("search");
    create(&dir)?;
    Ok(dir)
}

/// Write `config.toml` into `dir`, atomically; `overwrite = false` keeps an existing one.
pub fn write_config(dir: &Path, cfg: &RunConfig, overwrite: bool) -> Result<()> {
    let path = dir.join(CONFIG);
    if overwrite || !path.exists() {
        crate::io::write_atomic(&path, cfg.to_toml().as_bytes())?;
    }
    Ok(())
}

/// Read `config.toml` of a run.
pub fn read_config(dir: &Path) -> Result<RunConfig> {
    let path = dir.join(CONFIG);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Io { path, source: e })?;
    RunConfig::from_toml(&text, None)
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

/// Write a mask as `mask.safetensors`: u8 0/1 per prunable tensor, under the tensor's name and
/// shape.
pub fn save_mask(path: &Path, params: &Params, mask: &Mask) -> Result<()> {
    let named: Vec<(String, Tensor)> = (0..params.names.len())
        .map(|g| {
            let shape = params.tensors[g].size();
            (params.names[g].clone(), mask_group_u8(mask, g, &shape))
        })
        .collect();
    save_tensors(path, &named)
}

/// Read a `mask.safetensors` back into a [`Mask`] over `params`' groups.
pub fn load_mask(path: &Path, params: &Params) -> Result<Mask> {
    mask_from_named(&load_tensors(path)?, &params.names, &params.group_sizes()).map_err(|e| {
        Error::Format {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    })
}

/// A mask as checkpoint tensors `mask.<g>` (u8 0/1, flat, per group).
pub fn mask_state(mask: &Mask) -> Vec<(String, Tensor)> {
    (0..mask.n_groups())
        .map(|g| (format!("mask.{g}"), mask_group_u8(mask, g, &[-1])))
        .collect()
}

/// Read [`mask_state`] back (None when the checkpoint has no mask).
pub fn mask_from_state(named: &[(String, Tensor)], sizes: &[usize]) -> Result<Option<Mask>> {
    if !named.iter().any(|(n, _)| n == "mask.0") {
        return Ok(None);
    }
    let keys: Vec<String> = (0..sizes.len()).map(|g| format!("mask.{g}")).collect();
    mask_from_named(named, &keys, sizes).map(Some)
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

/// Write `metrics.csv` (loss and accuracy to 6 decimals; checkpoints keep full precision).
pub fn write_metrics(path: &Path, rows: &[MetricRow]) -> Result<()> {
    let rows: Vec<(usize, &str, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r.iteration,
                r.split.as_str(),
                format!("{:.6}", r.loss),
                format!("{:.6}", r.accuracy),
            )
        })
        .collect();
    crate::io::write_csv_rows(path, &["iteration", "split", "loss", "accuracy"], &rows)
}

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

/// `summary.json` of a level or a `lottery prune` run.
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

/// The summary of a training that ended with `mask` and recorded `metrics`.
pub fn summarize(
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

/// Write `summary.json` (any serializable summary) into `dir`, atomically.
pub fn write_summary<T: Serialize>(dir: &Path, summary: &T) -> Result<()> {
    let json = serde_json::to_string_pretty(summary)
        .map_err(|e| Error::param("summary", e.to_string()))?;
    crate::io::write_atomic(&dir.join(SUMMARY), json.as_bytes())
}

/// The summary of a finished phase in `dir`, if there is one.
pub fn finished(dir: &Path) -> Result<Option<Summary>> {
    let path = dir.join(SUMMARY);
    if !path.exists() {
        return Ok(None);
    }
    crate::io::read_json(&path).map(Some)
}

/// What `checkpoint.json` holds besides tensors.
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
    /// The training dynamics' own small state ([`crate::nn::dynamics::Dynamics::trace`]).
    #[serde(default)]
    pub trace: serde_json::Value,
}

/// Whether `dir` holds a checkpoint to resume.
pub fn has_checkpoint(dir: &Path) -> bool {
    dir.join(CHECKPOINT).exists()
}

/// Read the checkpoint of `dir`: progress and its tensors.
pub fn read_checkpoint(dir: &Path) -> Result<(Progress, Vec<(String, Tensor)>)> {
    let progress: Progress = crate::io::read_json(&dir.join(CHECKPOINT))?;
    let tensors = load_tensors(&dir.join(&progress.tensors))?;
    Ok((progress, tensors))
}

/// Write a checkpoint at `progress.iteration`: the tensors first (a new file), then
/// `checkpoint.json` pointing at it (atomic), then the previous tensor file is removed.
pub fn write_checkpoint(
    dir: &Path,
    named: &[(String, Tensor)],
    progress: &mut Progress,
) -> Result<()> {
    let old = std::mem::replace(
        &mut progress.tensors,
        format!("checkpoint_{}.safetensors", progress.iteration),
    );
    save_tensors(&dir.join(&progress.tensors), named)?;
    let json =
        serde_json::to_string(progress).map_err(|e| Error::param("checkpoint", e.to_string()))?;
    crate::io::write_atomic(&dir.join(CHECKPOINT), json.as_bytes())?;
    if !old.is_empty() {
        let _ = std::fs::remove_file(dir.join(old));
    }
    Ok(())
}

/// Remove the checkpoint of a finished training.
pub fn clear_checkpoint(dir: &Path, progress: &Progress) {
    let _ = std::fs::remove_file(dir.join(CHECKPOINT));
    if !progress.tensors.is_empty() {
        let _ = std::fs::remove_file(dir.join(&progress.tensors));
    }
}
