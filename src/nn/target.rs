//! The sparsity budget of a run over its network: [`crate::select::budget::Target`] with the
//! network's prunable tensors as its [`Layout`] — the pool is every prunable tensor, less the
//! output layer when the preset does not prune it (`prune_output`). Every count a method,
//! IMP's levels or a layerwise solver keeps comes from there (the kept-count rule and the
//! granularities are stated in [`crate::select::budget`]).

use super::models::Network;
use super::params::Params;
use crate::run::RunConfig;
use crate::select::budget::Layout;
pub use crate::select::budget::{Channels, Target};

/// The layout of a network's prunable tensors: their shapes, the pool, the output layer.
pub fn layout(cfg: &RunConfig, net: &Network, x: &Params) -> Layout {
    Layout::new(
        x.tensors
            .iter()
            .map(|t| t.size().iter().map(|&d| d as usize).collect())
            .collect(),
        x.names
            .iter()
            .map(|n| cfg.prune_output || *n != net.output)
            .collect(),
        x.names.iter().position(|n| *n == net.output),
    )
    .expect("a network's prunable tensors have positive shapes")
}

/// The run's budget (`sparsity`, `strategy`, `budget`, `budget_output`) over its network.
pub fn target(cfg: &RunConfig, net: &Network, x: &Params) -> Target {
    Target::new(cfg.budget.clone(), layout(cfg, net, x))
}
