//! Run configuration and directories: presets, overrides, unknown keys, the pinned hash, locks.

use lottery::run::{Rewind, RunConfig, RunLock, PRESETS};

#[test]
fn every_preset_is_valid() {
    for p in PRESETS {
        let c = RunConfig::preset(p).unwrap();
        c.validate().unwrap();
        assert!(c.non_default().unwrap().is_empty(), "{p}");
    }
    let lth = RunConfig::preset("lenet300-lth").unwrap();
    assert_eq!(
        (lth.optimizer.as_str(), lth.lr, lth.batch, lth.iterations),
        ("adam", 1.2e-3, 60, 50_000)
    );
    assert_eq!(
        (lth.rate_fc, lth.rate_output, lth.strategy.as_str()),
        (0.2, 0.1, "layerwise")
    );
    let r20 = RunConfig::preset("resnet20-openlth").unwrap();
    assert_eq!(
        (
            r20.momentum,
            r20.weight_decay,
            r20.epochs,
            r20.lr_drop_epochs.clone()
        ),
        (0.9, 1e-4, 160, vec![80, 120])
    );
    assert_eq!(RunConfig::preset("conv6-lth").unwrap().rate_conv, 0.15);
    assert!(!RunConfig::preset("vgg16-openlth").unwrap().prune_output);
}

/// open_lth's rule: only non-default settings enter the hash. These values are pinned: if this
/// test fails, every existing run directory would be orphaned.
#[test]
fn run_hash_is_pinned() {
    let base = RunConfig::preset("lenet300-lth").unwrap();
    assert_eq!(base.hash().unwrap(), "lenet300-lth-a74947baea407f36");
    let mut c = base.clone();
    c.set("levels", "3").unwrap();
    c.set("iterations", "1000").unwrap();
    assert_eq!(c.hash().unwrap(), "lenet300-lth-08769446ca5e52aa");
    // Setting a key to its default value changes nothing (a new option with a no-op default
    // keeps old names).
    let mut same = base.clone();
    same.set("oneshot", "0").unwrap(); // added after the hashes were pinned: no-op default
    same.set("rate_fc", "0.2").unwrap();
    same.set("rewind", "init").unwrap();
    assert_eq!(same.hash().unwrap(), base.hash().unwrap());
    // Order of overrides does not matter.
    let mut other = base.clone();
    other.set("iterations", "1000").unwrap();
    other.set("levels", "3").unwrap();
    assert_eq!(other.hash().unwrap(), c.hash().unwrap());
}

#[test]
fn overrides_and_bad_input() {
    let mut c = RunConfig::preset("lenet300-lth").unwrap();
    c.set("rewind", "500").unwrap();
    c.set("dataset", "teacher").unwrap();
    c.set("lr_drop_iterations", "[100, 200]").unwrap();
    assert_eq!(
        (c.rewind, c.lr_drop_iterations.clone()),
        (Rewind::Iteration(500), vec![100, 200])
    );
    for (k, v) in [
        ("colour", "blue"),
        ("lr", "-1"),
        ("model", "alexnet"),
        ("rate_fc", "1.5"),
        ("rewind", "later"),
        ("batch", "\"many\""),
    ] {
        let err = c.clone().set(k, v).unwrap_err().to_string();
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert!(c
        .clone()
        .set("colour", "blue")
        .unwrap_err()
        .to_string()
        .contains("unknown key `colour`"));
    let from_file =
        RunConfig::from_toml("preset = \"conv2-lth\"\nlevels = 2\nseed = 7\n", None).unwrap();
    assert_eq!(
        (from_file.model.as_str(), from_file.levels, from_file.seed),
        ("conv2", 2, 7)
    );
    assert!(RunConfig::from_toml("levels = 2\nwidth = 3\n", Some("conv2-lth")).is_err());
    assert!(RunConfig::from_toml("levels = 2\n", None).is_err());
    assert!(RunConfig::preset("resnet56").is_err());
    // The TOML written into a run directory reads back to the same config.
    assert_eq!(RunConfig::from_toml(&c.to_toml(), None).unwrap(), c);
}

#[test]
fn a_second_process_is_refused_and_stale_locks_are_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let lock = RunLock::acquire(&run).unwrap();
    let err = RunLock::acquire(&run).unwrap_err().to_string();
    assert!(err.contains("in use by process"), "{err}");
    drop(lock);
    let again = RunLock::acquire(&run).unwrap();
    drop(again);
    std::fs::write(run.join("lock"), "4000000000\n").unwrap(); // no such pid
    RunLock::acquire(&run).unwrap();
}
