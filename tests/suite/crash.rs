//! Crash safety at any moment (`lottery::nn::rundir`, "After a crash"): runs killed with SIGKILL
//! at random moments, one to three times in a row, then restarted, end bit-identical to an
//! uninterrupted run — an IMP run on the planted teacher (levels 0–3) and early-bird, a method
//! with a search phase; and two processes started on one run at the same instant: one
//! proceeds, the other is refused in one line, and the result is intact.
#![cfg(feature = "torch")]

use crate::runs;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use rand::{Rng, SeedableRng};
use runs::{load_sorted, printed_dir};

/// Trials per run kind (the issue asks for at least 20).
const TRIALS: usize = 20;

/// Short epochs (10,000 training samples in batches of 100: 100 iterations) so that every level
/// of 150 iterations checkpoints mid-way; one evaluation at the end.
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
    "validation=10000",
    "--set",
    "batch=100",
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
    "validation=10000",
    "--set",
    "batch=100",
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
fn random_kills(args: &[&str], seed: u64) {
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
    assert_eq!(tally.trials, TRIALS);
    assert!(
        tally.kills >= TRIALS,
        "most kills must hit a running process: {tally:?}"
    );
}

#[test]
fn imp_killed_at_random_moments_ends_identical() {
    random_kills(IMP, 1000);
}

#[test]
fn early_bird_killed_at_random_moments_ends_identical() {
    random_kills(EARLY_BIRD, 2000);
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

/// A finished run whose files were damaged afterwards: the damaged level is recomputed (one
/// warning line each) and ends identical to the original; a damaged initialization is restored
/// from the seed only because the rewrite matches its record.
#[test]
fn damaged_files_are_recomputed_never_kept() {
    let root = tempfile::tempdir().unwrap();
    let reference = run_to_end(&root.path().join("reference"), IMP);
    let runs = root.path().join("damaged");
    let dir = run_to_end(&runs, IMP);
    // Truncate the last level's final weights (the file nothing later reads), flip one byte of
    // level 1's mask, delete level 2's metrics, garble the initialization.
    let final3 = dir.join("level_3/final.safetensors");
    let len = std::fs::metadata(&final3).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&final3)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let mask1 = dir.join("level_1/mask.safetensors");
    let mut bytes = std::fs::read(&mask1).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&mask1, bytes).unwrap();
    std::fs::remove_file(dir.join("level_2/metrics.csv")).unwrap();
    let init = dir.join("init.safetensors");
    let mut bytes = std::fs::read(&init).unwrap();
    bytes[200] ^= 0xff;
    std::fs::write(&init, bytes).unwrap();

    let out = command(&runs, IMP).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    for what in [
        "level_3/final.safetensors: corrupt",
        "level_1/mask.safetensors: corrupt",
        "level_2/metrics.csv: missing",
        "init.safetensors: corrupt",
    ] {
        assert!(err.contains(what), "no warning for {what}: {err}");
    }
    assert!(err.lines().all(|l| l.starts_with("warning: ")), "{err}");
    assert_identical(&reference, &dir, "recomputed");

    // A damaged rewind point cannot be rewritten from the seed: reported in one line, exit 2.
    let args: Vec<&str> = IMP.iter().copied().chain(["--rewind", "50"]).collect();
    let late = run_to_end(&runs, &args);
    std::fs::remove_file(late.join("level_3/summary.json")).unwrap();
    let rewind = late.join("rewind.safetensors");
    let mut bytes = std::fs::read(&rewind).unwrap();
    bytes[300] ^= 0xff;
    std::fs::write(&rewind, bytes).unwrap();
    let out = command(&runs, &args).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("rewind.safetensors: corrupt"), "{err}");
}

/// Divergence: exit status 3 and one line naming the iteration and the value; the summary
/// records it and a rerun reports it again; the last good checkpoint is kept; resuming with a
/// smaller learning rate continues from it and the amendment is recorded.
#[test]
fn divergence_stops_the_run_and_can_be_resumed() {
    let root = tempfile::tempdir().unwrap();
    let runs = root.path().join("runs");
    // Adam at lr = 1e6: the loss stays finite (~1e19) but passes divergence_loss at once.
    let args: Vec<&str> = IMP.iter().copied().chain(["--set", "lr=1e6"]).collect();
    for attempt in 0..2 {
        let out = command(&runs, &args).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "attempt {attempt}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("training diverged at iteration ") && err.contains(": loss = "),
            "attempt {attempt}: {err}"
        );
        assert!(err.contains("--resume-diverged"), "{err}");
    }
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let summary = runs::read_summary(&run.join("level_0"));
    assert!(
        summary["diverged"]["iteration"].as_u64().unwrap() <= 3,
        "{summary}"
    );
    assert!(!run.join("level_0/final.safetensors").exists());

    // SGD at 0.1, multiplied by 10^4 at iteration 110: non-finite a few steps after the
    // checkpoint at iteration 100 (one per epoch of 100 iterations).
    let sgd = |lr: &'static str| -> Vec<&'static str> {
        IMP.iter()
            .copied()
            .chain(["--set", "optimizer=sgd", "--set", lr])
            .chain([
                "--set",
                "lr_drop_iterations=[110]",
                "--set",
                "lr_gamma=10000",
            ])
            .chain(["--set", "divergence_loss=0"])
            .collect()
    };
    let out = command(&runs, &sgd("lr=0.1")).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let sgd_run = PathBuf::from(err.split("--resume-diverged ").nth(1).unwrap().trim());
    let summary = runs::read_summary(&sgd_run.join("level_0"));
    let d = &summary["diverged"];
    assert!(
        ["NaN", "inf", "-inf"].iter().any(|v| d["value"] == *v),
        "{d}"
    );
    assert_eq!(d["checkpoint"], 100, "{d}");
    assert!(d["iteration"].as_u64().unwrap() > 110, "{d}");
    assert!(sgd_run.join("level_0/checkpoint.json").exists());

    // Resume with a smaller learning rate, naming the run.
    // Resume from the checkpoint at 100 with lr = 1e-5 (0.1 after the ×10^4 at iteration 110).
    let mut resume = sgd("lr=1e-5");
    resume.extend(["--resume-diverged", sgd_run.to_str().unwrap()]);
    let dir = run_to_end(&runs, &resume);
    assert_eq!(dir, sgd_run);
    let id: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(id["amendments"][0]["key"], "lr");
    assert_eq!(id["amendments"][0]["from"], 0.1);
    assert_eq!(id["amendments"][0]["to"], 1e-5);
    assert!(dir
        .join(format!("level_0/diverged-{}.json", d["iteration"]))
        .exists());
    assert!(
        runs::read_summary(&dir.join("level_3"))["final_test_accuracy"]
            .as_f64()
            .unwrap()
            > 0.1
    );
}
