//! Continuous sparsification (Savarese, Silva & Maire 2020).
//!
//! Each prunable weight gets a score $s_i$ and the network computes with
//! $w_i\,\sigma(\beta s_i)$; weights and scores are trained together on
//! $L + \lambda\sum_i \sigma(\beta s_i)$ (`cs_lambda`), the scores with Adam at `score_lr`, while
//! $\beta$ grows geometrically from 1 to $\beta_T$ (`cs_beta`, 200) over the round, so that the
//! soft mask hardens into the indicator of $s > 0$. Scores start at $s_0$ (`cs_init`). After each of
//! the `cs_rounds` rounds the weights are rewound to their initialization and the scores reset
//! to $\min(\beta_T s, s_0)$ (kept scores start the next round from $s_0$, removed ones stay
//! removed unless they climb back). The ticket is $\{s > 0\}$; to meet `--sparsity` exactly the
//! kept set is the top $1 - S$ of the scores (by value), and the natural size $|\{s > 0\}|$ is
//! recorded in the trace. The ticket is then trained from the initialization.
//!
//! Layout: `search/round_<r>/` per round (resumable; `scores.safetensors` marks it done).

use serde::{Deserialize, Serialize};

use super::MethodSpec;
use crate::{Error, Result};

/// Continuous sparsification.
pub const CONTINUOUS: MethodSpec = MethodSpec::prune(
    "continuous",
    "continuous sparsification: w * sigmoid(beta s), beta annealed, rounds with rewinding",
);

/// Continuous sparsification; keys `cs_rounds`, `cs_beta`, `cs_lambda`, `cs_init`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Rounds (the last one draws the ticket; 3).
    #[serde(rename = "cs_rounds")]
    pub rounds: usize,
    /// Final temperature $\beta$ of each round (200).
    #[serde(rename = "cs_beta")]
    pub beta: f64,
    /// $\lambda$ of the penalty $\lambda\sum_i\sigma(\beta s_i)$ (1e-6).
    #[serde(rename = "cs_lambda")]
    pub lambda: f64,
    /// Initial score $s_0$ (0.5).
    #[serde(rename = "cs_init")]
    pub init: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            rounds: 3,
            beta: 200.0,
            lambda: 1e-6,
            init: 0.5,
        }
    }
}

impl Settings {
    /// The keys.
    pub const KEYS: &'static [&'static str] = &["cs_rounds", "cs_beta", "cs_lambda", "cs_init"];

    /// Each key's range.
    pub fn check(&self) -> Result<()> {
        if self.rounds == 0 {
            return Err(Error::param("cs_rounds", "must be >= 1"));
        }
        if !(self.beta.is_finite() && self.beta > 0.0) {
            return Err(Error::param("cs_beta", format!("{} must be > 0", self.beta)));
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(Error::param("cs_lambda", format!("{} must be >= 0", self.lambda)));
        }
        if !self.init.is_finite() {
            return Err(Error::param("cs_init", "must be finite"));
        }
        Ok(())
    }
}

#[cfg(feature = "torch")]
pub use train::*;

/// The implementation (feature `torch`).
#[cfg(feature = "torch")]
mod train {
    use serde_json::json;
    use tch::{Kind, Tensor};

    use crate::zoo::train::Ctx;
    use crate::nn::dynamics::{indexed, load_indexed, Dynamics, LearnedScores};
    use crate::nn::optim::Optimizer;
    use crate::nn::params::Params;
    use crate::nn::phase;
    use crate::nn::rundir::{self, finished, Summary};
    use crate::select::{by_value, Largest, Mask, Scores};
    use crate::space::SparseVector;
    use crate::{Error, Result};

    /// One round of continuous sparsification.
    #[derive(Debug)]
    pub struct Continuous {
        weights: Vec<Tensor>,
        /// The scores $s$.
        pub scores: LearnedScores,
        opt_w: Optimizer,
        beta_final: f64,
        len: usize,
        lambda: f64,
        t: usize,
    }

    impl Continuous {
        /// A round of `len` iterations over `ctx`'s prunable weights, from `scores`.
        pub fn new(ctx: &Ctx, scores: Vec<Tensor>, len: usize) -> Self {
            Continuous {
                weights: ctx.x.tensors.iter().map(Tensor::shallow_clone).collect(),
                opt_w: Optimizer::new(
                    phase::optimizer_kind(ctx.cfg),
                    ctx.cfg.weight_decay,
                    &ctx.x.tensors,
                ),
                scores: LearnedScores::new(ctx.x.names.clone(), scores, ctx.cfg.score_lr, "s."),
                beta_final: ctx.cfg.methods.continuous.beta,
                len: len.max(1),
                lambda: ctx.cfg.methods.continuous.lambda,
                t: 0,
            }
        }

        /// $\beta_t = \beta_T^{t/T}$.
        pub fn beta(&self) -> f64 {
            self.beta_final.powf(self.t as f64 / self.len as f64)
        }

        /// The scores on the host.
        pub fn score_values(&self) -> Scores {
            self.scores.values()
        }
    }

    impl Dynamics for Continuous {
        fn forward_weights(&self, _train: bool) -> Option<Vec<Tensor>> {
            let beta = self.beta();
            Some(
                self.weights
                    .iter()
                    .zip(&self.scores.tensors)
                    .map(|(w, s)| w * (s * beta).sigmoid())
                    .collect(),
            )
        }

        fn penalty(&self) -> Option<Tensor> {
            let beta = self.beta();
            let total = self
                .scores
                .tensors
                .iter()
                .map(|s| (s * beta).sigmoid().sum(Kind::Float))
                .reduce(|a, b| a + b)?;
            Some(total * self.lambda)
        }

        fn update(&mut self, x: &mut Params, lr: f64, _it: usize) -> Result<()> {
            let none = (0..x.tensors.len())
                .map(|_| None)
                .collect::<Vec<Option<Tensor>>>();
            self.opt_w.step(&mut x.tensors, &none, lr);
            self.scores.step();
            self.t += 1;
            Ok(())
        }

        /// The natural ticket $\{s > 0\}$.
        fn mask(&self) -> Mask {
            let v = self.score_values();
            let bytes: Vec<u8> = v.values().iter().map(|&s| u8::from(s > 0.0)).collect();
            Mask::from_bytes(&bytes, &v.group_sizes()).expect("sizes match")
        }

        fn state(&self) -> Vec<(String, Tensor)> {
            let mut s = self.scores.state();
            s.extend(self.opt_w.named_state("w."));
            s
        }

        fn load_state(&mut self, named: &[(String, Tensor)]) -> Result<()> {
            self.scores.load_state(named)?;
            self.opt_w.load_named_state(named, "w.")
        }

        fn trace(&self) -> serde_json::Value {
            json!({ "t": self.t })
        }

        fn load_trace(&mut self, trace: &serde_json::Value) -> Result<()> {
            self.t = trace["t"].as_u64().unwrap_or(0) as usize;
            Ok(())
        }
    }

    /// Run `lottery prune continuous`.
    pub fn run(ctx: &Ctx) -> Result<(Summary, serde_json::Value)> {
        let cfg = ctx.cfg;
        let search = ctx.search_dir()?;
        let mut scores: Vec<Tensor> = ctx
            .x
            .tensors
            .iter()
            .map(|w| w.full_like(cfg.methods.continuous.init).detach())
            .collect();
        let mut natural = Vec::new();
        let mut ticket_scores = None;
        for r in 0..cfg.methods.continuous.rounds {
            let dir = search.join(format!("round_{r}"));
            let saved = dir.join("scores.safetensors");
            if saved.exists() {
                let named = rundir::load_tensors(&saved)?;
                load_indexed(&named, "scores", &mut scores)?;
                if let Some(s) = finished(&dir)? {
                    natural.push(s.remaining);
                }
                let end: Vec<(String, Tensor)> = named
                    .into_iter()
                    .filter_map(|(n, t)| n.strip_prefix("end.").map(|k| (format!("scores.{k}"), t)))
                    .collect();
                let mut end_scores: Vec<Tensor> = scores.iter().map(Tensor::copy).collect();
                load_indexed(&end, "scores", &mut end_scores)?;
                ticket_scores = Some(end_scores);
                continue;
            }
            if !rundir::has_checkpoint(&dir) {
                ctx.rewind_to_init()?;
            }
            let mut round = Continuous::new(
                ctx,
                scores.iter().map(Tensor::shallow_clone).collect(),
                ctx.iterations,
            );
            let (summary, _) =
                ctx.train_with(&mut round, r, cfg.lr, &phase::Segment::default(), &dir)?;
            natural.push(summary.remaining);
            // The round's final scores decide the ticket; the next round starts from
            // min(beta_T s, s0).
            let end: Vec<Tensor> = round
                .scores
                .tensors
                .iter()
                .map(|s| s.detach().copy())
                .collect();
            scores = tch::no_grad(|| {
                end.iter()
                    .map(|s| (s * cfg.methods.continuous.beta).clamp_max(cfg.methods.continuous.init))
                    .collect()
            });
            let mut named = indexed("scores", &scores);
            named.extend(indexed("end", &end));
            rundir::save_tensors(&saved, &named)?;
            ticket_scores = Some(end);
        }
        let end = ticket_scores.ok_or_else(|| Error::param("cs_rounds", "must be >= 1"))?;
        let values = Params::new(ctx.x.names.clone(), end).to_scores();
        let mask = ctx
            .target
            .select(&Largest, &by_value(&values)?, ctx.target.sparsity())?;
        if !rundir::has_checkpoint(ctx.run_dir) {
            ctx.rewind_to_init()?;
        }
        let summary = ctx.train_ticket(&mask, &phase::Segment::default())?;
        Ok((
            summary,
            json!({ "rounds": cfg.methods.continuous.rounds, "natural_remaining_per_round": natural }),
        ))
    }
}
