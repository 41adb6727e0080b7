//! Early-bird tickets (You et al. 2020): the mask a magnitude criterion would draw stabilizes
//! long before training ends, so draw it then and train only the ticket.
//!
//! During ordinary dense training, every `eb_every` iterations (default: one epoch) the mask at
//! the target sparsity is computed and kept in a queue of the last `eb_window` (5) masks. Once
//! the queue is full, the distance of the newest mask to each older one is computed; when all
//! are at most `eb_threshold` (0.1) the ticket is drawn and the search stops.
//!
//! The distance (`eb_distance`) is by default the fraction of the **kept set** that changed,
//! $1 - |M \cap M'|/\max(|M|,|M'|)$ ([`crate::select::Mask::kept_distance`]). You et al.
//! define it as the Hamming distance over all coordinates (`eb_distance = "all"`), which suits
//! their channel masks at 30–70% sparsity but is vacuous at high sparsity: two masks of density
//! $\rho$ differ in at most $2\rho$ of the coordinates, so at 95% sparsity every pair is within
//! 0.1 and the ticket is drawn at the first check whatever the masks do. The ticket then trains on from
//! its early-bird weights (masked) for the rest of the budget, continuing the learning-rate
//! schedule and data order. If no ticket is drawn the mask at the end of training is used and
//! the trace says so.
//!
//! Variants (`eb_variant`):
//! * `unstructured` — weight magnitudes, the run's strategy (layerwise or global);
//! * `channel` — network slimming: an $\ell_1$ penalty `eb_lambda` $\sum|\gamma|$ on the
//!   batch-norm scales during the search, masks over channels by $|\gamma|$ (global), and the
//!   ticket removes whole output channels of the conv layers (their weights and their batch-norm
//!   scale and shift). `--sparsity` is then the fraction of **channels** removed. Only models
//!   with batch norm (`resnet20`, `vgg16`).
//!
//! The trace in `summary.json` holds the detection iteration (`drawn_at`, or null), whether a
//! ticket was drawn, and every distance computed (`distances`: `[iteration, max distance]`).

use serde::{Deserialize, Serialize};

use super::MethodSpec;
use crate::names::named_enum;
use crate::{Error, Result};

/// Early-bird tickets.
pub const EARLY_BIRD: MethodSpec = MethodSpec::prune(
    "early-bird",
    "early-bird tickets: the mask drawn when the last epochs' masks agree (You et al.)",
);

named_enum!(
    /// Early-bird ticket variant.
    EbVariant, "eb_variant", {
        /// Weight magnitudes.
        Unstructured = "unstructured",
        /// Batch-norm scales (channels).
        Channel = "channel",
    }
);

named_enum!(
    /// How early-bird compares two masks.
    EbDistance, "eb_distance", {
        /// $1 - |M \cap M'|/\max(|M|, |M'|)$: the fraction of the kept set that changed
        /// ([`crate::select::Mask::kept_distance`]); meaningful at every sparsity.
        Kept = "kept",
        /// Hamming distance over all coordinates (You et al. 2020's definition, made for channel
        /// masks at moderate sparsity; two masks of density $\rho$ are at most $2\rho$ apart, so
        /// at high sparsity every pair passes the threshold).
        All = "all",
    }
);

/// Early-bird tickets; keys `eb_every`, `eb_window`, `eb_threshold`, `eb_variant`,
/// `eb_distance`, `eb_lambda`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Compare masks every this many iterations (0 = one epoch).
    #[serde(rename = "eb_every")]
    pub every: usize,
    /// Number of recent masks compared (5).
    #[serde(rename = "eb_window")]
    pub window: usize,
    /// Draw the ticket when every distance is at most this (0.1).
    #[serde(rename = "eb_threshold")]
    pub threshold: f64,
    /// `unstructured` (weight magnitudes; default) or `channel` (batch-norm scales).
    #[serde(rename = "eb_variant")]
    pub variant: EbVariant,
    /// Distance between masks: `kept` (fraction of the kept set that changed; default) or `all`
    /// (Hamming over all coordinates, You et al.'s original definition for channel masks).
    #[serde(rename = "eb_distance")]
    pub distance: EbDistance,
    /// Channel variant: $\ell_1$ penalty on batch-norm scales (network slimming; 1e-4).
    #[serde(rename = "eb_lambda")]
    pub lambda: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            every: 0,
            window: 5,
            threshold: 0.1,
            variant: EbVariant::Unstructured,
            distance: EbDistance::Kept,
            lambda: 1e-4,
        }
    }
}

impl Settings {
    /// The keys.
    pub const KEYS: &'static [&'static str] = &[
        "eb_every",
        "eb_window",
        "eb_threshold",
        "eb_variant",
        "eb_distance",
        "eb_lambda",
    ];

    /// Each key's range.
    pub fn check(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(Error::param(
                "eb_threshold",
                format!("{} is not in [0, 1]", self.threshold),
            ));
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(Error::param("eb_lambda", format!("{} must be >= 0", self.lambda)));
        }
        if self.window == 0 {
            return Err(Error::param("eb_window", "must be >= 1"));
        }
        Ok(())
    }
}

#[cfg(feature = "torch")]
pub use train::*;

/// The implementation (feature `torch`).
#[cfg(feature = "torch")]
mod train {
    use std::collections::VecDeque;

    use serde_json::json;
    use tch::{Kind, Tensor};

    use crate::zoo::train::Ctx;
    use crate::nn::dynamics::{Dynamics, FixedMask, Flow};
    use crate::nn::optim::OptimizerKind;
    use crate::nn::params::{self, Params};
    use crate::nn::phase;
    use crate::nn::rundir::{self, finished, mask_from_state, mask_state, Summary};
    use crate::nn::target::Target;
    use crate::run::kinds::{EbDistance, EbVariant};
    use crate::select::{Budget, Largest, Mask, Rule, Scores};
    use crate::space::SparseVector;
    use crate::{Error, Result};

    /// The batch-norm scales and shifts that go with the prunable conv layers.
    #[derive(Debug)]
    pub struct Channels {
        /// (prunable group, scale, shift, scale name, shift name).
        pairs: Vec<(usize, Tensor, Tensor, String, String)>,
        lambda: f64,
    }

    impl Channels {
        /// From the network's (conv, batch norm) pairs.
        pub fn of(ctx: &Ctx) -> Result<Self> {
            let vars = ctx.vs.variables();
            let pairs: Vec<_> = ctx
                .net
                .channel_scales()
                .into_iter()
                .map(|(conv, bn)| {
                    let g = ctx
                        .x
                        .names
                        .iter()
                        .position(|n| *n == conv)
                        .expect("prunable");
                    let shift = bn.replace(".weight", ".bias");
                    (
                        g,
                        vars[&bn].shallow_clone(),
                        vars[&shift].shallow_clone(),
                        bn,
                        shift,
                    )
                })
                .collect();
            if pairs.is_empty() {
                return Err(Error::param(
                    "eb_variant",
                    format!(
                        "the channel variant needs batch norm ({} has none; use resnet20 or vgg16)",
                        ctx.cfg.model
                    ),
                ));
            }
            Ok(Channels {
                pairs,
                lambda: ctx.cfg.methods.early_bird.lambda,
            })
        }

        fn scores(&self) -> Scores {
            Params::new(
                self.pairs.iter().map(|p| p.3.clone()).collect(),
                self.pairs.iter().map(|p| p.1.shallow_clone()).collect(),
            )
            .to_scores()
        }

        /// Weight mask (whole output channels) and the masks of the batch-norm scales and shifts.
        fn expand(&self, channels: &Mask, x: &Params) -> Result<(Mask, Vec<(String, Tensor)>)> {
            let sizes = x.group_sizes();
            let mut bytes = vec![1u8; sizes.iter().sum()];
            let offsets: Vec<usize> = sizes
                .iter()
                .scan(0, |acc, &n| {
                    let o = *acc;
                    *acc += n;
                    Some(o)
                })
                .collect();
            let mut rest = Vec::new();
            for (c, (g, scale, _, sname, bname)) in self.pairs.iter().enumerate() {
                let ch = channels.group_bytes(c);
                let per = sizes[*g] / ch.len();
                for (o, &b) in ch.iter().enumerate() {
                    if b == 0 {
                        bytes[offsets[*g] + o * per..offsets[*g] + (o + 1) * per].fill(0);
                    }
                }
                let m = Tensor::from_slice(&ch)
                    .to_kind(scale.kind())
                    .to_device(scale.device());
                rest.push((sname.clone(), m.shallow_clone()));
                rest.push((bname.clone(), m));
            }
            Ok((Mask::from_bytes(&bytes, &sizes)?, rest))
        }
    }

    /// Dense training that watches the masks and stops when they settle.
    #[derive(Debug)]
    pub struct EarlyBird {
        inner: FixedMask,
        target: Target,
        goal: f64,
        every: usize,
        window: usize,
        threshold: f64,
        distance: EbDistance,
        history: VecDeque<Mask>,
        distances: Vec<(usize, f64)>,
        drawn: Option<usize>,
        channels: Option<Channels>,
        sizes: Vec<usize>,
    }

    impl EarlyBird {
        /// The search over `ctx` with optimizer `kind`.
        pub fn new(ctx: &Ctx, kind: OptimizerKind) -> Result<Self> {
            let cfg = ctx.cfg;
            let channels = if cfg.methods.early_bird.variant == EbVariant::Channel {
                Some(Channels::of(ctx)?)
            } else {
                None
            };
            let per_epoch = (ctx.data.train_len() / cfg.batch).max(1);
            let sizes = match &channels {
                Some(c) => c.scores().group_sizes(),
                None => ctx.x.group_sizes(),
            };
            let full = Mask::full(&ctx.x.group_sizes());
            Ok(EarlyBird {
                inner: FixedMask::new(kind, cfg.weight_decay, ctx.x, &full, vec![]),
                target: ctx.target.clone(),
                goal: ctx.target.sparsity(),
                every: if cfg.methods.early_bird.every > 0 {
                    cfg.methods.early_bird.every
                } else {
                    per_epoch
                },
                window: cfg.methods.early_bird.window,
                threshold: cfg.methods.early_bird.threshold,
                distance: cfg.methods.early_bird.distance,
                history: VecDeque::new(),
                distances: Vec::new(),
                drawn: None,
                channels,
                sizes,
            })
        }

        /// The mask the criterion draws now (weights, or channels for the channel variant).
        fn draw(&self, x: &Params) -> Result<Mask> {
            match &self.channels {
                Some(c) => {
                    let s = c.scores();
                    // The channels' count by the budget's one rule.
                    let keep = crate::select::budget::kept(s.len(), self.goal);
                    Largest.select(&s, &Budget::TopK(keep))
                }
                None => self.target.select(&Largest, &x.to_scores(), self.goal),
            }
        }

        /// The ticket: weight mask and the masks of other variables.
        pub fn ticket(&self, x: &Params) -> Result<(Mask, Vec<(String, Tensor)>)> {
            let m = match self.history.back() {
                Some(m) => m.clone(),
                None => self.draw(x)?,
            };
            match &self.channels {
                Some(c) => c.expand(&m, x),
                None => Ok((m, vec![])),
            }
        }
    }

    impl Dynamics for EarlyBird {
        fn penalty(&self) -> Option<Tensor> {
            let c = self.channels.as_ref()?;
            let l1 = c
                .pairs
                .iter()
                .map(|p| p.1.abs().sum(Kind::Float))
                .reduce(|a, b| a + b)?;
            Some(l1 * c.lambda)
        }

        fn update(&mut self, x: &mut Params, lr: f64, it: usize) -> Result<()> {
            self.inner.update(x, lr, it)
        }

        fn after(&mut self, done: usize, x: &mut Params) -> Result<Flow> {
            if !done.is_multiple_of(self.every) || self.drawn.is_some() {
                return Ok(Flow::Continue);
            }
            let m = self.draw(x)?;
            self.history.push_back(m);
            while self.history.len() > self.window {
                self.history.pop_front();
            }
            if self.history.len() == self.window {
                let newest = self.history.back().expect("non-empty");
                let mut worst: f64 = 0.0;
                for older in self.history.iter().take(self.window - 1) {
                    worst = worst.max(match self.distance {
                        EbDistance::Kept => newest.kept_distance(older)?,
                        EbDistance::All => newest.normalized_hamming(older)?,
                    });
                }
                self.distances.push((done, worst));
                if worst <= self.threshold {
                    self.drawn = Some(done);
                    return Ok(Flow::Stop);
                }
            }
            Ok(Flow::Continue)
        }

        fn mask(&self) -> Mask {
            Mask::full(&self.inner.mask().group_sizes())
        }

        fn state(&self) -> Vec<(String, Tensor)> {
            let mut s: Vec<(String, Tensor)> = self
                .inner
                .state()
                .into_iter()
                .map(|(k, t)| (format!("inner.{k}"), t))
                .collect();
            for (h, m) in self.history.iter().enumerate() {
                s.extend(
                    mask_state(m)
                        .into_iter()
                        .map(|(k, t)| (format!("history{h}.{k}"), t)),
                );
            }
            s
        }

        fn load_state(&mut self, named: &[(String, Tensor)]) -> Result<()> {
            let part = |p: &str| -> Vec<(String, Tensor)> {
                named
                    .iter()
                    .filter_map(|(n, t)| {
                        n.strip_prefix(p)
                            .map(|k| (k.to_string(), t.shallow_clone()))
                    })
                    .collect()
            };
            self.inner.load_state(&part("inner."))?;
            self.history.clear();
            for h in 0..self.window {
                match mask_from_state(&part(&format!("history{h}.")), &self.sizes)? {
                    Some(m) => self.history.push_back(m),
                    None => break,
                }
            }
            Ok(())
        }

        fn trace(&self) -> serde_json::Value {
            json!({
                "every": self.every,
                "window": self.window,
                "threshold": self.threshold,
                "distance": self.distance.as_str(),
                "drawn": self.drawn.is_some(),
                "drawn_at": self.drawn,
                "distances": self.distances,
            })
        }

        fn load_trace(&mut self, trace: &serde_json::Value) -> Result<()> {
            self.drawn = trace["drawn_at"].as_u64().map(|v| v as usize);
            self.distances = serde_json::from_value(trace["distances"].clone()).unwrap_or_default();
            Ok(())
        }
    }

    /// Run `lottery prune early-bird`.
    pub fn run(ctx: &Ctx) -> Result<(Summary, serde_json::Value)> {
        let cfg = ctx.cfg;
        let search = ctx.search_dir()?;
        let trace_path = search.join("early_bird.json");
        let kind = phase::optimizer_kind(cfg);
        let mut eb = EarlyBird::new(ctx, kind)?;
        let (trace, masks) = if finished(&search)?.is_some() && trace_path.exists() {
            rundir::verify(&trace_path)?;
            let text = std::fs::read_to_string(&trace_path).map_err(|e| Error::Io {
                path: trace_path.clone(),
                source: e,
            })?;
            let trace: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Format {
                path: trace_path.clone(),
                reason: e.to_string(),
            })?;
            params::assign(ctx.vs, &rundir::load_tensors(&search.join(rundir::FINAL))?)?;
            let mask = rundir::load_mask(&search.join("ticket.safetensors"), ctx.x)?;
            let rest = match &eb.channels {
                Some(c) => {
                    let ch = rundir::load_tensors(&search.join("channels.safetensors"))?;
                    let bytes: Vec<u8> = ch
                        .iter()
                        .flat_map(|(_, t)| Vec::<u8>::try_from(t).unwrap_or_default())
                        .collect();
                    let chm = Mask::from_bytes(&bytes, &c.scores().group_sizes())?;
                    c.expand(&chm, ctx.x)?.1
                }
                None => vec![],
            };
            (trace, (mask, rest))
        } else {
            if !rundir::has_checkpoint(&search) {
                ctx.rewind_to_init()?;
            }
            let (_, trained) =
                ctx.train_with(&mut eb, 0, cfg.lr, &phase::Segment::default(), &search)?;
            let (mask, rest) = eb.ticket(ctx.x)?;
            rundir::save_mask(&search.join("ticket.safetensors"), ctx.x, &mask)?;
            if eb.channels.is_some() {
                let chm = eb.history.back().cloned().unwrap_or(eb.draw(ctx.x)?);
                rundir::save_tensors(&search.join("channels.safetensors"), &mask_state(&chm))?;
            }
            let mut trace = trained.trace;
            trace["stopped_at"] = json!(trained.stopped_at);
            rundir::write_file(&trace_path, trace.to_string().as_bytes())?;
            (trace, (mask, rest))
        };
        let (mask, rest) = masks;
        let start = trace["drawn_at"]
            .as_u64()
            .map(|v| v as usize)
            .unwrap_or(ctx.iterations);
        if !rundir::has_checkpoint(ctx.run_dir) {
            let mut x = ctx.x.shallow_clone();
            x.apply_mask(&mask);
            let vars = ctx.vs.variables();
            tch::no_grad(|| {
                for (name, m) in &rest {
                    let _ = vars[name].shallow_clone().f_mul_(m);
                }
            });
        }
        let mut fixed = FixedMask::new(kind, cfg.weight_decay, ctx.x, &mask, rest);
        let (summary, _) = ctx.train_with(
            &mut fixed,
            0,
            cfg.lr,
            &phase::Segment {
                start,
                snapshots: vec![],
                ..phase::Segment::default()
            },
            ctx.run_dir,
        )?;
        Ok((summary, trace))
    }
}
