//! `lottery prune layerwise`: one-shot pruning of a trained network, layer by layer, as a batch
//! of sparse least-squares problems solved by the convex layer ([`crate::solver::layer`]).
//!
//! From a finished level of a run (`--from RUN_DIR --level L`, default 0: the dense network):
//! draw `calibration` training samples (seeded), then for each pooled prunable layer in forward
//! order collect its inputs $X$ on them **through the already-pruned layers before it** (the
//! cascade of OBC and SparseGPT), form $H = X^\top X/n$ (convolutions: im2col patches, so a
//! filter is a row), prune the layer's rows with the chosen solver and budget
//! ([`crate::solver::layer::prune_layer`]), and write the weights back. Optionally fine-tune with the mask fixed
//! (`finetune` iterations of the run's optimizer). Written to
//! `<run>/level_<L>/layerwise_<solver>_<sha>/` in the usual layout (`mask`, `start`, `final`
//! safetensors, `metrics.csv`, `summary.json`); the summary's `trace` holds each layer's
//! report ([`LayerReport`]): its relative reconstruction error and magnitude pruning's on the
//! same inputs, the coherence and the extreme eigenvalues of its normalized $H$ (the quantities
//! the recovery theorems of `theory/layerwise.md` are stated in), and the accuracy before
//! fine-tuning.
//!
//! With `objective = fisher` each pooled layer is instead pruned on its empirical Fisher
//! ([`crate::problem::FisherQuadratic`]: per-sample gradients of the loss of the trained network
//! on the calibration samples, all the layer's weights at once, damped by `damp` times the mean
//! diagonal), with a layer budget, by magnitude or a solver that needs only gradients and refits
//! (those whose [`crate::solver::layer::SolverSpec`] says `fisher`: IHT, NIHT, HTP, CoSaMP, Frank-Wolfe) — CHITA's and WoodFisher's local model.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::models::Network;
use super::params::{self, named_vars};
use super::phase::{evaluate, Env, Phase, Segment};
use super::rundir::{self, MetricRow};
use super::target::Target;
use crate::problem::{Damping, LayerGram};
pub use crate::run::layerwise::LayerwiseSettings;
use crate::run::layerwise::Objective;
use crate::solver::layer::{
    prune_blocks, prune_channels, prune_fisher_with, prune_layer_with, LayerBudget, LayerSolver,
};
use crate::space::SparseVector;
use crate::{Error, Result};

/// What happened to one layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerReport {
    /// The weight's name.
    pub name: String,
    /// Rows (output units or filters) and inputs per row.
    pub rows: usize,
    /// Inputs per row ($C k_h k_w$ for a convolution).
    pub cols: usize,
    /// Rows of $X$ (calibration samples × positions for a convolution).
    pub samples: usize,
    /// Weights kept.
    pub kept: usize,
    /// Inputs that were zero on every calibration sample.
    pub dead_inputs: usize,
    /// $\sum_r q_r(w_r) / \sum_r \frac12\bar w_r^\top H\bar w_r$ of the solver.
    pub relative_error: f64,
    /// The same for magnitude pruning under the same budget and inputs.
    pub magnitude_relative_error: f64,
    /// Mutual coherence of the normalized $H$ (live inputs; `None` for the Fisher objective).
    pub coherence: Option<f64>,
    /// Smallest and largest eigenvalue of the normalized $H$ (live inputs; `None` above 2000
    /// inputs).
    pub eigenvalues: Option<(f64, f64)>,
    /// Seconds the solver took on this layer.
    pub seconds: f64,
}

/// Run (or resume) layerwise pruning of level `level` of `run_dir`; returns the directory.
pub fn run_layerwise(
    run_dir: &Path,
    level: usize,
    settings: &LayerwiseSettings,
    env: &Env,
) -> Result<PathBuf> {
    settings.check()?;
    let solver = settings.solver;
    let (run_cfg, ldir) = rundir::finished_level(run_dir, level)?;
    let mut cfg = run_cfg.clone();
    if settings.finetune > 0 {
        cfg.set("iterations", &settings.finetune.to_string())?;
    }
    // The run's config holds the layerwise settings (its `config.toml` records them); its
    // identity names them whether or not they are the defaults, as it always has.
    cfg.layerwise = settings.clone();
    let dir = ldir.join(settings.dir_name());
    let _run = env.open(
        &dir,
        &cfg,
        "layerwise",
        &[
            (
                "layerwise",
                serde_json::to_value(settings).expect("serialize"),
            ),
            ("layerwise_level", serde_json::json!(level)),
        ],
    )?;
    if rundir::is_finished(&dir)? {
        return Ok(dir);
    }
    let data = super::data::load_data(&cfg, env.data_dir.as_deref(), env.device)?;
    let (vs, net) = super::phase::build_network(&cfg, &data, env.device)?;
    let x = params::prunable(&vs, &net);
    params::assign(&vs, &rundir::load_tensors(&ldir.join(rundir::FINAL))?)?;
    let iterations = if settings.finetune > 0 {
        cfg.total_iterations(data.train_len())
    } else {
        0
    };
    let ctx = Phase::new(&cfg, env, &net, &vs, &data, &x, run_dir, iterations);
    // A fine-tuning interrupted after its first checkpoint resumes from it: the pruned weights
    // and mask were written before training started. Otherwise prune (deterministic given the
    // settings) and record the layers' reports.
    let resumed = rundir::has_checkpoint(&dir);
    let target = Target::new(settings.budget(), super::target::layout(&cfg, &net, &x));
    target.check()?;
    let reports = if resumed {
        params::assign(&vs, &rundir::load_tensors(&dir.join(rundir::START))?)?;
        read_reports(&dir)?
    } else {
        let reports = if settings.objective == Objective::Fisher {
            prune_network_fisher(&net, &x, &data, &target, solver, settings, env.device)?
        } else {
            prune_network(&net, &x, &data, &target, solver, settings, env.device)?
        };
        rundir::create(&dir)?;
        let json = serde_json::to_string_pretty(&reports)
            .map_err(|e| Error::param("layerwise", e.to_string()))?;
        rundir::write_file(&dir.join(REPORT), json.as_bytes())?;
        reports
    };
    let mask = if resumed {
        rundir::load_mask(&dir.join(rundir::MASK), &x)?
    } else {
        let named: Vec<(String, Tensor)> = x
            .names
            .iter()
            .cloned()
            .zip(x.tensors.iter().map(Tensor::shallow_clone))
            .collect();
        params::mask_from_named(&named, &x.names, &x.group_sizes())?
    };
    let (_, pruned_test) = evaluate(&net, &data.test);
    let (_, pruned_val) = evaluate(&net, &data.val);
    let mut summary = if settings.finetune > 0 {
        ctx.train(&mask, level, cfg.lr, &Segment::default(), &dir)?
    } else {
        rundir::create(&dir)?;
        rundir::write_config(&dir, &cfg, false)?;
        rundir::save_mask(&dir.join(rundir::MASK), &x, &mask)?;
        rundir::save_tensors(&dir.join(rundir::START), &named_vars(&vs))?;
        rundir::save_tensors(&dir.join(rundir::FINAL), &named_vars(&vs))?;
        let (val_loss, val_acc) = evaluate(&net, &data.val);
        let (test_loss, test_acc) = evaluate(&net, &data.test);
        let rows = vec![
            MetricRow {
                iteration: 0,
                split: "val".into(),
                loss: val_loss,
                accuracy: val_acc,
            },
            MetricRow {
                iteration: 0,
                split: "test".into(),
                loss: test_loss,
                accuracy: test_acc,
            },
        ];
        ctx.finish(&dir, level, &mask, &rows)?
    };
    summary.method = Some("layerwise".into());
    summary.trace = Some(serde_json::json!({
        "solver": settings.solver,
        "budget": settings.budget.layerwise_name(),
        "layers": reports,
        "pruned_test_accuracy": pruned_test,
        "pruned_val_accuracy": pruned_val,
        "finetune_iterations": settings.finetune,
    }));
    rundir::write_summary(&dir, &summary)?;
    Ok(dir)
}

/// The per-layer reports of a run whose pruning finished (read back on resume).
const REPORT: &str = "layerwise.json";

fn read_reports(dir: &Path) -> Result<Vec<LayerReport>> {
    crate::io::read_json(&dir.join(REPORT))
}

/// A 2-D tensor as an f64 array on the host.
fn to_array2(t: &Tensor) -> Result<Array2<f64>> {
    let size = t.size();
    let (r, c) = (size[0] as usize, size[1] as usize);
    let flat = t
        .to_device(Device::Cpu)
        .to_kind(Kind::Double)
        .contiguous()
        .view([-1]);
    let v = Vec::<f64>::try_from(&flat).map_err(|e| Error::Numerical(e.to_string()))?;
    Array2::from_shape_vec((r, c), v).map_err(|e| Error::Shape(e.to_string()))
}

/// The calibration sample: `settings.calibration` training samples (at most all), seeded.
fn calibration(data: &super::data::Data, settings: &LayerwiseSettings, device: Device) -> Tensor {
    let n_train = data.train_len() as i64;
    let n = (settings.calibration as i64).min(n_train);
    tch::manual_seed(settings.seed as i64);
    Tensor::randperm(n_train, (Kind::Int64, device)).narrow(0, 0, n)
}

/// Write `values` into the prunable tensor `t` (same number of elements).
fn write_back(t: &Tensor, values: &[f64]) {
    let new = Tensor::from_slice(values)
        .view(t.size().as_slice())
        .to_kind(t.kind())
        .to_device(t.device());
    tch::no_grad(|| {
        let mut t = t.shallow_clone();
        t.copy_(&new);
    });
}

/// The Fisher objective: per-sample gradients of the loss of the trained network (one backward
/// pass per calibration sample), then each pooled layer pruned on its own
/// ([`crate::problem::FisherQuadratic`], the block-diagonal model of CHITA and WoodFisher: every
/// layer's gradients are those of the unpruned network, no cascade) with its layer budget.
/// Memory: $n \cdot p \cdot 8$ bytes for the layer's gradient matrix.
fn prune_network_fisher(
    net: &Network,
    x: &params::Params,
    data: &super::data::Data,
    target: &Target,
    solver: LayerSolver,
    settings: &LayerwiseSettings,
    device: Device,
) -> Result<Vec<LayerReport>> {
    let idx = calibration(data, settings, device);
    let xs = data.train.0.index_select(0, &idx);
    let ys = data.train.1.index_select(0, &idx);
    let n = idx.size()[0];
    let pooled: Vec<usize> = (0..x.names.len()).filter(|&g| target.pooled(g)).collect();
    let sizes: Vec<usize> = pooled.iter().map(|&g| x.tensors[g].numel()).collect();
    let mut grads: Vec<Vec<f64>> = sizes
        .iter()
        .map(|&p| Vec::with_capacity(p * n as usize))
        .collect();
    let inputs: Vec<&Tensor> = pooled.iter().map(|&g| &x.tensors[g]).collect();
    for i in 0..n {
        let loss = super::models::loss_of(
            &net.forward_t(&xs.narrow(0, i, 1), false),
            &ys.narrow(0, i, 1),
        );
        let gs = Tensor::run_backward(&[loss], &inputs, false, false);
        for (acc, g) in grads.iter_mut().zip(&gs) {
            let flat = g
                .to_device(Device::Cpu)
                .to_kind(Kind::Double)
                .contiguous()
                .view([-1]);
            acc.extend(Vec::<f64>::try_from(&flat).map_err(|e| Error::Numerical(e.to_string()))?);
        }
    }
    let mut reports = Vec::new();
    for ((&g, p), gmat) in pooled.iter().zip(sizes).zip(grads) {
        let t = &x.tensors[g];
        let center = to_array2(&t.flatten(1, -1))?;
        let (rows, cols) = center.dim();
        let w: ndarray::Array1<f64> = center.iter().copied().collect();
        let gmat = Array2::from_shape_vec((n as usize, p), gmat)
            .map_err(|e| Error::Shape(e.to_string()))?;
        let q = crate::problem::FisherQuadratic::new(gmat, w, Damping::Relative(settings.damp))
            .map_err(|e| Error::Numerical(format!("{}: {e}", x.names[g])))?;
        let k = match target.layer(g)? {
            Some(LayerBudget::Layer(k)) => k,
            other => {
                return Err(Error::param(
                    "budget",
                    format!("the Fisher objective takes a layer budget, not {other:?}"),
                ))
            }
        };
        let start = std::time::Instant::now();
        let out = prune_fisher_with(&q, solver, k, &settings.solvers)
            .map_err(|e| Error::Numerical(format!("{}: {e}", x.names[g])))?;
        let seconds = start.elapsed().as_secs_f64();
        let magnitude = prune_fisher_with(&q, LayerSolver::Magnitude, k, &settings.solvers)?;
        write_back(t, out.weights.as_slice().expect("owned"));
        reports.push(LayerReport {
            name: x.names[g].clone(),
            rows,
            cols,
            samples: n as usize,
            kept: out.kept,
            dead_inputs: 0,
            relative_error: out.relative_error,
            magnitude_relative_error: magnitude.relative_error,
            coherence: None,
            eigenvalues: None,
            seconds,
        });
    }
    Ok(reports)
}

/// Prune every pooled layer in forward order (the cascade), writing the weights back.
fn prune_network(
    net: &Network,
    x: &params::Params,
    data: &super::data::Data,
    target: &Target,
    solver: LayerSolver,
    settings: &LayerwiseSettings,
    device: Device,
) -> Result<Vec<LayerReport>> {
    let idx = calibration(data, settings, device);
    let calib = data.train.0.index_select(0, &idx);
    let mut reports = Vec::new();
    let channel = target.channels().is_some();
    // Channel budgets: the rows of the last pruned layer still alive (its units / filters).
    let mut alive: Option<Vec<bool>> = None;
    for g in 0..x.names.len() {
        // A channel budget also removes an unpooled layer's inputs from dead units.
        let budget = match target.layer(g)? {
            Some(b) => b,
            None if channel && alive.is_some() => LayerBudget::Channels { keep: None },
            None => continue,
        };
        let t = &x.tensors[g];
        let inputs = net.layer_input(&calib, g, None)?.to_kind(Kind::Double);
        let samples = inputs.size()[0];
        let h = tch::no_grad(|| inputs.transpose(0, 1).matmul(&inputs) / samples as f64);
        let h = to_array2(&h)?;
        let center = to_array2(&t.flatten(1, -1))?;
        let (rows, cols) = center.dim();
        let gram = LayerGram::from_gram(h.view(), Damping::Relative(settings.damp))?;
        let start = std::time::Instant::now();
        let named = |e: Error| Error::Numerical(format!("{}: {e}", x.names[g]));
        let exact = solver != LayerSolver::Magnitude;
        let (out, magnitude) = match budget {
            LayerBudget::Blocks { h: bh, w: bw, keep } => (
                prune_blocks(&gram, center.view(), bh, bw, keep, exact).map_err(named)?,
                prune_blocks(&gram, center.view(), bh, bw, keep, false)?,
            ),
            LayerBudget::Channels { keep } => {
                // Inputs fed by a dead unit of the previous layer (span = inputs per unit).
                let live: Vec<bool> = match &alive {
                    Some(a) if !a.is_empty() && cols % a.len() == 0 => {
                        (0..cols).map(|q| a[q / (cols / a.len())]).collect()
                    }
                    _ => vec![true; cols],
                };
                let out =
                    prune_channels(&gram, center.view(), keep, &live, exact).map_err(named)?;
                let magnitude = prune_channels(&gram, center.view(), keep, &live, false)?;
                alive = Some(
                    out.weights
                        .rows()
                        .into_iter()
                        .map(|r| r.iter().any(|v| *v != 0.0))
                        .collect(),
                );
                (out, magnitude)
            }
            budget => (
                prune_layer_with(&gram, center.view(), solver, budget, &settings.solvers)
                    .map_err(named)?,
                prune_layer_with(
                    &gram,
                    center.view(),
                    LayerSolver::Magnitude,
                    budget,
                    &settings.solvers,
                )?,
            ),
        };
        let seconds = start.elapsed().as_secs_f64();
        let (coherence, eigenvalues) = proxies(&h);
        let coherence = Some(coherence);
        let values: Vec<f64> = out.weights.iter().copied().collect();
        write_back(t, &values);
        reports.push(LayerReport {
            name: x.names[g].clone(),
            rows,
            cols,
            samples: samples as usize,
            kept: out.kept,
            dead_inputs: gram.dead().len(),
            relative_error: out.relative_error,
            magnitude_relative_error: magnitude.relative_error,
            coherence,
            eigenvalues,
            seconds,
        });
    }
    Ok(reports)
}

/// Coherence and extreme eigenvalues of $D^{-1/2} H D^{-1/2}$ over the live inputs.
fn proxies(h: &Array2<f64>) -> (f64, Option<(f64, f64)>) {
    let live: Vec<usize> = (0..h.nrows()).filter(|&q| h[[q, q]] > 0.0).collect();
    let m = live.len();
    let norm = Array2::from_shape_fn((m, m), |(i, j)| {
        let (a, b) = (live[i], live[j]);
        h[[a, b]] / (h[[a, a]] * h[[b, b]]).sqrt()
    });
    let mut mu: f64 = 0.0;
    for i in 0..m {
        for j in (i + 1)..m {
            mu = mu.max(norm[[i, j]].abs());
        }
    }
    let eig = (m > 0 && m <= 2000).then(|| {
        let mat = nalgebra::DMatrix::from_fn(m, m, |i, j| norm[[i, j]]);
        let e = nalgebra::SymmetricEigen::new(mat).eigenvalues;
        let lo = e.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = e.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        (lo, hi)
    });
    (mu, eig)
}
