//! Helpers shared by the bench binaries that compare against scikit-learn.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// The value after `name` on the command line, or `default`.
pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `.venv-bench/bin/python`, creating the environment (numpy, scikit-learn, threadpoolctl) on
/// first use.
pub fn ensure_venv(root: &Path) -> std::path::PathBuf {
    let py = root.join(".venv-bench/bin/python");
    if !py.exists() {
        eprintln!("creating .venv-bench (numpy, scikit-learn, threadpoolctl)…");
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(root.join(".venv-bench"))
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
            && Command::new(root.join(".venv-bench/bin/pip"))
                .args(["install", "-q", "numpy", "scikit-learn", "threadpoolctl"])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
        assert!(ok, "could not create .venv-bench with pip");
    }
    py
}

/// Run a Python script's command and parse the one JSON object it prints (panics with its
/// stderr when it fails).
pub fn json_of(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
