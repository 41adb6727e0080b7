//! Where runs live and how they are opened at run time ([`Env`]: runs root, data directory,
//! device, `--rerun`, `--resume-diverged`), and the one-thread rule of CPU runs
//! ([`cpu_threads`]). Split from [`super::phase`], which re-exports both.

use std::path::{Path, PathBuf};

use tch::Device;

use super::rundir;
use crate::run::RunConfig;
use crate::Result;

/// Where the options come from at run time (not part of the run's hash).
#[derive(Clone, Debug)]
pub struct Env {
    /// Root of the runs (`runs/`).
    pub runs: PathBuf,
    /// Dataset directory override.
    pub data_dir: Option<PathBuf>,
    /// Device.
    pub device: Device,
    /// Show a progress bar.
    pub progress: bool,
    /// A run directory whose stored settings differ from the request is moved aside
    /// (`<name>.stale-<n>`) and the run started again, instead of being refused.
    pub rerun: bool,
    /// Resume this diverged run directory (instead of the one the settings name) from its last
    /// good checkpoints, accepting new learning rates (`lr`, `finetune_lr`, `score_lr`,
    /// `convex_lr`, `fw_step`), recorded as amendments in its `run.json`.
    pub resume_diverged: Option<PathBuf>,
}

impl Env {
    /// Runs under `runs` on `device`, without a progress bar, refusing mismatched runs.
    pub fn new(runs: impl Into<PathBuf>, device: Device) -> Self {
        Env {
            runs: runs.into(),
            data_dir: None,
            device,
            progress: false,
            rerun: false,
            resume_diverged: None,
        }
    }

    /// With the dataset directory override.
    pub fn with_data_dir(mut self, data_dir: Option<PathBuf>) -> Self {
        self.data_dir = data_dir;
        self
    }

    /// With a progress bar when standard error is a terminal.
    pub fn interactive(mut self) -> Self {
        self.progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
        self
    }

    /// Moving a mismatched run aside instead of refusing it (`--rerun`).
    pub fn with_rerun(mut self, rerun: bool) -> Self {
        self.rerun = rerun;
        self
    }

    /// Resuming this diverged run directory (`--resume-diverged`).
    pub fn with_resume_diverged(mut self, dir: Option<PathBuf>) -> Self {
        self.resume_diverged = dir;
        self
    }

    /// The directory of the run `cfg` names under [`Env::runs`], or the diverged run being
    /// resumed.
    pub fn run_dir(&self, cfg: &RunConfig) -> Result<PathBuf> {
        match &self.resume_diverged {
            Some(dir) => Ok(dir.clone()),
            None => Ok(self.runs.join(cfg.hash()?)),
        }
    }

    /// Open the run directory `dir` for `cfg` under `command` ([`crate::run::identity::open`],
    /// with this environment's `rerun` and `resume_diverged`).
    pub fn open(
        &self,
        dir: &Path,
        cfg: &RunConfig,
        command: &str,
        extra: &[(&str, serde_json::Value)],
    ) -> Result<crate::run::OpenRun> {
        cpu_threads(self.device)?;
        let run = crate::run::identity::open(
            dir,
            cfg,
            command,
            extra,
            self.rerun,
            self.resume_diverged.is_some(),
        )?;
        if self.resume_diverged.is_some() {
            let n = rundir::resume_diverged(dir)?;
            if n == 0 {
                return Err(crate::Error::param(
                    "resume-diverged",
                    format!("{} has no diverged phase", dir.display()),
                ));
            }
        }
        Ok(run)
    }
}

/// Fewest iterations between two checkpoints: `LOTTERY_CHECKPOINT_ITERATIONS` (default 0).
/// Checkpoints fall at epoch ends; on a small training set (the planted teacher at a few
/// hundred samples: 4 iterations per epoch) writing one per epoch dominates the run, so a run
/// can ask for the first epoch end at least this many iterations after the last. Results do not
/// depend on it (a resume replays the batch order from the checkpoint's epoch end); an
/// interruption costs at most that many iterations more.
pub fn checkpoint_spacing() -> Result<usize> {
    match std::env::var("LOTTERY_CHECKPOINT_ITERATIONS") {
        Err(_) => Ok(0),
        Ok(v) => v.trim().parse::<usize>().map_err(|_| {
            crate::Error::param(
                "LOTTERY_CHECKPOINT_ITERATIONS",
                format!("`{}` is not a non-negative integer", v.escape_debug()),
            )
        }),
    }
}

/// Intra-op threads of a CPU run: 1, or `LOTTERY_CPU_THREADS`.
///
/// libtorch's CPU kernels split reductions across threads, and the split changes the rounding
/// (1 and 2 threads end with different bits). One thread by default makes a run's files
/// independent of the core count and of how it ran (alone, N local workers, a Slurm task);
/// parallelism comes from running cells side by side.
pub fn cpu_threads(device: Device) -> Result<()> {
    if device != Device::Cpu {
        return Ok(());
    }
    let n = match std::env::var("LOTTERY_CPU_THREADS") {
        Err(_) => 1,
        Ok(v) => v
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| {
                crate::Error::param(
                    "LOTTERY_CPU_THREADS",
                    format!("`{}` is not a positive integer", v.escape_debug()),
                )
            })?,
    };
    tch::set_num_threads(n);
    Ok(())
}
