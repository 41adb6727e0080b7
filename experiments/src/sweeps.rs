//! The network experiments as sweeps: each is a sweep file under `experiments/sweeps/`
//! (`<name>.toml`, and `<name>-paper.toml` for the paper's size) run by the library's executors,
//! then plotted from the sweep's `results.csv`. The experiment binary is its own worker: the
//! executors start it again with `--cell I`.

use std::path::{Path, PathBuf};

use lottery::run::sweep::{self, Executor, Outcome, Sweep, Worker};
use lottery::{Error, Result};

/// Flags of a sweep-backed experiment.
#[derive(Clone, Debug, clap::Args)]
pub struct SweepFlags {
    /// The sweep file (default: `experiments/sweeps/<name>.toml`, or `<name>-paper.toml` with
    /// --paper).
    #[arg(long)]
    pub sweep: Option<PathBuf>,
    /// local | slurm.
    #[arg(long, default_value = "local")]
    pub executor: String,
    /// Local worker processes (default: one per core, at most one per 2 GiB free).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Dataset directory (default: the Debian package's).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Internal: run cell I of the sweep in this process.
    #[arg(long, hide = true)]
    pub cell: Option<usize>,
}

/// `experiments/sweeps/<name>.toml` (or `-paper`).
pub fn default_file(name: &str, paper: bool) -> PathBuf {
    let file = if paper {
        format!("{name}-paper.toml")
    } else {
        format!("{name}.toml")
    };
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sweeps")
        .join(file)
}

/// Run the experiment's sweep with its runs under `<dir>/runs` (resumable: finished cells are
/// skipped) and return the merged table (header first); `None` when this process was a worker
/// (`--cell I`), which has then done its cell.
pub fn run(
    name: &str,
    paper: bool,
    dir: &Path,
    flags: &SweepFlags,
) -> Result<Option<Vec<Vec<String>>>> {
    let file = flags
        .sweep
        .clone()
        .unwrap_or_else(|| default_file(name, paper));
    let file = std::path::absolute(&file).map_err(|e| Error::Io {
        path: file.clone(),
        source: e,
    })?;
    let sw = Sweep::load(&file)?;
    let dir = std::path::absolute(dir).map_err(|e| Error::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let runs = dir.join("runs");
    let sweep_dir = sw.dir(&runs);
    let env = lottery::nn::phase::Env::new(&runs, tch::Device::cuda_if_available())
        .with_data_dir(flags.data_dir.clone());
    if let Some(i) = flags.cell {
        return match lottery::zoo::cells::run_in_process(&sw, &sweep_dir, i, &env)? {
            Some(_) => Ok(None),
            None => std::process::exit(sweep::EXIT_BUSY),
        };
    }
    let exe = std::env::current_exe().map_err(|e| Error::Io {
        path: "current executable".into(),
        source: e,
    })?;
    // The worker: this binary with the flags that locate the same sweep and runs.
    let mut args = vec![
        "--out".to_string(),
        dir.parent().unwrap_or(&dir).display().to_string(),
        "--sweep".into(),
        file.display().to_string(),
    ];
    if let Some(d) = &flags.data_dir {
        args.push("--data-dir".into());
        args.push(
            std::path::absolute(d)
                .unwrap_or(d.clone())
                .display()
                .to_string(),
        );
    }
    let worker = Worker { program: exe, args };
    let executor = match flags.executor.as_str() {
        "local" => Executor::Local {
            jobs: flags.jobs.unwrap_or_else(sweep::default_jobs),
        },
        "slurm" => Executor::Slurm { no_wait: false },
        other => {
            return Err(Error::param(
                "executor",
                format!("`{}` is not local or slurm", other.escape_debug()),
            ))
        }
    };
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    match sweep::execute(&sw, &sweep_dir, &worker, executor, progress, &mut |l| {
        eprintln!("{l}")
    })? {
        Outcome::Complete {
            table,
            tally,
            results,
        } => {
            eprintln!("{name}: {tally}; {}", results.display());
            Ok(Some(table))
        }
        Outcome::Incomplete(tally) => {
            for (c, err) in &tally.failed {
                eprintln!("failed: {}: {err}", c.describe());
            }
            Err(Error::param(
                "sweep",
                format!("{name}: not every cell is done ({tally}); rerun to retry"),
            ))
        }
        Outcome::Submitted(_) => unreachable!("the experiments wait for Slurm"),
    }
}

/// The rows of a merged table as maps from column name to value.
pub fn records(table: &[Vec<String>]) -> Vec<std::collections::BTreeMap<String, String>> {
    let Some((header, rows)) = table.split_first() else {
        return Vec::new();
    };
    rows.iter()
        .map(|r| header.iter().cloned().zip(r.iter().cloned()).collect())
        .collect()
}

/// Field `k` of a record, parsed; a missing or malformed value is an error naming the row.
pub fn field<T: std::str::FromStr>(
    r: &std::collections::BTreeMap<String, String>,
    k: &str,
) -> Result<T> {
    r.get(k)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::param("results", format!("row without a valid `{k}`: {r:?}")))
}
