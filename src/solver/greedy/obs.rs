//! Optimal Brain Surgeon backward elimination (Hassibi & Stork 1993; Frantar, Singh & Alistarh
//! 2022): the backward member of the greedy family.

use ndarray::{Array1, Array2};
use ndarray_linalg::{Cholesky, UPLO};
use serde::{Deserialize, Serialize};

use crate::linalg::spd_inverse;
use crate::problem::{LeastSquares, SmoothProblem};
use crate::solver::{Iterative, Record, Status};
use crate::space::Objective;
use crate::{check_sparsity, Error, Result};

/// Parameters of [`Obs`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObsParams {
    /// Coordinates kept, $k$.
    pub sparsity: usize,
    /// $\lambda \ge 0$ added to $A^\top A/n$ (needed when it is singular; default 0).
    pub damp: f64,
}

impl ObsParams {
    /// Keep `k` coordinates, no damping.
    pub fn new(sparsity: usize) -> Self {
        ObsParams {
            sparsity,
            damp: 0.0,
        }
    }
}

/// OBS backward elimination on least squares: start at the (damped) least-squares fit
/// $\bar w = H^{-1}A^\top y/n$ with $H = A^\top A/n + \lambda I$, then remove one coordinate per
/// step — the $q$ of least saliency $w_q^2 / [H^{-1}]_{qq}$, which is the exact increase
/// $2\,\Delta q$ of the quadratic when $w_q$ is forced to zero and the other active weights are
/// re-optimized ($w \leftarrow w - \frac{w_q}{[H^{-1}]_{qq}} H^{-1} e_q$) — and downdate $H^{-1}$
/// to the inverse of $H$ on the remaining coordinates with one rank-one update, $O(d^2)$ per
/// step. With $\lambda = 0$ every iterate is the least-squares fit on its support (a refit
/// without refactorizing); stops at $k$ coordinates. See `theory/obs.md`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Obs {
    /// Parameters.
    pub params: ObsParams,
}

impl Obs {
    /// OBS with validated parameters.
    pub fn new(params: ObsParams) -> Result<Self> {
        if params.sparsity == 0 {
            return Err(Error::Budget { k: 0, len: 0 });
        }
        if !params.damp.is_finite() || params.damp < 0.0 {
            return Err(Error::param("damp", "must be finite and >= 0"));
        }
        Ok(Obs { params })
    }
}

/// The elimination state of one row: weights, the inverse Hessian restricted to the active
/// coordinates (zero rows and columns elsewhere), and the active set.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ObsRow {
    /// Current weights (zero off the active set).
    pub w: Array1<f64>,
    hinv: Array2<f64>,
    active: Vec<bool>,
    n_active: usize,
}

impl ObsRow {
    /// Start from weights `w` (every coordinate active) and $H^{-1}$.
    pub fn new(w: Array1<f64>, hinv: Array2<f64>) -> Self {
        let d = w.len();
        ObsRow {
            w,
            hinv,
            active: vec![true; d],
            n_active: d,
        }
    }

    /// Number of active coordinates.
    pub fn n_active(&self) -> usize {
        self.n_active
    }

    /// Whether `q` is still active.
    pub fn is_active(&self, q: usize) -> bool {
        self.active[q]
    }

    /// Saliency $w_q^2/[H^{-1}]_{qq}$ of an active coordinate (twice the loss of removing it).
    pub fn saliency(&self, q: usize) -> f64 {
        self.w[q] * self.w[q] / self.hinv[[q, q]]
    }

    /// The active coordinate of least saliency among those `allowed` (lowest index among
    /// ties), or `None` when there is none.
    pub fn best(&self, allowed: impl Fn(usize) -> bool) -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        for q in 0..self.w.len() {
            if !self.active[q] || !allowed(q) {
                continue;
            }
            let s = self.saliency(q);
            if best.is_none_or(|(_, b)| s < b) {
                best = Some((q, s));
            }
        }
        best.map(|(q, _)| q)
    }

    /// Remove `q`: the optimal update of the other active weights and the rank-one downdate of
    /// $H^{-1}$. Returns the increase of $\frac12(w-\bar w)^\top H(w - \bar w)$,
    /// $w_q^2/(2[H^{-1}]_{qq})$.
    pub fn eliminate(&mut self, q: usize) -> f64 {
        debug_assert!(self.active[q]);
        let hqq = self.hinv[[q, q]];
        let wq = self.w[q];
        let col = self.hinv.column(q).to_owned();
        self.w.scaled_add(-wq / hqq, &col);
        self.w[q] = 0.0;
        // H⁻¹ ← H⁻¹ − H⁻¹e_q e_qᵀH⁻¹ / [H⁻¹]_qq; row and column q become zero.
        let d = col.len();
        for i in 0..d {
            if col[i] == 0.0 {
                continue;
            }
            let f = col[i] / hqq;
            let mut row = self.hinv.row_mut(i);
            row.scaled_add(-f, &col);
        }
        self.hinv.row_mut(q).fill(0.0);
        self.hinv.column_mut(q).fill(0.0);
        self.active[q] = false;
        self.n_active -= 1;
        wq * wq / (2.0 * hqq)
    }
}

/// [`Obs`]'s state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ObsState {
    /// The elimination state.
    pub row: ObsRow,
    /// Eliminated coordinates in order.
    pub order: Vec<usize>,
    /// $f$ at the current iterate.
    pub f: f64,
    /// Predicted increase of the quadratic at the last step.
    pub last_cost: Option<f64>,
}

impl Iterative<LeastSquares> for Obs {
    type State = ObsState;

    fn name(&self) -> &'static str {
        "obs"
    }

    fn max_iters(&self) -> usize {
        usize::MAX
    }

    fn init(&self, p: &LeastSquares) -> Result<ObsState> {
        check_sparsity(self.params.sparsity, p.dim())?;
        let n = p.n_samples() as f64;
        let mut h = p.design().gram() / n;
        for q in 0..p.dim() {
            h[[q, q]] += self.params.damp;
        }
        // Fail early with the reason rather than deep in LAPACK.
        h.cholesky(UPLO::Lower).map_err(|_| {
            Error::Numerical(format!(
                "AᵀA/n + {}·I is singular ({} samples, {} coordinates); set a damping > 0",
                self.params.damp,
                p.n_samples(),
                p.dim()
            ))
        })?;
        let hinv = spd_inverse(&h)?;
        let b = p.design().rmatvec(p.response()) / n;
        let w = hinv.dot(&b);
        let f = p.value(&w);
        Ok(ObsState {
            row: ObsRow::new(w, hinv),
            order: Vec::new(),
            f,
            last_cost: None,
        })
    }

    fn step(&self, p: &LeastSquares, s: &mut ObsState) -> Result<Status> {
        if s.row.n_active() <= self.params.sparsity {
            return Ok(Status::Converged);
        }
        let Some(q) = s.row.best(|_| true) else {
            return Ok(Status::Converged);
        };
        s.last_cost = Some(s.row.eliminate(q));
        s.order.push(q);
        s.f = p.value(&s.row.w);
        Ok(if s.row.n_active() <= self.params.sparsity {
            Status::Converged
        } else {
            Status::Continue
        })
    }

    fn iterate<'s>(&self, s: &'s ObsState) -> &'s Array1<f64> {
        &s.row.w
    }

    fn record(&self, s: &ObsState) -> Record {
        Record::new(s.f, s.row.n_active()).with_gain(s.last_cost.map(|c| -c))
    }
}
