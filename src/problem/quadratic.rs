//! The layerwise reconstruction problem: a quadratic form around trained weights, written as
//! least squares so that every solver of the convex layer runs on it unchanged.
//!
//! A layer with weights $\bar W$ (rows $\bar w$, one per output unit) and inputs
//! $X \in \mathbb{R}^{n\times d}$ on $n$ calibration samples is pruned row by row by
//!
//! $$ \min_{\|w\|_0 \le k}\ q(w) = \tfrac12 (w - \bar w)^\top H (w - \bar w), \qquad
//!    H = X^\top X / n + \lambda I, $$
//!
//! i.e. the squared change of the row's outputs on the calibration data (plus a ridge term).
//! All rows of a layer share $H$. [`LayerGram`] holds it, with SparseGPT's two conventions:
//! damping relative to the mean diagonal ([`Damping::Relative`], default 1%) and **dead inputs**
//! ($H_{qq} = 0$: an input that is zero on every calibration sample) get $H_{qq} = 1$ and their
//! weights are set to zero — they cannot change any output, so removing them is free.
//!
//! Two exact least-squares forms of $q$, each an ordinary [`LeastSquares`]
//! ($f(x) = \frac{1}{2N}\|Ax - y\|^2$):
//!
//! - **Gram form** ([`LayerGram::problem`]): $H = R^\top R$ (Cholesky, $R$ upper triangular),
//!   $A = \sqrt d\, R$, $y = A\bar w$, so $f = q$ and the design is $d\times d$ whatever $n$.
//!   The correlations a greedy step reads, $A^\top(y - Ax)/d = H(\bar w - x)$, are those of
//!   Gram-form OMP.
//! - **Design form** ([`design_form`]): $A = \sqrt{N/n}\,[X;\ \sqrt{n\lambda}\,I]$ with
//!   $N = n + d$ rows, $y = A\bar w$; with $\lambda = 0$ it is exactly $(X, X\bar w)$, the problem
//!   `lottery solve --design X.npy --response y.npy` solves.
//!
//! ```
//! use lottery::problem::{Damping, LayerGram};
//! use lottery::space::Objective;
//! use ndarray::{array, Array1};
//! let x = array![[1.0, 0.0, 2.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [2.0, 0.0, 1.0]];
//! let gram = LayerGram::from_inputs(x.view(), Damping::Absolute(0.1)).unwrap();
//! let center = array![0.5, -1.0, 2.0];
//! let p = gram.problem(center.view()).unwrap();
//! // f(w) = ½ (w − w̄)ᵀ H (w − w̄): zero at the trained row, positive elsewhere.
//! assert!(p.value(&center) < 1e-12);
//! let w = array![0.5, 0.0, 2.0];
//! assert!((p.value(&w) - gram.value(w.view(), center.view())).abs() < 1e-12);
//! ```

use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2};
use ndarray_linalg::{Cholesky, UPLO};

use super::LeastSquares;
use crate::{Error, Result};

/// How much of $\lambda I$ is added to $X^\top X/n$.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Damping {
    /// $\lambda$ itself.
    Absolute(f64),
    /// $\lambda = p \cdot \mathrm{mean}_q\, (X^\top X/n)_{qq}$ (SparseGPT's `percdamp`, default
    /// $p = 0.01$).
    Relative(f64),
}

impl Default for Damping {
    fn default() -> Self {
        Damping::Relative(0.01)
    }
}

impl Damping {
    pub(crate) fn lambda(self, mean_diag: f64) -> Result<f64> {
        let (v, name) = match self {
            Damping::Absolute(v) => (v, "damp"),
            Damping::Relative(v) => (v, "percdamp"),
        };
        if !v.is_finite() || v < 0.0 {
            return Err(Error::param(
                name,
                format!("must be finite and >= 0, got {v}"),
            ));
        }
        Ok(match self {
            Damping::Absolute(v) => v,
            Damping::Relative(p) => p * mean_diag,
        })
    }
}

/// The shared quadratic of one layer: $H = X^\top X/n + \lambda I$ (dead inputs fixed), its
/// Cholesky factor, and the inputs it came from.
#[derive(Clone, Debug)]
pub struct LayerGram {
    h: Array2<f64>,
    /// $d\,H$: the Gram matrix $A^\top A$ of the Gram-form design, shared by every row's problem.
    dh: std::sync::Arc<Array2<f64>>,
    /// Upper Cholesky factor $R$, $H = R^\top R$.
    r: Array2<f64>,
    dead: Vec<usize>,
    lambda: f64,
}

impl LayerGram {
    /// From the layer's inputs on $n$ calibration samples ($n \times d$).
    pub fn from_inputs(x: ArrayView2<f64>, damping: Damping) -> Result<Self> {
        if x.nrows() == 0 || x.ncols() == 0 {
            return Err(Error::Shape("calibration inputs are empty".into()));
        }
        crate::error::ensure_finite(x.iter(), "calibration inputs")?;
        let h = x.t().dot(&x) / x.nrows() as f64;
        Self::from_gram(h.view(), damping)
    }

    /// From a given Gram matrix $X^\top X/n$ (symmetric positive semidefinite, $d \times d$);
    /// `damping` is added to it.
    pub fn from_gram(h: ArrayView2<f64>, damping: Damping) -> Result<Self> {
        let d = h.nrows();
        if d == 0 || h.ncols() != d {
            return Err(Error::Shape(format!(
                "the Gram matrix must be square and non-empty, got {}x{}",
                h.nrows(),
                h.ncols()
            )));
        }
        crate::error::ensure_finite(h.iter(), "Gram matrix")?;
        let asym = (0..d)
            .flat_map(|i| (0..i).map(move |j| (i, j)))
            .map(|(i, j)| (h[[i, j]] - h[[j, i]]).abs())
            .fold(0.0, f64::max);
        let scale = h.diag().iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if asym > 1e-9 * scale.max(f64::MIN_POSITIVE) {
            return Err(Error::Shape(format!(
                "the Gram matrix is not symmetric (largest |H_ij - H_ji| = {asym:.3e})"
            )));
        }
        let mut h = h.to_owned();
        let dead: Vec<usize> = (0..d).filter(|&q| h[[q, q]] <= 0.0).collect();
        let live = d - dead.len();
        let mean_diag = if live == 0 {
            1.0
        } else {
            h.diag().iter().filter(|v| **v > 0.0).sum::<f64>() / live as f64
        };
        let lambda = damping.lambda(mean_diag)?;
        for &q in &dead {
            h.row_mut(q).fill(0.0);
            h.column_mut(q).fill(0.0);
            h[[q, q]] = 1.0;
        }
        for q in 0..d {
            h[[q, q]] += lambda;
        }
        let r = h.cholesky(UPLO::Upper).map_err(|e| {
            Error::Numerical(format!(
                "the damped Gram matrix is not positive definite ({e}); increase the damping"
            ))
        })?;
        let dh = std::sync::Arc::new(&h * d as f64);
        Ok(LayerGram {
            h,
            dh,
            r,
            dead,
            lambda,
        })
    }

    /// $d$.
    pub fn dim(&self) -> usize {
        self.h.nrows()
    }

    /// $H$ (damped, dead inputs fixed).
    pub fn h(&self) -> &Array2<f64> {
        &self.h
    }

    /// The damping $\lambda$ that was added.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// Inputs that are zero on every calibration sample (sorted).
    pub fn dead(&self) -> &[usize] {
        &self.dead
    }

    /// $L = \lambda_{\max}(H)$, the smoothness of $q$ (exact for $d \le 600$, power iteration
    /// from below otherwise — see [`super::Design::spectral_norm_sq`]).
    pub fn smoothness(&self) -> f64 {
        super::Design::F64(self.r.clone()).spectral_norm_sq()
    }

    /// $H^{-1}$ from the Cholesky factor.
    pub fn inverse(&self) -> Result<Array2<f64>> {
        crate::linalg::spd_inverse(&self.h)
    }

    /// A layer's weights (rows × $d$) with the dead inputs' columns zeroed (checked against $d$
    /// and for finiteness): the centre every layer solver starts from.
    pub fn center_rows(&self, center: ArrayView2<f64>) -> Result<Array2<f64>> {
        if center.ncols() != self.dim() {
            return Err(Error::Shape(format!(
                "the layer has {} inputs but the Gram matrix is {}x{}",
                center.ncols(),
                self.dim(),
                self.dim()
            )));
        }
        crate::error::ensure_finite(center.iter(), "weights")?;
        let mut c = center.to_owned();
        for &q in &self.dead {
            c.column_mut(q).fill(0.0);
        }
        Ok(c)
    }

    /// A row with its dead inputs' weights zeroed (checked against $d$ and for finiteness).
    pub fn center(&self, center: ArrayView1<f64>) -> Result<Array1<f64>> {
        if center.len() != self.dim() {
            return Err(Error::Shape(format!(
                "the weight row has length {} but the Gram matrix is {}x{}",
                center.len(),
                self.dim(),
                self.dim()
            )));
        }
        crate::error::ensure_finite(center.iter(), "weight row")?;
        let mut c = center.to_owned();
        for &q in &self.dead {
            c[q] = 0.0;
        }
        Ok(c)
    }

    /// $q(w) = \frac12 (w - \bar w)^\top H (w - \bar w)$ with $\bar w$ = `center` (dead inputs
    /// zeroed).
    pub fn value(&self, w: ArrayView1<f64>, center: ArrayView1<f64>) -> f64 {
        let mut c = center.to_owned();
        for &q in &self.dead {
            c[q] = 0.0;
        }
        let e = &w - &c;
        0.5 * e.dot(&self.h.dot(&e))
    }

    /// The Gram-form least-squares problem of one row: $A = \sqrt d\,R$, $y = A\bar w$, so that
    /// $f(w) = q(w)$ exactly.
    pub fn problem(&self, center: ArrayView1<f64>) -> Result<LeastSquares> {
        let c = self.center(center)?;
        let a = &self.r * (self.dim() as f64).sqrt();
        let y = a.dot(&c);
        LeastSquares::from_f64(a, y)?.with_gram(self.dh.clone())
    }
}

/// The design-form problem of one row: $A = \sqrt{N/n}\,[X;\ \sqrt{n\lambda} I]$, $y = A\bar w$
/// ($N$ = rows of $A$), with $f(w) = \frac12 (w-\bar w)^\top (X^\top X/n + \lambda I)(w - \bar w)$.
/// With $\lambda = 0$ it is $(X, X\bar w)$ exactly. Dead inputs are left as they are.
pub fn design_form(
    x: ArrayView2<f64>,
    center: ArrayView1<f64>,
    lambda: f64,
) -> Result<LeastSquares> {
    if !lambda.is_finite() || lambda < 0.0 {
        return Err(Error::param(
            "damp",
            format!("must be finite and >= 0, got {lambda}"),
        ));
    }
    if center.len() != x.ncols() {
        return Err(Error::Shape(format!(
            "the weight row has length {} but the inputs have {} columns",
            center.len(),
            x.ncols()
        )));
    }
    let (n, d) = x.dim();
    let a = if lambda == 0.0 {
        x.to_owned()
    } else {
        let scale = ((n + d) as f64 / n as f64).sqrt();
        let mut a = Array2::<f64>::zeros((n + d, d));
        a.slice_mut(s![..n, ..]).assign(&(&x * scale));
        let ridge = (n as f64 * lambda).sqrt() * scale;
        for q in 0..d {
            a[[n + q, q]] = ridge;
        }
        a
    };
    let y = a.dot(&center);
    LeastSquares::from_f64(a, y)
}
