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
//!
//!   manifest.json          size and SHA-256 of every file above, recorded after each write
//!   run.json, lock         the run's identity and its OS lock ([`crate::run::identity`])
//! ```
//!
//! **After a crash.** Every file is written to a temporary file, fsynced, renamed into place and
//! its directory fsynced, so a crash at any moment leaves the previous version or the new one,
//! never a mix; then its size and SHA-256 go into the directory's `manifest.json`. A file that
//! does not match its manifest entry (truncated, damaged, or written just before a crash that
//! came before the entry) is never used: a finished phase with such a file is recomputed
//! ([`finished`] says so in one line on stderr), a checkpoint with one is discarded (the phase
//! restarts), and any other read of it is a one-line error. A directory holding `summary.json`
//! is finished; one holding a valid `checkpoint.json` resumes from it, bit-identical on CPU.
//!
//! **Divergence.** A non-finite loss or weight, or a loss above `divergence_loss`, stops
//! training: the phase's `summary.json`
//! records `{"diverged": {iteration, quantity, value, checkpoint}}`, the last good checkpoint
//! stays, and every later opening of the phase reports the divergence as an error
//! ([`crate::Error::Diverged`]) until the run is resumed with a smaller learning rate
//! (`--resume-diverged`, [`resume_diverged`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use tch::{Device, Tensor};

use super::params::{mask_from_named, mask_group_u8, Params};
pub use super::params::{mask_from_state, mask_state};
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
use crate::run::manifest::{file_name, io_err, read_manifest};
pub use crate::run::manifest::{forget, record, verify, verify_dir, write_file, Entry, MANIFEST};

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
        write_file(&path, cfg.to_toml().as_bytes())?;
    }
    Ok(())
}

/// Read `config.toml` of a run.
/// A finished level of a run, to start from (a branch, a layerwise run): the run's config and
/// the level's directory; a level without its `summary.json` is refused.
pub fn finished_level(run_dir: &Path, level: usize) -> Result<(RunConfig, PathBuf)> {
    let cfg = read_config(run_dir)?;
    let ldir = level_dir(run_dir, level);
    if !is_finished(&ldir)? {
        return Err(Error::param(
            "level",
            format!("{} has not finished (no summary.json)", ldir.display()),
        ));
    }
    Ok((cfg, ldir))
}

/// The run's config (`config.toml`).
pub fn read_config(dir: &Path) -> Result<RunConfig> {
    let path = dir.join(CONFIG);
    verify(&path)?;
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Io { path, source: e })?;
    RunConfig::from_toml(&text, None)
}

/// Write named tensors as safetensors, atomically (fsynced) and recorded in the manifest.
pub fn save_tensors(path: &Path, named: &[(String, Tensor)]) -> Result<()> {
    let tmp = path.with_extension("tmp.safetensors");
    let refs: Vec<(&str, Tensor)> = named
        .iter()
        .map(|(n, t)| (n.as_str(), t.to_device(Device::Cpu)))
        .collect();
    Tensor::write_safetensors(&refs, &tmp)
        .map_err(|e| Error::param("safetensors", format!("{}: {e}", tmp.display())))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    crate::io::sync_parent(path)?;
    record(path)
}

/// Rewrite a damaged file that is a deterministic function of the run's settings (the
/// initialization) from `named`, but only if the rewrite is byte-identical to what the manifest
/// recorded; otherwise `damage` stands.
pub fn restore_tensors(path: &Path, named: &[(String, Tensor)], damage: Error) -> Result<()> {
    let (dir, name) = file_name(path)?;
    let Some(want) = read_manifest(dir)?.remove(&name) else {
        return Err(damage);
    };
    let tmp = dir.join(format!(".{name}.restore"));
    save_tensors(&tmp, named)?;
    forget(&tmp)?;
    if Entry::of(&tmp)? != want {
        let _ = std::fs::remove_file(&tmp);
        return Err(damage);
    }
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    crate::io::sync_parent(path)?;
    eprintln!("warning: {damage}; restored it from the run's seed (identical to the record)");
    Ok(())
}

/// Read safetensors into named CPU tensors, after checking the file against its manifest entry
/// and its header against its size ([`crate::data::safetensors::parse`]).
pub fn load_tensors(path: &Path) -> Result<Vec<(String, Tensor)>> {
    verify(path)?;
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let bad = |reason: String| Error::Format {
        path: path.to_path_buf(),
        reason,
    };
    crate::data::safetensors::parse(&bytes)
        .map_err(bad)?
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            Tensor::try_from(view)
                .map(|t| (name, t))
                .map_err(|e| bad(e.to_string().replace('\n', " ")))
        })
        .collect()
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
    crate::io::write_csv_rows(path, &["iteration", "split", "loss", "accuracy"], &rows)?;
    record(path)
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
    /// On the planted-teacher dataset with an MLP of the teacher's depth: units matched by the
    /// Hungarian assignment on activations, matched / identifiable / input-feature F1
    /// (`lottery::recovery`, theory/recovery.md (a)); positions are not identifiable, these are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<crate::recovery::RecoveryReport>,
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
        recovery: None,
        method: None,
        trace: None,
    }
}

/// Write `summary.json` (any serializable summary) into `dir`, atomically, recorded.
pub fn write_summary<T: Serialize>(dir: &Path, summary: &T) -> Result<()> {
    let json = serde_json::to_string_pretty(summary)
        .map_err(|e| Error::param("summary", e.to_string()))?;
    write_file(&dir.join(SUMMARY), json.as_bytes())
}

/// The divergence record a diverged phase keeps as its `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Divergence {
    /// Iteration at which it was seen.
    pub iteration: usize,
    /// `loss` or `weight <name>`.
    pub quantity: String,
    /// The value, as text (`NaN`, `inf`).
    pub value: String,
    /// Iteration of the last good checkpoint kept in the directory.
    pub checkpoint: Option<usize>,
}

#[derive(Serialize, Deserialize)]
struct Diverged {
    diverged: Divergence,
}

/// The run directory `dir` belongs to: the nearest ancestor (or itself) holding `run.json`.
pub fn run_root(dir: &Path) -> PathBuf {
    dir.ancestors()
        .find(|d| d.join(crate::run::identity::IDENTITY).exists())
        .unwrap_or(dir)
        .to_path_buf()
}

fn diverged_error(dir: &Path, d: &Divergence) -> Error {
    Error::Diverged {
        iteration: d.iteration,
        quantity: d.quantity.clone(),
        value: d.value.clone(),
        dir: dir.to_path_buf(),
        run: run_root(dir),
        checkpoint: d.checkpoint,
    }
}

/// Record a divergence as `dir`'s summary; returns the error to report.
pub fn write_divergence(dir: &Path, d: Divergence) -> Error {
    let err = diverged_error(dir, &d);
    match write_summary(dir, &Diverged { diverged: d }) {
        Ok(()) => err,
        Err(e) => e,
    }
}

/// The summary of a finished phase in `dir`, if there is one. A phase whose files do not match
/// its manifest, or whose summary does not parse, is not finished: its summary is removed (so
/// the phase is recomputed) and one line on stderr says why. A diverged phase is an
/// [`Error::Diverged`].
pub fn finished(dir: &Path) -> Result<Option<Summary>> {
    let path = dir.join(SUMMARY);
    if !path.exists() {
        return Ok(None);
    }
    let checked = verify_dir(dir).and_then(|()| crate::io::read_json::<serde_json::Value>(&path));
    let value = match checked {
        Ok(v) => v,
        Err(e) => {
            eprintln!("warning: {e}; recomputing {}", dir.display());
            std::fs::remove_file(&path).map_err(io_err(&path))?;
            forget(&path)?;
            return Ok(None);
        }
    };
    if let Ok(Diverged { diverged: d }) = serde_json::from_value::<Diverged>(value.clone()) {
        return Err(diverged_error(dir, &d));
    }
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| Error::Format {
            path,
            reason: e.to_string(),
        })
}

/// Whether `dir` holds a finished phase ([`finished`]; a diverged one is an error).
pub fn is_finished(dir: &Path) -> Result<bool> {
    finished(dir).map(|s| s.is_some())
}

/// Reopen every diverged phase under `run_dir` for resumption: each diverged `summary.json`
/// is renamed `diverged-<iteration>.json` (the record stays), so that the phase resumes from
/// its last good checkpoint. Returns how many there were.
pub fn resume_diverged(run_dir: &Path) -> Result<usize> {
    let mut found = 0;
    let mut stack = vec![run_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let p = entry.map_err(io_err(&dir))?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == SUMMARY) {
                if let Ok(Diverged { diverged: d }) = crate::io::read_json::<Diverged>(&p) {
                    let kept = dir.join(format!("diverged-{}.json", d.iteration));
                    std::fs::rename(&p, &kept).map_err(io_err(&p))?;
                    forget(&p)?;
                    found += 1;
                }
            }
        }
    }
    Ok(found)
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

/// Whether `dir` holds a checkpoint to resume: `checkpoint.json` and its tensor file, both
/// matching the manifest. An invalid checkpoint is removed (one line on stderr), so that the
/// phase restarts from its beginning.
pub fn has_checkpoint(dir: &Path) -> bool {
    let json = dir.join(CHECKPOINT);
    if !json.exists() {
        return false;
    }
    let valid = verify(&json)
        .and_then(|()| crate::io::read_json::<Progress>(&json))
        .and_then(|p| verify(&dir.join(&p.tensors)).map(|()| p));
    match valid {
        Ok(_) => true,
        Err(e) => {
            eprintln!(
                "warning: {e}; discarding the checkpoint of {}",
                dir.display()
            );
            let _ = std::fs::remove_file(&json);
            let _ = forget(&json);
            false
        }
    }
}

/// Read the checkpoint of `dir`: progress and its tensors.
pub fn read_checkpoint(dir: &Path) -> Result<(Progress, Vec<(String, Tensor)>)> {
    let json = dir.join(CHECKPOINT);
    verify(&json)?;
    let progress: Progress = crate::io::read_json(&json)?;
    let tensors = load_tensors(&dir.join(&progress.tensors))?;
    Ok((progress, tensors))
}

/// The iteration of `dir`'s checkpoint, if it has a readable one.
pub fn checkpoint_iteration(dir: &Path) -> Option<usize> {
    crate::io::read_json::<Progress>(&dir.join(CHECKPOINT))
        .ok()
        .map(|p| p.iteration)
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
    write_file(&dir.join(CHECKPOINT), json.as_bytes())?;
    if !old.is_empty() && old != progress.tensors {
        let _ = std::fs::remove_file(dir.join(&old));
        forget(&dir.join(old))?;
    }
    Ok(())
}

/// Remove the checkpoint of a finished training.
pub fn clear_checkpoint(dir: &Path, progress: &Progress) -> Result<()> {
    let mut files = vec![dir.join(CHECKPOINT)];
    if !progress.tensors.is_empty() {
        files.push(dir.join(&progress.tensors));
    }
    for f in files {
        let _ = std::fs::remove_file(&f);
        forget(&f)?;
    }
    Ok(())
}
