//! `lottery solve`: any solver of the library on `.npy` inputs.
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

use clap::ValueEnum;
use serde_json::json;

use lottery::problem::{Design, LeastSquares, Logistic, SmoothProblem};
use lottery::solver::frank_wolfe::{Domain, FrankWolfe, FwParams, StepRule, Variant};
use lottery::solver::greedy::{Fcfgs, Foba, ForwardGreedy, Fwr, GreedyParams, Omp};
use lottery::solver::iht::{Cosamp, Htp, Iht, Niht, ThresholdParams};
use lottery::solver::mirror::{MdDomain, MirrorDescent, MirrorParams};
use lottery::solver::{solve, Iterative, Record, Solution};
use lottery::{Error, Result};

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
        lottery::solver::check_sparsity(k, d)?;
    }
    lottery::solver::check_positive("radius", args.radius)?;
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
    let a = lottery::io::read_matrix(&args.design)?;
    let y = lottery::io::read_vector(&args.response)?;
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
                lottery::solver::check_sparsity(k, p.dim())?;
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
        let rows: Vec<(usize, f64, Option<f64>, usize, f64)> = trace
            .iter()
            .map(|(r, t)| (r.iter, r.objective, r.gap, r.nnz, *t))
            .collect();
        lottery::io::write_csv_rows(path, &["iter", "objective", "gap", "nnz", "seconds"], &rows)?;
    }
    if let Some(path) = &args.out {
        lottery::io::write_vector(path, &sol.x)?;
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
