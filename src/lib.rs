//! # lottery — sparse optimization from convex problems to lottery tickets
//!
//! Sparse convex optimization and network pruning make the same two moves: **score** every
//! coordinate, then **select** a support under a budget. This crate is layered around that
//! idea:
//!
//! | layer | module | what it holds |
//! |---|---|---|
//! | select | [`select`] | [`Scores`](select::Scores), [`Budget`](select::Budget), [`Rule`](select::Rule)s, bit-packed [`Mask`](select::Mask)s |
//! | space | [`space`] | [`SparseVector`](space::SparseVector) and [`Objective`](space::Objective): what a solver needs of a vector and a loss |
//! | problems | [`problem`] | least squares and logistic loss with their constants; planted instances |
//! | solvers | [`solver`] | IHT, NIHT, HTP, CoSaMP; OMP, FCFGS, forward, FWR, FoBa, Maurey; Frank-Wolfe (vanilla, away, pairwise) over sparse domains; mirror descent |
//! | io | [`io`] | `.npy` in and out, atomic writes |
//! | plot | [`plot`] | CSV and SVG/PNG figures for the experiments |
//! | cli | [`cli`] | `lottery solve` |
//!
//! IHT is "gradient step, then select by magnitude"; forward greedy selection is "select by
//! gradient, then refit"; a Frank-Wolfe step over the $k$-sparse polytope is "select the top-$k$
//! of the gradient". Each is written once against [`space::SparseVector`], so the network side
//! (feature `torch`, in progress) reuses the same rules and steps.
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

pub mod cli;
pub mod data;
mod error;
pub mod experiments;
pub mod io;
pub mod linalg;
#[cfg(feature = "torch")]
pub mod nn;
pub mod plot;
pub mod problem;
pub mod run;
pub mod select;
pub mod solver;
pub mod space;

pub use error::{ensure_finite, Error, Result};

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
