//! `lottery export` (CPU): a channel-pruned network is physically smaller and computes the same
//! logits; CSR and N:M files hold exactly the kept weights; bad requests are one line, exit 2.
#![cfg(feature = "torch")]

use crate::runs;

use lottery::nn::export::{masked_variables, Format, Mlp};
use runs::load_sorted;
use tch::{Device, Kind, Tensor};

/// Gradual pruning of LeNet on the teacher under `budget` (the structured-budget tests' run).
fn prune(runs: &std::path::Path, sparsity: &str, budget: &str) -> std::path::PathBuf {
    crate::structured::prune(runs, "gradual", sparsity, budget)
}

fn export_out(dir: &std::path::Path, format: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_lottery"))
        .args(["export", dir.to_str().unwrap(), "--format", format])
        .output()
        .unwrap()
}

fn export(dir: &std::path::Path, format: &str) -> std::path::PathBuf {
    let out = export_out(dir, format);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    runs::printed_dir(out)
}

fn chain() -> Vec<String> {
    vec!["fc1".into(), "fc2".into(), "fc3".into()]
}

#[test]
fn a_channel_pruned_export_is_smaller_and_computes_the_same_logits() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = prune(tmp.path(), "0.9", "channel");
    let (masked, _) = masked_variables(&dir).unwrap();
    let full = Mlp::from_named(&masked, &chain(), Format::Dense).unwrap();
    let x = Tensor::randn([32, 784], (Kind::Float, Device::Cpu));
    let reference = full.forward(&x);

    let dense = load_sorted(export(&dir, "dense"));
    let shape = |n: &str| dense.iter().find(|(k, _)| k == n).unwrap().1.size();
    assert_eq!(shape("fc1.weight"), vec![30, 784]);
    assert_eq!(shape("fc2.weight"), vec![10, 30]);
    assert_eq!(shape("fc3.weight"), vec![10, 10]);
    let small = Mlp::from_named(&dense, &chain(), Format::Dense).unwrap();
    let diff = (small.forward(&x) - &reference)
        .abs()
        .max()
        .double_value(&[]);
    assert!(diff < 1e-4, "dense export differs by {diff}");

    let csr = load_sorted(export(&dir, "csr"));
    let sparse = Mlp::from_named(&csr, &chain(), Format::Csr).unwrap();
    let diff = (sparse.forward(&x) - &reference)
        .abs()
        .max()
        .double_value(&[]);
    assert!(diff < 1e-4, "csr export differs by {diff}");
    // The CSR values are exactly the nonzero weights of the shrunk network.
    let nnz: i64 = ["fc1", "fc2", "fc3"]
        .iter()
        .map(|l| {
            csr.iter()
                .find(|(k, _)| *k == format!("{l}.weight.values"))
                .unwrap()
                .1
                .numel() as i64
        })
        .sum();
    let kept: i64 = ["fc1", "fc2", "fc3"]
        .iter()
        .map(|l| {
            let w = &dense
                .iter()
                .find(|(k, _)| *k == format!("{l}.weight"))
                .unwrap()
                .1;
            w.ne(0.0).sum(Kind::Int64).int64_value(&[])
        })
        .sum();
    assert_eq!(nnz, kept);

    // A second export returns the same file untouched.
    let path = dir.join("export").join("dense.safetensors");
    let before = std::fs::metadata(&path).unwrap().modified().unwrap();
    export(&dir, "dense");
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        before
    );
}

#[test]
fn an_n_of_m_export_holds_n_values_per_run_that_rebuild_the_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = prune(tmp.path(), "0.5", "2:4");
    let (masked, prunable) = masked_variables(&dir).unwrap();
    let nm = load_sorted(export(&dir, "nm"));
    for name in prunable {
        let w = &masked.iter().find(|(k, _)| *k == name).unwrap().1;
        let (rows, cols) = (w.size()[0], w.size()[1]);
        let get = |s: &str| {
            nm.iter()
                .find(|(k, _)| *k == format!("{name}.{s}"))
                .unwrap()
                .1
                .shallow_clone()
        };
        let (values, indices) = (get("values"), get("indices"));
        assert_eq!(values.size(), vec![rows, cols / 2]);
        // Rebuild: scatter each run's two values to their positions.
        let rebuilt = Tensor::zeros([rows, cols / 4, 4], (Kind::Float, Device::Cpu)).scatter(
            2,
            &indices.to_kind(Kind::Int64).reshape([rows, cols / 4, 2]),
            &values.reshape([rows, cols / 4, 2]),
        );
        assert!(rebuilt.reshape([rows, cols]).equal(w), "{name}");
    }
    // A run without an N:M budget has no nm export.
    let other = prune(tmp.path(), "0.9", "unstructured");
    let out = export_out(&other, "nm");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("N:M budget"), "{err}");
    let out = export_out(&other, "coo");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim().lines().count(),
        1
    );
}
