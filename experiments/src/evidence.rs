//! What every network experiment reports the same way: a run's evaluation curve read back from
//! its `metrics.csv`, early stopping within a budget, iterations until a target, and summaries
//! over seeds — the mean with its 95% Student-t interval ([`lottery::stats::mean_ci95`]) and,
//! where two arms share seeds, the paired difference.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::sweeps::field;
use lottery::{Error, Result};

/// One evaluation of a run: validation and test loss and accuracy at an iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Eval {
    /// Iteration.
    pub iteration: usize,
    /// Validation loss.
    pub val_loss: f64,
    /// Validation accuracy.
    pub val_accuracy: f64,
    /// Test accuracy.
    pub test_accuracy: f64,
}

/// The evaluations in `<dir>/metrics.csv`, in iteration order.
pub fn read_metrics(dir: &Path) -> Result<Vec<Eval>> {
    let path = dir.join("metrics.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Io {
        path: path.clone(),
        source: e,
    })?;
    let bad = |line: &str| Error::Format {
        path: path.clone(),
        reason: format!("bad line `{line}`"),
    };
    let mut by_it: BTreeMap<usize, [f64; 3]> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 4 {
            return Err(bad(line));
        }
        let it: usize = f[0].parse().map_err(|_| bad(line))?;
        let loss: f64 = f[2].parse().map_err(|_| bad(line))?;
        let acc: f64 = f[3].parse().map_err(|_| bad(line))?;
        let e = by_it.entry(it).or_insert([f64::NAN; 3]);
        match f[1] {
            "val" => {
                e[0] = loss;
                e[1] = acc;
            }
            "test" => e[2] = acc,
            _ => return Err(bad(line)),
        }
    }
    Ok(by_it
        .into_iter()
        .map(
            |(iteration, [val_loss, val_accuracy, test_accuracy])| Eval {
                iteration,
                val_loss,
                val_accuracy,
                test_accuracy,
            },
        )
        .collect())
}

/// The evaluation of least validation loss among those at iterations `<= max_iteration` (the
/// earliest on ties): early stopping within a budget.
pub fn early_stop_within(evals: &[Eval], max_iteration: usize) -> Option<Eval> {
    evals
        .iter()
        .filter(|e| e.iteration <= max_iteration && e.val_loss.is_finite())
        .fold(None, |best: Option<Eval>, e| match best {
            Some(b) if b.val_loss <= e.val_loss => Some(b),
            _ => Some(*e),
        })
}

/// The first iteration, counted from the run's first evaluation, at which the validation
/// accuracy reaches `target`; `None` when it never does (censored at the budget).
pub fn iterations_to(evals: &[Eval], target: f64) -> Option<usize> {
    let start = evals.first()?.iteration;
    evals
        .iter()
        .find(|e| e.val_accuracy >= target)
        .map(|e| e.iteration - start)
}

/// The directory holding a results row's `metrics.csv`: the level directory of an IMP or
/// train run, the branch directory itself otherwise.
pub fn run_level_dir(runs: &Path, r: &BTreeMap<String, String>) -> Result<PathBuf> {
    let run: String = field(r, "run_dir")?;
    let base = runs.join(run);
    Ok(match r.get("command").map(String::as_str) {
        Some("imp") | Some("train") => base.join(format!("level_{}", field::<usize>(r, "level")?)),
        _ => base,
    })
}

/// Mean, 95% half-width and count of some values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Ci {
    /// Mean.
    pub mean: f64,
    /// Half-width of the 95% interval (NaN below two values).
    pub ci95: f64,
    /// Number of values.
    pub n: usize,
}

impl Ci {
    /// Of `v`.
    pub fn of(v: &[f64]) -> Ci {
        let (mean, ci95) = lottery::stats::mean_ci95(v);
        Ci {
            mean,
            ci95,
            n: v.len(),
        }
    }

    /// The paired difference `a[s] - b[s]` over the seeds both have.
    pub fn paired(a: &BTreeMap<u64, f64>, b: &BTreeMap<u64, f64>) -> Ci {
        let d: Vec<f64> = a
            .iter()
            .filter_map(|(s, x)| b.get(s).map(|y| x - y))
            .collect();
        Ci::of(&d)
    }

    /// `mean ± ci` with values scaled by `scale` (e.g. 100 for percentages), `digits` decimals;
    /// `—` when there is no value.
    pub fn show(&self, scale: f64, digits: usize) -> String {
        if self.n == 0 || !self.mean.is_finite() {
            return "—".into();
        }
        if self.ci95.is_finite() {
            format!(
                "{:.d$} ± {:.d$}",
                self.mean * scale,
                self.ci95 * scale,
                d = digits
            )
        } else {
            format!("{:.d$}", self.mean * scale, d = digits)
        }
    }
}

/// A markdown table: header and rows of cells.
pub fn markdown(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!(
        "| {} |\n|{}\n",
        header.join(" | "),
        "---|".repeat(header.len())
    );
    for r in rows {
        out.push_str(&format!("| {} |\n", r.join(" | ")));
    }
    out
}

/// Write records whose fields may be [`Ci`]s as one flat CSV table (a `Ci` field `x` becomes
/// `x_mean`, `x_ci95`, `x_n`), atomically.
pub fn write_flat<T: Serialize>(path: &Path, items: &[T]) -> Result<()> {
    let bad = |e: String| Error::param("csv", format!("{}: {e}", path.display()));
    let mut header: Vec<String> = Vec::new();
    let mut rows: Vec<Vec<String>> = Vec::new();
    for item in items {
        let v = serde_json::to_value(item).map_err(|e| bad(e.to_string()))?;
        let obj = v.as_object().ok_or_else(|| bad("not a record".into()))?;
        let mut cols = Vec::new();
        let mut cells = Vec::new();
        for (k, x) in obj {
            match x {
                serde_json::Value::Object(o) => {
                    for (kk, xx) in o {
                        cols.push(format!("{k}_{kk}"));
                        cells.push(xx.to_string());
                    }
                }
                serde_json::Value::String(s) => {
                    cols.push(k.clone());
                    cells.push(s.clone());
                }
                other => {
                    cols.push(k.clone());
                    cells.push(other.to_string());
                }
            }
        }
        if header.is_empty() {
            header = cols;
        }
        rows.push(cells);
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&header).map_err(|e| bad(e.to_string()))?;
    for r in &rows {
        w.write_record(r).map_err(|e| bad(e.to_string()))?;
    }
    let bytes = w.into_inner().map_err(|e| bad(e.to_string()))?;
    lottery::io::write_atomic(path, &bytes)
}

/// A curve of means with 95% error bars: one point `(x, ci)` per item (items without a value
/// are skipped), values scaled by `scale` (100 for percentages).
pub fn ci_series(
    name: impl Into<String>,
    points: impl IntoIterator<Item = (f64, Ci)>,
    scale: f64,
) -> lottery::plot::Series {
    let (pts, errs): (Vec<(f64, f64)>, Vec<f64>) = points
        .into_iter()
        .filter(|(_, c)| c.n > 0 && c.mean.is_finite())
        .map(|(x, c)| {
            let half = if c.ci95.is_finite() { c.ci95 } else { 0.0 };
            ((x, scale * c.mean), scale * half)
        })
        .unzip();
    let mut s = lottery::plot::Series::line(name, pts);
    s.err = Some(errs);
    s
}

/// A panel of curves against the percentage of weights remaining (log axis).
pub fn remaining_panel(
    title: impl Into<String>,
    y_label: &str,
    series: Vec<lottery::plot::Series>,
) -> lottery::plot::Panel {
    lottery::plot::Panel {
        title: title.into(),
        x_label: "% of weights remaining".into(),
        y_label: y_label.into(),
        log_x: true,
        log_y: false,
        series,
        cells: vec![],
        legend_lower: true,
    }
}
