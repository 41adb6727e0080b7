//! The method zoo: every method of `lottery prune`, and the convex methods as network trainers,
//! on one footing — same models, data, run layout and command line (`lottery prune <method>`).
//!
//! # A method is one file
//!
//! Each method family is one file of this folder. Its top half is plain Rust, read by the run
//! layer without libtorch: the methods' [`MethodSpec`]s (name, one-line doc, the budgets they
//! take, whether they need data) and the family's `Settings` (typed, with the papers' defaults
//! and a `check`; serde flattens them into the run's flat keys, so `--set cs_rounds=5` and a
//! sweep's `cs_rounds = 5` are the same setting as ever, and a new key whose default is a no-op
//! leaves every run name as it was). Its bottom half, `mod train` (feature `torch`), is the
//! implementation: a [`crate::nn::dynamics::Dynamics`] trained through
//! [`crate::nn::phase::Phase`], with a `run(ctx)` that the dispatch calls. **One line of
//! [`registry!`](self) adds a file** to [`Method`] (the CLI's values and help, the run hash's
//! prefix, config and sweep-cell validation), to [`Settings`] (the config's keys and checks) and
//! to the dispatch of [`train::run_prune`]. Nothing else lists method names.
//!
//! | method | what it does | reference | file |
//! |---|---|---|---|
//! | `dpf` | forward at $m\odot w$, gradient to the dense $w$, magnitude mask every 16 steps, Zhu–Gupta ramp | Lin et al. 2020 | [`dynamic`] |
//! | `gradual` | Zhu–Gupta cubic schedule of magnitude pruning (`straight_through = true`: pruned weights keep their gradient) | Zhu & Gupta 2017; Gale et al. 2019 | [`dynamic`] |
//! | `supermask` | learned Bernoulli mask over frozen weights, or mask criteria × actions on kept / pruned weights | Zhou et al. 2019 | [`supermask`] |
//! | `edge-popup` | fixed-density supermask: top-$k$ of $\|s\|$ in the forward pass, straight-through scores | Ramanujan et al. 2020 | [`edge_popup`] |
//! | `snip`, `grasp`, `synflow`, `magnitude-init`, `random` | pruning at initialization | Lee et al. 2019; Wang et al. 2020; Tanaka et al. 2020 | [`pai`] |
//! | `oracle` | the planted teacher's support in the student's first units, trained from the initialization (the oracle ticket) | this project | [`pai`], [`crate::nn::planted`] |
//! | `group-lasso` | proximal group lasso on the first layer's input columns, then hard thresholding to the budget at `threshold_at` | Yuan & Lin 2006 | [`group`] |
//! | `continuous` | $w\odot\sigma(\beta s)$, $\beta$ annealed, $\ell_1$ on the mask, rounds with rewinding | Savarese et al. 2020 | [`continuous`] |
//! | `early-bird` | magnitude (or batch-norm channel) masks of the last epochs compared by the fraction of the kept set that changed (or You et al.'s Hamming distance) | You et al. 2020 | [`early_bird`] |
//! | `acdc` | dense warm-up, then sparse phases (top-$k$ magnitude at the start, mask fixed) and dense phases in turn, a final sparse phase; the co-trained dense model is evaluated too | Peste et al. 2021 | [`acdc`] |
//! | `rigl`, `set` | constant sparsity from a random (ERK with `strategy = "erk"`) mask; every `dst_every` steps drop the smallest magnitudes and grow the largest dense gradients (RigL) or at random (SET), cosine-decayed fraction | Evci et al. 2020; Mocanu et al. 2018 | [`dst`] |
//! | `iht`, `sfw`, `md` | the convex layer's IHT step, $k$-sparse Frank-Wolfe vertex and combination, and entropic step ([`crate::solver::step`]) on the network | this project | [`convex`] |
//! | `greedy` | the greedy solvers' growth step ([`crate::solver::step::grow`]) on the network, rounds of growth between which the support trains | this project | [`greedy`] |
//!
//! (`tests/suite/registry.rs` checks that this table names every method of the registry.) Linear mode
//! connectivity is [`crate::nn::lmc`]; the early-phase perturbations and ticket transfer are
//! branches of an IMP level ([`crate::nn::branch::run_branch`]), sharing
//! [`crate::nn::perturb`] with the supermask actions.
//!
//! **Sparsity.** `--sparsity S` is the fraction of the prunable weights removed (the output
//! layer is outside the pool when the preset does not prune it); every count comes from the
//! run's budget ([`crate::select::budget`]: a pool of $N$ keeps $\mathrm{round}((1-S)N)$ under
//! `global`, every pooled layer $\mathrm{round}((1-S)n_l)$ under `layerwise`). Pruning at
//! initialization is global by definition (its scores are compared across layers) under
//! `global` and `layerwise` alike; `strategy = "erk"` fixes its per-layer counts by ERK
//! ([`pai`]).
//!
//! **Layout.** `<runs>/<preset>-<method>-<hash>/` holds `config.toml`, `init.safetensors`, the
//! final sparse network's `mask.safetensors`, `start.safetensors`, `final.safetensors`,
//! `metrics.csv` and `summary.json` (with `method` and the method's `trace`), and for methods
//! with a search phase a `search/` directory (dense training, rounds, …). Every phase
//! checkpoints each epoch and a rerun resumes; a finished run is returned as is.

use serde::{Deserialize, Serialize};

use crate::select::budget::Accepts;
pub use crate::solver::layer::NoSettings;
use crate::Result;

#[cfg(feature = "torch")]
pub mod cells;
#[cfg(feature = "torch")]
pub mod train;

/// What a method's file declares for the registry.
#[derive(Clone, Copy, Debug)]
pub struct MethodSpec {
    /// The name (`lottery prune <name>`, `method = "<name>"`, the run name's middle part).
    pub name: &'static str,
    /// One line for `--help` and the docs.
    pub doc: &'static str,
    /// The structured budgets it takes besides single weights.
    pub accepts: Accepts,
    /// Whether it runs without data (`--dataset none`).
    pub data_free: bool,
    /// Whether it is a method of `lottery prune` (IMP and LMC are commands of their own).
    pub prune: bool,
}

impl MethodSpec {
    /// A `lottery prune` method that needs data and takes single weights only.
    pub const fn prune(name: &'static str, doc: &'static str) -> Self {
        MethodSpec {
            name,
            doc,
            accepts: Accepts::UNSTRUCTURED,
            data_free: false,
            prune: true,
        }
    }

    /// The same method taking the zoo's structured budgets (N:M, blocks, channels).
    pub const fn structured(mut self) -> Self {
        self.accepts = Accepts::STRUCTURED;
        self
    }

    /// The same method running without data too.
    pub const fn data_free(mut self) -> Self {
        self.data_free = true;
        self
    }
}

/// IMP (`lottery imp`; [`crate::nn::imp`]): a command of its own, with every structured budget.
pub const IMP: MethodSpec = MethodSpec {
    name: "imp",
    doc: "iterative magnitude pruning with rewinding (lottery imp)",
    accepts: Accepts::STRUCTURED,
    data_free: false,
    prune: false,
};

/// Linear mode connectivity (`lottery lmc`; [`crate::nn::lmc`]): a command of its own.
pub const LMC: MethodSpec = MethodSpec {
    name: "lmc",
    doc: "linear mode connectivity: instability against the rewind iteration (lottery lmc)",
    accepts: Accepts::UNSTRUCTURED,
    data_free: false,
    prune: false,
};

/// The registry: one line per method file, `module: [Variant = SPEC, …]`. It declares the
/// modules, [`Method`] (IMP and LMC first, then the files' methods in this order: names, parsing
/// with a one-line error that lists them, serde as the name), [`Settings`] (every file's settings,
/// flattened into the run's config) and `families!`, which hands the file list to the dispatch
/// ([`train::run_prune`]).
macro_rules! registry {
    ($($module:ident: [$($variant:ident = $spec:ident),+ $(,)?]),+ $(,)?) => {
        registry!(@with ($) $($module: [$($variant = $spec),+]),+);
    };
    (@with ($d:tt) $($module:ident: [$($variant:ident = $spec:ident),+]),+) => {
        $(pub mod $module;)+

        /// What a run does: IMP, linear mode connectivity, or a method of `lottery prune` — the
        /// registry's entries, each documented by its spec.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Method {
            /// [`IMP`].
            Imp,
            /// [`LMC`].
            Lmc,
            $($(
                #[doc = concat!("[`", stringify!($module), "::", stringify!($spec), "`].")]
                $variant,
            )+)+
        }

        impl Method {
            /// Every method, IMP and LMC first, then the registry's order.
            pub const ALL: [Method; 2 + [$($(stringify!($variant)),+),+].len()] =
                [Method::Imp, Method::Lmc, $($(Method::$variant),+),+];

            /// What its file declares.
            pub const fn spec(self) -> &'static MethodSpec {
                match self {
                    Method::Imp => &IMP,
                    Method::Lmc => &LMC,
                    $($(Method::$variant => &$module::$spec,)+)+
                }
            }

            /// The file (module) that implements it; `None` for IMP and LMC.
            pub fn family(self) -> Option<&'static str> {
                match self {
                    Method::Imp | Method::Lmc => None,
                    $($(Method::$variant => Some(stringify!($module)),)+)+
                }
            }
        }

        /// Every method file's settings, flattened into the run's config (the keys the files
        /// declare; defaults from the files, so the presets do not repeat them).
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        pub struct Settings {
            $(
                #[doc = concat!("[`", stringify!($module), "::Settings`].")]
                #[serde(flatten)]
                pub $module: $module::Settings,
            )+
        }

        impl Settings {
            /// Every file's checks (each key's own range; one line naming the key).
            pub fn check(&self) -> Result<()> {
                $(self.$module.check()?;)+
                Ok(())
            }

            /// Every file's keys.
            pub fn keys() -> Vec<&'static str> {
                [$($module::Settings::KEYS),+].concat()
            }
        }

        /// Calls `callback!(module, …)` with every method file of the registry.
        #[allow(unused_macros)]
        macro_rules! families {
            ($d callback:ident) => {
                $d callback!($($module),+)
            };
        }
        #[allow(unused_imports)]
        pub(crate) use families;
    };
}

registry! {
    dynamic: [Dpf = DPF, Gradual = GRADUAL],
    supermask: [Supermask = SUPERMASK],
    edge_popup: [EdgePopup = EDGE_POPUP],
    pai: [Snip = SNIP, Grasp = GRASP, Synflow = SYNFLOW, MagnitudeInit = MAGNITUDE_INIT, Random = RANDOM, Oracle = ORACLE],
    continuous: [Continuous = CONTINUOUS],
    early_bird: [EarlyBird = EARLY_BIRD],
    convex: [Iht = IHT, Sfw = SFW, Md = MD],
    greedy: [Greedy = GREEDY],
    group: [GroupLasso = GROUP_LASSO],
    acdc: [Acdc = ACDC],
    dst: [Rigl = RIGL, Set = SET],
}

impl Method {
    /// Every value's name, IMP and LMC first.
    pub const NAMES: &'static [&'static str] = &{
        let mut names = [""; Method::ALL.len()];
        let mut i = 0;
        while i < Method::ALL.len() {
            names[i] = Method::ALL[i].spec().name;
            i += 1;
        }
        names
    };

    /// The name as written in TOML, on the command line and in run names.
    pub fn as_str(self) -> &'static str {
        self.spec().name
    }

    /// The methods of `lottery prune`.
    pub fn prune_methods() -> impl Iterator<Item = Method> {
        Method::ALL.into_iter().filter(|m| m.spec().prune)
    }

    /// The methods of `lottery prune` (all but `imp` and `lmc`).
    pub fn is_prune(self) -> bool {
        self.spec().prune
    }

    /// Methods that need no data (they run with `--dataset none`).
    pub fn is_data_free(self) -> bool {
        self.spec().data_free
    }

    /// The names of the methods that take structure `s`, for a message (a structure no method
    /// takes is a layerwise run's: `row`).
    pub fn takers(s: crate::select::budget::Structure) -> String {
        let names: Vec<&str> = Method::ALL
            .iter()
            .filter(|m| m.spec().accepts.takes(s))
            .map(|m| m.as_str())
            .collect();
        if names.is_empty() {
            return format!("layerwise runs only (`lottery prune layerwise --budget {s}`)");
        }
        names.join(", ")
    }
}

crate::names::by_name!(Method, "method", "method");
