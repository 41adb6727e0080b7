//! # lottery — sparse optimization from convex problems to lottery tickets
//!
//! Sparse convex optimization and network pruning make the same two moves: **score** every
//! coordinate, then **select** a support under a budget. This crate is layered around that
//! idea:
//!
//! ```text
//!                 ┌──────────────────────── binaries ─────────────────────────┐
//!                 │ src/bin/lottery (CLI)    experiments/ (figures, tables)   │
//!                 └───────────────────────────────┬───────────────────────────┘
//!   nn [torch]    params · models · optim · data → target · dynamics · rundir · perturb
//!                 → phase (the one training loop) → imp · branch · zoo (methods, convex trainers)
//!   recovery      a planted network against a student: units matched, supports compared
//!   run · data    typed settings, presets, run names, lock  ·  datasets, batch order, teacher
//!   solver        step.rs (shared steps) · iht · greedy · frank_wolfe · mirror · maurey
//!   problem       least squares, logistic, planted instances
//!   space         SparseVector, Objective
//!   select        Scores, Budget, Rule, Mask
//!   io · error    .npy, CSV, JSON, atomic writes · one error type
//! ```
//!
//! Each layer imports only the layers below it (`tests/suite/layers.rs` checks the import graph;
//! `notes/architecture.md` says where a new solver, method, dataset or model goes).
//!
//! | layer | module | what it holds |
//! |---|---|---|
//! | select | [`select`] | [`Scores`](select::Scores), [`Budget`](select::Budget), [`Rule`](select::Rule)s, bit-packed [`Mask`](select::Mask)s |
//! | space | [`space`] | [`SparseVector`](space::SparseVector) and [`Objective`](space::Objective): what a step needs of a vector and a loss |
//! | problems | [`problem`] | least squares and logistic loss with their constants; planted instances |
//! | solvers | [`solver`] | [`solver::step`] — the steps shared with the network trainers; IHT, NIHT, HTP, CoSaMP; OMP, FCFGS, forward, FWR, FoBa, Maurey; Frank-Wolfe (vanilla, away, pairwise) over sparse domains; mirror descent |
//! | data | [`data`] | IDX, CIFAR-10, Fashion-MNIST, planted teacher, batch order |
//! | run | [`run`] | typed run settings ([`run::kinds`]), presets, run names, lock |
//! | recovery | [`recovery`] | recovery of a planted network: Hungarian-matched support precision / recall / F1, live units, input features |
//! | nn | `nn` (feature `torch`) | networks whose prunable weights are a `SparseVector`; IMP, the method zoo, runs on disk |
//! | io | [`io`] | `.npy` in and out, CSV, JSON, atomic writes |
//!
//! IHT is "gradient step, then select by magnitude"; forward greedy selection is "select by
//! gradient, then refit"; a Frank-Wolfe step over the $k$-sparse polytope is "select the top-$k$
//! of the gradient". Each is written once against [`space::SparseVector`], so the network side
//! (feature `torch`) reuses the same rules and steps.
//!
//! Every guarantee the solvers come with is stated in `theory/` (included in each solver's
//! documentation) and checked by a property test in `tests/`.
//!
//! ```
//! use lottery::problem::{LeastSquares, PlantedParams};
//! use lottery::solver::{greedy::{GreedyParams, Omp}, solve_quiet};
//! let inst = PlantedParams { n: 64, d: 256, k: 5, ..Default::default() }.generate().unwrap();
//! let p = LeastSquares::from_f64(inst.a, inst.y).unwrap();
//! let sol = solve_quiet(&Omp::new(GreedyParams::new(5)).unwrap(), &p).unwrap();
//! assert_eq!(sol.info.support, inst.support);
//! ```
#![deny(clippy::float_cmp)]
#![warn(missing_docs)]

extern crate blas_src;

pub mod data;
mod error;
pub mod io;
pub mod linalg;
pub mod names;
#[cfg(feature = "torch")]
pub mod nn;
#[cfg(feature = "plot")]
pub mod plot;
pub mod problem;
pub mod recovery;
pub mod run;
pub mod select;
pub mod solver;
pub mod space;
pub mod stats;
pub mod zoo;

pub use error::{check_positive, check_sparsity, ensure_finite, Error, Result};

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
