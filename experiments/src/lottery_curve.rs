//! The headline lottery-ticket experiment: IMP (rewind to initialization) against random
//! reinitialization and random pruning (same per-layer survival) on LeNet-300-100 /
//! Fashion-MNIST, several seeds; test accuracy and early-stop iteration against the fraction of
//! weights remaining. Runs are ordinary hash-named IMP runs (resumable) under `<out>/runs/`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use lottery::nn::branch::run_branch;
use lottery::nn::imp::run_imp;
use lottery::nn::phase::Env;
use lottery::nn::rundir::level_dir;
use lottery::nn::rundir::Summary;
use lottery::run::kinds::BranchKind;
use lottery::run::RunConfig;
use lottery::Result;

/// Sizes of the experiment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    /// Seeds (one IMP run each).
    pub seeds: Vec<u64>,
    /// IMP levels after the dense one.
    pub levels: usize,
    /// Training iterations per level.
    pub iterations: usize,
    /// Fraction of remaining fc weights pruned per level.
    pub rate_fc: f64,
    /// … of the output layer.
    pub rate_output: f64,
    /// Evaluation interval (early-stopping resolution).
    pub eval_every: usize,
}

impl Config {
    /// Default size (about 10 minutes on 2 CPU cores): 2 seeds, 5 levels pruning 50% of fc and
    /// 25% of output weights per level (down to 3.1% / 23.7%), 1000 iterations per level.
    pub fn default_size() -> Self {
        Config {
            seeds: vec![0, 1],
            levels: 5,
            iterations: 1000,
            rate_fc: 0.5,
            rate_output: 0.25,
            eval_every: 100,
        }
    }

    /// The paper's settings (Frankle & Carbin 2019): 50K iterations, fc 20% / output 10% per
    /// level, 20 levels, 5 seeds.
    pub fn paper_size() -> Self {
        Config {
            seeds: (0..5).collect(),
            levels: 20,
            iterations: 50_000,
            rate_fc: 0.2,
            rate_output: 0.1,
            eval_every: 1000,
        }
    }
}

/// One point of the curves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `IMP (rewind to init)`, `random reinit` or `random pruning`.
    pub method: String,
    /// Seed.
    pub seed: u64,
    /// Level.
    pub level: usize,
    /// Fraction of prunable weights remaining.
    pub remaining: f64,
    /// Test accuracy at the end of training.
    #[serde(rename = "final_test_accuracy")]
    pub final_accuracy: f64,
    /// Iteration of minimum validation loss.
    pub early_stop_iteration: usize,
    /// Test accuracy at that iteration.
    #[serde(rename = "early_stop_test_accuracy")]
    pub early_stop_accuracy: f64,
}

fn read_summary(dir: &Path) -> Result<Summary> {
    lottery::io::read_json(&dir.join("summary.json"))
}

fn row(method: &str, seed: u64, s: &Summary) -> Row {
    Row {
        method: method.into(),
        seed,
        level: s.level,
        remaining: s.remaining,
        final_accuracy: s.final_test_accuracy,
        early_stop_iteration: s.early_stop_iteration,
        early_stop_accuracy: s.early_stop_test_accuracy,
    }
}

/// Run (or resume) every IMP run and branch; rows for all of them.
pub fn run(cfg: &Config, env: &Env) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &seed in &cfg.seeds {
        let mut rc = RunConfig::preset("lenet300-lth")?;
        for (k, v) in [
            ("seed", seed.to_string()),
            ("levels", cfg.levels.to_string()),
            ("iterations", cfg.iterations.to_string()),
            ("rate_fc", cfg.rate_fc.to_string()),
            ("rate_output", cfg.rate_output.to_string()),
            ("eval_every", cfg.eval_every.to_string()),
        ] {
            rc.set(k, &v)?;
        }
        let run_dir = run_imp(&rc, env)?;
        for level in 0..=cfg.levels {
            rows.push(row(
                "IMP (rewind to init)",
                seed,
                &read_summary(&level_dir(&run_dir, level))?,
            ));
            if level > 0 {
                for (kind, name) in [
                    (BranchKind::RandomReinit, "random reinit"),
                    (BranchKind::RandomPrune, "random pruning"),
                ] {
                    let dir = run_branch(kind, &run_dir, level, 0, &[], env)?;
                    rows.push(row(name, seed, &read_summary(&dir)?));
                }
            }
        }
    }
    Ok(rows)
}
