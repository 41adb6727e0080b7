//! Layerwise pruning: every row of a layer is one sparse least-squares problem sharing the
//! quadratic $H$ of [`LayerGram`], solved by the convex layer's own solvers.
//!
//! [`prune_layer`] takes the trained weights $\bar W$ (rows $\times$ inputs), a [`LayerSolver`]
//! and a [`LayerBudget`], and returns the pruned weights with the reconstruction error
//! $\sum_r \frac12(w_r - \bar w_r)^\top H (w_r - \bar w_r)$ relative to
//! $\sum_r \frac12 \bar w_r^\top H \bar w_r$ (the error of removing the layer).
//!
//! | solver | row budget | layer budget | N:M |
//! |---|---|---|---|
//! | `magnitude` | top-$k$ $\lvert\bar w\rvert$ per row, no update | top-$K$ over the layer | top-$N$ per group |
//! | `omp` | **Batch-OMP** in Gram form (Rubinstein, Zibulevsky & Elad 2008): $\alpha^0 = \bar W H$ for all rows in one product, then per row $O(d\lvert S\rvert)$ per atom | per-row counts from the magnitude ranking | — |
//! | `fcfgs`, `iht`, `htp`, `cosamp`, `niht` | the solver on [`LayerGram::problem`] (thresholding methods start at the magnitude support, refit) | per-row counts from the magnitude ranking | — |
//! | `fw` | Frank-Wolfe (line search, 100 steps) over the $k$-sparse polytope $\{\lVert w\rVert_\infty \le \tau, \lVert w\rVert_1 \le k\tau\}$, $\tau$ = the largest entry of the magnitude refit; then the top-$k$ of the relaxed solution, refit | per-row counts from the magnitude ranking | — |
//! | `obs` | [`Obs`](crate::solver::greedy::Obs) elimination to $k$ | OBC's joint rule: every row's elimination costs, the $P$ cheapest over the layer | eliminate only in groups with more than $N$ left |
//! | `sparsegpt` | column sweep, blocks of 128, mask per block by $w^2/U_{qq}^2$ | threshold per block over the layer | mask chosen every $M$ columns |
//!
//! Rows run in parallel (rayon); results do not depend on the thread count.
//!
//! ```
//! use lottery::problem::{Damping, LayerGram};
//! use lottery::solver::layer::{prune_layer, LayerBudget, LayerSolver};
//! use ndarray::array;
//! // Two correlated inputs and a third independent one; one row, keep 1 weight.
//! let x = array![[1.0, 0.9, 0.0], [0.0, 0.1, 1.0], [1.0, 1.0, 0.5], [0.5, 0.4, -1.0]];
//! let gram = LayerGram::from_inputs(x.view(), Damping::Absolute(1e-3)).unwrap();
//! let w = array![[1.0, 1.0, 0.3]];
//! let mag = prune_layer(&gram, w.view(), LayerSolver::Magnitude, LayerBudget::Row(1)).unwrap();
//! let obs = prune_layer(&gram, w.view(), LayerSolver::Obs, LayerBudget::Row(1)).unwrap();
//! // OBS folds the removed correlated weight into the kept one: far less reconstruction error.
//! assert_eq!(obs.kept, 1);
//! assert!(obs.error < 0.5 * mag.error);
//! ```
//!
//! # Guarantees
#![doc = include_str!("../../../theory/layerwise.md")]
//!
//! # References
//! - E. Frantar, S. P. Singh, D. Alistarh. Optimal Brain Compression. NeurIPS 2022.
//! - E. Frantar, D. Alistarh. SparseGPT: massive language models can be accurately pruned in
//!   one-shot. ICML 2023.
//! - R. Rubinstein, M. Zibulevsky, M. Elad. Efficient implementation of the K-SVD algorithm using
//!   batch orthogonal matching pursuit. Technion CS-2008-08.
//! - R. Benbaki, W. Chen, X. Meng, H. Hazimeh, N. Ponomareva, Z. Zhao, R. Mazumder. Fast as
//!   CHITA: neural network pruning with combinatorial optimization. ICML 2023.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::linalg::ProgressiveCholesky;
use crate::problem::{LayerGram, SmoothProblem};
use crate::select::{arg_max_abs, Budget, Largest, Rule, Scores};
use crate::solver::frank_wolfe::{Domain, FrankWolfe, FwParams, StepRule};
use crate::solver::greedy::{Fcfgs, GreedyParams, ObsRow};
use crate::solver::iht::{Cosamp, Htp, Iht, Niht, ThresholdParams};
use crate::solver::solve_quiet;
use crate::{Error, Result};

mod channel;
mod fisher;
mod sparsegpt;

pub use channel::{prune_blocks, prune_channels};
pub use fisher::{prune_fisher, PrunedFisher, FISHER_SOLVERS};
pub use sparsegpt::sparsegpt;

pub use crate::select::budget::LayerBudget;

/// The checks and selections of a resolved layer budget (its counts come from
/// [`crate::select::budget::Target::layer`], the one kept-count rule).
impl LayerBudget {
    pub(crate) fn check(&self, rows: usize, cols: usize) -> Result<()> {
        match *self {
            LayerBudget::Row(k) if k == 0 || k > cols => Err(Error::Budget { k, len: cols }),
            LayerBudget::Layer(k) if k == 0 || k > rows * cols => Err(Error::Budget {
                k,
                len: rows * cols,
            }),
            LayerBudget::NM { n, m } if n == 0 || n > m || !cols.is_multiple_of(m) => {
                Err(Error::param(
                    "budget",
                    format!("{n}:{m} needs 1 <= N <= M and M dividing the {cols} inputs"),
                ))
            }
            LayerBudget::Blocks { .. } | LayerBudget::Channels { .. } => Err(Error::Unsupported(
                format!("{self:?} keeps whole tiles: prune it with prune_blocks or prune_channels"),
            )),
            _ => Ok(()),
        }
    }

    /// Scores grouped for this budget and the matching [`Budget`] of the selection rules: one
    /// group per row (`Row`), one pool (`Layer`), one group per $M$ inputs of a row (`NM`).
    fn selection(&self, scores: ArrayView2<f64>) -> (Scores, Budget) {
        let (rows, cols) = scores.dim();
        match *self {
            LayerBudget::Row(k) => (
                Scores::grouped(scores.rows().into_iter().map(|r| r.to_vec()).collect()),
                Budget::PerGroupK(vec![k; rows]),
            ),
            LayerBudget::Layer(k) => (
                Scores::flat(scores.iter().copied().collect()),
                Budget::TopK(k),
            ),
            LayerBudget::NM { n, m } => {
                let groups: Vec<Vec<f64>> = scores
                    .rows()
                    .into_iter()
                    .flat_map(|r| r.to_vec().chunks(m).map(|c| c.to_vec()).collect::<Vec<_>>())
                    .collect();
                let g = groups.len();
                debug_assert_eq!(g, rows * cols / m);
                (Scores::grouped(groups), Budget::PerGroupK(vec![n; g]))
            }
            LayerBudget::Blocks { .. } | LayerBudget::Channels { .. } => {
                unreachable!("refused by check")
            }
        }
    }

    /// The kept set of a `rows × cols` score matrix (row-major flat indices, through the shared
    /// [`Largest`] rule), as a boolean matrix.
    pub fn keep_largest(&self, scores: ArrayView2<f64>) -> Result<Array2<bool>> {
        let (rows, cols) = scores.dim();
        self.check(rows, cols)?;
        let (sc, budget) = self.selection(scores);
        let mask = Largest.select(&sc, &budget)?;
        let mut keep = Array2::from_elem((rows, cols), false);
        for i in mask.iter() {
            keep[[i / cols, i % cols]] = true;
        }
        Ok(keep)
    }
}

/// The solvers [`prune_layer`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerSolver {
    /// Keep the largest $|\bar w|$; no update.
    Magnitude,
    /// Batch-OMP in Gram form.
    Omp,
    /// Fully corrective forward greedy on the Gram-form problem.
    Fcfgs,
    /// IHT from the magnitude support.
    Iht,
    /// Normalized IHT from the magnitude support.
    Niht,
    /// HTP from the magnitude support.
    Htp,
    /// CoSaMP from the magnitude support.
    Cosamp,
    /// Frank-Wolfe (exact line search) over the $k$-sparse polytope of radius
    /// $\|w_{\text{magnitude refit}}\|_\infty$, then its $k$ largest entries, refit.
    Fw,
    /// OBS backward elimination (OBC for the layer budget).
    Obs,
    /// SparseGPT's column sweep.
    Sparsegpt,
}

impl LayerSolver {
    /// Every solver, in the table's order.
    pub const ALL: [LayerSolver; 10] = [
        LayerSolver::Magnitude,
        LayerSolver::Omp,
        LayerSolver::Fcfgs,
        LayerSolver::Iht,
        LayerSolver::Niht,
        LayerSolver::Htp,
        LayerSolver::Cosamp,
        LayerSolver::Fw,
        LayerSolver::Obs,
        LayerSolver::Sparsegpt,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            LayerSolver::Magnitude => "magnitude",
            LayerSolver::Omp => "omp",
            LayerSolver::Fcfgs => "fcfgs",
            LayerSolver::Iht => "iht",
            LayerSolver::Niht => "niht",
            LayerSolver::Htp => "htp",
            LayerSolver::Cosamp => "cosamp",
            LayerSolver::Fw => "fw",
            LayerSolver::Obs => "obs",
            LayerSolver::Sparsegpt => "sparsegpt",
        }
    }

    /// The solver called `name`, or a one-line error listing them.
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                let all: Vec<&str> = Self::ALL.iter().map(|s| s.name()).collect();
                Error::param(
                    "solver",
                    format!(
                        "unknown layerwise solver {name:?} (one of {})",
                        all.join(", ")
                    ),
                )
            })
    }
}

/// A pruned layer.
#[derive(Clone, Debug)]
pub struct PrunedLayer {
    /// Pruned weights (rows × inputs), zero off the kept set.
    pub weights: Array2<f64>,
    /// $\sum_r q_r(w_r)$, the reconstruction error.
    pub error: f64,
    /// The error relative to $\sum_r \frac12 \bar w_r^\top H \bar w_r$.
    pub relative_error: f64,
    /// Nonzero weights kept.
    pub kept: usize,
}

impl PrunedLayer {
    /// The pruned `weights` of a layer whose centre (dead inputs zeroed) is `center`, with their
    /// reconstruction error, relative error and kept count.
    pub fn of(gram: &LayerGram, weights: Array2<f64>, center: ArrayView2<f64>) -> Self {
        let error = reconstruction_error(gram, weights.view(), center);
        let total = 0.5 * (&center * &center.dot(gram.h())).sum();
        let kept = weights.iter().filter(|v| **v != 0.0).count();
        PrunedLayer {
            relative_error: if total > 0.0 { error / total } else { 0.0 },
            error,
            weights,
            kept,
        }
    }
}

/// $\sum_r \frac12 (w_r - \bar w_r)^\top H (w_r - \bar w_r)$ with dead inputs of $\bar w$ zeroed.
pub fn reconstruction_error(gram: &LayerGram, w: ArrayView2<f64>, center: ArrayView2<f64>) -> f64 {
    let mut e = &w - &center;
    for &q in gram.dead() {
        e.column_mut(q).assign(&w.column(q));
    }
    let he = e.dot(gram.h());
    0.5 * (&e * &he).sum()
}

/// Prune a layer: rows of `center` are the trained rows $\bar w_r$.
pub fn prune_layer(
    gram: &LayerGram,
    center: ArrayView2<f64>,
    solver: LayerSolver,
    budget: LayerBudget,
) -> Result<PrunedLayer> {
    let (rows, d) = center.dim();
    if d != gram.dim() {
        return Err(Error::Shape(format!(
            "the layer has {d} inputs but the Gram matrix is {}x{}",
            gram.dim(),
            gram.dim()
        )));
    }
    budget.check(rows, d)?;
    let c = gram.center_rows(center)?;
    let weights = match (solver, budget) {
        (LayerSolver::Magnitude, b) => {
            let keep = b.keep_largest(c.view())?;
            Array2::from_shape_fn(
                (rows, d),
                |(r, q)| if keep[[r, q]] { c[[r, q]] } else { 0.0 },
            )
        }
        (LayerSolver::Sparsegpt, b) => sparsegpt(gram, &c, b, 128)?,
        (LayerSolver::Obs, LayerBudget::Layer(k)) => obc_layer(gram, &c, k)?,
        (LayerSolver::Obs, LayerBudget::Row(k)) => {
            let hinv = gram.inverse()?;
            by_rows(&c, |w| obs_row(&hinv, w, k, |_: &ObsRow, _| true))?
        }
        (LayerSolver::Obs, LayerBudget::NM { n, m }) => {
            let hinv = gram.inverse()?;
            let k = d / m * n;
            by_rows(&c, |w| {
                obs_row(&hinv, w, k, |row: &ObsRow, q| {
                    let g = q / m;
                    (g * m..(g + 1) * m).filter(|&j| row.is_active(j)).count() > n
                })
            })?
        }
        (_, LayerBudget::NM { .. }) => {
            return Err(Error::Unsupported(format!(
                "the N:M budget for layerwise {} (use magnitude, obs or sparsegpt)",
                solver.name()
            )))
        }
        (s, b) => {
            let counts = row_counts(&c, b)?;
            let alpha0 = c.dot(gram.h());
            // One step for the layer: 1/L with L = λ_max(H) (1% margin for the power iteration's
            // underestimate), the step of theory/iht_descent.md.
            let step = 1.0 / (1.01 * gram.smoothness());
            let rows_out: Vec<Result<Array1<f64>>> = (0..rows)
                .into_par_iter()
                .map(|r| {
                    let k = counts[r];
                    if k == 0 {
                        return Ok(Array1::zeros(d));
                    }
                    if s == LayerSolver::Omp {
                        return Ok(batch_omp_row(gram.h(), alpha0.row(r).to_owned(), k));
                    }
                    let p = gram.problem(c.row(r))?;
                    row_solver(s, &p, c.row(r).to_owned(), k, step)
                })
                .collect();
            stack_rows(rows_out, d)?
        }
    };
    Ok(PrunedLayer::of(gram, weights, c.view()))
}

/// Per-row budgets: $k$ each, or for a layer budget the rows' shares of the layer's largest
/// $K$ magnitudes.
fn row_counts(c: &Array2<f64>, budget: LayerBudget) -> Result<Vec<usize>> {
    match budget {
        LayerBudget::Row(k) => Ok(vec![k; c.nrows()]),
        b => {
            let keep = b.keep_largest(c.view())?;
            Ok(keep
                .rows()
                .into_iter()
                .map(|r| r.iter().filter(|v| **v).count())
                .collect())
        }
    }
}

fn by_rows(
    c: &Array2<f64>,
    f: impl Fn(Array1<f64>) -> Result<Array1<f64>> + Sync,
) -> Result<Array2<f64>> {
    let out: Vec<Result<Array1<f64>>> = (0..c.nrows())
        .into_par_iter()
        .map(|r| f(c.row(r).to_owned()))
        .collect();
    stack_rows(out, c.ncols())
}

fn stack_rows(rows: Vec<Result<Array1<f64>>>, d: usize) -> Result<Array2<f64>> {
    let mut out = Array2::zeros((rows.len(), d));
    for (r, row) in rows.into_iter().enumerate() {
        out.row_mut(r).assign(&row?);
    }
    Ok(out)
}

/// One row through a solver of the convex layer on the Gram-form problem; the thresholding
/// methods start from the magnitude support, refit, with step $1/L$ (so that every step
/// descends, theory/iht_descent.md, and the result is never worse than that start).
pub(super) fn row_solver<P: SmoothProblem>(
    s: LayerSolver,
    p: &P,
    w: Array1<f64>,
    k: usize,
    step: f64,
) -> Result<Array1<f64>> {
    let magnitude_refit = || -> Result<Array1<f64>> {
        let support = crate::select::top_k(w.as_slice().expect("owned"), k);
        p.refit(&support, &Array1::zeros(w.len()))
    };
    // 100 iterations: from the magnitude start the support settles within a few dozen when it
    // settles at all (CoSaMP can cycle on a correlated H; theory/layerwise.md).
    let threshold = |warm: Array1<f64>| ThresholdParams {
        warm: Some(warm),
        step: Some(step),
        max_iters: 100,
        ..ThresholdParams::new(k)
    };
    let x = match s {
        LayerSolver::Fcfgs => solve_quiet(&Fcfgs::new(GreedyParams::new(k))?, p)?.x,
        LayerSolver::Iht => solve_quiet(&Iht::new(threshold(magnitude_refit()?))?, p)?.x,
        LayerSolver::Niht => solve_quiet(&Niht::new(threshold(magnitude_refit()?))?, p)?.x,
        LayerSolver::Htp => solve_quiet(&Htp::new(threshold(magnitude_refit()?))?, p)?.x,
        LayerSolver::Cosamp => solve_quiet(&Cosamp::new(threshold(magnitude_refit()?))?, p)?.x,
        LayerSolver::Fw => {
            // The convex relaxation: its iterate mixes up to t + 1 vertices, each k-sparse, so
            // it is not k-sparse; the k largest entries are kept and refit. The FW gap bounds
            // the relaxation's suboptimality only (theory/layerwise.md, "Not guaranteed").
            let start = magnitude_refit()?;
            let radius = start.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            if radius == 0.0 {
                return Ok(start);
            }
            let fw = FrankWolfe::new(
                FwParams {
                    step: StepRule::LineSearch,
                    max_iters: 100,
                    ..FwParams::default()
                },
                Domain::KSparse { k, radius },
            )?;
            let relaxed = solve_quiet(&fw, p)?.x;
            let support = crate::select::top_k(relaxed.as_slice().expect("owned"), k);
            p.refit(&support, &Array1::zeros(w.len()))?
        }
        other => {
            return Err(Error::Unsupported(format!(
                "{} is not a per-row solver",
                other.name()
            )))
        }
    };
    Ok(x)
}

/// OMP on one row in Gram form: correlations $\alpha = \alpha^0 - H_{:,S} z$ with
/// $\alpha^0 = H\bar w$, the support's Gram factor grown one atom at a time
/// ([`ProgressiveCholesky`]), $z = H_{SS}^{-1}\alpha^0_S$. The same selections as [`super::greedy::Omp`]
/// on the Gram-form problem (whose correlations are $d\,\alpha$), without touching a design.
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

/// OBS on one row down to `k` active weights, eliminating only where `allowed`.
fn obs_row(
    hinv: &Array2<f64>,
    w: Array1<f64>,
    k: usize,
    allowed: impl Fn(&ObsRow, usize) -> bool,
) -> Result<Array1<f64>> {
    let mut row = ObsRow::new(w, hinv.clone());
    while row.n_active() > k {
        let Some(q) = row.best(|q| allowed(&row, q)) else {
            return Err(Error::Numerical(
                "OBS found no coordinate it may remove before meeting the budget".into(),
            ));
        };
        row.eliminate(q);
    }
    Ok(row.w)
}

/// OBC's joint layer budget: each row's full elimination sequence and its costs; the
/// $P = \text{rows}\cdot d - K$ cheapest steps over the layer decide how many each row takes;
/// each row is then the minimizer of its quadratic on the support OBS reached (theory/obs.md
/// (a): every OBS iterate is that minimizer), computed by one solve.
fn obc_layer(gram: &LayerGram, c: &Array2<f64>, k_layer: usize) -> Result<Array2<f64>> {
    let (rows, d) = c.dim();
    let hinv = gram.inverse()?;
    let traces: Vec<(Vec<usize>, Vec<f64>)> = (0..rows)
        .into_par_iter()
        .map(|r| {
            let mut row = ObsRow::new(c.row(r).to_owned(), hinv.clone());
            let mut order = Vec::with_capacity(d);
            let mut costs = Vec::with_capacity(d);
            while let Some(q) = row.best(|_| true) {
                costs.push(row.eliminate(q));
                order.push(q);
            }
            (order, costs)
        })
        .collect();
    let prune = rows * d - k_layer;
    let mut steps: Vec<(f64, usize, usize)> = traces
        .iter()
        .enumerate()
        .flat_map(|(r, (_, costs))| costs.iter().enumerate().map(move |(i, &v)| (v, r, i)))
        .collect();
    steps.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut per_row = vec![0usize; rows];
    for &(_, r, _) in &steps[..prune] {
        per_row[r] += 1;
    }
    let out: Vec<Result<Array1<f64>>> = (0..rows)
        .into_par_iter()
        .map(|r| {
            let removed = &traces[r].0[..per_row[r]];
            let support: Vec<usize> = (0..d).filter(|q| !removed.contains(q)).collect();
            refit_quadratic(gram.h(), c.row(r).to_owned(), &support)
        })
        .collect();
    stack_rows(out, d)
}

/// $\arg\min\{\frac12(w-\bar w)^\top H(w-\bar w) : \mathrm{supp}(w)\subseteq S\}$:
/// $w_S = \bar w_S + H_{SS}^{-1}H_{S,\bar S}\,\bar w_{\bar S}$.
pub fn refit_quadratic(
    h: &Array2<f64>,
    center: Array1<f64>,
    support: &[usize],
) -> Result<Array1<f64>> {
    let d = center.len();
    let mut x = Array1::zeros(d);
    if support.is_empty() {
        return Ok(x);
    }
    let in_s = {
        let mut v = vec![false; d];
        for &q in support {
            v[q] = true;
        }
        v
    };
    let out: Vec<usize> = (0..d).filter(|&q| !in_s[q]).collect();
    let hss = h.select(Axis(0), support).select(Axis(1), support);
    let hso = h.select(Axis(0), support).select(Axis(1), &out);
    let wo = center.select(Axis(0), &out);
    let rhs = hso.dot(&wo);
    let y = {
        use ndarray_linalg::SolveC;
        hss.solvec(&rhs)
            .map_err(|e| Error::Numerical(format!("refit on {} weights: {e}", support.len())))?
    };
    for (t, &q) in support.iter().enumerate() {
        x[q] = center[q] + y[t];
    }
    Ok(x)
}
