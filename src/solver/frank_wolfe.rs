//! Frank-Wolfe (conditional gradient) with away steps and pairwise steps, over sparse domains.
//!
//! Each iteration calls a linear minimization oracle ([`Lmo`]) $s = \arg\min_{s\in D}\langle
//! \nabla f(x), s\rangle$ and reports the Frank-Wolfe gap $g(x) = \langle x - s, \nabla f(x)
//! \rangle \ge f(x) - f^\star$. On the sparse domains the oracle *is* a selection rule: the
//! $\ell_1$-ball vertex is greedy selection of one coordinate by gradient, the $k$-sparse
//! polytope's vertex is the top-$k$ of the gradient ([`sparse_polytope_vertex`]).
//!
//! | domain | $D$ | vertex for gradient $g$ |
//! |---|---|---|
//! | [`Domain::L1`] | $\{\|x\|_1 \le \tau\}$ | $-\tau\,\mathrm{sign}(g_j)e_j$, $j = \arg\max|g_j|$ |
//! | [`Domain::Simplex`] | $\{x \ge 0, \sum x = 1\}$ | $e_j$, $j = \arg\min g_j$ |
//! | [`Domain::KSparse`] | $\{\|x\|_\infty \le \tau, \|x\|_1 \le k\tau\}$ | $-\tau\,\mathrm{sign}(g)$ on the top-$k$ $|g_j|$ |
//! | [`Domain::KSupport`] | unit ball of the $k$-support norm, scaled by $\tau$ | $-\tau g_K/\|g_K\|_2$, $K$ = top-$k$ |
//!
//! Away-step and pairwise variants keep the iterate as a convex combination of vertices (the
//! active set) and need a polytope: they refuse [`Domain::KSupport`]. They always use line
//! search.
//!
//! ```
//! use lottery::problem::{LeastSquares, PlantedParams};
//! use lottery::solver::frank_wolfe::{Domain, FrankWolfe, FwParams};
//! use lottery::solver::solve_quiet;
//! let inst = PlantedParams { n: 60, d: 120, k: 4, ..Default::default() }.generate().unwrap();
//! let p = LeastSquares::from_f64(inst.a, inst.y).unwrap();
//! let domain = Domain::L1 { radius: 3.0 };
//! let fw = FrankWolfe::new(FwParams { max_iters: 50, ..Default::default() }, domain).unwrap();
//! let sol = solve_quiet(&fw, &p).unwrap();
//! // Projection-free: the iterate stays in the ℓ1 ball, with at most t + 1 atoms, and the
//! // certificate (the FW gap, ≥ f(x) − f*) is reported.
//! assert!(domain.contains(&sol.x, 1e-9));
//! assert!(sol.info.support.len() <= sol.info.iterations + 1);
//! assert!(sol.info.gap.unwrap() >= 0.0);
//! ```
//!
//! # References
//! - M. Jaggi. Revisiting Frank-Wolfe: projection-free sparse convex optimization. ICML 2013.
//! - S. Lacoste-Julien, M. Jaggi. On the global linear convergence of Frank-Wolfe optimization
//!   variants. NeurIPS 2015.
//! - A. Argyriou, R. Foygel, N. Srebro. Sparse prediction with the k-support norm. NeurIPS 2012.
//!
//! # Guarantees
#![doc = include_str!("../../theory/frank_wolfe.md")]
#![doc = include_str!("../../theory/fw_sparsity.md")]
#![doc = include_str!("../../theory/fw_linear.md")]

use ndarray::Array1;
use serde::{Deserialize, Serialize};

use super::step::sparse_polytope_vertex;
use super::{Iterative, Record, Status, StepKind};
use crate::problem::{LeastSquares, SmoothProblem};
use crate::select::{arg_max_abs, Budget, Largest, Rule};
use crate::space::SparseVector;
use crate::{Error, Result};

/// A sparse point of the domain: sorted indices and values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vertex {
    /// Nonzero coordinates, ascending.
    pub idx: Vec<usize>,
    /// Their values.
    pub val: Vec<f64>,
}

impl Vertex {
    /// $\langle g, v\rangle$.
    pub fn dot(&self, g: &Array1<f64>) -> f64 {
        self.idx.iter().zip(&self.val).map(|(&i, v)| g[i] * v).sum()
    }

    /// `x += alpha * v`.
    pub fn add_to(&self, x: &mut Array1<f64>, alpha: f64) {
        for (&i, v) in self.idx.iter().zip(&self.val) {
            x[i] += alpha * v;
        }
    }

    /// Dense vector of length `d`.
    pub fn to_dense(&self, d: usize) -> Array1<f64> {
        let mut x = Array1::zeros(d);
        self.add_to(&mut x, 1.0);
        x
    }

    fn from_dense(x: &Array1<f64>, idx: Vec<usize>) -> Self {
        let val = idx.iter().map(|&i| x[i]).collect();
        Vertex { idx, val }
    }
}

/// A linear minimization oracle over a compact convex domain.
pub trait Lmo {
    /// $\arg\min_{s \in D}\langle g, s\rangle$ (deterministic tie-breaks).
    fn vertex(&self, g: &Array1<f64>) -> Result<Vertex>;

    /// Whether $D$ is a polytope with the returned vertices as its vertex set (needed by away
    /// and pairwise steps).
    fn is_polytope(&self) -> bool;

    /// $\mathrm{diam}_2(D)^2$, which bounds the curvature: $C_f \le L\,\mathrm{diam}_2(D)^2$.
    fn diameter_sq(&self) -> f64;

    /// Check the domain against the dimension.
    fn validate(&self, d: usize) -> Result<()>;
}

/// The sparse domains of this crate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Domain {
    /// $\ell_1$ ball of radius $\tau$.
    L1 {
        /// $\tau > 0$.
        radius: f64,
    },
    /// Probability simplex.
    Simplex,
    /// $k$-sparse polytope $\mathrm{conv}\{x : \|x\|_0 \le k, \|x\|_\infty \le \tau\}$.
    KSparse {
        /// $k \ge 1$.
        k: usize,
        /// $\tau > 0$.
        radius: f64,
    },
    /// $\tau$ times the unit ball of the $k$-support norm, $\mathrm{conv}\{x : \|x\|_0 \le k,
    /// \|x\|_2 \le \tau\}$.
    KSupport {
        /// $k \ge 1$.
        k: usize,
        /// $\tau > 0$.
        radius: f64,
    },
}

impl Domain {
    /// Frank-Wolfe curvature constant of the least-squares objective `p` on this domain: exact
    /// on the $\ell_1$ ball and the simplex ([`LeastSquares::curvature_l1`],
    /// [`LeastSquares::curvature_simplex`]); on the $k$-sparse polytope and the $k$-support ball
    /// the bound $L\,\mathrm{diam}_2(D)^2$ (theory/frank_wolfe.md). Exact values form the
    /// $d\times d$ Gram matrix: moderate $d$ only.
    pub fn curvature(&self, p: &LeastSquares) -> f64 {
        match *self {
            Domain::L1 { radius } => p.curvature_l1(radius),
            Domain::Simplex => p.curvature_simplex(),
            other => p.smoothness() * other.diameter_sq(),
        }
    }

    /// Closed-form FW gap $\max_{s\in D}\langle x - s, g\rangle$.
    pub fn gap(&self, x: &Array1<f64>, g: &Array1<f64>) -> Result<f64> {
        Ok(x.dot(g) - self.vertex(g)?.dot(g))
    }

    /// Whether $x \in D$ up to `tol`.
    pub fn contains(&self, x: &Array1<f64>, tol: f64) -> bool {
        let l1: f64 = x.iter().map(|v| v.abs()).sum();
        match *self {
            Domain::L1 { radius } => l1 <= radius + tol,
            Domain::Simplex => x.iter().all(|&v| v >= -tol) && (x.sum() - 1.0).abs() <= tol,
            Domain::KSparse { k, radius } => {
                x.iter().all(|v| v.abs() <= radius + tol) && l1 <= k as f64 * radius + tol
            }
            Domain::KSupport { k, radius } => {
                // The k-support norm: with |x| sorted decreasingly, find r in 0..k such that
                // |x|_{k-r-1} > T/(r+1) >= |x|_{k-r}, T = sum of the tail from k-r-1.
                let mut a: Vec<f64> = x.iter().map(|v| v.abs()).collect();
                a.sort_by(|p, q| q.total_cmp(p));
                let norm = ksupport_norm(&a, k);
                norm <= radius + tol
            }
        }
    }
}

/// $k$-support norm of a vector given its magnitudes sorted decreasingly
/// (Argyriou–Foygel–Srebro 2012, Proposition 2.1).
fn ksupport_norm(a: &[f64], k: usize) -> f64 {
    let d = a.len();
    let k = k.min(d);
    for r in 0..k {
        let tail: f64 = a[(k - r - 1)..].iter().sum();
        let head = if k - r >= 2 {
            a[k - r - 2]
        } else {
            f64::INFINITY
        };
        let cut = tail / (r as f64 + 1.0);
        if head > cut && cut >= a[k - r - 1] {
            let head_sq: f64 = a[..(k - r - 1)].iter().map(|v| v * v).sum();
            return (head_sq + tail * tail / (r as f64 + 1.0)).sqrt();
        }
    }
    // r = k - 1 always satisfies the condition in exact arithmetic; fall back to it.
    let tail: f64 = a.iter().sum();
    tail / (k as f64).sqrt()
}

impl Lmo for Domain {
    fn vertex(&self, g: &Array1<f64>) -> Result<Vertex> {
        let d = g.len();
        match *self {
            Domain::L1 { radius } => {
                let j = arg_max_abs(g.as_slice().expect("contiguous")).unwrap_or(0);
                let sign = if g[j] > 0.0 { -1.0 } else { 1.0 };
                Ok(Vertex {
                    idx: vec![j],
                    val: vec![sign * radius],
                })
            }
            Domain::Simplex => {
                let j = (0..d)
                    .min_by(|&a, &b| g[a].total_cmp(&g[b]).then(a.cmp(&b)))
                    .unwrap_or(0);
                Ok(Vertex {
                    idx: vec![j],
                    val: vec![1.0],
                })
            }
            Domain::KSparse { k, radius } => {
                let (s, mask) = sparse_polytope_vertex(g, radius, &Largest, &Budget::TopK(k))?;
                Ok(Vertex::from_dense(&s, mask.indices()))
            }
            Domain::KSupport { k, radius } => {
                let mask = Largest.select(&g.to_scores(), &Budget::TopK(k))?;
                let idx = mask.indices();
                let norm = idx.iter().map(|&i| g[i] * g[i]).sum::<f64>().sqrt();
                let val = if norm > 0.0 {
                    idx.iter().map(|&i| -radius * g[i] / norm).collect()
                } else {
                    let mut v = vec![0.0; idx.len()];
                    v[0] = radius;
                    v
                };
                Ok(Vertex { idx, val })
            }
        }
    }

    fn is_polytope(&self) -> bool {
        !matches!(self, Domain::KSupport { .. })
    }

    fn diameter_sq(&self) -> f64 {
        match *self {
            Domain::L1 { radius } => 4.0 * radius * radius,
            Domain::Simplex => 2.0,
            Domain::KSparse { k, radius } => 4.0 * k as f64 * radius * radius,
            Domain::KSupport { radius, .. } => 4.0 * radius * radius,
        }
    }

    fn validate(&self, d: usize) -> Result<()> {
        match *self {
            Domain::L1 { radius } => super::check_positive("radius", radius),
            Domain::Simplex => Ok(()),
            Domain::KSparse { k, radius } | Domain::KSupport { k, radius } => {
                super::check_positive("radius", radius)?;
                super::check_sparsity(k, d)
            }
        }
    }
}

/// Frank-Wolfe variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Variant {
    /// Classic FW.
    Vanilla,
    /// Away-step FW.
    Away,
    /// Pairwise FW.
    Pairwise,
}

/// Step-size rule for vanilla FW.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepRule {
    /// $\gamma_t = 2/(t+2)$, $t = 0, 1, \dots$
    OpenLoop,
    /// Exact line search on $[0, \gamma_{\max}]$ (closed form for quadratics).
    LineSearch,
}

/// Frank-Wolfe parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FwParams {
    /// Variant (default vanilla).
    pub variant: Variant,
    /// Step rule for vanilla (default open loop; away/pairwise always line-search).
    pub step: StepRule,
    /// Iteration cap (default 1000).
    pub max_iters: usize,
    /// Stop when the gap is at most `tol` (default $10^{-10}$).
    pub tol: f64,
}

impl Default for FwParams {
    fn default() -> Self {
        FwParams {
            variant: Variant::Vanilla,
            step: StepRule::OpenLoop,
            max_iters: 1000,
            tol: 1e-10,
        }
    }
}

/// Frank-Wolfe over the domain given by the oracle `L`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FrankWolfe<L = Domain> {
    /// Parameters.
    pub params: FwParams,
    /// The linear minimization oracle.
    pub lmo: L,
}

impl<L: Lmo> FrankWolfe<L> {
    /// Validates the parameters; away and pairwise need a polytope.
    pub fn new(params: FwParams, lmo: L) -> Result<Self> {
        if params.max_iters == 0 {
            return Err(Error::param("max_iters", "must be >= 1"));
        }
        if params.tol.is_nan() || params.tol < 0.0 {
            return Err(Error::param("tol", "must be >= 0"));
        }
        if params.variant != Variant::Vanilla && !lmo.is_polytope() {
            return Err(Error::Unsupported(
                "away-step and pairwise Frank-Wolfe need a polytope; the k-support ball is not one"
                    .into(),
            ));
        }
        Ok(FrankWolfe { params, lmo })
    }
}

/// Frank-Wolfe state: iterate, active set and the certificate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FwState {
    /// Iterate $x_t$.
    pub x: Array1<f64>,
    /// $f(x_t)$.
    pub f: f64,
    /// $\nabla f(x_t)$.
    pub g: Array1<f64>,
    /// FW vertex at $x_t$.
    pub s: Vertex,
    /// FW gap at $x_t$.
    pub gap: f64,
    /// Active set: vertices and convex weights, $x_t = \sum_v \alpha_v v$.
    pub active: Vec<(Vertex, f64)>,
    /// Steps taken.
    pub t: usize,
    /// Kind of the last step.
    pub kind: Option<StepKind>,
}

impl FwState {
    fn refresh<P: SmoothProblem + ?Sized, L: Lmo>(&mut self, p: &P, lmo: &L) -> Result<()> {
        self.active.retain(|(_, a)| *a > 1e-15);
        let mut x = Array1::zeros(self.x.len());
        for (v, a) in &self.active {
            v.add_to(&mut x, *a);
        }
        self.x = x;
        (self.f, self.g) = p.value_and_gradient(&self.x);
        self.s = lmo.vertex(&self.g)?;
        self.gap = self.x.dot(&self.g) - self.s.dot(&self.g);
        Ok(())
    }

    fn add_weight(&mut self, v: &Vertex, w: f64) {
        if let Some(entry) = self.active.iter_mut().find(|(u, _)| u == v) {
            entry.1 += w;
        } else {
            self.active.push((v.clone(), w));
        }
    }
}

impl<P: SmoothProblem + ?Sized, L: Lmo> Iterative<P> for FrankWolfe<L> {
    type State = FwState;

    fn name(&self) -> &'static str {
        match self.params.variant {
            Variant::Vanilla => "fw",
            Variant::Away => "afw",
            Variant::Pairwise => "pfw",
        }
    }

    fn max_iters(&self) -> usize {
        self.params.max_iters
    }

    fn init(&self, p: &P) -> Result<FwState> {
        let d = p.dim();
        self.lmo.validate(d)?;
        let s0 = self.lmo.vertex(&p.gradient(&Array1::zeros(d)))?;
        let mut st = FwState {
            x: Array1::zeros(d),
            f: 0.0,
            g: Array1::zeros(d),
            s: s0.clone(),
            gap: 0.0,
            active: vec![(s0, 1.0)],
            t: 0,
            kind: None,
        };
        st.refresh(p, &self.lmo)?;
        Ok(st)
    }

    fn step(&self, p: &P, st: &mut FwState) -> Result<Status> {
        if st.gap <= self.params.tol {
            return Ok(Status::Converged);
        }
        let s = st.s.clone();
        let mut to_s = s.to_dense(st.x.len());
        to_s -= &st.x;
        let away = match self.params.variant {
            Variant::Vanilla => None,
            _ => st
                .active
                .iter()
                .enumerate()
                .map(|(i, (v, a))| (i, v.dot(&st.g), *a))
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0))),
        };
        match (self.params.variant, away) {
            (Variant::Vanilla, _) | (_, None) => {
                let gamma = match self.params.step {
                    StepRule::OpenLoop if self.params.variant == Variant::Vanilla => {
                        2.0 / (st.t as f64 + 2.0)
                    }
                    _ => p.line_search(&st.x, &st.g, &to_s, 1.0),
                };
                for (_, a) in st.active.iter_mut() {
                    *a *= 1.0 - gamma;
                }
                st.add_weight(&s, gamma);
                st.kind = Some(StepKind::Toward);
            }
            (Variant::Away, Some((vi, v_dot, alpha_v))) => {
                let fw_gain = st.gap;
                let away_gain = v_dot - st.x.dot(&st.g);
                if fw_gain >= away_gain {
                    let gamma = p.line_search(&st.x, &st.g, &to_s, 1.0);
                    for (_, a) in st.active.iter_mut() {
                        *a *= 1.0 - gamma;
                    }
                    st.add_weight(&s, gamma);
                    st.kind = Some(StepKind::Toward);
                } else {
                    let gamma_max = alpha_v / (1.0 - alpha_v);
                    let mut dir = st.x.clone();
                    st.active[vi].0.add_to(&mut dir, -1.0);
                    let gamma = p.line_search(&st.x, &st.g, &dir, gamma_max);
                    for (_, a) in st.active.iter_mut() {
                        *a *= 1.0 + gamma;
                    }
                    st.active[vi].1 -= gamma;
                    if gamma >= gamma_max {
                        st.active[vi].1 = 0.0;
                        st.kind = Some(StepKind::Drop);
                    } else {
                        st.kind = Some(StepKind::Away);
                    }
                }
            }
            (Variant::Pairwise, Some((vi, _, alpha_v))) => {
                let mut dir = s.to_dense(st.x.len());
                st.active[vi].0.add_to(&mut dir, -1.0);
                let gamma = p.line_search(&st.x, &st.g, &dir, alpha_v);
                let v = st.active[vi].0.clone();
                st.active[vi].1 -= gamma;
                if gamma >= alpha_v {
                    st.active[vi].1 = 0.0;
                    st.kind = Some(StepKind::Swap);
                } else {
                    st.kind = Some(StepKind::Pairwise);
                }
                if v != s {
                    st.add_weight(&s, gamma);
                } else {
                    st.active[vi].1 += gamma;
                }
            }
        }
        st.t += 1;
        st.refresh(p, &self.lmo)?;
        Ok(if st.gap <= self.params.tol {
            Status::Converged
        } else {
            Status::Continue
        })
    }

    fn iterate<'s>(&self, st: &'s FwState) -> &'s Array1<f64> {
        &st.x
    }

    fn record(&self, st: &FwState) -> Record {
        Record::of(st.f, &st.x)
            .with_gap(Some(st.gap))
            .with_kind(st.kind)
    }
}
