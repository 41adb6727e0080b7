//! What a run directory *is*: its identity file `run.json` and the lock that makes one process
//! its only writer.
//!
//! A run's name hashes only its non-default settings, so a changed default (or any edit of a
//! preset) would let an old directory pass for the new run. The name therefore only *locates*
//! a run; `run.json` says what it is — the format version, the command, every resolved setting
//! and the SHA-256 of those settings — and [`open`] compares it with the request before
//! anything is read or written. A mismatch is refused with one line naming the keys that differ;
//! `rerun = true` moves the old directory aside (`<name>.stale-<n>`, nothing is deleted) and
//! starts again under the name.
//!
//! A setting the stored run does not know (a key added after it was made) counts as equal when
//! the request leaves it at its preset's default: that is the convention the run names already
//! rest on (a new option's default is a no-op). A directory made before `run.json` existed is
//! compared through its `config.toml`, and upgraded when it matches.
//!
//! The lock is an OS file lock (`flock(2)` through [`std::fs::File::try_lock`]) on
//! `<run>/lock`: the kernel releases it when its process dies, however it dies, so there is no
//! stale lock to judge and no check-then-act window between two starting processes.
//!
//! ```
//! use lottery::run::{identity, RunConfig};
//! let runs = tempfile::tempdir().unwrap();
//! let cfg = RunConfig::preset("lenet300-lth").unwrap();
//! let dir = runs.path().join(cfg.hash().unwrap());
//! let run = identity::open(&dir, &cfg, "imp", &[], false, false).unwrap();
//! // A second opener is refused while the first holds the run.
//! let busy = identity::open(&dir, &cfg, "imp", &[], false, false).unwrap_err().to_string();
//! assert!(busy.contains("in use by process"));
//! drop(run);
//! // The same request reopens it; another one is refused, naming the key.
//! identity::open(&dir, &cfg, "imp", &[], false, false).unwrap();
//! let mut other = cfg.clone();
//! other.lr = 0.1;
//! let err = identity::open(&dir, &other, "imp", &[], false, false).unwrap_err().to_string();
//! assert!(err.contains("lr (stored 0.0012, requested 0.1)") && err.contains("--rerun"));
//! assert_eq!(err.lines().count(), 1);
//! ```

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::RunConfig;
use crate::{Error, Result};

/// Version of the run-directory format this build writes and reads.
pub const FORMAT: u32 = 1;
/// The identity file.
pub const IDENTITY: &str = "run.json";
/// The lock file.
pub const LOCK: &str = "lock";

/// Resolved settings: key to value, sorted.
pub type Settings = BTreeMap<String, Value>;

/// A change made to a run after it started (resuming a diverged run with another learning
/// rate): the run's history, kept in its identity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Amendment {
    /// The setting changed.
    pub key: String,
    /// Its value before.
    pub from: Value,
    /// Its value after.
    pub to: Value,
    /// Why (the divergence it answers).
    pub reason: String,
}

/// The content of `run.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// [`FORMAT`] of the writer.
    pub format: u32,
    /// `imp`, `prune`, `lmc` or `branch`.
    pub command: String,
    /// Every resolved setting.
    pub settings: Settings,
    /// SHA-256 of `settings` ([`digest`]), so that an edited or damaged file is recognised.
    pub settings_sha256: String,
    /// Changes made after the start, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amendments: Vec<Amendment>,
}

impl Identity {
    /// The identity of a new run.
    pub fn new(command: &str, settings: Settings) -> Self {
        Identity {
            format: FORMAT,
            command: command.to_string(),
            settings_sha256: digest(&settings),
            settings,
            amendments: vec![],
        }
    }

    /// Read `dir/run.json`; `None` when there is none. A malformed file, a digest that does
    /// not match the settings, or a newer format is a one-line error.
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(IDENTITY);
        if !path.exists() {
            return Ok(None);
        }
        let id: Identity = crate::io::read_json(&path)?;
        if id.format > FORMAT {
            return Err(Error::Format {
                path,
                reason: format!(
                    "run format {} is newer than this build's {FORMAT}; use a newer lottery",
                    id.format
                ),
            });
        }
        if digest(&id.settings) != id.settings_sha256 {
            return Err(Error::Format {
                path,
                reason: "settings do not match their SHA-256 (edited or damaged)".into(),
            });
        }
        Ok(Some(id))
    }

    /// Write `dir/run.json` atomically (the digest is recomputed).
    pub fn write(&mut self, dir: &Path) -> Result<()> {
        self.settings_sha256 = digest(&self.settings);
        crate::io::write_json(&dir.join(IDENTITY), self)
    }
}

/// Every setting of `cfg`, resolved, as a sorted map.
pub fn settings_of(cfg: &RunConfig) -> Result<Settings> {
    match serde_json::to_value(cfg).map_err(|e| Error::param("config", e.to_string()))? {
        Value::Object(m) => Ok(m.into_iter().collect()),
        _ => Err(Error::param("config", "settings are not a table")),
    }
}

/// SHA-256 (hex) of settings, over their canonical JSON (keys sorted).
pub fn digest(settings: &Settings) -> String {
    let text = serde_json::to_string(settings).expect("settings serialize");
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A setting whose stored and requested values differ.
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    /// The key.
    pub key: String,
    /// Stored value (`None`: the stored run has no such key).
    pub stored: Option<Value>,
    /// Requested value (`None`: this build has no such key).
    pub requested: Option<Value>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<Value>| v.as_ref().map_or_else(|| "absent".into(), Value::to_string);
        write!(
            f,
            "{} (stored {}, requested {})",
            self.key.escape_debug(),
            show(&self.stored),
            show(&self.requested)
        )
    }
}

/// Whether `key` cannot affect a run with the `requested` settings, so that a stored value made
/// under another default is no difference: the fine-tuning rate and the retraining budget
/// matter only to `rewind = "lr"` or `"finetune"` (issue 11 changed `finetune_lr`'s default from
/// a tenth of `lr` to Renda's final rate; every other run is unaffected and stays reusable).
fn inert(key: &str, requested: &Settings) -> bool {
    match key {
        "finetune_lr" | "retrain" => !matches!(
            requested.get("rewind").and_then(Value::as_str),
            Some("lr") | Some("finetune")
        ),
        _ => false,
    }
}

/// The value a run stored before `key` existed *had*, where that differs from the key's
/// default: early-bird compared masks by the Hamming distance over all weights (`eb_distance =
/// "all"`) until issue 11 made the kept-set distance the default. `None`: the default's.
fn legacy_value(key: &str, stored: &Settings) -> Option<Value> {
    match key {
        "eb_distance" if stored.get("method").and_then(Value::as_str) == Some("early-bird") => {
            Some(Value::String("all".into()))
        }
        _ => None,
    }
}

/// The settings whose stored and requested values differ, by key. A key missing from `stored`
/// is equal when the request leaves it at `defaults`' value (unless the stored run behaved as
/// another value: early-bird runs made before `eb_distance` compared all weights, `"all"`); keys
/// that cannot affect the requested run are skipped (`finetune_lr` and `retrain` unless the run
/// rewinds by `lr` or fine-tunes).
pub fn differences(
    stored: &Settings,
    requested: &Settings,
    defaults: &Settings,
) -> Vec<Difference> {
    let mut keys: Vec<&String> = stored.keys().chain(requested.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| !inert(k, requested))
        .filter_map(|k| {
            let old = legacy_value(k, stored);
            let s = stored.get(k).or(old.as_ref());
            let r = requested.get(k);
            let same = s == r || (s.is_none() && r.is_some() && r == defaults.get(k));
            (!same).then(|| Difference {
                key: k.clone(),
                stored: s.cloned(),
                requested: r.cloned(),
            })
        })
        .collect()
}

/// The settings a diverged run may change when it is resumed (`--resume-diverged`).
pub const LEARNING_RATES: [&str; 5] = ["lr", "finetune_lr", "score_lr", "convex_lr", "fw_step"];

/// An exclusive OS lock on a run directory, held until dropped (or the process dies).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Lock `dir` (created if missing); a run held by another process is refused with one line.
    pub fn acquire(dir: &Path) -> Result<Self> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(LOCK);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => {
                // The pid is information for the refused process; the lock is the flock.
                file.set_len(0).map_err(io(&path))?;
                file.rewind().map_err(io(&path))?;
                writeln!(file, "{}", std::process::id()).map_err(io(&path))?;
                Ok(RunLock { _file: file })
            }
            Err(TryLockError::WouldBlock) => {
                let mut owner = String::new();
                let _ = file.read_to_string(&mut owner);
                let owner = owner.trim();
                Err(Error::InUse {
                    dir: dir.to_path_buf(),
                    owner: if owner.is_empty() { "?" } else { owner }.to_string(),
                })
            }
            Err(TryLockError::Error(e)) => Err(io(&path)(e)),
        }
    }
}

/// A run directory opened for writing: its identity checked, its lock held.
#[derive(Debug)]
pub struct OpenRun {
    /// The directory.
    pub dir: PathBuf,
    /// Its identity.
    pub identity: Identity,
    _lock: RunLock,
}

/// Open (or create) the run directory `dir` for `cfg` under `command`, with `extra` settings
/// that are not in the config (a branch's kind and seed). Locks it, then compares its stored
/// identity with the request; see the module documentation. `rerun` moves a mismatching (or
/// unreadable) run aside and starts again; `amend` accepts differences in
/// [`LEARNING_RATES`] alone and records them as [`Amendment`]s (resuming a diverged run).
pub fn open(
    dir: &Path,
    cfg: &RunConfig,
    command: &str,
    extra: &[(&str, Value)],
    rerun: bool,
    amend: bool,
) -> Result<OpenRun> {
    let mut settings = settings_of(cfg)?;
    for (k, v) in extra {
        settings.insert(k.to_string(), v.clone());
    }
    let defaults = settings_of(&RunConfig::preset(&cfg.preset)?)?;
    let lock = RunLock::acquire(dir)?;
    let stored = match Identity::read(dir) {
        Ok(Some(id)) => Ok(Some(id)),
        Ok(None) => legacy(dir, command, extra),
        Err(e) => Err(e),
    };
    let verdict: std::result::Result<Option<Identity>, String> = match stored {
        Err(e) => Err(e.to_string()),
        Ok(None) => Ok(None),
        Ok(Some(mut id)) => {
            let diff = differences(&id.settings, &settings, &defaults);
            let lr_only = diff
                .iter()
                .all(|d| LEARNING_RATES.contains(&d.key.as_str()) && d.stored.is_some());
            if id.command != command {
                Err(format!(
                    "{} holds a `{}` run, not `{command}`",
                    dir.display(),
                    id.command
                ))
            } else if diff.is_empty() {
                Ok(Some(id))
            } else if amend && lr_only {
                for d in diff {
                    id.amendments.push(Amendment {
                        key: d.key.clone(),
                        from: d.stored.unwrap_or(Value::Null),
                        to: d.requested.clone().unwrap_or(Value::Null),
                        reason: "resumed after divergence (--resume-diverged)".into(),
                    });
                    if let Some(v) = d.requested {
                        id.settings.insert(d.key, v);
                    }
                }
                id.write(dir)?;
                Ok(Some(id))
            } else {
                let list: Vec<String> = diff.iter().map(|d| d.to_string()).collect();
                Err(format!(
                    "{} holds a run with other settings: {}",
                    dir.display(),
                    list.join(", ")
                ))
            }
        }
    };
    let fresh = |lock: RunLock, settings: Settings| -> Result<OpenRun> {
        let mut identity = Identity::new(command, settings);
        identity.write(dir)?;
        Ok(OpenRun {
            dir: dir.to_path_buf(),
            identity,
            _lock: lock,
        })
    };
    match verdict {
        Ok(Some(identity)) => Ok(OpenRun {
            dir: dir.to_path_buf(),
            identity,
            _lock: lock,
        }),
        Ok(None) => fresh(lock, settings),
        Err(why) if !rerun => Err(Error::param(
            "run",
            format!(
                "{why}; pass --rerun to move it aside and start again, or inspect it under {}",
                dir.display()
            ),
        )),
        Err(_) => {
            let aside = (1..)
                .map(|n| PathBuf::from(format!("{}.stale-{n}", dir.display())))
                .find(|p| !p.exists())
                .expect("a free name");
            fs::rename(dir, &aside).map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })?;
            drop(lock);
            eprintln!(
                "note: moved the run with other settings to {}",
                aside.display()
            );
            fresh(RunLock::acquire(dir)?, settings)
        }
    }
}

/// The identity of a directory written before `run.json` existed, from its `config.toml`
/// (the extra settings of a branch are in its name); `None` for a new directory.
fn legacy(dir: &Path, command: &str, extra: &[(&str, Value)]) -> Result<Option<Identity>> {
    let path = dir.join("config.toml");
    if !path.exists() {
        return Ok(None);
    }
    let text = fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let cfg = RunConfig::from_toml(&text, None).map_err(|e| Error::Format {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let mut settings = settings_of(&cfg)?;
    for (k, v) in extra {
        settings.insert(k.to_string(), v.clone());
    }
    let mut id = Identity::new(command, settings);
    id.write(dir)?;
    Ok(Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, Value)]) -> Settings {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    /// Issue 11 changed two meanings: `finetune_lr`'s default (which only fine-tuning reads) and
    /// early-bird's distance (a new key whose default is not what old runs did).
    #[test]
    fn changed_defaults_refuse_only_the_runs_they_change() {
        let s = |v: &str| Value::String(v.into());
        let stored = settings(&[("rewind", s("init")), ("finetune_lr", 0.00012.into())]);
        let defaults = settings(&[("rewind", s("init")), ("finetune_lr", 0.0.into())]);
        // An IMP run rewinding to init never reads the fine-tuning rate.
        assert!(differences(&stored, &defaults, &defaults).is_empty());
        // A fine-tuning run does.
        let ft_stored = settings(&[("rewind", s("finetune")), ("finetune_lr", 0.00012.into())]);
        let ft = settings(&[("rewind", s("finetune")), ("finetune_lr", 0.0.into())]);
        assert_eq!(
            differences(&ft_stored, &ft, &defaults)[0].key,
            "finetune_lr"
        );
        // Early-bird runs made before `eb_distance` compared all weights.
        let eb_stored = settings(&[("method", s("early-bird"))]);
        let eb = settings(&[("method", s("early-bird")), ("eb_distance", s("kept"))]);
        let eb_defaults = settings(&[("eb_distance", s("kept"))]);
        let d = differences(&eb_stored, &eb, &eb_defaults);
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].to_string(),
            "eb_distance (stored \"all\", requested \"kept\")"
        );
        let eb_all = settings(&[("method", s("early-bird")), ("eb_distance", s("all"))]);
        assert!(differences(&eb_stored, &eb_all, &eb_defaults).is_empty());
        // Any other run made before the key is unaffected.
        let imp_stored = settings(&[("method", s("imp"))]);
        let imp = settings(&[("method", s("imp")), ("eb_distance", s("kept"))]);
        assert!(differences(&imp_stored, &imp, &eb_defaults).is_empty());
    }
}
