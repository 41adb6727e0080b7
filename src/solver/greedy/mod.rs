//! Forward greedy selection (Shalev-Shwartz–Srebro–Zhang 2010 family), OMP and FoBa.
//!
//! Each method grows a support with the greedy rule "largest $|\nabla_j f|$", which is
//! [`crate::select::arg_max_abs`] — the selection rule of [`crate::select`] under a
//! budget of one coordinate.
//!
//! | solver | after selecting $j$ |
//! |---|---|
//! | [`Omp`] | least squares only; refit on $S$ with a progressive Cholesky factor |
//! | [`Fcfgs`] | refit $f$ on $S$ (any smooth loss: Newton for logistic) |
//! | [`ForwardGreedy`] | one exact line-search step on coordinate $j$ only |
//! | [`Fwr`] | FCFGS to $k$ atoms, then replacement steps (add the best, drop the smallest) |
//! | [`Foba`] | forward step, then backward removals while they cost at most $\nu$ of the forward gain |
//! | [`Obs`] | backward: start from the least-squares fit, remove the least salient $w_q^2/[H^{-1}]_{qq}$, update the rest optimally |
//!
//! ```
//! use lottery::problem::{LeastSquares, PlantedParams};
//! use lottery::solver::greedy::{Fcfgs, GreedyParams};
//! use lottery::solver::solve_traced;
//! let inst = PlantedParams { n: 64, d: 200, k: 4, ..Default::default() }.generate().unwrap();
//! let p = LeastSquares::from_f64(inst.a, inst.y).unwrap();
//! let (sol, trace) = solve_traced(&Fcfgs::new(GreedyParams::new(4)).unwrap(), &p).unwrap();
//! // Noiseless planted instance: FCFGS selects the planted support, and every step decreases f.
//! assert_eq!(sol.info.support, inst.support);
//! assert!(trace.windows(2).all(|w| w[1].objective <= w[0].objective));
//! ```
//!
//! # References
//! - S. Shalev-Shwartz, N. Srebro, T. Zhang. Trading accuracy for sparsity in optimization problems
//!   with sparsity constraints. SIAM J. Optim. 20(6), 2010.
//! - J. A. Tropp. Greed is good: algorithmic results for sparse approximation. IEEE TIT 50(10), 2004.
//! - B. Hassibi, D. G. Stork. Second order derivatives for network pruning: Optimal Brain
//!   Surgeon. NeurIPS 1992; E. Frantar, S. P. Singh, D. Alistarh. Optimal Brain Compression.
//!   NeurIPS 2022.
//! - T. Zhang. Adaptive forward-backward greedy algorithm for learning sparse representations.
//!   IEEE TIT 57(7), 2011.
//!
//! # Guarantees
#![doc = include_str!("../../../theory/omp.md")]
#![doc = include_str!("../../../theory/fcfgs_rate.md")]
#![doc = include_str!("../../../theory/fcfgs_rsc.md")]
#![doc = include_str!("../../../theory/foba.md")]
#![doc = include_str!("../../../theory/obs.md")]

use ndarray::Array1;
use serde::{Deserialize, Serialize};

mod obs;
mod omp;

pub use crate::linalg::spd_inverse;
pub use obs::{Obs, ObsParams, ObsRow, ObsState};
pub use omp::{Omp, OmpState};

use super::step::grow_scores;
use super::{check_sparsity, Iterative, Record, Status};
use crate::problem::SmoothProblem;
use crate::select::{arg_max_abs, Budget, Mask, Scores};
use crate::{Error, Result};

/// Parameters of the greedy methods.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GreedyParams {
    /// Target number of atoms $k$ (the support never exceeds it).
    pub sparsity: usize,
    /// Stop early when the largest gradient entry (or FoBa's forward gain) is at most `tol`
    /// (default $10^{-12}$).
    pub tol: f64,
    /// Iteration cap for methods that may take more than $k$ steps (forward, FWR, FoBa);
    /// default $4k + 20$.
    pub max_iters: usize,
}

impl GreedyParams {
    /// Defaults for `k` atoms.
    pub fn new(sparsity: usize) -> Self {
        GreedyParams {
            sparsity,
            tol: 1e-12,
            max_iters: 4 * sparsity + 20,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.sparsity == 0 {
            return Err(Error::Budget { k: 0, len: 0 });
        }
        if self.tol.is_nan() || self.tol < 0.0 {
            return Err(Error::param("tol", "must be >= 0"));
        }
        if self.max_iters == 0 {
            return Err(Error::param("max_iters", "must be >= 1"));
        }
        Ok(())
    }
}

/// Index of the largest $|g_j|$ outside `support` (lowest index among ties): one step of
/// [`super::step::grow`], the selection the network trainer `lottery prune greedy` takes in
/// batches.
fn best_outside(g: &Array1<f64>, support: &[usize]) -> Option<usize> {
    let current = Mask::from_indices(g.len(), support).ok()?;
    if support.len() >= g.len() {
        return None;
    }
    let grown = grow_scores(
        &Scores::flat(g.to_vec()),
        &current,
        &Budget::TopK(support.len() + 1),
    )
    .ok()?;
    let added = grown.iter().find(|&j| !current.contains(j));
    added.filter(|&j| g[j] != 0.0)
}

fn nnz(x: &Array1<f64>) -> usize {
    x.iter().filter(|v| **v != 0.0).count()
}

/// State of the generic greedy methods.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GreedyState {
    /// Current iterate.
    pub x: Array1<f64>,
    /// $f(x)$.
    pub f: f64,
    /// $\nabla f(x)$.
    pub g: Array1<f64>,
    /// Current support, sorted.
    pub support: Vec<usize>,
    /// Forward gain of the last step (FoBa) or decrease of the last step.
    pub gain: f64,
}

impl GreedyState {
    fn start<P: SmoothProblem + ?Sized>(p: &P, k: usize) -> Result<Self> {
        check_sparsity(k, p.dim())?;
        let x = Array1::zeros(p.dim());
        let (f, g) = p.value_and_gradient(&x);
        Ok(GreedyState {
            x,
            f,
            g,
            support: Vec::new(),
            gain: 0.0,
        })
    }

    fn set<P: SmoothProblem + ?Sized>(&mut self, p: &P, x: Array1<f64>, support: Vec<usize>) {
        let (f, g) = p.value_and_gradient(&x);
        self.gain = self.f - f;
        self.x = x;
        self.f = f;
        self.g = g;
        self.support = support;
    }

    fn record(&self) -> Record {
        Record::new(self.f, nnz(&self.x)).with_gain(Some(self.gain))
    }
}

fn with(support: &[usize], j: usize) -> Vec<usize> {
    let mut s = support.to_vec();
    s.push(j);
    s.sort_unstable();
    s
}

/// A forward step: the added coordinate, the grown support and the refit iterate.
type Grown = (usize, Vec<usize>, Array1<f64>);

/// The forward step FCFGS and FWR share: the best coordinate $j$ outside the support, the grown
/// support $S \cup \{j\}$ and the refit on it; `None` when no coordinate is left or
/// $|\nabla_j f| \le$ `tol` (converged).
fn grow_and_refit<P: SmoothProblem + ?Sized>(
    p: &P,
    s: &GreedyState,
    tol: f64,
) -> Result<Option<Grown>> {
    let Some(j) = best_outside(&s.g, &s.support) else {
        return Ok(None);
    };
    if s.g[j].abs() <= tol {
        return Ok(None);
    }
    let grown = with(&s.support, j);
    let x = p.refit(&grown, &s.x)?;
    Ok(Some((j, grown, x)))
}

fn without(support: &[usize], i: usize) -> Vec<usize> {
    support.iter().copied().filter(|&j| j != i).collect()
}

macro_rules! greedy_common {
    ($name:literal, $iters:expr) => {
        fn name(&self) -> &'static str {
            $name
        }
        fn max_iters(&self) -> usize {
            $iters(self)
        }
        fn init(&self, p: &P) -> Result<GreedyState> {
            GreedyState::start(p, self.params.sparsity)
        }
        fn iterate<'s>(&self, s: &'s GreedyState) -> &'s Array1<f64> {
            &s.x
        }
        fn record(&self, s: &GreedyState) -> Record {
            s.record()
        }
    };
}

/// Fully corrective forward greedy selection (SSZ 2010): add $j = \arg\max_{j\notin S}
/// |\nabla_j f(x)|$, then $x = \arg\min_{\mathrm{supp}(z) \subseteq S} f(z)$. For least squares it
/// selects like OMP; for logistic loss the refit is a damped Newton method.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fcfgs {
    /// Parameters.
    pub params: GreedyParams,
}

impl Fcfgs {
    /// FCFGS with validated parameters.
    pub fn new(params: GreedyParams) -> Result<Self> {
        params.validate()?;
        Ok(Fcfgs { params })
    }
}

impl<P: SmoothProblem + ?Sized> Iterative<P> for Fcfgs {
    type State = GreedyState;
    greedy_common!("fcfgs", |s: &Self| s.params.sparsity);

    fn step(&self, p: &P, s: &mut GreedyState) -> Result<Status> {
        s.gain = 0.0;
        let Some((_, support, x)) = grow_and_refit(p, s, self.params.tol)? else {
            return Ok(Status::Converged);
        };
        s.set(p, x, support);
        Ok(if s.support.len() >= self.params.sparsity {
            Status::Converged
        } else {
            Status::Continue
        })
    }
}

/// Forward greedy selection with a single-coordinate step (SSZ 2010): select
/// $j = \arg\max_j |\nabla_j f(x)|$ (among the support once it holds $k$ atoms) and minimize $f$
/// along $e_j$ only. Each step lowers $f$ by at least $(\nabla_j f)^2 / (2\beta)$.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ForwardGreedy {
    /// Parameters.
    pub params: GreedyParams,
}

impl ForwardGreedy {
    /// Forward greedy with validated parameters.
    pub fn new(params: GreedyParams) -> Result<Self> {
        params.validate()?;
        Ok(ForwardGreedy { params })
    }
}

impl<P: SmoothProblem + ?Sized> Iterative<P> for ForwardGreedy {
    type State = GreedyState;
    greedy_common!("forward", |s: &Self| s.params.max_iters);

    fn step(&self, p: &P, s: &mut GreedyState) -> Result<Status> {
        s.gain = 0.0;
        let j = if s.support.len() < self.params.sparsity {
            arg_max_abs(s.g.as_slice().expect("contiguous"))
        } else {
            let vals: Vec<f64> = s.support.iter().map(|&i| s.g[i]).collect();
            arg_max_abs(&vals).map(|c| s.support[c])
        };
        let Some(j) = j else {
            return Ok(Status::Converged);
        };
        if s.g[j].abs() <= self.params.tol {
            return Ok(Status::Converged);
        }
        let mut dir = Array1::zeros(p.dim());
        dir[j] = -s.g[j];
        let beta = p.coordinate_smoothness().max(f64::MIN_POSITIVE);
        let gamma = p.line_search(&s.x, &s.g, &dir, 100.0 / beta);
        let mut x = s.x.clone();
        x[j] += gamma * dir[j];
        let support = if s.support.contains(&j) {
            s.support.clone()
        } else {
            with(&s.support, j)
        };
        s.set(p, x, support);
        Ok(Status::Continue)
    }
}

/// Fully corrective forward greedy selection with replacement (SSZ 2010): grow to $k$ atoms as
/// [`Fcfgs`], then repeat: add the best coordinate outside the support, refit, drop the
/// coordinate with the smallest $|x_i|$, refit — accepted only if $f$ decreases; stop when it
/// does not.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fwr {
    /// Parameters.
    pub params: GreedyParams,
}

impl Fwr {
    /// FWR with validated parameters.
    pub fn new(params: GreedyParams) -> Result<Self> {
        params.validate()?;
        Ok(Fwr { params })
    }
}

impl<P: SmoothProblem + ?Sized> Iterative<P> for Fwr {
    type State = GreedyState;
    greedy_common!("fwr", |s: &Self| s.params.max_iters);

    fn step(&self, p: &P, s: &mut GreedyState) -> Result<Status> {
        s.gain = 0.0;
        let Some((j, grown, x_grown)) = grow_and_refit(p, s, self.params.tol)? else {
            return Ok(Status::Converged);
        };
        if grown.len() <= self.params.sparsity {
            s.set(p, x_grown, grown);
            return Ok(Status::Continue);
        }
        let vals: Vec<f64> = grown.iter().map(|&i| x_grown[i]).collect();
        let smallest = (0..vals.len())
            .min_by(|&a, &b| vals[a].abs().total_cmp(&vals[b].abs()).then(a.cmp(&b)))
            .expect("non-empty support");
        let dropped = grown[smallest];
        if dropped == j {
            return Ok(Status::Converged);
        }
        let swapped = without(&grown, dropped);
        let x_new = p.refit(&swapped, &x_grown)?;
        let f_new = p.value(&x_new);
        if f_new < s.f - self.params.tol * s.f.abs().max(1.0) {
            s.set(p, x_new, swapped);
            Ok(Status::Continue)
        } else {
            Ok(Status::Converged)
        }
    }
}

/// Forward-backward greedy (FoBa, after Zhang 2011). A cycle: forward step as [`Fcfgs`] with gain
/// $\delta = f(x) - f(x_{\mathrm{fwd}})$; then remove, one at a time, the coordinate whose
/// deletion hurts least, refitting, as long as the total increase over $f(x_{\mathrm{fwd}})$
/// stays at most $\nu\delta$ (default $\nu = 1/2$). So every cycle lowers $f$ by at least
/// $(1-\nu)\delta$. Stops when $\delta \le$ `tol` or when a cycle ends with $k$ atoms.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Foba {
    /// Parameters.
    pub params: GreedyParams,
    /// Backward budget $\nu \in (0, 1)$ (default 0.5).
    pub nu: f64,
}

impl Foba {
    /// FoBa with $\nu = 1/2$.
    pub fn new(params: GreedyParams) -> Result<Self> {
        params.validate()?;
        Ok(Foba { params, nu: 0.5 })
    }
}

impl<P: SmoothProblem + ?Sized> Iterative<P> for Foba {
    type State = GreedyState;
    greedy_common!("foba", |s: &Self| s.params.max_iters);

    fn step(&self, p: &P, s: &mut GreedyState) -> Result<Status> {
        s.gain = 0.0;
        let f_start = s.f;
        let Some(j) = best_outside(&s.g, &s.support) else {
            return Ok(Status::Converged);
        };
        let mut support = with(&s.support, j);
        let mut x = p.refit(&support, &s.x)?;
        let f_fwd = p.value(&x);
        let delta = f_start - f_fwd;
        if delta <= self.params.tol {
            return Ok(Status::Converged);
        }
        while support.len() > 1 {
            // Cheapest deletion without refit, then refit and check the budget.
            let costs: Vec<f64> = support
                .iter()
                .map(|&i| {
                    let mut z = x.clone();
                    z[i] = 0.0;
                    p.value(&z)
                })
                .collect();
            let c = (0..costs.len())
                .min_by(|&a, &b| costs[a].total_cmp(&costs[b]).then(a.cmp(&b)))
                .expect("non-empty");
            let reduced = without(&support, support[c]);
            let x_red = p.refit(&reduced, &x)?;
            if p.value(&x_red) - f_fwd <= self.nu * delta {
                support = reduced;
                x = x_red;
            } else {
                break;
            }
        }
        s.set(p, x, support);
        s.gain = delta;
        Ok(if s.support.len() >= self.params.sparsity {
            Status::Converged
        } else {
            Status::Continue
        })
    }
}
