//! Early-phase perturbations (Frankle, Schwab & Morcos 2020) and ticket transfer (Morcos et al.
//! 2019): at each rewind point and IMP level, the early-stopped test accuracy of the ticket and
//! of each perturbation of its kept weights at the rewind point, with the paired difference
//! (perturbed − ticket, same seed); the ticket trained under other settings against the dense
//! network trained under those settings. Sweep: `experiments/sweeps/early_phase.toml`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::evidence::Ci;
use crate::sweeps::{field, records};
use lottery::Result;

/// One measured run.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// `ticket`, a perturbation (`perturb-…`), `transfer` or `dense (transfer settings)`.
    pub arm: String,
    /// Rewind point (0: initialization).
    pub k: usize,
    /// Level.
    pub level: usize,
    /// Seed.
    pub seed: u64,
    /// Fraction of the weights remaining.
    pub remaining: f64,
    /// Early-stopped test accuracy.
    pub accuracy: f64,
}

/// The rows of the table.
pub fn rows(table: &[Vec<String>]) -> Result<Vec<Row>> {
    let mut out = Vec::new();
    for r in records(table) {
        let k = match r.get("rewind").map(String::as_str) {
            None | Some("") | Some("init") => 0,
            Some(_) => field(&r, "rewind")?,
        };
        let run: String = field(&r, "run_dir")?;
        let arm = match r.get("command").map(String::as_str) {
            Some("imp") => "ticket".to_string(),
            Some("train") => "dense (transfer settings)".to_string(),
            _ if run.contains("branch_transfer") => "transfer".to_string(),
            _ => field::<String>(&r, "kind")?,
        };
        out.push(Row {
            arm,
            k,
            level: field(&r, "level")?,
            seed: field(&r, "seed")?,
            remaining: field(&r, "remaining")?,
            accuracy: field(&r, "early_stop_test_accuracy")?,
        });
    }
    Ok(out)
}

/// One arm at one (k, level) over seeds.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    /// Arm.
    pub arm: String,
    /// Rewind point.
    pub k: usize,
    /// Level.
    pub level: usize,
    /// Weights remaining (%).
    pub remaining_pct: f64,
    /// Early-stopped test accuracy.
    pub accuracy: Ci,
    /// Minus the reference of the same seed: the unperturbed ticket (perturbations, transfer
    /// minus the ticket trained as found), or for `transfer` the dense network under the same
    /// settings (`transfer_minus_dense`).
    pub minus_ticket: Ci,
    /// `transfer` only: minus the dense network trained with the transfer settings.
    pub minus_dense: Ci,
}

/// The summaries.
pub fn points(rows: &[Row]) -> Vec<Point> {
    let acc = |arm: &str, k: usize, level: usize| -> BTreeMap<u64, f64> {
        rows.iter()
            .filter(|r| r.arm == arm && r.k == k && r.level == level)
            .map(|r| (r.seed, r.accuracy))
            .collect()
    };
    let dense: BTreeMap<u64, f64> = rows
        .iter()
        .filter(|r| r.arm == "dense (transfer settings)")
        .map(|r| (r.seed, r.accuracy))
        .collect();
    let mut keys: Vec<(usize, usize, String)> = rows
        .iter()
        .filter(|r| r.arm != "dense (transfer settings)")
        .map(|r| (r.k, r.level, r.arm.clone()))
        .collect();
    keys.sort();
    keys.dedup();
    // Only the levels something was compared at.
    keys.retain(|(k, l, _)| {
        rows.iter()
            .any(|r| r.k == *k && r.level == *l && r.arm != "ticket")
    });
    keys.into_iter()
        .map(|(k, level, arm)| {
            let a = acc(&arm, k, level);
            let remaining = rows
                .iter()
                .find(|r| r.k == k && r.level == level)
                .map(|r| r.remaining)
                .unwrap_or(f64::NAN);
            Point {
                remaining_pct: 100.0 * remaining,
                accuracy: Ci::of(&a.values().copied().collect::<Vec<_>>()),
                minus_ticket: Ci::paired(&a, &acc("ticket", k, level)),
                minus_dense: if arm == "transfer" {
                    Ci::paired(&a, &dense)
                } else {
                    Ci::of(&[])
                },
                arm,
                k,
                level,
            }
        })
        .collect()
}

/// The markdown table (points).
pub fn markdown(points: &[Point], dense: Ci) -> String {
    let rows: Vec<Vec<String>> = points
        .iter()
        .map(|p| {
            vec![
                p.k.to_string(),
                p.level.to_string(),
                format!("{:.1}", p.remaining_pct),
                p.arm.clone(),
                p.accuracy.show(100.0, 2),
                p.minus_ticket.show(100.0, 2),
                p.minus_dense.show(100.0, 2),
            ]
        })
        .collect();
    let mut md = crate::evidence::markdown(
        &[
            "rewind k",
            "level",
            "% remaining",
            "arm",
            "early-stop test acc.",
            "minus ticket (paired)",
            "minus dense, transfer settings (paired)",
        ],
        &rows,
    );
    md.push_str(&format!(
        "\nDense network trained with the transfer settings: {}\n",
        dense.show(100.0, 2)
    ));
    md
}
