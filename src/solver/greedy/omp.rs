//! Orthogonal matching pursuit with a progressive Cholesky factor (least squares only).

use ndarray::{s, Array1, Array2, ShapeBuilder};
use serde::{Deserialize, Serialize};

use super::GreedyParams;
use crate::linalg::ProgressiveCholesky;
use crate::problem::{LeastSquares, SmoothProblem};
use crate::select::arg_max_abs;
use crate::solver::{Iterative, Record, Status};
use crate::{check_sparsity, Result};

/// Orthogonal matching pursuit for least squares, with a progressive Cholesky factor of
/// $A_S^\top A_S$: each atom costs one pass over $A$ (the correlations $A^\top r$) plus $O(nk)$
/// for the new Gram column and residual, and $O(k^2)$ for the triangular solves — never a
/// refactorization.
///
/// Stops at $k$ atoms, when $\|r\|^2 \le \mathrm{tol}\cdot\|y\|^2$, or when the next atom is
/// numerically dependent on the support.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Omp {
    /// Parameters (`tol` is relative to $\|y\|^2$).
    pub params: GreedyParams,
}

impl Omp {
    /// OMP with validated parameters.
    pub fn new(params: GreedyParams) -> Result<Self> {
        params.validate()?;
        Ok(Omp { params })
    }
}

/// OMP's state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OmpState {
    /// Selected atoms in order of selection.
    pub order: Vec<usize>,
    chol: ProgressiveCholesky,
    /// Selected columns $A_S$, contiguous ($n \times k$, column-major), so that the new Gram
    /// column $A_S^\top a_j$ and the residual $y - A_S z$ are one gemv each.
    cols: Array2<f64>,
    /// Residual $y - A x$.
    pub r: Array1<f64>,
    /// Current iterate.
    pub x: Array1<f64>,
    /// $f(x)$.
    pub f: f64,
    y_norm_sq: f64,
}

impl Iterative<LeastSquares> for Omp {
    type State = OmpState;

    fn name(&self) -> &'static str {
        "omp"
    }

    // OMP takes exactly one atom per iteration: its iteration cap is the sparsity.
    #[allow(clippy::misnamed_getters)]
    fn max_iters(&self) -> usize {
        self.params.sparsity
    }

    fn init(&self, p: &LeastSquares) -> Result<OmpState> {
        check_sparsity(self.params.sparsity, p.dim())?;
        let r = p.response().clone();
        let y_norm_sq = r.dot(&r);
        Ok(OmpState {
            order: Vec::with_capacity(self.params.sparsity),
            chol: ProgressiveCholesky::new(),
            cols: Array2::zeros((p.n_samples(), self.params.sparsity).f()),
            f: p.value_of_residual(&r),
            r,
            x: Array1::zeros(p.dim()),
            y_norm_sq,
        })
    }

    fn step(&self, p: &LeastSquares, s: &mut OmpState) -> Result<Status> {
        // One pass over A; the correlations of selected atoms are zeroed in place (they are
        // ~0 already, by orthogonality of the residual).
        let mut c = p.design().rmatvec(&s.r);
        for &j in &s.order {
            c[j] = 0.0;
        }
        let Some(j) = arg_max_abs(c.as_slice().expect("owned")).filter(|&j| c[j] != 0.0) else {
            return Ok(Status::Converged);
        };
        let t = s.order.len();
        let col = p.design().column(j);
        let cross = s.cols.slice(s![.., ..t]).t().dot(&col);
        if s.chol
            .push(
                cross.as_slice().expect("owned"),
                col.dot(&col),
                col.dot(p.response()),
            )
            .is_err()
        {
            return Ok(Status::Converged);
        }
        s.order.push(j);
        s.cols.column_mut(t).assign(&col);
        let z = Array1::from(s.chol.solve());
        let mut r = p.response().clone();
        r -= &s.cols.slice(s![.., ..=t]).dot(&z);
        for (&i, &zi) in s.order.iter().zip(&z) {
            s.x[i] = zi;
        }
        s.r = r;
        s.f = p.value_of_residual(&s.r);
        let done =
            s.order.len() >= self.params.sparsity || s.r.dot(&s.r) <= self.params.tol * s.y_norm_sq;
        Ok(if done {
            Status::Converged
        } else {
            Status::Continue
        })
    }

    fn iterate<'s>(&self, s: &'s OmpState) -> &'s Array1<f64> {
        &s.x
    }

    fn record(&self, s: &OmpState) -> Record {
        Record::new(s.f, s.order.len())
    }
}
