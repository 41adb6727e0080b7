//! Dynamic sparse training at constant sparsity: SET (Mocanu et al. 2018) and RigL (Evci et al.
//! 2020). Both start from a random mask with the run's budget — `strategy = "erk"` is RigL's
//! own Erdős–Rényi-Kernel allocation ([`crate::select::erk_densities`]) — and train it with the
//! run's optimizer under that mask. Every `dst_every` ($\Delta T$) iterations before
//! `dst_end`·T ($T_{end}$) the mask is updated by the shared drop-and-grow step
//! [`crate::select::exchange`], layer by layer: each pooled layer $l$ with $k_l$ kept weights
//! drops the $\lfloor f_t k_l\rfloor$ smallest magnitudes and grows as many, with the update
//! fraction cosine-decayed from $\alpha$ = `dst_fraction`:
//! $f_t = \frac{\alpha}{2}\big(1 + \cos(\pi t / T_{end})\big)$.
//!
//! * **RigL** grows the coordinates of largest **dense-gradient** magnitude $|\nabla_w L|$ on the
//!   iteration's minibatch, among those outside the support left by the drop;
//! * **SET** grows uniformly at random among them (seeded by the run's seed and the iteration).
//!
//! As in RigL's reference implementation, an update iteration changes the mask instead of taking
//! an optimizer step on the prunable weights; grown weights start at **zero** (SET's paper draws
//! them at random; RigL's code runs SET with zeros, and so does this one) with zero optimizer
//! moments, and a dropped weight's moments are cleared. Every layer keeps its count exactly, so
//! the sparsity is the same at every step (recorded in the trace: `kept` after each update).
//!
//! With `budget = "block:HxW"` the initial mask is made of whole tiles and whole tiles move
//! ([`crate::select::exchange_tiles`]: the tiles of smallest weight mass dropped, those of
//! largest gradient mass — or random ones — grown). With `budget = "N:M"` the initial mask is
//! N:M and each of a layer's ⌊f·k⌋ swaps happens inside one run of M — the runs whose best
//! outside grow score is largest — so every run keeps N ([`crate::select::exchange_n_of_m`];
//! this rule is this project's: RigL's ⌊f·N⌋ per run would be 0). With `budget = "channel"`
//! whole units move ([`crate::select::exchange_units`]): a unit's weights are its incoming row
//! and its outgoing columns, so a removed unit — whose incoming gradient is exactly zero, its
//! outgoing weights being masked — is scored by the dense gradient of its outgoing weights
//! (zero too when its ReLU is off at the bias: such a unit can only come back at random, SET).

use serde::{Deserialize, Serialize};

use super::MethodSpec;
use crate::{Error, Result};

/// RigL.
pub const RIGL: MethodSpec = MethodSpec::prune(
    "rigl",
    "RigL: constant sparsity, drop the smallest magnitudes, grow the largest dense gradients",
)
.structured();

/// SET.
pub const SET: MethodSpec = MethodSpec::prune(
    "set",
    "SET: constant sparsity, drop the smallest magnitudes, grow at random",
)
.structured();

/// RigL's and SET's settings; fractions of the run's iterations $T$.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// RigL / SET: update the mask every this many iterations ($\Delta T$; 100).
    pub dst_every: usize,
    /// RigL / SET: initial update fraction $\alpha$, cosine-decayed to 0 at `dst_end` (0.3).
    pub dst_fraction: f64,
    /// RigL / SET: no mask updates from this fraction of training on ($T_{end}$; 0.75).
    pub dst_end: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dst_every: 100,
            dst_fraction: 0.3,
            dst_end: 0.75,
        }
    }
}

impl Settings {
    /// The keys.
    pub const KEYS: &'static [&'static str] = &["dst_every", "dst_fraction", "dst_end"];

    /// Each key's range.
    pub fn check(&self) -> Result<()> {
        if self.dst_every == 0 {
            return Err(Error::param("dst_every", "must be >= 1"));
        }
        for (name, r) in [("dst_fraction", self.dst_fraction), ("dst_end", self.dst_end)] {
            if !(0.0..=1.0).contains(&r) {
                return Err(Error::param(name, format!("{r} is not in [0, 1]")));
            }
        }
        Ok(())
    }
}

#[cfg(feature = "torch")]
pub use train::*;

/// The implementation (feature `torch`).
#[cfg(feature = "torch")]
mod train {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use serde_json::json;

    use crate::zoo::train::Ctx;
    use crate::nn::dynamics::{Dynamics, FixedMask};
    use crate::nn::params::Params;
    use crate::nn::phase::{optimizer_kind, Segment};
    use crate::nn::rundir::Summary;
    use crate::nn::target::Target;
    use crate::run::kinds::Method;
    use crate::select::{
        exchange, exchange_n_of_m, exchange_tiles, exchange_units, Exchange, Mask, Random, Scores, Tile,
    };
    use crate::space::SparseVector;
    use crate::Result;

    /// How grown coordinates are chosen.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Growth {
        /// Largest dense-gradient magnitude (RigL).
        Gradient,
        /// Uniformly at random (SET), from this seed and the iteration.
        Random(u64),
    }

    /// When the mask changes and by how much.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct UpdateSchedule {
        /// $\Delta T$.
        pub every: usize,
        /// $\alpha$.
        pub fraction: f64,
        /// $T_{end}$ in iterations.
        pub end: usize,
    }

    impl UpdateSchedule {
        /// The update fraction $f_t$ when iteration `it` (0-based) updates the mask.
        pub fn fraction_at(&self, it: usize) -> Option<f64> {
            (it > 0 && it.is_multiple_of(self.every) && it < self.end).then(|| {
                let c = (std::f64::consts::PI * it as f64 / self.end as f64).cos();
                self.fraction / 2.0 * (1.0 + c)
            })
        }
    }

    /// What one drop-and-grow update moves.
    #[derive(Clone, Debug, PartialEq)]
    pub enum Moves {
        /// Single weights, `counts[g]` per layer ([`exchange`]).
        Weights,
        /// Whole tiles of the layers as matrices, `counts[g]` tiles per layer ([`exchange_tiles`]).
        Tiles(Tile, Vec<(usize, usize)>),
        /// One weight inside each of `counts[g]` runs of `M` per layer, keeping N:M
        /// ([`exchange_n_of_m`]).
        Runs(usize),
        /// Whole units (a row and the next layer's inputs from it), `counts[g]` per layer that
        /// moves ([`exchange_units`]): the layers as matrices, next-layer spans, which layers move.
        Units(Vec<(usize, usize)>, Vec<Option<usize>>, Vec<bool>),
    }

    /// One drop-and-grow update of `x` on `mask`: in every group `counts[g]` smallest magnitudes
    /// are dropped and as many grown by `growth` (at iteration `it`), as single weights, whole tiles
    /// (scored by their $\ell_2$ mass) or swaps inside N:M runs ([`Moves`]); the dropped weights are
    /// zeroed and the grown ones start at zero. `x` must hold its gradients for
    /// [`Growth::Gradient`].
    pub fn drop_and_grow(
        x: &mut Params,
        mask: &Mask,
        counts: &[usize],
        growth: Growth,
        it: usize,
        moves: &Moves,
    ) -> Result<Exchange> {
        let weights = x.to_scores();
        let grow = match growth {
            Growth::Gradient => x.gradients().to_scores(),
            Growth::Random(seed) => {
                let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (it as u64).wrapping_mul(0x9e37_79b9));
                let values = (0..mask.len()).map(|_| rng.gen::<f64>()).collect();
                Scores::from_parts(values, &mask.group_sizes())?
            }
        };
        let e = match moves {
            Moves::Tiles(tile, shapes) => exchange_tiles(mask, &weights, &grow, counts, *tile, shapes)?,
            Moves::Runs(m) => exchange_n_of_m(mask, &weights, &grow, counts, *m)?,
            Moves::Units(shapes, next, _) => {
                exchange_units(mask, &weights, &grow, counts, shapes, next)?
            }
            Moves::Weights => exchange(mask, &weights, &grow, counts)?,
        };
        x.apply_mask(&e.mask);
        Ok(e)
    }

    /// SET and RigL as a [`Dynamics`]: a fixed mask under the run's optimizer between updates.
    pub struct DropGrow {
        target: Target,
        /// What moves: weights, block tiles (`block:HxW`) or swaps inside N:M runs.
        moves: Moves,
        growth: Growth,
        schedule: UpdateSchedule,
        inner: FixedMask,
        updates: usize,
        exchanged: usize,
        kept: Vec<usize>,
        fractions: Vec<f64>,
    }

    impl DropGrow {
        /// The random initial mask at the run's sparsity and budget, applied to `ctx.x`.
        pub fn new(ctx: &Ctx, growth: Growth) -> Result<Self> {
            let (cfg, x) = (ctx.cfg, ctx.x);
            let target = ctx.target.clone();
            let mask = target.select(
                &Random {
                    seed: cfg.seed ^ 0xd57,
                },
                &x.to_scores(),
                target.sparsity(),
            )?;
            let mut p = x.shallow_clone();
            p.apply_mask(&mask);
            let sp = &cfg.methods.dst;
            let end = (sp.dst_end * ctx.iterations as f64).round() as usize;
            Ok(DropGrow {
                moves: match (target.blocks(), target.n_of_m(), target.channels()) {
                    (Some((tile, shapes)), _, _) => Moves::Tiles(tile, shapes),
                    (_, Some((_, m)), _) => Moves::Runs(m),
                    (_, _, Some((shapes, next, moving))) => Moves::Units(shapes, next, moving),
                    _ => Moves::Weights,
                },
                target,
                growth,
                schedule: UpdateSchedule {
                    every: sp.dst_every,
                    fraction: sp.dst_fraction,
                    end,
                },
                inner: FixedMask::new(optimizer_kind(cfg), cfg.weight_decay, x, &mask, vec![])
                    .saving_mask(),
                updates: 0,
                exchanged: 0,
                kept: vec![],
                fractions: vec![],
            })
        }

        fn pooled_count(&self, mask: &Mask) -> usize {
            (0..mask.n_groups())
                .filter(|&g| self.target.pooled(g))
                .map(|g| mask.group_count(g))
                .sum()
        }
    }

    impl Dynamics for DropGrow {
        fn update(&mut self, x: &mut Params, lr: f64, it: usize) -> Result<()> {
            let Some(f) = self.schedule.fraction_at(it) else {
                return self.inner.update(x, lr, it);
            };
            let mask = self.inner.mask();
            let counts: Vec<usize> = (0..mask.n_groups())
                .map(|g| {
                    if !self.target.pooled(g) {
                        return 0;
                    }
                    let units = match &self.moves {
                        // Tiles in the support: a tile is in when its first coordinate is.
                        Moves::Tiles(tile, shapes) => {
                            let start = mask.group_range(g).start;
                            let (r, c) = shapes[g];
                            tile.members(r, c)
                                .iter()
                                .filter(|t| mask.contains(start + t[0]))
                                .count()
                        }
                        // Units alive (rows with a kept weight); the output layer's never move.
                        Moves::Units(shapes, _, moving) => {
                            if !moving[g] {
                                return 0;
                            }
                            let (rows, cols) = shapes[g];
                            let start = mask.group_range(g).start;
                            (0..rows)
                                .filter(|r| {
                                    (start + r * cols..start + (r + 1) * cols).any(|i| mask.contains(i))
                                })
                                .count()
                        }
                        _ => mask.group_count(g),
                    };
                    (f * units as f64).floor() as usize
                })
                .collect();
            let e = drop_and_grow(x, &mask, &counts, self.growth, it, &self.moves)?;
            self.updates += 1;
            self.exchanged += e.grown.len();
            self.kept.push(self.pooled_count(&e.mask));
            self.fractions.push(f);
            self.inner.move_to(x, e.mask);
            Ok(())
        }

        crate::nn::dynamics::fixed_mask_state!(inner);

        fn trace(&self) -> serde_json::Value {
            json!({
                "updates": self.updates,
                "grown": self.exchanged,
                "kept": self.kept,
                "fractions": self.fractions,
            })
        }

        fn load_trace(&mut self, trace: &serde_json::Value) -> Result<()> {
            let usizes = |v: &serde_json::Value| -> Vec<usize> {
                v.as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_u64())
                            .map(|x| x as usize)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            self.updates = trace["updates"].as_u64().unwrap_or(0) as usize;
            self.exchanged = trace["grown"].as_u64().unwrap_or(0) as usize;
            self.kept = usizes(&trace["kept"]);
            self.fractions = trace["fractions"]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
                .unwrap_or_default();
            Ok(())
        }
    }

    /// Train with SET or RigL from the initialization into the run directory.
    pub fn run(ctx: &Ctx) -> Result<(Summary, serde_json::Value)> {
        let cfg = ctx.cfg;
        if !crate::nn::rundir::has_checkpoint(ctx.run_dir) {
            ctx.rewind_to_init()?;
        }
        let growth = match cfg.method {
            Method::Rigl => Growth::Gradient,
            _ => Growth::Random(cfg.seed ^ 0x5e7),
        };
        let mut dynamics = DropGrow::new(ctx, growth)?;
        let (summary, trained) =
            ctx.train_with(&mut dynamics, 0, cfg.lr, &Segment::default(), ctx.run_dir)?;
        Ok((summary, trained.trace))
    }
}
