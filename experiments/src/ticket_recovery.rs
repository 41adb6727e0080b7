//! Ticket recovery end to end (issue 13): student MLPs trained on the identifiable narrow
//! teacher and pruned to its budget, scored by the matched metrics of `lottery::recovery`, over
//! the sample ratio $x = n/(m s \ln(d/s))$ and the width ratio $y$ = student / teacher width.
//!
//! The sweep (`experiments/sweeps/ticket_recovery.toml`) has three parts: IMP (its level 0 is
//! the dense control, its last level the ticket), layerwise OMP on IMP's dense level 0, and the
//! `prune` methods (the oracle ticket, a random mask, gradual magnitude, the `iht` and `greedy`
//! trainers). Every row is one seed of one arm at one $(x, y)$.
//!
//! **Success** (the definition, with "small excess loss" made a number): hidden F1
//! $\ge 0.9$, feature F1 $\ge 0.95$ and a test loss at most 5% of the teacher's output variance
//! ($R^2 \ge 0.95$; the teacher's own loss on the noiseless test set is 0, so the test loss is the
//! excess).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::evidence::{markdown, Ci};
use crate::sweeps::{field, records};
use lottery::{Error, Result};

/// Hidden-layer matched F1 a success needs.
pub const HIDDEN_F1: f64 = 0.9;
/// Input-feature F1 a success needs.
pub const FEATURE_F1: f64 = 0.95;
/// Largest test loss of a success, as a fraction of the teacher's output variance.
pub const RELATIVE_LOSS: f64 = 0.05;
/// Samples held out for validation in the sweep (`teacher_samples` = n + this).
pub const VALIDATION: usize = 200;

/// The arms, in table order.
pub const ARMS: [&str; 10] = [
    "dense",
    "oracle",
    "random",
    "IMP",
    "layerwise OMP",
    "gradual",
    "iht",
    "greedy",
    "group-lasso λ=0.1",
    "group-lasso λ=1",
];

/// The teacher's shape in the sweep: $(d, m, s)$.
pub const SHAPE: (usize, usize, usize) = (200, 16, 8);

/// $x = n / (m s \ln(d/s))$.
pub fn sample_ratio(n: usize) -> f64 {
    let (d, m, s) = SHAPE;
    n as f64 / ((m * s) as f64 * (d as f64 / s as f64).ln())
}

/// Whether a row is a layerwise cell's (its `command`, or its directory inside the source's).
fn is_layerwise(r: &BTreeMap<String, String>) -> bool {
    r.get("command").is_some_and(|c| c == "layerwise")
        || r.get("run_dir").is_some_and(|d| d.contains("/layerwise_"))
}

/// The method of a `prune` row: its `method` column, or the run name's middle part.
fn method_of(r: &BTreeMap<String, String>, run_dir: &str) -> String {
    match r.get("method").filter(|m| !m.is_empty()) {
        Some(m) => m.clone(),
        None => {
            let top = run_dir.split('/').next().unwrap_or(run_dir);
            let no_hash = top.rsplit_once('-').map_or(top, |(a, _)| a);
            no_hash
                .strip_prefix("mlp-teacher-")
                .unwrap_or(no_hash)
                .to_string()
        }
    }
}

/// One seed of one arm at one $(x, y)$.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Arm (one of [`ARMS`]).
    pub arm: String,
    /// Seed (teacher, samples, initialization).
    pub seed: u64,
    /// Training samples $n$.
    pub n: usize,
    /// $x$, rounded to the grid.
    pub x: f64,
    /// Student width / teacher width.
    pub y: usize,
    /// Matched F1 of the hidden units' incoming supports.
    pub hidden_f1: f64,
    /// Input-feature F1.
    pub feature_f1: f64,
    /// Final test loss (mean squared error per output).
    pub test_loss: f64,
    /// Test loss / the teacher's output variance.
    pub relative_loss: f64,
    /// Fraction of the prunable weights remaining.
    pub remaining: f64,
    /// Training iterations behind the result (IMP: every level up to this one).
    pub compute: usize,
    /// Whether it meets the success definition.
    pub success: bool,
    /// The run directory, relative to the runs root.
    pub run_dir: String,
}

/// The rows of the sweep's merged table (of IMP, level 0 as the dense control and the last
/// level as the ticket; the levels between are left out); `variance(seed)` is the teacher's
/// output variance.
pub fn rows(table: &[Vec<String>], variance: &dyn Fn(u64) -> Result<f64>) -> Result<Vec<Row>> {
    let mut out = Vec::new();
    let (_, m, _) = SHAPE;
    let mut variances: BTreeMap<u64, f64> = BTreeMap::new();
    let records = records(table);
    // Layerwise rows carry their source's level (0): they are no IMP level.
    let level_of = |r: &BTreeMap<String, String>| -> Option<usize> {
        (!is_layerwise(r))
            .then(|| r.get("level").and_then(|v| v.parse().ok()))
            .flatten()
    };
    let mut last: BTreeMap<String, usize> = BTreeMap::new();
    for r in &records {
        if let (Some(l), Some(d)) = (level_of(r), r.get("run_dir")) {
            let e = last.entry(d.clone()).or_insert(l);
            *e = (*e).max(l);
        }
    }
    for r in records {
        let run_dir: String = field(&r, "run_dir")?;
        if let Some(l) = level_of(&r) {
            if l != 0 && Some(&l) != last.get(&run_dir) {
                continue;
            }
        }
        let arm = match (is_layerwise(&r), level_of(&r)) {
            (true, _) => "layerwise OMP".to_string(),
            (false, Some(0)) => "dense".to_string(),
            (false, Some(_)) => "IMP".to_string(),
            // A method set in a part's base is no column: read it off the run's name
            // (`<preset>-<method>-<hash>`).
            (false, None) => match method_of(&r, &run_dir).as_str() {
                "group-lasso" => {
                    let lambda: f64 = field(&r, "group_lambda")?;
                    format!("group-lasso λ={lambda}")
                }
                other => other.to_string(),
            },
        };
        let seed: u64 = field(&r, "seed")?;
        let samples: usize = field(&r, "teacher_samples")?;
        let hidden: String = field(&r, "hidden")?;
        let width: usize = hidden
            .trim_matches(|c| c == '[' || c == ']')
            .trim()
            .parse()
            .map_err(|_| Error::param("results", format!("hidden `{hidden}` is not one width")))?;
        let var = match variances.get(&seed) {
            Some(v) => *v,
            None => {
                let v = variance(seed)?;
                variances.insert(seed, v);
                v
            }
        };
        let n = samples - VALIDATION;
        let (hidden_f1, feature_f1, test_loss): (f64, f64, f64) = (
            field(&r, "hidden_f1")?,
            field(&r, "feature_f1")?,
            field(&r, "test_loss")?,
        );
        let relative_loss = test_loss / var;
        out.push(Row {
            arm,
            seed,
            n,
            x: sample_ratio(n).round(),
            y: width / m,
            hidden_f1,
            feature_f1,
            test_loss,
            relative_loss,
            remaining: field(&r, "remaining")?,
            compute: field(&r, "cumulative_iterations")?,
            success: hidden_f1 >= HIDDEN_F1
                && feature_f1 >= FEATURE_F1
                && relative_loss <= RELATIVE_LOSS,
            run_dir,
        });
    }
    if out.is_empty() {
        return Err(Error::param("results", "no row in the table"));
    }
    Ok(out)
}

/// One arm at one $(x, y)$, over seeds.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    /// Arm.
    pub arm: String,
    /// Sample ratio.
    pub x: f64,
    /// Width ratio.
    pub y: usize,
    /// Hidden matched F1.
    pub hidden_f1: Ci,
    /// Feature F1.
    pub feature_f1: Ci,
    /// Test loss / output variance.
    pub relative_loss: Ci,
    /// Seeds meeting the success definition.
    pub successes: usize,
    /// Seeds.
    pub seeds: usize,
    /// Fraction of the prunable weights remaining (mean).
    pub remaining: f64,
    /// Training iterations (mean).
    pub compute: f64,
}

fn key(r: &Row) -> (usize, i64, usize) {
    let arm = ARMS.iter().position(|a| *a == r.arm).unwrap_or(ARMS.len());
    (arm, r.x as i64, r.y)
}

/// The cells, in arm, $x$, $y$ order.
pub fn cells(rows: &[Row]) -> Vec<Cell> {
    let mut by: BTreeMap<(usize, i64, usize), Vec<&Row>> = BTreeMap::new();
    for r in rows {
        by.entry(key(r)).or_default().push(r);
    }
    by.into_values()
        .map(|rs| {
            let of = |f: &dyn Fn(&Row) -> f64| Ci::of(&rs.iter().map(|r| f(r)).collect::<Vec<_>>());
            let mean =
                |f: &dyn Fn(&Row) -> f64| rs.iter().map(|r| f(r)).sum::<f64>() / rs.len() as f64;
            Cell {
                arm: rs[0].arm.clone(),
                x: rs[0].x,
                y: rs[0].y,
                hidden_f1: of(&|r| r.hidden_f1),
                feature_f1: of(&|r| r.feature_f1),
                relative_loss: of(&|r| r.relative_loss),
                successes: rs.iter().filter(|r| r.success).count(),
                seeds: rs.len(),
                remaining: mean(&|r| r.remaining),
                compute: mean(&|r| r.compute as f64),
            }
        })
        .collect()
}

/// Every cell as a markdown table.
pub fn markdown_cells(cells: &[Cell]) -> String {
    let rows: Vec<Vec<String>> = cells
        .iter()
        .map(|c| {
            vec![
                c.arm.clone(),
                format!("{}", c.x),
                format!("{}", c.y),
                c.hidden_f1.show(1.0, 3),
                c.feature_f1.show(1.0, 3),
                c.relative_loss.show(100.0, 1),
                format!("{}/{}", c.successes, c.seeds),
                format!("{:.2}", 100.0 * c.remaining),
                format!("{:.0}", c.compute),
            ]
        })
        .collect();
    markdown(
        &[
            "arm",
            "x",
            "y",
            "hidden F1",
            "feature F1",
            "test loss (% of output variance)",
            "successes",
            "% remaining",
            "iterations",
        ],
        &rows,
    )
}

/// The successes as one table: a row per arm, a column per $(y, x)$ (`k/n` seeds).
pub fn markdown_successes(cells: &[Cell]) -> String {
    let mut xs: Vec<i64> = cells.iter().map(|c| c.x as i64).collect();
    let mut ys: Vec<usize> = cells.iter().map(|c| c.y).collect();
    xs.sort_unstable();
    xs.dedup();
    ys.sort_unstable();
    ys.dedup();
    let cols: Vec<(usize, i64)> = ys
        .iter()
        .flat_map(|&y| xs.iter().map(move |&x| (y, x)))
        .collect();
    let header: Vec<String> = std::iter::once("arm".to_string())
        .chain(cols.iter().map(|(y, x)| format!("y={y} x={x}")))
        .collect();
    let mut arms: Vec<&str> = Vec::new();
    for c in cells {
        if !arms.contains(&c.arm.as_str()) {
            arms.push(&c.arm);
        }
    }
    let rows: Vec<Vec<String>> = arms
        .iter()
        .map(|a| {
            std::iter::once(a.to_string())
                .chain(cols.iter().map(|&(y, x)| {
                    cells
                        .iter()
                        .find(|c| c.arm == *a && c.y == y && c.x as i64 == x)
                        .map_or("—".to_string(), |c| {
                            format!("{}/{}", c.successes, c.seeds)
                        })
                }))
                .collect()
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    markdown(&header, &rows)
}

/// Per seed: (relative test loss, hidden F1).
type BySeed = BTreeMap<u64, (f64, f64)>;

/// Paired differences of `a` against `b` (same seed, $x$, $y$) in the relative test loss and
/// the hidden F1, one line per $(x, y)$.
pub fn markdown_paired(rows: &[Row], a: &str, b: &str) -> String {
    let mut by: BTreeMap<(i64, usize), [BySeed; 2]> = BTreeMap::new();
    for r in rows {
        let side = if r.arm == a {
            0
        } else if r.arm == b {
            1
        } else {
            continue;
        };
        by.entry((r.x as i64, r.y)).or_default()[side]
            .insert(r.seed, (r.relative_loss, r.hidden_f1));
    }
    let lines: Vec<Vec<String>> = by
        .iter()
        .map(|(&(x, y), [sa, sb])| {
            let pick = |s: &BySeed, i: usize| -> BTreeMap<u64, f64> {
                s.iter()
                    .map(|(k, v)| (*k, if i == 0 { v.0 } else { v.1 }))
                    .collect()
            };
            let loss = Ci::paired(&pick(sa, 0), &pick(sb, 0));
            let f1 = Ci::paired(&pick(sa, 1), &pick(sb, 1));
            vec![
                format!("{x}"),
                format!("{y}"),
                loss.show(100.0, 1),
                f1.show(1.0, 3),
                format!("{}", loss.n),
            ]
        })
        .collect();
    markdown(
        &[
            "x",
            "y",
            &format!("test loss, {a} − {b} (% of variance)"),
            &format!("hidden F1, {a} − {b}"),
            "seeds",
        ],
        &lines,
    )
}

/// Heat-map rectangles of one arm: $\log_2 x$ across, $\log_2 y$ up, value `v(cell)` in
/// $[0, 1]$.
pub fn heat(cells: &[Cell], arm: &str, v: &dyn Fn(&Cell) -> f64) -> Vec<(f64, f64, f64, f64, f64)> {
    cells
        .iter()
        .filter(|c| c.arm == arm)
        .map(|c| {
            let (lx, ly) = (c.x.log2(), (c.y as f64).log2());
            (lx - 1.0, lx + 1.0, ly - 0.5, ly + 0.5, v(c).clamp(0.0, 1.0))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Vec<Vec<String>> {
        let s = |v: &str| v.split(',').map(str::to_string).collect::<Vec<_>>();
        [
            "seed,teacher_samples,hidden,method,group_lambda,level,run_dir,hidden_f1,feature_f1,\
             test_loss,remaining,cumulative_iterations",
            "0,612,[16],,,0,a,0.1,0.3,0.01,1,6000",
            "0,612,[16],,,3,a,0.5,1,0.2,0.2,24000",
            "0,612,[16],,,5,a,0.95,1,0.2,0.04,36000",
            "1,26568,[128],oracle,,,b,0.92,0.96,0.6,0.005,6000",
            "1,26568,[128],,0.1,,mlp-teacher-group-lasso-0a1b,0.9,1,0.1,0.005,6000",
            "1,26568,[32],,,0,c/level_0/layerwise_omp_1,0.5,1,9,0.02,6000",
        ]
        .iter()
        .map(|l| s(l))
        .collect()
    }

    #[test]
    fn rows_read_the_arms_axes_and_success() {
        let rows = rows(&table(), &|seed| Ok(if seed == 0 { 10.0 } else { 20.0 })).unwrap();
        let arms: Vec<&str> = rows.iter().map(|r| r.arm.as_str()).collect();
        assert_eq!(
            arms,
            [
                "dense",
                "IMP",
                "oracle",
                "group-lasso λ=0.1",
                "layerwise OMP"
            ]
        );
        assert_eq!((rows[0].x, rows[0].y), (1.0, 1));
        assert_eq!((rows[2].x, rows[2].y), (64.0, 8));
        // IMP: F1s pass, loss 0.2 / 10 = 2% of the variance passes; the oracle's 0.6 / 20 = 3%.
        assert!(rows[1].success && rows[2].success);
        // Dense fails the F1s; layerwise fails the loss (45%).
        assert!(!rows[0].success && !rows[4].success);
        assert!((rows[4].relative_loss - 0.45).abs() < 1e-12);
        let cells = cells(&rows);
        assert_eq!(cells.len(), 5);
        assert_eq!(cells[0].arm, "dense");
        let successes = markdown_successes(&cells);
        assert!(successes.contains("| IMP | 1/1 | — |"), "{successes}");
        let paired = markdown_paired(&rows, "IMP", "dense");
        assert!(paired.contains("| 1 | 1 | 1.9 |"), "{paired}");
    }
}
