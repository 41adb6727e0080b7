//! Donoho–Tanner phase transitions: empirical success rate of sparse recovery over
//! $\delta = n/d$ and $\rho = k/n$, per algorithm, with the $\ell_1$ curve of
//! Amelunxen–Lotz–McCoy–Tropp (2014) overlaid.
//!
//! A trial draws a Gaussian $A$ ($n\times d$, entries $\mathcal N(0, 1/n)$) and a $k$-sparse
//! $x^\star$ with $\pm1$ entries, sets $y = Ax^\star$, and counts a success when
//! $\|\hat x - x^\star\|_2 \le 10^{-2}\|x^\star\|_2$. "ℓ1 (FW)" is pairwise Frank-Wolfe on the
//! $\ell_1$ ball of radius $\|x^\star\|_1$ (the oracle radius of constrained ℓ1 recovery).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use lottery::problem::{LeastSquares, PlantedParams};
use lottery::solver::frank_wolfe::{Domain, FrankWolfe, FwParams, StepRule, Variant};
use lottery::solver::greedy::{GreedyParams, Omp};
use lottery::solver::iht::{Cosamp, Htp, Iht, Niht, ThresholdParams};
use lottery::solver::solve_quiet;
use lottery::Result;

/// Algorithms of the diagram.
pub const ALGORITHMS: [&str; 6] = ["IHT", "NIHT", "HTP", "CoSaMP", "OMP", "l1 (FW)"];

/// Grid and trial counts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    /// Ambient dimension $d$.
    pub d: usize,
    /// Values of $\delta = n/d$.
    pub deltas: Vec<f64>,
    /// Values of $\rho = k/n$.
    pub rhos: Vec<f64>,
    /// Trials per cell.
    pub trials: usize,
    /// Base seed.
    pub seed: u64,
    /// Iteration cap of IHT, NIHT, HTP and CoSaMP.
    pub iters: usize,
    /// Iteration cap of pairwise Frank-Wolfe for ℓ1 (it stops earlier once the gap is below
    /// $10^{-13}$). Near the transition FW needs many iterations: at $\delta = 0.5$, $d = 200$,
    /// 1800 iterations recover 0/10 trials at $\rho = 0.30$, 18000 recover 10/10.
    pub fw_iters: usize,
}

impl Config {
    /// Default size (about a minute on 2 cores): $d = 200$, $9\times12$ grid, 10 trials.
    pub fn default_size() -> Self {
        Config {
            d: 200,
            deltas: (1..=9).map(|i| i as f64 / 10.0).collect(),
            rhos: (1..=12).map(|i| i as f64 * 0.05).collect(),
            trials: 10,
            seed: 0,
            iters: 300,
            fw_iters: 3000,
        }
    }

    /// Paper size: $d = 500$, $19\times 20$ grid, 25 trials.
    pub fn paper_size() -> Self {
        Config {
            d: 500,
            deltas: (1..=19).map(|i| i as f64 / 20.0).collect(),
            rhos: (1..=20).map(|i| i as f64 * 0.035).collect(),
            trials: 25,
            seed: 0,
            iters: 1500,
            fw_iters: 20000,
        }
    }
}

/// One cell of the diagram for one algorithm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Algorithm name.
    pub algorithm: String,
    /// $\delta$.
    pub delta: f64,
    /// $\rho$.
    pub rho: f64,
    /// $n$.
    pub n: usize,
    /// $k$.
    pub k: usize,
    /// Successful trials.
    pub successes: usize,
    /// Trials.
    pub trials: usize,
}

/// The estimate of `alg` (one of [`ALGORITHMS`]) on `p` at sparsity `k`: the thresholding
/// methods capped at `iters` iterations, OMP with `k` atoms, pairwise Frank-Wolfe on the ℓ1
/// ball of radius `l1` capped at `fw_iters` (shared with `layer_recovery`).
pub fn recover(
    alg: &str,
    p: &LeastSquares,
    k: usize,
    l1: f64,
    iters: usize,
    fw_iters: usize,
) -> Result<ndarray::Array1<f64>> {
    let t = ThresholdParams::new(k).max_iters(iters);
    Ok(match alg {
        "IHT" => solve_quiet(&Iht::new(t)?, p)?.x,
        "NIHT" => solve_quiet(&Niht::new(t)?, p)?.x,
        "HTP" => solve_quiet(&Htp::new(t)?, p)?.x,
        "CoSaMP" => solve_quiet(&Cosamp::new(t)?, p)?.x,
        "OMP" => solve_quiet(&Omp::new(GreedyParams::new(k))?, p)?.x,
        _ => {
            let fw = FrankWolfe::new(
                FwParams {
                    variant: Variant::Pairwise,
                    step: StepRule::LineSearch,
                    max_iters: fw_iters,
                    tol: 1e-13,
                },
                Domain::L1 { radius: l1 },
            )?;
            solve_quiet(&fw, p)?.x
        }
    })
}

/// Run every cell (in parallel); the result is sorted by algorithm, $\delta$, $\rho$.
pub fn run(cfg: &Config) -> Result<Vec<Cell>> {
    let mut jobs = Vec::new();
    for (a, alg) in ALGORITHMS.iter().enumerate() {
        for (i, &delta) in cfg.deltas.iter().enumerate() {
            for (j, &rho) in cfg.rhos.iter().enumerate() {
                jobs.push((a, *alg, i, delta, j, rho));
            }
        }
    }
    jobs.par_iter()
        .map(|&(_, alg, i, delta, j, rho)| {
            let n = ((delta * cfg.d as f64).round() as usize).max(1);
            let k = ((rho * n as f64).round() as usize).clamp(1, cfg.d);
            let mut successes = 0;
            for trial in 0..cfg.trials {
                // The same instance for every algorithm: the seed ignores the algorithm.
                let seed = super::cell_seed(cfg.seed, i as u64, j as u64, trial as u64);
                let inst = PlantedParams {
                    n,
                    d: cfg.d,
                    k,
                    seed,
                    ..Default::default()
                }
                .generate()?;
                let l1: f64 = inst.x_star.iter().map(|v| v.abs()).sum();
                let p = LeastSquares::from_f64(inst.a, inst.y)?;
                let x = recover(alg, &p, k, l1, cfg.iters, cfg.fw_iters)?;
                let err = (&x - &inst.x_star).mapv(|v| v * v).sum().sqrt();
                if err <= 1e-2 * (k as f64).sqrt() {
                    successes += 1;
                }
            }
            Ok(Cell {
                algorithm: alg.to_string(),
                delta,
                rho,
                n,
                k,
                successes,
                trials: cfg.trials,
            })
        })
        .collect()
}

/// Gaussian upper tail $Q(t) = P(Z > t)$.
fn q(t: f64) -> f64 {
    0.5 * libm::erfc(t / std::f64::consts::SQRT_2)
}

/// Statistical dimension of the $\ell_1$ descent cone at a point with sparsity fraction
/// $\varepsilon = k/d$, normalized by $d$ (Amelunxen et al. 2014, Prop. 4.5):
/// $\psi(\varepsilon) = \min_{\tau\ge0}\ \varepsilon(1+\tau^2) + 2(1-\varepsilon)\big[(1+\tau^2)Q(\tau) - \tau\varphi(\tau)\big]$.
pub fn l1_statistical_dimension(eps: f64) -> f64 {
    let phi = |t: f64| (-0.5 * t * t).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let obj =
        |t: f64| eps * (1.0 + t * t) + 2.0 * (1.0 - eps) * ((1.0 + t * t) * q(t) - t * phi(t));
    // Golden-section search on [0, 10] (the objective is convex in tau).
    let (mut a, mut b) = (0.0f64, 10.0f64);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..200 {
        let c = b - g * (b - a);
        let d = a + g * (b - a);
        if obj(c) < obj(d) {
            b = d;
        } else {
            a = c;
        }
    }
    obj(0.5 * (a + b))
}

/// The $\ell_1$ phase-transition curve in $(\delta, \rho)$ coordinates: recovery succeeds with
/// high probability when $\delta > \psi(\varepsilon)$, i.e. above $\rho = \varepsilon/\psi(\varepsilon)$.
pub fn l1_curve(points: usize) -> Vec<(f64, f64)> {
    (1..points)
        .map(|i| {
            let eps = i as f64 / points as f64;
            let delta = l1_statistical_dimension(eps);
            (delta, eps / delta)
        })
        .filter(|&(d, r)| d <= 1.0 && r <= 1.0)
        .collect()
}
