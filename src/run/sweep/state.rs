//! The state of a sweep's cells (`cells/<key>.json` and `cells/<key>.lock`), what a worker
//! records, the tally `lottery sweep status` prints, and the merged `results.csv`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{bad, display_value, one_line, Cell, Sweep};
use crate::{Error, Result};

/// One row of `results.csv` (before the cell's grid values are prepended): one per level of an
/// IMP run, one per branch, one per `prune` run, one per rewind iteration of `lmc`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The run's directory relative to the runs root (identical whichever root or executor).
    pub run_dir: String,
    /// IMP level (IMP and branches); empty otherwise.
    pub level: Option<usize>,
    /// Fraction of the prunable weights kept.
    pub remaining: Option<f64>,
    /// Test accuracy at the end of training.
    pub test_accuracy: Option<f64>,
    /// Validation accuracy at the end of training.
    pub val_accuracy: Option<f64>,
    /// Iteration of minimum validation loss.
    pub early_stop_iteration: Option<usize>,
    /// Test accuracy at that iteration.
    #[serde(default)]
    pub early_stop_test_accuracy: Option<f64>,
    /// Training iterations behind this row's result: its phase, plus every search phase of a
    /// `prune` run (dense pre-training, rounds).
    pub iterations_trained: usize,
    /// IMP: the iterations of every level up to this one (the ticket's full cost); otherwise
    /// equal to `iterations_trained`.
    pub cumulative_iterations: usize,
    /// Command-specific columns (`lmc`: `k`, `instability_test`, `instability_train`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
}

/// State of a cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// A worker holds the cell.
    Running,
    /// Finished; the rows are recorded.
    Done,
    /// The run reported an error (or its worker died).
    Failed,
    /// Not started.
    Pending,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Running => "running",
            State::Done => "done",
            State::Failed => "failed",
            State::Pending => "pending",
        })
    }
}

/// The state file of a cell, `cells/<key>.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    /// The cell's index when it last ran.
    pub index: usize,
    /// Running, done or failed.
    pub state: State,
    /// Host of the worker.
    pub host: String,
    /// Process id of the worker.
    pub pid: u32,
    /// Seconds the cell took (done or failed).
    pub seconds: Option<f64>,
    /// The error (failed).
    pub error: Option<String>,
    /// Whether the run itself reported the error (then resubmitting cannot help), as opposed
    /// to a worker that died.
    #[serde(default)]
    pub reported: bool,
    /// The result rows (done).
    #[serde(default)]
    pub rows: Vec<Row>,
}

/// `cells/` of a sweep directory.
pub fn cells_dir(sweep_dir: &Path) -> PathBuf {
    sweep_dir.join("cells")
}

fn record_path(sweep_dir: &Path, cell: &Cell) -> PathBuf {
    cells_dir(sweep_dir).join(format!("{}.json", cell.key))
}

/// The recorded state of `cell` (None: never started or unreadable).
pub fn read_record(sweep_dir: &Path, cell: &Cell) -> Option<CellRecord> {
    let bytes = fs::read(record_path(sweep_dir, cell)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Write the state of `cell` atomically.
pub fn write_record(sweep_dir: &Path, cell: &Cell, rec: &CellRecord) -> Result<()> {
    let path = record_path(sweep_dir, cell);
    fs::create_dir_all(cells_dir(sweep_dir)).map_err(|e| Error::Io {
        path: cells_dir(sweep_dir),
        source: e,
    })?;
    let text = serde_json::to_vec_pretty(rec).map_err(|e| bad(e.to_string()))?;
    crate::io::write_atomic(&path, &text)
}

/// The exclusive lock of a running cell (held until dropped or the process dies).
#[derive(Debug)]
pub struct CellLock {
    _file: fs::File,
}

fn lock_file(sweep_dir: &Path, cell: &Cell) -> Result<fs::File> {
    let dir = cells_dir(sweep_dir);
    fs::create_dir_all(&dir).map_err(|e| Error::Io {
        path: dir.clone(),
        source: e,
    })?;
    let path = dir.join(format!("{}.lock", cell.key));
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::Io { path, source: e })
}

/// Take the cell's lock; `Ok(None)` when another process holds it.
pub fn try_lock_cell(sweep_dir: &Path, cell: &Cell) -> Result<Option<CellLock>> {
    let file = lock_file(sweep_dir, cell)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(CellLock { _file: file })),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => Err(Error::Io {
            path: cells_dir(sweep_dir).join(format!("{}.lock", cell.key)),
            source: e,
        }),
    }
}

/// Whether a worker holds the cell now (creates nothing: a cell never started has no lock
/// file, so `status` and `--dry-run` write nothing).
pub fn is_locked(sweep_dir: &Path, cell: &Cell) -> bool {
    cells_dir(sweep_dir)
        .join(format!("{}.lock", cell.key))
        .exists()
        && matches!(try_lock_cell(sweep_dir, cell), Ok(None))
}

/// The state of `cell`: done and failed as recorded; running while a worker holds its lock; a
/// record left "running" by a worker that died reads as failed.
pub fn state_of(sweep_dir: &Path, cell: &Cell) -> (State, Option<CellRecord>) {
    let rec = read_record(sweep_dir, cell);
    if is_locked(sweep_dir, cell) {
        return (State::Running, rec);
    }
    match rec {
        None => (State::Pending, None),
        Some(r) if r.state == State::Running => {
            let mut r = r;
            r.state = State::Failed;
            r.error = Some(format!(
                "the worker (process {} on {}) ended without a result",
                r.pid, r.host
            ));
            (State::Failed, Some(r))
        }
        Some(r) => (r.state, Some(r)),
    }
}

/// This machine's host name (for the state files).
pub fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "?".into())
}

/// Exit status of a worker whose cell another process holds.
pub const EXIT_BUSY: i32 = 75;

/// Run one cell in this process: take its lock (or return `Ok(None)` when another process
/// holds it), record it running, call `run`, record the rows or the error. The error is
/// returned after it is recorded.
pub fn work(
    sweep_dir: &Path,
    cell: &Cell,
    run: impl FnOnce() -> Result<Vec<Row>>,
) -> Result<Option<Vec<Row>>> {
    let Some(_lock) = try_lock_cell(sweep_dir, cell)? else {
        return Ok(None);
    };
    let start = std::time::Instant::now();
    let mut rec = CellRecord {
        index: cell.index,
        state: State::Running,
        host: host_name(),
        pid: std::process::id(),
        seconds: None,
        error: None,
        reported: false,
        rows: Vec::new(),
    };
    write_record(sweep_dir, cell, &rec)?;
    let out = run();
    rec.seconds = Some(start.elapsed().as_secs_f64());
    match &out {
        Ok(rows) => {
            rec.state = State::Done;
            rec.rows = rows.clone();
        }
        Err(e) => {
            rec.state = State::Failed;
            rec.error = Some(one_line(e));
            rec.reported = true;
        }
    }
    write_record(sweep_dir, cell, &rec)?;
    out.map(Some)
}

/// Keep a copy of the sweep file in its directory (`sweep.toml`) for the record.
pub fn keep_copy(sweep_dir: &Path, text: &str) -> Result<()> {
    fs::create_dir_all(sweep_dir).map_err(|e| Error::Io {
        path: sweep_dir.to_path_buf(),
        source: e,
    })?;
    crate::io::write_atomic(&sweep_dir.join("sweep.toml"), text.as_bytes())
}

/// Counts of cells per state, and the failed ones with their errors.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    /// Done.
    pub done: usize,
    /// Running.
    pub running: usize,
    /// Failed: (cell, error).
    pub failed: Vec<(Cell, String)>,
    /// Not started.
    pub pending: usize,
}

impl Tally {
    /// Whether every cell is done.
    pub fn complete(&self) -> bool {
        self.running == 0 && self.failed.is_empty() && self.pending == 0
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} done, {} running, {} failed, {} pending",
            self.done,
            self.running,
            self.failed.len(),
            self.pending
        )
    }
}

/// The state of every cell.
pub fn tally(sweep_dir: &Path, cells: &[Cell]) -> Tally {
    let mut t = Tally::default();
    for c in cells {
        match state_of(sweep_dir, c) {
            (State::Done, _) => t.done += 1,
            (State::Running, _) => t.running += 1,
            (State::Pending, _) => t.pending += 1,
            (State::Failed, r) => t.failed.push((
                c.clone(),
                r.and_then(|r| r.error).unwrap_or_else(|| "failed".into()),
            )),
        }
    }
    t
}

/// `lottery sweep status`: one line per cell (index, state, settings, error or seconds), then
/// the tally.
pub fn status_lines(sweep_dir: &Path, cells: &[Cell]) -> (Vec<String>, Tally) {
    let mut lines = Vec::new();
    for c in cells {
        let (state, rec) = state_of(sweep_dir, c);
        let what = match (&state, &rec) {
            (State::Failed, Some(r)) => format!(": {}", r.error.clone().unwrap_or_default()),
            (State::Done, Some(r)) => format!(
                " in {:.1} s{}",
                r.seconds.unwrap_or(0.0),
                r.rows
                    .first()
                    .map(|row| format!(", {}", row.run_dir))
                    .unwrap_or_default()
            ),
            (State::Running, Some(r)) => format!(" (process {} on {})", r.pid, r.host),
            _ => String::new(),
        };
        lines.push(format!(
            "{:>8}  {}{}",
            state.to_string(),
            c.describe(),
            what
        ));
    }
    (lines, tally(sweep_dir, cells))
}

/// The file `results.csv` of a sweep directory.
pub fn results_path(sweep_dir: &Path) -> PathBuf {
    sweep_dir.join("results.csv")
}

fn cell_value(cell: &Cell, key: &str) -> String {
    if key == "command" {
        return cell.command.to_string();
    }
    cell.varying
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| display_value(v))
        .unwrap_or_default()
}

fn num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => String::new(),
    }
}

/// The merged table: the grid values of each done cell, then each of its rows' fields. Errors
/// when a cell is not done.
pub fn merge(sweep: &Sweep, sweep_dir: &Path, cells: &[Cell]) -> Result<Vec<Vec<String>>> {
    let keys = sweep.varying_keys();
    let mut rows = Vec::new();
    let mut extra: BTreeSet<String> = BTreeSet::new();
    for c in cells {
        let rec = read_record(sweep_dir, c)
            .filter(|r| r.state == State::Done)
            .ok_or_else(|| bad(format!("{} is not done", c.describe())))?;
        for r in &rec.rows {
            extra.extend(r.extra.keys().cloned());
        }
        rows.push((c, rec.rows));
    }
    let mut header: Vec<String> = keys.clone();
    for h in [
        "run_dir",
        "level",
        "remaining",
        "test_accuracy",
        "val_accuracy",
        "early_stop_iteration",
        "early_stop_test_accuracy",
        "iterations_trained",
        "cumulative_iterations",
    ] {
        header.push(h.to_string());
    }
    header.extend(extra.iter().cloned());
    let mut table = vec![header];
    for (c, rs) in rows {
        for r in rs {
            let mut line: Vec<String> = keys.iter().map(|k| cell_value(c, k)).collect();
            line.push(r.run_dir.clone());
            line.push(r.level.map(|l| l.to_string()).unwrap_or_default());
            line.push(num(r.remaining));
            line.push(num(r.test_accuracy));
            line.push(num(r.val_accuracy));
            line.push(
                r.early_stop_iteration
                    .map(|l| l.to_string())
                    .unwrap_or_default(),
            );
            line.push(num(r.early_stop_test_accuracy));
            line.push(r.iterations_trained.to_string());
            line.push(r.cumulative_iterations.to_string());
            for k in &extra {
                line.push(num(r.extra.get(k).copied()));
            }
            table.push(line);
        }
    }
    Ok(table)
}

/// Write `results.csv` (atomically) from the merged table; returns its path.
pub fn write_results(sweep_dir: &Path, table: &[Vec<String>]) -> Result<PathBuf> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for line in table {
        w.write_record(line).map_err(|e| bad(e.to_string()))?;
    }
    let bytes = w.into_inner().map_err(|e| bad(e.to_string()))?;
    let path = results_path(sweep_dir);
    crate::io::write_atomic(&path, &bytes)?;
    Ok(path)
}
