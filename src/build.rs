//! With feature `torch`: give every binary and test an rpath to libtorch (so they run without a
//! manual LD_LIBRARY_PATH) and force-link libtorch_cuda when the installed torch has it (the
//! linker would otherwise drop it with --as-needed, and CUDA would silently be unavailable).
//! The torch library directory comes from `LOTTERY_TORCH_LIB` (set by `scripts/with-torch`), or
//! `LIBTORCH/lib`, or the active Python's torch.

use std::path::PathBuf;
use std::process::Command;

fn torch_lib_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("LOTTERY_TORCH_LIB") {
        return Some(PathBuf::from(dir));
    }
    if let Some(root) = std::env::var_os("LIBTORCH") {
        return Some(PathBuf::from(root).join("lib"));
    }
    let python = std::env::var("PYTHON_SYS_EXECUTABLE").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .args([
            "-c",
            "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn main() {
    println!("cargo:rerun-if-env-changed=LOTTERY_TORCH_LIB");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_none() {
        return;
    }
    let Some(dir) = torch_lib_dir() else {
        println!("cargo:warning=feature torch: could not locate libtorch; run through scripts/with-torch");
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    if dir.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
