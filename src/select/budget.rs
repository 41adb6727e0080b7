//! The sparsity budget: one type from a sparsity to the counts a selection [`Rule`] keeps.
//!
//! A budget is a sparsity $s$ (the fraction removed), a **strategy** that spreads it over the
//! pooled layers ([`Strategy`]: each layer alike, one pool, or ERK), a **structure** that says
//! what is kept or removed whole ([`Structure`]: single weights, a row's inputs, N:M runs,
//! blocks, channels), and per-layer **allocations** on top (the output layer at its own rate,
//! or a rate chosen per layer). [`SparsityBudget`] holds those settings and checks them, once,
//! with one message per fault; [`Target`] is a budget over a [`Layout`] (a network's prunable
//! tensors, or one layer) and resolves a sparsity into a selection [`Budget`] — for the zoo's
//! methods, IMP's levels, the random baselines, and, through [`Target::layer`], every layerwise
//! solver. Nothing else in the crate turns a sparsity into a count.
//!
//! # The kept-count rule
//!
//! A group of $n$ units at sparsity $s$ keeps
//! $$\mathrm{kept}(n, s) = \min\big(n, \max(1, \mathrm{round}((1 - s)\,n))\big),$$
//! evaluated in `f64` as `((1.0 - s) * n as f64).round()`, halves rounded away from zero (a tie
//! keeps the larger count); an empty group keeps nothing. This is the rule IMP's levels always
//! used (a level keeps $\mathrm{round}((1-r)\,m)$ of the $m$ weights it starts from), as did the
//! layerwise solvers, ERK ($\mathrm{round}(\rho_l n_l)$, [`kept_at_density`]), tiles and N:M.
//! ([`kept`]; `notes/decisions.md` says why this one and not $n - \mathrm{round}(sn)$.)
//!
//! Each granularity applies it to its own unit:
//!
//! | structure | a pooled layer $\ell$ keeps |
//! |---|---|
//! | `unstructured`, `layerwise` | $\mathrm{kept}(n_\ell, s_\ell)$ weights |
//! | `unstructured`, `global` | $\mathrm{kept}(N, s)$ weights over the pool of $N$, chosen together |
//! | `unstructured`, `erk` | $\mathrm{kept}(n_\ell, 1 - \rho_\ell)$ with ERK's densities $\rho_\ell$ ([`erk_densities`]) |
//! | `row` (per unit) | $\mathrm{kept}(c_\ell, s_\ell)$ of each row's $c_\ell$ inputs |
//! | `N:M` | $\mathrm{clamp}(\mathrm{round}((1-s)M), N, M)$ of every run of $M$ (exactly $N$ at $s = 1 - N/M$) |
//! | `block:HxW` | $\mathrm{kept}(T_\ell, s_\ell)$ of its $T_\ell$ tiles (ERK's density under `erk`) |
//! | `channel` | $\mathrm{kept}(r_\ell, s_\ell)$ of its $r_\ell$ rows, never the output layer's (the classes) |
//!
//! with $s_\ell = a_\ell s$, $a_\ell$ the layer's allocation ([`SparsityBudget::output`] for the
//! output layer, or [`Target::with_scales`]). A pool of one layer has nothing to allocate: every
//! strategy keeps $\mathrm{kept}(n, s)$ there.
//!
//! ```
//! use lottery::select::budget::{kept, Layout, SparsityBudget, Strategy, Target};
//! use lottery::select::Budget;
//! // The issue-25 example: a group of 10 at s = 0.25 keeps 8 on every path.
//! assert_eq!(kept(10, 0.25), 8);
//! let one = Layout::layer(2, 5);
//! for strategy in [Strategy::Layerwise, Strategy::Global, Strategy::Erk] {
//!     let t = Target::new(SparsityBudget { strategy, ..SparsityBudget::default() }, one.clone());
//!     assert_eq!(t.budget(0.25).unwrap().total(&[10]).unwrap(), Some(8));
//! }
//! // Out-of-range settings are refused in one place.
//! let bad = SparsityBudget { sparsity: 1.0, ..SparsityBudget::default() };
//! assert!(bad.check().unwrap_err().to_string().contains("sparsity"));
//! # let _ = Budget::TopK(1);
//! ```
//!
//! # Guarantees
#![doc = include_str!("../../theory/budget.md")]
//!
//! # References
//! - U. Evci, T. Gale, J. Menick, P. S. Castro, E. Elsen. Rigging the lottery: making all tickets
//!   winners. ICML 2020 (ERK).
//! - J. Frankle, M. Carbin. The lottery ticket hypothesis. ICLR 2019 (per-layer rates, the output
//!   layer at half the rate).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{erk_densities, Budget, Mask, Rule, Scores, Tile};
use crate::names::named_enum;
use crate::{Error, Result};

/// The sparsity `lottery prune` and a sweep's `prune` cells remove by default (an N:M budget
/// removes its own, [`SparsityBudget::default_sparsity`]).
pub const PRUNE_SPARSITY: f64 = 0.8;

/// The kept-count rule: of `n` units at sparsity `s`, keep `round((1 − s)·n)`, at least one and
/// at most `n` (none of an empty group). See the [module docs](self).
///
/// ```
/// use lottery::select::budget::kept;
/// assert_eq!(kept(1000, 0.9), 100);
/// assert_eq!(kept(750, 0.25), 563); // a tie keeps the larger count
/// assert_eq!(kept(5, 0.99), 1); // at least one
/// assert_eq!(kept(0, 0.5), 0);
/// ```
pub fn kept(n: usize, s: f64) -> usize {
    kept_at_density(n, 1.0 - s)
}

/// [`kept`] written with the density $\rho = 1 - s$: `round(ρ·n)`, at least one, at most `n`
/// (ERK's per-layer counts, whose densities are computed as such).
pub fn kept_at_density(n: usize, density: f64) -> usize {
    if n == 0 {
        return 0;
    }
    let k = (density * n as f64).round();
    if k.is_finite() && k >= 1.0 {
        (k as usize).min(n)
    } else {
        1
    }
}

named_enum!(
    /// How a budget is spread over the pooled layers (`strategy`).
    Strategy, "strategy", {
        /// Every pooled layer loses the same fraction.
        Layerwise = "layerwise",
        /// One budget over the pool (one magnitude threshold).
        Global = "global",
        /// Per-layer densities of the Erdős–Rényi-Kernel rule ([`erk_densities`]; Evci et al.
        /// 2020): the pool keeps the requested fraction together, wide layers pruned hardest;
        /// IMP's levels remove `rate_global` of the pool, allocated the same way.
        Erk = "erk",
    }
);

/// `budget`: what a selection keeps or removes whole — single weights (`unstructured`; spelled
/// `layer` by layerwise runs), every row's inputs alike (`row`, per unit), `N:M` (exactly N of
/// every M consecutive inputs of a row), `block:HxW` tiles, or `channel` (whole rows: a unit's
/// incoming weights or a filter, with the next layer's inputs from it).
///
/// ```
/// use lottery::select::budget::Structure;
/// assert_eq!("2:4".parse::<Structure>().unwrap(), Structure::NofM { n: 2, m: 4 });
/// assert_eq!("block:4x4".parse::<Structure>().unwrap(), Structure::Block { h: 4, w: 4 });
/// assert_eq!(Structure::Channel.to_string(), "channel");
/// assert_eq!("layer".parse::<Structure>().unwrap(), Structure::Unstructured);
/// assert!("3:2".parse::<Structure>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Structure {
    /// Any weights (the default).
    #[default]
    Unstructured,
    /// The same count of every row's inputs (per unit: a layerwise run's `row` budget).
    Row,
    /// N of every M consecutive coordinates of a row.
    NofM {
        /// Kept per run.
        n: usize,
        /// Run length.
        m: usize,
    },
    /// Whole `h × w` tiles.
    Block {
        /// Rows of a tile.
        h: usize,
        /// Columns of a tile.
        w: usize,
    },
    /// Whole rows (units, filters) and the next layer's inputs from them.
    Channel,
}

impl Structure {
    /// The spellings, for messages.
    pub const SPELLINGS: &'static str =
        "unstructured (layer), row, N:M (1 <= N <= M), block:HxW (H, W >= 1) or channel";

    /// The spelling of a layerwise run: `layer` for [`Structure::Unstructured`].
    pub fn layerwise_name(self) -> String {
        match self {
            Structure::Unstructured => "layer".into(),
            other => other.to_string(),
        }
    }
}

impl std::str::FromStr for Structure {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::param(
                "budget",
                format!("`{}`: {}", s.escape_debug(), Structure::SPELLINGS),
            )
        };
        let num = |t: &str| t.trim().parse::<usize>().ok().filter(|&v| v >= 1);
        match s {
            "unstructured" | "layer" => return Ok(Structure::Unstructured),
            "row" => return Ok(Structure::Row),
            "channel" => return Ok(Structure::Channel),
            _ => {}
        }
        if let Some(rest) = s.strip_prefix("block:") {
            let (h, w) = rest.split_once('x').ok_or_else(bad)?;
            return match (num(h), num(w)) {
                (Some(h), Some(w)) => Ok(Structure::Block { h, w }),
                _ => Err(bad()),
            };
        }
        let (n, m) = s.split_once(':').ok_or_else(bad)?;
        match (num(n), num(m)) {
            (Some(n), Some(m)) if n <= m => Ok(Structure::NofM { n, m }),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Structure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Structure::Unstructured => f.write_str("unstructured"),
            Structure::Row => f.write_str("row"),
            Structure::NofM { n, m } => write!(f, "{n}:{m}"),
            Structure::Block { h, w } => write!(f, "block:{h}x{w}"),
            Structure::Channel => f.write_str("channel"),
        }
    }
}

impl Serialize for Structure {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Structure {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|e: Error| serde::de::Error::custom(e.to_string()))
    }
}

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

/// The settings of a sparsity budget, as a run configuration holds them (flat keys `sparsity`,
/// `strategy`, `budget`, `budget_output`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SparsityBudget {
    /// Fraction of the pool's weights removed, in $[0, 1)$ (0: no sparsity target; IMP prunes by
    /// its per-level rates).
    pub sparsity: f64,
    /// How the sparsity is spread over the pooled layers.
    pub strategy: Strategy,
    /// What a selection keeps whole.
    #[serde(rename = "budget")]
    pub structure: Structure,
    /// The output layer's sparsity (and IMP's per-level rate for it) as a multiple of the
    /// others', in $[0, 1]$: 1 (default) prunes it alike, 0.5 at half the rate (Frankle &
    /// Carbin's fc 20% / output 10%), 0 leaves it dense.
    #[serde(rename = "budget_output")]
    pub output: f64,
}

impl Default for SparsityBudget {
    /// Sparsity 0.8, layerwise, unstructured, the output layer alike.
    fn default() -> Self {
        SparsityBudget {
            sparsity: 0.8,
            strategy: Strategy::Layerwise,
            structure: Structure::Unstructured,
            output: 1.0,
        }
    }
}

/// The structures a consumer of budgets accepts (a method, a solver).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepts {
    /// `row`.
    pub row: bool,
    /// `N:M`.
    pub n_of_m: bool,
    /// `block:HxW`.
    pub block: bool,
    /// `channel`.
    pub channel: bool,
}

impl Accepts {
    /// Single weights only.
    pub const UNSTRUCTURED: Accepts = Accepts {
        row: false,
        n_of_m: false,
        block: false,
        channel: false,
    };
    /// Single weights, N:M, blocks and channels (every budget of the zoo).
    pub const STRUCTURED: Accepts = Accepts {
        row: false,
        n_of_m: true,
        block: true,
        channel: true,
    };
    /// Every structure (layerwise runs).
    pub const ALL: Accepts = Accepts {
        row: true,
        n_of_m: true,
        block: true,
        channel: true,
    };

    /// Whether `s` is accepted.
    pub fn takes(self, s: Structure) -> bool {
        match s {
            Structure::Unstructured => true,
            Structure::Row => self.row,
            Structure::NofM { .. } => self.n_of_m,
            Structure::Block { .. } => self.block,
            Structure::Channel => self.channel,
        }
    }
}

impl SparsityBudget {
    /// The default sparsity of a command that removes `fallback` unless the structure fixes its
    /// own: an `N:M` budget removes exactly $1 - N/M$.
    pub fn default_sparsity(structure: Structure, fallback: f64) -> f64 {
        match structure {
            Structure::NofM { n, m } => 1.0 - n as f64 / m as f64,
            _ => fallback,
        }
    }

    /// The settings on their own: the sparsity in $[0, 1)$, the output allocation in $[0, 1]$.
    /// A settings fault is refused here and only here, with one line naming the key.
    pub fn check(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.sparsity) {
            return Err(Error::param(
                "sparsity",
                format!("{} is not in [0, 1)", self.sparsity),
            ));
        }
        if !(0.0..=1.0).contains(&self.output) {
            return Err(Error::param(
                "budget_output",
                format!(
                    "{} is not in [0, 1] (the output layer's sparsity as a multiple of the others')",
                    self.output
                ),
            ));
        }
        Ok(())
    }

    /// The settings for a consumer that accepts `accepts` (`who` names it, `takers` lists the
    /// consumers that take the structure, both for the message), with a sparsity target
    /// (`needs_sparsity`: a one-shot method, a layerwise run): the structure is one it takes,
    /// the sparsity is positive, and an N:M budget's sparsity is its own $1 - N/M$.
    pub fn check_for(
        &self,
        who: &str,
        accepts: Accepts,
        needs_sparsity: bool,
        takers: impl FnOnce() -> String,
    ) -> Result<()> {
        self.check()?;
        let s = self.structure;
        if !accepts.takes(s) {
            return Err(Error::param(
                "budget",
                format!("`{s}` is implemented for {}, not {who}", takers()),
            ));
        }
        if needs_sparsity && self.sparsity <= 0.0 {
            return Err(Error::param(
                "sparsity",
                format!(
                    "{who} needs a sparsity in (0, 1) (fraction of the prunable weights removed)"
                ),
            ));
        }
        if let (Structure::NofM { n, m }, true) = (s, self.sparsity > 0.0) {
            let own = Self::default_sparsity(s, 0.0);
            if (self.sparsity - own).abs() > 1e-9 {
                return Err(Error::param(
                    "budget",
                    format!(
                        "`{s}` removes exactly 1 - {n}/{m} = {own}: set --sparsity {own} (it is {})",
                        self.sparsity
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// One layer's budget, resolved: what [`crate::solver::layer`] prunes a `rows × cols` layer to.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum LayerBudget {
    /// $k$ in every row.
    Row(usize),
    /// $K$ over the whole layer, distributed by the solver.
    Layer(usize),
    /// $N$ kept in every group of $M$ consecutive inputs of a row.
    NM {
        /// Kept per group.
        n: usize,
        /// Group size.
        m: usize,
    },
    /// `keep` whole `h × w` blocks.
    Blocks {
        /// Rows of a block.
        h: usize,
        /// Columns of a block.
        w: usize,
        /// Blocks kept.
        keep: usize,
    },
    /// `keep` whole rows (`None`: every row, as for the output layer), and the next layer's
    /// inputs from the removed ones.
    Channels {
        /// Rows kept.
        keep: Option<usize>,
    },
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
        let shared: Vec<bool> = (0..n)
            .map(|g| self.layout.pool[g] && !self.own(g))
            .collect();
        let pooled = shared.iter().filter(|&&p| p).count();
        if self.settings.strategy == Strategy::Erk && pooled > 1 {
            let erk = erk_densities(
                &self.layout.shapes,
                &shared,
                (1.0 - s).clamp(f64::MIN_POSITIVE, 1.0),
            )?;
            for g in (0..n).filter(|&g| shared[g]) {
                rho[g] = erk[g];
            }
        }
        Ok(rho)
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
                let total: usize = (0..n)
                    .filter(|&g| self.layout.pool[g] && !self.own(g))
                    .map(|g| sizes[g])
                    .sum();
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
        let k = (0..counts.len())
            .filter(|&g| self.layout.pool[g] && !self.own(g))
            .map(|g| counts[g])
            .sum::<usize>()
            .max(1);
        self.pooled_with(k, &counts)
    }

    /// `k` chosen together over the pooled groups without an allocation of their own, and
    /// `counts[g]` in each group with one ([`Budget::Pooled`], or [`Budget::Split`]).
    fn pooled_with(&self, k: usize, counts: &[usize]) -> Budget {
        let n = self.layout.len();
        let shared: Vec<bool> = (0..n)
            .map(|g| self.layout.pool[g] && !self.own(g))
            .collect();
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
                let shared: Vec<bool> = (0..n)
                    .map(|g| self.layout.pool[g] && !self.own(g))
                    .collect();
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
                let pooled = shared.iter().filter(|&&p| p).count();
                let rho = if pooled > 1 {
                    erk_densities(
                        &self.layout.shapes,
                        &shared,
                        density.clamp(f64::MIN_POSITIVE, 1.0),
                    )?
                } else {
                    vec![density; n]
                };
                for g in (0..n).filter(|&g| shared[g]) {
                    counts[g] = if pooled > 1 {
                        kept_at_density(sizes[g], rho[g])
                    } else {
                        k
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
