//! Datasets for the network side, in plain Rust (no libtorch needed): Fashion-MNIST / MNIST
//! (IDX, `.gz` or raw), CIFAR-10 (binary batches), and a planted sparse teacher; a seeded
//! validation split taken from the training set (as the LTH paper does), per-channel
//! normalization, and a seeded, checkpointable batch order.
//!
//! ```
//! use lottery::data::Batcher;
//! // The batch order is a function of the seed, and survives a checkpoint (serde).
//! let mut a = Batcher::new(10, 4, 7).unwrap();
//! let first = a.next_batch();
//! let saved = serde_json::to_string(&a).unwrap();
//! let mut b: Batcher = serde_json::from_str(&saved).unwrap();
//! assert_eq!(first.len(), 4);
//! assert_eq!(a.next_batch(), b.next_batch());
//! assert_eq!(Batcher::new(10, 4, 7).unwrap().next_batch(), first);
//! ```

pub mod cifar;
pub mod idx;
pub mod mnist1d;
pub mod safetensors;
pub mod teacher;

use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Where Debian's `dataset-fashion-mnist` package puts the files.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// A classification dataset held in memory: samples as f32, $N\times C\times H\times W$ row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Features, `len() * feature_len()` values.
    pub x: Vec<f32>,
    /// Labels in `0..classes`.
    pub y: Vec<u8>,
    /// $(C, H, W)$ of one sample.
    pub shape: [usize; 3],
    /// Number of classes.
    pub classes: usize,
    /// Real-valued targets, `len() * classes` values row-major (regression on a planted
    /// teacher's outputs); empty when the labels are the targets.
    pub targets: Vec<f32>,
}

impl Dataset {
    /// Validates that features, labels and shape agree and that labels are in range.
    pub fn new(x: Vec<f32>, y: Vec<u8>, shape: [usize; 3], classes: usize) -> Result<Self> {
        let per: usize = shape.iter().product();
        if per == 0 || x.len() != y.len() * per {
            return Err(Error::Shape(format!(
                "{} feature values for {} labels of shape {shape:?}",
                x.len(),
                y.len()
            )));
        }
        if let Some(&bad) = y.iter().find(|&&l| usize::from(l) >= classes) {
            return Err(Error::Shape(format!(
                "label {bad} out of range 0..{classes}"
            )));
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite("dataset features".into()));
        }
        Ok(Dataset {
            x,
            y,
            shape,
            classes,
            targets: Vec::new(),
        })
    }

    /// Attach real-valued targets (`len() * classes` finite values, row-major).
    pub fn with_targets(mut self, targets: Vec<f32>) -> Result<Self> {
        if targets.len() != self.len() * self.classes {
            return Err(Error::Shape(format!(
                "{} target values for {} samples of {} outputs",
                targets.len(),
                self.len(),
                self.classes
            )));
        }
        if targets.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite("dataset targets".into()));
        }
        self.targets = targets;
        Ok(self)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Values per sample, $CHW$.
    pub fn feature_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Features of sample `i`.
    pub fn sample(&self, i: usize) -> &[f32] {
        let p = self.feature_len();
        &self.x[i * p..(i + 1) * p]
    }

    /// The samples at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        let p = self.feature_len();
        let mut x = Vec::with_capacity(idx.len() * p);
        let mut y = Vec::with_capacity(idx.len());
        let k = self.classes;
        let mut targets = Vec::with_capacity(if self.targets.is_empty() {
            0
        } else {
            idx.len() * k
        });
        for &i in idx {
            x.extend_from_slice(self.sample(i));
            y.push(self.y[i]);
            if !self.targets.is_empty() {
                targets.extend_from_slice(&self.targets[i * k..(i + 1) * k]);
            }
        }
        Dataset {
            x,
            y,
            shape: self.shape,
            classes: self.classes,
            targets,
        }
    }

    /// Hold out `n_val` samples chosen by a seeded permutation: returns (train, validation);
    /// the remaining training samples keep their original order.
    pub fn split_validation(&self, n_val: usize, seed: u64) -> Result<(Dataset, Dataset)> {
        if n_val >= self.len() {
            return Err(Error::param(
                "validation",
                format!("cannot hold out {n_val} of {} samples", self.len()),
            ));
        }
        let mut perm: Vec<usize> = (0..self.len()).collect();
        perm.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let mut val: Vec<usize> = perm[..n_val].to_vec();
        let mut train: Vec<usize> = perm[n_val..].to_vec();
        val.sort_unstable();
        train.sort_unstable();
        Ok((self.subset(&train), self.subset(&val)))
    }

    /// Per-channel mean and standard deviation.
    pub fn channel_stats(&self) -> (Vec<f32>, Vec<f32>) {
        let [c, h, w] = self.shape;
        let hw = h * w;
        let mut mean = vec![0f64; c];
        let mut sq = vec![0f64; c];
        for s in self.x.chunks_exact(c * hw) {
            for ch in 0..c {
                for &v in &s[ch * hw..(ch + 1) * hw] {
                    mean[ch] += f64::from(v);
                    sq[ch] += f64::from(v) * f64::from(v);
                }
            }
        }
        let count = (self.len() * hw).max(1) as f64;
        let mean: Vec<f64> = mean.iter().map(|m| m / count).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(s, m)| ((s / count - m * m).max(0.0)).sqrt().max(1e-8) as f32)
            .collect();
        (mean.into_iter().map(|m| m as f32).collect(), std)
    }

    /// $x \leftarrow (x - \mu_c)/\sigma_c$ per channel (use the training set's statistics for
    /// every split).
    pub fn normalize(&mut self, mean: &[f32], std: &[f32]) {
        let [c, h, w] = self.shape;
        let hw = h * w;
        for s in self.x.chunks_exact_mut(c * hw) {
            for ch in 0..c {
                for v in &mut s[ch * hw..(ch + 1) * hw] {
                    *v = (*v - mean[ch]) / std[ch];
                }
            }
        }
    }
}

/// Which split of a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The training file(s).
    Train,
    /// The test file(s).
    Test,
}

fn mnist_file(dir: &Path, stem: &str) -> PathBuf {
    let gz = dir.join(format!("{stem}.gz"));
    if gz.exists() {
        gz
    } else {
        dir.join(stem)
    }
}

/// Fashion-MNIST or MNIST from `dir` (`train-images-idx3-ubyte[.gz]`, …), pixels scaled to [0, 1].
pub fn load_mnist(dir: &Path, split: Split) -> Result<Dataset> {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let img_path = mnist_file(dir, &format!("{prefix}-images-idx3-ubyte"));
    let lab_path = mnist_file(dir, &format!("{prefix}-labels-idx1-ubyte"));
    let images = idx::read(&img_path)?;
    let labels = idx::read(&lab_path)?;
    if images.dims.len() != 3 {
        return Err(Error::Format {
            path: img_path,
            reason: format!("expected 3 dimensions (N, H, W), found {:?}", images.dims),
        });
    }
    if labels.dims.len() != 1 || labels.dims[0] != images.dims[0] {
        return Err(Error::Format {
            path: lab_path,
            reason: format!("{:?} labels for {} images", labels.dims, images.dims[0]),
        });
    }
    if let Some(&l) = labels.data.iter().find(|&&l| l >= 10) {
        return Err(Error::Format {
            path: lab_path,
            reason: format!("label {l} out of range 0..10"),
        });
    }
    let x = images.data.iter().map(|&b| f32::from(b) / 255.0).collect();
    Dataset::new(x, labels.data, [1, images.dims[1], images.dims[2]], 10)
}

/// A seeded batch order over `n` samples, reshuffled every epoch; serializable so that a
/// checkpoint resumes the exact data order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Batcher {
    rng: ChaCha8Rng,
    order: Vec<usize>,
    pos: usize,
    batch: usize,
    /// Completed epochs.
    pub epoch: usize,
}

impl Batcher {
    /// Batches of `batch` indices out of `n`, order drawn from `seed`.
    pub fn new(n: usize, batch: usize, seed: u64) -> Result<Self> {
        if batch == 0 || n == 0 {
            return Err(Error::param(
                "batch",
                format!("batch {batch} over {n} samples"),
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        Ok(Batcher {
            rng,
            order,
            pos: 0,
            batch: batch.min(n),
            epoch: 0,
        })
    }

    /// The next batch; a new epoch (and a new permutation) starts when fewer than `batch`
    /// samples remain, so every batch is full.
    pub fn next_batch(&mut self) -> Vec<usize> {
        if self.pos + self.batch > self.order.len() {
            self.order.shuffle(&mut self.rng);
            self.pos = 0;
            self.epoch += 1;
        }
        let b = self.order[self.pos..self.pos + self.batch].to_vec();
        self.pos += self.batch;
        b
    }

    /// Batches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        self.order.len() / self.batch
    }
}
