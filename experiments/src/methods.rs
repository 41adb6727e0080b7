//! Every method of the zoo on LeNet-300-100 / Fashion-MNIST at 50–99% sparsity, several seeds,
//! with IMP and the dense network as references: test accuracy against sparsity.
//!
//! Each (method, sparsity, seed) is an ordinary hash-named `lottery prune` run under
//! `<out>/runs/` (resumable: rerunning the experiment skips finished runs). Runs are independent
//! and executed by `jobs` worker processes (the experiment binary re-executes itself with
//! `--job FILE`), each with one libtorch thread, so the results do not depend on `jobs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use lottery::nn::imp::run_imp;
use lottery::nn::phase::Env;
use lottery::nn::rundir::finished;
use lottery::nn::rundir::level_dir;
use lottery::nn::rundir::Summary;
use lottery::nn::zoo::run_prune;
use lottery::run::RunConfig;
use lottery::{Error, Result};

/// Sizes of the experiment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    /// Methods (names of `lottery prune`).
    pub methods: Vec<String>,
    /// Sparsities (fraction of prunable weights removed).
    pub sparsities: Vec<f64>,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Training iterations of every run (and of every IMP level, CS round, search phase).
    pub iterations: usize,
    /// Evaluation interval.
    pub eval_every: usize,
    /// Settings applied to every run (KEY, VALUE).
    pub settings: Vec<(String, String)>,
    /// IMP reference: levels, and the fraction of fc / output weights pruned per level.
    pub imp_levels: usize,
    /// … fc rate.
    pub imp_rate_fc: f64,
    /// … output rate.
    pub imp_rate_output: f64,
    /// Worker processes.
    pub jobs: usize,
}

impl Config {
    /// Default size (32 minutes measured on 2 CPU cores shared with a CI run): 14 methods × 6
    /// sparsities × 2 seeds,
    /// 3000 iterations per training (3.3 epochs at batch 60), every method with one **global**
    /// budget (the methods allocate sparsity across layers by their own scores — a layerwise
    /// 99% would leave the output layer 10 weights whatever the method); continuous
    /// sparsification with 2 rounds, early-bird masks compared every 200 iterations; IMP with
    /// the paper's layerwise schedule to 0.8% remaining in 7 levels (fc 50% / output 25% per
    /// level).
    pub fn default_size() -> Self {
        Config {
            methods: lottery::run::Method::NAMES[2..]
                .iter()
                .map(|m| m.to_string())
                .collect(),
            sparsities: vec![0.5, 0.8, 0.9, 0.95, 0.98, 0.99],
            seeds: vec![0, 1],
            iterations: 3000,
            eval_every: 500,
            settings: vec![
                ("strategy".into(), "global".into()),
                ("cs_rounds".into(), "2".into()),
                ("eb_every".into(), "200".into()),
            ],
            imp_levels: 7,
            imp_rate_fc: 0.5,
            imp_rate_output: 0.25,
            jobs: 2,
        }
    }

    /// The papers' length: 50K iterations (LeNet in Frankle & Carbin), 5 seeds, the methods'
    /// own defaults (3 CS rounds, early-bird every epoch), IMP at 20% / 10% per level for 20
    /// levels.
    pub fn paper_size() -> Self {
        Config {
            seeds: (0..5).collect(),
            iterations: 50_000,
            eval_every: 1000,
            settings: vec![("strategy".into(), "global".into())],
            imp_levels: 20,
            imp_rate_fc: 0.2,
            imp_rate_output: 0.1,
            ..Self::default_size()
        }
    }

    /// The run configurations: IMP (one per seed), then every (method, sparsity, seed).
    pub fn runs(&self) -> Result<Vec<RunConfig>> {
        let base = |seed: u64| -> Result<RunConfig> {
            let mut rc = RunConfig::preset("lenet300-lth")?;
            rc.set("seed", &seed.to_string())?;
            rc.set("iterations", &self.iterations.to_string())?;
            rc.set("eval_every", &self.eval_every.to_string())?;
            Ok(rc)
        };
        let mut out = Vec::new();
        for &seed in &self.seeds {
            let mut rc = base(seed)?;
            rc.set("levels", &self.imp_levels.to_string())?;
            rc.set("rate_fc", &self.imp_rate_fc.to_string())?;
            rc.set("rate_output", &self.imp_rate_output.to_string())?;
            out.push(rc);
        }
        for m in &self.methods {
            for &s in &self.sparsities {
                for &seed in &self.seeds {
                    let mut rc = base(seed)?;
                    for (k, v) in &self.settings {
                        rc.set(k, v)?;
                    }
                    rc.set("method", m)?;
                    rc.set("sparsity", &format!("{s:?}"))?;
                    out.push(rc);
                }
            }
        }
        Ok(out)
    }
}

/// One point of the figure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Method (`imp`, `dense` or a `lottery prune` method).
    pub method: String,
    /// Seed.
    pub seed: u64,
    /// Requested sparsity (IMP: the level's).
    pub sparsity: f64,
    /// Fraction of prunable weights remaining.
    pub remaining: f64,
    /// Test accuracy at the end of training.
    #[serde(rename = "final_test_accuracy")]
    pub final_accuracy: f64,
    /// Best test accuracy over the evaluations.
    #[serde(rename = "best_test_accuracy")]
    pub best_accuracy: f64,
}

fn row(method: &str, seed: u64, sparsity: f64, s: &Summary) -> Row {
    Row {
        method: method.into(),
        seed,
        sparsity,
        remaining: s.remaining,
        final_accuracy: s.final_test_accuracy,
        best_accuracy: s.best_test_accuracy,
    }
}

/// Run one configuration in this process (the worker's job): IMP or a pruning method.
pub fn run_job(rc: &RunConfig, env: &Env) -> Result<PathBuf> {
    if rc.method == lottery::run::Method::Imp {
        run_imp(rc, env)
    } else {
        run_prune(rc, env)
    }
}

/// Run `runs` with `jobs` worker processes of `exe` (`exe --job <file> <args…>`, each printing
/// its run directory); job files and the workers' output go to `out/jobs/`. Returns each run's
/// directory, in order. Every run is attempted; the first failure is returned after all have
/// finished.
pub fn run_all(
    runs: &[RunConfig],
    exe: &Path,
    out: &Path,
    args: &[std::ffi::OsString],
    jobs: usize,
) -> Result<Vec<PathBuf>> {
    let job_dir = out.join("jobs");
    std::fs::create_dir_all(&job_dir).map_err(|e| Error::Io {
        path: job_dir.clone(),
        source: e,
    })?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e| Error::Io { path, source: e }
    };
    let mut results: Vec<Option<Result<PathBuf>>> = (0..runs.len()).map(|_| None).collect();
    let mut next = 0;
    let mut running: Vec<(usize, std::process::Child)> = Vec::new();
    while next < runs.len() || !running.is_empty() {
        while running.len() < jobs.max(1) && next < runs.len() {
            let file = job_dir.join(format!("{next}.toml"));
            lottery::io::write_atomic(&file, runs[next].to_toml().as_bytes())?;
            let stdout = std::fs::File::create(file.with_extension("out")).map_err(io(&file))?;
            let stderr = std::fs::File::create(file.with_extension("err")).map_err(io(&file))?;
            let child = Command::new(exe)
                .arg("--job")
                .arg(&file)
                .args(args)
                .stdout(Stdio::from(stdout))
                .stderr(Stdio::from(stderr))
                .spawn()
                .map_err(io(exe))?;
            running.push((next, child));
            next += 1;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        let mut still = Vec::new();
        for (i, mut child) in running.drain(..) {
            match child.try_wait().map_err(io(exe))? {
                None => still.push((i, child)),
                Some(status) => {
                    let file = job_dir.join(format!("{i}.toml"));
                    let read = |ext: &str| {
                        std::fs::read_to_string(file.with_extension(ext)).unwrap_or_default()
                    };
                    results[i] = Some(if status.success() {
                        Ok(PathBuf::from(
                            read("out").lines().last().unwrap_or_default(),
                        ))
                    } else {
                        Err(Error::param(
                            "job",
                            format!(
                                "{} ({}): {}",
                                runs[i].method,
                                runs[i].hash()?,
                                read("err").trim()
                            ),
                        ))
                    });
                }
            }
        }
        running = still;
    }
    results
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}

/// The rows of finished runs (`dirs` from [`run_all`], in the order of `runs`).
pub fn collect(runs: &[RunConfig], dirs: &[PathBuf]) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (rc, dir) in runs.iter().zip(dirs) {
        if rc.method == lottery::run::Method::Imp {
            for level in 0..=rc.levels {
                let s = finished(&level_dir(dir, level))?.ok_or_else(|| {
                    Error::param("run", format!("{} level {level} unfinished", dir.display()))
                })?;
                let name = if level == 0 { "dense" } else { "imp" };
                rows.push(row(name, rc.seed, 1.0 - s.remaining, &s));
            }
        } else {
            let s = finished(dir)?
                .ok_or_else(|| Error::param("run", format!("{} unfinished", dir.display())))?;
            rows.push(row(rc.method.as_str(), rc.seed, rc.sparsity, &s));
        }
    }
    Ok(rows)
}
