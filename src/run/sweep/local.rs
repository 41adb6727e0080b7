//! The local executor: `jobs` worker processes on this machine, each running one cell at a time
//! (`lottery sweep FILE --cell I`), with a progress bar over the cells. Each cell trains with one
//! thread whatever `jobs` is, so the results do not depend on it (on CPU).

use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::{read_record, state_of, tally, write_record, Cell, CellRecord, State, Tally, Worker};
use crate::{Error, Result};

/// The last non-empty line of a log file.
pub(crate) fn last_line(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Record a cell whose worker ended without writing its own result (killed, crashed, timed
/// out) as failed, with `why`; `reported` stays false so that it may be retried.
pub(crate) fn note_lost(sweep_dir: &Path, cell: &Cell, why: String) -> Result<()> {
    let rec = read_record(sweep_dir, cell);
    if rec
        .as_ref()
        .is_some_and(|r| r.state == State::Done || (r.state == State::Failed && r.reported))
    {
        return Ok(());
    }
    let rec = CellRecord {
        index: cell.index,
        state: State::Failed,
        host: rec
            .as_ref()
            .map(|r| r.host.clone())
            .unwrap_or_else(super::host_name),
        pid: rec.as_ref().map(|r| r.pid).unwrap_or(0),
        seconds: rec.as_ref().and_then(|r| r.seconds),
        error: Some(why),
        reported: false,
        rows: Vec::new(),
    };
    write_record(sweep_dir, cell, &rec)
}

/// Run every cell that is not done (nor held by another process) with `jobs` workers; the
/// workers' output goes to `<sweep dir>/logs/<I>.out|.err`. Returns the state of all cells
/// afterwards. A failing cell never stops the others.
pub fn run(
    sweep_dir: &Path,
    cells: &[Cell],
    worker: &Worker,
    jobs: usize,
    progress: bool,
) -> Result<Tally> {
    let logs = sweep_dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| Error::Io {
        path: logs.clone(),
        source: e,
    })?;
    let todo: Vec<&Cell> = cells
        .iter()
        .filter(|c| !matches!(state_of(sweep_dir, c).0, State::Done | State::Running))
        .collect();
    let bar = if progress {
        indicatif::ProgressBar::new(todo.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "cells {pos}/{len} [{elapsed_precise} < {eta_precise}] {msg}",
        )
        .expect("a valid template"),
    );
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e| Error::Io { path, source: e }
    };
    let mut next = 0;
    let mut failed = 0;
    let mut running: Vec<(&Cell, Child)> = Vec::new();
    while next < todo.len() || !running.is_empty() {
        while running.len() < jobs.max(1) && next < todo.len() {
            let cell = todo[next];
            next += 1;
            let out = logs.join(format!("{}.out", cell.index));
            let err = logs.join(format!("{}.err", cell.index));
            let stdout = std::fs::File::create(&out).map_err(io(&out))?;
            let stderr = std::fs::File::create(&err).map_err(io(&err))?;
            let child = Command::new(&worker.program)
                .args(&worker.args)
                .arg("--cell")
                .arg(cell.index.to_string())
                // One BLAS / OpenMP thread per cell, as tch's (set by the worker).
                .env("OPENBLAS_NUM_THREADS", "1")
                .env("OMP_NUM_THREADS", "1")
                .stdin(Stdio::null())
                .stdout(Stdio::from(stdout))
                .stderr(Stdio::from(stderr))
                .spawn()
                .map_err(io(&worker.program))?;
            running.push((cell, child));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut still = Vec::new();
        for (cell, mut child) in running.drain(..) {
            match child.try_wait().map_err(io(&worker.program))? {
                None => still.push((cell, child)),
                Some(status) => {
                    bar.inc(1);
                    if status.code() == Some(super::EXIT_BUSY) {
                        continue;
                    }
                    if !status.success() {
                        failed += 1;
                        let err = logs.join(format!("{}.err", cell.index));
                        note_lost(
                            sweep_dir,
                            cell,
                            format!("worker ended with {status}: {}", last_line(&err)),
                        )?;
                        bar.set_message(format!("{failed} failed"));
                    }
                }
            }
        }
        running = still;
    }
    bar.finish_and_clear();
    Ok(tally(sweep_dir, cells))
}
