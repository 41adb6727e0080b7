//! Sparse training from the start (RigL, SET) and AC/DC through the CLI and on tensors (CPU):
//! constant sparsity, the drop-and-grow rule on a network's gradients, AC/DC's schedule and
//! its phases' invariants (theory/acdc.md).
#![cfg(feature = "torch")]

use crate::runs;

use lottery::nn::params::Params;
use lottery::select::Mask;
use lottery::space::SparseVector;
use lottery::zoo::acdc::{schedule, Switch};
use lottery::zoo::dst::{drop_and_grow, Growth, Moves, UpdateSchedule};
use runs::{kept, lottery_ok, read_summary};
use tch::{Kind, Tensor};

const LENET: [u64; 3] = [235_200, 30_000, 1_000];

fn teacher_run(runs: &std::path::Path, method: &str, extra: &[&str]) -> std::path::PathBuf {
    let mut args = vec![
        "prune",
        method,
        "--preset",
        "lenet300-lth",
        "--dataset",
        "teacher",
        "--sparsity",
        "0.9",
        "--iterations",
        "200",
        "--set",
        "eval_every=100",
    ];
    args.extend_from_slice(extra);
    lottery_ok(runs, &args)
}

/// The weights kept at every mask update, as the drop-and-grow trace records them.
fn trace_kept(trace: &serde_json::Value) -> Vec<u64> {
    trace["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_u64().unwrap())
        .collect()
}

/// The default schedule is the paper's ResNet-20 / CIFAR-10 recipe: over 200 "epochs", prune at
/// 10, 50, 90, 130, 170 and decompress at 30, 70, 110, 150.
#[test]
fn acdc_default_schedule_is_the_cifar_recipe() {
    let s = schedule(200, 0.05, 0.1, 0.15);
    let at = |k: Switch| -> Vec<usize> { s.iter().filter(|x| x.1 == k).map(|x| x.0).collect() };
    assert_eq!(at(Switch::Compress), vec![10, 50, 90, 130, 170]);
    assert_eq!(at(Switch::Decompress), vec![30, 70, 110, 150]);
    // No warm-up, one long sparse phase: compress at 0, then the final top-k at 80%.
    let s = schedule(100, 0.0, 0.5, 0.2);
    assert_eq!(
        s,
        vec![
            (0, Switch::Compress),
            (50, Switch::Decompress),
            (80, Switch::Compress)
        ]
    );
}

/// Every sparse phase keeps its mask (no nonzero weight outside the mask chosen at its start, at
/// most the budget's count nonzero); every dense phase frees the weights (the mask is full and
/// more weights than the sparse budget are nonzero at its end); the final sparsity is exact; the
/// co-trained dense model is written and its accuracy recorded.
#[test]
fn acdc_masks_are_fixed_in_sparse_phases_and_free_in_dense_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = teacher_run(tmp.path(), "acdc", &["--strategy", "global"]);
    let s = read_summary(&dir);
    let pool: u64 = LENET.iter().sum();
    let budget = pool - (0.9 * pool as f64).round() as u64;
    assert_eq!(kept(&s).iter().sum::<u64>(), budget);
    let phases = s["trace"]["phases"].as_array().unwrap();
    // Warm-up, 4 sparse and 4 dense alternating phases, the final sparse phase.
    assert_eq!(phases.len(), 10, "{phases:?}");
    for (i, p) in phases.iter().enumerate() {
        let (kind, nonzero) = (p["kind"].as_str().unwrap(), p["nonzero"].as_u64().unwrap());
        assert_eq!(
            kind,
            if i % 2 == 0 { "dense" } else { "sparse" },
            "phase {i}"
        );
        if kind == "sparse" {
            assert_eq!(p["kept"].as_u64().unwrap(), budget, "phase {i}");
            assert_eq!(p["outside_mask"].as_u64().unwrap(), 0, "phase {i}: {p}");
            assert!(nonzero <= budget, "phase {i}: {p}");
        } else {
            assert_eq!(p["kept"].as_u64().unwrap(), pool, "phase {i}");
            assert!(nonzero > 2 * budget, "phase {i} stayed sparse: {p}");
        }
    }
    let dense = &s["trace"]["dense_model"];
    assert_eq!(dense["iteration"].as_u64().unwrap(), 170);
    assert!(dense["density"].as_f64().unwrap() > 0.2, "{dense}");
    let acc = dense["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.0 && acc <= 1.0, "{dense}");
    assert!(dir.join("dense.safetensors").exists());
}

/// RigL and SET keep the layers' counts at every mask update (ERK's allocation from the first
/// step), update on the cosine-decayed schedule, and differ only in what they grow.
#[test]
fn rigl_and_set_keep_the_sparsity_constant_at_every_update() {
    let tmp = tempfile::tempdir().unwrap();
    let common = ["--strategy", "erk", "--set", "dst_every=10"];
    let shapes = vec![vec![300, 784], vec![100, 300], vec![10, 100]];
    let rho = lottery::select::erk_densities(&shapes, &[true; 3], 0.1).unwrap();
    let erk: Vec<u64> = rho
        .iter()
        .zip(LENET)
        .map(|(r, n)| (r * n as f64).round() as u64)
        .collect();
    let sched = UpdateSchedule {
        every: 10,
        fraction: 0.3,
        end: 150,
    };
    let mut finals = vec![];
    for method in ["rigl", "set"] {
        let dir = teacher_run(tmp.path(), method, &common);
        let s = read_summary(&dir);
        assert_eq!(kept(&s), erk, "{method}");
        let t = &s["trace"];
        let updates: Vec<f64> = (0..200).filter_map(|i| sched.fraction_at(i)).collect();
        assert_eq!(t["updates"].as_u64().unwrap() as usize, updates.len());
        for (a, b) in t["fractions"].as_array().unwrap().iter().zip(&updates) {
            assert!((a.as_f64().unwrap() - b).abs() < 1e-12);
        }
        let total: u64 = erk.iter().sum();
        for k in trace_kept(t) {
            assert_eq!(k, total, "{method}: the sparsity moved");
        }
        assert!(t["grown"].as_u64().unwrap() > 0, "{method}: nothing grown");
        finals.push(runs::mask_bits(dir.join("mask.safetensors")));
    }
    assert_ne!(finals[0], finals[1], "RigL and SET grew the same weights");
}

/// RigL's grown weights are exactly the pruned coordinates of largest dense-gradient magnitude
/// (after the drop of the smallest magnitudes), and they start at zero; the dropped weights are
/// zeroed and every tensor keeps its count.
#[test]
fn rigl_grows_the_largest_dense_gradients_at_zero() {
    tch::manual_seed(7);
    let w: Vec<Tensor> = [[12i64, 9], [4, 12]]
        .iter()
        .map(|s| Tensor::randn(*s, (Kind::Float, tch::Device::Cpu)).set_requires_grad(true))
        .collect();
    let c: Vec<Tensor> = w.iter().map(Tensor::randn_like).collect();
    let mut x = Params::new(vec!["a".into(), "b".into()], w);
    let sizes = x.group_sizes();
    // Keep every other coordinate; the others are pruned (zero).
    let mut mask = Mask::empty(&sizes);
    for i in (0..mask.len()).step_by(2) {
        mask.insert(i);
    }
    x.apply_mask(&mask);
    let loss = x
        .tensors
        .iter()
        .zip(&c)
        .map(|(a, b)| (a * b).sum(Kind::Float))
        .fold(
            Tensor::zeros([], (Kind::Float, tch::Device::Cpu)),
            |s, v| s + v,
        );
    loss.backward();
    let before = x.to_scores();
    let grad = x.gradients().to_scores();
    let counts = [7, 3];
    let e = drop_and_grow(&mut x, &mask, &counts, Growth::Gradient, 1, &Moves::Weights).unwrap();
    let after = x.to_scores();
    for g in 0..sizes.len() {
        assert_eq!(e.mask.group_count(g), mask.group_count(g));
        let range = mask.group_range(g);
        let mut members: Vec<usize> = range.clone().filter(|&i| mask.contains(i)).collect();
        members.sort_by(|&a, &b| {
            let v = before.values();
            v[b].abs().total_cmp(&v[a].abs()).then(a.cmp(&b))
        });
        let kept_after_drop = &members[..members.len() - counts[g]];
        let mut pruned: Vec<usize> = range.filter(|i| !kept_after_drop.contains(i)).collect();
        pruned.sort_by(|&a, &b| {
            let v = grad.values();
            v[b].abs().total_cmp(&v[a].abs()).then(a.cmp(&b))
        });
        let mut grown = pruned[..counts[g]].to_vec();
        grown.sort_unstable();
        let new: Vec<usize> = e
            .mask
            .group_range(g)
            .filter(|&i| e.mask.contains(i) && !kept_after_drop.contains(&i))
            .collect();
        assert_eq!(new, grown, "group {g}");
    }
    for &i in &e.grown {
        assert_eq!(
            after.values()[i],
            0.0,
            "a grown weight did not start at zero"
        );
    }
    for i in 0..after.len() {
        assert!(e.mask.contains(i) || after.values()[i] == 0.0);
    }
}

/// RigL with `budget = "block:4x4"`: whole tiles from the first mask to the last, the same
/// number of tiles per layer, the sparsity constant at every update (the output layer, whose 10
/// rows would leave smaller edge tiles, is left unpruned here: tiles of unequal size keep the
/// tile count, not the weight count).
#[test]
fn rigl_with_blocks_moves_whole_tiles() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = teacher_run(
        tmp.path(),
        "rigl",
        &[
            "--strategy",
            "layerwise",
            "--set",
            "dst_every=10",
            "--set",
            "budget=block:4x4",
            "--set",
            "prune_output=false",
        ],
    );
    let s = read_summary(&dir);
    let masks = runs::mask_bits(dir.join("mask.safetensors"));
    let shapes = [(300usize, 784usize), (100, 300), (10, 100)];
    for ((name, bits), &(r, c)) in masks.iter().zip(&shapes).take(2) {
        let tiles = lottery::select::Tile::Block { h: 4, w: 4 }.members(r, c);
        for t in &tiles {
            assert!(
                t.iter().all(|&i| bits[i] == bits[t[0]]),
                "{name}: a broken tile"
            );
        }
        let kept = tiles.iter().filter(|t| bits[t[0]] == 1).count();
        let want = (((1.0 - 0.9) * tiles.len() as f64).round() as usize).max(1);
        assert_eq!(kept, want, "{name}");
    }
    let ones = masks[2].1.iter().filter(|&&b| b == 1).count();
    assert_eq!(ones, 1000, "{}: the output layer was pruned", masks[2].0);
    let t = &s["trace"];
    assert!(t["grown"].as_u64().unwrap() > 0);
    let kept = trace_kept(t);
    assert!(kept.windows(2).all(|w| w[0] == w[1]), "{kept:?}");
}

/// RigL and SET under a 2:4 budget: the mask is 2:4 from the first step to the last, the
/// sparsity constant at every update, and weights do move.
#[test]
fn rigl_and_set_keep_two_of_four() {
    let tmp = tempfile::tempdir().unwrap();
    for method in ["rigl", "set"] {
        let mut args = vec![
            "prune",
            method,
            "--preset",
            "lenet300-lth",
            "--dataset",
            "teacher",
            "--iterations",
            "200",
            "--set",
            "eval_every=100",
            "--set",
            "dst_every=10",
            "--set",
            "budget=2:4",
        ];
        args.extend(["--strategy", "layerwise"]);
        let dir = lottery_ok(tmp.path(), &args);
        for (name, bits) in runs::mask_bits(dir.join("mask.safetensors")) {
            assert!(
                bits.chunks(4)
                    .all(|r| r.iter().filter(|&&b| b == 1).count() == 2),
                "{method}: {name} is not 2:4"
            );
        }
        let t = &read_summary(&dir)["trace"];
        assert!(t["grown"].as_u64().unwrap() > 0, "{method}: nothing moved");
        let kept = trace_kept(t);
        assert!(kept.iter().all(|&k| k == 133_100), "{method}: {kept:?}");
    }
}

/// RigL and SET under a channel budget: whole units move (a row and the next layer's inputs
/// from it), the layers keep their unit counts, the classes stay, and the mask is always rows
/// alive × inputs from units alive.
#[test]
fn rigl_and_set_move_whole_units() {
    let tmp = tempfile::tempdir().unwrap();
    for method in ["rigl", "set"] {
        let dir = teacher_run(
            tmp.path(),
            method,
            &[
                "--strategy",
                "layerwise",
                "--set",
                "dst_every=10",
                "--set",
                "budget=channel",
            ],
        );
        let masks = runs::mask_bits(dir.join("mask.safetensors"));
        let alive = |g: usize, cols: usize| -> Vec<bool> {
            masks[g].1.chunks(cols).map(|r| r.contains(&1)).collect()
        };
        let (a1, a2, a3) = (alive(0, 784), alive(1, 300), alive(2, 100));
        assert_eq!(a1.iter().filter(|a| **a).count(), 30, "{method}");
        assert_eq!(a2.iter().filter(|a| **a).count(), 10, "{method}");
        assert!(a3.iter().all(|a| *a), "{method}: a class lost its unit");
        for (g, cols, rows_alive, feeding) in [(1, 300, &a2, &a1), (2, 100, &a3, &a2)] {
            for (r, row) in masks[g].1.chunks(cols).enumerate() {
                for (c, &f) in feeding.iter().enumerate() {
                    assert_eq!(
                        row[c] == 1,
                        rows_alive[r] && f,
                        "{method}: tensor {g} ({r}, {c})"
                    );
                }
            }
        }
        let t = &read_summary(&dir)["trace"];
        assert!(t["grown"].as_u64().unwrap() > 0, "{method}: no unit moved");
        let kept = trace_kept(t);
        assert!(kept.windows(2).all(|w| w[0] == w[1]), "{method}: {kept:?}");
    }
}
