//! A whole layer pruned on its Fisher objective ([`FisherQuadratic`]): the solvers that need
//! only values, gradients and refits, from the magnitude start (theory/layerwise.md (c), (e)).

use ndarray::Array1;

use super::{LayerSolver, SolverSettings};
use crate::problem::FisherQuadratic;
use crate::space::Objective;
use crate::{Error, Result};

/// A layer pruned on its Fisher objective ([`FisherQuadratic`]): all its weights at once.
#[derive(Clone, Debug)]
pub struct PrunedFisher {
    /// Pruned weights (flattened as the objective's $\bar w$), zero off the kept set.
    pub weights: Array1<f64>,
    /// $q(w)$.
    pub error: f64,
    /// $q(w)/q(0)$.
    pub relative_error: f64,
    /// Nonzero weights kept.
    pub kept: usize,
}

/// Prune a layer on its Fisher objective keeping `k` weights (the solver at its default
/// settings): magnitude keeps the `k` largest $|\bar w|$ unchanged; the thresholding solvers and
/// Frank-Wolfe start from the magnitude support refit, with step $1/L$ (theory/layerwise.md).
/// The solvers that run here are those whose spec says `fisher` (OMP, OBS and SparseGPT need $H$
/// itself, $p \times p$ here; FCFGS would refit once per kept weight).
pub fn prune_fisher(q: &FisherQuadratic, solver: LayerSolver, k: usize) -> Result<PrunedFisher> {
    prune_fisher_with(q, solver, k, &SolverSettings::default())
}

/// [`prune_fisher`] with the solvers' `settings`.
pub fn prune_fisher_with(
    q: &FisherQuadratic,
    solver: LayerSolver,
    k: usize,
    settings: &SolverSettings,
) -> Result<PrunedFisher> {
    if !solver.spec().fisher {
        return Err(Error::Unsupported(format!(
            "the Fisher objective with solver {} (one of {})",
            solver.name(),
            LayerSolver::names_where(|s| s.fisher)
        )));
    }
    settings.check()?;
    let p = q.center().len();
    if k > p {
        return Err(Error::param(
            "sparsity",
            format!("budget {k} > {p} weights"),
        ));
    }
    let weights = if k == 0 {
        Array1::zeros(p)
    } else {
        solver.spec().solve.fisher(q, k, settings)?
    };
    let error = q.value(&weights);
    let total = q.value_at_zero();
    Ok(PrunedFisher {
        relative_error: if total > 0.0 { error / total } else { 0.0 },
        kept: weights.iter().filter(|v| **v != 0.0).count(),
        error,
        weights,
    })
}
