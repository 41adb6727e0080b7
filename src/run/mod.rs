//! Runs: typed configurations (TOML, named presets, command-line overrides), the run's name,
//! and its identity and lock ([`identity`]). The files of a run directory are written by `nn::rundir` (feature
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
pub mod identity;
pub mod kinds;
pub mod knobs;
pub mod layerwise;
pub mod manifest;
pub mod presets;
pub mod sweep;

pub use config::RunConfig;
pub use identity::{OpenRun, RunLock};
pub use kinds::{Method, Rewind};
pub use presets::PRESETS;
