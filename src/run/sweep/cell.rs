//! What a cell runs: [`Cell::resolve`] turns a cell's settings into a checked run
//! configuration and the command's own keys.

use super::{bad, display_value, one_line, Cell, Command, LmcCell, Resolved};
use crate::run::kinds::{BranchKind, LmcControl};
use crate::run::RunConfig;
use crate::Result;

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

    pub(super) fn resolve_inner(&self) -> Result<Resolved> {
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
                // `lottery prune`'s default: 0.8, or an N:M budget's own 1 - N/M.
                let structure = match table.get("budget") {
                    Some(toml::Value::String(b)) => b.parse()?,
                    _ => crate::select::budget::Structure::Unstructured,
                };
                table.entry("sparsity").or_insert(toml::Value::Float(
                    crate::select::budget::SparsityBudget::default_sparsity(
                        structure,
                        crate::select::budget::PRUNE_SPARSITY,
                    ),
                ));
            }
            _ => {}
        }
        if !table.contains_key("preset") {
            return Err(bad("no `preset`"));
        }
        let config = RunConfig::from_table(table, None)?;
        if self.command == Command::Prune && !config.method.is_prune() {
            let m = config.method;
            return Err(bad(format!(
                "`prune` needs a pruning method, not {m} (use command {m})"
            )));
        }
        let mut out = Resolved {
            config,
            branch: None,
            transfer: Vec::new(),
            lmc: None,
            layerwise: None,
        };
        match self.command {
            Command::Branch => resolve_branch(&get, &mut out)?,
            Command::Lmc => resolve_lmc(&get, &mut out)?,
            Command::Layerwise => resolve_layerwise(&own, &get, &mut out)?,
            _ => {}
        }
        Ok(out)
    }
}

/// A cell's own keys by name.
type Get<'a> = dyn Fn(&str) -> Option<&'a toml::Value> + 'a;

/// A `branch` cell's kind, level, seed and transfer settings.
fn resolve_branch(get: &Get, out: &mut Resolved) -> Result<()> {
    let kind: BranchKind = match get("kind") {
        Some(toml::Value::String(s)) => s.parse()?,
        Some(v) => return Err(bad(format!("`kind` must be a string, not {v}"))),
        None => return Err(bad("`branch` needs a `kind`")),
    };
    if kind == BranchKind::Transfer {
        let sets = match get("transfer_set") {
            Some(toml::Value::Array(a)) if !a.is_empty() => a.clone(),
            _ => {
                return Err(bad(
                    "a `transfer` branch needs `transfer_set = [\"KEY=VALUE\", …]`",
                ))
            }
        };
        let mut probe = out.config.clone();
        for v in &sets {
            let kv = v
                .as_str()
                .and_then(|s| s.split_once('='))
                .ok_or_else(|| bad(format!("`transfer_set` entry {v} is not \"KEY=VALUE\"")))?;
            probe.set(kv.0.trim(), kv.1.trim())?;
            out.transfer.push((kv.0.trim().into(), kv.1.trim().into()));
        }
        probe.validate()?;
    } else if get("transfer_set").is_some() {
        return Err(bad("`transfer_set` is for `kind = \"transfer\"` only"));
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
    Ok(())
}

/// An `lmc` cell's rewind points, path points, ticket level and control.
fn resolve_lmc(get: &Get, out: &mut Resolved) -> Result<()> {
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
    let control: LmcControl = match get("control") {
        None => LmcControl::Ticket,
        Some(toml::Value::String(s)) => s.parse()?,
        Some(v) => return Err(bad(format!("`control` must be a string, not {v}"))),
    };
    if ticket == 0 && control != LmcControl::Ticket {
        return Err(bad(format!("`control` {control} needs a `ticket_level`")));
    }
    out.lmc = Some(LmcCell {
        ks,
        points,
        ticket_level: ticket,
        control,
    });
    Ok(())
}

/// A `layerwise` cell's settings (through [`crate::run::layerwise::LayerwiseSettings`]) and its
/// source level.
fn resolve_layerwise(own: &[(String, toml::Value)], get: &Get, out: &mut Resolved) -> Result<()> {
    let int = |k: &str, default: usize| -> Result<usize> {
        get(k)
            .map(|v| usize_of(k, v))
            .transpose()
            .map(|v| v.unwrap_or(default))
    };
    // The cell's `calibration_seed` is the settings' `seed` (its `seed` is the
    // source run's).
    let pairs: Vec<(String, toml::Value)> = own
        .iter()
        .filter(|(k, _)| k != "source_level")
        .map(|(k, v)| {
            let k = if k == "calibration_seed" { "seed" } else { k };
            (k.to_string(), v.clone())
        })
        .collect();
    let settings = crate::run::layerwise::LayerwiseSettings::from_keys(&pairs)?;
    let level = int("source_level", 0)?;
    if level > out.config.levels {
        return Err(bad(format!(
            "`source_level` {level} > levels {}",
            out.config.levels
        )));
    }
    out.layerwise = Some((settings, level));
    Ok(())
}
