//! The CIFAR-10 binary version: files of 3073-byte records (a label byte, then 1024 red, 1024
//! green and 1024 blue bytes of a 32×32 image).

use std::path::{Path, PathBuf};

use super::Dataset;
use crate::{Error, Result};

const RECORD: usize = 1 + 3 * 32 * 32;

/// The training files (`data_batch_1.bin` … `data_batch_5.bin`) or the test file
/// (`test_batch.bin`), looked up in `dir` and in `dir/cifar-10-batches-bin`.
pub fn files(dir: &Path, train: bool) -> Vec<PathBuf> {
    let base = if dir.join("cifar-10-batches-bin").is_dir() {
        dir.join("cifar-10-batches-bin")
    } else {
        dir.to_path_buf()
    };
    if train {
        (1..=5)
            .map(|i| base.join(format!("data_batch_{i}.bin")))
            .collect()
    } else {
        vec![base.join("test_batch.bin")]
    }
}

/// Decode CIFAR-10 records into a dataset with pixels scaled to [0, 1].
pub fn read(paths: &[PathBuf]) -> Result<Dataset> {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path).map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })?;
        if bytes.is_empty() || bytes.len() % RECORD != 0 {
            return Err(Error::Format {
                path: path.clone(),
                reason: format!(
                    "{} bytes is not a whole number of {RECORD}-byte CIFAR-10 records (truncated?)",
                    bytes.len()
                ),
            });
        }
        for rec in bytes.chunks_exact(RECORD) {
            if rec[0] >= 10 {
                return Err(Error::Format {
                    path: path.clone(),
                    reason: format!("label {} out of range 0..10", rec[0]),
                });
            }
            y.push(rec[0]);
            x.extend(rec[1..].iter().map(|&b| f32::from(b) / 255.0));
        }
    }
    Dataset::new(x, y, [3, 32, 32], 10)
}
