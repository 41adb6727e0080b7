//! `fcfgs`: fully corrective forward greedy selection ([`crate::solver::greedy::Fcfgs`]) on
//! each row's Gram-form problem. A layer budget is spread over the rows by the magnitude ranking.

use ndarray::{Array1, Array2};

use super::{per_row_problem, LayerBudget, NoSettings, Solve, SolverSettings, SolverSpec};
use crate::problem::{LayerGram, SmoothProblem};
use crate::solver::greedy::{Fcfgs, GreedyParams};
use crate::solver::solve_quiet;
use crate::Result;

/// The registry's entry.
pub const SPEC: SolverSpec = SolverSpec {
    name: "fcfgs",
    doc: "fully corrective forward greedy selection on each row's problem",
    n_of_m: false,
    fisher: false,
    solve: &FcfgsRows,
};

/// No settings.
pub type Settings = NoSettings;

struct FcfgsRows;

fn run<P: SmoothProblem>(p: &P, k: usize) -> Result<Array1<f64>> {
    Ok(solve_quiet(&Fcfgs::new(GreedyParams::new(k))?, p)?.x)
}

impl Solve for FcfgsRows {
    fn layer(
        &self,
        gram: &LayerGram,
        c: &Array2<f64>,
        budget: LayerBudget,
        _settings: &SolverSettings,
    ) -> Result<Array2<f64>> {
        per_row_problem(gram, c, budget, |p, _w, k, _step| run(p, k))
    }
}
