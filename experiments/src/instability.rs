//! Instability against the rewind iteration $k$ (Frankle et al. 2020) on LeNet-300-100 /
//! Fashion-MNIST: the dense network, and the sparse network of an IMP ticket (its mask, trained
//! from the dense parent's weights at $k$), several seeds.
//!
//! Every sweep is an ordinary `lottery lmc` run (resumable) under `<out>/runs/`.

use serde::{Deserialize, Serialize};

use lottery::nn::imp::run_imp;
use lottery::nn::phase::Env;
use lottery::nn::rundir::level_dir;
use lottery::nn::zoo::lmc::{run_lmc, LmcSummary};
use lottery::run::RunConfig;
use lottery::{Error, Result};

/// Sizes of the experiment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    /// Rewind iterations.
    pub ks: Vec<usize>,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Training length of every copy (and of each IMP level).
    pub iterations: usize,
    /// IMP level whose mask is the sparse network (fc 50% / output 25% per level); 0 = dense
    /// only.
    pub sparse_level: usize,
    /// Points on the interpolation path.
    pub points: usize,
}

impl Config {
    /// Default size (22 minutes measured on 2 CPU cores shared with other runs): k ∈ {0, 25, 50, 100, 250, 500, 1000},
    /// 3000 iterations, 2 seeds, the IMP ticket at level 4 (6.3% of fc weights), 11 points.
    pub fn default_size() -> Self {
        Config {
            ks: vec![0, 25, 50, 100, 250, 500, 1000],
            seeds: vec![0, 1],
            iterations: 3000,
            sparse_level: 4,
            points: 11,
        }
    }

    /// Paper length: 50K iterations, k up to 5000, 3 seeds, 30 points.
    pub fn paper_size() -> Self {
        Config {
            ks: vec![0, 50, 100, 250, 500, 1000, 2000, 5000],
            seeds: vec![0, 1, 2],
            iterations: 50_000,
            sparse_level: 8,
            points: 30,
        }
    }
}

/// One point of the curves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `dense` or `IMP ticket (x% remaining)`.
    pub network: String,
    /// Seed.
    pub seed: u64,
    /// Rewind iteration.
    pub k: usize,
    /// Test instability.
    pub instability_test: f64,
    /// Train instability.
    pub instability_train: f64,
}

fn read_lmc(dir: &std::path::Path, k: usize) -> Result<LmcSummary> {
    lottery::io::read_json(&dir.join(format!("k_{k}")).join("summary.json"))
}

/// Run (or resume) every sweep; rows for all of them.
pub fn run(cfg: &Config, env: &Env) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &seed in &cfg.seeds {
        let mut rc = RunConfig::preset("lenet300-lth")?;
        rc.set("seed", &seed.to_string())?;
        rc.set("iterations", &cfg.iterations.to_string())?;
        rc.set("eval_every", &cfg.iterations.to_string())?;
        let mut sweeps = vec![("dense".to_string(), None)];
        if cfg.sparse_level > 0 {
            let mut imp = rc.clone();
            imp.set("levels", &cfg.sparse_level.to_string())?;
            imp.set("rate_fc", "0.5")?;
            imp.set("rate_output", "0.25")?;
            let run = run_imp(&imp, env)?;
            let level = level_dir(&run, cfg.sparse_level);
            let s = lottery::nn::rundir::finished(&level)?
                .ok_or_else(|| Error::param("imp", "the ticket's level did not finish"))?;
            sweeps.push((
                format!("IMP ticket ({:.1}% remaining)", 100.0 * s.remaining),
                Some(level.join("mask.safetensors")),
            ));
        }
        for (name, mask) in sweeps {
            let dir = run_lmc(&rc, env, &cfg.ks, mask.as_deref(), cfg.points)?;
            for &k in &cfg.ks {
                let s = read_lmc(&dir, k)?;
                rows.push(Row {
                    network: name.clone(),
                    seed,
                    k,
                    instability_test: s.instability_test,
                    instability_train: s.instability_train,
                });
            }
        }
    }
    Ok(rows)
}
