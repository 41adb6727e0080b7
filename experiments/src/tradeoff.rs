//! Accuracy against sparsity (Shalev-Shwartz–Srebro–Zhang 2010): the least-squares objective
//! reached at each support size by forward greedy selection, FCFGS, FoBa, IHT and Maurey
//! sparsification of an $\ell_1$ solution, on the compressible instance of [`super::rates`].

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use lottery::problem::SmoothProblem;
use lottery::solver::frank_wolfe::{Domain, FrankWolfe, FwParams, StepRule, Variant};
use lottery::solver::greedy::{Fcfgs, Foba, ForwardGreedy, GreedyParams};
use lottery::solver::iht::{Iht, ThresholdParams};
use lottery::solver::{maurey, solve_quiet, solve_traced};
use lottery::space::Objective;
use lottery::Result;

/// Sizes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    /// Instance (shared with the rates experiment).
    pub instance: super::rates::Config,
    /// Largest support size.
    pub k_max: usize,
    /// Maurey draws averaged per $k$.
    pub maurey_repeats: usize,
}

impl Config {
    /// Default size.
    pub fn default_size() -> Self {
        Config {
            instance: super::rates::Config {
                n: 200,
                d: 500,
                ..super::rates::Config::default_size()
            },
            k_max: 60,
            maurey_repeats: 50,
        }
    }

    /// Paper size.
    pub fn paper_size() -> Self {
        Config {
            instance: super::rates::Config {
                n: 500,
                d: 2000,
                ..super::rates::Config::paper_size()
            },
            k_max: 200,
            maurey_repeats: 200,
        }
    }
}

/// One point of a curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Method.
    pub method: String,
    /// Support size (nonzeros).
    pub nnz: usize,
    /// $f$ there (mean over draws for Maurey).
    pub objective: f64,
    /// Standard deviation over draws (0 for deterministic methods).
    pub std: f64,
}

/// Run every method.
pub fn run(cfg: &Config) -> Result<Vec<Row>> {
    let (p, x_star) = super::rates::instance(&cfg.instance)?;
    let k_max = cfg.k_max.min(p.dim()).min(p.n_samples());
    let mut rows = Vec::new();
    // The best objective seen at each support size along a greedy path.
    let path = |name: &str, trace: Vec<lottery::solver::Record>| -> Vec<Row> {
        let mut best = std::collections::BTreeMap::<usize, f64>::new();
        for r in trace.iter().filter(|r| r.nnz >= 1 && r.nnz <= k_max) {
            let e = best.entry(r.nnz).or_insert(f64::INFINITY);
            *e = e.min(r.objective);
        }
        best.into_iter()
            .map(|(nnz, objective)| Row {
                method: name.into(),
                nnz,
                objective,
                std: 0.0,
            })
            .collect()
    };
    let g = GreedyParams {
        max_iters: 20 * k_max,
        ..GreedyParams::new(k_max)
    };
    rows.extend(path(
        "forward greedy",
        solve_traced(&ForwardGreedy::new(g.clone())?, &p)?.1,
    ));
    rows.extend(path("FCFGS", solve_traced(&Fcfgs::new(g.clone())?, &p)?.1));
    rows.extend(path("FoBa", solve_traced(&Foba::new(g.clone())?, &p)?.1));
    let iht: Vec<Row> = (1..=k_max)
        .into_par_iter()
        .map(|k| {
            let sol = solve_quiet(&Iht::new(ThresholdParams::new(k).max_iters(300))?, &p)?;
            Ok(Row {
                method: "IHT".into(),
                nnz: k,
                objective: sol.info.objective,
                std: 0.0,
            })
        })
        .collect::<Result<_>>()?;
    rows.extend(iht);
    // Maurey: sparsify the l1-constrained solution (radius ||x*||_1) with k draws.
    let tau: f64 = x_star.iter().map(|v| v.abs()).sum();
    let fw = FrankWolfe::new(
        FwParams {
            variant: Variant::Pairwise,
            step: StepRule::LineSearch,
            max_iters: 5000,
            tol: 1e-12,
        },
        Domain::L1 { radius: tau },
    )?;
    let w = solve_quiet(&fw, &p)?.x;
    let maurey_rows: Vec<Row> = (1..=k_max)
        .into_par_iter()
        .map(|k| {
            let vals: Vec<f64> = (0..cfg.maurey_repeats)
                .map(|r| {
                    Ok(p.value(&maurey::sparsify(
                        &w,
                        k,
                        super::cell_seed(cfg.instance.seed, k as u64, r as u64, 7),
                    )?))
                })
                .collect::<Result<_>>()?;
            let m = vals.iter().sum::<f64>() / vals.len() as f64;
            let sd =
                (vals.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / vals.len() as f64).sqrt();
            Ok(Row {
                method: "Maurey (k draws)".into(),
                nnz: k,
                objective: m,
                std: sd,
            })
        })
        .collect::<Result<_>>()?;
    rows.extend(maurey_rows);
    rows.push(Row {
        method: "l1 solution (dense)".into(),
        nnz: w.iter().filter(|v| **v != 0.0).count(),
        objective: p.value(&w),
        std: 0.0,
    });
    Ok(rows)
}
