//! Layerwise recovery of a planted teacher as compressed sensing (issue 13, part 3): for each
//! first-layer unit of an identifiable teacher ([`NarrowTeacherParams`]), recover its incoming
//! weights from $n$ Gaussian inputs and the unit's pre-activations, its post-ReLU outputs, or
//! the active rows of those (`lottery::recovery::layerwise`), with OMP, HTP, CoSaMP, NIHT and
//! ℓ1 Frank-Wolfe, over $x = n / (s \ln(d/s))$ — beside the convex layer's own planted
//! instances at the same $(n, d, k = s)$, the measured transition the network case is compared
//! with. Success: the $s$ largest coordinates of the estimate are exactly the unit's support.

use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use lottery::data::teacher::NarrowTeacherParams;
use lottery::problem::{LeastSquares, PlantedParams};
use lottery::recovery::layerwise::{top_k_support, unit_problem, Signal};
use lottery::Result;

/// Solvers of the diagram.
pub const SOLVERS: [&str; 5] = ["OMP", "HTP", "CoSaMP", "NIHT", "l1 (FW)"];

/// The rows of the figure: the convex layer's planted instances, then the three signals.
pub const SOURCES: [&str; 4] = ["planted", "pre", "post", "active"];

/// Teacher shape, grid and trial counts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    /// The teacher (its first layer is recovered).
    pub teacher: NarrowTeacherParams,
    /// Values of $x = n / (s \ln(d/s))$.
    pub xs: Vec<f64>,
    /// Teachers (seeds) per cell; each contributes all its first-layer units.
    pub teachers: usize,
    /// Noise standard deviation on the pre-activation.
    pub noise: f64,
    /// Iteration cap of HTP, CoSaMP and NIHT.
    pub iters: usize,
    /// Iteration cap of pairwise Frank-Wolfe on the ℓ1 ball.
    pub fw_iters: usize,
    /// Base seed.
    pub seed: u64,
}

impl Config {
    /// Default size (a minute on 2 cores): $d = 200$, $q = 40$, 16 units of fan-in 8,
    /// 11 values of $x$ from 0.5 to 16, 5 teachers.
    pub fn default_size() -> Self {
        Config {
            teacher: NarrowTeacherParams::default(),
            xs: vec![0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0],
            teachers: 5,
            noise: 0.0,
            iters: 300,
            fw_iters: 3000,
            seed: 0,
        }
    }

    /// Paper size: $d = 1000$, $q = 100$, 16 units of fan-in 10, 10 teachers.
    pub fn paper_size() -> Self {
        Config {
            teacher: NarrowTeacherParams {
                input: 1000,
                relevant: 100,
                fan_in: vec![10],
                ..NarrowTeacherParams::default()
            },
            teachers: 10,
            fw_iters: 10000,
            ..Config::default_size()
        }
    }

    /// $n$ at grid value `x`: $\lceil x\, s \ln(d/s) \rceil$.
    pub fn samples(&self, x: f64) -> usize {
        let (d, s) = (self.teacher.input as f64, self.teacher.fan_in[0] as f64);
        ((x * s * (d / s).ln()).ceil() as usize).max(2)
    }
}

/// One teacher's units at one $x$, one source, one solver.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `planted`, `pre`, `post` or `active`.
    pub source: String,
    /// Solver.
    pub solver: String,
    /// $x = n/(s\ln(d/s))$.
    pub x: f64,
    /// Samples $n$.
    pub n: usize,
    /// Teacher index (its seed is derived from it).
    pub teacher: usize,
    /// Units recovered exactly.
    pub successes: usize,
    /// Units tried.
    pub units: usize,
    /// Mean fraction of each unit's support among the estimate's top $s$.
    pub overlap: f64,
    /// Mean rows used (the active rows for `active`).
    pub rows: f64,
}

fn support_of(w: &Array1<f64>) -> Vec<usize> {
    (0..w.len()).filter(|&i| w[i] != 0.0).collect()
}

/// Run every (x, teacher) job in parallel; rows sorted by source, solver, x, teacher.
pub fn run(cfg: &Config) -> Result<Vec<Row>> {
    cfg.teacher.validate()?;
    let s = cfg.teacher.fan_in[0];
    let d = cfg.teacher.input;
    let jobs: Vec<(usize, usize)> = (0..cfg.xs.len())
        .flat_map(|i| (0..cfg.teachers).map(move |t| (i, t)))
        .collect();
    let mut rows: Vec<Row> = jobs
        .par_iter()
        .map(|&(i, t)| -> Result<Vec<Row>> {
            let x = cfg.xs[i];
            let n = cfg.samples(x);
            let teacher = NarrowTeacherParams {
                seed: super::cell_seed(cfg.seed, 1, t as u64, 0),
                ..cfg.teacher.clone()
            }
            .generate()?;
            let mut rng =
                ChaCha8Rng::seed_from_u64(super::cell_seed(cfg.seed, 2, t as u64, i as u64));
            let inputs =
                Array2::from_shape_simple_fn((n, d), || rng.sample::<f64, _>(StandardNormal));
            let noise = Array1::from_shape_simple_fn(n, || {
                cfg.noise * rng.sample::<f64, _>(StandardNormal)
            });
            let w1 = teacher.weights[0].mapv(f64::from);
            let units = w1.nrows();
            let mut out = Vec::new();
            for source in SOURCES {
                for solver in SOLVERS {
                    let (mut successes, mut overlap, mut used) = (0, 0.0, 0.0);
                    for u in 0..units {
                        let (p, truth, l1, rows_used) = if source == "planted" {
                            // The convex layer's own instance at the same (n, d, k).
                            let inst = PlantedParams {
                                n,
                                d,
                                k: s,
                                noise: cfg.noise / (n as f64).sqrt(),
                                seed: super::cell_seed(
                                    cfg.seed,
                                    3,
                                    t as u64,
                                    (i * units + u) as u64,
                                ),
                                ..Default::default()
                            }
                            .generate()?;
                            let l1 = inst.x_star.iter().map(|v| v.abs()).sum();
                            (LeastSquares::from_f64(inst.a, inst.y)?, inst.support, l1, n)
                        } else {
                            let signal = match source {
                                "pre" => Signal::PreActivation,
                                "post" => Signal::PostRelu,
                                _ => Signal::ActiveRows,
                            };
                            let w = w1.row(u).to_owned();
                            let up = match unit_problem(&inputs, &w, 0.0, signal, &noise) {
                                Ok(up) => up,
                                // Fewer than 2 active rows: a failure, not an error.
                                Err(_) => continue,
                            };
                            let l1 = up.scale * w.iter().map(|v| v.abs()).sum::<f64>();
                            (up.problem, support_of(&w), l1, up.rows)
                        };
                        let est = super::phase_transition::recover(
                            solver,
                            &p,
                            s,
                            l1,
                            cfg.iters,
                            cfg.fw_iters,
                        )?;
                        let got = top_k_support(&est, s);
                        if got == truth {
                            successes += 1;
                        }
                        overlap +=
                            got.iter().filter(|j| truth.contains(j)).count() as f64 / s as f64;
                        used += rows_used as f64;
                    }
                    out.push(Row {
                        source: source.to_string(),
                        solver: solver.to_string(),
                        x,
                        n,
                        teacher: t,
                        successes,
                        units,
                        overlap: overlap / units as f64,
                        rows: used / units as f64,
                    });
                }
            }
            Ok(out)
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let rank = |r: &Row| {
        (
            SOURCES.iter().position(|&s| s == r.source),
            SOLVERS.iter().position(|&s| s == r.solver),
        )
    };
    rows.sort_by(|a, b| {
        rank(a)
            .cmp(&rank(b))
            .then(a.x.total_cmp(&b.x))
            .then(a.teacher.cmp(&b.teacher))
    });
    Ok(rows)
}

/// Per source, solver and $x$: success rate over teachers, mean ± 95% interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Source.
    pub source: String,
    /// Solver.
    pub solver: String,
    /// $x$.
    pub x: f64,
    /// $n$.
    pub n: usize,
    /// Mean success rate over teachers.
    pub success: f64,
    /// Half-width of its 95% t-interval over teachers.
    pub ci: f64,
    /// Mean top-$s$ overlap.
    pub overlap: f64,
    /// Mean rows used (the active rows for `active`).
    pub rows: f64,
    /// Teachers.
    pub teachers: usize,
}

/// Rows grouped per (source, solver, x).
pub fn summarize(rows: &[Row]) -> Vec<Summary> {
    let mut out: Vec<Summary> = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let r = &rows[i];
        let group: Vec<&Row> = rows[i..]
            .iter()
            .take_while(|q| q.source == r.source && q.solver == r.solver && q.x == r.x)
            .collect();
        let rates: Vec<f64> = group
            .iter()
            .map(|q| q.successes as f64 / q.units.max(1) as f64)
            .collect();
        let (m, h) = lottery::stats::mean_ci95(&rates);
        out.push(Summary {
            source: r.source.clone(),
            solver: r.solver.clone(),
            x: r.x,
            n: r.n,
            success: m,
            ci: h,
            overlap: group.iter().map(|q| q.overlap).sum::<f64>() / group.len() as f64,
            rows: group.iter().map(|q| q.rows).sum::<f64>() / group.len() as f64,
            teachers: group.len(),
        });
        i += group.len();
    }
    out
}
