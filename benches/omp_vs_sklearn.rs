//! OMP against scikit-learn's `orthogonal_mp` on one instance (n = 2000, d = 20000, k = 200),
//! in one run, plus the memory-floor references measured in the same process.
//!
//! `cargo bench --bench omp_vs_sklearn` (creates `.venv-bench/` with numpy and scikit-learn on
//! first use). Flags after `--`: `--n N --d D --k K --repeats R` for other sizes.
//!
//! Prints, best of R runs each:
//! - scikit-learn f64 (`precompute=False`, A handed over in Fortran order so that no copy is
//!   timed, numpy's own OpenBLAS with `OPENBLAS_CORETYPE`/`OPENBLAS_L2_SIZE` unset),
//! - our OMP with A in f64 and in f32, and whether each support equals scikit-learn's,
//! - k passes over A ($k$ products $A^\top r$, the floor for OMP) and 2 passes (the IHT floor),
//! - IHT time per iteration,
//! - the bandwidth (GB/s) of each side's pass $A^\top r$: numpy's BLAS (the pass inside
//!   scikit-learn's OMP), Debian's OpenBLAS behind ours, and a rayon column-dot kernel written
//!   here as a third reference, in f64 and f32 — so that the gap between the two OMPs can be
//!   read as a gap between their passes,
//!
//! and the ratios the targets speak of.

mod common;

use std::path::Path;
use std::process::Command;

use common::{arg, ensure_venv, json_of};
use std::time::Instant;

use lottery::problem::Design;
use lottery::problem::{LeastSquares, Magnitudes, PlantedParams, SmoothProblem};
use lottery::solver::greedy::{GreedyParams, Omp};
use lottery::solver::iht::{Iht, ThresholdParams};
use lottery::solver::solve_quiet;
use ndarray::{Array1, Array2};
use rayon::prelude::*;

/// $A^\top r$ for a column-major $A$ as independent contiguous dot products, split over rayon's
/// threads in blocks of columns, with eight accumulators per dot so that it vectorizes: the
/// simplest kernel that can run at the machine's read bandwidth, as a reference for BLAS's gemv.
fn column_dots<T>(a: &Array2<T>, r: &Array1<T>) -> Vec<T>
where
    T: Copy + Send + Sync + Default + std::ops::Add<Output = T> + std::ops::Mul<Output = T>,
{
    let n = a.nrows();
    let data = a.as_slice_memory_order().expect("contiguous");
    assert!(a.t().is_standard_layout(), "column-major");
    let r = r.as_slice().expect("contiguous");
    let mut out = vec![T::default(); a.ncols()];
    out.par_chunks_mut(64).enumerate().for_each(|(b, o)| {
        for (i, oj) in o.iter_mut().enumerate() {
            let j = b * 64 + i;
            let col = &data[j * n..(j + 1) * n];
            let mut acc = [T::default(); 8];
            let (cc, rc) = (col.chunks_exact(8), r.chunks_exact(8));
            let (tail_c, tail_r) = (cc.remainder(), rc.remainder());
            for (c8, r8) in cc.zip(rc) {
                for l in 0..8 {
                    acc[l] = acc[l] + c8[l] * r8[l];
                }
            }
            let mut s = acc.iter().fold(T::default(), |s, &v| s + v);
            for (&c, &v) in tail_c.iter().zip(tail_r) {
                s = s + c * v;
            }
            *oj = s;
        }
    });
    out
}

const SCRIPT: &str = r#"
import json, sys, time
import numpy as np
from sklearn.linear_model import orthogonal_mp
from threadpoolctl import threadpool_info
A = np.load(sys.argv[1]); y = np.load(sys.argv[2]); k = int(sys.argv[3]); reps = int(sys.argv[4])
A = np.asfortranarray(A)
orthogonal_mp(A[:50, :100].copy(order="F"), y[:50], n_nonzero_coefs=5)  # warm up BLAS threads
times = []
for _ in range(reps):
    # orthogonal_mp swaps the columns of X in place when copy_X=False: hand it a fresh
    # Fortran-ordered copy each time, made outside the timer.
    X = A.copy(order="F")
    t = time.perf_counter()
    x = orthogonal_mp(X, y, n_nonzero_coefs=k, precompute=False, copy_X=False)
    times.append(time.perf_counter() - t)
# The pass that bounds OMP, on numpy's own BLAS: k products A^T r, in f64 and in f32.
def passes(M, v):
    t = time.perf_counter()
    for _ in range(k):
        M.T @ v
    return time.perf_counter() - t
r = np.sin(np.arange(A.shape[0]) * 0.37)
A32 = A.astype(np.float32, order="F")
r32 = r.astype(np.float32)
passes(A, r); passes(A32, r32)
p64 = min(passes(A, r) for _ in range(reps))
p32 = min(passes(A32, r32) for _ in range(reps))
info = [{k2: d.get(k2) for k2 in ("internal_api", "version", "architecture", "num_threads")} for d in threadpool_info()]
print(json.dumps({"seconds": min(times), "passes64": p64, "passes32": p32, "support": [int(i) for i in np.flatnonzero(x)], "blas": info}))
"#;

fn best<T>(reps: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..reps {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(v);
    }
    (best, out.expect("reps >= 1"))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // cargo bench --no-run / test harness probes
    }
    let (n, d, k, reps) = (
        arg("--n", 2000),
        arg("--d", 20000),
        arg("--k", 200),
        arg("--repeats", 5).max(1),
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let py = ensure_venv(root);
    let inst = PlantedParams {
        n,
        d,
        k,
        magnitudes: Magnitudes::Uniform(1.0, 2.0),
        noise: 0.01,
        seed: 7,
        ..Default::default()
    }
    .generate()
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    lottery::io::write_matrix(&dir.path().join("A.npy"), &inst.a).unwrap();
    lottery::io::write_vector(&dir.path().join("y.npy"), &inst.y).unwrap();
    let script = dir.path().join("omp.py");
    std::fs::write(&script, SCRIPT).unwrap();
    // One scikit-learn run (in its own process, timed inside Python).
    let sklearn_once = || -> serde_json::Value {
        let v: serde_json::Value = json_of(
            Command::new(&py)
                .arg(&script)
                .arg(dir.path().join("A.npy"))
                .arg(dir.path().join("y.npy"))
                .arg(k.to_string())
                .arg("1")
                .env_remove("OPENBLAS_CORETYPE")
                .env_remove("OPENBLAS_L2_SIZE"),
        );
        v
    };
    let inst_support = inst.support.clone();
    let p = LeastSquares::from_f64(inst.a, inst.y).unwrap();
    let p32 = p.to_f32();
    let omp = Omp::new(GreedyParams::new(k)).unwrap();
    let _ = solve_quiet(&omp, &p).unwrap(); // warm-up
    let _ = solve_quiet(&omp, &p32).unwrap();
    // Interleave the contestants so that drift of this shared machine hits all of them.
    let (mut sk_time, mut t64, mut t32) = (f64::INFINITY, f64::INFINITY, f64::INFINITY);
    let (mut np64, mut np32) = (f64::INFINITY, f64::INFINITY);
    let (mut sk, mut s64, mut s32) = (serde_json::Value::Null, None, None);
    for _ in 0..reps {
        let v = sklearn_once();
        if v["seconds"].as_f64().unwrap() < sk_time {
            sk_time = v["seconds"].as_f64().unwrap();
        }
        np64 = np64.min(v["passes64"].as_f64().unwrap());
        np32 = np32.min(v["passes32"].as_f64().unwrap());
        sk = v;
        let (t, s) = best(1, || solve_quiet(&omp, &p).unwrap());
        t64 = t64.min(t);
        s64 = Some(s);
        let (t, s) = best(1, || solve_quiet(&omp, &p32).unwrap());
        t32 = t32.min(t);
        s32 = Some(s);
    }
    let (s64, s32) = (s64.unwrap(), s32.unwrap());
    let sk_support: Vec<usize> = serde_json::from_value(sk["support"].clone()).unwrap();

    // Memory floors, same process, same BLAS: k products A^T r and 2 passes (A x, A^T r).
    let r = Array1::from_shape_fn(n, |i| (i as f64 * 0.37).sin());
    let xd = Array1::from_shape_fn(d, |j| (j as f64 * 0.11).cos());
    let (t_pass_k32, _) = best(reps, || {
        (0..k).map(|_| p32.design().rmatvec(&r)[0]).sum::<f64>()
    });
    let (t_pass_k, _) = best(reps, || {
        (0..k).map(|_| p.design().rmatvec(&r)[0]).sum::<f64>()
    });
    let (t_two, _) = best(reps, || {
        (0..20)
            .map(|_| p.design().matvec(&xd)[0] + p.design().rmatvec(&r)[0])
            .sum::<f64>()
    });
    let t_two = t_two / 20.0;
    let (a64, a32) = match (p.design(), p32.design()) {
        (Design::F64(a), Design::F32(b)) => (a, b),
        _ => unreachable!("to_f32 stores f32"),
    };
    let r32 = r.mapv(|v| v as f32);
    let (t_rayon_k, _) = best(reps, || {
        (0..k).map(|_| column_dots(a64, &r)[0]).sum::<f64>()
    });
    let (t_rayon_k32, _) = best(reps, || {
        (0..k).map(|_| column_dots(a32, &r32)[0]).sum::<f32>()
    });
    let eta = 1.0 / p.smoothness();
    let iht = Iht::new(ThresholdParams::new(k).step(eta).max_iters(20)).unwrap();
    let (t_iht, sol_iht) = best(reps, || solve_quiet(&iht, &p).unwrap());
    let t_iht_iter = t_iht / sol_iht.info.iterations as f64;

    let overlap = |a: &[usize]| a.iter().filter(|j| sk_support.contains(j)).count();
    println!("instance: n = {n}, d = {d}, k = {k}, best of {reps}");
    println!(
        "supports: sklearn {} atoms, f64 {} atoms ({} shared), f32 {} atoms ({} shared), planted {} shared with sklearn",
        sk_support.len(), s64.info.support.len(), overlap(&s64.info.support),
        s32.info.support.len(), overlap(&s32.info.support), overlap(&inst_support)
    );
    println!(
        "scikit-learn orthogonal_mp f64: {:.3} s  (BLAS {})",
        sk_time, sk["blas"]
    );
    println!(
        "lottery OMP f64:                {:.3} s  support == sklearn: {}",
        t64,
        s64.info.support == sk_support
    );
    println!(
        "lottery OMP f32:                {:.3} s  support == sklearn: {}",
        t32,
        s32.info.support == sk_support
    );
    println!("k passes over A (k × Aᵀr, f64): {:.3} s", t_pass_k);
    println!(
        "k passes over A (f32 storage):  {:.3} s   ratio OMP f32 / its passes = {:.3}",
        t_pass_k32,
        t32 / t_pass_k32
    );
    println!("two passes over A (Ax + Aᵀr):   {:.4} s", t_two);
    // Bandwidth of each pass: k reads of the n × d matrix.
    let gbs = |bytes: usize, t: f64| (k * n * d * bytes) as f64 / t / 1e9;
    println!("pass bandwidth, GB/s (k × Aᵀr):   f64      f32");
    println!(
        "  numpy (scikit-learn's BLAS)     {:6.1}   {:6.1}",
        gbs(8, np64),
        gbs(4, np32)
    );
    println!(
        "  ours (Debian OpenBLAS gemv)     {:6.1}   {:6.1}",
        gbs(8, t_pass_k),
        gbs(4, t_pass_k32)
    );
    println!(
        "  rayon column dots               {:6.1}   {:6.1}",
        gbs(8, t_rayon_k),
        gbs(4, t_rayon_k32)
    );
    println!(
        "  OMP end to end: scikit-learn {:.1}, ours f64 {:.1}, ours f32 {:.1}",
        gbs(8, sk_time),
        gbs(8, t64),
        gbs(4, t32)
    );
    println!(
        "ratio scikit-learn OMP / numpy k passes = {:.3}",
        sk_time / np64
    );
    println!("IHT per iteration (s = k):      {:.4} s", t_iht_iter);
    println!(
        "ratio OMP f64 / k passes        = {:.3}   (target ≤ 1.15)",
        t64 / t_pass_k
    );
    println!(
        "ratio OMP f64 / scikit-learn    = {:.3}   (target ≤ 1.00)",
        t64 / sk_time
    );
    println!(
        "speedup scikit-learn / OMP f32  = {:.3}   (target ≥ 2.00)",
        sk_time / t32
    );
    println!(
        "ratio IHT iteration / 2 passes  = {:.3}   (target ≤ 1.30)",
        t_iht_iter / t_two
    );
}
