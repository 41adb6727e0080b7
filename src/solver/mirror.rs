//! Mirror descent on the simplex and the $\ell_1$ ball: entropic (exponentiated gradient) and,
//! for comparison, Euclidean projected gradient.
//!
//! The $\ell_1$ ball of radius $\tau$ is handled by **doubling**: $x = \tau(u^+ - u^-)$ with
//! $(u^+, u^-)$ in the simplex of $\mathbb R^{2d}$, so entropic mirror descent on the $2d$-simplex
//! with gradient $\tau(\nabla f, -\nabla f)$ solves the $\ell_1$-constrained problem.
//!
//! The default step is the one of the theorem, which needs the horizon $T$ (`iters`) and
//! $L_\infty \ge \sup_x \|\nabla f(x)\|_\infty$ (from
//! [`SmoothProblem::gradient_inf_bound`] unless given).
//!
//! ```
//! use lottery::problem::{LeastSquares, PlantedParams};
//! use lottery::solver::mirror::{MirrorDescent, MirrorParams};
//! use lottery::solver::solve_quiet;
//! let inst = PlantedParams { n: 50, d: 20, k: 2, ..Default::default() }.generate().unwrap();
//! let p = LeastSquares::from_f64(inst.a, inst.y).unwrap();
//! let md = MirrorDescent::new(MirrorParams { iters: 200, ..Default::default() }).unwrap();
//! let sol = solve_quiet(&md, &p).unwrap();
//! // The averaged iterate of entropic mirror descent lies on the simplex.
//! assert!(sol.x.iter().all(|&v| v >= 0.0));
//! assert!((sol.x.sum() - 1.0).abs() < 1e-9);
//! ```
//!
//! # References
//! - S. Bubeck. Convex optimization: algorithms and complexity. FnT ML 8(3–4), 2015, Thm. 4.2.
//! - A. Ben-Tal, A. Nemirovski. Lectures on modern convex optimization. SIAM, 2001.
//! - J. Duchi, S. Shalev-Shwartz, Y. Singer, T. Chandra. Efficient projections onto the
//!   $\ell_1$-ball. ICML 2008.
//!
//! # Guarantee
#![doc = include_str!("../../theory/mirror_descent.md")]

use ndarray::Array1;
use serde::{Deserialize, Serialize};

use super::{check_positive, Iterative, Record, Status};
use crate::problem::SmoothProblem;
use crate::{Error, Result};

/// Mirror map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Geometry {
    /// Negative entropy: multiplicative updates.
    Entropic,
    /// Squared Euclidean norm: projected gradient.
    Euclidean,
}

/// Feasible set.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum MdDomain {
    /// Probability simplex.
    Simplex,
    /// $\ell_1$ ball of radius $\tau$.
    L1 {
        /// $\tau > 0$.
        radius: f64,
    },
}

/// Which point to return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Output {
    /// $\bar x_T = \frac1T\sum_{t=1}^T x_t$ (what the theorem bounds).
    Average,
    /// $x_{T+1}$.
    Last,
}

/// Mirror descent parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MirrorParams {
    /// Mirror map (default entropic).
    pub geometry: Geometry,
    /// Domain (default simplex).
    pub domain: MdDomain,
    /// Horizon $T$ (default 1000).
    pub iters: usize,
    /// Step $\eta$; `None` = the theorem's step.
    pub step: Option<f64>,
    /// $L_\infty$; `None` = the problem's bound.
    pub lipschitz: Option<f64>,
    /// Returned point (default average).
    pub output: Output,
}

impl Default for MirrorParams {
    fn default() -> Self {
        MirrorParams {
            geometry: Geometry::Entropic,
            domain: MdDomain::Simplex,
            iters: 1000,
            step: None,
            lipschitz: None,
            output: Output::Average,
        }
    }
}

/// Mirror descent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MirrorDescent {
    /// Parameters.
    pub params: MirrorParams,
}

impl MirrorDescent {
    /// Validates the parameters.
    pub fn new(params: MirrorParams) -> Result<Self> {
        if params.iters == 0 {
            return Err(Error::param("iters", "must be >= 1"));
        }
        if let MdDomain::L1 { radius } = params.domain {
            check_positive("radius", radius)?;
        }
        if let Some(eta) = params.step {
            check_positive("step", eta)?;
        }
        if let Some(l) = params.lipschitz {
            check_positive("lipschitz", l)?;
        }
        Ok(MirrorDescent { params })
    }

    fn radius(&self) -> f64 {
        match self.params.domain {
            MdDomain::Simplex => 1.0,
            MdDomain::L1 { radius } => radius,
        }
    }

    /// Number of simplex coordinates $N$ ($d$, or $2d$ after doubling).
    fn simplex_dim(&self, d: usize) -> usize {
        match self.params.domain {
            MdDomain::Simplex => d,
            MdDomain::L1 { .. } => 2 * d,
        }
    }

    /// $L_\infty$ used by the step and the bound.
    pub fn lipschitz<P: SmoothProblem + ?Sized>(&self, p: &P) -> f64 {
        self.params
            .lipschitz
            .unwrap_or_else(|| p.gradient_inf_bound(self.radius()))
    }

    /// The step actually used.
    pub fn step_size<P: SmoothProblem + ?Sized>(&self, p: &P) -> f64 {
        if let Some(eta) = self.params.step {
            return eta;
        }
        let t = self.params.iters as f64;
        let lip = self.lipschitz(p).max(f64::MIN_POSITIVE);
        match self.params.geometry {
            // eta = sqrt(2 ln N / T) / (tau L_inf) on the (doubled) simplex.
            Geometry::Entropic => {
                let n = self.simplex_dim(p.dim()) as f64;
                (2.0 * n.ln().max(f64::MIN_POSITIVE) / t).sqrt() / (self.radius() * lip)
            }
            // eta = R / (G sqrt T) with R = diam, G = sqrt(d) L_inf >= ||grad||_2.
            Geometry::Euclidean => {
                let (r, g) = self.euclid_constants(p.dim(), lip);
                r / (g * t.sqrt())
            }
        }
    }

    fn euclid_constants(&self, d: usize, lip: f64) -> (f64, f64) {
        let r = match self.params.domain {
            MdDomain::Simplex => 2f64.sqrt(),
            MdDomain::L1 { radius } => 2.0 * radius,
        };
        (r, (d as f64).sqrt() * lip)
    }

    /// The theorem's bound on $f(\bar x_T) - f^\star$ with the default step:
    /// $\tau L_\infty\sqrt{2\ln N/T}$ (entropic) or $R\,G/\sqrt T$ (Euclidean).
    pub fn bound<P: SmoothProblem + ?Sized>(&self, p: &P) -> f64 {
        let t = self.params.iters as f64;
        let lip = self.lipschitz(p);
        match self.params.geometry {
            Geometry::Entropic => {
                let n = self.simplex_dim(p.dim()) as f64;
                self.radius() * lip * (2.0 * n.ln() / t).sqrt()
            }
            Geometry::Euclidean => {
                let (r, g) = self.euclid_constants(p.dim(), lip);
                r * g / t.sqrt()
            }
        }
    }
}

/// Mirror-descent state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MdState {
    /// Current iterate $x_t$.
    pub x: Array1<f64>,
    /// $f(x_t)$.
    pub f: f64,
    g: Array1<f64>,
    /// Log-weights on the (doubled) simplex, entropic only.
    log_w: Array1<f64>,
    sum: Array1<f64>,
    /// Steps taken.
    pub t: usize,
    step: f64,
}

fn softmax(log_w: &Array1<f64>) -> Array1<f64> {
    let m = log_w.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let w = log_w.mapv(|v| (v - m).exp());
    let s = w.sum();
    w / s
}

/// Euclidean projection onto $\{x \ge 0, \sum_i x_i = z\}$ (sort-based, Duchi et al. 2008).
pub fn project_simplex(v: &Array1<f64>, z: f64) -> Array1<f64> {
    let mut u: Vec<f64> = v.to_vec();
    u.sort_by(|a, b| b.total_cmp(a));
    let mut css = 0.0;
    let mut theta = 0.0;
    for (i, &ui) in u.iter().enumerate() {
        css += ui;
        let t = (css - z) / (i as f64 + 1.0);
        if ui - t > 0.0 {
            theta = t;
        }
    }
    v.mapv(|x| (x - theta).max(0.0))
}

/// Euclidean projection onto the $\ell_1$ ball of radius $\tau$.
pub fn project_l1(v: &Array1<f64>, tau: f64) -> Array1<f64> {
    if v.iter().map(|x| x.abs()).sum::<f64>() <= tau {
        return v.clone();
    }
    let w = project_simplex(&v.mapv(f64::abs), tau);
    Array1::from_shape_fn(v.len(), |i| w[i] * v[i].signum())
}

impl MirrorDescent {
    fn point_of(&self, log_w: &Array1<f64>, d: usize) -> Array1<f64> {
        let u = softmax(log_w);
        match self.params.domain {
            MdDomain::Simplex => u,
            MdDomain::L1 { radius } => Array1::from_shape_fn(d, |i| radius * (u[i] - u[d + i])),
        }
    }
}

impl<P: SmoothProblem + ?Sized> Iterative<P> for MirrorDescent {
    type State = MdState;

    fn name(&self) -> &'static str {
        match self.params.geometry {
            Geometry::Entropic => "md",
            Geometry::Euclidean => "pgd",
        }
    }

    fn max_iters(&self) -> usize {
        self.params.iters
    }

    fn init(&self, p: &P) -> Result<MdState> {
        let d = p.dim();
        let n = self.simplex_dim(d);
        let log_w = Array1::zeros(n);
        let x = match self.params.geometry {
            Geometry::Entropic => self.point_of(&log_w, d),
            Geometry::Euclidean => match self.params.domain {
                MdDomain::Simplex => Array1::from_elem(d, 1.0 / d as f64),
                MdDomain::L1 { .. } => Array1::zeros(d),
            },
        };
        let (f, g) = p.value_and_gradient(&x);
        Ok(MdState {
            sum: Array1::zeros(d),
            x,
            f,
            g,
            log_w,
            t: 0,
            step: self.step_size(p),
        })
    }

    fn step(&self, p: &P, s: &mut MdState) -> Result<Status> {
        let d = p.dim();
        s.sum += &s.x;
        match self.params.geometry {
            Geometry::Entropic => {
                match self.params.domain {
                    // The step shared with the network trainer (`lottery prune md`).
                    MdDomain::Simplex => {
                        super::step::entropic_step(&mut s.x, &s.g, &[s.step], &[1.0])
                    }
                    MdDomain::L1 { radius } => {
                        for i in 0..d {
                            s.log_w[i] -= s.step * radius * s.g[i];
                            s.log_w[d + i] += s.step * radius * s.g[i];
                        }
                        s.x = self.point_of(&s.log_w, d);
                    }
                }
            }
            Geometry::Euclidean => {
                let mut z = s.x.clone();
                z.scaled_add(-s.step, &s.g);
                s.x = match self.params.domain {
                    MdDomain::Simplex => project_simplex(&z, 1.0),
                    MdDomain::L1 { radius } => project_l1(&z, radius),
                };
            }
        }
        s.t += 1;
        (s.f, s.g) = p.value_and_gradient(&s.x);
        Ok(Status::Continue)
    }

    fn iterate<'s>(&self, s: &'s MdState) -> &'s Array1<f64> {
        &s.x
    }

    fn record(&self, s: &MdState) -> Record {
        Record::of(s.f, &s.x).with_step(Some(s.step))
    }

    fn output(&self, p: &P, s: &MdState) -> (Array1<f64>, f64) {
        match self.params.output {
            Output::Average if s.t > 0 => {
                let avg = &s.sum / s.t as f64;
                let f = p.value(&avg);
                (avg, f)
            }
            _ => (s.x.clone(), s.f),
        }
    }
}
