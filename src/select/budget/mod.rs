//! The sparsity budget: one type from a sparsity to the counts a selection [`Rule`](crate::select::Rule) keeps.
//!
//! A budget is a sparsity $s$ (the fraction removed), a **strategy** that spreads it over the
//! pooled layers ([`Strategy`]: each layer alike, one pool, or ERK), a **structure** that says
//! what is kept or removed whole ([`Structure`]: single weights, a row's inputs, N:M runs,
//! blocks, channels), and per-layer **allocations** on top (the output layer at its own rate,
//! or a rate chosen per layer). [`SparsityBudget`] holds those settings and checks them, once,
//! with one message per fault; [`Target`] is a budget over a [`Layout`] (a network's prunable
//! tensors, or one layer) and resolves a sparsity into a selection [`Budget`](crate::select::Budget) — for the zoo's
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
//! | `unstructured`, `erk` | $\mathrm{kept}(n_\ell, 1 - \rho_\ell)$ with ERK's densities $\rho_\ell$ ([`erk_densities`](crate::select::erk_densities)) |
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
#![doc = include_str!("../../../theory/budget.md")]
//!
//! # References
//! - U. Evci, T. Gale, J. Menick, P. S. Castro, E. Elsen. Rigging the lottery: making all tickets
//!   winners. ICML 2020 (ERK).
//! - J. Frankle, M. Carbin. The lottery ticket hypothesis. ICLR 2019 (per-layer rates, the output
//!   layer at half the rate).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::names::named_enum;
use crate::{Error, Result};

mod target;

pub use target::{Channels, Layout, Target};

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
        /// Per-layer densities of the Erdős–Rényi-Kernel rule ([`erk_densities`](crate::select::erk_densities); Evci et al.
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
