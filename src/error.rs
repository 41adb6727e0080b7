//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in `lottery`, each variant carrying the numbers that explain it.
///
/// Every message is one line so that the CLI can print it as is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter outside its documented range (checked once, before solving).
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// Parameter name as in the `Params` struct or the CLI flag.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A sparsity budget that cannot be met.
    #[error("budget k = {k} is out of range for {len} coordinates (need 1 <= k <= {len})")]
    Budget {
        /// Requested number of coordinates.
        k: usize,
        /// Number of coordinates available.
        len: usize,
    },
    /// Two objects whose shapes must agree do not.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A NaN or infinite value where finite numbers are required.
    #[error("non-finite value in {0}")]
    NonFinite(String),
    /// A numerical failure (for example a Gram matrix that is not positive definite).
    #[error("numerical failure: {0}")]
    Numerical(String),
    /// A combination that this crate does not support (for example away steps on a non-polytope).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A file that cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A run directory whose lock another process holds.
    #[error("{} is in use by process {owner}", dir.display())]
    InUse {
        /// The run directory.
        dir: PathBuf,
        /// The holder's process id, as it wrote it (`?` when unknown).
        owner: String,
    },
    /// A file whose contents are malformed.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Training produced a non-finite loss or weight; the phase stopped, its last good
    /// checkpoint kept.
    #[error(
        "training diverged at iteration {iteration}: {quantity} = {value} in {}; {}; to resume \
         with a smaller learning rate, repeat the command with --set lr=<smaller> \
         --resume-diverged {}",
        dir.display(),
        match checkpoint {
            Some(c) => format!("last good checkpoint at iteration {c} kept"),
            None => "no checkpoint before it".to_string(),
        },
        run.display()
    )]
    Diverged {
        /// The iteration (1-based count of steps taken when it was seen).
        iteration: usize,
        /// `loss`, or `weight <name>`.
        quantity: String,
        /// The offending value (`NaN`, `inf`, …).
        value: String,
        /// The phase directory.
        dir: PathBuf,
        /// The run directory it belongs to.
        run: PathBuf,
        /// Iteration of the last good checkpoint.
        checkpoint: Option<usize>,
    },
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for [`Error::InvalidParameter`].
    pub fn param(name: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }
}

/// Fails with [`Error::NonFinite`] unless every value is finite.
pub fn ensure_finite<'a>(values: impl IntoIterator<Item = &'a f64>, what: &str) -> Result<()> {
    if values.into_iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(Error::NonFinite(what.to_string()))
    }
}

/// Fails unless `v` is finite and positive.
pub fn check_positive(name: &'static str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::param(name, format!("{v} must be finite and > 0")))
    }
}

/// Fails unless $1 \le k \le d$.
pub fn check_sparsity(k: usize, d: usize) -> Result<()> {
    if k == 0 || k > d {
        Err(Error::Budget { k, len: d })
    } else {
        Ok(())
    }
}
