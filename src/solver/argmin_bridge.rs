//! Every [`Iterative`] solver as an [`argmin::core::Solver`], so it runs under argmin's
//! `Executor` with its observers, iteration cap and checkpointing.
//!
//! The adapter drives the very same `init`/`step` as [`super::solve`]: there is one
//! implementation of each method. argmin's state holds the current iterate as `param` and
//! $f$ as `cost`; the method's own state (active sets, Cholesky factors, …) lives in the adapter
//! and is serialized with it, so a checkpoint resumes exactly. [`FileCheckpoint`] is a
//! checkpoint store (CBOR, which keeps argmin's infinite cost bounds) whose writes are atomic
//! (temporary file, then rename).
//!
//! ```
//! use argmin::core::{Executor, State};
//! use lottery::problem::{LeastSquares, PlantedParams};
//! use lottery::solver::{argmin_bridge::ArgminSolver, iht::{Htp, ThresholdParams}};
//! let inst = PlantedParams { n: 60, d: 120, k: 3, ..Default::default() }.generate().unwrap();
//! let p = LeastSquares::from_f64(inst.a, inst.y).unwrap();
//! let solver = ArgminSolver::new(Htp::new(ThresholdParams::new(3)).unwrap());
//! let res = Executor::new(&p, solver)
//!     .configure(|s| s.max_iters(50))
//!     .run()
//!     .unwrap();
//! assert!(res.state().get_cost() < 1e-20);
//! ```

use std::fs;
use std::path::PathBuf;

use argmin::core::checkpointing::{Checkpoint, CheckpointingFrequency};
use argmin::core::{IterState, Problem, Solver, State, TerminationReason, TerminationStatus, KV};
use ndarray::Array1;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::{Iterative, Status};

/// argmin's state for our solvers: parameter vector `Array1<f64>`, cost `f64`.
pub type ArgminState = IterState<Array1<f64>, (), (), (), (), f64>;

/// Adapter from [`Iterative`] to [`argmin::core::Solver`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ArgminSolver<S, St> {
    /// The wrapped solver.
    pub solver: S,
    /// The solver's own state (`None` before `init`).
    pub state: Option<St>,
    converged: bool,
}

impl<S, St> ArgminSolver<S, St> {
    /// Wrap a solver.
    pub fn new(solver: S) -> Self {
        ArgminSolver {
            solver,
            state: None,
            converged: false,
        }
    }
}

impl<'a, P, S> Solver<&'a P, ArgminState> for ArgminSolver<S, S::State>
where
    P: ?Sized,
    S: Iterative<P>,
{
    fn name(&self) -> &str {
        self.solver.name()
    }

    fn init(
        &mut self,
        problem: &mut Problem<&'a P>,
        state: ArgminState,
    ) -> Result<(ArgminState, Option<KV>), argmin::core::Error> {
        let p: &P = problem.problem.expect("argmin holds the problem");
        let st = self.solver.init(p)?;
        let rec = self.solver.record(&st);
        let x = self.solver.iterate(&st).clone();
        self.state = Some(st);
        Ok((state.param(x).cost(rec.objective), None))
    }

    fn next_iter(
        &mut self,
        problem: &mut Problem<&'a P>,
        state: ArgminState,
    ) -> Result<(ArgminState, Option<KV>), argmin::core::Error> {
        let p: &P = problem.problem.expect("argmin holds the problem");
        let st = self.state.as_mut().expect("init ran before next_iter");
        let status = self.solver.step(p, st)?;
        self.converged = status == Status::Converged;
        let rec = self.solver.record(st);
        let kv = argmin::kv!("nnz" => rec.nnz as u64; "gap" => rec.gap.unwrap_or(f64::NAN););
        let x = self.solver.iterate(st).clone();
        Ok((state.param(x).cost(rec.objective), Some(kv)))
    }

    fn terminate(&mut self, _state: &ArgminState) -> TerminationStatus {
        if self.converged {
            TerminationStatus::Terminated(TerminationReason::SolverConverged)
        } else {
            TerminationStatus::NotTerminated
        }
    }
}

/// A checkpoint store: solver and argmin state as one CBOR file, written atomically.
#[derive(Clone, Debug)]
pub struct FileCheckpoint {
    /// File path.
    pub path: PathBuf,
    /// How often to save.
    pub frequency: CheckpointingFrequency,
}

impl<S, I> Checkpoint<S, I> for FileCheckpoint
where
    S: Serialize + DeserializeOwned,
    I: Serialize + DeserializeOwned + State,
{
    fn save(&self, solver: &S, state: &I) -> Result<(), argmin::core::Error> {
        let mut bytes = Vec::new();
        ciborium::into_writer(&(solver, state), &mut bytes)?;
        crate::io::write_atomic(&self.path, &bytes)?;
        Ok(())
    }

    fn load(&self) -> Result<Option<(S, I)>, argmin::core::Error> {
        if !self.path.exists() {
            return Ok(None);
        }
        let bytes = fs::read(&self.path)?;
        Ok(Some(ciborium::from_reader(bytes.as_slice())?))
    }

    fn frequency(&self) -> CheckpointingFrequency {
        self.frequency
    }
}
