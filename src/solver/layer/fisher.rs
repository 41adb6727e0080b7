//! A whole layer pruned on its Fisher objective ([`FisherQuadratic`]): the solvers that need
//! only values, gradients and refits, from the magnitude start (theory/layerwise.md (c), (e)).

use ndarray::Array1;

use super::{row_solver, LayerSolver};
use crate::problem::{FisherQuadratic, SmoothProblem};
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

/// The solvers that run on the Fisher objective: those that need only values, gradients and
/// refits (OMP, OBS and SparseGPT need $H$ itself, $p \times p$ here; FCFGS would refit once per
/// kept weight).
pub const FISHER_SOLVERS: [LayerSolver; 6] = [
    LayerSolver::Magnitude,
    LayerSolver::Iht,
    LayerSolver::Niht,
    LayerSolver::Htp,
    LayerSolver::Cosamp,
    LayerSolver::Fw,
];

/// Prune a layer on its Fisher objective keeping `k` weights: magnitude keeps the `k` largest
/// $|\bar w|$ unchanged; the thresholding solvers and Frank-Wolfe start from the magnitude
/// support refit, with step $1/L$ (theory/layerwise.md).
pub fn prune_fisher(q: &FisherQuadratic, solver: LayerSolver, k: usize) -> Result<PrunedFisher> {
    if !FISHER_SOLVERS.contains(&solver) {
        let all: Vec<&str> = FISHER_SOLVERS.iter().map(|s| s.name()).collect();
        return Err(Error::Unsupported(format!(
            "the Fisher objective with solver {} (one of {})",
            solver.name(),
            all.join(", ")
        )));
    }
    let w = q.center().clone();
    let p = w.len();
    if k > p {
        return Err(Error::param(
            "sparsity",
            format!("budget {k} > {p} weights"),
        ));
    }
    let weights = if solver == LayerSolver::Magnitude {
        let keep = crate::select::top_k(w.as_slice().expect("owned"), k);
        let mut out = Array1::zeros(p);
        for j in keep {
            out[j] = w[j];
        }
        out
    } else if k == 0 {
        Array1::zeros(p)
    } else {
        let step = 1.0 / (1.01 * q.smoothness());
        row_solver(solver, q, w, k, step)?
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
