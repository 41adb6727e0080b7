//! The sparsity budget of a run: which prunable tensors are pruned at all (the pool: every
//! prunable tensor, less the output layer when the preset does not prune it) and how many
//! weights survive — per layer (`layerwise`) or over the pool ([`Budget::Pooled`], `global`).
//!
//! With `strategy = "erk"` the layers' shares follow [`crate::select::erk_densities`]: each
//! pooled layer keeps $\mathrm{round}(\rho_l n_l)$ (at least one), so the pool's total is within
//! half a weight per layer of the request.
//!
//! With `budget` = `N:M`, `block:HxW` or `channel` ([`crate::run::kinds::Structure`]) the
//! budget is structured ([`Target::budget`]): every rule then selects whole runs, tiles or
//! rows through the same [`Rule`] interface.
//!
//! `--sparsity S` keeps exactly $N - \mathrm{round}(SN)$ weights of a pool of $N$ (at least
//! one); IMP's levels use [`Target::budget_of_remaining`], which prunes a rate of what a mask
//! still keeps.

use super::models::Network;
use super::params::Params;
use crate::run::kinds::{Strategy, Structure};
use crate::run::RunConfig;
use crate::select::{erk_densities, Budget, Mask, Rule, Scores, Tile};
use crate::space::SparseVector;
use crate::Result;

/// A channel budget's chain: the tensors as matrices, each one's next-layer input span, and
/// whether its units move (pooled, not the output layer).
pub type Channels = (Vec<(usize, usize)>, Vec<Option<usize>>, Vec<bool>);

/// The sparsity budget of a method: which prunable tensors are in the pool and how many weights
/// survive at a given sparsity.
#[derive(Clone, Debug)]
pub struct Target {
    sizes: Vec<usize>,
    pool: Vec<bool>,
    layerwise: bool,
    /// The tensors' shapes, when the budget is ERK's.
    erk: Option<Vec<Vec<usize>>>,
    /// What is kept whole (`budget`).
    structure: Structure,
    /// Each tensor as a matrix: (first dimension, product of the others).
    matrices: Vec<(usize, usize)>,
    /// Index of the output layer's tensor (its rows are the classes: channel budgets keep them).
    output: Option<usize>,
}

impl Target {
    /// Pool: every prunable tensor, less the output layer when `cfg.prune_output` is false.
    pub fn new(cfg: &RunConfig, net: &Network, x: &Params, layerwise: bool) -> Self {
        Target {
            sizes: x.group_sizes(),
            pool: x
                .names
                .iter()
                .map(|n| cfg.prune_output || *n != net.output)
                .collect(),
            layerwise,
            erk: None,
            structure: cfg.budget,
            output: x.names.iter().position(|n| *n == net.output),
            matrices: x
                .tensors
                .iter()
                .map(|t| {
                    let d: Vec<usize> = t.size().iter().map(|&v| v as usize).collect();
                    (d[0], d[1..].iter().product())
                })
                .collect(),
        }
    }

    /// With the run's strategy (`layerwise`, `global` or `erk`).
    pub fn of(cfg: &RunConfig, net: &Network, x: &Params) -> Self {
        let mut t = Self::new(cfg, net, x, cfg.strategy != Strategy::Global);
        if cfg.strategy == Strategy::Erk {
            t.erk = Some(
                x.tensors
                    .iter()
                    .map(|t| t.size().iter().map(|&d| d as usize).collect())
                    .collect(),
            );
        }
        t
    }

    /// ERK's per-layer counts keeping the fraction `density` of the pool.
    fn erk_budget(&self, shapes: &[Vec<usize>], density: f64) -> Budget {
        let rho = erk_densities(shapes, &self.pool, density.clamp(f64::MIN_POSITIVE, 1.0))
            .expect("tensor shapes are positive and the density is in (0, 1]");
        Budget::PerGroupK(
            (0..self.sizes.len())
                .map(|g| {
                    if self.pool[g] {
                        ((rho[g] * self.sizes[g] as f64).round() as usize).clamp(1, self.sizes[g])
                    } else {
                        self.sizes[g]
                    }
                })
                .collect(),
        )
    }

    /// The structure fits the network: an N:M budget needs every pooled tensor's row length
    /// (product of its dimensions after the first) to be a multiple of M, so that every run of M
    /// lies inside one row.
    pub fn check_structure(&self) -> Result<()> {
        if let Structure::NofM { n, m } = self.structure {
            let rows: Vec<usize> = (0..self.sizes.len())
                .filter(|&g| self.pool[g])
                .map(|g| self.matrices[g].1)
                .collect();
            if rows.iter().any(|c| c % m != 0) {
                return Err(crate::Error::param(
                    "budget",
                    format!("`{n}:{m}` needs every pruned row length ({rows:?}) to be a multiple of {m}"),
                ));
            }
        }
        Ok(())
    }

    /// With a channel budget: the tensors as matrices, each one's next-layer input span (as in
    /// the budget) and whether its units move (pooled and not the output layer).
    pub fn channels(&self) -> Option<Channels> {
        if self.structure != Structure::Channel {
            return None;
        }
        let Budget::Tiles { keep, next, .. } = self.tile_budget(Tile::Row, 0.5) else {
            unreachable!("a row tile budget")
        };
        Some((
            self.matrices.clone(),
            next,
            keep.iter().map(Option::is_some).collect(),
        ))
    }

    /// `(N, M)` when the structure is N:M.
    pub fn n_of_m(&self) -> Option<(usize, usize)> {
        match self.structure {
            Structure::NofM { n, m } => Some((n, m)),
            _ => None,
        }
    }

    /// The block tiles and the tensors as matrices, when the structure is `block:HxW`.
    pub fn blocks(&self) -> Option<(Tile, Vec<(usize, usize)>)> {
        match self.structure {
            Structure::Block { h, w } => Some((Tile::Block { h, w }, self.matrices.clone())),
            _ => None,
        }
    }

    /// Whether every pooled layer has its own budget.
    pub fn is_layerwise(&self) -> bool {
        self.layerwise
    }

    /// Whether group `g` is pruned at all.
    pub fn pooled(&self, g: usize) -> bool {
        self.pool[g]
    }

    /// Weights in the pool.
    pub fn pool_size(&self) -> usize {
        (0..self.sizes.len())
            .filter(|&g| self.pool[g])
            .map(|g| self.sizes[g])
            .sum()
    }

    /// Kept in a pool of `n` at sparsity `s` (at least one).
    fn kept(n: usize, s: f64) -> usize {
        (n - ((s * n as f64).round() as usize).min(n)).max(1)
    }

    /// The budget at sparsity `s` (fraction removed), with the run's structure: N:M keeps
    /// $n_s = \mathrm{clamp}(\mathrm{round}((1-s)M), N, M)$ of every $M$ (exactly $N$ at the
    /// target $1 - N/M$); blocks and channels keep, in every pooled layer, the rounded fraction
    /// of its tiles that the strategy gives the layer (uniform, or ERK's density), at least one.
    pub fn budget(&self, s: f64) -> Budget {
        match self.structure {
            Structure::Unstructured => self.weight_budget(s),
            Structure::NofM { n, m } => Budget::NofM {
                n: (((1.0 - s) * m as f64).round() as usize).clamp(n, m),
                m,
                pool: self.pool.clone(),
            },
            Structure::Block { h, w } => self.tile_budget(Tile::Block { h, w }, s),
            Structure::Channel => self.tile_budget(Tile::Row, s),
        }
    }

    /// Tiles kept per pooled layer at sparsity `s` (channels: never the output layer's rows, the
    /// classes); with channels, a removed row also removes
    /// the next tensor's inputs from it when that tensor's columns are a whole multiple of the
    /// rows (dense → dense, conv → conv, conv → flatten → dense).
    fn tile_budget(&self, tile: Tile, s: f64) -> Budget {
        let rho: Vec<f64> = match &self.erk {
            Some(shapes) => {
                erk_densities(shapes, &self.pool, (1.0 - s).clamp(f64::MIN_POSITIVE, 1.0))
                    .expect("tensor shapes are positive and the density is in (0, 1]")
            }
            None => vec![1.0 - s; self.sizes.len()],
        };
        let keep = (0..self.sizes.len())
            .map(|g| {
                let (rows, cols) = self.matrices[g];
                let units = tile.count(rows, cols);
                let classes = tile == Tile::Row && self.output == Some(g);
                (self.pool[g] && !classes)
                    .then(|| ((rho[g] * units as f64).round() as usize).clamp(1, units))
            })
            .collect();
        let next = if tile == Tile::Row {
            (0..self.sizes.len())
                .map(|g| {
                    let (rows, _) = self.matrices[g];
                    let (_, next_cols) = *self.matrices.get(g + 1)?;
                    (self.pool[g] && next_cols % rows == 0).then_some(next_cols / rows)
                })
                .collect()
        } else {
            vec![]
        };
        Budget::Tiles {
            tile,
            shapes: self.matrices.clone(),
            keep,
            next,
        }
    }

    /// The unstructured budget at sparsity `s`.
    fn weight_budget(&self, s: f64) -> Budget {
        if let Some(shapes) = &self.erk {
            return self.erk_budget(shapes, 1.0 - s);
        }
        if self.layerwise {
            Budget::PerGroupK(
                (0..self.sizes.len())
                    .map(|g| {
                        if self.pool[g] {
                            Self::kept(self.sizes[g], s)
                        } else {
                            self.sizes[g]
                        }
                    })
                    .collect(),
            )
        } else {
            Budget::Pooled {
                k: Self::kept(self.pool_size(), s),
                pool: self.pool.clone(),
            }
        }
    }

    /// Select with `rule` at sparsity `s`.
    pub fn select<R: Rule>(&self, rule: &R, scores: &Scores, s: f64) -> Result<Mask> {
        rule.select(scores, &self.budget(s))
    }

    /// Fraction of the pool that `mask` removes.
    pub fn sparsity_of(&self, mask: &Mask) -> f64 {
        let kept: usize = (0..self.sizes.len())
            .filter(|&g| self.pool[g])
            .map(|g| mask.group_count(g))
            .sum();
        1.0 - kept as f64 / self.pool_size().max(1) as f64
    }

    /// A budget that keeps as many weights as `mask`: per pooled layer (layerwise) or over the
    /// pool (global); layers outside the pool are kept whole.
    pub fn budget_like(&self, mask: &Mask) -> Budget {
        if self.structure != Structure::Unstructured {
            return self.budget(self.sparsity_of(mask));
        }
        let counts: Vec<usize> = (0..self.sizes.len())
            .map(|g| {
                if self.pool[g] {
                    mask.group_count(g)
                } else {
                    self.sizes[g]
                }
            })
            .collect();
        self.remaining_budget(counts)
    }

    /// IMP's next budget: prune the fraction `rates[g]` of the weights `mask` still keeps in
    /// pooled layer `g` (layerwise), or `global_rate` of those kept in the pool (global).
    /// Counts are rounded: kept = round(remaining × (1 − rate)).
    pub fn budget_of_remaining(&self, mask: &Mask, rates: &[f64], global_rate: f64) -> Budget {
        let keep = |n: usize, r: f64| (n as f64 * (1.0 - r)).round() as usize;
        if self.structure != Structure::Unstructured {
            // Structured: the pool's next density, allocated as the structure allocates it.
            let kept: usize = (0..self.sizes.len())
                .filter(|&g| self.pool[g])
                .map(|g| {
                    let r = if self.layerwise && self.erk.is_none() {
                        rates[g]
                    } else {
                        global_rate
                    };
                    keep(mask.group_count(g), r)
                })
                .sum();
            return self.budget(1.0 - kept as f64 / self.pool_size().max(1) as f64);
        }
        if let Some(shapes) = &self.erk {
            let pooled: usize = (0..self.sizes.len())
                .filter(|&g| self.pool[g])
                .map(|g| mask.group_count(g))
                .sum();
            let k = keep(pooled, global_rate).max(1);
            return self.erk_budget(shapes, k as f64 / self.pool_size().max(1) as f64);
        }
        if self.layerwise {
            Budget::PerGroupK(
                (0..self.sizes.len())
                    .map(|g| {
                        let n = mask.group_count(g);
                        if self.pool[g] {
                            keep(n, rates[g])
                        } else {
                            n
                        }
                    })
                    .collect(),
            )
        } else {
            let pooled: usize = (0..self.sizes.len())
                .filter(|&g| self.pool[g])
                .map(|g| mask.group_count(g))
                .sum();
            Budget::Pooled {
                k: keep(pooled, global_rate).max(1),
                pool: self.pool.clone(),
            }
        }
    }

    fn remaining_budget(&self, counts: Vec<usize>) -> Budget {
        if self.layerwise {
            Budget::PerGroupK(counts)
        } else {
            Budget::Pooled {
                k: (0..counts.len())
                    .filter(|&g| self.pool[g])
                    .map(|g| counts[g])
                    .sum::<usize>()
                    .max(1),
                pool: self.pool.clone(),
            }
        }
    }
}
