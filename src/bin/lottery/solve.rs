//! `lottery solve`: any solver of the library on `.npy` inputs.
//!
//! ```text
//! lottery solve --solver <iht|niht|htp|cosamp|omp|fcfgs|forward|fwr|foba|obs|sparsegpt|fw|afw|pfw|md>
//!     (--design A.npy --response y.npy | --gram H.npy --center w.npy) [--damp λ]
//!     [--loss squared|logistic] [--sparsity K]
//!     [--domain l1|simplex|ksparse|ksupport] [--radius TAU] [--iters T] [--seed S]
//!     [--precision f64|f32] [--out x.npy] [--trace trace.csv]
//! ```
//!
//! `obs` and `sparsegpt` start from the least-squares fit of $H = A^\top A/n + \lambda I$
//! (`--damp λ`, default 0; needed when $A^\top A$ is singular) and prune it backward to $K$.
//! With `--gram H.npy --center w.npy` the problem is the quadratic
//! $\frac12 (w - \bar w)^\top (H + \lambda I)(w - \bar w)$ of layerwise pruning
//! ([`lottery::problem::LayerGram`], inputs that are zero in $H$ are dead and pruned for free)
//! and every solver runs on its Gram-form least-squares problem; a 2-D `w.npy` holds several
//! rows sharing $H$, solved independently, and the JSON then carries a `rows` array (per-row
//! `objective`, `support`, `nnz`, `iterations`, `converged`), `objective` is their sum and
//! `--out` is a 2-D `.npy`.
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

use lottery::problem::{Damping, Design, LayerGram, LeastSquares, Logistic, SmoothProblem};
use lottery::solver::frank_wolfe::{Domain, FrankWolfe, FwParams, StepRule, Variant};
use lottery::solver::greedy::{Fcfgs, Foba, ForwardGreedy, Fwr, GreedyParams, Obs, ObsParams, Omp};
use lottery::solver::iht::{Cosamp, Htp, Iht, Niht, ThresholdParams};
use lottery::solver::layer::LayerBudget;
use lottery::solver::mirror::{MdDomain, MirrorDescent, MirrorParams};
use lottery::solver::{solve, Info, Iterative, Record, Solution};
use lottery::space::Objective;
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
    /// Optimal Brain Surgeon backward elimination from the (damped) least-squares fit.
    Obs,
    /// SparseGPT's column sweep from the (damped) least-squares fit.
    Sparsegpt,
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
    #[arg(long, required_unless_present = "gram", requires = "response")]
    pub design: Option<PathBuf>,
    /// Response y (length-n float64 .npy).
    #[arg(long, requires = "design")]
    pub response: Option<PathBuf>,
    /// A Gram matrix H (d×d float64 .npy) instead of A and y: the quadratic ½(w−w̄)ᵀH(w−w̄).
    #[arg(long, conflicts_with_all = ["design", "response"], requires = "center")]
    pub gram: Option<PathBuf>,
    /// The center w̄ of the quadratic (length d, or rows×d for several rows sharing H).
    #[arg(long, requires = "gram")]
    pub center: Option<PathBuf>,
    /// Damping λ ≥ 0 added to H (or to AᵀA/n for obs and sparsegpt).
    #[arg(long, default_value_t = 0.0)]
    pub damp: f64,
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
        SolverName::Omp | SolverName::Obs | SolverName::Sparsegpt => {
            unreachable!("dispatched on the concrete least-squares problem")
        }
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

/// Solvers that need the concrete least-squares problem (not any smooth loss).
fn run_least_squares(args: &SolveArgs, p: &LeastSquares, damp: f64) -> Result<(Solution, Trace)> {
    match args.solver {
        SolverName::Omp => {
            let k = need_sparsity(args)?;
            lottery::solver::check_sparsity(k, p.dim())?;
            run_traced(&Omp::new(GreedyParams::new(k))?, p)
        }
        SolverName::Obs => {
            let k = need_sparsity(args)?;
            run_traced(&Obs::new(ObsParams { sparsity: k, damp })?, p)
        }
        SolverName::Sparsegpt => {
            let k = need_sparsity(args)?;
            lottery::solver::check_sparsity(k, p.dim())?;
            let start = Instant::now();
            let n = p.n_samples() as f64;
            let h = p.design().gram() / n;
            let gram = LayerGram::from_gram(h.view(), Damping::Absolute(damp))?;
            let b = p.design().rmatvec(p.response()) / n;
            let center = gram.inverse()?.dot(&b);
            let row = center.insert_axis(ndarray::Axis(0));
            let w = lottery::solver::layer::sparsegpt(&gram, &row, LayerBudget::Row(k), 128)?;
            let x = w.row(0).to_owned();
            let objective = p.value(&x);
            let support = lottery::solver::support_of(&x);
            let record = Record::new(objective, support.len()).at(p.dim());
            let sol = Solution {
                info: Info {
                    solver: "sparsegpt".into(),
                    iterations: p.dim(),
                    objective,
                    gap: None,
                    support,
                    converged: true,
                },
                x,
            };
            Ok((sol, vec![(record, start.elapsed().as_secs_f64())]))
        }
        _ => dispatch(args, p),
    }
}

/// Run `lottery solve`; returns the JSON object printed on stdout.
pub fn run_solve(args: &SolveArgs) -> Result<serde_json::Value> {
    if !args.damp.is_finite() || args.damp < 0.0 {
        return Err(Error::param(
            "damp",
            format!("must be finite and >= 0, got {}", args.damp),
        ));
    }
    if let Some(gram) = &args.gram {
        return run_gram(args, gram);
    }
    let (Some(design_path), Some(response_path)) = (&args.design, &args.response) else {
        return Err(Error::param(
            "design",
            "--design and --response (or --gram and --center) are required",
        ));
    };
    let a = lottery::io::read_matrix(design_path)?;
    let y = lottery::io::read_vector(response_path)?;
    let design = match args.precision {
        Precision::F64 => Design::F64(a),
        Precision::F32 => Design::F32(a.mapv(|v| v as f32)),
    };
    let start = Instant::now();
    let (sol, trace) = match args.loss {
        LossName::Squared => {
            let p = LeastSquares::new(design, y)?;
            run_least_squares(args, &p, args.damp)?
        }
        LossName::Logistic => {
            if matches!(
                args.solver,
                SolverName::Omp | SolverName::Obs | SolverName::Sparsegpt
            ) {
                return Err(Error::Unsupported(format!(
                    "{} is least-squares only; use fcfgs for logistic loss",
                    format!("{:?}", args.solver).to_lowercase()
                )));
            }
            let p = Logistic::new(design, y)?;
            dispatch(args, &p)?
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    finish(args, sol, trace, seconds)
}

/// Write `--trace` and `--out` (atomically, only on success) and build the JSON object.
fn finish(
    args: &SolveArgs,
    sol: Solution,
    trace: Trace,
    seconds: f64,
) -> Result<serde_json::Value> {
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

/// `--gram H.npy --center w.npy`: every row of `w` on the Gram-form problem of
/// $\frac12 (w - \bar w)^\top (H + \lambda I)(w - \bar w)$.
fn run_gram(args: &SolveArgs, gram_path: &std::path::Path) -> Result<serde_json::Value> {
    let Some(center_path) = &args.center else {
        return Err(Error::param("center", "--gram needs --center w.npy"));
    };
    if args.loss != LossName::Squared {
        return Err(Error::Unsupported(
            "--gram defines a quadratic; --loss must be squared".into(),
        ));
    }
    let h = lottery::io::read_matrix(gram_path)?;
    let center = lottery::io::read_array(center_path)?;
    let (rows, one_row) = match center.ndim() {
        1 => (
            center
                .clone()
                .into_shape_with_order((1, center.len()))
                .map_err(|e| Error::Shape(e.to_string()))?,
            true,
        ),
        2 => (
            center
                .clone()
                .into_dimensionality::<ndarray::Ix2>()
                .map_err(|e| Error::Shape(e.to_string()))?,
            false,
        ),
        k => {
            return Err(Error::Shape(format!(
                "--center must be a vector or a rows×d matrix, got {k} dimensions"
            )))
        }
    };
    let gram = LayerGram::from_gram(h.view(), Damping::Absolute(args.damp))?;
    if rows.ncols() != gram.dim() {
        return Err(Error::Shape(format!(
            "--center has rows of length {} but H is {}x{}",
            rows.ncols(),
            gram.dim(),
            gram.dim()
        )));
    }
    if !one_row && args.trace.is_some() {
        return Err(Error::param(
            "trace",
            "--trace needs a single row (a 1-D --center)",
        ));
    }
    let start = Instant::now();
    let mut results: Vec<(Solution, Trace)> = Vec::with_capacity(rows.nrows());
    if args.solver == SolverName::Sparsegpt {
        let k = need_sparsity(args)?;
        lottery::solver::check_sparsity(k, gram.dim())?;
        let w = lottery::solver::layer::sparsegpt(&gram, &rows, LayerBudget::Row(k), 128)?;
        for r in 0..rows.nrows() {
            let x = w.row(r).to_owned();
            let objective = gram.value(x.view(), rows.row(r));
            let support = lottery::solver::support_of(&x);
            results.push((
                Solution {
                    info: Info {
                        solver: "sparsegpt".into(),
                        iterations: gram.dim(),
                        objective,
                        gap: None,
                        support,
                        converged: true,
                    },
                    x,
                },
                Vec::new(),
            ));
        }
    } else {
        for r in 0..rows.nrows() {
            let p = gram.problem(rows.row(r))?;
            // The damping is already in H.
            results.push(run_least_squares(args, &p, 0.0)?);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    if one_row {
        let (sol, trace) = results.pop().expect("one row");
        return finish(args, sol, trace, seconds);
    }
    if let Some(path) = &args.out {
        let mut x = ndarray::Array2::zeros(rows.dim());
        for (r, (sol, _)) in results.iter().enumerate() {
            x.row_mut(r).assign(&sol.x);
        }
        lottery::io::write_matrix(path, &x)?;
    }
    let per_row: Vec<serde_json::Value> = results
        .iter()
        .map(|(sol, _)| {
            json!({
                "objective": sol.info.objective,
                "support": sol.info.support,
                "nnz": sol.info.support.len(),
                "iterations": sol.info.iterations,
                "converged": sol.info.converged,
            })
        })
        .collect();
    Ok(json!({
        "solver": results.first().map(|(s, _)| s.info.solver.clone()),
        "loss": "squared",
        "objective": results.iter().map(|(s, _)| s.info.objective).sum::<f64>(),
        "nnz": results.iter().map(|(s, _)| s.info.support.len()).sum::<usize>(),
        "rows": per_row,
        "seconds": seconds,
        "precision": "f64",
        "seed": args.seed,
    }))
}
