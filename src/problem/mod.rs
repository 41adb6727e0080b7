//! Convex objectives with the constants their theorems use, and seeded planted instances.
//!
//! Notation (as in `theory/`): $A \in \mathbb{R}^{n\times d}$ with columns $a_j$, response
//! $y \in \mathbb{R}^n$.
//!
//! | objective | $f(x)$ | $L$ | $\beta$ |
//! |---|---|---|---|
//! | [`LeastSquares`] | $\frac{1}{2n}\|Ax-y\|_2^2$ | $\|A\|_2^2/n$ | $\max_j \|a_j\|^2/n$ |
//! | [`Logistic`] ($y_i = \pm 1$) | $\frac1n\sum_i \log(1+e^{-y_i a^{(i)\top} x})$ | $\|A\|_2^2/(4n)$ | $\max_j\|a_j\|^2/(4n)$ |
//!
//! $L$ is the smoothness constant ($\nabla f$ is $L$-Lipschitz), $\beta$ the coordinate
//! smoothness ($f(x + t e_j) \le f(x) + t\,\partial_j f(x) + \beta t^2/2$) that the greedy bounds
//! use.
//!
//! ```
//! use lottery::problem::{LeastSquares, PlantedParams, SmoothProblem};
//! use lottery::space::Objective;
//! use ndarray::Array1;
//! let inst = PlantedParams { n: 40, d: 60, k: 3, ..Default::default() }.generate().unwrap();
//! let y2 = inst.y.dot(&inst.y);
//! let p = LeastSquares::from_f64(inst.a, inst.y).unwrap();
//! // f(0) = ‖y‖²/(2n), and the coordinate constant never exceeds the full one: β ≤ L.
//! assert!((p.value(&Array1::zeros(60)) - y2 / 80.0).abs() < 1e-12);
//! assert!(p.coordinate_smoothness() <= p.smoothness() * (1.0 + 1e-12));
//! ```

mod design;
pub mod fisher;
mod generate;
pub mod quadratic;

pub use design::Design;
pub use fisher::FisherQuadratic;
pub use generate::{DesignKind, Magnitudes, Planted, PlantedParams, Scaling};
pub use quadratic::{design_form, Damping, LayerGram};

use std::sync::OnceLock;

use ndarray::{Array1, Array2};

use crate::space::Objective;
use crate::{Error, Result};

/// The interface solvers use on the ndarray side: an [`Objective`] on `Array1<f64>` that knows
/// its design, its constants and how to minimize itself on a support.
pub trait SmoothProblem: Objective<Array1<f64>> + Sync {
    /// The design matrix.
    fn design(&self) -> &Design;

    /// Dimension $d$.
    fn dim(&self) -> usize {
        self.design().ncols()
    }

    /// Number of samples $n$.
    fn n_samples(&self) -> usize {
        self.design().nrows()
    }

    /// Smoothness $L$ (cached after the first call).
    fn smoothness(&self) -> f64;

    /// Coordinate smoothness $\beta$.
    fn coordinate_smoothness(&self) -> f64;

    /// $\arg\min\{f(x) : \mathrm{supp}(x) \subseteq S\}$, starting from `warm` where iterative.
    fn refit(&self, support: &[usize], warm: &Array1<f64>) -> Result<Array1<f64>>;

    /// $\arg\min_{\gamma \in [0, \gamma_{\max}]} f(x + \gamma d)$ given $g = \nabla f(x)$: exact for
    /// quadratics ($\gamma^\star = -\langle g, d\rangle / d^\top\nabla^2 f\,d$, which costs one
    /// product $Ad$, sparse when $d$ is), a safeguarded 1-D Newton method otherwise.
    fn line_search(&self, x: &Array1<f64>, g: &Array1<f64>, d: &Array1<f64>, gamma_max: f64)
        -> f64;

    /// $d^\top \nabla^2 f(x)\, d$ (for least squares $\|Ad\|^2/n$, independent of $x$).
    fn curvature(&self, x: &Array1<f64>, d: &Array1<f64>) -> f64;

    /// An upper bound on $\|\nabla f(x)\|_\infty$ over the $\ell_1$ ball of radius `radius`
    /// (the Lipschitz constant $L_\infty$ that mirror descent needs).
    fn gradient_inf_bound(&self, radius: f64) -> f64;

    /// Name for reports.
    fn name(&self) -> &'static str;
}

/// The exact line search of a quadratic along $d$: $\gamma^\star = -\langle g, d\rangle /
/// d^\top\nabla^2 f\,d$ on $[0, \gamma_{\max}]$ from the slope and the curvature (a flat
/// direction: the end the slope points to).
pub(crate) fn exact_step(slope: f64, curv: f64, gamma_max: f64) -> f64 {
    if curv <= 0.0 {
        return if slope < 0.0 { gamma_max } else { 0.0 };
    }
    (-slope / curv).clamp(0.0, gamma_max)
}

/// $f(x) = \frac{1}{2n}\|Ax - y\|_2^2$.
#[derive(Debug)]
pub struct LeastSquares {
    a: Design,
    y: Array1<f64>,
    col_norms_sq: Array1<f64>,
    lipschitz: OnceLock<f64>,
    /// $A^\top A$ when known in advance (shared by the rows of a layer): refits then solve
    /// the normal equations on $S$ by Cholesky instead of a least-squares SVD of $A_S$.
    gram: Option<std::sync::Arc<Array2<f64>>>,
    aty: OnceLock<Array1<f64>>,
}

impl LeastSquares {
    /// Validates shapes and finiteness; stores $A$ column-major ([`Design::column_major`]).
    pub fn new(a: Design, y: Array1<f64>) -> Result<Self> {
        a.validate(y.view())?;
        let a = a.column_major();
        let col_norms_sq = a.column_norms_sq();
        Ok(LeastSquares {
            a,
            y,
            col_norms_sq,
            lipschitz: OnceLock::new(),
            gram: None,
            aty: OnceLock::new(),
        })
    }

    /// From an f64 matrix.
    pub fn from_f64(a: Array2<f64>, y: Array1<f64>) -> Result<Self> {
        Self::new(Design::F64(a), y)
    }

    /// The same problem with its Gram matrix $A^\top A$ given (checked for shape only): refits
    /// become a Cholesky solve of $(A^\top A)_{SS} z = (A^\top y)_S$, $O(|S|^3)$ instead of an SVD
    /// of the $n \times |S|$ matrix $A_S$ (falling back to it when the Cholesky factorization
    /// fails). [`LayerGram::problem`] shares one Gram matrix among a layer's rows.
    pub fn with_gram(mut self, gram: std::sync::Arc<Array2<f64>>) -> Result<Self> {
        if gram.dim() != (self.dim(), self.dim()) {
            return Err(Error::Shape(format!(
                "the Gram matrix is {}x{} but the design has {} columns",
                gram.nrows(),
                gram.ncols(),
                self.dim()
            )));
        }
        self.gram = Some(gram);
        Ok(self)
    }

    /// The response $y$.
    pub fn response(&self) -> &Array1<f64> {
        &self.y
    }

    /// $\|a_j\|^2$ for every column.
    pub fn column_norms_sq(&self) -> &Array1<f64> {
        &self.col_norms_sq
    }

    /// Residual $Ax - y$.
    pub fn residual(&self, x: &Array1<f64>) -> Array1<f64> {
        let mut r = self.apply(x);
        r -= &self.y;
        r
    }

    /// $Ax$, using the sparse product when $x$ has few nonzeros.
    pub fn apply(&self, x: &Array1<f64>) -> Array1<f64> {
        let (idx, vals): (Vec<usize>, Vec<f64>) = x
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != 0.0)
            .map(|(i, v)| (i, *v))
            .unzip();
        if idx.len() * 8 < x.len() {
            self.a.matvec_sparse(&idx, &vals)
        } else {
            self.a.matvec(x)
        }
    }

    /// Value from a residual.
    pub fn value_of_residual(&self, r: &Array1<f64>) -> f64 {
        r.dot(r) / (2.0 * self.n_samples() as f64)
    }

    /// Gradient from a residual: $A^\top r / n$.
    pub fn gradient_of_residual(&self, r: &Array1<f64>) -> Array1<f64> {
        let mut g = self.a.rmatvec(r);
        g /= self.n_samples() as f64;
        g
    }

    /// The same problem with $A$ stored in f32.
    pub fn to_f32(&self) -> LeastSquares {
        LeastSquares {
            a: self.a.to_f32(),
            y: self.y.clone(),
            col_norms_sq: self.col_norms_sq.clone(),
            lipschitz: self.lipschitz.clone(),
            gram: self.gram.clone(),
            aty: self.aty.clone(),
        }
    }

    /// Frank-Wolfe curvature constant $C_f = \sup_{x,s\in D} \|A(s-x)\|^2/n$ of this quadratic on
    /// the $\ell_1$ ball of radius $\tau$: exactly $\tau^2 \max_{i,j}\|a_i \pm a_j\|^2/n$
    /// (the sup of a convex function of $s - x$ is attained at vertex pairs).
    pub fn curvature_l1(&self, tau: f64) -> f64 {
        let g = self.a.gram();
        let d = g.nrows();
        let mut m: f64 = 0.0;
        for i in 0..d {
            for j in i..d {
                m = m.max(g[[i, i]] + g[[j, j]] + 2.0 * g[[i, j]].abs());
            }
        }
        tau * tau * m / self.n_samples() as f64
    }

    /// $C_f$ on the probability simplex: exactly $\max_{i,j}\|a_i - a_j\|^2/n$.
    pub fn curvature_simplex(&self) -> f64 {
        let g = self.a.gram();
        let d = g.nrows();
        let mut m: f64 = 0.0;
        for i in 0..d {
            for j in (i + 1)..d {
                m = m.max(g[[i, i]] + g[[j, j]] - 2.0 * g[[i, j]]);
            }
        }
        m / self.n_samples() as f64
    }
}

impl Objective<Array1<f64>> for LeastSquares {
    fn value(&self, x: &Array1<f64>) -> f64 {
        self.value_of_residual(&self.residual(x))
    }

    fn gradient(&self, x: &Array1<f64>) -> Array1<f64> {
        self.gradient_of_residual(&self.residual(x))
    }

    fn value_and_gradient(&self, x: &Array1<f64>) -> (f64, Array1<f64>) {
        let r = self.residual(x);
        (self.value_of_residual(&r), self.gradient_of_residual(&r))
    }
}

impl SmoothProblem for LeastSquares {
    fn design(&self) -> &Design {
        &self.a
    }

    fn smoothness(&self) -> f64 {
        *self
            .lipschitz
            .get_or_init(|| self.a.spectral_norm_sq() / self.n_samples() as f64)
    }

    fn coordinate_smoothness(&self) -> f64 {
        self.col_norms_sq.iter().cloned().fold(0.0, f64::max) / self.n_samples() as f64
    }

    fn refit(&self, support: &[usize], _warm: &Array1<f64>) -> Result<Array1<f64>> {
        let mut x = Array1::zeros(self.dim());
        if support.is_empty() {
            return Ok(x);
        }
        if let Some(g) = &self.gram {
            use ndarray_linalg::SolveC;
            let aty = self.aty.get_or_init(|| self.a.rmatvec(&self.y));
            let g_ss = Array2::from_shape_fn((support.len(), support.len()), |(i, j)| {
                g[[support[i], support[j]]]
            });
            let rhs = Array1::from_iter(support.iter().map(|&j| aty[j]));
            if let Ok(z) = g_ss.solvec(&rhs) {
                if z.iter().all(|v| v.is_finite()) {
                    for (&j, v) in support.iter().zip(z.iter()) {
                        x[j] = *v;
                    }
                    return Ok(x);
                }
            }
        }
        let a_s = self.a.columns(support);
        let z = crate::linalg::least_squares(&a_s, &self.y)?;
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
        let ad = self.apply(d);
        exact_step(g.dot(d), ad.dot(&ad) / self.n_samples() as f64, gamma_max)
    }

    fn curvature(&self, _x: &Array1<f64>, d: &Array1<f64>) -> f64 {
        let ad = self.apply(d);
        ad.dot(&ad) / self.n_samples() as f64
    }

    fn gradient_inf_bound(&self, radius: f64) -> f64 {
        // |a_j^T (A x - y)| / n <= ||a_j|| (||A x|| + ||y||) / n and ||A x|| <= radius max_i ||a_i||.
        let max_col = self.col_norms_sq.iter().cloned().fold(0.0, f64::max).sqrt();
        max_col * (radius * max_col + self.y.dot(&self.y).sqrt()) / self.n_samples() as f64
    }

    fn name(&self) -> &'static str {
        "least-squares"
    }
}

/// Logistic loss $f(x) = \frac1n\sum_i \log(1 + \exp(-y_i\,a^{(i)\top}x))$ with labels $y_i = \pm1$.
#[derive(Debug)]
pub struct Logistic {
    a: Design,
    y: Array1<f64>,
    col_norms_sq: Array1<f64>,
    lipschitz: OnceLock<f64>,
}

/// $\log(1 + e^{t})$ without overflow.
fn softplus(t: f64) -> f64 {
    if t > 0.0 {
        t + (-t).exp().ln_1p()
    } else {
        t.exp().ln_1p()
    }
}

/// $1/(1+e^{-t})$ without overflow.
fn sigmoid(t: f64) -> f64 {
    if t >= 0.0 {
        1.0 / (1.0 + (-t).exp())
    } else {
        let e = t.exp();
        e / (1.0 + e)
    }
}

impl Logistic {
    /// Validates shapes, finiteness, and that every label is $\pm 1$; stores $A$ column-major.
    pub fn new(a: Design, y: Array1<f64>) -> Result<Self> {
        a.validate(y.view())?;
        let a = a.column_major();
        // Labels are data, not computed values: exactly ±1 is the contract.
        #[allow(clippy::float_cmp)]
        let bad = y.iter().find(|v| **v != 1.0 && **v != -1.0);
        if let Some(v) = bad {
            return Err(Error::param(
                "response",
                format!("logistic labels must be ±1, found {v}"),
            ));
        }
        let col_norms_sq = a.column_norms_sq();
        Ok(Logistic {
            a,
            y,
            col_norms_sq,
            lipschitz: OnceLock::new(),
        })
    }

    /// The margins $m_i = y_i a_i^\top x$; all positive means $x$ separates the labels, and then
    /// the loss has no minimizer on any support containing $x$'s.
    pub fn margins(&self, x: &Array1<f64>) -> Array1<f64> {
        let mut m = self.a.matvec(x);
        m *= &self.y;
        m
    }

    fn value_of_margins(&self, m: &Array1<f64>) -> f64 {
        m.iter().map(|&t| softplus(-t)).sum::<f64>() / self.n_samples() as f64
    }

    fn gradient_of_margins(&self, m: &Array1<f64>) -> Array1<f64> {
        let w = Array1::from_shape_fn(m.len(), |i| -self.y[i] * sigmoid(-m[i]));
        let mut g = self.a.rmatvec(&w);
        g /= self.n_samples() as f64;
        g
    }
}

impl Objective<Array1<f64>> for Logistic {
    fn value(&self, x: &Array1<f64>) -> f64 {
        self.value_of_margins(&self.margins(x))
    }

    fn gradient(&self, x: &Array1<f64>) -> Array1<f64> {
        self.gradient_of_margins(&self.margins(x))
    }

    fn value_and_gradient(&self, x: &Array1<f64>) -> (f64, Array1<f64>) {
        let m = self.margins(x);
        (self.value_of_margins(&m), self.gradient_of_margins(&m))
    }
}

impl SmoothProblem for Logistic {
    fn design(&self) -> &Design {
        &self.a
    }

    fn smoothness(&self) -> f64 {
        *self
            .lipschitz
            .get_or_init(|| self.a.spectral_norm_sq() / (4.0 * self.n_samples() as f64))
    }

    fn coordinate_smoothness(&self) -> f64 {
        self.col_norms_sq.iter().cloned().fold(0.0, f64::max) / (4.0 * self.n_samples() as f64)
    }

    /// Damped Newton on the support (nalgebra Cholesky of the $|S|\times|S|$ Hessian, Armijo
    /// backtracking), at most 100 steps, stopping when $\|\nabla_S f\|_\infty \le 10^{-10}$.
    /// On separable data the minimum is at infinity: the refit then returns its last iterate.
    fn refit(&self, support: &[usize], warm: &Array1<f64>) -> Result<Array1<f64>> {
        let n = self.n_samples() as f64;
        let k = support.len();
        let mut x = Array1::zeros(self.dim());
        for &j in support {
            x[j] = warm[j];
        }
        if k == 0 {
            return Ok(x);
        }
        let a_s = self.a.columns(support);
        for _ in 0..100 {
            let m = self.margins(&x);
            let f0 = self.value_of_margins(&m);
            let w = Array1::from_shape_fn(m.len(), |i| -self.y[i] * sigmoid(-m[i]));
            let g = a_s.t().dot(&w) / n;
            if g.iter().all(|v| v.abs() <= 1e-10) {
                break;
            }
            let h_diag = m.mapv(|t| {
                let s = sigmoid(t);
                s * (1.0 - s)
            });
            let mut weighted = a_s.clone();
            for (mut row, h) in weighted.rows_mut().into_iter().zip(h_diag.iter()) {
                row *= *h;
            }
            let h = a_s.t().dot(&weighted) / n;
            let hm = nalgebra::DMatrix::from_fn(k, k, |i, j| {
                h[[i, j]] + if i == j { 1e-12 } else { 0.0 }
            });
            let gv = nalgebra::DVector::from_fn(k, |i, _| g[i]);
            let step = match hm.cholesky() {
                Some(c) => c.solve(&gv),
                None => gv.clone(),
            };
            let slope: f64 = -gv.dot(&step);
            let mut t = 1.0;
            let mut accepted = false;
            for _ in 0..50 {
                let mut trial = x.clone();
                for (c, &j) in support.iter().enumerate() {
                    trial[j] -= t * step[c];
                }
                if self.value(&trial) <= f0 + 1e-4 * t * slope {
                    x = trial;
                    accepted = true;
                    break;
                }
                t *= 0.5;
            }
            if !accepted {
                break;
            }
        }
        Ok(x)
    }

    fn line_search(
        &self,
        x: &Array1<f64>,
        _g: &Array1<f64>,
        d: &Array1<f64>,
        gamma_max: f64,
    ) -> f64 {
        let n = self.n_samples() as f64;
        let mut m0 = self.a.matvec(x);
        m0 *= &self.y;
        let mut md = self.a.matvec(d);
        md *= &self.y;
        // phi(t) = mean softplus(-(m0 + t md)); convex in t.
        let dphi = |t: f64| -> (f64, f64) {
            let mut d1 = 0.0;
            let mut d2 = 0.0;
            for (a, b) in m0.iter().zip(md.iter()) {
                let s = sigmoid(-(a + t * b));
                d1 -= b * s;
                d2 += b * b * s * (1.0 - s);
            }
            (d1 / n, d2 / n)
        };
        let (mut lo, mut hi) = (0.0, gamma_max);
        if dphi(0.0).0 >= 0.0 {
            return 0.0;
        }
        if dphi(gamma_max).0 <= 0.0 {
            return gamma_max;
        }
        let mut t = 0.5 * gamma_max;
        for _ in 0..60 {
            let (d1, d2) = dphi(t);
            if d1 > 0.0 {
                hi = t;
            } else {
                lo = t;
            }
            let newton = if d2 > 0.0 { t - d1 / d2 } else { f64::NAN };
            t = if newton.is_finite() && newton > lo && newton < hi {
                newton
            } else {
                0.5 * (lo + hi)
            };
            if hi - lo < 1e-14 * gamma_max.max(1.0) || d1.abs() < 1e-15 {
                break;
            }
        }
        t
    }

    fn curvature(&self, x: &Array1<f64>, d: &Array1<f64>) -> f64 {
        let m = self.margins(x);
        let ad = self.a.matvec(d);
        m.iter()
            .zip(ad.iter())
            .map(|(&t, &v)| {
                let s = sigmoid(t);
                s * (1.0 - s) * v * v
            })
            .sum::<f64>()
            / self.n_samples() as f64
    }

    fn gradient_inf_bound(&self, _radius: f64) -> f64 {
        // |d_j f| <= (1/n) sum_i |a_ij| <= ||a_j||_2 / sqrt(n).
        self.col_norms_sq.iter().cloned().fold(0.0, f64::max).sqrt()
            / (self.n_samples() as f64).sqrt()
    }

    fn name(&self) -> &'static str {
        "logistic"
    }
}
