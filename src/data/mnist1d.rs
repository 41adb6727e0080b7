//! MNIST-1D (Greydanus 2020): 40-sample one-dimensional signals in 10 classes, 4000 training and
//! 1000 test samples from the `mnist1d` package's `make_dataset()` defaults — a dataset small
//! enough for lottery-ticket science on a CPU, on which networks differ more than on MNIST.
//!
//! `scripts/mnist1d [DIR]` (default `data/mnist1d`) writes the standard split as four `.npy`
//! files of float64 — `x_train.npy` ($N\times 40$), `y_train.npy` (labels as floats),
//! `x_test.npy`, `y_test.npy` — which this module reads through the project's fuzzed `.npy`
//! decoder ([`crate::io::decode_npy`]). Samples have shape $(1, 1, 40)$.

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};

use super::Dataset;
use crate::{Error, Result};

/// Where `scripts/mnist1d` writes the files by default.
pub const DIR: &str = "data/mnist1d";

/// The four files of a directory: (x_train, y_train, x_test, y_test).
pub fn files(dir: &Path) -> [PathBuf; 4] {
    ["x_train", "y_train", "x_test", "y_test"].map(|f| dir.join(format!("{f}.npy")))
}

/// A dataset from features ($N \times d$) and labels (length $N$, integers in 0..10 stored as
/// floats); `what` names the source in errors.
pub fn from_arrays(x: Array2<f64>, y: Array1<f64>, what: &str) -> Result<Dataset> {
    let (n, d) = x.dim();
    if n != y.len() || d == 0 {
        return Err(Error::Shape(format!(
            "{what}: {n} samples of length {d} for {} labels",
            y.len()
        )));
    }
    let labels = y
        .iter()
        .map(|&v| {
            if v.fract() == 0.0 && (0.0..10.0).contains(&v) {
                Ok(v as u8)
            } else {
                Err(Error::Shape(format!(
                    "{what}: label {v} is not a class 0..9"
                )))
            }
        })
        .collect::<Result<Vec<u8>>>()?;
    let values: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    Dataset::new(values, labels, [1, 1, d], 10)
}

/// Read (train, test) from the `.npy` files in `dir`; a missing directory says how to make it.
pub fn load(dir: &Path) -> Result<(Dataset, Dataset)> {
    let [xtr, ytr, xte, yte] = files(dir);
    if !xtr.exists() {
        return Err(Error::param(
            "dataset",
            format!(
                "no MNIST-1D in {} (run scripts/mnist1d {} to generate it)",
                dir.display(),
                dir.display()
            ),
        ));
    }
    let read = |x: &Path, y: &Path| -> Result<Dataset> {
        from_arrays(
            crate::io::read_matrix(x)?,
            crate::io::read_vector(y)?,
            &x.display().to_string(),
        )
    };
    let (train, test) = (read(&xtr, &ytr)?, read(&xte, &yte)?);
    if train.shape != test.shape {
        return Err(Error::Shape(format!(
            "{}: train samples {:?}, test samples {:?}",
            dir.display(),
            train.shape,
            test.shape
        )));
    }
    Ok((train, test))
}
