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
//! | `branch` | `kind` (required), `level` (default: every level ≥ 1), `branch_seed` (default 0), `transfer_set` (kind `transfer`: an array of `"KEY=VALUE"` settings) | a baseline of the IMP run the other settings name, which the cell runs first if needed; `transfer` trains the ticket under the `transfer_set` settings |
//! | `lmc` | `k` (int or array, default 0), `points` (default 11), `ticket_level` (default 0: dense), `control` (`ticket`, `random-prune`, `random-reinit`; default `ticket`) | instability; with `ticket_level = L`, for each $k$ the mask of level L of the IMP run the other settings name **with rewinding to $k$** (`rewind = k`; $k = 0$: `init`), or a control at that mask's sparsity |
//!
//! State: `<runs>/sweeps/<name>/cells/<key>.json` per cell (running, done with its result rows,
//! or failed with its error), keyed by a digest of the cell's command and settings, so that
//! extending a grid keeps every finished cell. A cell is *running* while its worker holds the
//! lock `cells/<key>.lock` (an OS lock the kernel releases when the process dies).

mod cell;
mod exec;
pub mod local;
pub mod slurm;
mod state;

pub use exec::*;
pub use slurm::SlurmSettings;
pub use state::*;

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::run::kinds::{BranchKind, LmcControl};
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
    /// `lottery prune layerwise --from` the cell's own `train`/`imp` run.
    Layerwise,
}

impl Command {
    /// The names, as written in sweep files.
    pub const NAMES: [&'static str; 6] = ["imp", "train", "prune", "lmc", "branch", "layerwise"];

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "imp" => Command::Imp,
            "train" => Command::Train,
            "prune" => Command::Prune,
            "lmc" => Command::Lmc,
            "branch" => Command::Branch,
            "layerwise" => Command::Layerwise,
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

    /// The keys this command adds to the run settings (a layerwise cell's are its settings'
    /// keys, `seed` spelled `calibration_seed`, and `source_level`).
    fn cell_keys(self) -> Vec<&'static str> {
        match self {
            Command::Branch => vec!["kind", "level", "branch_seed", "transfer_set"],
            Command::Lmc => vec!["k", "points", "ticket_level", "control"],
            Command::Layerwise => {
                let mut keys: Vec<&'static str> = crate::run::layerwise::LayerwiseSettings::keys()
                    .into_iter()
                    .map(|k| if k == "seed" { "calibration_seed" } else { k })
                    .collect();
                keys.push("source_level");
                keys
            }
            _ => vec![],
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
            Command::Layerwise,
        ]
        .iter()
        .position(|c| c == self)
        .expect("listed");
        f.write_str(Self::NAMES[i])
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
    /// `branch` of kind `transfer`: the settings the ticket is transferred to (`transfer_set`).
    pub transfer: Vec<(String, String)>,
    /// `lmc`: what to interpolate.
    pub lmc: Option<LmcCell>,
    /// `layerwise`: the settings and the level of the cell's run that is pruned.
    pub layerwise: Option<(crate::run::layerwise::LayerwiseSettings, usize)>,
}

/// The `lmc` keys of a cell.
#[derive(Clone, Debug, PartialEq)]
pub struct LmcCell {
    /// Rewind iterations $k$.
    pub ks: Vec<usize>,
    /// Points on the path.
    pub points: usize,
    /// The ticket's IMP level (0: the dense network).
    pub ticket_level: usize,
    /// The ticket or a control at its sparsity.
    pub control: LmcControl,
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
    // taken as done. They enter as the run's identity does (every setting, sorted by key), so
    // that regrouping the config's fields does not change the key.
    let resolved = cell
        .resolve_inner()
        .ok()
        .and_then(|r| crate::run::identity::settings_of(&r.config).ok())
        .map(|s| serde_json::to_string(&s).expect("settings serialize"));
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

#[cfg(test)]
mod tests;
