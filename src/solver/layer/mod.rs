//! Layerwise pruning: every row of a layer is one sparse least-squares problem sharing the
//! quadratic $H$ of [`LayerGram`], solved by the convex layer's own solvers.
//!
//! [`prune_layer`] takes the trained weights $\bar W$ (rows $\times$ inputs), a [`LayerSolver`]
//! and a [`LayerBudget`], and returns the pruned weights with the reconstruction error
//! $\sum_r \frac12(w_r - \bar w_r)^\top H (w_r - \bar w_r)$ relative to
//! $\sum_r \frac12 \bar w_r^\top H \bar w_r$ (the error of removing the layer).
//!
//! The solvers form a registry: each is one file of this folder that declares its name, its
//! one-line doc, its typed settings (defaults and checks; keys prefixed by its name, serialized
//! only when they differ from the default) and its implementation ([`Solve`]); one line of
//! [`layer_solvers!`](self) adds it to [`LayerSolver`], the command line's `--solver` values
//! and help, the settings of a layerwise run and the sweep cells' keys.
//!
//! (`tests/suite/registry.rs` checks that this table names every solver of the registry.)
//!
//! | solver | row budget | layer budget | N:M |
//! |---|---|---|---|
//! | `magnitude` | top-$k$ $\lvert\bar w\rvert$ per row, no update | top-$K$ over the layer | top-$N$ per group |
//! | `omp` | **Batch-OMP** in Gram form (Rubinstein, Zibulevsky & Elad 2008): $\alpha^0 = \bar W H$ for all rows in one product, then per row $O(d\lvert S\rvert)$ per atom | per-row counts from the magnitude ranking | — |
//! | `fcfgs`, `iht`, `htp`, `cosamp`, `niht` | the solver on [`LayerGram::problem`] (thresholding methods start at the magnitude support, refit) | per-row counts from the magnitude ranking | — |
//! | `fw` | Frank-Wolfe (line search, 100 steps) over the $k$-sparse polytope $\{\lVert w\rVert_\infty \le \tau, \lVert w\rVert_1 \le k\tau\}$, $\tau$ = the largest entry of the magnitude refit; then the top-$k$ of the relaxed solution, refit | per-row counts from the magnitude ranking | — |
//! | `obs` | [`Obs`](crate::solver::greedy::Obs) elimination to $k$ | OBC's joint rule: every row's elimination costs, the $P$ cheapest over the layer | eliminate only in groups with more than $N$ left |
//! | `sparsegpt` | column sweep, blocks of 128, mask per block by $w^2/U_{qq}^2$ | threshold per block over the layer | mask chosen every $M$ columns |
//! | `wanda` | top-$k$ of $\lvert\bar w_q\rvert\,\lVert X_q\rVert_2$ per row, no update | over the layer | top-$N$ per group |
//!
//! Rows run in parallel (rayon); results do not depend on the thread count.
//!
//! ```
//! use lottery::problem::{Damping, LayerGram};
//! use lottery::solver::layer::{prune_layer, LayerBudget, LayerSolver};
//! use ndarray::array;
//! // Two correlated inputs and a third independent one; one row, keep 1 weight.
//! let x = array![[1.0, 0.9, 0.0], [0.0, 0.1, 1.0], [1.0, 1.0, 0.5], [0.5, 0.4, -1.0]];
//! let gram = LayerGram::from_inputs(x.view(), Damping::Absolute(1e-3)).unwrap();
//! let w = array![[1.0, 1.0, 0.3]];
//! let mag = prune_layer(&gram, w.view(), LayerSolver::Magnitude, LayerBudget::Row(1)).unwrap();
//! let obs = prune_layer(&gram, w.view(), LayerSolver::Obs, LayerBudget::Row(1)).unwrap();
//! // OBS folds the removed correlated weight into the kept one: far less reconstruction error.
//! assert_eq!(obs.kept, 1);
//! assert!(obs.error < 0.5 * mag.error);
//! ```
//!
//! # Guarantees
#![doc = include_str!("../../../theory/layerwise.md")]
//!
//! # References
//! - E. Frantar, S. P. Singh, D. Alistarh. Optimal Brain Compression. NeurIPS 2022.
//! - E. Frantar, D. Alistarh. SparseGPT: massive language models can be accurately pruned in
//!   one-shot. ICML 2023.
//! - R. Rubinstein, M. Zibulevsky, M. Elad. Efficient implementation of the K-SVD algorithm using
//!   batch orthogonal matching pursuit. Technion CS-2008-08.
//! - R. Benbaki, W. Chen, X. Meng, H. Hazimeh, N. Ponomareva, Z. Zhao, R. Mazumder. Fast as
//!   CHITA: neural network pruning with combinatorial optimization. ICML 2023.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::problem::{FisherQuadratic, LayerGram, LeastSquares, SmoothProblem};
use crate::select::{Budget, Largest, Rule, Scores};
use crate::{Error, Result};

mod channel;
mod fisher;

pub use channel::{prune_blocks, prune_channels};
pub use fisher::{prune_fisher, prune_fisher_with, PrunedFisher};
pub use omp::batch_omp_row;
pub use sparsegpt::sparsegpt;

/// What a solver's file declares for the registry.
#[derive(Clone, Copy)]
pub struct SolverSpec {
    /// The name (`--solver`, `solver = "…"`).
    pub name: &'static str,
    /// One line for `--help` and the docs.
    pub doc: &'static str,
    /// Whether it takes N:M budgets (every solver takes row and layer budgets).
    pub n_of_m: bool,
    /// Whether it runs on the Fisher objective (needs only values, gradients and refits).
    pub fisher: bool,
    /// The implementation.
    pub solve: &'static dyn Solve,
}

impl SolverSpec {
    /// A solver with row and layer budgets only, on the reconstruction objective only.
    pub const fn new(name: &'static str, doc: &'static str, solve: &'static dyn Solve) -> Self {
        SolverSpec {
            name,
            doc,
            n_of_m: false,
            fisher: false,
            solve,
        }
    }

    /// The same solver taking N:M budgets too.
    pub const fn with_n_of_m(mut self) -> Self {
        self.n_of_m = true;
        self
    }

    /// The same solver running on the Fisher objective too.
    pub const fn with_fisher(mut self) -> Self {
        self.fisher = true;
        self
    }
}

impl std::fmt::Debug for SolverSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SolverSpec")
            .field("name", &self.name)
            .field("n_of_m", &self.n_of_m)
            .field("fisher", &self.fisher)
            .finish()
    }
}

/// A layer as a solver receives it.
#[derive(Clone, Copy, Debug)]
pub struct LayerProblem<'a> {
    /// The layer's quadratic.
    pub gram: &'a LayerGram,
    /// Its centred rows $\bar w_r$ (dead inputs zeroed).
    pub center: &'a Array2<f64>,
    /// A row, layer or N:M budget, checked against the layer (N:M only when the spec takes it).
    pub budget: LayerBudget,
    /// The solvers' settings.
    pub settings: &'a SolverSettings,
}

/// A layerwise solver's implementation.
pub trait Solve: Sync {
    /// The pruned rows of the layer.
    fn layer(&self, p: &LayerProblem) -> Result<Array2<f64>>;

    /// Prune one weight vector on its Fisher objective to `k` weights (only when the spec's
    /// `fisher` is true).
    fn fisher(
        &self,
        _q: &FisherQuadratic,
        _k: usize,
        _settings: &SolverSettings,
    ) -> Result<Array1<f64>> {
        Err(Error::Unsupported("this solver needs H itself".into()))
    }
}

/// The settings of a solver that has none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoSettings {}

impl NoSettings {
    /// No keys.
    pub const KEYS: &'static [&'static str] = &[];

    /// Nothing to check.
    pub fn check(&self) -> Result<()> {
        Ok(())
    }
}

/// A solver's settings of one count (at least 1) under one key, serialized only when it is not
/// the default: `count_settings!(doc, "key", field = default)`.
macro_rules! count_settings {
    ($doc:literal, $key:literal, $field:ident = $default:expr) => {
        #[doc = $doc]
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(default)]
        pub struct Settings {
            #[doc = concat!("`", $key, "` (default ", stringify!($default), ").")]
            #[serde(rename = $key, skip_serializing_if = "Settings::at_default")]
            pub $field: usize,
        }

        impl Default for Settings {
            fn default() -> Self {
                Settings { $field: $default }
            }
        }

        impl Settings {
            /// The keys.
            pub const KEYS: &'static [&'static str] = &[$key];

            fn at_default(v: &usize) -> bool {
                *v == $default
            }

            /// At least 1.
            pub fn check(&self) -> $crate::Result<()> {
                if self.$field == 0 {
                    return Err($crate::Error::param($key, "must be >= 1"));
                }
                Ok(())
            }
        }
    };
}
use count_settings;

/// The registry: one line per solver file, `module: [Variant = SPEC, …]` (a file may hold a
/// family, as `thresholding` does). It declares the modules, [`LayerSolver`] (names, parsing
/// with a one-line error that lists them, serde as the name) and [`SolverSettings`] (every
/// file's settings, flattened).
macro_rules! layer_solvers {
    ($($module:ident: [$($variant:ident = $spec:ident),+ $(,)?]),+ $(,)?) => {
        $(pub mod $module;)+

        /// The layerwise solvers: the registry's entries, in its order (see each variant's
        /// spec for what it does).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum LayerSolver {
            $($(
                #[doc = concat!("[`", stringify!($module), "::", stringify!($spec), "`].")]
                $variant,
            )+)+
        }

        impl LayerSolver {
            /// Every solver, in the registry's order.
            pub const ALL: [LayerSolver; [$($(stringify!($variant)),+),+].len()] =
                [$($(LayerSolver::$variant),+),+];

            /// What its file declares.
            pub fn spec(self) -> &'static SolverSpec {
                match self {
                    $($(LayerSolver::$variant => &$module::$spec,)+)+
                }
            }
        }

        /// Every solver's settings, each file's flattened (keys prefixed by the solver or its
        /// family; at their defaults none is serialized, so a layerwise run's settings and
        /// directory name are what they were before the key existed).
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        pub struct SolverSettings {
            $(
                #[doc = concat!("[`", stringify!($module), "::Settings`].")]
                #[serde(flatten)]
                pub $module: $module::Settings,
            )+
        }

        impl SolverSettings {
            /// Every key.
            pub fn keys() -> Vec<&'static str> {
                [$($module::Settings::KEYS),+].concat()
            }

            /// Every file's checks.
            pub fn check(&self) -> Result<()> {
                $(self.$module.check()?;)+
                Ok(())
            }
        }
    };
}

layer_solvers! {
    magnitude: [Magnitude = SPEC],
    omp: [Omp = SPEC],
    fcfgs: [Fcfgs = SPEC],
    thresholding: [Iht = IHT, Niht = NIHT, Htp = HTP, Cosamp = COSAMP],
    fw: [Fw = SPEC],
    obs: [Obs = SPEC],
    sparsegpt: [Sparsegpt = SPEC],
    wanda: [Wanda = SPEC],
}

impl LayerSolver {
    /// Every solver's name, in the registry's order.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|s| s.name()).collect()
    }

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        self.spec().name
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        self.as_str()
    }

    /// The solvers that run on the Fisher objective.
    pub fn fisher_solvers() -> Vec<LayerSolver> {
        Self::ALL
            .iter()
            .copied()
            .filter(|s| s.spec().fisher)
            .collect()
    }

    /// The names of the solvers whose spec passes `keep`, joined for a message.
    pub fn names_where(keep: fn(&SolverSpec) -> bool) -> String {
        let names: Vec<&str> = Self::ALL
            .iter()
            .filter(|s| keep(s.spec()))
            .map(|s| s.name())
            .collect();
        names.join(", ")
    }

    /// The solver called `name`, or a one-line error listing them.
    pub fn from_name(name: &str) -> Result<Self> {
        name.parse()
    }
}

crate::names::by_name!(LayerSolver, "solver", "layerwise solver");

pub use crate::select::budget::LayerBudget;

/// The checks and selections of a resolved layer budget (its counts come from
/// [`crate::select::budget::Target::layer`], the one kept-count rule).
impl LayerBudget {
    pub(crate) fn check(&self, rows: usize, cols: usize) -> Result<()> {
        match *self {
            LayerBudget::Row(k) if k == 0 || k > cols => Err(Error::Budget { k, len: cols }),
            LayerBudget::Layer(k) if k == 0 || k > rows * cols => Err(Error::Budget {
                k,
                len: rows * cols,
            }),
            LayerBudget::NM { n, m } if n == 0 || n > m || !cols.is_multiple_of(m) => {
                Err(Error::param(
                    "budget",
                    format!("{n}:{m} needs 1 <= N <= M and M dividing the {cols} inputs"),
                ))
            }
            LayerBudget::Blocks { .. } | LayerBudget::Channels { .. } => Err(Error::Unsupported(
                format!("{self:?} keeps whole tiles: prune it with prune_blocks or prune_channels"),
            )),
            _ => Ok(()),
        }
    }

    /// Scores grouped for this budget and the matching [`Budget`] of the selection rules: one
    /// group per row (`Row`), one pool (`Layer`), one group per $M$ inputs of a row (`NM`).
    fn selection(&self, scores: ArrayView2<f64>) -> (Scores, Budget) {
        let (rows, cols) = scores.dim();
        match *self {
            LayerBudget::Row(k) => (
                Scores::grouped(scores.rows().into_iter().map(|r| r.to_vec()).collect()),
                Budget::PerGroupK(vec![k; rows]),
            ),
            LayerBudget::Layer(k) => (
                Scores::flat(scores.iter().copied().collect()),
                Budget::TopK(k),
            ),
            LayerBudget::NM { n, m } => {
                let groups: Vec<Vec<f64>> = scores
                    .rows()
                    .into_iter()
                    .flat_map(|r| r.to_vec().chunks(m).map(|c| c.to_vec()).collect::<Vec<_>>())
                    .collect();
                let g = groups.len();
                debug_assert_eq!(g, rows * cols / m);
                (Scores::grouped(groups), Budget::PerGroupK(vec![n; g]))
            }
            LayerBudget::Blocks { .. } | LayerBudget::Channels { .. } => {
                unreachable!("refused by check")
            }
        }
    }

    /// The kept set of a `rows × cols` score matrix (row-major flat indices, through the shared
    /// [`Largest`] rule), as a boolean matrix.
    pub fn keep_largest(&self, scores: ArrayView2<f64>) -> Result<Array2<bool>> {
        let (rows, cols) = scores.dim();
        self.check(rows, cols)?;
        let (sc, budget) = self.selection(scores);
        let mask = Largest.select(&sc, &budget)?;
        let mut keep = Array2::from_elem((rows, cols), false);
        for i in mask.iter() {
            keep[[i / cols, i % cols]] = true;
        }
        Ok(keep)
    }
}

/// A pruned layer.
#[derive(Clone, Debug)]
pub struct PrunedLayer {
    /// Pruned weights (rows × inputs), zero off the kept set.
    pub weights: Array2<f64>,
    /// $\sum_r q_r(w_r)$, the reconstruction error.
    pub error: f64,
    /// The error relative to $\sum_r \frac12 \bar w_r^\top H \bar w_r$.
    pub relative_error: f64,
    /// Nonzero weights kept.
    pub kept: usize,
}

impl PrunedLayer {
    /// The pruned `weights` of a layer whose centre (dead inputs zeroed) is `center`, with their
    /// reconstruction error, relative error and kept count.
    pub fn of(gram: &LayerGram, weights: Array2<f64>, center: ArrayView2<f64>) -> Self {
        let error = reconstruction_error(gram, weights.view(), center);
        let total = 0.5 * (&center * &center.dot(gram.h())).sum();
        let kept = weights.iter().filter(|v| **v != 0.0).count();
        PrunedLayer {
            relative_error: if total > 0.0 { error / total } else { 0.0 },
            error,
            weights,
            kept,
        }
    }
}

/// $\sum_r \frac12 (w_r - \bar w_r)^\top H (w_r - \bar w_r)$ with dead inputs of $\bar w$ zeroed.
pub fn reconstruction_error(gram: &LayerGram, w: ArrayView2<f64>, center: ArrayView2<f64>) -> f64 {
    let mut e = &w - &center;
    for &q in gram.dead() {
        e.column_mut(q).assign(&w.column(q));
    }
    let he = e.dot(gram.h());
    0.5 * (&e * &he).sum()
}

/// Prune a layer: rows of `center` are the trained rows $\bar w_r$ (the solver at its default
/// settings).
pub fn prune_layer(
    gram: &LayerGram,
    center: ArrayView2<f64>,
    solver: LayerSolver,
    budget: LayerBudget,
) -> Result<PrunedLayer> {
    prune_layer_with(gram, center, solver, budget, &SolverSettings::default())
}

/// [`prune_layer`] with the solvers' `settings`.
pub fn prune_layer_with(
    gram: &LayerGram,
    center: ArrayView2<f64>,
    solver: LayerSolver,
    budget: LayerBudget,
    settings: &SolverSettings,
) -> Result<PrunedLayer> {
    let (rows, d) = center.dim();
    if d != gram.dim() {
        return Err(Error::Shape(format!(
            "the layer has {d} inputs but the Gram matrix is {}x{}",
            gram.dim(),
            gram.dim()
        )));
    }
    budget.check(rows, d)?;
    settings.check()?;
    let spec = solver.spec();
    if matches!(budget, LayerBudget::NM { .. }) && !spec.n_of_m {
        return Err(Error::Unsupported(format!(
            "the N:M budget for layerwise {} (use {})",
            spec.name,
            LayerSolver::names_where(|s| s.n_of_m)
        )));
    }
    let c = gram.center_rows(center)?;
    let weights = spec.solve.layer(&LayerProblem {
        gram,
        center: &c,
        budget,
        settings,
    })?;
    Ok(PrunedLayer::of(gram, weights, c.view()))
}

/// Per-row budgets: $k$ each, or for a layer budget the rows' shares of the layer's largest
/// $K$ magnitudes.
fn row_counts(c: &Array2<f64>, budget: LayerBudget) -> Result<Vec<usize>> {
    match budget {
        LayerBudget::Row(k) => Ok(vec![k; c.nrows()]),
        b => {
            let keep = b.keep_largest(c.view())?;
            Ok(keep
                .rows()
                .into_iter()
                .map(|r| r.iter().filter(|v| **v).count())
                .collect())
        }
    }
}

/// The per-row solvers' frame: each row `r` (in parallel; results do not depend on the thread
/// count) gets its count `k` of a row budget, or its share of a layer budget's magnitude ranking,
/// and `solve(r, k)` returns it (a row with no budget is zero).
fn per_row(
    c: &Array2<f64>,
    budget: LayerBudget,
    solve: impl Fn(usize, usize) -> Result<Array1<f64>> + Sync,
) -> Result<Array2<f64>> {
    let (rows, d) = c.dim();
    let counts = row_counts(c, budget)?;
    let out: Vec<Result<Array1<f64>>> = (0..rows)
        .into_par_iter()
        .map(|r| match counts[r] {
            0 => Ok(Array1::zeros(d)),
            k => solve(r, k),
        })
        .collect();
    stack_rows(out, d)
}

/// [`per_row`] with each row's Gram-form problem ([`LayerGram::problem`]), its centre and the
/// layer's step $1/L$, $L = \lambda_{\max}(H)$ with a 1% margin for the power iteration's
/// underestimate (the step of theory/iht_descent.md).
fn per_row_problem(
    p: &LayerProblem,
    solve: impl Fn(&LeastSquares, &Array1<f64>, usize, f64) -> Result<Array1<f64>> + Sync,
) -> Result<Array2<f64>> {
    let step = 1.0 / (1.01 * p.gram.smoothness());
    per_row(p.center, p.budget, |r, k| {
        let row = p.center.row(r);
        solve(&p.gram.problem(row)?, &row.to_owned(), k, step)
    })
}

/// The rows `c` with every weight outside `keep` zeroed (a selection without an update:
/// magnitude, Wanda).
fn kept_values(c: &Array2<f64>, keep: &Array2<bool>) -> Array2<f64> {
    Array2::from_shape_fn(c.dim(), |(r, q)| if keep[[r, q]] { c[[r, q]] } else { 0.0 })
}

/// The magnitude start of the thresholding solvers and Frank-Wolfe: the `k` largest $|w|$,
/// refit on `p`.
fn from_magnitude<P: SmoothProblem>(p: &P, w: &Array1<f64>, k: usize) -> Result<Array1<f64>> {
    let support = crate::select::top_k(w.as_slice().expect("owned"), k);
    p.refit(&support, &Array1::zeros(w.len()))
}

fn by_rows(
    c: &Array2<f64>,
    f: impl Fn(Array1<f64>) -> Result<Array1<f64>> + Sync,
) -> Result<Array2<f64>> {
    let out: Vec<Result<Array1<f64>>> = (0..c.nrows())
        .into_par_iter()
        .map(|r| f(c.row(r).to_owned()))
        .collect();
    stack_rows(out, c.ncols())
}

fn stack_rows(rows: Vec<Result<Array1<f64>>>, d: usize) -> Result<Array2<f64>> {
    let mut out = Array2::zeros((rows.len(), d));
    for (r, row) in rows.into_iter().enumerate() {
        out.row_mut(r).assign(&row?);
    }
    Ok(out)
}

/// $\arg\min\{\frac12(w-\bar w)^\top H(w-\bar w) : \mathrm{supp}(w)\subseteq S\}$:
/// $w_S = \bar w_S + H_{SS}^{-1}H_{S,\bar S}\,\bar w_{\bar S}$.
pub fn refit_quadratic(
    h: &Array2<f64>,
    center: Array1<f64>,
    support: &[usize],
) -> Result<Array1<f64>> {
    let d = center.len();
    let mut x = Array1::zeros(d);
    if support.is_empty() {
        return Ok(x);
    }
    let in_s = {
        let mut v = vec![false; d];
        for &q in support {
            v[q] = true;
        }
        v
    };
    let out: Vec<usize> = (0..d).filter(|&q| !in_s[q]).collect();
    let hss = h.select(Axis(0), support).select(Axis(1), support);
    let hso = h.select(Axis(0), support).select(Axis(1), &out);
    let wo = center.select(Axis(0), &out);
    let rhs = hso.dot(&wo);
    let y = {
        use ndarray_linalg::SolveC;
        hss.solvec(&rhs)
            .map_err(|e| Error::Numerical(format!("refit on {} weights: {e}", support.len())))?
    };
    for (t, &q) in support.iter().enumerate() {
        x[q] = center[q] + y[t];
    }
    Ok(x)
}
