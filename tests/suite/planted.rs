//! The narrow planted teacher as a dataset (issue 13): `--preset mlp-teacher` trains an MLP
//! student on its regression targets; the oracle ticket is the planted support embedded in a
//! wider student's first units; bad teacher settings are refused with one line. theory/recovery.md.
#![cfg(feature = "torch")]

use crate::runs::{kept, lottery_ok, lottery_out, mask_bits, read_summary};

use lottery::data::teacher::NarrowTeacherParams;

/// The oracle on a student twice the teacher's width keeps exactly the planted weights, in the
/// first 16 units, and the run records its recovery (hidden F1 over the pruned layer) and a
/// regression loss.
#[test]
fn the_oracle_keeps_the_planted_support_in_the_first_units() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = lottery_ok(
        tmp.path(),
        &[
            "prune",
            "oracle",
            "--preset",
            "mlp-teacher",
            "--sparsity",
            "0.98",
            "--iterations",
            "300",
            "--set",
            "hidden=[32]",
            "--set",
            "eval_every=100",
            "--seed",
            "3",
        ],
    );
    let s = read_summary(&dir);
    // fc1: 32 × 200 with 2% kept = 128 = 16 units × fan-in 8; the output layer is not pruned.
    assert_eq!(kept(&s), vec![128, 320]);
    assert_eq!(s["trace"]["planted"].as_u64(), Some(288));
    assert_eq!(s["trace"]["planted_kept"].as_u64(), Some(288));
    let teacher = NarrowTeacherParams {
        seed: 3,
        ..Default::default()
    }
    .generate()
    .unwrap();
    let bits = mask_bits(dir.join("mask.safetensors"));
    let fc1 = &bits.iter().find(|(n, _)| n == "fc1.weight").unwrap().1;
    for u in 0..32 {
        for i in 0..200 {
            let planted = u < 16 && teacher.weights[0][[u, i]] != 0.0;
            assert_eq!(fc1[u * 200 + i] == 1, planted, "unit {u}, input {i}");
        }
    }
    let rec = &s["recovery"];
    let (hidden, feature) = (
        rec["hidden_f1"].as_f64().unwrap(),
        rec["feature_f1"].as_f64().unwrap(),
    );
    assert_eq!(feature, 1.0, "the oracle reads exactly the relevant inputs");
    assert!((0.0..=1.0).contains(&hidden), "{rec}");
    // Regression: the test loss is a squared error, far below the targets' variance after
    // training (the teacher's outputs have variance ≈ 9 here).
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let rows: Vec<Vec<&str>> = metrics
        .lines()
        .filter(|l| l.contains(",test,"))
        .map(|l| l.split(',').collect())
        .collect();
    let first: f64 = rows[0][2].parse().unwrap();
    let last: f64 = rows.last().unwrap()[2].parse().unwrap();
    assert!(
        first > 4.0 && last < 0.5 * first,
        "test loss {first} → {last}"
    );
}

/// Refused with a one-line error and a non-zero exit: a student narrower than the teacher for
/// the oracle, negative noise, regression on the wide teacher, online samples without a fixed
/// iteration count, an empty hidden list.
#[test]
fn bad_teacher_settings_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let base = ["prune", "oracle", "--preset", "mlp-teacher"];
    let online = [
        "--set",
        "teacher_online=true",
        "--set",
        "epochs=1",
        "--iterations",
        "0",
        "--sparsity",
        "0.9",
    ];
    let out = lottery_out(
        tmp.path(),
        &base.iter().chain(&online).copied().collect::<Vec<_>>(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("teacher_online"),
        "{err}"
    );
    for (extra, needle) in [
        (vec!["--set", "hidden=[8]"], "narrower"),
        (vec!["--set", "teacher_noise=-1"], "teacher_noise"),
        (vec!["--set", "teacher=wide"], "narrow"),
        (vec!["--set", "hidden=[]"], "hidden"),
        (vec!["--set", "teacher_targets=logits"], "teacher_targets"),
    ] {
        let tail = ["--sparsity", "0.9", "--iterations", "50"];
        let args: Vec<&str> = base.iter().chain(&extra).chain(&tail).copied().collect();
        let out = lottery_out(tmp.path(), &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra:?} was accepted");
        assert!(err.contains(needle), "{extra:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{extra:?}: {err}");
    }
}

/// Online samples: every step sees fresh ones — the training set holds iterations × batch
/// samples after the validation split, so one epoch is the whole run; targets are real-valued
/// rows, one per sample.
#[test]
fn online_teacher_samples_cover_every_step() {
    use lottery::nn::data::load_data;
    use lottery::run::RunConfig;
    let mut cfg = RunConfig::preset("mlp-teacher").unwrap();
    cfg.set("iterations", "40").unwrap();
    cfg.set("teacher_online", "true").unwrap();
    let data = load_data(&cfg, None, tch::Device::Cpu).unwrap();
    assert_eq!(data.train_len(), 40 * cfg.batch);
    assert_eq!(data.train.1.size(), vec![4000, 10]);
    assert_eq!(data.val.1.size(), vec![cfg.validation as i64, 10]);
    cfg.set("teacher_online", "false").unwrap();
    cfg.set("teacher_samples", "700").unwrap();
    assert_eq!(
        load_data(&cfg, None, tch::Device::Cpu).unwrap().train_len(),
        500
    );
}

/// The loss follows the targets: cross-entropy on labels, mean squared error on real-valued
/// rows, and a prediction is correct when its argmax is the target row's.
#[test]
fn the_loss_is_squared_error_on_real_valued_targets() {
    use lottery::nn::models::{loss_of, regression};
    use tch::{Kind, Tensor};
    let logits = Tensor::from_slice(&[1.0f32, 2.0, 0.0, 3.0]).view([2, 2]);
    let targets = Tensor::from_slice(&[0.0f32, 2.0, 1.0, 1.0]).view([2, 2]);
    assert!(regression(&targets));
    let mse = loss_of(&logits, &targets).double_value(&[]);
    assert!((mse - (1.0 + 0.0 + 1.0 + 4.0) / 4.0).abs() < 1e-9, "{mse}");
    let labels = Tensor::from_slice(&[1i64, 0]);
    assert!(!regression(&labels));
    let ce = loss_of(&logits, &labels).double_value(&[]);
    let expected = logits
        .log_softmax(-1, Kind::Float)
        .gather(1, &labels.view([2, 1]), false)
        .mean(Kind::Float)
        .double_value(&[]);
    assert!((ce + expected).abs() < 1e-6);
}

/// The group-lasso prox is block soft-thresholding: a column of norm below the threshold is
/// zeroed, every other one shrinks by exactly the threshold in norm, keeping its direction.
#[test]
fn the_group_prox_soft_thresholds_whole_columns() {
    use lottery::zoo::group::prox_columns;
    use tch::{Kind, Tensor};
    // Columns (3, 4) of norm 5, (0.3, 0.4) of norm 0.5, (0, 2) of norm 2.
    let w = Tensor::from_slice(&[3.0f32, 0.3, 0.0, 4.0, 0.4, 2.0]).view([2, 3]);
    let live = prox_columns(&w, 1.0);
    assert_eq!(live, 2);
    let got = Vec::<f32>::try_from(&w.flatten(0, -1).to_kind(Kind::Float)).unwrap();
    let want = [2.4f32, 0.0, 0.0, 3.2, 0.0, 1.0];
    for (g, e) in got.iter().zip(want) {
        assert!((g - e).abs() < 1e-6, "{got:?}");
    }
}

/// `group-lasso` end to end: the ticket keeps exactly the budget, and a strong penalty removes
/// whole input columns before the hard threshold (the trace's live columns fall below 200).
#[test]
fn group_lasso_removes_input_columns_and_meets_the_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = lottery_ok(
        tmp.path(),
        &[
            "prune",
            "group-lasso",
            "--preset",
            "mlp-teacher",
            "--sparsity",
            "0.96",
            "--iterations",
            "300",
            "--set",
            "group_lambda=1.0",
            "--set",
            "eval_every=100",
        ],
    );
    let s = read_summary(&dir);
    assert_eq!(kept(&s), vec![128, 160]);
    let live = s["trace"]["live_columns"].as_array().unwrap();
    let last = live.last().unwrap()[1].as_i64().unwrap();
    assert_eq!(live[0][0].as_u64(), Some(0));
    assert!(last < 200, "{live:?}");
    assert_eq!(s["trace"]["thresholded"], true);
}

/// Spacing the checkpoints (`LOTTERY_CHECKPOINT_ITERATIONS`) changes no result: the final
/// weights are byte for byte those of a run that checkpoints every epoch (10 iterations here);
/// a malformed value is refused with one line.
#[test]
fn checkpoint_spacing_changes_no_result() {
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "prune",
        "gradual",
        "--preset",
        "mlp-teacher",
        "--sparsity",
        "0.96",
        "--iterations",
        "200",
        "--set",
        "teacher_samples=1200",
        "--set",
        "eval_every=50",
        "--device",
        "cpu",
        "--runs",
    ];
    let run = |runs: &std::path::Path, spacing: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_lottery"));
        c.args(args).arg(runs);
        if let Some(s) = spacing {
            c.env("LOTTERY_CHECKPOINT_ITERATIONS", s);
        }
        c.output().unwrap()
    };
    let dirs: Vec<std::path::PathBuf> = [None, Some("75")]
        .iter()
        .enumerate()
        .map(|(i, s)| crate::runs::printed_dir(run(&tmp.path().join(i.to_string()), *s)))
        .collect();
    let bytes = |d: &std::path::Path| std::fs::read(d.join("final.safetensors")).unwrap();
    assert_eq!(bytes(&dirs[0]), bytes(&dirs[1]));
    let out = run(&tmp.path().join("bad"), Some("often"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("LOTTERY_CHECKPOINT_ITERATIONS"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
