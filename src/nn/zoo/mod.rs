//! The method zoo: every pruning method of the reading list, and the convex methods as network
//! trainers, on one footing — same models, data, run layout and command line
//! (`lottery prune <method>`).
//!
//! | method | what it does | reference | module |
//! |---|---|---|---|
//! | `dpf` | forward at $m\odot w$, gradient to the dense $w$, magnitude mask every 16 steps, Zhu–Gupta ramp | Lin et al. 2020 | [`dynamic`] |
//! | `gradual` | Zhu–Gupta cubic schedule of magnitude pruning (`straight_through = true`: pruned weights keep their gradient) | Zhu & Gupta 2017; Gale et al. 2019 | [`dynamic`] |
//! | `supermask` | learned Bernoulli mask over frozen weights, or mask criteria × actions on kept / pruned weights | Zhou et al. 2019 | [`supermask`] |
//! | `snip`, `grasp`, `synflow`, `magnitude-init`, `random` | pruning at initialization | Lee et al. 2019; Wang et al. 2020; Tanaka et al. 2020 | [`pai`] |
//! | `continuous` | $w\odot\sigma(\beta s)$, $\beta$ annealed, $\ell_1$ on the mask, rounds with rewinding | Savarese et al. 2020 | [`continuous`] |
//! | `early-bird` | magnitude (or batch-norm channel) masks of the last epochs compared by Hamming distance | You et al. 2020 | [`early_bird`] |
//! | `iht`, `sfw`, `md`, `greedy` | the convex layer's IHT step, $k$-sparse Frank-Wolfe vertex, entropic step and greedy growth on the network | this project | [`dynamic`] |
//!
//! Linear mode connectivity is [`lmc`]; the early-phase perturbations and ticket transfer are
//! branches of an IMP level ([`crate::nn::imp::run_branch`]), sharing [`perturb`] with the
//! supermask actions.
//!
//! **Sparsity.** `--sparsity S` is the fraction of the prunable weights removed (the output
//! layer is outside the pool when the preset does not prune it). With `strategy = "global"` the
//! pool keeps exactly $N - \mathrm{round}(SN)$ weights; with `layerwise` every pooled layer keeps
//! exactly $n_l - \mathrm{round}(Sn_l)$ ([`Target`]). Pruning at initialization is global by
//! definition (its scores are compared across layers), whatever the preset's strategy.
//!
//! **Layout.** `<runs>/<preset>-<method>-<hash>/` holds `config.toml`, `init.safetensors`, the
//! final sparse network's `mask.safetensors`, `start.safetensors`, `final.safetensors`,
//! `metrics.csv` and `summary.json` (with `method` and the method's `trace`), and for methods
//! with a search phase a `search/` directory (dense training, rounds, …). Every phase
//! checkpoints each epoch and a rerun resumes; a finished run is returned as is.

pub mod continuous;
pub mod dynamic;
pub mod early_bird;
pub mod lmc;
pub mod pai;
pub mod perturb;
pub mod supermask;

use std::path::{Path, PathBuf};

use tch::nn::VarStore;
use tch::{Kind, Tensor};

use super::imp::{self, Env, Level, Summary};
use super::models::Network;
use super::params::Params;
use super::train::{self, Data};
use crate::run::{RunConfig, RunLock};
use crate::select::{Budget, Mask, Rule, Scores};
use crate::space::SparseVector;
use crate::{Error, Result};

/// The sparsity budget of a method: which prunable tensors are in the pool and how many weights
/// survive at a given sparsity.
#[derive(Clone, Debug)]
pub struct Target {
    sizes: Vec<usize>,
    pool: Vec<bool>,
    layerwise: bool,
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
        }
    }

    /// With the run's strategy (`layerwise` or `global`).
    pub fn of(cfg: &RunConfig, net: &Network, x: &Params) -> Self {
        Self::new(cfg, net, x, cfg.strategy == "layerwise")
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

    /// The budget at sparsity `s` (fraction removed).
    pub fn budget(&self, s: f64) -> Budget {
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
}

/// A mask as checkpoint tensors `mask.<g>` (u8 0/1 per group).
pub fn mask_state(mask: &Mask) -> Vec<(String, Tensor)> {
    (0..mask.n_groups())
        .map(|g| {
            (
                format!("mask.{g}"),
                Tensor::from_slice(&mask.group_bytes(g)),
            )
        })
        .collect()
}

/// Read [`mask_state`] back (None when the checkpoint has no mask).
pub fn mask_from_state(named: &[(String, Tensor)], sizes: &[usize]) -> Result<Option<Mask>> {
    let mut bytes = Vec::new();
    for g in 0..sizes.len() {
        let Some((_, t)) = named.iter().find(|(n, _)| *n == format!("mask.{g}")) else {
            return Ok(None);
        };
        bytes.extend(
            Vec::<u8>::try_from(&t.to_kind(Kind::Uint8).to_device(tch::Device::Cpu))
                .map_err(|e| Error::param("checkpoint", e.to_string()))?,
        );
    }
    Mask::from_bytes(&bytes, sizes).map(Some)
}

/// Input shape and classes of a dataset-free run: the preset model's usual data.
fn data_free_shape(cfg: &RunConfig) -> ([usize; 3], usize) {
    match cfg.model.as_str() {
        "lenet300" => ([1, 28, 28], 10),
        _ => ([3, 32, 32], 10),
    }
}

/// An empty dataset (for `--dataset none`).
fn no_data(cfg: &RunConfig) -> Data {
    let (shape, classes) = data_free_shape(cfg);
    let empty = || {
        (
            Tensor::zeros([0, 1], (Kind::Float, tch::Device::Cpu)),
            Tensor::zeros([0], (Kind::Int64, tch::Device::Cpu)),
        )
    };
    Data {
        train: empty(),
        val: empty(),
        test: empty(),
        shape,
        classes,
        planted: None,
    }
}

/// Everything a method needs: the run's settings, network, data and directories.
pub struct Ctx<'a> {
    /// Settings.
    pub cfg: &'a RunConfig,
    /// Where and how.
    pub env: &'a Env,
    /// The network.
    pub net: &'a Network,
    /// Its variables (holding the initialization when a method starts).
    pub vs: &'a VarStore,
    /// The data (empty for `--dataset none`).
    pub data: &'a Data,
    /// Prunable weights (shared storage with `vs`).
    pub x: &'a Params,
    /// The run directory.
    pub run_dir: &'a Path,
    /// Training length.
    pub iterations: usize,
    /// The sparsity budget.
    pub target: Target,
}

impl Ctx<'_> {
    /// The shared per-level trainer over this context.
    pub(crate) fn level(&self) -> Level<'_> {
        Level {
            cfg: self.cfg,
            env: self.env,
            net: self.net,
            vs: self.vs,
            data: self.data,
            params: self.x,
        }
    }

    /// Restore the saved initialization into the network.
    pub fn rewind_to_init(&self) -> Result<()> {
        train::assign(
            self.vs,
            &train::load_tensors(&self.run_dir.join("init.safetensors"))?,
        )
    }

    /// The mask of an interrupted final phase (its checkpoint exists), so that a resumed run
    /// trains the same ticket without recomputing it.
    pub fn saved_mask(&self) -> Result<Option<Mask>> {
        if !self.run_dir.join("checkpoint.json").exists() {
            return Ok(None);
        }
        imp::load_mask(&self.run_dir.join("mask.safetensors"), self.x).map(Some)
    }

    /// `run_dir/search` (created).
    pub fn search_dir(&self) -> Result<PathBuf> {
        let dir = self.run_dir.join("search");
        std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
            path: dir.clone(),
            source: e,
        })?;
        Ok(dir)
    }

    /// Dense training from the initialization into `dir` (resumable; skipped when finished):
    /// the search phase of the criteria that need trained weights. Leaves the trained weights
    /// in the network.
    pub fn train_dense(&self, dir: &Path) -> Result<Summary> {
        if let Some(s) = finished(dir)? {
            train::assign(
                self.vs,
                &train::load_tensors(&dir.join("final.safetensors"))?,
            )?;
            return Ok(s);
        }
        if !dir.join("checkpoint.json").exists() {
            self.rewind_to_init()?;
        }
        let full = Mask::full(&self.x.group_sizes());
        self.level().train(
            &full,
            0,
            self.cfg.lr,
            self.iterations,
            &train::Segment::default(),
            dir,
        )
    }

    /// Train the network from its current weights under a fixed `mask` into the run directory:
    /// the last phase of most methods.
    pub fn train_ticket(&self, mask: &Mask, segment: &train::Segment) -> Result<Summary> {
        self.level()
            .train(mask, 0, self.cfg.lr, self.iterations, segment, self.run_dir)
    }

    /// Write the data-free result: mask, start weights (the initialization under the mask) and a
    /// summary without accuracies.
    pub fn write_untrained(&self, mask: &Mask) -> Result<Summary> {
        let mut x = self.x.shallow_clone();
        x.apply_mask(mask);
        imp::save_mask(&self.run_dir.join("mask.safetensors"), self.x, mask)?;
        train::save_tensors(
            &self.run_dir.join("start.safetensors"),
            &train::named_vars(self.vs),
        )?;
        self.level().finish(self.run_dir, 0, mask, &[])
    }
}

/// The summary of a finished phase in `dir`, if there is one.
pub fn finished(dir: &Path) -> Result<Option<Summary>> {
    let path = dir.join("summary.json");
    if !path.exists() {
        return Ok(None);
    }
    crate::io::read_json(&path).map(Some)
}

/// Methods that need no data.
pub const DATA_FREE: [&str; 3] = ["synflow", "magnitude-init", "random"];

/// Run (or resume) `lottery prune <cfg.method>`; returns the run directory.
pub fn run_prune(cfg: &RunConfig, env: &Env) -> Result<PathBuf> {
    cfg.validate()?;
    if !crate::run::config::METHODS.contains(&cfg.method.as_str()) {
        return Err(Error::param(
            "method",
            format!(
                "`{}` is not a pruning method ({})",
                cfg.method,
                crate::run::config::METHODS.join(", ")
            ),
        ));
    }
    if cfg.sparsity <= 0.0 {
        return Err(Error::param(
            "sparsity",
            "set a sparsity in (0, 1) (fraction of prunable weights removed)",
        ));
    }
    let data_free = cfg.dataset == "none";
    if data_free && !DATA_FREE.contains(&cfg.method.as_str()) {
        return Err(Error::param(
            "dataset",
            format!(
                "`{}` needs data; only {} run with --dataset none",
                cfg.method,
                DATA_FREE.join(", ")
            ),
        ));
    }
    let run_dir = env.runs.join(cfg.hash()?);
    let _lock = RunLock::acquire(&run_dir)?;
    if finished(&run_dir)?.is_some_and(|s| s.method.is_some()) {
        return Ok(run_dir);
    }
    let config = run_dir.join("config.toml");
    if !config.exists() {
        crate::io::write_atomic(&config, cfg.to_toml().as_bytes())?;
    }
    let data = if data_free {
        no_data(cfg)
    } else {
        train::load_data(cfg, env.data_dir.as_deref(), env.device)?
    };
    let (vs, net, _) = imp::network_of(cfg, &data, env.device, &run_dir)?;
    let x = train::prunable(&vs, &net);
    let iterations = if data_free {
        0
    } else {
        cfg.total_iterations(imp::train_size(&data))
    };
    let ctx = Ctx {
        cfg,
        env,
        net: &net,
        vs: &vs,
        data: &data,
        x: &x,
        run_dir: &run_dir,
        iterations,
        target: Target::of(cfg, &net, &x),
    };
    let (mut summary, trace) = match cfg.method.as_str() {
        "snip" | "grasp" | "synflow" | "magnitude-init" | "random" => pai::run(&ctx)?,
        "supermask" => supermask::run(&ctx)?,
        "continuous" => continuous::run(&ctx)?,
        "early-bird" => early_bird::run(&ctx)?,
        _ => dynamic::run(&ctx)?,
    };
    summary.method = Some(cfg.method.clone());
    summary.trace = Some(trace);
    imp::write_summary(&run_dir, &summary)?;
    Ok(run_dir)
}
