//! Layerwise OMP: our Batch-OMP over all rows of a layer against scikit-learn's
//! `orthogonal_mp_gram` given the same Gram matrix and every row's target at once, in one run;
//! and OBS on a layer (issue 12's performance targets).
//!
//! `cargo bench --bench layer_omp_vs_sklearn` (uses `.venv-bench/`, created by the
//! `omp_vs_sklearn` bench or here on first use; the OBS reference `scripts/obs_torch.py` runs
//! with `.venv-torch/`'s PyTorch when it exists). Two layers:
//! - **LeNet fc1**: $H = X^\top X/n + \lambda I$ of 1000 Fashion-MNIST training images (784
//!   pixels; 1% damping), 300 rows, $k = 78$ (90% sparsity);
//! - **VGG-sized**: 4608 inputs (ReLU features of correlated Gaussians, 6000 samples), 512 rows,
//!   $k = 230$ (95%).
//!
//! Rows are random Gaussian (the time does not depend on them; supports are compared row by
//! row). Prints best-of-R times, the ratio scikit-learn / ours (target ≥ 3), and how many rows'
//! supports are identical. `--repeats R` (default 3), `--skip-vgg`.

mod common;

use std::path::Path;
use std::process::Command;

use common::{arg, ensure_venv, json_of};
use std::time::Instant;

use lottery::problem::{Damping, LayerGram};
use lottery::solver::layer::{prune_layer, LayerBudget, LayerSolver};
use ndarray::Array2;
use rand::{Rng, SeedableRng};

const SCRIPT: &str = r#"
import json, sys, time
import numpy as np
from sklearn.linear_model import orthogonal_mp_gram
from threadpoolctl import threadpool_info
G = np.load(sys.argv[1]); Xy = np.load(sys.argv[2]); k = int(sys.argv[3]); reps = int(sys.argv[4])
orthogonal_mp_gram(G[:50, :50].copy(), Xy[:50, :2].copy(), n_nonzero_coefs=5)  # warm up
times = []
for _ in range(reps):
    t = time.perf_counter()
    coef = orthogonal_mp_gram(G, Xy, n_nonzero_coefs=k, copy_Gram=True, copy_Xy=True)
    times.append(time.perf_counter() - t)
supports = [[int(i) for i in np.flatnonzero(coef[:, r])] for r in range(coef.shape[1])]
info = [{k2: d.get(k2) for k2 in ("internal_api", "version", "num_threads")} for d in threadpool_info()]
print(json.dumps({"seconds": min(times), "supports": supports, "blas": info}))
"#;

/// Rows of `weights` whose nonzero pattern is `supports[r]`.
fn identical_rows(weights: &Array2<f64>, supports: &[Vec<usize>]) -> usize {
    (0..weights.nrows())
        .filter(|&r| {
            let s: Vec<usize> = (0..weights.ncols())
                .filter(|&q| weights[[r, q]] != 0.0)
                .collect();
            s == supports[r]
        })
        .count()
}

/// Time both sides on one layer and print the comparison.
fn compare(py: &Path, name: &str, gram: &LayerGram, w: &Array2<f64>, k: usize, reps: usize) {
    let dir = tempfile::tempdir().unwrap();
    // scikit-learn gets the same damped H and Xy = H w̄ᵀ (d × rows), as OMP in Gram form needs.
    // Dead inputs (zero on every calibration sample) carry no weight in the problem: zero
    // them for both sides.
    let mut w = w.clone();
    for &q in gram.dead() {
        w.column_mut(q).fill(0.0);
    }
    let w = &w;
    let h = gram.h();
    let xy = h.dot(&w.t());
    lottery::io::write_matrix(&dir.path().join("G.npy"), h).unwrap();
    lottery::io::write_matrix(
        &dir.path().join("Xy.npy"),
        &xy.as_standard_layout().to_owned(),
    )
    .unwrap();
    let script = dir.path().join("omp_gram.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let (mut sk_time, mut ours_time) = (f64::INFINITY, f64::INFINITY);
    let mut sk = serde_json::Value::Null;
    let mut ours = None;
    let _ = prune_layer(gram, w.view(), LayerSolver::Omp, LayerBudget::Row(k)).unwrap();
    for _ in 0..reps {
        let v: serde_json::Value = json_of(
            Command::new(py)
                .arg(&script)
                .arg(dir.path().join("G.npy"))
                .arg(dir.path().join("Xy.npy"))
                .arg(k.to_string())
                .arg("1")
                .env_remove("OPENBLAS_CORETYPE")
                .env_remove("OPENBLAS_L2_SIZE"),
        );
        sk_time = sk_time.min(v["seconds"].as_f64().unwrap());
        sk = v;
        let t = Instant::now();
        let o = prune_layer(gram, w.view(), LayerSolver::Omp, LayerBudget::Row(k)).unwrap();
        ours_time = ours_time.min(t.elapsed().as_secs_f64());
        ours = Some(o);
    }
    let ours = ours.unwrap();
    let sk_supports: Vec<Vec<usize>> = serde_json::from_value(sk["supports"].clone()).unwrap();
    let same = identical_rows(&ours.weights, &sk_supports);
    println!(
        "{name}: d = {}, rows = {}, k = {k}, best of {reps}",
        w.ncols(),
        w.nrows()
    );
    println!(
        "  scikit-learn orthogonal_mp_gram: {sk_time:.3} s  (BLAS {})",
        sk["blas"]
    );
    println!("  lottery Batch-OMP (rayon rows):  {ours_time:.3} s");
    println!(
        "  ratio scikit-learn / ours: {:.2}   identical supports: {same} of {} rows",
        sk_time / ours_time,
        w.nrows()
    );
}

/// Our OBS on the layer against `scripts/obs_torch.py` (all rows batched, PyTorch on CPU, 2
/// threads, float64) on the same damped H and the same rows; skipped without `.venv-torch`.
fn obs_against_torch(root: &Path, gram: &LayerGram, w: &Array2<f64>, k: usize) {
    let mut w = w.clone();
    for &q in gram.dead() {
        w.column_mut(q).fill(0.0);
    }
    let t = Instant::now();
    let ours = prune_layer(gram, w.view(), LayerSolver::Obs, LayerBudget::Row(k)).unwrap();
    let ours_time = t.elapsed().as_secs_f64();
    println!("  lottery OBS (rayon rows):        {ours_time:.3} s");
    let py = root.join(".venv-torch/bin/python");
    if !py.exists() {
        println!(
            "  (no .venv-torch: run scripts/with-torch true once for the PyTorch OBS reference)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    lottery::io::write_matrix(&dir.path().join("H.npy"), gram.h()).unwrap();
    lottery::io::write_matrix(&dir.path().join("W.npy"), &w).unwrap();
    let v: serde_json::Value = json_of(
        Command::new(&py)
            .arg(root.join("scripts/obs_torch.py"))
            .arg(dir.path().join("H.npy"))
            .arg(dir.path().join("W.npy"))
            .arg(k.to_string())
            .arg("2"),
    );
    let torch_time = v["seconds"].as_f64().unwrap();
    let supports: Vec<Vec<usize>> = serde_json::from_value(v["supports"].clone()).unwrap();
    let same = identical_rows(&ours.weights, &supports);
    println!(
        "  PyTorch OBS (torch {}, 2 threads): {torch_time:.3} s",
        v["torch"]
    );
    println!(
        "  ratio PyTorch / ours: {:.2}   identical masks: {same} of {} rows",
        torch_time / ours_time,
        w.nrows()
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let reps = arg("--repeats", 3).max(1);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let py = ensure_venv(root);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);

    // LeNet fc1 on Fashion-MNIST pixels.
    let train = lottery::data::load_mnist(
        Path::new(lottery::data::FASHION_MNIST_DIR),
        lottery::data::Split::Train,
    )
    .expect("Fashion-MNIST (Debian's dataset-fashion-mnist; bash .ci/setup)");
    let n = 1000;
    let x = Array2::from_shape_fn((n, 784), |(i, j)| f64::from(train.sample(i)[j]));
    let gram = LayerGram::from_inputs(x.view(), Damping::Relative(0.01)).unwrap();
    let w = Array2::from_shape_fn((300, 784), |_| {
        rng.sample::<f64, _>(rand_distr::StandardNormal)
    });
    compare(&py, "LeNet fc1", &gram, &w, 78, reps);
    obs_against_torch(root, &gram, &w, 78);

    if std::env::args().any(|a| a == "--skip-vgg") {
        return;
    }
    // A VGG-16-sized layer: 3×3×512 inputs, 512 filters.
    let (n, d) = (6000, 4608);
    let z = Array2::from_shape_fn((n, 256), |_| {
        rng.sample::<f64, _>(rand_distr::StandardNormal)
    });
    let mix = Array2::from_shape_fn((256, d), |_| {
        rng.sample::<f64, _>(rand_distr::StandardNormal) / 16.0
    });
    let noise = Array2::from_shape_fn((n, d), |_| {
        0.3 * rng.sample::<f64, _>(rand_distr::StandardNormal)
    });
    let x = (z.dot(&mix) + noise).mapv(|v| v.max(0.0));
    let gram = LayerGram::from_inputs(x.view(), Damping::Relative(0.01)).unwrap();
    let w = Array2::from_shape_fn((512, d), |_| {
        rng.sample::<f64, _>(rand_distr::StandardNormal)
    });
    compare(&py, "VGG-sized", &gram, &w, 230, reps);
}
