//! Structured budgets on networks through the CLI (CPU): `--set budget=N:M | block:HxW |
//! channel` for the methods that take them (IMP, gradual, AC/DC, pruning at initialization),
//! and one-line refusals for the rest.
#![cfg(feature = "torch")]

use crate::runs;

use runs::{load_sorted, lottery_ok, lottery_out, mask_bits, values};

/// LeNet-300-100's prunable tensors as (rows, cols), in name order.
const SHAPES: [(usize, usize); 3] = [(300, 784), (100, 300), (10, 100)];

fn run(runs: &std::path::Path, args: &[&str]) -> std::path::PathBuf {
    let mut all = args.to_vec();
    all.extend(["--preset", "lenet300-lth", "--dataset", "teacher"]);
    lottery_ok(runs, &all)
}

/// `lottery prune METHOD` of LeNet on the teacher: 60 iterations under `budget`.
pub(crate) fn prune(
    runs: &std::path::Path,
    method: &str,
    sparsity: &str,
    budget: &str,
) -> std::path::PathBuf {
    let b = format!("budget={budget}");
    run(
        runs,
        &[
            "prune",
            method,
            "--sparsity",
            sparsity,
            "--iterations",
            "60",
            "--set",
            "eval_every=30",
            "--set",
            &b,
            "--set",
            "pai_samples=64",
            "--set",
            "synflow_rounds=10",
        ],
    )
}

/// Exactly `n` of every `m` consecutive entries of every row.
fn is_n_of_m(bits: &[u8], n: usize, m: usize) -> bool {
    bits.chunks(m)
        .all(|run| run.iter().filter(|&&b| b == 1).count() == n)
}

#[test]
fn n_of_m_masks_keep_n_in_every_group_for_every_method_that_takes_them() {
    let tmp = tempfile::tempdir().unwrap();
    for method in [
        "gradual",
        "acdc",
        "snip",
        "magnitude-init",
        "random",
        "synflow",
    ] {
        let dir = prune(tmp.path(), method, "0.5", "2:4");
        for (name, bits) in mask_bits(dir.join("mask.safetensors")) {
            assert!(is_n_of_m(&bits, 2, 4), "{method}: {name} is not 2:4");
        }
    }
    // IMP's levels step N down to the target: 80% kept is 3:4, and the levels stop at N.
    let imp = run(
        tmp.path(),
        &[
            "imp",
            "--levels",
            "4",
            "--iterations",
            "40",
            "--set",
            "eval_every=20",
            "--set",
            "budget=2:4",
        ],
    );
    let level = |l: usize| mask_bits(imp.join(format!("level_{l}")).join("mask.safetensors"));
    for (name, bits) in level(1) {
        assert!(is_n_of_m(&bits, 3, 4), "level 1: {name}");
    }
    for (name, bits) in level(4) {
        assert!(is_n_of_m(&bits, 2, 4), "level 4: {name}");
    }
}

#[test]
fn block_masks_are_whole_tiles_and_channel_masks_whole_units_with_their_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = prune(tmp.path(), "gradual", "0.9", "block:4x4");
    let masks = mask_bits(dir.join("mask.safetensors"));
    for ((name, bits), &(rows, cols)) in masks.iter().zip(&SHAPES) {
        let tile = lottery::select::Tile::Block { h: 4, w: 4 };
        let tiles = tile.members(rows, cols);
        let kept = tiles.iter().filter(|t| bits[t[0]] == 1).count();
        for t in &tiles {
            assert!(
                t.iter().all(|&i| bits[i] == bits[t[0]]),
                "{name}: a broken tile"
            );
        }
        let want = (((1.0 - 0.9) * tiles.len() as f64).round() as usize).max(1);
        assert_eq!(kept, want, "{name}");
    }

    let dir = prune(tmp.path(), "gradual", "0.9", "channel");
    let masks = mask_bits(dir.join("mask.safetensors"));
    let alive = |g: usize| -> Vec<bool> {
        let (rows, cols) = SHAPES[g];
        (0..rows)
            .map(|r| masks[g].1[r * cols..(r + 1) * cols].contains(&1))
            .collect()
    };
    let (a1, a2, a3) = (alive(0), alive(1), alive(2));
    assert_eq!(a1.iter().filter(|&&a| a).count(), 30);
    assert_eq!(a2.iter().filter(|&&a| a).count(), 10);
    assert!(a3.iter().all(|&a| a), "a class lost its output unit");
    for g in 1..3 {
        let cols = SHAPES[g].1;
        let feeding = if g == 1 { &a1 } else { &a2 };
        for (r, &own) in alive(g).iter().enumerate() {
            for (c, &f) in feeding.iter().enumerate().take(cols) {
                let bit = masks[g].1[r * cols + c] == 1;
                assert_eq!(bit, own && f, "tensor {g} row {r} col {c}");
            }
        }
    }
    // The trained weights live on the mask.
    let fin = load_sorted(dir.join("final.safetensors"));
    for (name, bits) in &masks {
        let w = values(&fin.iter().find(|(n, _)| n == name).unwrap().1);
        assert!(
            w.iter().zip(bits).all(|(v, b)| *b == 1 || *v == 0.0),
            "{name}"
        );
    }
}

#[test]
fn structured_budgets_refuse_what_they_do_not_fit_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (
            vec![
                "prune",
                "gradual",
                "--sparsity",
                "0.8",
                "--set",
                "budget=2:4",
            ],
            "--sparsity 0.5",
        ),
        (
            vec![
                "prune",
                "supermask",
                "--sparsity",
                "0.9",
                "--set",
                "budget=channel",
            ],
            "not `supermask`",
        ),
        (
            vec![
                "prune",
                "gradual",
                "--sparsity",
                "0.5",
                "--set",
                "budget=3:2",
            ],
            "1 <= N <= M",
        ),
        (
            vec![
                "prune",
                "gradual",
                "--sparsity",
                "0.5",
                "--set",
                "budget=block:0x4",
            ],
            "block:HxW",
        ),
        (
            vec!["prune", "gradual", "--set", "budget=2:3"],
            "multiple of 3",
        ),
    ] {
        let mut all = args.clone();
        all.extend([
            "--preset",
            "lenet300-lth",
            "--dataset",
            "teacher",
            "--iterations",
            "10",
        ]);
        let out = lottery_out(tmp.path(), &all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // A layerwise run takes `--set budget=` as its budget and refuses any other `--set`.
    let out = lottery_out(
        tmp.path(),
        &[
            "prune",
            "layerwise",
            "--from",
            "no-such-run",
            "--set",
            "lr=0.1",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("accepts only budget"), "{err}");
    let out = lottery_out(
        tmp.path(),
        &[
            "prune",
            "gradual",
            "--preset",
            "resnet20-openlth",
            "--sparsity",
            "0.5",
            "--set",
            "budget=channel",
            "--iterations",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shortcuts"));
}
