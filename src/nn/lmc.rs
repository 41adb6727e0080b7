//! Linear mode connectivity and instability (Frankle, Dziugaite, Roy & Carbin 2020).
//!
//! Train the network from its initialization to iteration $k$ (the parent), then train two
//! copies from there to the end with different data orders (SGD noise). Evaluate the error of
//! $(1-\alpha)\,w_A + \alpha\,w_B$ (every variable, batch-norm statistics included) at `points`
//! evenly spaced $\alpha \in [0, 1]$ (at least 11). **Instability** is the largest error on
//! the path minus the mean of the two endpoint errors; the paper calls a network stable when it
//! is below 2%. Sweeping $k$ shows when training becomes stable — the iteration from which
//! rewinding finds matching tickets. With a mask (a ticket's `mask.safetensors`) the copies are
//! the sparse network trained from the parent's weights at $k$ under that mask.
//!
//! The copies continue the parent exactly, except for the data order: they start from its
//! weights **and its optimizer state** at $k$ (Adam's moments and step count, SGD's momentum;
//! restarting them would be a perturbation the parent never had — on a sparse copy the moments
//! of pruned weights are zeroed with the weights), continue its learning-rate schedule from
//! $k$, and each draws its data order from its own seed (run seed + 1 + copy), positioned at
//! iteration $k$ — the split of the data-order RNG at $k$ that open_lth makes.
//!
//! Controls (`control`, with a mask): `random-prune` — a random mask with the ticket's
//! per-layer survival; `random-reinit` — the ticket's mask with its kept weights redrawn from
//! the initialization's distribution (both copies the same draw). Both start from the parent's
//! state at $k$ like the ticket.
//!
//! Layout: `<runs>/<preset>-lmc-<hash>/{config.toml, init.safetensors, parent/,
//! [mask-<sha>[-<control>]/]k_<k>/{copy_0/, copy_1/, path.csv, summary.json},
//! [mask-<sha>[-<control>]/]instability.csv}`; the parent holds `k_<k>.safetensors` and
//! `k_<k>.state.safetensors` (the optimizer state) for every $k > 0$.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tch::nn::VarStore;
use tch::Tensor;

use crate::nn::data::{load_data, Data};
use crate::nn::dynamics::FixedMask;
use crate::nn::imp::random_mask_like;
use crate::nn::models::Network;
use crate::nn::params;
use crate::nn::perturb::{self, Kept};
use crate::nn::phase::{self, snapshot_state_path, Env, Phase, Segment};
use crate::nn::rundir::{self, finished};
use crate::run::kinds::LmcControl;
use crate::run::RunConfig;
use crate::select::Mask;
use crate::space::SparseVector;
use crate::{Error, Result};

/// One point of the interpolation path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathPoint {
    /// $\alpha$ (0 = copy A, 1 = copy B).
    pub alpha: f64,
    /// Test error.
    pub test_error: f64,
    /// Error on (up to 10,000 samples of) the training set.
    pub train_error: f64,
}

/// `summary.json` of one $k$.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmcSummary {
    /// Rewind iteration.
    pub k: usize,
    /// Test instability.
    pub instability_test: f64,
    /// Train instability.
    pub instability_train: f64,
    /// Test errors of the two copies.
    pub endpoint_test_errors: [f64; 2],
}

/// Errors along $(1-\alpha) a + \alpha b$ at `points` values of $\alpha$; leaves the network at
/// $b$.
pub fn interpolate(
    net: &Network,
    vs: &VarStore,
    data: &Data,
    a: &[(String, Tensor)],
    b: &[(String, Tensor)],
    points: usize,
) -> Result<Vec<PathPoint>> {
    if points < 2 {
        return Err(Error::param("points", "need at least 2 points"));
    }
    let n = data.train.1.size()[0].min(10_000);
    let train = (data.train.0.narrow(0, 0, n), data.train.1.narrow(0, 0, n));
    let mut path = Vec::with_capacity(points);
    for i in 0..points {
        let alpha = i as f64 / (points - 1) as f64;
        let mixed: Vec<(String, Tensor)> = a
            .iter()
            .map(|(name, ta)| {
                let tb = &b
                    .iter()
                    .find(|(m, _)| m == name)
                    .ok_or_else(|| Error::param("weights", format!("`{name}` missing in B")))?
                    .1;
                Ok((name.clone(), ta.lerp(tb, alpha)))
            })
            .collect::<Result<_>>()?;
        params::assign(vs, &mixed)?;
        let (_, test_acc) = phase::evaluate(net, &data.test);
        let (_, train_acc) = phase::evaluate(net, &train);
        path.push(PathPoint {
            alpha,
            test_error: 1.0 - test_acc,
            train_error: 1.0 - train_acc,
        });
    }
    Ok(path)
}

/// Largest error on the path minus the mean of the endpoint errors (test or train).
pub fn instability(path: &[PathPoint], test: bool) -> f64 {
    let err = |p: &PathPoint| if test { p.test_error } else { p.train_error };
    let max = path.iter().map(err).fold(f64::NEG_INFINITY, f64::max);
    let ends = (err(&path[0]) + err(&path[path.len() - 1])) / 2.0;
    max - ends
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

/// Run (or resume) the instability sweep over `ks` — dense, or the sparse network of
/// `mask_file` under `control`; returns the directory of the results.
pub fn run_lmc(
    cfg: &RunConfig,
    env: &Env,
    ks: &[usize],
    mask_file: Option<&Path>,
    points: usize,
    control: LmcControl,
) -> Result<PathBuf> {
    let cfg = RunConfig {
        method: crate::run::Method::Lmc,
        ..cfg.clone()
    };
    cfg.validate()?;
    check_request(ks, mask_file, points, control)?;
    let run_dir = env.run_dir(&cfg)?;
    // Copies that restart the optimizer (before issue 11) are another experiment: a run made
    // without this key is refused, not silently reused.
    let _run = env.open(
        &run_dir,
        &cfg,
        "lmc",
        &[("lmc_copies", serde_json::json!("carry-optimizer-state"))],
    )?;
    rundir::write_config(&run_dir, &cfg, false)?;
    let data = load_data(&cfg, env.data_dir.as_deref(), env.device)?;
    let (vs, net, init_path) = phase::network_of(&cfg, &data, env.device, &run_dir)?;
    let x = params::prunable(&vs, &net);
    let iterations = cfg.total_iterations(data.train_len());
    if let Some(&k) = ks.iter().find(|&&k| k > iterations) {
        return Err(Error::param(
            "k",
            format!("{k} is beyond the training length {iterations}"),
        ));
    }
    let control_seed = 1_000_003u64.wrapping_mul(cfg.seed + 1) ^ 0x1c0;
    let (base, mask) = match mask_file {
        Some(p) => {
            let bytes = std::fs::read(p).map_err(io_err(p))?;
            let sha: String = Sha256::digest(&bytes)
                .iter()
                .take(6)
                .map(|b| format!("{b:02x}"))
                .collect();
            let ticket = rundir::load_mask(p, &x)?;
            match control {
                LmcControl::Ticket => (run_dir.join(format!("mask-{sha}")), ticket),
                LmcControl::RandomPrune => (
                    run_dir.join(format!("mask-{sha}-{control}")),
                    random_mask_like(&cfg, &net, &x, &ticket, control_seed)?,
                ),
                LmcControl::RandomReinit => (run_dir.join(format!("mask-{sha}-{control}")), ticket),
            }
        }
        None => (run_dir.clone(), Mask::full(&x.group_sizes())),
    };
    let copies = Copies {
        ctx: Phase::new(&cfg, env, &net, &vs, &data, &x, &run_dir, iterations),
        parent: run_dir.join("parent"),
        init_path,
        base,
        mask,
        control,
        control_seed,
        points,
    };
    copies.train_parent(ks)?;
    let rows: Vec<LmcSummary> = ks.iter().map(|&k| copies.at(k)).collect::<Result<_>>()?;
    let table: Vec<(usize, f64, f64)> = rows
        .iter()
        .map(|r| (r.k, r.instability_test, r.instability_train))
        .collect();
    let csv = copies.base.join("instability.csv");
    crate::io::write_csv_rows(
        &csv,
        &["k", "instability_test", "instability_train"],
        &table,
    )?;
    rundir::record(&csv)?;
    Ok(copies.base)
}

/// The request's own checks: some `k`, at least 11 points, a control only with a mask.
fn check_request(
    ks: &[usize],
    mask_file: Option<&Path>,
    points: usize,
    control: LmcControl,
) -> Result<()> {
    if ks.is_empty() {
        return Err(Error::param("k", "give at least one rewind iteration"));
    }
    if points < 11 {
        return Err(Error::param("points", format!("{points} < 11")));
    }
    if mask_file.is_none() && control != LmcControl::Ticket {
        return Err(Error::param(
            "control",
            format!("`{control}` needs a ticket's mask (--mask)"),
        ));
    }
    Ok(())
}

/// The parent run and its pairs of copies.
struct Copies<'a> {
    ctx: Phase<'a>,
    /// The parent's directory (its snapshots at every $k$).
    parent: PathBuf,
    /// The run's initialization (the copies' start at $k = 0$).
    init_path: PathBuf,
    /// Where the copies and the results go.
    base: PathBuf,
    /// The copies' mask (full for dense copies).
    mask: Mask,
    control: LmcControl,
    control_seed: u64,
    points: usize,
}

impl Copies<'_> {
    /// The parent's weights (and optimizer state) at iteration `k`.
    fn snapshot(&self, k: usize) -> PathBuf {
        self.parent.join(format!("k_{k}.safetensors"))
    }

    /// The parent: one dense run to the largest $k$, saving the weights and the optimizer's
    /// state at every $k$ (skipped when they are all there).
    fn train_parent(&self, ks: &[usize]) -> Result<()> {
        let ctx = &self.ctx;
        let snapshots: Vec<(usize, PathBuf)> = ks
            .iter()
            .filter(|&&k| k > 0)
            .map(|&k| (k, self.snapshot(k)))
            .collect();
        if snapshots
            .iter()
            .all(|(_, p)| p.exists() && snapshot_state_path(p).exists())
        {
            return Ok(());
        }
        std::fs::create_dir_all(&self.parent).map_err(io_err(&self.parent))?;
        if !rundir::has_checkpoint(&self.parent) {
            params::assign(ctx.vs, &rundir::load_tensors(&self.init_path)?)?;
        }
        let kmax = snapshots.iter().map(|s| s.0).max().unwrap_or(0);
        let full = Mask::full(&ctx.x.group_sizes());
        let mut fixed = FixedMask::new(
            phase::optimizer_kind(ctx.cfg),
            ctx.cfg.weight_decay,
            ctx.x,
            &full,
            vec![],
        );
        ctx.run_loop(
            &mut fixed,
            ctx.cfg.lr,
            kmax,
            &Segment {
                start: 0,
                snapshots,
                snapshot_state: true,
                ..Segment::default()
            },
            &self.parent,
        )?;
        Ok(())
    }

    /// The two copies from iteration `k` (resumed, or read back when finished), their
    /// interpolation path (`path.csv`) and instability (`summary.json`).
    fn at(&self, k: usize) -> Result<LmcSummary> {
        let (ctx, cfg) = (&self.ctx, self.ctx.cfg);
        let kdir = self.base.join(format!("k_{k}"));
        let done = kdir.join(rundir::SUMMARY);
        if done.exists() {
            match rundir::verify(&done).and_then(|()| crate::io::read_json::<LmcSummary>(&done)) {
                Ok(s) => return Ok(s),
                Err(e) => eprintln!("warning: {e}; recomputing {}", kdir.display()),
            }
        }
        let mut finals = Vec::new();
        for c in 0..2u64 {
            let cdir = kdir.join(format!("copy_{c}"));
            if finished(&cdir)?.is_none() {
                if !rundir::has_checkpoint(&cdir) {
                    let source = if k == 0 {
                        self.init_path.clone()
                    } else {
                        self.snapshot(k)
                    };
                    params::assign(ctx.vs, &rundir::load_tensors(&source)?)?;
                    if self.control == LmcControl::RandomReinit {
                        let (_, init) = phase::arch_of(cfg)?;
                        let fresh = perturb::fresh_init(ctx.net, ctx.vs, init, self.control_seed)?;
                        let mut kept = ctx.x.shallow_clone();
                        perturb::perturb(&mut kept, &self.mask, Kept::Reinit, Some(&fresh), 0)?;
                    }
                }
                let initial_state = if k == 0 {
                    None
                } else {
                    Some(masked_state(
                        rundir::load_tensors(&snapshot_state_path(&self.snapshot(k)))?,
                        &ctx.x.mask_tensors(&self.mask),
                    )?)
                };
                // A different data order per copy: the batcher is seeded by the run's seed.
                let copy_cfg = RunConfig {
                    seed: cfg.seed.wrapping_add(1 + c),
                    ..cfg.clone()
                };
                ctx.with_cfg(&copy_cfg).train(
                    &self.mask,
                    0,
                    cfg.lr,
                    &Segment {
                        start: k,
                        initial_state,
                        ..Segment::default()
                    },
                    &cdir,
                )?;
            }
            finals.push(rundir::load_tensors(&cdir.join(rundir::FINAL))?);
        }
        let path = interpolate(
            ctx.net,
            ctx.vs,
            ctx.data,
            &finals[0],
            &finals[1],
            self.points,
        )?;
        crate::io::write_csv_rows(
            &kdir.join("path.csv"),
            &["alpha", "test_error", "train_error"],
            &path,
        )?;
        rundir::record(&kdir.join("path.csv"))?;
        let s = LmcSummary {
            k,
            instability_test: instability(&path, true),
            instability_train: instability(&path, false),
            endpoint_test_errors: [path[0].test_error, path[path.len() - 1].test_error],
        };
        rundir::write_summary(&kdir, &s)?;
        Ok(s)
    }
}

/// The parent's optimizer state for a copy under a mask: the moments of the prunable weights
/// (`dynamics.opt.m.<i>`, `dynamics.opt.v.<i>`, group $i$) multiplied by the mask, so that
/// pruned weights start, like their weights, at zero.
pub fn masked_state(
    state: Vec<(String, Tensor)>,
    masks: &[Tensor],
) -> Result<Vec<(String, Tensor)>> {
    state
        .into_iter()
        .map(|(name, t)| {
            let group = name
                .strip_prefix("dynamics.opt.m.")
                .or_else(|| name.strip_prefix("dynamics.opt.v."));
            match group {
                Some(i) => {
                    let m = i
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| masks.get(i))
                        .ok_or_else(|| {
                            Error::param("optimizer state", format!("unexpected tensor {name}"))
                        })?;
                    let masked = t
                        .f_mul(&m.to_kind(t.kind()).to_device(t.device()))
                        .map_err(|e| Error::Shape(format!("optimizer state {name}: {e}")))?;
                    Ok((name, masked))
                }
                None => Ok((name, t)),
            }
        })
        .collect()
}
