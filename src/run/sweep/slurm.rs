//! The Slurm executor: the cells that are not done become one job array (`sbatch
//! --array=…%P`), task `I` running `lottery sweep FILE --cell I`; the executor follows the job
//! through `squeue` and `sacct`, resubmits the tasks that ended without a result of their own
//! (timeout, node failure, preemption) up to `max_resubmits` times, and the caller then merges
//! the results exactly as for the local executor.
//!
//! The run root must be on storage every node of the cluster sees (the lab's shared file
//! system): the tasks write their runs and the cells' state files there, and the executor reads
//! them back. The tasks inherit the submitting shell's environment (`sbatch`'s default
//! `--export=ALL`), so the library path set by `scripts/with-torch` reaches them.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::local::{last_line, note_lost};
use super::{state_of, tally, Cell, State, Sweep, Tally, Worker};
use crate::{Error, Result};

/// The `[slurm]` table: resources of each array task, and how the executor follows the job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmSettings {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time` (e.g. `"02:00:00"`).
    pub time: Option<String>,
    /// `--cpus-per-task` (default 1; each cell trains with one thread either way, see
    /// [`crate::run::sweep`]).
    #[serde(default = "one")]
    pub cpus: usize,
    /// `--mem` (e.g. `"4G"`).
    pub mem: Option<String>,
    /// `--gres` (e.g. `"gpu:1"`).
    pub gres: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// At most this many tasks at once (`--array=…%P`; default: no limit).
    pub parallel: Option<usize>,
    /// More `#SBATCH` lines, each an option such as `"--qos=normal"`.
    #[serde(default)]
    pub extra: Vec<String>,
    /// Rounds of resubmission of tasks that ended without a result of their own (timeout, node
    /// failure, preemption, cancellation); a cell whose run reported an error is not resubmitted.
    #[serde(default = "two")]
    pub max_resubmits: usize,
    /// Seconds between two looks at `squeue`.
    #[serde(default = "five")]
    pub poll_seconds: u64,
}

fn one() -> usize {
    1
}
fn two() -> usize {
    2
}
fn five() -> u64 {
    5
}

impl Default for SlurmSettings {
    fn default() -> Self {
        SlurmSettings {
            partition: None,
            time: None,
            cpus: 1,
            mem: None,
            gres: None,
            account: None,
            parallel: None,
            extra: Vec::new(),
            max_resubmits: 2,
            poll_seconds: 5,
        }
    }
}

/// `0-3,5,7-9`: the indices as ranges.
pub fn array_spec(indices: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let mut j = i;
        while j + 1 < indices.len() && indices[j + 1] == indices[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            indices[i].to_string()
        } else {
            format!("{}-{}", indices[i], indices[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

/// `<sweep dir>/slurm/`.
pub fn slurm_dir(sweep_dir: &Path) -> PathBuf {
    sweep_dir.join("slurm")
}

/// The batch script of the array of `indices`.
pub fn script(sweep: &Sweep, sweep_dir: &Path, worker: &Worker, indices: &[usize]) -> String {
    let s = &sweep.slurm;
    let logs = slurm_dir(sweep_dir);
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        format!("#SBATCH --job-name=lottery-{}", sweep.name),
        format!(
            "#SBATCH --array={}{}",
            array_spec(indices),
            s.parallel.map(|p| format!("%{p}")).unwrap_or_default()
        ),
        format!("#SBATCH --output={}/%A_%a.out", logs.display()),
        format!("#SBATCH --error={}/%A_%a.err", logs.display()),
        "#SBATCH --ntasks=1".to_string(),
        format!("#SBATCH --cpus-per-task={}", s.cpus),
    ];
    for (flag, v) in [
        ("partition", &s.partition),
        ("time", &s.time),
        ("mem", &s.mem),
        ("gres", &s.gres),
        ("account", &s.account),
    ] {
        if let Some(v) = v {
            lines.push(format!("#SBATCH --{flag}={v}"));
        }
    }
    for e in &s.extra {
        lines.push(format!("#SBATCH {}", e.trim()));
    }
    lines.push(format!(
        "# lottery sweep `{}`: array task I runs cell I ({} cells in the sweep).",
        sweep.name,
        sweep.len()
    ));
    lines.push("export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1".into());
    lines.push(format!(
        "exec {}",
        worker.shell_line("\"$SLURM_ARRAY_TASK_ID\"")
    ));
    lines.join("\n") + "\n"
}

fn run_tool(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program).args(args).output().map_err(|e| {
        Error::Unsupported(format!(
            "`{program}` cannot be started ({e}): is this a Slurm login node? (scripts/slurm-local start runs a loopback cluster)"
        ))
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Error::param(
            "slurm",
            format!(
                "`{program} {}` failed: {}",
                args.join(" "),
                err.lines().next().unwrap_or("").trim()
            ),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Submit `script` (written to `<sweep dir>/slurm/array-<round>.sbatch`) of `tasks` tasks;
/// returns the job id (recorded in `slurm/jobs.txt`).
pub fn submit(sweep_dir: &Path, script: &str, round: usize, tasks: usize) -> Result<String> {
    let dir = slurm_dir(sweep_dir);
    std::fs::create_dir_all(&dir).map_err(|e| Error::Io {
        path: dir.clone(),
        source: e,
    })?;
    let path = dir.join(format!("array-{round}.sbatch"));
    crate::io::write_atomic(&path, script.as_bytes())?;
    let out = run_tool("sbatch", &["--parsable", &path.display().to_string()])?;
    let id = out
        .trim()
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::param(
            "slurm",
            format!("sbatch answered `{}`, not a job id", out.trim()),
        ));
    }
    super::log_line(&dir.join("jobs.txt"), &format!("{id} {round} {tasks}"));
    Ok(id)
}

/// The job arrays submitted for this sweep before (`slurm/jobs.txt`): id and task count.
pub fn earlier_jobs(sweep_dir: &Path) -> Vec<(String, usize)> {
    std::fs::read_to_string(slurm_dir(sweep_dir).join("jobs.txt"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((f.first()?.to_string(), f.get(2)?.parse().ok()?))
        })
        .collect()
}

/// Whether `squeue` still lists any task of job `id`.
pub fn active(id: &str) -> bool {
    // squeue refuses an id it no longer knows: the job is over either way.
    match run_tool("squeue", &["-h", "-r", "-j", id, "-o", "%i %T"]) {
        Ok(text) => text.lines().any(|l| !l.trim().is_empty()),
        Err(_) => false,
    }
}

/// `sacct`'s lines for job `id` (JobID|State|ExitCode|Elapsed, one per array task), also kept
/// in `<sweep dir>/slurm/sacct-<id>.txt`. Accounting can lag the end of a job by a moment, so
/// this asks a few times until every task is listed in a final state.
pub fn accounting(sweep_dir: &Path, id: &str, tasks: usize) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    for _ in 0..30 {
        let text = run_tool(
            "sacct",
            &[
                "-j",
                id,
                "-X",
                "-n",
                "-P",
                "-o",
                "JobID,State,ExitCode,Elapsed",
            ],
        )?;
        lines = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        let finals = lines
            .iter()
            .filter(|l| {
                let state = l.split('|').nth(1).unwrap_or("");
                !matches!(state, "PENDING" | "RUNNING" | "REQUEUED" | "RESIZING")
            })
            .count();
        // Tasks cancelled while pending are one line (`<id>_[0-7]`).
        let grouped = lines.iter().any(|l| {
            l.split('|').next().unwrap_or("").contains("_[")
                && !l.contains("|PENDING|")
                && !l.contains("|RUNNING|")
        });
        if finals >= tasks || grouped {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    crate::io::write_atomic(
        &slurm_dir(sweep_dir).join(format!("sacct-{id}.txt")),
        (lines.join("\n") + "\n").as_bytes(),
    )?;
    Ok(lines)
}

/// The state sacct gives array task `index` of job `id`.
fn task_state(lines: &[String], id: &str, index: usize) -> Option<String> {
    let want = format!("{id}_{index}");
    lines.iter().find_map(|l| {
        let mut f = l.split('|');
        (f.next() == Some(want.as_str())).then(|| f.next().unwrap_or("").to_string())
    })
}

/// What [`run`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The job ids submitted, in order.
    pub jobs: Vec<String>,
    /// sacct's lines of every job.
    pub sacct: Vec<String>,
    /// The state of all cells at the end (None with `no_wait`).
    pub tally: Option<Tally>,
}

/// Submit the cells that are not done as a job array; unless `no_wait`, follow it to its end,
/// resubmitting the tasks that ended without a result of their own; `say` receives progress
/// lines.
pub fn run(
    sweep: &Sweep,
    sweep_dir: &Path,
    cells: &[Cell],
    worker: &Worker,
    no_wait: bool,
    say: &mut dyn FnMut(&str),
) -> Result<Outcome> {
    let mut outcome = Outcome {
        jobs: Vec::new(),
        sacct: Vec::new(),
        tally: None,
    };
    // An array submitted earlier (`--no-wait`) may still hold cells, some not yet started (so
    // not yet locked): follow it to its end before deciding what is left.
    let poll = std::time::Duration::from_secs(sweep.slurm.poll_seconds);
    for (id, tasks) in earlier_jobs(sweep_dir) {
        if active(&id) {
            say(&format!(
                "waiting for the earlier job array {id} of this sweep"
            ));
            while active(&id) {
                std::thread::sleep(poll);
            }
            outcome.jobs.push(id.clone());
            outcome.sacct.extend(accounting(sweep_dir, &id, tasks)?);
        }
    }
    let mut todo: Vec<usize> = cells
        .iter()
        .filter(|c| !matches!(state_of(sweep_dir, c).0, State::Done | State::Running))
        .map(|c| c.index)
        .collect();
    let mut round = 0;
    while !todo.is_empty() {
        let id = submit(
            sweep_dir,
            &script(sweep, sweep_dir, worker, &todo),
            round,
            todo.len(),
        )?;
        say(&format!(
            "submitted job array {id} ({} tasks: {})",
            todo.len(),
            array_spec(&todo)
        ));
        outcome.jobs.push(id.clone());
        if no_wait {
            return Ok(outcome);
        }
        while active(&id) {
            std::thread::sleep(poll);
        }
        let lines = accounting(sweep_dir, &id, todo.len())?;
        outcome.sacct.extend(lines.iter().cloned());
        let mut again = Vec::new();
        for &i in &todo {
            let cell = &cells[i];
            let (state, rec) = state_of(sweep_dir, cell);
            let reported = rec.as_ref().is_some_and(|r| r.reported);
            if state == State::Done || reported {
                continue;
            }
            let slurm_state = task_state(&lines, &id, i).unwrap_or_else(|| "UNKNOWN".into());
            let err = slurm_dir(sweep_dir).join(format!("{id}_{i}.err"));
            note_lost(
                sweep_dir,
                cell,
                format!(
                    "Slurm task {id}_{i} ended {slurm_state} without a result: {}",
                    last_line(&err)
                ),
            )?;
            again.push(i);
        }
        if again.is_empty() || round >= sweep.slurm.max_resubmits {
            break;
        }
        round += 1;
        say(&format!(
            "resubmitting {} task(s) that ended without a result (round {round} of {})",
            again.len(),
            sweep.slurm.max_resubmits
        ));
        todo = again;
    }
    outcome.tally = Some(tally(sweep_dir, cells));
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_specs_compress_runs_of_indices() {
        assert_eq!(array_spec(&[0, 1, 2, 3]), "0-3");
        assert_eq!(array_spec(&[0, 2, 3, 4, 7]), "0,2-4,7");
        assert_eq!(array_spec(&[5]), "5");
    }

    #[test]
    fn the_script_carries_the_resources_and_runs_the_task_cell() {
        let sweep = Sweep::parse(
            "name = \"d\"\ncommand = \"imp\"\n[grid]\nseed = [0, 1, 2]\n[slurm]\npartition = \"gpu\"\ntime = \"01:00:00\"\ngres = \"gpu:1\"\nparallel = 2\nextra = [\"--qos=normal\"]",
        )
        .unwrap();
        let w = Worker {
            program: "/opt/lottery".into(),
            args: vec!["sweep".into(), "/x/d.toml".into()],
        };
        let s = script(&sweep, Path::new("/r/sweeps/d"), &w, &[0, 2]);
        for want in [
            "#SBATCH --array=0,2%2",
            "#SBATCH --partition=gpu",
            "#SBATCH --time=01:00:00",
            "#SBATCH --gres=gpu:1",
            "#SBATCH --qos=normal",
            "#SBATCH --output=/r/sweeps/d/slurm/%A_%a.out",
            "exec /opt/lottery sweep /x/d.toml --cell \"$SLURM_ARRAY_TASK_ID\"",
        ] {
            assert!(s.lines().any(|l| l == want), "{want} missing from\n{s}");
        }
    }
}
