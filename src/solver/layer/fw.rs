//! `fw`: Frank-Wolfe (exact line search, at most `fw_iterations` = 100 steps) over the
//! $k$-sparse polytope $\{\lVert w\rVert_\infty \le \tau, \lVert w\rVert_1 \le k\tau\}$, $\tau$ =
//! the largest entry of the magnitude refit; then the $k$ largest entries of the relaxed
//! solution, refit. The relaxation's iterate mixes up to $t + 1$ vertices, each $k$-sparse, so it
//! is not $k$-sparse itself; the FW gap bounds the relaxation's suboptimality only
//! (theory/layerwise.md, "Not guaranteed"). A layer budget is spread over the rows by the
//! magnitude ranking.

use ndarray::{Array1, Array2};
use super::{from_magnitude, per_row_problem, LayerProblem, Solve, SolverSettings, SolverSpec};
use crate::problem::{FisherQuadratic, SmoothProblem};
use crate::solver::frank_wolfe::{Domain, FrankWolfe, FwParams, StepRule};
use crate::solver::solve_quiet;
use crate::Result;

/// The registry's entry.
pub const SPEC: SolverSpec = SolverSpec::new(
    "fw",
    "Frank-Wolfe over the k-sparse polytope, then the k largest entries refit",
    &Fw,
)
.with_fisher();

super::count_settings!(
    "Frank-Wolfe's settings (key `fw_iterations`: steps at most, 100).",
    "fw_iterations",
    iterations = 100
);

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
    fn layer(&self, p: &LayerProblem) -> Result<Array2<f64>> {
        per_row_problem(p, |row, w, k, _step| run(row, w, k, &p.settings.fw))
    }

    fn fisher(&self, q: &FisherQuadratic, k: usize, settings: &SolverSettings) -> Result<Array1<f64>> {
        run(q, q.center(), k, &settings.fw)
    }
}
