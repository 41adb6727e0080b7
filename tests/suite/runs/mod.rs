//! Helpers shared by the tests that run the `lottery` binary on networks (feature `torch`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Tensors of a safetensors file, sorted by name (the header's order is not stable).
pub fn load_sorted(path: PathBuf) -> Vec<(String, tch::Tensor)> {
    let mut v = tch::Tensor::read_safetensors(path).unwrap();
    v.sort_by(|x, y| x.0.cmp(&y.0));
    v
}

/// The directory a successful `lottery` command printed on its last stdout line.
pub fn printed_dir(out: std::process::Output) -> PathBuf {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
}

/// A run's (level's, branch's) `summary.json`.
pub fn read_summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

/// Kept weights per prunable tensor, from a summary.
pub fn kept(summary: &serde_json::Value) -> Vec<u64> {
    summary["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["kept"].as_u64().unwrap())
        .collect()
}

/// `lottery <args…> --device cpu --runs <runs>`, run to completion; returns the printed dir.
pub fn lottery_ok(runs: &Path, args: &[&str]) -> PathBuf {
    printed_dir(lottery_out(runs, args))
}

/// `lottery <args…> --device cpu --runs <runs>`, its output.
pub fn lottery_out(runs: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lottery"))
        .args(args)
        .args(["--device", "cpu", "--runs"])
        .arg(runs)
        .output()
        .unwrap()
}

/// A 0/1 mask file as one flat vector per tensor (sorted by name).
pub fn mask_bits(path: PathBuf) -> Vec<(String, Vec<u8>)> {
    load_sorted(path)
        .into_iter()
        .map(|(n, t)| {
            (
                n,
                Vec::<u8>::try_from(&t.flatten(0, -1).to_kind(tch::Kind::Uint8)).unwrap(),
            )
        })
        .collect()
}

/// A tensor as a flat f64 vector.
pub fn values(t: &tch::Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(&t.flatten(0, -1).to_kind(tch::Kind::Double)).unwrap()
}
