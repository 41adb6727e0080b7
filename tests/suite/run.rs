//! Run configuration and directories: presets, overrides, unknown keys, the pinned hash, locks,
//! run identity (`run.json`) and the validation of every setting.

use lottery::run::identity::{self, Identity};
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
        (lth.rate_fc, lth.rate_output, lth.budget.strategy.as_str()),
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

/// The other kinds of run, pinned to directory names recorded in `notes/data/` (issue 25: taken
/// before the budget type and the method registry, which must leave every name as it was).
#[test]
fn teacher_zoo_and_layerwise_names_are_pinned() {
    let with = |preset: &str, keys: &[(&str, &str)]| {
        let mut c = RunConfig::preset(preset).unwrap();
        for (k, v) in keys {
            c.set(k, v).unwrap();
        }
        c
    };
    // A planted-teacher IMP run: ticket_recovery, n = 412 (612 drawn), x = 1, y = 1, seed 0
    // (notes/data/ticket_recovery/rows.csv).
    let teacher = with(
        "mlp-teacher",
        &[
            ("levels", "5"),
            ("teacher_samples", "612"),
            ("hidden", "[16]"),
            ("oneshot", "0.4747"),
            ("seed", "0"),
        ],
    );
    assert_eq!(teacher.hash().unwrap(), "mlp-teacher-f663b5f8402fbd6d");
    // Zoo runs: RigL under ERK at 90%, and gradual magnitude under a 2:4 budget (methods sweep,
    // notes/data/methods/sweep-results.csv).
    let base = [("iterations", "3000"), ("eval_every", "500"), ("seed", "0")];
    let mut keys = base.to_vec();
    keys.extend([("method", "rigl"), ("strategy", "erk"), ("sparsity", "0.9")]);
    assert_eq!(
        with("lenet300-lth", &keys).hash().unwrap(),
        "lenet300-lth-rigl-1c30a1a958d0148e"
    );
    let mut keys = base.to_vec();
    keys.extend([
        ("method", "gradual"),
        ("strategy", "global"),
        ("budget", "2:4"),
        ("sparsity", "0.5"),
    ]);
    assert_eq!(
        with("lenet300-lth", &keys).hash().unwrap(),
        "lenet300-lth-gradual-75f2b7c0fa9e5d55"
    );
    // A layerwise run: magnitude at 50% under a layer budget, pruning level 0 of one_shot's
    // LeNet source (notes/data/one_shot/rows.csv); its directory is named by its settings.
    let source = with(
        "lenet300-lth",
        &[
            ("levels", "6"),
            ("oneshot", "0.5"),
            ("iterations", "10000"),
            ("eval_every", "500"),
            ("seed", "0"),
        ],
    );
    assert_eq!(source.hash().unwrap(), "lenet300-lth-635e9013d593c43f");
    let settings: lottery::run::layerwise::LayerwiseSettings = serde_json::from_str(
        r#"{"solver":"magnitude","sparsity":0.5,"budget":"layer","calibration":1000,
            "damp":0.01,"finetune":0,"seed":0}"#,
    )
    .unwrap();
    assert_eq!(settings.dir_name(), "layerwise_magnitude_cc83457c451e");
    assert_eq!(
        serde_json::to_string(&settings).unwrap(),
        r#"{"solver":"magnitude","sparsity":0.5,"budget":"layer","calibration":1000,"damp":0.01,"finetune":0,"seed":0}"#
    );
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
fn the_lock_is_the_kernels_and_dies_with_its_holder() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let lock = RunLock::acquire(&run).unwrap();
    let err = RunLock::acquire(&run).unwrap_err().to_string();
    assert!(err.contains("in use by process"), "{err}");
    assert_eq!(err.lines().count(), 1);
    drop(lock);
    RunLock::acquire(&run).unwrap();
    // A lock file left by a dead process (or naming a recycled pid) holds nothing: only the
    // flock counts.
    std::fs::write(run.join("lock"), format!("{}\n", std::process::id())).unwrap();
    RunLock::acquire(&run).unwrap();
}

/// A run directory made under one default is refused when the default changes: the request
/// and the stored settings differ, and the message names the key.
#[test]
fn a_changed_default_is_refused_naming_the_key() {
    let runs = tempfile::tempdir().unwrap();
    let mut cfg = RunConfig::preset("lenet300-lth").unwrap();
    cfg.set("method", "sfw").unwrap();
    cfg.set("sparsity", "0.9").unwrap();
    let dir = runs.path().join(cfg.hash().unwrap());
    drop(identity::open(&dir, &cfg, "prune", &[], false, false).unwrap());
    let stored = Identity::read(&dir).unwrap().unwrap();
    assert_eq!(stored.format, identity::FORMAT);
    assert_eq!(stored.settings, identity::settings_of(&cfg).unwrap());
    // The same request reopens the run.
    drop(identity::open(&dir, &cfg, "prune", &[], false, false).unwrap());

    // Simulate the run having been made when `fw_step`'s default was 0.01: a copy of the run
    // whose stored settings say so (a consistent run.json, digest and all). Its name is the
    // same, since the name only hashes non-default settings.
    let copy = runs.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    let mut old = stored.clone();
    old.settings
        .insert("fw_step".into(), serde_json::json!(0.01));
    old.write(&copy).unwrap();
    let err = identity::open(&copy, &cfg, "prune", &[], false, false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("fw_step (stored 0.01, requested 0.001)"),
        "{err}"
    );
    assert!(err.contains("--rerun"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // Nothing was touched.
    assert_eq!(Identity::read(&copy).unwrap().unwrap(), {
        let mut o = old.clone();
        o.settings_sha256 = identity::digest(&o.settings);
        o
    });

    // A key the stored run does not know is equal when the request leaves it at its default,
    // and a difference when it does not.
    let mut older = stored.clone();
    older.settings.remove("grow_rounds");
    older.write(&copy).unwrap();
    drop(identity::open(&copy, &cfg, "prune", &[], false, false).unwrap());
    let mut other = cfg.clone();
    other.methods.greedy.grow_rounds = 3;
    let err = identity::open(&copy, &other, "prune", &[], false, false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("grow_rounds (stored absent, requested 3)"),
        "{err}"
    );

    // A hand-edited run.json (digest no longer matching) is refused too.
    let text = std::fs::read_to_string(copy.join("run.json")).unwrap();
    std::fs::write(copy.join("run.json"), text.replace("0.9", "0.95")).unwrap();
    let err = identity::open(&copy, &cfg, "prune", &[], false, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("do not match their SHA-256"), "{err}");

    // --rerun moves the mismatched run aside, whole, and starts a fresh one under the name.
    std::fs::write(copy.join("result.txt"), "old").unwrap();
    let run = identity::open(&copy, &cfg, "prune", &[], true, false).unwrap();
    assert_eq!(run.identity.settings, identity::settings_of(&cfg).unwrap());
    let aside = runs.path().join("copy.stale-1");
    assert_eq!(
        std::fs::read_to_string(aside.join("result.txt")).unwrap(),
        "old"
    );
    assert!(!copy.join("result.txt").exists());
}

/// A run directory written before run.json existed is judged by its config.toml.
#[test]
fn a_legacy_run_is_judged_by_its_config() {
    let runs = tempfile::tempdir().unwrap();
    let cfg = RunConfig::preset("lenet300-lth").unwrap();
    let dir = runs.path().join(cfg.hash().unwrap());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), cfg.to_toml()).unwrap();
    drop(identity::open(&dir, &cfg, "imp", &[], false, false).unwrap());
    assert!(dir.join("run.json").exists(), "upgraded");
    let legacy = runs.path().join("legacy");
    std::fs::create_dir_all(&legacy).unwrap();
    std::fs::write(
        legacy.join("config.toml"),
        cfg.to_toml().replace("lr = 0.0012", "lr = 0.002"),
    )
    .unwrap();
    let err = identity::open(&legacy, &cfg, "imp", &[], false, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("lr (stored 0.002, requested 0.0012)"), "{err}");
}

/// Only learning rates may change when a diverged run is resumed, and the change is recorded.
#[test]
fn resuming_with_another_learning_rate_is_an_amendment() {
    let runs = tempfile::tempdir().unwrap();
    let cfg = RunConfig::preset("lenet300-lth").unwrap();
    let dir = runs.path().join(cfg.hash().unwrap());
    drop(identity::open(&dir, &cfg, "imp", &[], false, false).unwrap());
    let mut smaller = cfg.clone();
    smaller.lr = 1e-4;
    assert!(identity::open(&dir, &smaller, "imp", &[], false, false).is_err());
    let run = identity::open(&dir, &smaller, "imp", &[], false, true).unwrap();
    assert_eq!(run.identity.amendments.len(), 1);
    assert_eq!(run.identity.amendments[0].key, "lr");
    drop(run);
    // The amended run now answers to the new settings, and no longer to the old ones.
    drop(identity::open(&dir, &smaller, "imp", &[], false, false).unwrap());
    assert!(identity::open(&dir, &cfg, "imp", &[], false, false).is_err());
    let mut seeded = smaller.clone();
    seeded.seed = 7;
    let err = identity::open(&dir, &seeded, "imp", &[], false, true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("seed"), "{err}");
}

/// Every setting is range-checked where it is set, in one line.
#[test]
fn every_setting_is_range_checked() {
    let cfg = RunConfig::preset("lenet300-lth").unwrap();
    for (key, value) in [
        ("lr", "0"),
        ("lr", "nan"),
        ("lr", "inf"),
        ("momentum", "1.0"),
        ("weight_decay", "-1"),
        ("lr_gamma", "0"),
        ("finetune_lr", "-0.1"),
        ("batch", "0"),
        ("eval_every", "0"),
        ("validation", "0"),
        ("levels", "100000"),
        ("rate_fc", "1.0"),
        ("sparsity", "-0.1"),
        ("schedule_end", "1.5"),
        ("fw_step", "0"),
        ("fw_averaging", "2"),
        ("cs_lambda", "-1"),
        ("cs_rounds", "0"),
        ("optimizer", "rmsprop"),
        ("batch", "-3"),
        ("batch", "\"sixty\""),
        ("seed", "1.5"),
    ] {
        let mut c = cfg.clone();
        let err = c.set(key, value).expect_err(key).to_string();
        assert_eq!(err.lines().count(), 1, "{key}={value}: {err}");
        assert_eq!(c, cfg, "{key}={value} left a change behind");
    }
    // Consistency across keys is checked when the run starts, whatever the --set order.
    let mut c = cfg.clone();
    c.set("rewind", "500").unwrap();
    c.set("iterations", "100").unwrap();
    assert!(c.validate().unwrap_err().to_string().contains("rewind"));
    c.set("iterations", "1000").unwrap();
    c.validate().unwrap();
}
