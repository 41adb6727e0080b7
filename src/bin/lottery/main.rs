//! The `lottery` command line: `lottery solve` runs any solver on `.npy` inputs ([`solve`]);
//! with the feature `torch`, `lottery imp | train | branch` run iterative magnitude pruning and
//! its baselines, `lottery prune <method>` the method zoo and `lottery lmc` linear mode
//! connectivity ([`runs`]). Argument parsing and the JSON / exit-code contract live here;
//! everything they run is in the library.
//!
//! Bad input of any kind prints one line on stderr and exits with status 2; a diverged training
//! (non-finite loss or weight) prints one line and exits with status 3.

#[cfg(feature = "torch")]
mod runs;
mod solve;
mod sweep;

use clap::{Parser, Subcommand};

#[cfg(feature = "torch")]
use runs::{
    run_branch_cli, run_config, run_layerwise_cli, BranchArgs, LmcArgs, PruneArgs, RunArgs,
};
use solve::{run_solve, SolveArgs};
use sweep::{run_sweep, SweepArgs};

fn main() {
    std::process::exit(main_with_args(std::env::args_os()));
}

/// Top-level command line.
#[derive(Debug, Parser)]
#[command(
    name = "lottery",
    version,
    about = "Sparse optimization from convex problems to lottery tickets"
)]
pub struct Cli {
    /// Subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// `lottery export`.
#[cfg(feature = "torch")]
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The run directory.
    pub run_dir: std::path::PathBuf,
    /// dense | csr | nm.
    #[arg(long, default_value = "dense")]
    pub format: String,
    /// IMP runs: the level exported (default: the last finished one).
    #[arg(long)]
    pub level: Option<usize>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a sparse solver on A.npy and y.npy; print one JSON object.
    Solve(SolveArgs),
    /// Iterative magnitude pruning with rewinding (feature `torch`); last stdout line: the run dir.
    #[cfg(feature = "torch")]
    Imp(RunArgs),
    /// Train the dense network once (IMP level 0 only; feature `torch`).
    #[cfg(feature = "torch")]
    Train(RunArgs),
    /// Baselines of a finished IMP level: random-reinit | random-prune | scratch |
    /// perturb-shuffle | perturb-reinit | perturb-signs | perturb-constant | transfer
    /// (feature `torch`).
    #[cfg(feature = "torch")]
    Branch(BranchArgs),
    /// A pruning method of the zoo (feature `torch`; its values below are the registry's
    /// methods with their one-line docs), or `layerwise --from RUN_DIR --solver S`: one-shot
    /// layerwise pruning of a trained run by the convex solvers; last stdout line: the run dir.
    #[cfg(feature = "torch")]
    Prune(PruneArgs),
    /// Linear mode connectivity: instability against the rewind iteration k (feature `torch`);
    /// last stdout line: the directory holding instability.csv.
    #[cfg(feature = "torch")]
    Lmc(LmcArgs),
    /// Write a finished run's pruned network with its sparsity realised: `--format dense`
    /// (dead units removed in dense chains), `csr` or `nm` (N:M values and indices), into
    /// RUN_DIR/export/ (feature `torch`); last stdout line: the file.
    #[cfg(feature = "torch")]
    Export(ExportArgs),
    /// A grid of runs from one TOML sweep file, on local workers or as a Slurm job array
    /// (running cells needs feature `torch`); `lottery sweep status FILE` shows its cells; last
    /// stdout line: the path of results.csv.
    Sweep(SweepArgs),
}

/// Parse the process arguments and run; returns the exit status (0; 3 on divergence; 2 on any
/// other error), after printing one line on stderr.
pub fn main_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    2
                } else {
                    0
                };
            }
            let text = e.to_string();
            let line = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid arguments");
            eprintln!("{}", line.trim());
            return 2;
        }
    };
    if let Command::Sweep(args) = &cli.command {
        return match run_sweep(args) {
            Ok(code) => code,
            Err(e) => exit_with(&e),
        };
    }
    let result = match &cli.command {
        Command::Sweep(_) => unreachable!("handled above"),
        Command::Solve(args) => run_solve(args),
        #[cfg(feature = "torch")]
        Command::Imp(args) => run_config(args, None)
            .and_then(|(cfg, env)| lottery::nn::imp::run_imp(&cfg, &env))
            .map(|d| serde_json::Value::String(d.display().to_string())),
        #[cfg(feature = "torch")]
        Command::Branch(args) => {
            run_branch_cli(args).map(|d| serde_json::Value::String(d.display().to_string()))
        }
        #[cfg(feature = "torch")]
        Command::Prune(args) if args.method == "layerwise" => {
            run_layerwise_cli(args).map(|d| serde_json::Value::String(d.display().to_string()))
        }
        #[cfg(feature = "torch")]
        Command::Prune(args) => run_config(&args.run, None)
            .and_then(|(mut cfg, env)| {
                cfg.set("method", &args.method)?;
                // Default 0.8; an N:M budget fixes its own, 1 - N/M.
                let default = lottery::select::budget::SparsityBudget::default_sparsity(
                    cfg.budget.structure,
                    lottery::select::budget::PRUNE_SPARSITY,
                );
                cfg.set(
                    "sparsity",
                    &format!("{:?}", args.sparsity.unwrap_or(default)),
                )?;
                lottery::zoo::train::run_prune(&cfg, &env)
            })
            .map(|d| serde_json::Value::String(d.display().to_string())),
        #[cfg(feature = "torch")]
        Command::Lmc(args) => run_config(&args.run, None)
            .and_then(|(cfg, env)| {
                lottery::nn::lmc::run_lmc(
                    &cfg,
                    &env,
                    &args.k,
                    args.mask.as_deref(),
                    args.points,
                    args.control.parse()?,
                )
            })
            .map(|d| serde_json::Value::String(d.display().to_string())),
        #[cfg(feature = "torch")]
        Command::Export(args) => args
            .format
            .parse()
            .and_then(|f| lottery::nn::export::export(&args.run_dir, f, args.level))
            .map(|(path, report)| {
                eprintln!(
                    "{}: {} of {} bytes stored, {} weights kept, units removed {:?}",
                    report.source.display(),
                    report.stored_bytes,
                    report.dense_bytes,
                    report.kept,
                    report.removed_units
                );
                serde_json::Value::String(path.display().to_string())
            }),
        #[cfg(feature = "torch")]
        Command::Train(args) => run_config(args, Some(0))
            .and_then(|(cfg, env)| lottery::nn::imp::run_imp(&cfg, &env))
            .map(|d| serde_json::Value::String(d.display().to_string())),
    };
    match result {
        Ok(serde_json::Value::String(dir)) => {
            println!("{dir}");
            0
        }
        Ok(v) => {
            println!("{v}");
            0
        }
        Err(e) => exit_with(&e),
    }
}

/// Print the error on one line; the exit status: 3 for a divergence, 2 otherwise.
fn exit_with(e: &lottery::Error) -> i32 {
    eprintln!("error: {e}");
    if matches!(e, lottery::Error::Diverged { .. }) {
        3
    } else {
        2
    }
}
