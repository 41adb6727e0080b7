//! # lottery-experiments — the figures and tables of `lottery`
//!
//! The logic of the experiment binaries in `experiments/*.rs` (which only parse flags and write
//! files) and the plotting helpers ([`plot`]), kept out of the `lottery` library so that the
//! library ships neither clap nor plotters. Cells are independent, seeded from their grid
//! position, and run in parallel with rayon, so results do not depend on the thread count.
#![warn(missing_docs)]

#[cfg(feature = "torch")]
pub mod early_phase;
#[cfg(feature = "torch")]
pub mod evidence;
#[cfg(feature = "torch")]
pub mod frankle_carbin;
#[cfg(feature = "torch")]
pub mod instability;
pub mod layer_recovery;
#[cfg(feature = "torch")]
pub mod lottery_curve;
#[cfg(feature = "torch")]
pub mod methods;
#[cfg(feature = "torch")]
pub mod one_shot;
pub mod phase_transition;
pub mod rates;
#[cfg(feature = "torch")]
pub mod renda;
#[cfg(feature = "torch")]
pub mod sweeps;
#[cfg(feature = "torch")]
pub mod ticket_recovery;
pub mod tradeoff;

/// The plotting helpers (moved into the library as `lottery::plot`, feature `plot`).
pub use lottery::plot;

use std::path::PathBuf;

use lottery::{Error, Result};

extern "C" {
    fn openblas_set_num_threads(n: std::os::raw::c_int);
}

/// Run BLAS single-threaded: the experiments parallelize over cells with rayon instead, which
/// keeps every BLAS call's summation order fixed.
pub fn blas_single_thread() {
    // SAFETY: plain setter exported by the OpenBLAS library this crate links.
    unsafe { openblas_set_num_threads(1) }
}

/// Flags shared by every experiment binary.
#[derive(Clone, Debug, clap::Args)]
pub struct ExperimentArgs {
    /// Paper size instead of the default size.
    #[arg(long)]
    pub paper: bool,
    /// Results root (each experiment writes into `<out>/<name>/`).
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Base seed (the convex experiments; the network experiments take their seeds from
    /// their sweep files).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl ExperimentArgs {
    /// The paper-size configuration with `--paper`, else the default size.
    pub fn size<C>(&self, paper: impl FnOnce() -> C, default: impl FnOnce() -> C) -> C {
        if self.paper {
            paper()
        } else {
            default()
        }
    }

    /// Set BLAS single-threaded (cells run in parallel instead) and create `<out>/<name>/`.
    pub fn prepare(&self, name: &str) -> Result<PathBuf> {
        blas_single_thread();
        out_dir(&self.out, name)
    }
}

/// `results/<name>/`, created if missing.
pub fn out_dir(root: &std::path::Path, name: &str) -> Result<PathBuf> {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
        path: dir.clone(),
        source: e,
    })?;
    Ok(dir)
}

/// Write an experiment's rows (any serializable record) as a CSV table with the field names
/// as header, atomically; every number at full precision.
pub fn write_rows<T: serde::Serialize>(path: &std::path::Path, rows: &[T]) -> Result<()> {
    let mut w = csv_writer();
    for r in rows {
        w.serialize(r)
            .map_err(|e| Error::param("csv", format!("{}: {e}", path.display())))?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::param("csv", format!("{}: {e}", path.display())))?;
    lottery::io::write_atomic(path, &bytes)
}

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::Writer::from_writer(Vec::new())
}

/// A deterministic seed for cell `(a, b, c)` of an experiment with base seed `seed`
/// (SplitMix64 mixing).
pub fn cell_seed(seed: u64, a: u64, b: u64, c: u64) -> u64 {
    let mut z = seed
        ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ b.wrapping_mul(0xBF58_476D_1CE4_E5B9)
        ^ c.wrapping_mul(0x94D0_49BB_1331_11EB);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
