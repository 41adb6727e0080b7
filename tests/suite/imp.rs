//! IMP runs end to end through the CLI (CPU): the run layout, per-layer sparsities that follow
//! the rates exactly, the planted overlap and the branches. Kills, locks, damage and divergence:
//! `tests/suite/crash.rs`.
#![cfg(feature = "torch")]

use crate::runs;

use runs::{kept, load_sorted, printed_dir, read_summary};

use std::path::{Path, PathBuf};
use std::process::Command;

const ARGS: [&str; 12] = [
    "imp",
    "--preset",
    "lenet300-lth",
    "--dataset",
    "teacher",
    "--levels",
    "2",
    "--iterations",
    "600",
    "--set",
    "eval_every=300",
    "--device",
];

fn lottery(runs: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lottery"));
    c.args(ARGS).arg("cpu").arg("--runs").arg(runs);
    c
}

fn run_dir(runs: &Path) -> PathBuf {
    printed_dir(lottery(runs).output().unwrap())
}

#[test]
fn imp_run_layout_rates_overlap_and_branches() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let ref_dir = run_dir(&a);

    // The layout, and the per-layer rates (fc 20%, output 10% of the remaining per level).
    let mut expected = [235200usize, 30000, 1000];
    for level in 0..=2 {
        let dir = ref_dir.join(format!("level_{level}"));
        for f in [
            "config.toml",
            "mask.safetensors",
            "start.safetensors",
            "final.safetensors",
            "metrics.csv",
            "summary.json",
        ] {
            assert!(dir.join(f).exists(), "level {level}: missing {f}");
        }
        let summary = read_summary(&dir);
        let kept: Vec<usize> = summary["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["kept"].as_u64().unwrap() as usize)
            .collect();
        assert_eq!(kept, expected, "level {level}");
        for (k, r) in expected.iter_mut().zip([0.2, 0.2, 0.1]) {
            *k = (*k as f64 * (1.0 - r)).round() as usize;
        }
        let acc = summary["final_test_accuracy"].as_f64().unwrap();
        assert!(
            acc > 0.3,
            "level {level}: test accuracy {acc} not above chance (10 classes)"
        );
    }

    // The ticket's overlap with the planted teacher support, recomputed here from the saved
    // mask and a regenerated teacher (same seed).
    let (_, _, teacher) = lottery::data::teacher::TeacherParams {
        seed: 0,
        ..Default::default()
    }
    .generate()
    .unwrap();
    let mask_file =
        tch::Tensor::read_safetensors(ref_dir.join("level_2/mask.safetensors")).unwrap();
    let summary = read_summary(&ref_dir.join("level_2"));
    let reported: Vec<f64> = serde_json::from_value(summary["planted_overlap"].clone()).unwrap();
    for (g, name) in ["fc1.weight", "fc2.weight", "fc3.weight"]
        .iter()
        .enumerate()
    {
        let m = &mask_file.iter().find(|(n, _)| n == name).unwrap().1;
        let kept: Vec<u8> = Vec::<u8>::try_from(&m.flatten(0, -1)).unwrap();
        let range = teacher.mask.group_range(g);
        let both = range
            .clone()
            .zip(&kept)
            .filter(|(i, k)| **k == 1 && teacher.mask.contains(*i))
            .count();
        let expected = both as f64 / teacher.mask.group_count(g) as f64;
        assert!(
            (reported[g] - expected).abs() < 1e-12,
            "{name}: {} vs {expected}",
            reported[g]
        );
    }

    // The matched recovery metrics are recorded beside it (theory/recovery.md (a)); their
    // positional overlap is the same quantity computed through the other code path.
    let rec = &summary["recovery"];
    let layers = rec["layers"]
        .as_array()
        .expect("a recovery report on the teacher");
    assert_eq!(layers.len(), 3);
    for (g, l) in layers.iter().enumerate() {
        let pos = l["positional"].as_f64().unwrap();
        assert!(
            (pos - reported[g]).abs() < 1e-12,
            "layer {g}: {pos} vs {}",
            reported[g]
        );
        for key in ["precision", "recall", "f1", "matched_correlation"] {
            let v = l[key].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "layer {g}: {key} = {v}");
        }
    }
    for key in ["matched_f1", "identifiable_f1", "feature_f1"] {
        let v = rec[key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
    }

    // Branches of level 2: same per-layer counts; random-prune moves the mask, random-reinit
    // keeps it and changes the start weights.
    let load = load_sorted;
    let level2 = ref_dir.join("level_2");
    for kind in ["random-reinit", "random-prune", "scratch"] {
        let out = Command::new(env!("CARGO_BIN_EXE_lottery"))
            .args(["branch", kind, "--level", "2", "--device", "cpu", "--run"])
            .arg(&ref_dir)
            .output()
            .unwrap();
        let dir = printed_dir(out);
        assert_eq!(dir, level2.join(format!("branch_{kind}")));
        let s = read_summary(&dir);
        let kept = kept(&s);
        assert_eq!(kept, vec![150528, 19200, 810], "{kind}");
        let same_mask = load(dir.join("mask.safetensors"))
            .iter()
            .zip(load(level2.join("mask.safetensors")))
            .all(|(a, b)| a.1.equal(&b.1));
        let same_start = load(dir.join("start.safetensors"))
            .iter()
            .zip(load(level2.join("start.safetensors")))
            .all(|(a, b)| a.1.equal(&b.1));
        match kind {
            "random-reinit" => assert!(same_mask && !same_start, "{kind}"),
            _ => assert!(!same_mask && !same_start, "{kind}"),
        }
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_lottery"))
        .args(["branch", "shuffle", "--run"])
        .arg(&ref_dir)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    // Kill-and-resume and the refusal of a second process: tests/suite/crash.rs.
}

#[test]
fn one_shot_pruning_meets_the_target_sparsity_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    for (strategy, expected) in [("layerwise", vec![23520u64, 3000, 100]), ("global", vec![])] {
        let out = Command::new(env!("CARGO_BIN_EXE_lottery"))
            .args([
                "imp",
                "--preset",
                "lenet300-lth",
                "--dataset",
                "teacher",
                "--levels",
                "1",
                "--iterations",
                "60",
            ])
            .args([
                "--set",
                "oneshot=0.9",
                "--strategy",
                strategy,
                "--device",
                "cpu",
                "--runs",
            ])
            .arg(tmp.path())
            .output()
            .unwrap();
        let dir = printed_dir(out);
        let s = read_summary(&dir.join("level_1"));
        let kept = kept(&s);
        if strategy == "layerwise" {
            assert_eq!(kept, expected);
        } else {
            assert_eq!(kept.iter().sum::<u64>(), (266_200f64 * 0.1).round() as u64);
        }
    }
}

/// A setting that can only be checked against the data (validation at most half the training
/// set) is refused when the data is loaded: one line, exit 2, nothing trained.
#[test]
fn a_validation_split_larger_than_half_the_data_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lottery"))
        .args(["imp", "--preset", "lenet300-lth", "--dataset", "teacher"])
        .args([
            "--levels",
            "0",
            "--iterations",
            "10",
            "--set",
            "validation=15000",
        ])
        .args(["--device", "cpu", "--runs"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("validation") && err.contains("more than half of the 20000"),
        "{err}"
    );
}

/// Renda et al.'s three ways to retrain after pruning (issue 11, defect 2). Under a constant
/// schedule learning-rate rewinding and fine-tuning are the same run (the final rate *is* the
/// rate), bit for bit; under a step schedule they differ, and fine-tuning trains at the
/// schedule's final rate: the default equals `finetune_lr` set to that rate explicitly, bit for
/// bit. Both retrain `retrain` iterations, starting at T − t.
#[test]
fn renda_retraining_lr_rewinding_and_finetuning() {
    let tmp = tempfile::tempdir().unwrap();
    let level1 = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "imp",
            "--preset",
            "lenet300-lth",
            "--dataset",
            "teacher",
            "--levels",
            "1",
            "--iterations",
            "400",
            "--set",
            "eval_every=100",
            "--set",
            "retrain=200",
        ];
        args.extend_from_slice(extra);
        let dir = runs::lottery_ok(&tmp.path().join(name), &args).join("level_1");
        let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
        let first: usize = metrics
            .lines()
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(first, 200, "{name}: the retraining starts at T - t");
        load_sorted(dir.join("final.safetensors"))
    };
    let same = |a: &[(String, tch::Tensor)], b: &[(String, tch::Tensor)]| {
        a.iter()
            .zip(b)
            .all(|((na, ta), (nb, tb))| na == nb && ta.equal(tb))
    };
    let lr = level1("lr", &["--rewind", "lr"]);
    let ft = level1("ft", &["--rewind", "finetune"]);
    assert!(
        same(&lr, &ft),
        "constant schedule: LR rewinding is fine-tuning"
    );

    let step = [
        "--set",
        "lr_drop_iterations=[100, 300]",
        "--set",
        "lr_gamma=0.1",
    ];
    let lr = level1("lr-step", &[&["--rewind", "lr"][..], &step].concat());
    let ft = level1("ft-step", &[&["--rewind", "finetune"][..], &step].concat());
    assert!(!same(&lr, &ft), "step schedule: they must differ");
    // The final rate: 1.2e-3 dropped twice by 0.1, computed as the schedule computes it.
    let last = format!("finetune_lr={}", 1.2e-3 * 0.1f64.powi(2));
    let explicit = level1(
        "ft-explicit",
        &[&["--rewind", "finetune", "--set", &last][..], &step].concat(),
    );
    assert!(
        same(&ft, &explicit),
        "fine-tuning uses the schedule's final rate"
    );
}
