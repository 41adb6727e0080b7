//! `lottery sweep FILE` and `lottery sweep status FILE`: a grid of runs from one TOML file
//! ([`lottery::run::sweep`]), executed by local worker processes or as a Slurm job array; each
//! worker is this program again, `lottery sweep FILE --cell I` (feature `torch`).

use std::path::{Path, PathBuf};

use lottery::run::sweep::{self, Sweep, Worker};
use lottery::{Error, Result};

/// Executors of `lottery sweep`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Executor {
    /// Worker processes on this machine.
    Local,
    /// One Slurm job array (sbatch, squeue, sacct on this machine's PATH).
    Slurm,
}

/// Arguments of `lottery sweep`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SweepArgs {
    /// `status FILE`: the state of every cell.
    #[command(subcommand)]
    pub action: Option<SweepAction>,
    /// The sweep file (TOML).
    #[arg(required = true)]
    pub file: Option<PathBuf>,
    /// Where the cells run.
    #[arg(long, value_enum, default_value_t = Executor::Local)]
    pub executor: Executor,
    /// Local worker processes (default: one per core, at most one per 2 GiB of free memory).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Root of the run directories (results in `<runs>/sweeps/<name>/`); for Slurm, on storage
    /// every node sees.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// List the cells (and, for Slurm, print the batch script) without running anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Slurm: submit and return instead of following the job to its end.
    #[arg(long)]
    pub no_wait: bool,
    /// Run only cell I in this process (what each worker and array task does).
    #[arg(long, value_name = "I")]
    pub cell: Option<usize>,
    /// Directory of the dataset files (passed to every cell).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// cpu | cuda (passed to every cell; default: cuda when available).
    #[arg(long)]
    pub device: Option<String>,
}

/// `lottery sweep status`.
#[derive(Debug, clap::Subcommand)]
pub enum SweepAction {
    /// Done / running / failed / pending cells of a sweep, failed ones with their error.
    Status {
        /// The sweep file.
        file: PathBuf,
        /// Root of the run directories.
        #[arg(long, default_value = "runs")]
        runs: PathBuf,
    },
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).map_err(|e| Error::Io {
        path: p.to_path_buf(),
        source: e,
    })
}

/// What `lottery sweep` prints on stdout; its last line is the path of `results.csv` when the
/// sweep is complete.
pub fn run_sweep(args: &SweepArgs) -> Result<i32> {
    if let Some(SweepAction::Status { file, runs }) = &args.action {
        let sw = Sweep::load(file)?;
        let dir = sw.dir(runs);
        let (lines, tally) = sweep::status_lines(&dir, &sw.cells());
        for l in lines {
            println!("{l}");
        }
        println!("{}: {tally}", sw.name);
        return Ok(0);
    }
    let file = args.file.as_ref().expect("clap requires FILE");
    let sw = Sweep::load(file)?;
    let cells = sw.checked_cells()?;
    let dir = sw.dir(&args.runs);
    if let Some(i) = args.cell {
        return run_one(args, &sw, &dir, i);
    }
    let worker = worker(args, file)?;
    if args.dry_run {
        for (c, r) in &cells {
            let (state, _) = sweep::state_of(&dir, c);
            println!(
                "{:>5}  {:<8} {}  {}",
                c.index,
                state.to_string(),
                r.config.hash()?,
                c.describe()
            );
        }
        println!("{}: {} cells", sw.name, cells.len());
        if args.executor == Executor::Slurm {
            let idx: Vec<usize> = (0..cells.len()).collect();
            print!(
                "{}",
                sweep::slurm::script(&sw, &absolute(&dir)?, &worker, &idx)
            );
        }
        return Ok(0);
    }
    if cfg!(not(feature = "torch")) {
        return Err(Error::Unsupported(
            "running a sweep's cells needs the feature `torch` (build through scripts/with-torch); --dry-run and `sweep status` work without it".into(),
        ));
    }
    let executor = match args.executor {
        Executor::Local => sweep::Executor::Local {
            jobs: args.jobs.unwrap_or_else(sweep::default_jobs),
        },
        Executor::Slurm => sweep::Executor::Slurm {
            no_wait: args.no_wait,
        },
    };
    let dir = absolute(&dir)?;
    let started = std::time::Instant::now();
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let outcome = sweep::execute(&sw, &dir, &worker, executor, progress, &mut |line| {
        eprintln!("{line}")
    })?;
    let seconds = started.elapsed().as_secs_f64();
    match outcome {
        sweep::Outcome::Complete { results, tally, .. } => {
            eprintln!("{}: {tally} ({seconds:.1} s)", sw.name);
            println!("{}", results.display());
            Ok(0)
        }
        sweep::Outcome::Submitted(jobs) => {
            eprintln!(
                "follow it with: lottery sweep status {} --runs {}",
                file.display(),
                args.runs.display()
            );
            println!("{}", jobs.join(" "));
            Ok(0)
        }
        sweep::Outcome::Incomplete(tally) => {
            for (c, err) in &tally.failed {
                eprintln!("failed: {}: {err}", c.describe());
            }
            Err(Error::param(
                "sweep",
                format!(
                    "not every cell is done ({tally}, {seconds:.1} s); `lottery sweep status {}` lists them, and rerunning the sweep retries the failed ones",
                    file.display()
                ),
            ))
        }
    }
}

/// The command line of a worker: this program, `sweep FILE --runs DIR` with absolute paths and
/// the data and device flags.
fn worker(args: &SweepArgs, file: &Path) -> Result<Worker> {
    let program = std::env::current_exe().map_err(|e| Error::Io {
        path: "current executable".into(),
        source: e,
    })?;
    let mut a = vec![
        "sweep".to_string(),
        absolute(file)?.display().to_string(),
        "--runs".into(),
        absolute(&args.runs)?.display().to_string(),
    ];
    if let Some(d) = &args.data_dir {
        a.push("--data-dir".into());
        a.push(absolute(d)?.display().to_string());
    }
    if let Some(d) = &args.device {
        a.push("--device".into());
        a.push(d.clone());
    }
    Ok(Worker { program, args: a })
}

#[cfg(feature = "torch")]
fn run_one(args: &SweepArgs, sw: &Sweep, dir: &Path, i: usize) -> Result<i32> {
    let env =
        lottery::nn::phase::Env::new(&args.runs, crate::runs::device_of(args.device.as_deref())?)
            .with_data_dir(args.data_dir.clone());
    match lottery::zoo::cells::run_in_process(sw, dir, i, &env)? {
        None => {
            eprintln!("cell {i} is running in another process");
            Ok(sweep::EXIT_BUSY)
        }
        Some(rows) => {
            println!(
                "{}",
                rows.first().map(|r| r.run_dir.as_str()).unwrap_or_default()
            );
            Ok(0)
        }
    }
}

#[cfg(not(feature = "torch"))]
fn run_one(_: &SweepArgs, _: &Sweep, _: &Path, _: usize) -> Result<i32> {
    Err(Error::Unsupported(
        "running a cell needs the feature `torch` (build through scripts/with-torch)".into(),
    ))
}
