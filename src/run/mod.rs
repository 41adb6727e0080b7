//! Runs: typed configurations (TOML, named presets, command-line overrides), the run's name
//! and a per-run lock. The files of a run directory are written by `nn::rundir` (feature
//! `torch`).
//!
//! As in open_lth, a run's directory name is a hash of its **non-default** settings relative to
//! its preset, so adding an option with a no-op default keeps every existing run name valid (a
//! test pins a hash).
//!
//! ```
//! use lottery::run::{Method, RunConfig};
//! let mut cfg = RunConfig::preset("lenet300-lth").unwrap();
//! assert_eq!(cfg.hash().unwrap(), "lenet300-lth-a74947baea407f36");
//! cfg.set("levels", "3").unwrap();
//! cfg.set("iterations", "1000").unwrap();
//! assert_eq!(cfg.hash().unwrap(), "lenet300-lth-08769446ca5e52aa");
//! cfg.set("method", "early-bird").unwrap();
//! assert_eq!(cfg.method, Method::EarlyBird);
//! // Unknown keys and out-of-range values are one-line errors.
//! assert!(cfg.set("colour", "blue").unwrap_err().to_string().contains("unknown key `colour`"));
//! assert!(cfg.set("rate_fc", "1.5").is_err());
//! ```

pub mod config;
pub mod kinds;
pub mod presets;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

pub use config::RunConfig;
pub use kinds::{Method, Rewind};
pub use presets::PRESETS;

/// An exclusive lock on a run directory: a `lock` file holding the owner's pid, created with
/// `O_EXCL`. A stale lock (its process no longer exists) is taken over; a live one is refused.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

impl RunLock {
    /// Lock `dir` (created if missing).
    pub fn acquire(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir).map_err(|e| Error::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
        let path = dir.join("lock");
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    let _ = writeln!(f, "{}", std::process::id());
                    return Ok(RunLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = fs::read_to_string(&path).unwrap_or_default();
                    let pid: Option<u32> = owner.trim().parse().ok();
                    let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
                    if alive {
                        return Err(Error::param(
                            "run",
                            format!(
                                "{} is in use by process {} (remove {} if that is wrong)",
                                dir.display(),
                                owner.trim(),
                                path.display()
                            ),
                        ));
                    }
                    let _ = fs::remove_file(&path);
                }
                Err(e) => return Err(Error::Io { path, source: e }),
            }
        }
        Err(Error::param(
            "run",
            format!("could not lock {}", dir.display()),
        ))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
