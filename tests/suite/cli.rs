//! The `lottery solve` contract: JSON on stdout, atomic `--out`, one-line errors with exit code 2
//! and no output written on bad input.

use std::path::Path;
use std::process::Command;

use lottery::problem::{LeastSquares, PlantedParams};
use lottery::solver::greedy::{GreedyParams, Omp};
use lottery::solver::solve_quiet;
use ndarray::{Array1, Array2};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lottery"))
}

fn write_problem(dir: &Path) -> (PlantedParams, lottery::problem::Planted) {
    let params = PlantedParams {
        n: 60,
        d: 120,
        k: 4,
        seed: 5,
        ..Default::default()
    };
    let inst = params.generate().unwrap();
    lottery::io::write_matrix(&dir.join("A.npy"), &inst.a).unwrap();
    lottery::io::write_vector(&dir.join("y.npy"), &inst.y).unwrap();
    (params, inst)
}

fn run(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut c = bin();
    c.args(["solve", "--design"])
        .arg(dir.join("A.npy"))
        .arg("--response")
        .arg(dir.join("y.npy"));
    c.args(extra).output().unwrap()
}

#[test]
fn every_solver_prints_the_json_contract() {
    let dir = tempfile::tempdir().unwrap();
    let (_, inst) = write_problem(dir.path());
    for (solver, extra) in [
        ("iht", vec!["--sparsity", "4"]),
        ("niht", vec!["--sparsity", "4"]),
        ("htp", vec!["--sparsity", "4"]),
        ("cosamp", vec!["--sparsity", "4"]),
        ("omp", vec!["--sparsity", "4"]),
        ("fcfgs", vec!["--sparsity", "4"]),
        ("forward", vec!["--sparsity", "4"]),
        ("fwr", vec!["--sparsity", "4"]),
        ("foba", vec!["--sparsity", "4"]),
        ("obs", vec!["--sparsity", "4", "--damp", "1e-3"]),
        ("sparsegpt", vec!["--sparsity", "4", "--damp", "1e-3"]),
        ("fw", vec!["--domain", "l1", "--radius", "4"]),
        (
            "afw",
            vec!["--domain", "ksparse", "--sparsity", "4", "--radius", "2"],
        ),
        ("pfw", vec!["--domain", "simplex"]),
        (
            "md",
            vec!["--domain", "l1", "--radius", "4", "--iters", "200"],
        ),
    ] {
        let mut args = vec!["--solver", solver];
        args.extend(extra);
        let out = run(dir.path(), &args);
        assert!(
            out.status.success(),
            "{solver}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for key in [
            "solver",
            "objective",
            "support",
            "nnz",
            "iterations",
            "gap",
            "seconds",
        ] {
            assert!(v.get(key).is_some(), "{solver}: missing {key}");
        }
        assert_eq!(v["solver"], solver);
        if ["omp", "htp", "fcfgs", "cosamp"].contains(&solver) {
            let support: Vec<usize> = serde_json::from_value(v["support"].clone()).unwrap();
            assert_eq!(support, inst.support, "{solver} missed the planted support");
        }
        assert_eq!(
            v["gap"].is_null(),
            !["fw", "afw", "pfw"].contains(&solver),
            "{solver}: gap"
        );
    }
}

#[test]
fn out_and_trace_match_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let (_, inst) = write_problem(dir.path());
    let out_path = dir.path().join("x.npy");
    let trace = dir.path().join("trace.csv");
    let out = run(
        dir.path(),
        &[
            "--solver",
            "omp",
            "--sparsity",
            "4",
            "--out",
            out_path.to_str().unwrap(),
            "--trace",
            trace.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    let x = lottery::io::read_vector(&out_path).unwrap();
    let p = LeastSquares::from_f64(inst.a, inst.y).unwrap();
    let lib = solve_quiet(&Omp::new(GreedyParams::new(4)).unwrap(), &p).unwrap();
    assert_eq!(x, lib.x);
    let csv = std::fs::read_to_string(&trace).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + 1 + 4,
        "header, initial point, 4 steps"
    );
}

#[test]
fn f32_precision_finds_the_same_support() {
    let dir = tempfile::tempdir().unwrap();
    let (_, inst) = write_problem(dir.path());
    let out = run(
        dir.path(),
        &["--solver", "omp", "--sparsity", "4", "--precision", "f32"],
    );
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let support: Vec<usize> = serde_json::from_value(v["support"].clone()).unwrap();
    assert_eq!(support, inst.support);
    assert_eq!(v["precision"], "f32");
}

/// Every bad input: exit code 2, exactly one line on stderr, nothing on stdout, and the
/// pre-existing output file untouched.
#[test]
fn bad_input_is_one_line_exit_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_problem(dir.path());
    let d = dir.path();
    // Malformed inputs.
    std::fs::write(d.join("garbage.npy"), b"definitely not numpy").unwrap();
    let good = std::fs::read(d.join("A.npy")).unwrap();
    std::fs::write(d.join("truncated.npy"), &good[..good.len() / 2]).unwrap();
    let mut a32 = Vec::new();
    ndarray_npy::WriteNpyExt::write_npy(&Array2::<f32>::zeros((60, 120)), &mut a32).unwrap();
    std::fs::write(d.join("f32.npy"), a32).unwrap();
    let mut nan = lottery::io::read_matrix(&d.join("A.npy")).unwrap();
    nan[[3, 4]] = f64::NAN;
    let mut nan_bytes = Vec::new();
    ndarray_npy::WriteNpyExt::write_npy(&nan, &mut nan_bytes).unwrap();
    std::fs::write(d.join("nan.npy"), nan_bytes).unwrap();
    lottery::io::write_vector(&d.join("short.npy"), &Array1::zeros(59)).unwrap();
    lottery::io::write_vector(&d.join("labels.npy"), &Array1::from_elem(60, 0.5)).unwrap();

    let out_path = d.join("x.npy");
    std::fs::write(&out_path, b"previous result").unwrap();
    // (design, response, extra flags): one bad thing each.
    let bad: Vec<(&str, &str, Vec<&str>)> = vec![
        (
            "missing.npy",
            "y.npy",
            vec!["--solver", "iht", "--sparsity", "3"],
        ),
        (
            "garbage.npy",
            "y.npy",
            vec!["--solver", "iht", "--sparsity", "3"],
        ),
        (
            "truncated.npy",
            "y.npy",
            vec!["--solver", "iht", "--sparsity", "3"],
        ),
        (
            "f32.npy",
            "y.npy",
            vec!["--solver", "iht", "--sparsity", "3"],
        ),
        (
            "nan.npy",
            "y.npy",
            vec!["--solver", "iht", "--sparsity", "3"],
        ),
        (
            "A.npy",
            "short.npy",
            vec!["--solver", "iht", "--sparsity", "3"],
        ),
        ("A.npy", "y.npy", vec!["--solver", "iht", "--sparsity", "0"]),
        (
            "A.npy",
            "y.npy",
            vec!["--solver", "iht", "--sparsity", "121"],
        ),
        ("A.npy", "y.npy", vec!["--solver", "iht"]),
        ("A.npy", "y.npy", vec!["--solver", "fw", "--radius", "0"]),
        ("A.npy", "y.npy", vec!["--solver", "fw", "--radius", "-1"]),
        ("A.npy", "y.npy", vec!["--solver", "magic"]),
        (
            "A.npy",
            "y.npy",
            vec!["--solver", "afw", "--domain", "ksupport", "--sparsity", "3"],
        ),
        (
            "A.npy",
            "labels.npy",
            vec!["--solver", "fcfgs", "--sparsity", "3", "--loss", "logistic"],
        ),
        (
            "A.npy",
            "y.npy",
            vec!["--solver", "iht", "--sparsity", "3", "--iters", "0"],
        ),
        (
            "A.npy",
            "y.npy",
            vec!["--solver", "iht", "--sparsity", "3", "--unknown-flag"],
        ),
        // 60 samples, 120 coordinates: AᵀA/n is singular without damping.
        ("A.npy", "y.npy", vec!["--solver", "obs", "--sparsity", "3"]),
        (
            "A.npy",
            "y.npy",
            vec!["--solver", "obs", "--sparsity", "3", "--damp", "-1"],
        ),
    ];
    let path = |f: &str| d.join(f).to_str().unwrap().to_string();
    let o = out_path.to_str().unwrap().to_string();
    let cases: Vec<Vec<String>> = bad
        .into_iter()
        .map(|(a, y, extra)| {
            let mut v = vec![
                "--design".to_string(),
                path(a),
                "--response".to_string(),
                path(y),
            ];
            v.extend(extra.into_iter().map(String::from));
            v
        })
        .collect();
    for args in cases {
        let out = bin()
            .arg("solve")
            .args(&args)
            .args(["--out", &o])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{args:?}: stderr not one line: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: printed to stdout");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(
            std::fs::read(&out_path).unwrap(),
            b"previous result",
            "{args:?}: clobbered --out"
        );
    }
    // No temporary files are left behind either.
    let leftovers: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty());
}

/// The layerwise problem from the command line: `--gram H --center w̄` (several rows) selects,
/// row by row, what `--design X --response Xw̄` selects for OMP and OBS (the issue's "same code,
/// same support"), and what the library's Batch-OMP selects; bad `--gram` input is one line,
/// exit 2.
#[test]
fn gram_form_matches_the_design_form() {
    use lottery::problem::{Damping, LayerGram};
    use lottery::solver::layer::{prune_layer, LayerBudget, LayerSolver};
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let d_ = dir.path();
    let (n, d, rows, k) = (90, 16, 3, 5);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let x = Array2::from_shape_fn((n, d), |_| {
        rng.gen_range(-1.0..1.0f64).max(0.0) + rng.gen_range(0.0..0.3)
    });
    let w = Array2::from_shape_fn((rows, d), |_| rng.gen_range(-1.0..1.0f64));
    let h = x.t().dot(&x) / n as f64;
    lottery::io::write_matrix(&d_.join("X.npy"), &x).unwrap();
    lottery::io::write_matrix(&d_.join("H.npy"), &h).unwrap();
    lottery::io::write_matrix(&d_.join("W.npy"), &w).unwrap();
    let p = |f: &str| d_.join(f).to_str().unwrap().to_string();
    let json = |args: &[String]| -> serde_json::Value {
        let out = bin().arg("solve").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let library = prune_layer(
        &LayerGram::from_gram(h.view(), Damping::Absolute(0.0)).unwrap(),
        w.view(),
        LayerSolver::Omp,
        LayerBudget::Row(k),
    )
    .unwrap();
    for solver in ["omp", "obs"] {
        let base = |extra: &[&str]| -> Vec<String> {
            let mut v: Vec<String> = ["--solver", solver, "--sparsity", &k.to_string()]
                .iter()
                .map(|s| s.to_string())
                .collect();
            v.extend(extra.iter().map(|s| s.to_string()));
            v
        };
        let g = json(&base(&[
            "--gram",
            &p("H.npy"),
            "--center",
            &p("W.npy"),
            "--out",
            &p("Wk.npy"),
        ]));
        let pruned = lottery::io::read_matrix(&d_.join("Wk.npy")).unwrap();
        assert_eq!(pruned.dim(), (rows, d));
        for r in 0..rows {
            lottery::io::write_vector(&d_.join("y.npy"), &x.dot(&w.row(r))).unwrap();
            let single = json(&base(&["--design", &p("X.npy"), "--response", &p("y.npy")]));
            assert_eq!(
                g["rows"][r]["support"], single["support"],
                "{solver} row {r}"
            );
            let nnz = pruned.row(r).iter().filter(|v| **v != 0.0).count();
            assert_eq!(nnz, k);
            if solver == "omp" {
                let lib: Vec<usize> =
                    lottery::solver::support_of(&library.weights.row(r).to_owned());
                assert_eq!(serde_json::to_value(lib).unwrap(), single["support"]);
            }
        }
    }
    // Bad --gram input: wrong center length, a non-symmetric H, a negative damping.
    lottery::io::write_vector(&d_.join("short.npy"), &Array1::zeros(d - 1)).unwrap();
    let mut asym = h.clone();
    asym[[0, 1]] += 1.0;
    lottery::io::write_matrix(&d_.join("asym.npy"), &asym).unwrap();
    for (gram, center, extra) in [
        ("H.npy", "short.npy", "0"),
        ("asym.npy", "W.npy", "0"),
        ("H.npy", "W.npy", "-1"),
    ] {
        let out = bin()
            .args([
                "solve",
                "--solver",
                "omp",
                "--sparsity",
                "3",
                "--gram",
                &p(gram),
                "--center",
                &p(center),
                "--damp",
                extra,
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{gram} {center}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
}
