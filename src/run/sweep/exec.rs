//! Running a sweep: the executors' shared entry point ([`execute`]), the worker command line,
//! and the default number of local workers.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{keep_copy, local, merge, slurm, write_results, Cell, Sweep, Tally};
use crate::Result;

/// How many workers fit this machine: one per core, and at most one per 2 GiB of available
/// memory (a LeNet / Conv cell on CPU stays under 1 GiB; ResNets more), at least 1.
pub fn default_jobs() -> usize {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mem_gib = fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| (kb / (1024 * 1024)) as usize)
    });
    match mem_gib {
        Some(g) => cores.min(g / 2).max(1),
        None => cores.max(1),
    }
}

/// Where the cells run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Executor {
    /// `jobs` worker processes on this machine ([`local`]).
    Local {
        /// Workers at once.
        jobs: usize,
    },
    /// One Slurm job array ([`slurm`]); with `no_wait`, submit and return.
    Slurm {
        /// Submit and return instead of following the job.
        no_wait: bool,
    },
}

/// What [`execute`] ended with.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Every cell done: `results.csv` (and the figure `results.svg|png`) written.
    Complete {
        /// The path of `results.csv`.
        results: PathBuf,
        /// The merged table (header first).
        table: Vec<Vec<String>>,
        /// The cells' states.
        tally: Tally,
    },
    /// Some cells failed or remain: nothing merged.
    Incomplete(Tally),
    /// Submitted to Slurm without waiting: the job ids.
    Submitted(Vec<String>),
}

/// Run a sweep's cells that are not done with `executor`, then merge every cell's rows into
/// `<sweep dir>/results.csv` and draw its figure. Every cell is checked before anything runs;
/// a failing cell never stops the others. `say` receives progress lines (Slurm job ids, sacct
/// lines).
pub fn execute(
    sweep: &Sweep,
    sweep_dir: &Path,
    worker: &Worker,
    executor: Executor,
    progress: bool,
    say: &mut dyn FnMut(&str),
) -> Result<Outcome> {
    let cells: Vec<Cell> = sweep.checked_cells()?.into_iter().map(|(c, _)| c).collect();
    keep_copy(sweep_dir, &sweep.text)?;
    let tally = match executor {
        Executor::Local { jobs } => local::run(sweep_dir, &cells, worker, jobs, progress)?,
        Executor::Slurm { no_wait } => {
            let out = slurm::run(sweep, sweep_dir, &cells, worker, no_wait, say)?;
            for l in &out.sacct {
                say(&format!("sacct: {l}"));
            }
            match out.tally {
                Some(t) => t,
                None => return Ok(Outcome::Submitted(out.jobs)),
            }
        }
    };
    if !tally.complete() {
        return Ok(Outcome::Incomplete(tally));
    }
    let table = merge(sweep, sweep_dir, &cells)?;
    let results = write_results(sweep_dir, &table)?;
    #[cfg(feature = "plot")]
    crate::plot::sweep_figure(&table, &sweep_dir.join("results"))?;
    Ok(Outcome::Complete {
        results,
        table,
        tally,
    })
}

/// How a worker process is started: `program args… --cell I`.
#[derive(Clone, Debug, PartialEq)]
pub struct Worker {
    /// The executable (absolute for Slurm).
    pub program: PathBuf,
    /// Its arguments before `--cell I`.
    pub args: Vec<String>,
}

impl Worker {
    /// The command line of cell `i`, shell-quoted (for batch scripts and messages).
    pub fn shell_line(&self, cell: &str) -> String {
        let mut parts = vec![shell_quote(&self.program.display().to_string())];
        parts.extend(self.args.iter().map(|a| shell_quote(a)));
        parts.push("--cell".into());
        parts.push(cell.into());
        parts.join(" ")
    }
}

/// Quote `s` for a POSIX shell (single quotes unless it is plain).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Append a line to `path` (a log), ignoring failures.
pub fn log_line(path: &Path, line: &str) {
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(f, "{line}");
    }
}
