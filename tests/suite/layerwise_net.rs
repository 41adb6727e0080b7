//! `lottery prune layerwise` on a trained LeNet-300-100 (Fashion-MNIST, CPU): every solver meets
//! its budget exactly, OMP / HTP / OBS reconstruct every layer with no more error than magnitude
//! pruning, fine-tuning keeps the mask, a rerun is a no-op, HTP on the Fisher objective beats
//! magnitude on it, bad input is one line; and the
//! layer inputs of a convolution are its im2col patches in `weight.flatten(1)` order.
#![cfg(feature = "torch")]

use crate::runs;

use runs::{lottery_ok, lottery_out, mask_bits, read_summary};

/// A LeNet-300-100 trained 200 iterations under `runs`: the source every test here prunes.
fn trained_lenet(runs: &std::path::Path) -> std::path::PathBuf {
    lottery_ok(
        runs,
        &[
            "train",
            "--preset",
            "lenet300-lth",
            "--iterations",
            "200",
            "--set",
            "eval_every=100",
        ],
    )
}

#[test]
fn layerwise_pruning_of_a_trained_lenet() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let run = trained_lenet(&runs);
    let run_s = run.to_str().unwrap();
    // `prune layerwise` of the run at 95%, 256 calibration images, with `extra` flags.
    let layerwise = |extra: &[&str]| {
        let mut args = vec![
            "prune",
            "layerwise",
            "--from",
            run_s,
            "--sparsity",
            "0.95",
            "--calibration",
            "256",
        ];
        args.extend_from_slice(extra);
        lottery_ok(&runs, &args)
    };
    // 95% of every layer removed, the same count in every row: round(0.05 · inputs) per row.
    let exact = [300 * 39, 100 * 15, 10 * 5];
    let (mut obs_dir, mut omp_dir) = (None, None);
    for solver in [
        "magnitude",
        "omp",
        "fcfgs",
        "iht",
        "niht",
        "htp",
        "cosamp",
        "fw",
        "obs",
        "sparsegpt",
    ] {
        let dir = layerwise(&["--solver", solver]);
        let s = read_summary(&dir);
        assert_eq!(s["method"], "layerwise");
        let layers = s["trace"]["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 3, "{solver}: fc1, fc2, fc3 are pooled");
        for (l, want) in layers.iter().zip(exact) {
            assert_eq!(l["kept"].as_u64().unwrap(), want, "{solver}: {}", l["name"]);
            let (e, m) = (
                l["relative_error"].as_f64().unwrap(),
                l["magnitude_relative_error"].as_f64().unwrap(),
            );
            assert!(
                e.is_finite() && (0.0..=1.5).contains(&e),
                "{solver}: error {e}"
            );
            if ["omp", "htp", "obs"].contains(&solver) {
                assert!(e <= m, "{solver} {}: {e} > magnitude {m}", l["name"]);
            }
        }
        // The mask file says what the weights say.
        let masks = mask_bits(dir.join("mask.safetensors"));
        let kept: u64 = masks
            .iter()
            .map(|(_, m)| m.iter().map(|&b| b as u64).sum::<u64>())
            .sum();
        assert_eq!(kept, exact.iter().sum::<u64>(), "{solver}: mask");
        let acc = s["trace"]["pruned_test_accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc));
        match solver {
            "obs" => obs_dir = Some(dir),
            "omp" => omp_dir = Some(dir),
            _ => {}
        }
    }
    // Fine-tuning with the mask fixed: the same mask as without, training rows in metrics.csv.
    let tuned = layerwise(&["--solver", "omp", "--finetune", "50"]);
    let (obs_dir, omp_dir) = (obs_dir.unwrap(), omp_dir.unwrap());
    assert_ne!(tuned, omp_dir);
    assert_eq!(
        mask_bits(tuned.join("mask.safetensors")),
        mask_bits(omp_dir.join("mask.safetensors"))
    );
    let metrics = std::fs::read_to_string(tuned.join("metrics.csv")).unwrap();
    assert!(metrics.lines().any(|l| l.starts_with("50,")), "{metrics}");
    // A rerun finds the finished directory and changes nothing.
    let before = std::fs::read(obs_dir.join("summary.json")).unwrap();
    let again = layerwise(&["--solver", "obs"]);
    assert_eq!(again, obs_dir);
    assert_eq!(std::fs::read(obs_dir.join("summary.json")).unwrap(), before);
    // The Fisher objective (each layer's empirical Fisher from the 256 calibration samples'
    // gradients, a layer budget): magnitude and HTP keep exactly 5% of every layer, and HTP's
    // Fisher error is never above magnitude's (theory/layerwise.md (c), (e)).
    let fisher = layerwise(&[
        "--objective",
        "fisher",
        "--budget",
        "layer",
        "--solver",
        "htp",
    ]);
    assert_ne!(fisher, omp_dir);
    let s = read_summary(&fisher);
    let layer_exact = [235_200 / 20, 30_000 / 20, 1_000 / 20];
    for (l, want) in s["trace"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(layer_exact)
    {
        assert_eq!(l["kept"].as_u64().unwrap(), want, "fisher: {}", l["name"]);
        let (e, m) = (
            l["relative_error"].as_f64().unwrap(),
            l["magnitude_relative_error"].as_f64().unwrap(),
        );
        assert!(
            e <= m && e > 0.0,
            "fisher {}: {e} vs magnitude {m}",
            l["name"]
        );
        assert!(l["coherence"].is_null());
    }
    // Bad input: one line on stderr, exit 2.
    for args in [
        vec![
            "prune",
            "layerwise",
            "--from",
            run_s,
            "--objective",
            "fisher",
            "--budget",
            "layer",
            "--solver",
            "omp",
        ],
        vec![
            "prune",
            "layerwise",
            "--from",
            run_s,
            "--objective",
            "fisher",
        ],
        vec![
            "prune",
            "layerwise",
            "--from",
            run_s,
            "--objective",
            "hessian",
        ],
        vec![
            "prune",
            "layerwise",
            "--from",
            "/nonexistent/run",
            "--solver",
            "obs",
        ],
        vec!["prune", "layerwise", "--from", run_s, "--solver", "lasso"],
        vec!["prune", "layerwise", "--from", run_s, "--budget", "3:7"],
        vec!["prune", "layerwise", "--from", run_s, "--sparsity", "1.5"],
        vec!["prune", "layerwise", "--solver", "obs"],
    ] {
        let out = lottery_out(&runs, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    }
}

/// A convolution's layer input times its flattened weight is its output (without bias): the
/// im2col patches are in `weight.flatten(1)` order, for every conv layer of Conv-2.
#[test]
fn conv_layer_inputs_are_im2col_patches_in_weight_order() {
    use lottery::nn::models::{Arch, Init, Network};
    use tch::{nn::VarStore, Device, Kind, Tensor};
    tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let net = Network::new(&vs, Arch::Conv2, [1, 28, 28], 10, Init::Kaiming).unwrap();
    let xs = Tensor::randn([3, 1, 28, 28], (Kind::Float, Device::Cpu));
    let vars = vs.variables();
    for (g, name) in net.prunable.iter().enumerate() {
        let w = &vars[name];
        if w.dim() != 4 {
            continue;
        }
        let x = net.layer_input(&xs, g, None).unwrap();
        let size = w.size();
        assert_eq!(x.size()[1], size[1] * size[2] * size[3], "{name}");
        let out = x.matmul(&w.flatten(1, -1).transpose(0, 1));
        if g == 0 {
            // The first layer's input is xs itself: compare with the convolution.
            let direct = xs.conv2d(w, None::<Tensor>, [1, 1], [1, 1], [1, 1], 1);
            // [B, O, H, W] → [B·H·W, O], the row order of the patches.
            let direct = direct.permute([0, 2, 3, 1]).reshape([-1, size[0]]);
            let diff = (&out - &direct).abs().max().double_value(&[]);
            assert!(diff < 1e-4, "{name}: {diff}");
        } else {
            // Later layers: one row per sample and output position (3 samples, 28×28 or 14×14
            // positions at stride 1 with padding 1).
            let rows = x.size()[0];
            assert!(
                rows == 3 * 28 * 28 || rows == 3 * 14 * 14,
                "{name}: {rows} rows"
            );
        }
    }
}

/// A `layerwise` sweep cell trains its source run once (shared by the cells) and reports the
/// pruned accuracy, the mean relative errors and the full compute in `results.csv`.
#[test]
fn layerwise_sweep_cells_share_their_source_run() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let file = tmp.path().join("one-shot-mini.toml");
    std::fs::write(
        &file,
        r#"
name = "one-shot-mini"

[[part]]
command = "layerwise"
[part.base]
preset = "lenet300-lth"
levels = 0
iterations = 100
eval_every = 50
calibration = 128
sparsity = 0.9
[part.grid]
solver = ["magnitude", "omp"]
"#,
    )
    .unwrap();
    let results = lottery_ok(&runs, &["sweep", file.to_str().unwrap(), "--jobs", "1"]);
    let mut r = csv::Reader::from_path(&results).unwrap();
    let headers = r.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), 2);
    let source =
        |row: &csv::StringRecord| row[col("run_dir")].split('/').next().unwrap().to_string();
    assert_eq!(
        source(&rows[0]),
        source(&rows[1]),
        "one source run for both cells"
    );
    let err = |row: &csv::StringRecord| row[col("relative_error")].parse::<f64>().unwrap();
    let (magnitude, omp) = if rows[0][col("run_dir")].contains("layerwise_magnitude") {
        (&rows[0], &rows[1])
    } else {
        (&rows[1], &rows[0])
    };
    assert!(err(omp) < err(magnitude));
    for row in &rows {
        assert_eq!(
            row[col("cumulative_iterations")].parse::<usize>().unwrap(),
            100
        );
        let acc: f64 = row[col("pruned_test_accuracy")].parse().unwrap();
        assert!((0.0..=1.0).contains(&acc));
    }
}

/// `--budget channel` (here as `--set budget=channel`): whole units removed from fc1 and fc2 (90%
/// of their rows), the classes kept, every input fed by a removed unit zero in the next layer,
/// each layer's reconstruction error at most that of keeping the largest rows without refit,
/// and the export physically smaller.
#[test]
fn layerwise_channel_budget_removes_units_and_refits_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let run = trained_lenet(&runs);
    let dir = lottery_ok(
        &runs,
        &[
            "prune",
            "layerwise",
            "--from",
            run.to_str().unwrap(),
            "--solver",
            "obs",
            "--sparsity",
            "0.9",
            "--calibration",
            "256",
            "--set",
            "budget=channel",
        ],
    );
    let s = read_summary(&dir);
    for l in s["trace"]["layers"].as_array().unwrap() {
        let (e, m) = (
            l["relative_error"].as_f64().unwrap(),
            l["magnitude_relative_error"].as_f64().unwrap(),
        );
        assert!(e <= m + 1e-9, "{}: {e} > {m}", l["name"]);
    }
    let w = runs::load_sorted(dir.join("final.safetensors"));
    let get = |n: &str| runs::values(&w.iter().find(|(k, _)| k == n).unwrap().1);
    let alive = |v: &[f64], cols: usize| -> Vec<bool> {
        v.chunks(cols)
            .map(|r| r.iter().any(|x| *x != 0.0))
            .collect()
    };
    let (w1, w2, w3) = (get("fc1.weight"), get("fc2.weight"), get("fc3.weight"));
    let (a1, a2, a3) = (alive(&w1, 784), alive(&w2, 300), alive(&w3, 100));
    assert_eq!(a1.iter().filter(|a| **a).count(), 30);
    assert!(a2.iter().filter(|a| **a).count() <= 10);
    assert!(a3.iter().all(|a| *a), "a class lost its unit");
    for (next, cols, feeding) in [(&w2, 300, &a1), (&w3, 100, &a2)] {
        for row in next.chunks(cols) {
            for (c, f) in feeding.iter().enumerate() {
                assert!(*f || row[c] == 0.0, "an input from a removed unit survived");
            }
        }
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lottery"))
        .args(["export", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let dense = runs::load_sorted(runs::printed_dir(out));
    let rows = |n: &str| dense.iter().find(|(k, _)| k == n).unwrap().1.size()[0];
    assert!(rows("fc1.weight") <= 30 && rows("fc2.weight") <= 10);
    assert_eq!(rows("fc3.weight"), 10);
}

/// `--budget block:4x4`: every layer's nonzero weights lie in at most round(0.1 · tiles) whole
/// 4×4 tiles (the kept tiles, refit; magnitude keeps them as they are).
#[test]
fn layerwise_block_budget_keeps_whole_tiles() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let run = trained_lenet(&runs);
    for solver in ["magnitude", "obs"] {
        let dir = lottery_ok(
            &runs,
            &[
                "prune",
                "layerwise",
                "--from",
                run.to_str().unwrap(),
                "--solver",
                solver,
                "--sparsity",
                "0.9",
                "--calibration",
                "256",
                "--budget",
                "block:4x4",
            ],
        );
        let w = runs::load_sorted(dir.join("final.safetensors"));
        for (name, rows, cols) in [
            ("fc1.weight", 300, 784),
            ("fc2.weight", 100, 300),
            ("fc3.weight", 10, 100),
        ] {
            let v = runs::values(&w.iter().find(|(k, _)| *k == name).unwrap().1);
            let tiles = lottery::select::Tile::Block { h: 4, w: 4 }.members(rows, cols);
            let used = tiles
                .iter()
                .filter(|t| t.iter().any(|&i| v[i] != 0.0))
                .count();
            let keep = ((0.1 * tiles.len() as f64).round() as usize).max(1);
            assert!(
                used <= keep && used > 0,
                "{solver} {name}: {used} tiles used, {keep} kept"
            );
            let in_tiles: usize = tiles
                .iter()
                .filter(|t| t.iter().any(|&i| v[i] != 0.0))
                .map(|t| t.len())
                .sum();
            assert!(v.iter().filter(|x| **x != 0.0).count() <= in_tiles);
        }
    }
}
