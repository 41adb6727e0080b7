//! The import graph has no circle and no arrow from a lower layer to a higher one
//! (notes/architecture.md): every `crate::<module>` path in the code (comments excluded) of a
//! module must name its own module or one of a lower layer. Inside `nn/` the same holds for
//! `nn::<submodule>` paths and `super::` imports.
//!
//! The method zoo is one module in two layers: each method file's declarations (its specs and
//! settings, read by the run layer) sit below `run`, and its implementation — the file's
//! `mod train` section, and the files `zoo/train.rs` and `zoo/cells.rs` — above `nn`. So `zoo`
//! is checked as two modules: `zoo` (everything before a file's `mod train {` line) and
//! `zoo::train` (the rest), and a path into `zoo` names the second when it goes through
//! `train` or `cells`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Top-level modules by layer: a module may import modules of lower layers only.
const LAYERS: &[(&str, usize)] = &[
    ("error", 0),
    ("linalg", 0),
    ("io", 1),
    ("names", 1),
    ("stats", 1),
    ("plot", 2),
    ("select", 2),
    ("space", 3),
    ("problem", 4),
    ("solver", 5),
    ("data", 6),
    ("zoo", 6),
    ("run", 7),
    ("recovery", 7),
    ("nn", 8),
    ("zoo::train", 9),
];

/// `nn/` submodules by layer.
const NN_LAYERS: &[(&str, usize)] = &[
    ("models", 0),
    ("optim", 0),
    ("params", 1),
    ("data", 1),
    ("target", 2),
    ("dynamics", 2),
    ("rundir", 2),
    ("export", 3),
    ("perturb", 2),
    ("planted", 2),
    ("env", 3),
    ("descent", 3),
    ("phase", 4),
    ("imp", 5),
    ("branch", 6),
    ("layerwise", 6),
    ("lmc", 6),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module a file belongs to, below `root` (`src/solver/iht.rs` → `solver`).
fn module_of(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// Identifiers following `prefix` in the code lines of `text`; a path into the zoo's
/// implementation (`zoo::train`, `zoo::cells`, `zoo::<file>::train`) is named `zoo::train`.
fn targets(text: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let mut rest = code;
        while let Some(i) = rest.find(prefix) {
            rest = &rest[i + prefix.len()..];
            let segments: Vec<String> = rest
                .split("::")
                .take(3)
                .map(|s| {
                    s.chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect()
                })
                .collect();
            let Some(name) = segments.first().filter(|n| !n.is_empty()) else {
                continue;
            };
            let implementation = name == "zoo"
                && (matches!(segments.get(1).map(String::as_str), Some("train" | "cells"))
                    || segments.get(2).map(String::as_str) == Some("train"));
            out.push(if implementation {
                "zoo::train".to_string()
            } else {
                name.clone()
            });
        }
    }
    out
}

/// A file's sections by module: the zoo's files split at their `mod train {` line (the
/// implementation), `zoo/train.rs` and `zoo/cells.rs` whole in `zoo::train`; every other file
/// whole in its module.
fn sections(module: &str, file: &Path, text: &str) -> Vec<(String, String)> {
    if module != "zoo" {
        return vec![(module.to_string(), text.to_string())];
    }
    let name = file.file_name().unwrap().to_string_lossy();
    if name == "train.rs" || name == "cells.rs" {
        return vec![("zoo::train".into(), text.to_string())];
    }
    match text.find("\nmod train {") {
        Some(i) => vec![
            ("zoo".into(), text[..i].to_string()),
            ("zoo::train".into(), text[i..].to_string()),
        ],
        None => vec![("zoo".into(), text.to_string())],
    }
}

fn check(
    root: &Path,
    prefix: &str,
    layers: &[(&str, usize)],
    skip: &[&str],
) -> BTreeMap<String, Vec<String>> {
    let rank: BTreeMap<&str, usize> = layers.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let mut bad: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in files {
        let module = module_of(root, &file);
        if skip.contains(&module.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (from, section) in sections(&module, &file, &text) {
            let Some(&r_from) = rank.get(from.as_str()) else {
                bad.entry(file.display().to_string())
                    .or_default()
                    .push(format!("module `{from}` has no layer in this test"));
                continue;
            };
            let mut names = targets(&section, prefix);
            if prefix == "nn::" && root.ends_with("nn") {
                // `super::x` from a direct child of nn/ is a sibling import.
                if file.parent() == Some(root) {
                    names.extend(targets(&section, "super::"));
                }
            }
            for to in names {
                if to == from || !rank.contains_key(to.as_str()) {
                    continue;
                }
                if rank[to.as_str()] >= r_from {
                    bad.entry(file.display().to_string())
                        .or_default()
                        .push(format!("{from} -> {to}"));
                }
            }
        }
    }
    bad
}

#[test]
fn no_arrow_from_a_lower_layer_to_a_higher_one() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    // lib.rs declares every module; bin/ and build.rs are clients, not layers.
    let bad = check(&src, "crate::", LAYERS, &["lib", "bin", "build"]);
    assert!(bad.is_empty(), "upward imports: {bad:#?}");
}

#[test]
fn inside_nn_no_arrow_from_a_lower_layer_to_a_higher_one() {
    let nn = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join("nn");
    let bad = check(&nn, "nn::", NN_LAYERS, &["mod"]);
    assert!(bad.is_empty(), "upward imports inside nn: {bad:#?}");
}

#[test]
fn the_network_side_imports_its_steps_from_the_solver_layer() {
    let convex = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/zoo/convex.rs");
    let text = std::fs::read_to_string(convex).unwrap();
    assert!(
        text.contains("solver::"),
        "zoo/convex.rs does not use solver::"
    );
    for step in [
        "gradient_threshold_step",
        "sparse_polytope_vertex",
        "entropic_step",
        "grow",
    ] {
        let space = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/space.rs");
        let space_text = std::fs::read_to_string(space).unwrap();
        assert!(
            !space_text.contains(&format!("pub fn {step}")),
            "{step} is defined in space.rs, not solver/step.rs"
        );
    }
}

/// `notes/architecture.md` names every file under `src/` by its path (`select/budget.rs`), and
/// every path it names in backticks that looks like a source file exists: the map is true to
/// the code.
#[test]
fn architecture_names_every_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let doc = std::fs::read_to_string(root.join("notes/architecture.md")).unwrap();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut missing: Vec<String> = files
        .iter()
        .map(|f| {
            f.strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .filter(|rel| !doc.contains(&format!("`{rel}`")))
        .collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "notes/architecture.md does not name {missing:?}"
    );
    // Every `dir/file.rs` the page names (in backticks, under src/) exists; a bare `file.rs`
    // names some file of that name.
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut stale = Vec::new();
    for piece in doc.split('`').skip(1).step_by(2) {
        let piece = piece.strip_prefix("src/").unwrap_or(piece);
        let looks_like_file = piece.ends_with(".rs")
            && !piece.contains(' ')
            && !piece.contains('*')
            && !piece.contains('<')
            && !piece.starts_with("tests/")
            && !piece.starts_with("experiments/")
            && !piece.starts_with("benches/");
        let exists = if piece.contains('/') {
            src.join(piece).exists()
        } else {
            names.iter().any(|n| n == piece)
        };
        if looks_like_file && !exists {
            stale.push(piece.to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "notes/architecture.md names files that do not exist: {stale:?}"
    );
}
