//! Sparse solvers: hard thresholding, greedy selection, Frank-Wolfe, mirror descent.
//!
//! Every solver implements [`Iterative`]: a `Params` value (validated on construction), a
//! serializable state, one `step`, and a [`Record`] carrying the certificate its theorem bounds.
//! One driver, [`solve`], runs any of them with an observer; [`argmin_bridge::ArgminSolver`] runs
//! the same `step` under argmin's `Executor` (observers, `max_iters`, checkpointing).
//!
//! | solver | module | guarantee (theory/) |
//! |---|---|---|
//! | IHT, NIHT, HTP, CoSaMP | [`iht`] | `thresholding.md`, `iht_descent.md`, `iht_rip_recovery.md`, `iht_rsc.md` |
//! | OMP, FCFGS, forward, FWR, FoBa | [`greedy`] | `omp.md`, `fcfgs_rate.md`, `fcfgs_rsc.md`, `foba.md` |
//! | OBS backward elimination | [`greedy`] | `obs.md` |
//! | layerwise pruning (rows of a layer sharing $H$: Batch-OMP, OBS/OBC, SparseGPT, any solver above) | [`layer`] | `layerwise.md` |
//! | Maurey sparsification | [`maurey`] | `maurey.md` |
//! | Frank-Wolfe, away-step, pairwise | [`frank_wolfe`] | `frank_wolfe.md`, `fw_sparsity.md`, `fw_linear.md` |
//! | mirror descent | [`mirror`] | `mirror_descent.md` |
//!
//! The steps these solvers share with the network trainers (IHT step, $k$-sparse vertex,
//! Frank-Wolfe combination, entropic step, greedy growth) are in [`step`].

pub mod argmin_bridge;
pub mod frank_wolfe;
pub mod greedy;
pub mod iht;
pub mod layer;
pub mod maurey;
pub mod mirror;
pub mod step;

use ndarray::Array1;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::Result;

/// What a step did, for methods whose theorems distinguish step types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepKind {
    /// An ordinary step.
    Plain,
    /// Frank-Wolfe (towards) step.
    Toward,
    /// Away step that did not drop an atom.
    Away,
    /// Step that removed an atom from the active set (a "bad" step in Lacoste-Julien–Jaggi).
    Drop,
    /// Pairwise step that did not empty the away atom.
    Pairwise,
    /// Pairwise step that moved all of the away atom's weight (a swap or drop).
    Swap,
}

/// One iteration as the observer sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Iteration count (0 = the initial point).
    pub iter: usize,
    /// $f$ at the current iterate.
    pub objective: f64,
    /// Frank-Wolfe gap where defined.
    pub gap: Option<f64>,
    /// Nonzeros of the current iterate.
    pub nnz: usize,
    /// Step type where the method distinguishes them.
    pub kind: Option<StepKind>,
    /// Decrease of $f$ over the step for the greedy methods; for FoBa, the cycle's forward gain
    /// $\delta$ that theory/foba.md bounds.
    pub gain: Option<f64>,
    /// Step size used by the step (thresholding methods, mirror descent).
    pub step: Option<f64>,
}

impl Record {
    /// The record of an iterate with objective `objective` and `nnz` nonzeros (iteration 0: the
    /// driver numbers them); the optional fields are set by the builders below.
    pub fn new(objective: f64, nnz: usize) -> Self {
        Record {
            iter: 0,
            objective,
            gap: None,
            nnz,
            kind: None,
            gain: None,
            step: None,
        }
    }

    /// [`Record::new`] with the nonzeros of `x`.
    pub fn of(objective: f64, x: &ndarray::Array1<f64>) -> Self {
        Self::new(objective, x.iter().filter(|v| **v != 0.0).count())
    }

    /// With the iteration count.
    pub fn at(mut self, iter: usize) -> Self {
        self.iter = iter;
        self
    }

    /// With the Frank-Wolfe gap.
    pub fn with_gap(mut self, gap: Option<f64>) -> Self {
        self.gap = gap;
        self
    }

    /// With the step type.
    pub fn with_kind(mut self, kind: Option<StepKind>) -> Self {
        self.kind = kind;
        self
    }

    /// With the step's gain.
    pub fn with_gain(mut self, gain: Option<f64>) -> Self {
        self.gain = gain;
        self
    }

    /// With the step size.
    pub fn with_step(mut self, step: Option<f64>) -> Self {
        self.step = step;
        self
    }
}

/// Whether to continue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Keep iterating.
    Continue,
    /// The method's own stopping rule fired.
    Converged,
}

/// The summary every solver returns: its certificate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Info {
    /// Solver name.
    pub solver: String,
    /// Iterations taken.
    pub iterations: usize,
    /// $f$ at the returned point.
    pub objective: f64,
    /// Frank-Wolfe gap at the last iterate, where defined (an upper bound on $f - f^\star$).
    pub gap: Option<f64>,
    /// Support of the returned point, sorted.
    pub support: Vec<usize>,
    /// Whether the method's stopping rule fired (rather than the iteration cap).
    pub converged: bool,
}

/// A solver as a state machine: `init`, then `step` until converged or `max_iters`.
pub trait Iterative<P: ?Sized> {
    /// Everything that changes between iterations (serializable for checkpoints).
    type State: Clone + Serialize + DeserializeOwned;

    /// Name for reports.
    fn name(&self) -> &'static str;

    /// Iteration cap.
    fn max_iters(&self) -> usize;

    /// The initial state.
    fn init(&self, problem: &P) -> Result<Self::State>;

    /// One iteration.
    fn step(&self, problem: &P, state: &mut Self::State) -> Result<Status>;

    /// The current iterate.
    fn iterate<'s>(&self, state: &'s Self::State) -> &'s Array1<f64>;

    /// The record of the current state (iteration number filled in by the driver).
    fn record(&self, state: &Self::State) -> Record;

    /// The point returned to the user (the iterate, or an average for mirror descent) and $f$ there.
    fn output(&self, problem: &P, state: &Self::State) -> (Array1<f64>, f64) {
        let _ = problem;
        (self.iterate(state).clone(), self.record(state).objective)
    }
}

/// A solver's result.
#[derive(Clone, Debug)]
pub struct Solution {
    /// The returned point.
    pub x: Array1<f64>,
    /// Its certificate.
    pub info: Info,
}

/// Run `solver` on `problem`, calling `observer` after the initial point and after every step.
pub fn solve<P: ?Sized, S: Iterative<P>>(
    solver: &S,
    problem: &P,
    observer: &mut dyn FnMut(&Record, &Array1<f64>),
) -> Result<Solution> {
    let mut state = solver.init(problem)?;
    let mut rec = solver.record(&state);
    rec.iter = 0;
    observer(&rec, solver.iterate(&state));
    let mut converged = false;
    let mut iterations = 0;
    while iterations < solver.max_iters() {
        let status = solver.step(problem, &mut state)?;
        iterations += 1;
        rec = solver.record(&state);
        rec.iter = iterations;
        observer(&rec, solver.iterate(&state));
        if status == Status::Converged {
            converged = true;
            break;
        }
    }
    let (x, objective) = solver.output(problem, &state);
    let support = support_of(&x);
    Ok(Solution {
        info: Info {
            solver: solver.name().to_string(),
            iterations,
            objective,
            gap: rec.gap,
            support,
            converged,
        },
        x,
    })
}

/// Run without an observer.
pub fn solve_quiet<P: ?Sized, S: Iterative<P>>(solver: &S, problem: &P) -> Result<Solution> {
    solve(solver, problem, &mut |_, _| {})
}

/// Collect every record.
pub fn solve_traced<P: ?Sized, S: Iterative<P>>(
    solver: &S,
    problem: &P,
) -> Result<(Solution, Vec<Record>)> {
    let mut trace = Vec::new();
    let sol = solve(solver, problem, &mut |r, _| trace.push(r.clone()))?;
    Ok((sol, trace))
}

/// Sorted indices of the nonzeros.
pub fn support_of(x: &Array1<f64>) -> Vec<usize> {
    x.iter()
        .enumerate()
        .filter(|(_, v)| **v != 0.0)
        .map(|(i, _)| i)
        .collect()
}

pub use crate::error::{check_positive, check_sparsity};
