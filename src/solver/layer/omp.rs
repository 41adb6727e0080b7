//! `omp`: **Batch-OMP** in Gram form (Rubinstein, Zibulevsky & Elad 2008): $\alpha^0 = \bar W H$
//! for all rows in one product, then per row $O(d\lvert S\rvert)$ per atom ([`batch_omp_row`]);
//! the same selections as [`crate::solver::greedy::Omp`] on the Gram-form problem. A layer
//! budget is spread over the rows by the magnitude ranking.

use ndarray::{Array1, Array2};

use super::{per_row, LayerProblem, NoSettings, Solve, SolverSpec};
use crate::linalg::ProgressiveCholesky;
use crate::select::arg_max_abs;
use crate::Result;

/// The registry's entry.
pub const SPEC: SolverSpec = SolverSpec::new(
    "omp",
    "Batch-OMP in Gram form (forward selection with a refit per atom)",
    &Omp,
);

/// No settings.
pub type Settings = NoSettings;

struct Omp;

impl Solve for Omp {
    fn layer(&self, p: &LayerProblem) -> Result<Array2<f64>> {
        let alpha0 = p.center.dot(p.gram.h());
        per_row(p.center, p.budget, |r, k| {
            Ok(batch_omp_row(p.gram.h(), alpha0.row(r).to_owned(), k))
        })
    }
}

/// OMP on one row in Gram form: correlations $\alpha = \alpha^0 - H_{:,S} z$ with
/// $\alpha^0 = H\bar w$, the support's Gram factor grown one atom at a time
/// ([`ProgressiveCholesky`]), $z = H_{SS}^{-1}\alpha^0_S$. The same selections as
/// [`crate::solver::greedy::Omp`] on the Gram-form problem (whose correlations are $d\,\alpha$),
/// without touching a design.
pub fn batch_omp_row(h: &Array2<f64>, alpha0: Array1<f64>, k: usize) -> Array1<f64> {
    let d = alpha0.len();
    let mut alpha = alpha0.clone();
    let mut support: Vec<usize> = Vec::with_capacity(k);
    let mut chol = ProgressiveCholesky::new();
    let mut z: Vec<f64> = Vec::new();
    while support.len() < k {
        for &j in &support {
            alpha[j] = 0.0;
        }
        let Some(j) = arg_max_abs(alpha.as_slice().expect("owned")).filter(|&j| alpha[j] != 0.0)
        else {
            break;
        };
        let cross: Vec<f64> = support.iter().map(|&i| h[[i, j]]).collect();
        if chol.push(&cross, h[[j, j]], alpha0[j]).is_err() {
            break;
        }
        support.push(j);
        z = chol.solve();
        alpha.assign(&alpha0);
        // H is symmetric: its rows are the contiguous copies of its columns.
        for (&i, &zi) in support.iter().zip(&z) {
            alpha.scaled_add(-zi, &h.row(i));
        }
    }
    let mut x = Array1::zeros(d);
    for (&i, &zi) in support.iter().zip(&z) {
        x[i] = zi;
    }
    x
}
