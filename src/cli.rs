//! The `lottery` command line: `lottery solve` runs any solver on `.npy` inputs; with the
//! feature `torch`, `lottery imp | train | branch` run iterative magnitude pruning and its
//! baselines ([`crate::nn::imp`]), `lottery prune <method>` the method zoo
//! ([`crate::nn::zoo`]) and `lottery lmc` linear mode connectivity ([`crate::nn::zoo::lmc`]).
//!
//! ```text
//! lottery solve --solver <iht|niht|htp|cosamp|omp|fcfgs|forward|fwr|foba|fw|afw|pfw|md>
//!     --design A.npy --response y.npy [--loss squared|logistic] [--sparsity K]
//!     [--domain l1|simplex|ksparse|ksupport] [--radius TAU] [--iters T] [--seed S]
//!     [--precision f64|f32] [--out x.npy] [--trace trace.csv]
//! ```
//!
//! `A` is an $n\times d$ float64 `.npy`, `y` a float64 vector of length $n$ (labels $\pm1$ for
//! logistic loss). stdout is one JSON object: `solver`, `loss`, `objective` ($f$ at the returned
//! $x$), `support` (sorted), `nnz`, `iterations`, `converged`, `gap` (Frank-Wolfe only, else
//! `null`), `seconds`, `precision`, `seed`. Bad input of any kind prints one line on stderr and
//! exits with status 2; `--out` and `--trace` are written atomically and only on success.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::problem::{Design, LeastSquares, Logistic, SmoothProblem};
use crate::solver::frank_wolfe::{Domain, FrankWolfe, FwParams, StepRule, Variant};
use crate::solver::greedy::{Fcfgs, Foba, ForwardGreedy, Fwr, GreedyParams, Omp};
use crate::solver::iht::{Cosamp, Htp, Iht, Niht, ThresholdParams};
use crate::solver::mirror::{MdDomain, MirrorDescent, MirrorParams};
use crate::solver::{solve, Iterative, Record, Solution};
use crate::{Error, Result};

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
    /// A pruning method of the zoo (feature `torch`): dpf, supermask, snip, grasp, synflow,
    /// magnitude-init, random, continuous, early-bird, gradual, iht, sfw, md, greedy; last stdout
    /// line: the run dir.
    #[cfg(feature = "torch")]
    Prune(PruneArgs),
    /// Linear mode connectivity: instability against the rewind iteration k (feature `torch`);
    /// last stdout line: the directory holding instability.csv.
    #[cfg(feature = "torch")]
    Lmc(LmcArgs),
}

/// Arguments of `lottery prune`.
#[cfg(feature = "torch")]
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// The method.
    pub method: String,
    /// Fraction of the prunable weights removed, in (0, 1) (default 0.8; for early-bird's channel
    /// variant, of the channels).
    #[arg(long)]
    pub sparsity: Option<f64>,
    /// Run settings, as for `lottery imp`.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Arguments of `lottery lmc`.
#[cfg(feature = "torch")]
#[derive(Debug, clap::Args)]
pub struct LmcArgs {
    /// Rewind iterations k, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub k: Vec<usize>,
    /// A ticket's mask.safetensors: interpolate the sparse copies.
    #[arg(long)]
    pub mask: Option<PathBuf>,
    /// Points on the interpolation path (>= 11).
    #[arg(long, default_value_t = 11)]
    pub points: usize,
    /// Run settings, as for `lottery imp`.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Arguments of `lottery branch`.
#[cfg(feature = "torch")]
#[derive(Debug, clap::Args)]
pub struct BranchArgs {
    /// random-reinit | random-prune | scratch.
    pub kind: String,
    /// The run directory (`runs/<hash>`).
    #[arg(long)]
    pub run: PathBuf,
    /// Level whose mask the branch starts from (default: the last finished level).
    #[arg(long)]
    pub level: Option<usize>,
    /// Seed of the random mask / initialization.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// `transfer`: settings that differ from the run's (dataset, optimizer, lr, …), KEY=VALUE.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Directory of the dataset files.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// cpu | cuda.
    #[arg(long)]
    pub device: Option<String>,
}

#[cfg(feature = "torch")]
fn device_of(name: Option<&str>) -> Result<tch::Device> {
    Ok(match name {
        None => tch::Device::cuda_if_available(),
        Some("cpu") => tch::Device::Cpu,
        Some("cuda") if tch::Cuda::is_available() => tch::Device::Cuda(0),
        Some("cuda") => {
            return Err(Error::Unsupported(
                "--device cuda: no CUDA device is available".into(),
            ))
        }
        Some(other) => {
            return Err(Error::param(
                "device",
                format!("`{other}` is not cpu or cuda"),
            ))
        }
    })
}

#[cfg(feature = "torch")]
fn run_branch_cli(args: &BranchArgs) -> Result<PathBuf> {
    let level = match args.level {
        Some(l) => l,
        None => (0..10_000)
            .take_while(|l| {
                crate::run::level_dir(&args.run, *l)
                    .join("summary.json")
                    .exists()
            })
            .last()
            .ok_or_else(|| {
                Error::param(
                    "run",
                    format!("{} has no finished level", args.run.display()),
                )
            })?,
    };
    let env = crate::nn::imp::Env {
        runs: args.run.clone(),
        data_dir: args.data_dir.clone(),
        device: device_of(args.device.as_deref())?,
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let mut overrides = Vec::new();
    for kv in &args.set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| Error::param("set", format!("`{kv}` is not KEY=VALUE")))?;
        overrides.push((k.trim().to_string(), v.trim().to_string()));
    }
    crate::nn::imp::run_branch(&args.kind, &args.run, level, args.seed, &overrides, &env)
}

/// Arguments of `lottery imp` and `lottery train`.
#[cfg(feature = "torch")]
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Preset (lenet300-lth, conv2-lth, conv4-lth, conv6-lth, lenet300-openlth,
    /// resnet20-openlth, vgg16-openlth).
    #[arg(long)]
    pub preset: Option<String>,
    /// TOML file of settings on top of the preset.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// fashion-mnist | mnist | cifar10 | teacher.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Directory of the dataset files (not part of the run's hash).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// IMP levels after the dense level 0.
    #[arg(long)]
    pub levels: Option<usize>,
    /// Training length per level in iterations.
    #[arg(long, conflicts_with = "epochs")]
    pub iterations: Option<usize>,
    /// Training length per level in epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// init | ITER | lr | finetune.
    #[arg(long)]
    pub rewind: Option<String>,
    /// layerwise | global.
    #[arg(long)]
    pub strategy: Option<String>,
    /// Seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// cpu | cuda (default: cuda when available).
    #[arg(long)]
    pub device: Option<String>,
    /// Root of the run directories.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Any other setting, KEY=VALUE (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

#[cfg(feature = "torch")]
fn run_config(
    args: &RunArgs,
    levels_override: Option<usize>,
) -> Result<(crate::run::RunConfig, crate::nn::imp::Env)> {
    use crate::run::RunConfig;
    let mut cfg = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
                path: path.clone(),
                source: e,
            })?;
            RunConfig::from_toml(&text, args.preset.as_deref())?
        }
        None => RunConfig::preset(args.preset.as_deref().ok_or_else(|| {
            Error::param("preset", "--preset NAME or --config FILE is required")
        })?)?,
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            pairs.push((k.to_string(), v));
        }
    };
    put("dataset", args.dataset.clone());
    put(
        "levels",
        levels_override.or(args.levels).map(|v| v.to_string()),
    );
    put("rewind", args.rewind.clone());
    put("strategy", args.strategy.clone());
    put("seed", args.seed.map(|v| v.to_string()));
    if let Some(it) = args.iterations {
        pairs.push(("iterations".into(), it.to_string()));
    }
    if let Some(ep) = args.epochs {
        pairs.push(("iterations".into(), "0".into()));
        pairs.push(("epochs".into(), ep.to_string()));
    }
    for kv in &args.set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| Error::param("set", format!("`{kv}` is not KEY=VALUE")))?;
        pairs.push((k.trim().to_string(), v.trim().to_string()));
    }
    for (k, v) in pairs {
        cfg.set(&k, &v)?;
    }
    let device = device_of(args.device.as_deref())?;
    let env = crate::nn::imp::Env {
        runs: args.runs.clone(),
        data_dir: args.data_dir.clone(),
        device,
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    Ok((cfg, env))
}

/// Solver names on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SolverName {
    /// Iterative hard thresholding (step 1/L).
    Iht,
    /// Normalized IHT.
    Niht,
    /// Hard thresholding pursuit.
    Htp,
    /// CoSaMP.
    Cosamp,
    /// Orthogonal matching pursuit (squared loss).
    Omp,
    /// Fully corrective forward greedy selection.
    Fcfgs,
    /// Forward greedy selection with single-coordinate steps.
    Forward,
    /// Forward selection with replacement.
    Fwr,
    /// Forward-backward greedy.
    Foba,
    /// Frank-Wolfe (open-loop step 2/(t+2)).
    Fw,
    /// Away-step Frank-Wolfe.
    Afw,
    /// Pairwise Frank-Wolfe.
    Pfw,
    /// Entropic mirror descent (averaged iterate).
    Md,
}

/// Loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LossName {
    /// ‖Ax − y‖²/(2n).
    Squared,
    /// Logistic loss with labels ±1.
    Logistic,
}

/// Domain of the Frank-Wolfe and mirror-descent solvers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DomainName {
    /// ℓ1 ball of radius TAU.
    L1,
    /// Probability simplex.
    Simplex,
    /// k-sparse polytope (needs --sparsity).
    Ksparse,
    /// k-support-norm ball (needs --sparsity).
    Ksupport,
}

/// Storage precision of A.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Precision {
    /// float64.
    F64,
    /// float32 storage (products accumulate in f32; refits in f64).
    F32,
}

/// Arguments of `lottery solve`.
#[derive(Debug, clap::Args)]
pub struct SolveArgs {
    /// Solver.
    #[arg(long, value_enum)]
    pub solver: SolverName,
    /// Design matrix A (n×d float64 .npy).
    #[arg(long)]
    pub design: PathBuf,
    /// Response y (length-n float64 .npy).
    #[arg(long)]
    pub response: PathBuf,
    /// Loss.
    #[arg(long, value_enum, default_value = "squared")]
    pub loss: LossName,
    /// Sparsity K (thresholding and greedy solvers; k of the ksparse/ksupport domains).
    #[arg(long)]
    pub sparsity: Option<usize>,
    /// Domain (fw, afw, pfw, md).
    #[arg(long, value_enum, default_value = "l1")]
    pub domain: DomainName,
    /// Radius TAU of the domain.
    #[arg(long, default_value_t = 1.0)]
    pub radius: f64,
    /// Iterations (the solver's default when omitted).
    #[arg(long)]
    pub iters: Option<usize>,
    /// Seed (recorded; every solver here is deterministic).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Storage precision of A.
    #[arg(long, value_enum, default_value = "f64")]
    pub precision: Precision,
    /// Write x as a float64 .npy here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write the per-iteration trace (iter, objective, gap, nnz, seconds) as CSV here.
    #[arg(long)]
    pub trace: Option<PathBuf>,
}

fn need_sparsity(args: &SolveArgs) -> Result<usize> {
    args.sparsity.ok_or_else(|| {
        Error::param(
            "sparsity",
            format!("--sparsity K is required by {:?}", args.solver).to_lowercase(),
        )
    })
}

type Trace = Vec<(Record, f64)>;

fn run_traced<P: SmoothProblem + ?Sized, S: Iterative<P>>(
    s: &S,
    p: &P,
) -> Result<(Solution, Trace)> {
    let start = Instant::now();
    let mut trace = Vec::new();
    let sol = solve(s, p, &mut |r, _| {
        trace.push((r.clone(), start.elapsed().as_secs_f64()))
    })?;
    Ok((sol, trace))
}

fn dispatch<P: SmoothProblem + ?Sized>(args: &SolveArgs, p: &P) -> Result<(Solution, Trace)> {
    let d = p.dim();
    if let Some(k) = args.sparsity {
        crate::solver::check_sparsity(k, d)?;
    }
    crate::solver::check_positive("radius", args.radius)?;
    if args.iters == Some(0) {
        return Err(Error::param("iters", "must be >= 1"));
    }
    let threshold = |k: usize| {
        let mut t = ThresholdParams::new(k);
        if let Some(it) = args.iters {
            t.max_iters = it;
        }
        t
    };
    let greedy = |k: usize| {
        let mut g = GreedyParams::new(k);
        if let Some(it) = args.iters {
            g.max_iters = it;
        }
        g
    };
    let domain = || -> Result<Domain> {
        Ok(match args.domain {
            DomainName::L1 => Domain::L1 {
                radius: args.radius,
            },
            DomainName::Simplex => Domain::Simplex,
            DomainName::Ksparse => Domain::KSparse {
                k: need_sparsity(args)?,
                radius: args.radius,
            },
            DomainName::Ksupport => Domain::KSupport {
                k: need_sparsity(args)?,
                radius: args.radius,
            },
        })
    };
    let fw = |variant: Variant| -> Result<(Solution, Trace)> {
        let mut params = FwParams {
            variant,
            step: if variant == Variant::Vanilla {
                StepRule::OpenLoop
            } else {
                StepRule::LineSearch
            },
            ..FwParams::default()
        };
        if let Some(it) = args.iters {
            params.max_iters = it;
        }
        run_traced(&FrankWolfe::new(params, domain()?)?, p)
    };
    match args.solver {
        SolverName::Iht => run_traced(&Iht::new(threshold(need_sparsity(args)?))?, p),
        SolverName::Niht => run_traced(&Niht::new(threshold(need_sparsity(args)?))?, p),
        SolverName::Htp => run_traced(&Htp::new(threshold(need_sparsity(args)?))?, p),
        SolverName::Cosamp => run_traced(&Cosamp::new(threshold(need_sparsity(args)?))?, p),
        SolverName::Omp => unreachable!("dispatched on the concrete least-squares problem"),
        SolverName::Fcfgs => run_traced(&Fcfgs::new(greedy(need_sparsity(args)?))?, p),
        SolverName::Forward => run_traced(&ForwardGreedy::new(greedy(need_sparsity(args)?))?, p),
        SolverName::Fwr => run_traced(&Fwr::new(greedy(need_sparsity(args)?))?, p),
        SolverName::Foba => run_traced(&Foba::new(greedy(need_sparsity(args)?))?, p),
        SolverName::Fw => fw(Variant::Vanilla),
        SolverName::Afw => fw(Variant::Away),
        SolverName::Pfw => fw(Variant::Pairwise),
        SolverName::Md => {
            let md_domain = match args.domain {
                DomainName::L1 => MdDomain::L1 {
                    radius: args.radius,
                },
                DomainName::Simplex => MdDomain::Simplex,
                other => {
                    return Err(Error::Unsupported(
                        format!("mirror descent runs on --domain l1 or simplex, not {other:?}")
                            .to_lowercase(),
                    ))
                }
            };
            let mut params = MirrorParams {
                domain: md_domain,
                ..MirrorParams::default()
            };
            if let Some(it) = args.iters {
                params.iters = it;
            }
            run_traced(&MirrorDescent::new(params)?, p)
        }
    }
}

/// Run `lottery solve`; returns the JSON object printed on stdout.
pub fn run_solve(args: &SolveArgs) -> Result<serde_json::Value> {
    let a = crate::io::read_matrix(&args.design)?;
    let y = crate::io::read_vector(&args.response)?;
    let design = match args.precision {
        Precision::F64 => Design::F64(a),
        Precision::F32 => Design::F32(a.mapv(|v| v as f32)),
    };
    let start = Instant::now();
    let (sol, trace) = match args.loss {
        LossName::Squared => {
            let p = LeastSquares::new(design, y)?;
            if args.solver == SolverName::Omp {
                let k = need_sparsity(args)?;
                crate::solver::check_sparsity(k, p.dim())?;
                run_traced(&Omp::new(GreedyParams::new(k))?, &p)?
            } else {
                dispatch(args, &p)?
            }
        }
        LossName::Logistic => {
            if args.solver == SolverName::Omp {
                return Err(Error::Unsupported(
                    "omp is least-squares only; use fcfgs for logistic loss".into(),
                ));
            }
            let p = Logistic::new(design, y)?;
            dispatch(args, &p)?
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    if let Some(path) = &args.trace {
        let mut csv = String::from("iter,objective,gap,nnz,seconds\n");
        for (r, t) in &trace {
            let gap = r.gap.map(|g| format!("{g:e}")).unwrap_or_default();
            csv.push_str(&format!(
                "{},{:e},{},{},{:.6}\n",
                r.iter, r.objective, gap, r.nnz, t
            ));
        }
        crate::io::write_atomic(path, csv.as_bytes())?;
    }
    if let Some(path) = &args.out {
        crate::io::write_vector(path, &sol.x)?;
    }
    Ok(json!({
        "solver": sol.info.solver,
        "loss": match args.loss { LossName::Squared => "squared", LossName::Logistic => "logistic" },
        "objective": sol.info.objective,
        "support": sol.info.support,
        "nnz": sol.info.support.len(),
        "iterations": sol.info.iterations,
        "converged": sol.info.converged,
        "gap": sol.info.gap,
        "seconds": seconds,
        "precision": match args.precision { Precision::F64 => "f64", Precision::F32 => "f32" },
        "seed": args.seed,
    }))
}

/// Parse the process arguments and run; returns the exit status (0, or 2 on any error, after
/// printing one line on stderr).
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
    let result = match &cli.command {
        Command::Solve(args) => run_solve(args),
        #[cfg(feature = "torch")]
        Command::Imp(args) => run_config(args, None)
            .and_then(|(cfg, env)| crate::nn::imp::run_imp(&cfg, &env))
            .map(|d| serde_json::Value::String(d.display().to_string())),
        #[cfg(feature = "torch")]
        Command::Branch(args) => {
            run_branch_cli(args).map(|d| serde_json::Value::String(d.display().to_string()))
        }
        #[cfg(feature = "torch")]
        Command::Prune(args) => run_config(&args.run, None)
            .and_then(|(mut cfg, env)| {
                cfg.set("method", &args.method)?;
                cfg.set("sparsity", &format!("{:?}", args.sparsity.unwrap_or(0.8)))?;
                crate::nn::zoo::run_prune(&cfg, &env)
            })
            .map(|d| serde_json::Value::String(d.display().to_string())),
        #[cfg(feature = "torch")]
        Command::Lmc(args) => run_config(&args.run, None)
            .and_then(|(cfg, env)| {
                crate::nn::zoo::lmc::run_lmc(&cfg, &env, &args.k, args.mask.as_deref(), args.points)
            })
            .map(|d| serde_json::Value::String(d.display().to_string())),
        #[cfg(feature = "torch")]
        Command::Train(args) => run_config(args, Some(0))
            .and_then(|(cfg, env)| crate::nn::imp::run_imp(&cfg, &env))
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
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}
