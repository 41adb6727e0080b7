//! Unit tests of sweep-file parsing and expansion.
use super::*;

const DEMO: &str = r#"
name = "demo"
command = "prune"
[base]
preset = "lenet300-lth"
dataset = "teacher"
iterations = 300
[grid]
method = ["gradual", "iht"]
sparsity = [0.8, 0.9]
seed = [1, 2]
"#;

#[test]
fn the_issue_example_expands_to_eight_cells_first_key_slowest() {
    let s = Sweep::parse(DEMO).unwrap();
    assert_eq!(s.len(), 8);
    let cells = s.cells();
    let v = |c: &Cell| {
        c.varying
            .iter()
            .map(|(k, v)| format!("{k}={}", display_value(v)))
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(v(&cells[0]), "method=gradual,seed=1,sparsity=0.8");
    assert_eq!(v(&cells[1]), "method=gradual,seed=1,sparsity=0.9");
    assert_eq!(v(&cells[7]), "method=iht,seed=2,sparsity=0.9");
    for (i, c) in cells.iter().enumerate() {
        assert_eq!(s.cell(i).unwrap(), *c);
        let r = c.resolve().unwrap();
        assert_eq!(r.config.iterations, 300);
    }
    let keys: BTreeSet<_> = cells.iter().map(|c| c.key.clone()).collect();
    assert_eq!(keys.len(), 8);
    assert!(s.cell(8).is_err());
}

#[test]
fn zip_varies_together_and_multiplies_the_grid() {
    let s = Sweep::parse(
        r#"
name = "z"
command = "imp"
[base]
iterations = 10
[grid]
seed = [0, 1, 2]
[[zip]]
preset = ["lenet300-lth", "conv2-lth"]
lr = [0.0012, 0.0002]
"#,
    )
    .unwrap();
    assert_eq!(s.len(), 6);
    for c in s.cells() {
        let r = c.resolve().unwrap();
        let want: f64 = if r.config.preset == "conv2-lth" {
            0.0002
        } else {
            0.0012
        };
        assert_eq!(r.config.lr.to_bits(), want.to_bits());
    }
}

#[test]
fn bad_files_are_one_line_errors() {
    let cases = [
        ("name = \"a b\"\ncommand = \"imp\"", "name"),
        ("name = \"a\"\ncommand = \"fly\"", "unknown command"),
        (
            "name = \"a\"\ncommand = \"imp\"\ncolour = 1",
            "unknown field",
        ),
        (
            "name = \"a\"\ncommand = \"imp\"\n[grid]\nseed = []",
            "empty array",
        ),
        ("name = \"a\"\ncommand = \"imp\"\n[grid]\nseed = 3", "array"),
        (
            "name = \"a\"\ncommand = \"imp\"\n[[zip]]\nseed = [1]\nlr = [0.1, 0.2]",
            "differ in length",
        ),
        (
            "name = \"a\"\ncommand = \"imp\"\n[base]\nseed = 1\n[grid]\nseed = [1]",
            "both in [base]",
        ),
        ("name = \"a\"\n[grid]\nseed = [1]", "need a top-level"),
        ("name = \"a\"", "no cells"),
        (
            "name = \"a\"\ncommand = \"imp\"\n[slurm]\ncpus = 0",
            "must be >= 1",
        ),
        (
            "name = \"a\"\ncommand = \"imp\"\n[slurm]\nextra = [\"--a\\n--b\"]",
            "spans lines",
        ),
    ];
    for (text, want) in cases {
        let e = Sweep::parse(text).unwrap_err().to_string();
        assert!(e.contains(want), "{text:?}: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
}

#[test]
fn cells_with_bad_settings_are_named() {
    let s = Sweep::parse(
        "name = \"a\"\ncommand = \"imp\"\n[base]\npreset = \"lenet300-lth\"\n[grid]\nrate_fc = [0.5, 1.5]",
    )
    .unwrap();
    let e = s.checked_cells().unwrap_err().to_string();
    assert!(e.contains("cell 1 (imp; rate_fc=1.5)"), "{e}");
    let s = Sweep::parse("name = \"a\"\ncommand = \"imp\"\n[grid]\ncolour = [1]").unwrap();
    assert!(s.checked_cells().is_err());
    let s = Sweep::parse(
        "name = \"a\"\ncommand = \"branch\"\n[base]\npreset = \"lenet300-lth\"\nlevels = 2\n[grid]\nkind = [\"random-reinit\"]\nlevel = [3]",
    )
    .unwrap();
    let e = s.checked_cells().unwrap_err().to_string();
    assert!(e.contains("not in 1..=2"), "{e}");
}

#[test]
fn parts_share_the_base_and_follow_each_other() {
    let s = Sweep::parse(
        r#"
name = "m"
[base]
preset = "lenet300-lth"
iterations = 50
[[part]]
command = "imp"
[part.base]
levels = 2
[part.grid]
seed = [0, 1]
[[part]]
command = "prune"
[part.grid]
method = ["snip", "gradual"]
seed = [0, 1]
"#,
    )
    .unwrap();
    assert_eq!(s.len(), 6);
    let cells = s.checked_cells().unwrap();
    assert_eq!(cells[1].0.command, Command::Imp);
    assert_eq!(cells[1].1.config.levels, 2);
    assert_eq!(cells[2].0.command, Command::Prune);
    assert_eq!(cells[2].1.config.iterations, 50);
    assert_eq!(
        cells[2].1.config.budget.sparsity.to_bits(),
        0.8f64.to_bits()
    );
    assert_eq!(s.varying_keys(), ["command", "seed", "method"]);
}

#[test]
fn shell_quoting_survives_spaces_and_quotes() {
    assert_eq!(shell_quote("/a/b-c"), "/a/b-c");
    assert_eq!(shell_quote("a b"), "'a b'");
    assert_eq!(shell_quote("it's"), r"'it'\''s'");
}

#[test]
fn transfer_branches_take_their_settings_from_transfer_set() {
    let file = |kind: &str, extra: &str| {
        format!(
            "name = \"t\"\ncommand = \"branch\"\n[base]\npreset = \"lenet300-lth\"\nkind = \"{kind}\"\n{extra}\n[grid]\nseed = [0]\n"
        )
    };
    let one = |text: String| Sweep::parse(&text).unwrap().cell(0).unwrap().resolve();
    let r = one(file(
        "transfer",
        "transfer_set = [\"optimizer=sgd\", \"lr = 0.05\", \"momentum=0.9\"]",
    ))
    .unwrap();
    assert_eq!(
        r.transfer,
        [("optimizer", "sgd"), ("lr", "0.05"), ("momentum", "0.9")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    // The IMP run the branch starts from keeps its own settings.
    assert_eq!(r.config.lr.to_bits(), 1.2e-3f64.to_bits());
    for (kind, extra, expect) in [
        ("transfer", "", "needs `transfer_set"),
        (
            "transfer",
            "transfer_set = [\"optimizer\"]",
            "is not \"KEY=VALUE\"",
        ),
        ("transfer", "transfer_set = [\"colour=red\"]", "colour"),
        ("transfer", "transfer_set = [\"lr=-1\"]", "lr"),
        ("random-reinit", "transfer_set = [\"lr=0.1\"]", "only"),
    ] {
        let err = one(file(kind, extra)).unwrap_err().to_string();
        assert!(err.contains(expect), "{kind} {extra}: {err}");
        assert_eq!(err.lines().count(), 1);
    }
}
