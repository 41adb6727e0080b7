//! A budget over a [`Layout`]: [`Target`] resolves a sparsity into the selection [`Budget`] of
//! the layout's groups — the zoo's budgets and ramps, IMP's levels, the random baselines'
//! budgets and each layer's [`LayerBudget`] — by the kept-count rule of the parent module.

use super::{kept, kept_at_density, LayerBudget, SparsityBudget, Strategy, Structure};
use crate::select::{erk_densities, Budget, Mask, Rule, Scores, Tile};
use crate::{Error, Result};

/// The groups a budget is spread over: a network's prunable tensors (or one layer), each with
/// its shape (first dimension: the rows — units, filters; the rest: a row's inputs), whether it
/// is pruned at all (the pool), and which one is the output layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    shapes: Vec<Vec<usize>>,
    pool: Vec<bool>,
    output: Option<usize>,
}

impl Layout {
    /// Groups of the given shapes; `pool[g]` false keeps group `g` whole; `output` is the
    /// output layer's group. Shapes must be non-empty with positive sizes.
    pub fn new(shapes: Vec<Vec<usize>>, pool: Vec<bool>, output: Option<usize>) -> Result<Self> {
        if shapes.len() != pool.len() || shapes.iter().any(|s| s.is_empty() || s.contains(&0)) {
            return Err(Error::Shape(format!(
                "a budget's layout needs one non-empty shape with positive sizes per group and one \
                 pool flag each ({} shapes, {} flags)",
                shapes.len(),
                pool.len()
            )));
        }
        if output.is_some_and(|o| o >= shapes.len()) {
            return Err(Error::Shape(format!(
                "output group {output:?} of {} groups",
                shapes.len()
            )));
        }
        Ok(Layout {
            shapes,
            pool,
            output,
        })
    }

    /// One pooled `rows × cols` layer (a layerwise problem), not an output layer.
    pub fn layer(rows: usize, cols: usize) -> Self {
        Layout {
            shapes: vec![vec![rows.max(1), cols.max(1)]],
            pool: vec![true],
            output: None,
        }
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.shapes.len()
    }

    /// Whether there are no groups.
    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty()
    }

    /// Group sizes.
    pub fn sizes(&self) -> Vec<usize> {
        self.shapes.iter().map(|s| s.iter().product()).collect()
    }

    /// Group `g` as a matrix: (first dimension, product of the others).
    pub fn matrix(&self, g: usize) -> (usize, usize) {
        let s = &self.shapes[g];
        (s[0], s[1..].iter().product())
    }

    /// Every group as a matrix.
    pub fn matrices(&self) -> Vec<(usize, usize)> {
        (0..self.len()).map(|g| self.matrix(g)).collect()
    }

    /// Whether group `g` is pruned at all.
    pub fn pooled(&self, g: usize) -> bool {
        self.pool[g]
    }

    /// The pool flags.
    pub fn pool(&self) -> &[bool] {
        &self.pool
    }

    /// The output layer's group.
    pub fn output(&self) -> Option<usize> {
        self.output
    }

    /// Weights in the pool.
    pub fn pool_size(&self) -> usize {
        let sizes = self.sizes();
        (0..self.len())
            .filter(|&g| self.pool[g])
            .map(|g| sizes[g])
            .sum()
    }

    /// With a channel budget: `next[g] = Some(span)` when group `g + 1` reads group `g`'s rows as
    /// its inputs, `span` consecutive columns per row (its columns a whole multiple of `g`'s
    /// rows: dense → dense, conv → conv, conv → flatten → dense).
    pub fn next_spans(&self) -> Vec<Option<usize>> {
        (0..self.len())
            .map(|g| {
                let (rows, _) = self.matrix(g);
                let (_, next_cols) = (g + 1 < self.len()).then(|| self.matrix(g + 1))?;
                (self.pool[g] && next_cols % rows == 0).then_some(next_cols / rows)
            })
            .collect()
    }
}

/// A sparsity budget over a [`Layout`]: resolves a sparsity into the selection [`Budget`] of
/// the layout's groups. Cheap to clone.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    settings: SparsityBudget,
    layout: Layout,
    /// Per-group allocations $a_g$ (the group's sparsity is $a_g s$); `None`: 1 everywhere but
    /// the output layer's [`SparsityBudget::output`].
    scales: Option<Vec<f64>>,
}

/// A channel budget's chain: the tensors as matrices, each one's next-layer input span, and
/// whether its units move (pooled, not the output layer).
pub type Channels = (Vec<(usize, usize)>, Vec<Option<usize>>, Vec<bool>);

impl Target {
    /// The budget `settings` over `layout`.
    pub fn new(settings: SparsityBudget, layout: Layout) -> Self {
        Target {
            settings,
            layout,
            scales: None,
        }
    }

    /// The same budget under another strategy (pruning at initialization ranks globally under
    /// `layerwise`).
    pub fn with_strategy(mut self, strategy: Strategy) -> Self {
        self.settings.strategy = strategy;
        self
    }

    /// The same budget with a rate chosen per layer: group `g` prunes $a_g s$ (`scales[g]` =
    /// $a_g \ge 0$; groups outside the pool ignore theirs). Replaces the output allocation.
    pub fn with_scales(mut self, scales: Vec<f64>) -> Result<Self> {
        if scales.len() != self.layout.len() || scales.iter().any(|a| !(a.is_finite() && *a >= 0.0))
        {
            return Err(Error::param(
                "budget",
                format!(
                    "per-layer allocations: {} finite values >= 0 expected, got {scales:?}",
                    self.layout.len()
                ),
            ));
        }
        self.scales = Some(scales);
        Ok(self)
    }

    /// The settings.
    pub fn settings(&self) -> &SparsityBudget {
        &self.settings
    }

    /// The budget's own sparsity (the settings').
    pub fn sparsity(&self) -> f64 {
        self.settings.sparsity
    }

    /// The layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Whether every pooled layer has its own count (`layerwise` and `erk`).
    pub fn is_layerwise(&self) -> bool {
        self.settings.strategy != Strategy::Global
    }

    /// Whether group `g` is pruned at all.
    pub fn pooled(&self, g: usize) -> bool {
        self.layout.pool[g]
    }

    /// Weights in the pool.
    pub fn pool_size(&self) -> usize {
        self.layout.pool_size()
    }

    /// The allocation $a_g$ of group `g`.
    fn scale(&self, g: usize) -> f64 {
        match &self.scales {
            Some(a) => a[g],
            None if self.layout.output == Some(g) => self.settings.output,
            None => 1.0,
        }
    }

    /// Pooled groups with an allocation of their own ($a_g \ne 1$): outside a global or ERK pool.
    fn own(&self, g: usize) -> bool {
        self.layout.pool[g] && (self.scale(g) - 1.0).abs() > 0.0
    }

    /// Group `g`'s sparsity at the budget's sparsity `s`, checked below 1.
    fn sparsity_of_group(&self, g: usize, s: f64) -> Result<f64> {
        let sg = self.scale(g) * s;
        if !(0.0..1.0).contains(&sg) {
            return Err(Error::param(
                "budget",
                format!(
                    "group {g}'s sparsity {} x {s} = {sg} is not in [0, 1)",
                    self.scale(g)
                ),
            ));
        }
        Ok(sg)
    }

    /// The budget fits the layout: an N:M budget needs every pooled tensor's row length to be a
    /// multiple of M, so that every run of M lies inside one row; the allocations keep every
    /// group's sparsity below 1.
    pub fn check(&self) -> Result<()> {
        self.settings.check()?;
        if let Structure::NofM { n, m } = self.settings.structure {
            let rows: Vec<usize> = (0..self.layout.len())
                .filter(|&g| self.layout.pool[g])
                .map(|g| self.layout.matrix(g).1)
                .collect();
            if rows.iter().any(|c| c % m != 0) {
                return Err(Error::param(
                    "budget",
                    format!("`{n}:{m}` needs every pruned row length ({rows:?}) to be a multiple of {m}"),
                ));
            }
        }
        for g in (0..self.layout.len()).filter(|&g| self.layout.pool[g]) {
            self.sparsity_of_group(g, self.settings.sparsity)?;
        }
        Ok(())
    }

    /// With a channel budget: the tensors as matrices, each one's next-layer input span and
    /// whether its units move (pooled and not the output layer).
    pub fn channels(&self) -> Option<Channels> {
        (self.settings.structure == Structure::Channel).then(|| {
            (
                self.layout.matrices(),
                self.layout.next_spans(),
                (0..self.layout.len())
                    .map(|g| self.layout.pool[g] && self.layout.output != Some(g))
                    .collect(),
            )
        })
    }

    /// `(N, M)` when the structure is N:M.
    pub fn n_of_m(&self) -> Option<(usize, usize)> {
        match self.settings.structure {
            Structure::NofM { n, m } => Some((n, m)),
            _ => None,
        }
    }

    /// The block tiles and the tensors as matrices, when the structure is `block:HxW`.
    pub fn blocks(&self) -> Option<(Tile, Vec<(usize, usize)>)> {
        match self.settings.structure {
            Structure::Block { h, w } => Some((Tile::Block { h, w }, self.layout.matrices())),
            _ => None,
        }
    }

    /// The densities of the pooled groups at sparsity `s` under the strategy: ERK's over the
    /// groups without an allocation of their own (at $1 - s$ together), $1 - a_g s$ for the
    /// others.
    fn densities(&self, s: f64) -> Result<Vec<f64>> {
        let n = self.layout.len();
        let mut rho = Vec::with_capacity(n);
        for g in 0..n {
            rho.push(if self.layout.pool[g] {
                1.0 - self.sparsity_of_group(g, s)?
            } else {
                1.0
            });
        }
        if self.settings.strategy == Strategy::Erk {
            let shared = self.shared();
            if let Some(erk) = self.erk_shared(&shared, 1.0 - s)? {
                for g in (0..n).filter(|&g| shared[g]) {
                    rho[g] = erk[g];
                }
            }
        }
        Ok(rho)
    }

    /// The pooled groups without an allocation of their own: those a global or ERK pool spreads
    /// its count over.
    fn shared(&self) -> Vec<bool> {
        (0..self.layout.len())
            .map(|g| self.layout.pool[g] && !self.own(g))
            .collect()
    }

    /// ERK's densities of the `shared` groups keeping `density` of them together; `None` with
    /// at most one shared group (nothing to allocate: it keeps the density itself).
    fn erk_shared(&self, shared: &[bool], density: f64) -> Result<Option<Vec<f64>>> {
        if shared.iter().filter(|&&p| p).count() <= 1 {
            return Ok(None);
        }
        erk_densities(
            &self.layout.shapes,
            shared,
            density.clamp(f64::MIN_POSITIVE, 1.0),
        )
        .map(Some)
    }

    /// The selection budget at sparsity `s` (a ramp's current value, or the settings' own).
    pub fn budget(&self, s: f64) -> Result<Budget> {
        if !(0.0..1.0).contains(&s) {
            return Err(Error::param("sparsity", format!("{s} is not in [0, 1)")));
        }
        let sizes = self.layout.sizes();
        let n = sizes.len();
        match self.settings.structure {
            Structure::NofM { n: nn, m } => Ok(Budget::NofM {
                n: (((1.0 - s) * m as f64).round() as usize).clamp(nn, m),
                m,
                pool: self.layout.pool.clone(),
            }),
            Structure::Block { h, w } => self.tile_budget(Tile::Block { h, w }, s),
            Structure::Channel => self.tile_budget(Tile::Row, s),
            Structure::Row => Err(Error::Unsupported(
                "a `row` budget selects within each row: it is a layerwise run's budget (Target::layer)"
                    .into(),
            )),
            Structure::Unstructured => {
                let rho = self.densities(s)?;
                let own_count = |g: usize| kept_at_density(sizes[g], rho[g]);
                if self.is_layerwise() {
                    return Ok(Budget::PerGroupK(
                        (0..n)
                            .map(|g| if self.layout.pool[g] { own_count(g) } else { sizes[g] })
                            .collect(),
                    ));
                }
                let shared = self.shared();
                let total: usize = (0..n).filter(|&g| shared[g]).map(|g| sizes[g]).sum();
                let counts: Vec<usize> = (0..n)
                    .map(|g| if self.own(g) { own_count(g) } else { 0 })
                    .collect();
                Ok(self.pooled_with(kept(total, s), &counts))
            }
        }
    }

    /// Tiles kept per pooled layer at sparsity `s`: $\mathrm{kept}(T_g, 1 - \rho_g)$ of its
    /// $T_g$ tiles with the strategy's density (channels: never the output layer's rows, the
    /// classes); with channels, a removed row also removes the next tensor's inputs from it
    /// ([`Layout::next_spans`]).
    fn tile_budget(&self, tile: Tile, s: f64) -> Result<Budget> {
        let rho = self.densities(s)?;
        let keep = (0..self.layout.len())
            .map(|g| {
                let (rows, cols) = self.layout.matrix(g);
                let classes = tile == Tile::Row && self.layout.output == Some(g);
                (self.layout.pool[g] && !classes)
                    .then(|| kept_at_density(tile.count(rows, cols), rho[g]))
            })
            .collect();
        Ok(Budget::Tiles {
            tile,
            shapes: self.layout.matrices(),
            keep,
            next: if tile == Tile::Row {
                self.layout.next_spans()
            } else {
                vec![]
            },
        })
    }

    /// Select with `rule` at sparsity `s`.
    pub fn select<R: Rule + ?Sized>(&self, rule: &R, scores: &Scores, s: f64) -> Result<Mask> {
        rule.select(scores, &self.budget(s)?)
    }

    /// Fraction of the pool that `mask` removes.
    pub fn sparsity_of(&self, mask: &Mask) -> f64 {
        let kept: usize = (0..self.layout.len())
            .filter(|&g| self.layout.pool[g])
            .map(|g| mask.group_count(g))
            .sum();
        1.0 - kept as f64 / self.pool_size().max(1) as f64
    }

    /// A budget that keeps as many weights as `mask`: per pooled layer (layerwise, ERK) or over
    /// the pool (global; groups with an allocation of their own keep their counts); layers
    /// outside the pool are kept whole. Structured budgets: the structure's budget at the
    /// mask's sparsity.
    pub fn budget_like(&self, mask: &Mask) -> Result<Budget> {
        if self.settings.structure != Structure::Unstructured {
            return self.budget(self.sparsity_of(mask));
        }
        let sizes = self.layout.sizes();
        let counts: Vec<usize> = (0..sizes.len())
            .map(|g| {
                if self.layout.pool[g] {
                    mask.group_count(g)
                } else {
                    sizes[g]
                }
            })
            .collect();
        Ok(self.budget_of_counts(counts))
    }

    /// Per-group counts as a budget: each its own (layerwise) or the pooled ones' total chosen
    /// together (global).
    fn budget_of_counts(&self, counts: Vec<usize>) -> Budget {
        if self.is_layerwise() {
            return Budget::PerGroupK(counts);
        }
        let shared = self.shared();
        let k = (0..counts.len())
            .filter(|&g| shared[g])
            .map(|g| counts[g])
            .sum::<usize>()
            .max(1);
        self.pooled_with(k, &counts)
    }

    /// `k` chosen together over the pooled groups without an allocation of their own, and
    /// `counts[g]` in each group with one ([`Budget::Pooled`], or [`Budget::Split`]).
    fn pooled_with(&self, k: usize, counts: &[usize]) -> Budget {
        let n = self.layout.len();
        let shared = self.shared();
        if (0..n).any(|g| self.own(g)) {
            Budget::Split {
                k,
                pool: shared,
                own: (0..n).map(|g| self.own(g).then_some(counts[g])).collect(),
            }
        } else {
            Budget::Pooled { k, pool: shared }
        }
    }

    /// IMP's next budget: prune the fraction `rates[g]` (times the group's allocation) of the
    /// weights `mask` still keeps in pooled layer `g` (layerwise), or `global_rate` of those
    /// kept in the pool (global; ERK allocates the pool's next count by its densities). Counts
    /// follow the kept-count rule: a layer keeps $\mathrm{kept}(m, r)$ of its $m$ remaining
    /// weights. Structured budgets: the pool's next density, allocated as the structure
    /// allocates it.
    pub fn budget_of_remaining(
        &self,
        mask: &Mask,
        rates: &[f64],
        global_rate: f64,
    ) -> Result<Budget> {
        let n = self.layout.len();
        let sizes = self.layout.sizes();
        let rate = |g: usize| -> Result<f64> {
            let r = if self.settings.strategy == Strategy::Layerwise {
                rates[g]
            } else {
                global_rate
            };
            let own = if self.own(g) { self.scale(g) } else { 1.0 };
            let rg = own * r;
            if !(0.0..1.0).contains(&rg) {
                return Err(Error::param(
                    "budget",
                    format!("group {g}'s per-level rate {rg} is not in [0, 1)"),
                ));
            }
            Ok(rg)
        };
        if self.settings.structure != Structure::Unstructured {
            let mut left = 0usize;
            for g in (0..n).filter(|&g| self.layout.pool[g]) {
                left += kept(mask.group_count(g), rate(g)?);
            }
            return self.budget(1.0 - left as f64 / self.pool_size().max(1) as f64);
        }
        match self.settings.strategy {
            Strategy::Layerwise => {
                let mut counts = Vec::with_capacity(n);
                for g in 0..n {
                    let m = mask.group_count(g);
                    counts.push(if self.layout.pool[g] {
                        kept(m, rate(g)?)
                    } else {
                        m
                    });
                }
                Ok(Budget::PerGroupK(counts))
            }
            Strategy::Global | Strategy::Erk => {
                let shared = self.shared();
                let left: usize = (0..n)
                    .filter(|&g| shared[g])
                    .map(|g| mask.group_count(g))
                    .sum();
                let k = kept(left, global_rate);
                let mut counts: Vec<usize> = (0..n)
                    .map(|g| if self.layout.pool[g] { 0 } else { sizes[g] })
                    .collect();
                for g in (0..n).filter(|&g| self.own(g)) {
                    counts[g] = kept(mask.group_count(g), rate(g)?);
                }
                if self.settings.strategy == Strategy::Global {
                    return Ok(self.pooled_with(k, &counts));
                }
                // ERK: the shared pool's next count spread by its densities at that count.
                let pool_n: usize = (0..n).filter(|&g| shared[g]).map(|g| sizes[g]).sum();
                let density = k as f64 / pool_n.max(1) as f64;
                let rho = self.erk_shared(&shared, density)?;
                for g in (0..n).filter(|&g| shared[g]) {
                    counts[g] = match &rho {
                        Some(rho) => kept_at_density(sizes[g], rho[g]),
                        None => k,
                    };
                }
                Ok(Budget::PerGroupK(counts))
            }
        }
    }

    /// Group `g`'s budget as a layer of its own, at the budget's sparsity (times the layer's
    /// allocation): what a layerwise solver prunes it to. `None` for a group outside the pool.
    pub fn layer(&self, g: usize) -> Result<Option<LayerBudget>> {
        if !self.layout.pool[g] {
            return Ok(None);
        }
        let s = self.sparsity_of_group(g, self.settings.sparsity)?;
        let (rows, cols) = self.layout.matrix(g);
        Ok(Some(match self.settings.structure {
            Structure::Unstructured => LayerBudget::Layer(kept(rows * cols, s)),
            Structure::Row => LayerBudget::Row(kept(cols, s)),
            Structure::NofM { n, m } => LayerBudget::NM { n, m },
            Structure::Block { h, w } => LayerBudget::Blocks {
                h,
                w,
                keep: kept(Tile::Block { h, w }.count(rows, cols), s),
            },
            Structure::Channel => LayerBudget::Channels {
                keep: (self.layout.output != Some(g)).then(|| kept(rows, s)),
            },
        }))
    }
}
