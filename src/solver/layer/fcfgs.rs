//! `fcfgs`: fully corrective forward greedy selection ([`crate::solver::greedy::Fcfgs`]) on
//! each row's Gram-form problem. A layer budget is spread over the rows by the magnitude ranking.

use ndarray::{Array1, Array2};

use super::{per_row_problem, LayerProblem, NoSettings, Solve, SolverSpec};
use crate::problem::SmoothProblem;
use crate::solver::greedy::{Fcfgs, GreedyParams};
use crate::solver::solve_quiet;
use crate::Result;

/// The registry's entry.
pub const SPEC: SolverSpec = SolverSpec::new(
    "fcfgs",
    "fully corrective forward greedy selection on each row's problem",
    &FcfgsRows,
);

/// No settings.
pub type Settings = NoSettings;

struct FcfgsRows;

fn run<P: SmoothProblem>(p: &P, k: usize) -> Result<Array1<f64>> {
    Ok(solve_quiet(&Fcfgs::new(GreedyParams::new(k))?, p)?.x)
}

impl Solve for FcfgsRows {
    fn layer(&self, p: &LayerProblem) -> Result<Array2<f64>> {
        per_row_problem(p, |row, _w, k, _step| run(row, k))
    }
}
