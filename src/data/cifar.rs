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

/// Decode the records of one CIFAR-10 file: pixels scaled to [0, 1] and labels, or a one-line
/// reason. Fuzzed (`tests/fuzz`, target `cifar`).
pub fn decode(bytes: &[u8]) -> std::result::Result<(Vec<f32>, Vec<u8>), String> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
        return Err(format!(
            "{} bytes is not a whole number of {RECORD}-byte CIFAR-10 records (truncated?)",
            bytes.len()
        ));
    }
    let mut x = Vec::with_capacity(bytes.len() - bytes.len() / RECORD);
    let mut y = Vec::with_capacity(bytes.len() / RECORD);
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] >= 10 {
            return Err(format!("record {i}: label {} out of range 0..10", rec[0]));
        }
        y.push(rec[0]);
        x.extend(rec[1..].iter().map(|&b| f32::from(b) / 255.0));
    }
    Ok((x, y))
}

/// Decode CIFAR-10 files into a dataset with pixels scaled to [0, 1].
pub fn read(paths: &[PathBuf]) -> Result<Dataset> {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path).map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })?;
        let (px, labels) = decode(&bytes).map_err(|reason| Error::Format {
            path: path.clone(),
            reason,
        })?;
        x.extend(px);
        y.extend(labels);
    }
    Dataset::new(x, y, [3, 32, 32], 10)
}
