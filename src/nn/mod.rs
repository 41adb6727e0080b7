//! The tch (libtorch) bridge: networks whose prunable parameters are a [`SparseVector`], so the
//! selection rules and solver steps of the convex layer run on them unchanged.
//!
//! | module | what it holds |
//! |---|---|
//! | [`params`] | a network's prunable weights as one [`SparseVector`]; the mask ↔ tensor conversion |
//! | [`models`] | LeNet-300-100, Conv-2/4/6, ResNet-20, VGG-16; initializations |
//! | [`optim`] | masked SGD and Adam with their state |
//! | [`data`] | datasets as tensors: splits, normalization |
//! | [`target`] | the sparsity budget of a run (pool, layerwise or global) |
//! | [`dynamics`] | how the prunable weights move: the [`dynamics::Dynamics`] trait, a fixed mask |
//! | [`phase`] | one training phase and its loop (IMP level, method phase, LMC copy) |
//! | [`rundir`] | the run-directory format: every file a run writes and reads |
//! | [`imp`] | iterative magnitude pruning with rewinding |
//! | [`perturb`] | actions on kept weights (shuffle, reinit, signs, constant), shared by branches and supermask |
//! | [`branch`] | a level's baselines, perturbations and transfer |
//! | [`layerwise`] | one-shot layerwise pruning of a trained level by the convex solvers ([`crate::solver::layer`]) |
//! | [`lmc`] | linear mode connectivity: instability of two copies from iteration $k$, and the ticket's controls |
//!
//! The methods of `lottery prune` are [`crate::zoo`] (their files' implementations sit above this
//! layer), and a sweep cell runs in [`crate::zoo::cells`].
//!
//! The convex layer's steps run on a network's weights unchanged — here $H_2$ on one tensor:
//!
//! ```
//! use lottery::nn::params::Params;
//! use lottery::select::{Budget, Largest};
//! use lottery::solver::step::threshold;
//! use lottery::space::SparseVector;
//! let w = tch::Tensor::from_slice(&[0.5f32, -2.0, 1.0, 0.25]).view([2, 2]);
//! let mut x = Params::new(vec!["fc.weight".into()], vec![w]);
//! let mask = threshold(&mut x, &Largest, &Budget::TopK(2)).unwrap();
//! assert_eq!(mask.indices(), vec![1, 2]);
//! assert_eq!(x.to_scores().values(), &[0.0, -2.0, 1.0, 0.0]);
//! ```
//!
//! [`SparseVector`]: crate::space::SparseVector

pub mod branch;
pub mod data;
mod descent;
pub mod dynamics;
mod env;
pub mod export;
pub mod imp;
pub mod layerwise;
pub mod lmc;
pub mod models;
pub mod optim;
pub mod params;
pub mod perturb;
pub mod phase;
pub mod planted;
pub mod rundir;
pub mod target;
