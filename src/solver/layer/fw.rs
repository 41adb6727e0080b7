//! `fw`: Frank-Wolfe (exact line search, at most `fw_iterations` = 100 steps) over the
//! $k$-sparse polytope $\{\lVert w\rVert_\infty \le \tau, \lVert w\rVert_1 \le k\tau\}$, $\tau$ =
//! the largest entry of the magnitude refit; then the $k$ largest entries of the relaxed
//! solution, refit. The relaxation's iterate mixes up to $t + 1$ vertices, each $k$-sparse, so it
//! is not $k$-sparse itself; the FW gap bounds the relaxation's suboptimality only
//! (theory/layerwise.md, "Not guaranteed"). A layer budget is spread over the rows by the
//! magnitude ranking.

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use super::{from_magnitude, per_row_problem, LayerBudget, Solve, SolverSettings, SolverSpec};
use crate::problem::{FisherQuadratic, LayerGram, SmoothProblem};
use crate::solver::frank_wolfe::{Domain, FrankWolfe, FwParams, StepRule};
use crate::solver::solve_quiet;
use crate::{Error, Result};

/// The registry's entry.
pub const SPEC: SolverSpec = SolverSpec {
    name: "fw",
    doc: "Frank-Wolfe over the k-sparse polytope, then the k largest entries refit",
    n_of_m: false,
    fisher: true,
    solve: &Fw,
};

/// Frank-Wolfe's settings (key `fw_iterations`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Frank-Wolfe steps at most (100).
    #[serde(rename = "fw_iterations", skip_serializing_if = "is_default")]
    pub iterations: usize,
}

const ITERATIONS: usize = 100;

fn is_default(v: &usize) -> bool {
    *v == ITERATIONS
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            iterations: ITERATIONS,
        }
    }
}

impl Settings {
    /// The keys.
    pub const KEYS: &'static [&'static str] = &["fw_iterations"];

    /// At least one step.
    pub fn check(&self) -> Result<()> {
        if self.iterations == 0 {
            return Err(Error::param("fw_iterations", "must be >= 1"));
        }
        Ok(())
    }
}

struct Fw;

fn run<P: SmoothProblem>(p: &P, w: &Array1<f64>, k: usize, settings: &Settings) -> Result<Array1<f64>> {
    let start = from_magnitude(p, w, k)?;
    let radius = start.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if radius == 0.0 {
        return Ok(start);
    }
    let fw = FrankWolfe::new(
        FwParams {
            step: StepRule::LineSearch,
            max_iters: settings.iterations,
            ..FwParams::default()
        },
        Domain::KSparse { k, radius },
    )?;
    let relaxed = solve_quiet(&fw, p)?.x;
    let support = crate::select::top_k(relaxed.as_slice().expect("owned"), k);
    p.refit(&support, &Array1::zeros(w.len()))
}

impl Solve for Fw {
    fn layer(
        &self,
        gram: &LayerGram,
        c: &Array2<f64>,
        budget: LayerBudget,
        settings: &SolverSettings,
    ) -> Result<Array2<f64>> {
        per_row_problem(gram, c, budget, |p, w, k, _step| run(p, w, k, &settings.fw))
    }

    fn fisher(&self, q: &FisherQuadratic, k: usize, settings: &SolverSettings) -> Result<Array1<f64>> {
        run(q, q.center(), k, &settings.fw)
    }
}
