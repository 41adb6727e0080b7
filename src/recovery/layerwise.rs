//! Layerwise recovery as compressed sensing: a planted unit's incoming weights $w$ (bias $b$)
//! from its inputs $X$ ($n\times d$) and what the unit emits on them. Three signals, each
//! turned into a sparse least-squares problem that the convex layer's solvers run on
//! unchanged (theory/recovery.md says what each one guarantees):
//!
//! - [`Signal::PreActivation`]: $y = Xw + b$ — exact linear measurements (the RIP/coherence
//!   setting of theory/omp.md, theory/iht_rip_recovery.md, theory/htp_rip_recovery.md).
//! - [`Signal::PostRelu`]: $y = \max(Xw + b, 0)$, all rows — a single-index model: for
//!   Gaussian $X$, least squares on $(X, y)$ aims at $\mu w$ with $\mu = \Phi(b/\|w\|)$
//!   (Stein's identity; Plan & Vershynin 2016), so the support is the target.
//! - [`Signal::ActiveRows`]: $y = \max(Xw + b, 0)$, only the rows with $y_i > 0$, where the
//!   equations $x_i^\top w + b = y_i$ are exact again (Net-Trim's observation).
//!
//! Every problem is centred (the rows used of $X$ and $y$ have their means removed), which
//! removes $b$ exactly from linear equations; the design is not rescaled.

use ndarray::{Array1, Array2, Axis};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

use crate::problem::LeastSquares;
use crate::{Error, Result};

/// What the unit's output is observed as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Signal {
    /// $y = Xw + b$.
    PreActivation,
    /// $y = \mathrm{ReLU}(Xw + b)$, every row.
    PostRelu,
    /// $y = \mathrm{ReLU}(Xw + b)$, only rows with $y_i > 0$.
    ActiveRows,
}

impl Signal {
    /// All three, in the order of the figures.
    pub const ALL: [Signal; 3] = [Signal::PreActivation, Signal::PostRelu, Signal::ActiveRows];

    /// Short name (`pre`, `post`, `active`).
    pub fn name(self) -> &'static str {
        match self {
            Signal::PreActivation => "pre",
            Signal::PostRelu => "post",
            Signal::ActiveRows => "active",
        }
    }
}

/// A unit's recovery problem.
#[derive(Debug)]
pub struct UnitProblem {
    /// Centred least squares on the rows used.
    pub problem: LeastSquares,
    /// What its exact minimizer should be a multiple of $w$ by: 1 for linear equations,
    /// $\Phi(b/\|w\|)$ (in expectation, Gaussian inputs) for [`Signal::PostRelu`].
    pub scale: f64,
    /// Rows used.
    pub rows: usize,
}

/// $\mu = \mathbb E[\mathrm{ReLU}'(g\|w\| + b)] = \Phi(b/\|w\|)$: the multiple of $w$ that
/// $\mathbb E[x\,\mathrm{ReLU}(x^\top w + b)]$ equals for $x \sim \mathcal N(0, I)$ (Stein's
/// identity $\mathbb E[x f(x^\top w)] = \mathbb E[f'(x^\top w)]\,w$).
pub fn relu_stein_scale(w_norm: f64, b: f64) -> f64 {
    if w_norm == 0.0 {
        return 0.0;
    }
    Normal::new(0.0, 1.0)
        .expect("standard normal")
        .cdf(b / w_norm)
}

/// The recovery problem of a unit with weights `w` and bias `b` on inputs `x` (n × d), with
/// Gaussian noise of standard deviation `noise` added to the pre-activation (drawn from
/// `noise_draws`, one per row, which the caller seeds; pass zeros for none).
pub fn unit_problem(
    x: &Array2<f64>,
    w: &Array1<f64>,
    b: f64,
    signal: Signal,
    noise: &Array1<f64>,
) -> Result<UnitProblem> {
    if x.ncols() != w.len() || noise.len() != x.nrows() {
        return Err(Error::Shape(format!(
            "inputs {:?}, weights {}, noise {}",
            x.dim(),
            w.len(),
            noise.len()
        )));
    }
    crate::ensure_finite(x.iter().chain(w).chain(noise), "unit recovery input")?;
    let pre = x.dot(w) + b + noise;
    // What the unit emits: only the ReLU's output is observed for the two post-ReLU signals.
    let post = pre.mapv(|v| v.max(0.0));
    let (rows, y): (Vec<usize>, Array1<f64>) = match signal {
        Signal::PreActivation => ((0..x.nrows()).collect(), pre),
        Signal::PostRelu => ((0..x.nrows()).collect(), post),
        Signal::ActiveRows => {
            let rows: Vec<usize> = (0..x.nrows()).filter(|&i| post[i] > 0.0).collect();
            let y = rows.iter().map(|&i| post[i]).collect();
            (rows, y)
        }
    };
    if rows.len() < 2 {
        return Err(Error::Shape(format!(
            "{} of {} rows are active: nothing to recover from",
            rows.len(),
            x.nrows()
        )));
    }
    let mut a = x.select(Axis(0), &rows);
    let mean = a.mean_axis(Axis(0)).expect("rows");
    a -= &mean;
    let y = &y - y.mean().expect("rows");
    let scale = match signal {
        Signal::PostRelu => relu_stein_scale(w.dot(w).sqrt(), b),
        _ => 1.0,
    };
    Ok(UnitProblem {
        problem: LeastSquares::from_f64(a, y)?,
        scale,
        rows: rows.len(),
    })
}

/// The $k$ coordinates of largest magnitude, ascending (ties to the lower index).
pub fn top_k_support(x: &Array1<f64>, k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&i, &j| x[j].abs().total_cmp(&x[i].abs()).then(i.cmp(&j)));
    let mut s: Vec<usize> = idx.into_iter().take(k).collect();
    s.sort_unstable();
    s
}
