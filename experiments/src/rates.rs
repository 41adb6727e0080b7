//! Measured convergence against the theorems' bounds: Frank-Wolfe ($2C_f/(t+2)$), away/pairwise
//! FW (linear), entropic mirror descent ($\tau L_\infty\sqrt{2\ln(2d)/T}$) and FCFGS
//! ($2\beta\|\bar w\|_1^2/k$), on one least-squares instance with a compressible signal.

use ndarray::Array1;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use lottery::problem::{LeastSquares, SmoothProblem};
use lottery::solver::frank_wolfe::{Domain, FrankWolfe, FwParams, StepRule, Variant};
use lottery::solver::greedy::{Fcfgs, GreedyParams};
use lottery::solver::mirror::{MdDomain, MirrorDescent, MirrorParams};
use lottery::solver::{solve, solve_quiet};
use lottery::space::Objective;
use lottery::Result;

/// Instance and lengths.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    /// Samples.
    pub n: usize,
    /// Dimension.
    pub d: usize,
    /// Frank-Wolfe iterations.
    pub fw_iters: usize,
    /// Mirror-descent horizons $T$.
    pub md_horizons: Vec<usize>,
    /// FCFGS atoms.
    pub greedy_atoms: usize,
    /// Seed.
    pub seed: u64,
}

impl Config {
    /// Default size (seconds).
    pub fn default_size() -> Self {
        Config {
            n: 100,
            d: 200,
            fw_iters: 2000,
            md_horizons: vec![10, 30, 100, 300, 1000, 3000, 10000],
            greedy_atoms: 60,
            seed: 0,
        }
    }

    /// Paper size.
    pub fn paper_size() -> Self {
        Config {
            n: 400,
            d: 1000,
            fw_iters: 20000,
            md_horizons: vec![10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000],
            greedy_atoms: 200,
            seed: 0,
        }
    }
}

/// One measurement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Method.
    pub method: String,
    /// Iteration / horizon / atoms.
    pub t: usize,
    /// Measured suboptimality.
    pub measured: f64,
    /// The theorem's bound, where the method has one here.
    pub bound: Option<f64>,
}

/// A compressible instance: $x^\star_j \propto \pm j^{-1.5}$ at random positions, noise 0.01.
pub fn instance(cfg: &Config) -> Result<(LeastSquares, Array1<f64>)> {
    use rand::{seq::SliceRandom, Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    let inst = lottery::problem::PlantedParams {
        n: cfg.n,
        d: cfg.d,
        k: 0,
        seed: cfg.seed,
        ..Default::default()
    }
    .generate()?;
    let mut order: Vec<usize> = (0..cfg.d).collect();
    order.shuffle(&mut rng);
    let mut x = Array1::zeros(cfg.d);
    for (rank, &j) in order.iter().enumerate() {
        let sign = if rng.gen::<bool>() { 1.0 } else { -1.0 };
        x[j] = sign * (rank as f64 + 1.0).powf(-1.5);
    }
    let mut y = inst.a.dot(&x);
    for v in y.iter_mut() {
        *v += 0.01 * rng.sample::<f64, _>(rand_distr::StandardNormal);
    }
    Ok((LeastSquares::from_f64(inst.a, y)?, x))
}

/// Run all methods.
pub fn run(cfg: &Config) -> Result<Vec<Row>> {
    let (p, x_star) = instance(cfg)?;
    let tau = 0.8 * x_star.iter().map(|v| v.abs()).sum::<f64>();
    let domain = Domain::L1 { radius: tau };
    // Certified lower bound on f* over the ball: a long pairwise run, max(f − gap).
    let pfw_long = FrankWolfe::new(
        FwParams {
            variant: Variant::Pairwise,
            step: StepRule::LineSearch,
            max_iters: 20 * cfg.fw_iters,
            tol: 1e-14,
        },
        domain,
    )?;
    let mut f_lower = f64::NEG_INFINITY;
    solve(&pfw_long, &p, &mut |r, _| {
        f_lower = f_lower.max(r.objective - r.gap.unwrap_or(f64::INFINITY))
    })?;
    let c_f = p.curvature_l1(tau);
    let mut rows = Vec::new();
    for (name, variant, step) in [
        ("FW 2/(t+2)", Variant::Vanilla, StepRule::OpenLoop),
        ("FW line search", Variant::Vanilla, StepRule::LineSearch),
        ("away-step FW", Variant::Away, StepRule::LineSearch),
        ("pairwise FW", Variant::Pairwise, StepRule::LineSearch),
    ] {
        let fw = FrankWolfe::new(
            FwParams {
                variant,
                step,
                max_iters: cfg.fw_iters,
                tol: 0.0,
            },
            domain,
        )?;
        solve(&fw, &p, &mut |r, _| {
            if r.iter >= 1 {
                let bound =
                    (variant == Variant::Vanilla).then(|| 2.0 * c_f / (r.iter as f64 + 2.0));
                rows.push(Row {
                    method: name.into(),
                    t: r.iter,
                    measured: r.objective - f_lower,
                    bound,
                });
            }
        })?;
    }
    let md_rows: Vec<Row> = cfg
        .md_horizons
        .par_iter()
        .map(|&t| {
            let md = MirrorDescent::new(MirrorParams {
                iters: t,
                domain: MdDomain::L1 { radius: tau },
                ..MirrorParams::default()
            })?;
            let sol = solve_quiet(&md, &p)?;
            Ok(Row {
                method: "entropic MD".into(),
                t,
                measured: sol.info.objective - f_lower,
                bound: Some(md.bound(&p)),
            })
        })
        .collect::<Result<_>>()?;
    rows.extend(md_rows);
    let f_ref = p.value(&x_star);
    let beta = p.coordinate_smoothness();
    let l1_ref: f64 = x_star.iter().map(|v| v.abs()).sum();
    let fcfgs = Fcfgs::new(GreedyParams::new(cfg.greedy_atoms.min(cfg.n).min(cfg.d)))?;
    solve(&fcfgs, &p, &mut |r, _| {
        if r.iter >= 1 {
            rows.push(Row {
                method: "FCFGS".into(),
                t: r.iter,
                measured: r.objective - f_ref,
                bound: Some(2.0 * beta * l1_ref * l1_ref / r.iter as f64),
            });
        }
    })?;
    Ok(rows)
}
