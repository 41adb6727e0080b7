//! The tch (libtorch) bridge: networks whose prunable parameters are a [`SparseVector`], so the
//! selection rules and solver steps of the convex layer run on them unchanged.
//!
//! [`SparseVector`]: crate::space::SparseVector

pub mod imp;
pub mod models;
pub mod optim;
pub mod params;
pub mod train;
pub mod zoo;
