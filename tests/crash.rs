//! Crash safety at any moment (`lottery::nn::rundir`, "After a crash"): runs killed with SIGKILL
//! at random moments, one to three times in a row, then restarted, end bit-identical to an
//! uninterrupted run — an IMP run on the planted teacher (levels 0–3) and early-bird, a method
//! with a search phase; and two processes started on one run at the same instant: one
//! proceeds, the other is refused in one line, and the result is intact.
#![cfg(feature = "torch")]

mod runs;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use rand::{Rng, SeedableRng};
use runs::{load_sorted, printed_dir};

/// Trials per run kind (the issue asks for at least 20).
const TRIALS: usize = 20;

/// Short epochs (3000 training samples, 50 iterations each) so that every level checkpoints
/// several times; one evaluation at the end.
const IMP: &[&str] = &[
    "imp",
    "--preset",
    "lenet300-lth",
    "--dataset",
    "teacher",
    "--levels",
    "3",
    "--iterations",
    "150",
    "--set",
    "validation=17000",
    "--set",
    "eval_every=150",
];

const EARLY_BIRD: &[&str] = &[
    "prune",
    "early-bird",
    "--preset",
    "lenet300-lth",
    "--dataset",
    "teacher",
    "--sparsity",
    "0.8",
    "--iterations",
    "300",
    "--set",
    "validation=17000",
    "--set",
    "eval_every=150",
    "--set",
    "eb_every=50",
    "--set",
    "eb_threshold=0.05",
];

fn command(runs: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lottery"));
    // One thread per process, so that two trials share the machine's cores; the reference runs
    // the same way (the results do not depend on it, but nothing is left to chance).
    c.args(args)
        .args(["--device", "cpu", "--runs"])
        .arg(runs)
        .env("OMP_NUM_THREADS", "1");
    c
}

fn run_to_end(runs: &Path, args: &[&str]) -> PathBuf {
    printed_dir(command(runs, args).output().unwrap())
}

/// Every file of `reference` that a finished run keeps, compared with `other`: tensors bit for
/// bit, metrics and summaries byte for byte; and every manifest of `other` verifies.
fn assert_identical(reference: &Path, other: &Path, what: &str) {
    let mut stack = vec![PathBuf::new()];
    let mut compared = 0;
    while let Some(rel) = stack.pop() {
        let (da, db) = (reference.join(&rel), other.join(&rel));
        lottery::nn::rundir::verify_dir(&db)
            .unwrap_or_else(|e| panic!("{what}: {} does not verify: {e}", db.display()));
        assert!(
            !db.join("checkpoint.json").exists(),
            "{what}: checkpoint left in {}",
            db.display()
        );
        for entry in std::fs::read_dir(&da).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().unwrap().is_dir() {
                stack.push(rel.join(&name));
            } else if name.ends_with(".safetensors") {
                let (x, y) = (load_sorted(da.join(&name)), load_sorted(db.join(&name)));
                assert_eq!(x.len(), y.len(), "{what}: {}", rel.join(&name).display());
                for ((n, tx), (m, ty)) in x.iter().zip(&y) {
                    assert!(
                        n == m && tx.equal(ty),
                        "{what}: {} tensor {n} differs",
                        rel.join(&name).display()
                    );
                }
                compared += 1;
            } else if name.ends_with(".csv") || name == "summary.json" || name == "run.json" {
                assert_eq!(
                    std::fs::read(da.join(&name)).unwrap(),
                    std::fs::read(db.join(&name)).unwrap_or_default(),
                    "{what}: {}",
                    rel.join(&name).display()
                );
                compared += 1;
            }
        }
    }
    assert!(compared >= 5, "{what}: only {compared} files compared");
}

/// What a trial saw: kills that hit a running process, and those that came after it ended.
#[derive(Default, Debug)]
struct Tally {
    trials: usize,
    kills: usize,
    late: usize,
}

/// `TRIALS` trials of `args`: kill 1–3 times at uniform random moments within the reference's
/// wall time, restart to the end, compare with the reference. Two trials run at a time.
fn random_kills(args: &[&str], seed: u64) -> Tally {
    let root = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let reference = run_to_end(&root.path().join("reference"), args);
    let wall = t0.elapsed();
    let tally = std::sync::Mutex::new(Tally::default());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let t = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if t >= TRIALS {
                    break;
                }
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed + t as u64);
                let runs = root.path().join(format!("trial_{t}"));
                let (mut kills, mut late) = (0, 0);
                for _ in 0..rng.gen_range(1..=3) {
                    let mut child = command(&runs, args)
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap();
                    let at = wall.mul_f64(rng.gen_range(0.0..1.0));
                    std::thread::sleep(at);
                    if child.try_wait().unwrap().is_some() {
                        late += 1;
                    } else {
                        child.kill().unwrap(); // SIGKILL
                        kills += 1;
                    }
                    child.wait().unwrap();
                }
                let resumed = run_to_end(&runs, args);
                assert_eq!(resumed.file_name(), reference.file_name());
                assert_identical(&reference, &resumed, &format!("trial {t}"));
                let mut tl = tally.lock().unwrap();
                tl.trials += 1;
                tl.kills += kills;
                tl.late += late;
            });
        }
    });
    let tally = tally.into_inner().unwrap();
    eprintln!("{args:?}: reference {wall:?}, {tally:?}");
    tally
}

#[test]
fn imp_killed_at_random_moments_ends_identical() {
    let tally = random_kills(IMP, 1000);
    assert_eq!(tally.trials, TRIALS);
    assert!(
        tally.kills >= TRIALS,
        "most kills must hit a running process: {tally:?}"
    );
}

#[test]
fn early_bird_killed_at_random_moments_ends_identical() {
    let tally = random_kills(EARLY_BIRD, 2000);
    assert_eq!(tally.trials, TRIALS);
    assert!(
        tally.kills >= TRIALS,
        "most kills must hit a running process: {tally:?}"
    );
}

/// Two processes started on one run at the same instant: the kernel's lock lets exactly one
/// proceed; the other exits with status 2 and one line; the result equals a lone run's.
#[test]
fn two_processes_at_the_same_instant_one_proceeds() {
    let root = tempfile::tempdir().unwrap();
    let reference = run_to_end(&root.path().join("reference"), IMP);
    for round in 0..8 {
        let runs = root.path().join(format!("round_{round}"));
        let spawn = || {
            command(&runs, IMP)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let (won, lost) = match (a.status.success(), b.status.success()) {
            (true, false) => (a, b),
            (false, true) => (b, a),
            _ => panic!(
                "round {round}: exactly one must proceed: {:?} / {:?}: {} / {}",
                a.status,
                b.status,
                String::from_utf8_lossy(&a.stderr),
                String::from_utf8_lossy(&b.stderr)
            ),
        };
        assert_eq!(lost.status.code(), Some(2), "round {round}");
        let err = String::from_utf8_lossy(&lost.stderr);
        assert_eq!(err.lines().count(), 1, "round {round}: {err}");
        assert!(err.contains("in use by process"), "round {round}: {err}");
        let dir = printed_dir(won);
        assert_identical(&reference, &dir, &format!("round {round}"));
    }
}
