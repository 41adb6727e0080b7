//! Sweeps: one TOML file, many runs.
//!
//! A sweep file names a grid of run settings; each **cell** of the grid is an ordinary run
//! (hash-named, resumable, its identity checked), executed by `lottery sweep FILE --cell I` in a
//! worker process — several at once on this machine ([`local`]) or as one Slurm job array
//! ([`slurm`]). Everything here is torch-free: parsing, expansion, the cells' state files, the
//! executors (which only start processes) and the merged `results.csv`; the cell itself is run
//! by `lottery::nn::sweep` (feature `torch`).
//!
//! ```toml
//! name = "demo"                 # [A-Za-z0-9._-]+; results go to <runs>/sweeps/demo/
//! command = "prune"             # imp | train | prune | lmc | branch
//! [base]                        # settings of every cell: any key --set accepts, and preset
//! preset = "lenet300-lth"
//! dataset = "teacher"
//! iterations = 300
//! [grid]                        # arrays expand as a Cartesian product
//! method = ["gradual", "iht"]
//! sparsity = [0.8, 0.9]
//! seed = [1, 2]
//! [[zip]]                       # optional: settings that vary together (equal lengths)
//! preset = ["lenet300-lth", "conv2-lth"]
//! lr = [1.2e-3, 2e-4]
//! [slurm]                       # optional: resources of the Slurm executor
//! partition = "gpu"
//! time = "02:00:00"
//! cpus = 1
//! gres = "gpu:1"
//! extra = ["--qos=normal"]
//! ```
//!
//! Cells enumerate the factors in order — the `[grid]` keys in alphabetical order (the first
//! varies slowest), then each `[[zip]]` block — so cell `I` is stable while the file is.
//! A file with several commands lists **parts** instead (`[[part]]` with its own `command`,
//! `base`, `grid` and `zip`, on top of the shared `[base]`); the cells of the parts follow each
//! other. Keys a command adds to the run settings:
//!
//! | command | keys | meaning |
//! |---|---|---|
//! | `prune` | `method` (required), `sparsity` (default 0.8) | as `lottery prune METHOD --sparsity S` |
//! | `train` | — | IMP's level 0 only (`levels` is 0) |
//! | `branch` | `kind` (required), `level` (default: every level ≥ 1), `branch_seed` (default 0) | a baseline of the IMP run the other settings name, which the cell runs first if needed |
//! | `lmc` | `k` (int or array, default 0), `points` (default 11), `ticket_level` (default 0: dense) | instability; with `ticket_level = L`, the mask of level L of the IMP run the other settings name |
//!
//! State: `<runs>/sweeps/<name>/cells/<key>.json` per cell (running, done with its result rows,
//! or failed with its error), keyed by a digest of the cell's command and settings, so that
//! extending a grid keeps every finished cell. A cell is *running* while its worker holds the
//! lock `cells/<key>.lock` (an OS lock the kernel releases when the process dies).

pub mod local;
pub mod slurm;
mod state;

pub use state::*;

use std::collections::BTreeSet;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::run::kinds::BranchKind;
use crate::run::RunConfig;
use crate::{Error, Result};

/// The commands a sweep can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    /// `lottery imp`.
    Imp,
    /// `lottery train`.
    Train,
    /// `lottery prune METHOD`.
    Prune,
    /// `lottery lmc`.
    Lmc,
    /// `lottery branch KIND`.
    Branch,
}

impl Command {
    /// The names, as written in sweep files.
    pub const NAMES: [&'static str; 5] = ["imp", "train", "prune", "lmc", "branch"];

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "imp" => Command::Imp,
            "train" => Command::Train,
            "prune" => Command::Prune,
            "lmc" => Command::Lmc,
            "branch" => Command::Branch,
            other => {
                return Err(Error::param(
                    "command",
                    format!(
                        "unknown command `{}` (one of {})",
                        other.escape_debug(),
                        Self::NAMES.join(", ")
                    ),
                ))
            }
        })
    }

    /// The keys this command adds to the run settings.
    fn cell_keys(self) -> &'static [&'static str] {
        match self {
            Command::Branch => &["kind", "level", "branch_seed"],
            Command::Lmc => &["k", "points", "ticket_level"],
            _ => &[],
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = [
            Command::Imp,
            Command::Train,
            Command::Prune,
            Command::Lmc,
            Command::Branch,
        ]
        .iter()
        .position(|c| c == self)
        .expect("listed");
        f.write_str(Self::NAMES[i])
    }
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileForm {
    name: String,
    command: Option<String>,
    #[serde(default)]
    base: toml::Table,
    grid: Option<toml::Table>,
    #[serde(default)]
    zip: Vec<toml::Table>,
    #[serde(default)]
    part: Vec<PartForm>,
    slurm: Option<SlurmSettings>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartForm {
    command: String,
    #[serde(default)]
    base: toml::Table,
    #[serde(default)]
    grid: toml::Table,
    #[serde(default)]
    zip: Vec<toml::Table>,
}

/// One factor of the product: a `[grid]` key (one key) or a `[[zip]]` block (its keys, varying
/// together).
#[derive(Clone, Debug, PartialEq)]
struct Factor {
    keys: Vec<String>,
    /// `rows[i][j]`: the value of `keys[j]` at position `i`.
    rows: Vec<Vec<toml::Value>>,
}

/// A family of cells with one command.
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    /// The command of its cells.
    pub command: Command,
    base: toml::Table,
    factors: Vec<Factor>,
}

impl Part {
    /// Number of cells.
    pub fn len(&self) -> usize {
        self.factors.iter().map(|f| f.rows.len()).product()
    }

    /// Whether it has no cell (never: every array is non-empty).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A parsed sweep file.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    /// Its name (`<runs>/sweeps/<name>/`).
    pub name: String,
    /// Its parts (one unless the file lists `[[part]]`s).
    pub parts: Vec<Part>,
    /// The `[slurm]` table.
    pub slurm: SlurmSettings,
    /// The file's text (kept as `sweep.toml` in the sweep's directory).
    pub text: String,
}

/// One cell: a command and its run settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// Position in the sweep (`--cell I`).
    pub index: usize,
    /// The command.
    pub command: Command,
    /// Every setting (the base, then this cell's grid values).
    pub settings: toml::Table,
    /// The grid and zip values of this cell, in factor order.
    pub varying: Vec<(String, toml::Value)>,
    /// 16 hex digits of SHA-256 over the command, the settings and the resolved run settings
    /// (preset defaults included): the name of its state file.
    pub key: String,
}

/// What a cell runs, resolved and checked.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The run settings (for `branch` and `lmc` with a ticket: the IMP run's).
    pub config: RunConfig,
    /// `branch`: the baseline, its level (None: every level ≥ 1) and its seed.
    pub branch: Option<(BranchKind, Option<usize>, u64)>,
    /// `lmc`: rewind iterations, path points, ticket level (0: dense).
    pub lmc: Option<(Vec<usize>, usize, usize)>,
}

fn bad(reason: impl Into<String>) -> Error {
    Error::param("sweep", reason.into())
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "name `{}` must be 1-100 characters of A-Z a-z 0-9 . _ - (not starting with .)",
            name.escape_debug()
        )))
    }
}

fn array_of<'a>(key: &str, v: &'a toml::Value, block: &str) -> Result<&'a Vec<toml::Value>> {
    match v {
        toml::Value::Array(a) if !a.is_empty() => Ok(a),
        toml::Value::Array(_) => Err(bad(format!(
            "{block} `{}` is an empty array",
            key.escape_debug()
        ))),
        _ => Err(bad(format!(
            "{block} `{}` must be an array of values",
            key.escape_debug()
        ))),
    }
}

fn factors(grid: &toml::Table, zip: &[toml::Table]) -> Result<Vec<Factor>> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let mut note = |k: &str| -> Result<()> {
        if seen.insert(k.to_string()) {
            Ok(())
        } else {
            Err(bad(format!(
                "key `{}` varies twice ([grid] and [[zip]])",
                k.escape_debug()
            )))
        }
    };
    for (k, v) in grid {
        note(k)?;
        let a = array_of(k, v, "[grid]")?;
        out.push(Factor {
            keys: vec![k.clone()],
            rows: a.iter().map(|x| vec![x.clone()]).collect(),
        });
    }
    for block in zip {
        if block.is_empty() {
            return Err(bad("a [[zip]] block is empty"));
        }
        let mut len = None;
        let mut cols = Vec::new();
        for (k, v) in block {
            note(k)?;
            let a = array_of(k, v, "[[zip]]")?;
            match len {
                None => len = Some(a.len()),
                Some(n) if n != a.len() => {
                    return Err(bad(format!(
                        "[[zip]] arrays differ in length ({n} and {} at `{}`)",
                        a.len(),
                        k.escape_debug()
                    )))
                }
                _ => {}
            }
            cols.push((k.clone(), a));
        }
        let n = len.expect("non-empty block");
        out.push(Factor {
            keys: cols.iter().map(|(k, _)| k.clone()).collect(),
            rows: (0..n)
                .map(|i| cols.iter().map(|(_, a)| a[i].clone()).collect())
                .collect(),
        });
    }
    Ok(out)
}

/// At most this many cells in one sweep (a Slurm array holds at most `MaxArraySize` tasks;
/// split larger grids into several sweeps).
pub const MAX_CELLS: usize = 100_000;

impl Sweep {
    /// Parse and check a sweep file's text (every cell's settings are checked by
    /// [`Sweep::cells`] and [`Cell::resolve`]).
    pub fn parse(text: &str) -> Result<Self> {
        let form: FileForm = toml::from_str(text)
            .map_err(|e: toml::de::Error| bad(e.message().replace('\n', " ")))?;
        check_name(&form.name)?;
        let mut parts = Vec::new();
        match (&form.command, &form.grid, form.zip.is_empty()) {
            (Some(c), grid, _) => parts.push(Part {
                command: Command::parse(c)?,
                base: form.base.clone(),
                factors: factors(&grid.clone().unwrap_or_default(), &form.zip)?,
            }),
            (None, Some(_), _) | (None, None, false) => {
                return Err(bad("[grid] and [[zip]] need a top-level `command`"))
            }
            (None, None, true) => {}
        }
        for p in &form.part {
            let mut base = form.base.clone();
            for (k, v) in &p.base {
                base.insert(k.clone(), v.clone());
            }
            parts.push(Part {
                command: Command::parse(&p.command)?,
                base,
                factors: factors(&p.grid, &p.zip)?,
            });
        }
        if parts.is_empty() {
            return Err(bad(
                "no cells: give `command` (with [grid]) or [[part]] tables",
            ));
        }
        let mut total: usize = 0;
        for p in &parts {
            for f in &p.factors {
                for k in &f.keys {
                    if p.base.contains_key(k) {
                        return Err(bad(format!(
                            "key `{}` is both in [base] and varied",
                            k.escape_debug()
                        )));
                    }
                }
            }
            total = p
                .factors
                .iter()
                .try_fold(1usize, |n, f| n.checked_mul(f.rows.len()))
                .and_then(|n| total.checked_add(n))
                .filter(|&n| n <= MAX_CELLS)
                .ok_or_else(|| bad(format!("more than {MAX_CELLS} cells")))?;
        }
        let slurm = form.slurm.unwrap_or_default();
        if slurm.cpus == 0 || slurm.poll_seconds == 0 || slurm.parallel == Some(0) {
            return Err(bad("[slurm] cpus, parallel and poll_seconds must be >= 1"));
        }
        for line in slurm
            .extra
            .iter()
            .chain(slurm.partition.iter())
            .chain(slurm.time.iter())
            .chain(slurm.mem.iter())
            .chain(slurm.gres.iter())
            .chain(slurm.account.iter())
        {
            if line.contains(['\n', '\r']) || line.trim().is_empty() {
                return Err(bad(format!(
                    "[slurm] value `{}` is empty or spans lines",
                    line.escape_debug()
                )));
            }
        }
        Ok(Sweep {
            name: form.name,
            parts,
            slurm,
            text: text.to_string(),
        })
    }

    /// Read and parse a sweep file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Self::parse(&text).map_err(|e| match e {
            Error::InvalidParameter { reason, .. } => Error::Format {
                path: path.to_path_buf(),
                reason,
            },
            other => other,
        })
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.parts.iter().map(Part::len).sum()
    }

    /// Whether the sweep has no cell.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cell `index`.
    pub fn cell(&self, index: usize) -> Result<Cell> {
        let mut i = index;
        for part in &self.parts {
            if i < part.len() {
                return Ok(part_cell(part, index, i));
            }
            i -= part.len();
        }
        Err(bad(format!(
            "cell {index} is out of range (the sweep has {} cells)",
            self.len()
        )))
    }

    /// Every cell, in order.
    pub fn cells(&self) -> Vec<Cell> {
        let mut out = Vec::with_capacity(self.len());
        for part in &self.parts {
            for i in 0..part.len() {
                out.push(part_cell(part, out.len(), i));
            }
        }
        out
    }

    /// Every cell, each resolved: the first bad cell is a one-line error naming it.
    pub fn checked_cells(&self) -> Result<Vec<(Cell, Resolved)>> {
        self.cells()
            .into_iter()
            .map(|c| {
                let r = c.resolve()?;
                Ok((c, r))
            })
            .collect()
    }

    /// The names of the columns that vary, in order of first appearance (with `command` first
    /// when the parts differ in command).
    pub fn varying_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        let commands: BTreeSet<String> = self.parts.iter().map(|p| p.command.to_string()).collect();
        if commands.len() > 1 {
            keys.push("command".to_string());
        }
        for p in &self.parts {
            for f in &p.factors {
                for k in &f.keys {
                    if !keys.contains(k) {
                        keys.push(k.clone());
                    }
                }
            }
        }
        keys
    }

    /// `<runs>/sweeps/<name>`.
    pub fn dir(&self, runs: &Path) -> PathBuf {
        runs.join("sweeps").join(&self.name)
    }
}

fn part_cell(part: &Part, index: usize, mut i: usize) -> Cell {
    // Mixed radix, the first factor slowest.
    let mut picks = vec![0; part.factors.len()];
    for (slot, f) in picks.iter_mut().zip(&part.factors).rev() {
        *slot = i % f.rows.len();
        i /= f.rows.len();
    }
    let mut settings = part.base.clone();
    let mut varying = Vec::new();
    for (f, &p) in part.factors.iter().zip(&picks) {
        for (k, v) in f.keys.iter().zip(&f.rows[p]) {
            settings.insert(k.clone(), v.clone());
            varying.push((k.clone(), v.clone()));
        }
    }
    let mut cell = Cell {
        index,
        command: part.command,
        settings,
        varying,
        key: String::new(),
    };
    // The key covers the resolved settings too: a changed preset or default gives the cell a
    // new key, so it runs again (and its run's identity check then speaks) instead of being
    // taken as done.
    let resolved = cell.resolve_inner().ok().map(|r| r.config.to_toml());
    cell.key = cell_key(part.command, &cell.settings, resolved.as_deref());
    cell
}

fn cell_key(command: Command, settings: &toml::Table, resolved: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(command.to_string().as_bytes());
    if let Some(r) = resolved {
        h.update(b"\nresolved\n");
        h.update(r.as_bytes());
    }
    // toml::Table is sorted by key, and a value's TOML text is canonical for its type.
    for (k, v) in settings {
        h.update(b"\n");
        h.update(k.as_bytes());
        h.update(b"=");
        h.update(v.to_string().as_bytes());
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn usize_of(key: &str, v: &toml::Value) -> Result<usize> {
    v.as_integer()
        .and_then(|i| usize::try_from(i).ok())
        .ok_or_else(|| bad(format!("`{key}` must be a non-negative integer, not {v}")))
}

impl Cell {
    /// A short description: `cell I (command; key=value, …)`.
    pub fn describe(&self) -> String {
        let vals: Vec<String> = self
            .varying
            .iter()
            .map(|(k, v)| format!("{k}={}", display_value(v)))
            .collect();
        format!(
            "cell {} ({}; {})",
            self.index,
            self.command,
            vals.join(", ")
        )
    }

    /// Resolve the settings into a checked run configuration and the command's own keys; a
    /// bad key or value is one line naming the cell.
    pub fn resolve(&self) -> Result<Resolved> {
        self.resolve_inner()
            .map_err(|e| bad(format!("{}: {}", self.describe(), one_line(&e))))
    }

    fn resolve_inner(&self) -> Result<Resolved> {
        let mut table = self.settings.clone();
        let own: Vec<(String, toml::Value)> = self
            .command
            .cell_keys()
            .iter()
            .filter_map(|k| table.remove(*k).map(|v| (k.to_string(), v)))
            .collect();
        let get = |k: &str| own.iter().find(|(n, _)| n == k).map(|(_, v)| v);
        match self.command {
            Command::Train => {
                table.insert("levels".into(), toml::Value::Integer(0));
            }
            Command::Prune => {
                if !table.contains_key("method") {
                    return Err(bad("`prune` needs a `method`"));
                }
                table.entry("sparsity").or_insert(toml::Value::Float(0.8));
            }
            _ => {}
        }
        if !table.contains_key("preset") {
            return Err(bad("no `preset`"));
        }
        let config = RunConfig::from_table(table, None)?;
        if self.command == Command::Prune && config.method == crate::run::Method::Imp {
            return Err(bad(
                "`prune` needs a pruning method, not imp (use command imp)",
            ));
        }
        let mut out = Resolved {
            config,
            branch: None,
            lmc: None,
        };
        match self.command {
            Command::Branch => {
                let kind: BranchKind = match get("kind") {
                    Some(toml::Value::String(s)) => s.parse()?,
                    Some(v) => return Err(bad(format!("`kind` must be a string, not {v}"))),
                    None => return Err(bad("`branch` needs a `kind`")),
                };
                if kind == BranchKind::Transfer {
                    return Err(Error::Unsupported(
                        "transfer branches in sweeps (run `lottery branch transfer`)".into(),
                    ));
                }
                let level = get("level").map(|v| usize_of("level", v)).transpose()?;
                if let Some(l) = level {
                    if l == 0 || l > out.config.levels {
                        return Err(bad(format!(
                            "`level` {l} is not in 1..={}",
                            out.config.levels
                        )));
                    }
                }
                let seed = get("branch_seed")
                    .map(|v| usize_of("branch_seed", v))
                    .transpose()?
                    .unwrap_or(0) as u64;
                out.branch = Some((kind, level, seed));
            }
            Command::Lmc => {
                let ks = match get("k") {
                    None => vec![0],
                    Some(toml::Value::Array(a)) if !a.is_empty() => a
                        .iter()
                        .map(|v| usize_of("k", v))
                        .collect::<Result<Vec<_>>>()?,
                    Some(v) => vec![usize_of("k", v)?],
                };
                let points = get("points")
                    .map(|v| usize_of("points", v))
                    .transpose()?
                    .unwrap_or(11);
                if points < 11 {
                    return Err(bad(format!("`points` {points} < 11")));
                }
                let ticket = get("ticket_level")
                    .map(|v| usize_of("ticket_level", v))
                    .transpose()?
                    .unwrap_or(0);
                if ticket > 0 && ticket > out.config.levels {
                    return Err(bad(format!(
                        "`ticket_level` {ticket} > levels {}",
                        out.config.levels
                    )));
                }
                out.lmc = Some((ks, points, ticket));
            }
            _ => {}
        }
        Ok(out)
    }
}

pub(crate) fn display_value(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The first line of an error's message.
pub fn one_line(e: &dyn fmt::Display) -> String {
    let text = e.to_string();
    text.lines().next().unwrap_or_default().trim().to_string()
}

/// How many workers fit this machine: one per core, and at most one per 2 GiB of available
/// memory (a LeNet / Conv cell on CPU stays under 1 GiB; ResNets more), at least 1.
pub fn default_jobs() -> usize {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mem_gib = fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| (kb / (1024 * 1024)) as usize)
    });
    match mem_gib {
        Some(g) => cores.min(g / 2).max(1),
        None => cores.max(1),
    }
}

/// Where the cells run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Executor {
    /// `jobs` worker processes on this machine ([`local`]).
    Local {
        /// Workers at once.
        jobs: usize,
    },
    /// One Slurm job array ([`slurm`]); with `no_wait`, submit and return.
    Slurm {
        /// Submit and return instead of following the job.
        no_wait: bool,
    },
}

/// What [`execute`] ended with.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Every cell done: `results.csv` (and the figure `results.svg|png`) written.
    Complete {
        /// The path of `results.csv`.
        results: PathBuf,
        /// The merged table (header first).
        table: Vec<Vec<String>>,
        /// The cells' states.
        tally: Tally,
    },
    /// Some cells failed or remain: nothing merged.
    Incomplete(Tally),
    /// Submitted to Slurm without waiting: the job ids.
    Submitted(Vec<String>),
}

/// Run a sweep's cells that are not done with `executor`, then merge every cell's rows into
/// `<sweep dir>/results.csv` and draw its figure. Every cell is checked before anything runs;
/// a failing cell never stops the others. `say` receives progress lines (Slurm job ids, sacct
/// lines).
pub fn execute(
    sweep: &Sweep,
    sweep_dir: &Path,
    worker: &Worker,
    executor: Executor,
    progress: bool,
    say: &mut dyn FnMut(&str),
) -> Result<Outcome> {
    let cells: Vec<Cell> = sweep.checked_cells()?.into_iter().map(|(c, _)| c).collect();
    keep_copy(sweep_dir, &sweep.text)?;
    let tally = match executor {
        Executor::Local { jobs } => local::run(sweep_dir, &cells, worker, jobs, progress)?,
        Executor::Slurm { no_wait } => {
            let out = slurm::run(sweep, sweep_dir, &cells, worker, no_wait, say)?;
            for l in &out.sacct {
                say(&format!("sacct: {l}"));
            }
            match out.tally {
                Some(t) => t,
                None => return Ok(Outcome::Submitted(out.jobs)),
            }
        }
    };
    if !tally.complete() {
        return Ok(Outcome::Incomplete(tally));
    }
    let table = merge(sweep, sweep_dir, &cells)?;
    let results = write_results(sweep_dir, &table)?;
    #[cfg(feature = "plot")]
    crate::plot::sweep_figure(&table, &sweep_dir.join("results"))?;
    Ok(Outcome::Complete {
        results,
        table,
        tally,
    })
}

/// How a worker process is started: `program args… --cell I`.
#[derive(Clone, Debug, PartialEq)]
pub struct Worker {
    /// The executable (absolute for Slurm).
    pub program: PathBuf,
    /// Its arguments before `--cell I`.
    pub args: Vec<String>,
}

impl Worker {
    /// The command line of cell `i`, shell-quoted (for batch scripts and messages).
    pub fn shell_line(&self, cell: &str) -> String {
        let mut parts = vec![shell_quote(&self.program.display().to_string())];
        parts.extend(self.args.iter().map(|a| shell_quote(a)));
        parts.push("--cell".into());
        parts.push(cell.into());
        parts.join(" ")
    }
}

/// Quote `s` for a POSIX shell (single quotes unless it is plain).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Append a line to `path` (a log), ignoring failures.
pub fn log_line(path: &Path, line: &str) {
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(f, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = r#"
name = "demo"
command = "prune"
[base]
preset = "lenet300-lth"
dataset = "teacher"
iterations = 300
[grid]
method = ["gradual", "iht"]
sparsity = [0.8, 0.9]
seed = [1, 2]
"#;

    #[test]
    fn the_issue_example_expands_to_eight_cells_first_key_slowest() {
        let s = Sweep::parse(DEMO).unwrap();
        assert_eq!(s.len(), 8);
        let cells = s.cells();
        let v = |c: &Cell| {
            c.varying
                .iter()
                .map(|(k, v)| format!("{k}={}", display_value(v)))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(v(&cells[0]), "method=gradual,seed=1,sparsity=0.8");
        assert_eq!(v(&cells[1]), "method=gradual,seed=1,sparsity=0.9");
        assert_eq!(v(&cells[7]), "method=iht,seed=2,sparsity=0.9");
        for (i, c) in cells.iter().enumerate() {
            assert_eq!(s.cell(i).unwrap(), *c);
            let r = c.resolve().unwrap();
            assert_eq!(r.config.iterations, 300);
        }
        let keys: BTreeSet<_> = cells.iter().map(|c| c.key.clone()).collect();
        assert_eq!(keys.len(), 8);
        assert!(s.cell(8).is_err());
    }

    #[test]
    fn zip_varies_together_and_multiplies_the_grid() {
        let s = Sweep::parse(
            r#"
name = "z"
command = "imp"
[base]
iterations = 10
[grid]
seed = [0, 1, 2]
[[zip]]
preset = ["lenet300-lth", "conv2-lth"]
lr = [0.0012, 0.0002]
"#,
        )
        .unwrap();
        assert_eq!(s.len(), 6);
        for c in s.cells() {
            let r = c.resolve().unwrap();
            let want: f64 = if r.config.preset == "conv2-lth" {
                0.0002
            } else {
                0.0012
            };
            assert_eq!(r.config.lr.to_bits(), want.to_bits());
        }
    }

    #[test]
    fn bad_files_are_one_line_errors() {
        let cases = [
            ("name = \"a b\"\ncommand = \"imp\"", "name"),
            ("name = \"a\"\ncommand = \"fly\"", "unknown command"),
            (
                "name = \"a\"\ncommand = \"imp\"\ncolour = 1",
                "unknown field",
            ),
            (
                "name = \"a\"\ncommand = \"imp\"\n[grid]\nseed = []",
                "empty array",
            ),
            ("name = \"a\"\ncommand = \"imp\"\n[grid]\nseed = 3", "array"),
            (
                "name = \"a\"\ncommand = \"imp\"\n[[zip]]\nseed = [1]\nlr = [0.1, 0.2]",
                "differ in length",
            ),
            (
                "name = \"a\"\ncommand = \"imp\"\n[base]\nseed = 1\n[grid]\nseed = [1]",
                "both in [base]",
            ),
            ("name = \"a\"\n[grid]\nseed = [1]", "need a top-level"),
            ("name = \"a\"", "no cells"),
            (
                "name = \"a\"\ncommand = \"imp\"\n[slurm]\ncpus = 0",
                "must be >= 1",
            ),
            (
                "name = \"a\"\ncommand = \"imp\"\n[slurm]\nextra = [\"--a\\n--b\"]",
                "spans lines",
            ),
        ];
        for (text, want) in cases {
            let e = Sweep::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn cells_with_bad_settings_are_named() {
        let s = Sweep::parse(
            "name = \"a\"\ncommand = \"imp\"\n[base]\npreset = \"lenet300-lth\"\n[grid]\nrate_fc = [0.5, 1.5]",
        )
        .unwrap();
        let e = s.checked_cells().unwrap_err().to_string();
        assert!(e.contains("cell 1 (imp; rate_fc=1.5)"), "{e}");
        let s = Sweep::parse("name = \"a\"\ncommand = \"imp\"\n[grid]\ncolour = [1]").unwrap();
        assert!(s.checked_cells().is_err());
        let s = Sweep::parse(
            "name = \"a\"\ncommand = \"branch\"\n[base]\npreset = \"lenet300-lth\"\nlevels = 2\n[grid]\nkind = [\"random-reinit\"]\nlevel = [3]",
        )
        .unwrap();
        let e = s.checked_cells().unwrap_err().to_string();
        assert!(e.contains("not in 1..=2"), "{e}");
    }

    #[test]
    fn parts_share_the_base_and_follow_each_other() {
        let s = Sweep::parse(
            r#"
name = "m"
[base]
preset = "lenet300-lth"
iterations = 50
[[part]]
command = "imp"
[part.base]
levels = 2
[part.grid]
seed = [0, 1]
[[part]]
command = "prune"
[part.grid]
method = ["snip", "gradual"]
seed = [0, 1]
"#,
        )
        .unwrap();
        assert_eq!(s.len(), 6);
        let cells = s.checked_cells().unwrap();
        assert_eq!(cells[1].0.command, Command::Imp);
        assert_eq!(cells[1].1.config.levels, 2);
        assert_eq!(cells[2].0.command, Command::Prune);
        assert_eq!(cells[2].1.config.iterations, 50);
        assert_eq!(cells[2].1.config.sparsity.to_bits(), 0.8f64.to_bits());
        assert_eq!(s.varying_keys(), ["command", "seed", "method"]);
    }

    #[test]
    fn shell_quoting_survives_spaces_and_quotes() {
        assert_eq!(shell_quote("/a/b-c"), "/a/b-c");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
