//! Small dense linear algebra: least-squares solves on a support and the progressive Cholesky
//! factorization that OMP and fully corrective greedy methods update one atom at a time.
//!
//! ```
//! use lottery::linalg::ProgressiveCholesky;
//! // Atoms a0 = (1, 0), a1 = (1, 1) and y = (1, 2): y = −1·a0 + 2·a1 exactly.
//! let mut chol = ProgressiveCholesky::new();
//! chol.push(&[], 1.0, 1.0).unwrap(); // ‖a0‖² = 1, a0ᵀy = 1
//! chol.push(&[1.0], 2.0, 3.0).unwrap(); // a0ᵀa1 = 1, ‖a1‖² = 2, a1ᵀy = 3
//! let z = chol.solve();
//! assert!((z[0] + 1.0).abs() < 1e-12 && (z[1] - 2.0).abs() < 1e-12);
//! assert!((chol.explained_sq() - 5.0).abs() < 1e-12); // ‖y‖² − residual² = 5 − 0
//! // A third atom in the span of the first two is refused, leaving the factor as it was.
//! assert!(chol.push(&[2.0, 3.0], 5.0, 5.0).is_err());
//! assert_eq!(chol.len(), 2);
//! ```

use ndarray::{Array1, Array2};
use ndarray_linalg::LeastSquaresSvd;

use crate::{Error, Result};

/// $\arg\min_z \|Bz - y\|_2$ (minimum-norm solution when $B$ is rank deficient), via LAPACK's SVD
/// least-squares driver.
pub fn least_squares(b: &Array2<f64>, y: &Array1<f64>) -> Result<Array1<f64>> {
    let res = b
        .least_squares(y)
        .map_err(|e| Error::Numerical(format!("least squares on {} columns: {e}", b.ncols())))?;
    Ok(res.solution)
}

/// $H^{-1}$ of a symmetric positive definite $H$ (Cholesky), with a one-line error otherwise.
pub fn spd_inverse(h: &Array2<f64>) -> Result<Array2<f64>> {
    use ndarray_linalg::{FactorizeC, InverseC, UPLO};
    let f = h.factorizec(UPLO::Lower).map_err(|e| {
        Error::Numerical(format!(
            "the Hessian is not positive definite ({e}); set a damping > 0"
        ))
    })?;
    f.invc()
        .map_err(|e| Error::Numerical(format!("inverting the Hessian: {e}")))
}

/// Cholesky factor $L$ of the Gram matrix $G_S = A_S^\top A_S$ of a growing support, and
/// $u = L^{-1} A_S^\top y$.
///
/// Adding an atom costs one triangular solve ($O(k^2)$) instead of a refactorization
/// ($O(k^3)$); the refit $z = L^{-\top} u$ costs another, and the residual norm is available for
/// free: $\|y - A_S z\|^2 = \|y\|^2 - \|u\|^2$.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ProgressiveCholesky {
    /// Row-major lower triangle, row $i$ holding $i + 1$ entries.
    rows: Vec<Vec<f64>>,
    u: Vec<f64>,
}

impl ProgressiveCholesky {
    /// Empty factorization.
    pub fn new() -> Self {
        Self::default()
    }

    /// Size $k$ of the support.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the support is empty.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Append an atom given its inner products with the current atoms (`cross`, length $k$), its
    /// squared norm and its inner product with $y$. Fails (leaving the factor unchanged) when the
    /// atom is numerically in the span of the current ones.
    pub fn push(&mut self, cross: &[f64], norm_sq: f64, aty: f64) -> Result<()> {
        let k = self.len();
        debug_assert_eq!(cross.len(), k);
        let mut w = cross.to_vec();
        for i in 0..k {
            let row = &self.rows[i];
            let s: f64 = (0..i).map(|j| row[j] * w[j]).sum();
            w[i] = (w[i] - s) / row[i];
        }
        let rest = norm_sq - w.iter().map(|v| v * v).sum::<f64>();
        if rest.is_nan() || rest <= 1e-12 * norm_sq.max(f64::MIN_POSITIVE) {
            return Err(Error::Numerical(format!(
                "atom {k} is linearly dependent on the support (pivot {rest:.3e})"
            )));
        }
        let diag = rest.sqrt();
        let uk = (aty - w.iter().zip(&self.u).map(|(a, b)| a * b).sum::<f64>()) / diag;
        w.push(diag);
        self.rows.push(w);
        self.u.push(uk);
        Ok(())
    }

    /// Coefficients $z = G_S^{-1} A_S^\top y$ (back substitution).
    pub fn solve(&self) -> Vec<f64> {
        let k = self.len();
        let mut z = self.u.clone();
        for i in (0..k).rev() {
            let mut s = z[i];
            for (j, zj) in z.iter().enumerate().skip(i + 1) {
                s -= self.rows[j][i] * zj;
            }
            z[i] = s / self.rows[i][i];
        }
        z
    }

    /// $\|u\|^2 = y^\top A_S G_S^{-1} A_S^\top y$, so that the residual is $\|y\|^2 - \|u\|^2$.
    pub fn explained_sq(&self) -> f64 {
        self.u.iter().map(|v| v * v).sum()
    }
}
