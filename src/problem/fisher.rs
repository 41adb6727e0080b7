//! The Fisher objective of a layer (CHITA, WoodFisher): the loss's local quadratic model around
//! the trained weights $\bar w \in \mathbb{R}^p$ (all of a layer's weights at once), from the
//! per-sample gradients $g_i = \nabla_w \ell_i(\bar w)$, rows of $G \in \mathbb{R}^{n\times p}$:
//!
//! $$q(w) = \frac{1}{2n}\|G(w - \bar w)\|_2^2 + \frac{\lambda}{2}\|w - \bar w\|_2^2
//!        = \frac12 (w-\bar w)^\top (F + \lambda I)(w - \bar w),\qquad F = G^\top G/n,$$
//!
//! the empirical Fisher $F$ (rank $\le n \ll p$) damped by $\lambda$ (needed: without it every
//! support larger than $n$ has a continuum of minimizers). It is the least-squares problem with
//! design $[G;\ \sqrt{n\lambda}\,I]$ and response $[G\bar w;\ \sqrt{n\lambda}\,\bar w]$, which is
//! never formed: $p$ is a layer's weight count ($235{,}200$ for LeNet-300-100's first layer).
//! Every product goes through $G$, and a refit on a support $S$ solves
//! $(G_S^\top G_S/n + \lambda I)z = G_S^\top G\bar w/n + \lambda \bar w_S$ by Cholesky when
//! $|S| \le n$ and through the $n\times n$ Woodbury identity when $|S| > n$. The solvers that need
//! only values, gradients, curvatures and refits (IHT, NIHT, HTP, CoSaMP, FCFGS, Frank-Wolfe)
//! run on it unchanged ([`SmoothProblem`]); [`SmoothProblem::design`] returns $G$ alone, without
//! the ridge rows.
//!
//! ```
//! use lottery::problem::{Damping, FisherQuadratic, SmoothProblem};
//! use lottery::space::Objective;
//! use ndarray::{array, Array1};
//! let g = array![[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]];
//! let w = array![0.5, -1.0, 0.25];
//! let q = FisherQuadratic::new(g, w.clone(), Damping::Absolute(0.1)).unwrap();
//! // Zero at the trained weights, and a refit on every coordinate returns them.
//! assert!(q.value(&w).abs() < 1e-15);
//! let all = q.refit(&[0, 1, 2], &Array1::zeros(3)).unwrap();
//! assert!((&all - &w).iter().all(|v| v.abs() < 1e-12));
//! ```

use std::sync::OnceLock;

use ndarray::{Array1, Array2, Axis};
use ndarray_linalg::SolveC;

use super::{Damping, Design, SmoothProblem};
use crate::space::Objective;
use crate::{Error, Result};

/// $q(w) = \frac{1}{2n}\|G(w-\bar w)\|^2 + \frac\lambda2\|w-\bar w\|^2$ (module docs).
#[derive(Debug)]
pub struct FisherQuadratic {
    g: Design,
    center: Array1<f64>,
    /// $G\bar w$.
    g_center: Array1<f64>,
    lambda: f64,
    col_norms_sq: Array1<f64>,
    lipschitz: OnceLock<f64>,
}

impl FisherQuadratic {
    /// From the per-sample gradients `g` ($n \times p$) and the trained weights; the damping is
    /// absolute or relative to the mean diagonal of $F$ ($\|G\|_F^2/(np)$) and must come out
    /// positive.
    pub fn new(g: Array2<f64>, center: Array1<f64>, damping: Damping) -> Result<Self> {
        let (n, p) = g.dim();
        if n == 0 || p == 0 {
            return Err(Error::Shape(format!("empty gradient matrix {n}x{p}")));
        }
        if center.len() != p {
            return Err(Error::Shape(format!(
                "{} weights for a gradient matrix with {p} columns",
                center.len()
            )));
        }
        crate::error::ensure_finite(g.iter(), "gradients")?;
        crate::error::ensure_finite(center.iter(), "weights")?;
        let col_norms_sq = g.map_axis(Axis(0), |c| c.dot(&c));
        let mean_diag = col_norms_sq.sum() / (n * p) as f64;
        let lambda = damping.lambda(mean_diag)?;
        if lambda <= 0.0 {
            return Err(Error::param(
                "damp",
                "the Fisher objective needs a positive damping (F has rank <= n < p)",
            ));
        }
        let g_center = g.dot(&center);
        Ok(FisherQuadratic {
            g: Design::F64(g),
            center,
            g_center,
            lambda,
            col_norms_sq,
            lipschitz: OnceLock::new(),
        })
    }

    /// $\bar w$.
    pub fn center(&self) -> &Array1<f64> {
        &self.center
    }

    /// $\lambda$.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    fn g(&self) -> &Array2<f64> {
        match &self.g {
            Design::F64(a) => a,
            Design::F32(_) => unreachable!("built from f64"),
        }
    }

    fn n(&self) -> f64 {
        self.g().nrows() as f64
    }

    /// $q(0) = \frac12 \bar w^\top (F + \lambda I)\bar w$, the cost of removing the layer.
    pub fn value_at_zero(&self) -> f64 {
        self.g_center.dot(&self.g_center) / (2.0 * self.n())
            + 0.5 * self.lambda * self.center.dot(&self.center)
    }

    fn quad(&self, d: &Array1<f64>) -> f64 {
        let gd = self.g().dot(d);
        gd.dot(&gd) / self.n() + self.lambda * d.dot(d)
    }
}

impl Objective<Array1<f64>> for FisherQuadratic {
    fn value(&self, x: &Array1<f64>) -> f64 {
        0.5 * self.quad(&(x - &self.center))
    }

    fn gradient(&self, x: &Array1<f64>) -> Array1<f64> {
        self.value_and_gradient(x).1
    }

    fn value_and_gradient(&self, x: &Array1<f64>) -> (f64, Array1<f64>) {
        let e = x - &self.center;
        let r = self.g().dot(&e);
        let mut grad = self.g().t().dot(&r) / self.n();
        grad.scaled_add(self.lambda, &e);
        let v = 0.5 * (r.dot(&r) / self.n() + self.lambda * e.dot(&e));
        (v, grad)
    }
}

impl SmoothProblem for FisherQuadratic {
    fn design(&self) -> &Design {
        &self.g
    }

    /// $\lambda_{\max}(GG^\top/n) + \lambda$: the $n\times n$ Gram matrix's top eigenvalue.
    fn smoothness(&self) -> f64 {
        *self.lipschitz.get_or_init(|| {
            let g = self.g();
            let k = g.dot(&g.t()) / self.n();
            let m = k.nrows();
            let mat = nalgebra::DMatrix::from_fn(m, m, |i, j| k[[i, j]]);
            let top = nalgebra::SymmetricEigen::new(mat)
                .eigenvalues
                .iter()
                .cloned()
                .fold(0.0, f64::max);
            top + self.lambda
        })
    }

    fn coordinate_smoothness(&self) -> f64 {
        self.col_norms_sq.iter().cloned().fold(0.0, f64::max) / self.n() + self.lambda
    }

    fn refit(&self, support: &[usize], _warm: &Array1<f64>) -> Result<Array1<f64>> {
        let p = self.center.len();
        let mut x = Array1::zeros(p);
        if support.is_empty() {
            return Ok(x);
        }
        let n = self.n();
        let g_s = self.g().select(Axis(1), support);
        // rhs = G_S^T G w̄ / n + λ w̄_S
        let mut rhs = g_s.t().dot(&self.g_center) / n;
        for (i, &j) in support.iter().enumerate() {
            rhs[i] += self.lambda * self.center[j];
        }
        let solve_fail = |e: ndarray_linalg::error::LinalgError| {
            Error::Numerical(format!("Fisher refit on {} weights: {e}", support.len()))
        };
        let z = if support.len() <= g_s.nrows() {
            let mut m = g_s.t().dot(&g_s) / n;
            m.diag_mut().mapv_inplace(|v| v + self.lambda);
            m.solvec(&rhs).map_err(solve_fail)?
        } else {
            // (λI + BᵀB)⁻¹ r = (r − Bᵀ(λI + BBᵀ)⁻¹ B r)/λ with B = G_S/√n.
            let mut k = g_s.dot(&g_s.t()) / n;
            k.diag_mut().mapv_inplace(|v| v + self.lambda);
            let br = g_s.dot(&rhs) / n.sqrt();
            let u = k.solvec(&br).map_err(solve_fail)?;
            (&rhs - &(g_s.t().dot(&u) / n.sqrt())) / self.lambda
        };
        if z.iter().any(|v| !v.is_finite()) {
            return Err(Error::Numerical("Fisher refit is not finite".into()));
        }
        for (&j, v) in support.iter().zip(z.iter()) {
            x[j] = *v;
        }
        Ok(x)
    }

    fn line_search(
        &self,
        _x: &Array1<f64>,
        g: &Array1<f64>,
        d: &Array1<f64>,
        gamma_max: f64,
    ) -> f64 {
        super::exact_step(g.dot(d), self.quad(d), gamma_max)
    }

    fn curvature(&self, _x: &Array1<f64>, d: &Array1<f64>) -> f64 {
        self.quad(d)
    }

    /// $\|\nabla q(x)\|_\infty \le \beta\,r + \|G^\top G\bar w\|_\infty/n + \lambda\|\bar w\|_\infty$
    /// on $\|x\|_1 \le r$, with $\beta$ the coordinate smoothness (which includes $\lambda$).
    fn gradient_inf_bound(&self, radius: f64) -> f64 {
        let gtgc = self.g().t().dot(&self.g_center) / self.n();
        let inf = |v: &Array1<f64>| v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        self.coordinate_smoothness() * radius + inf(&gtgc) + self.lambda * inf(&self.center)
    }

    fn name(&self) -> &'static str {
        "fisher"
    }
}
