//! Ticket recovery end to end (issue 13): is the planted support of the identifiable narrow
//! teacher found by IMP, layerwise OMP, gradual magnitude, the `iht` and `greedy` trainers — and
//! is it a winning ticket at all (the oracle against a random mask and the dense student)? Over
//! the sample ratio $x = n/(m s\ln(d/s))$ and the student's width ratio $y$.
//!
//! `scripts/with-torch cargo run --release --features torch --bin ticket_recovery [-- --jobs N]
//! [--executor slurm]` runs `experiments/sweeps/ticket_recovery.toml` with its runs under
//! `results/ticket_recovery/runs/` and writes `results/ticket_recovery/{rows.csv, cells.csv,
//! cells.md, successes.md, paired.md, ticket_recovery.svg, .png}`.

use clap::Parser;
use lottery::data::teacher::{NarrowTeacherParams, Sampling};
use lottery_experiments::evidence::write_flat;
use lottery_experiments::plot::{figure, Panel};
use lottery_experiments::ticket_recovery::{self as tr, ARMS};
use lottery_experiments::{sweeps, write_rows, ExperimentArgs};

#[derive(Parser)]
#[command(about = "Ticket recovery end to end on the narrow planted teacher (issue 13)")]
struct Args {
    #[command(flatten)]
    common: ExperimentArgs,
    #[command(flatten)]
    sweep: sweeps::SweepFlags,
}

/// The teacher's output variance (per output, pooled) on 20,000 fresh noiseless samples.
fn variance(seed: u64) -> lottery::Result<f64> {
    let teacher = NarrowTeacherParams {
        seed,
        ..Default::default()
    }
    .generate()?;
    let (_, test) = Sampling {
        n_train: 0,
        n_test: 20_000,
        regression: true,
        noise: 0.0,
        seed: seed ^ 0x7661_7269,
    }
    .sample(&teacher)?;
    let v: Vec<f64> = test.targets.iter().map(|&t| f64::from(t)).collect();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    Ok(v.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / v.len() as f64)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = args.common.prepare("ticket_recovery")?;
    let Some(table) = sweeps::run("ticket_recovery", args.common.paper, &dir, &args.sweep)? else {
        return Ok(());
    };
    let rows = tr::rows(&table, &variance)?;
    let cells = tr::cells(&rows);
    write_rows(&dir.join("rows.csv"), &rows)?;
    write_flat(&dir.join("cells.csv"), &cells)?;
    let md = tr::markdown_cells(&cells);
    lottery::io::write_atomic(&dir.join("cells.md"), md.as_bytes())?;
    let successes = tr::markdown_successes(&cells);
    lottery::io::write_atomic(&dir.join("successes.md"), successes.as_bytes())?;
    let mut paired = String::new();
    for (a, b) in [
        ("oracle", "random"),
        ("oracle", "dense"),
        ("IMP", "random"),
        ("IMP", "oracle"),
        ("layerwise OMP", "IMP"),
    ] {
        paired.push_str(&format!(
            "\n### {a} − {b}\n\n{}",
            tr::markdown_paired(&rows, a, b)
        ));
    }
    lottery::io::write_atomic(&dir.join("paired.md"), paired.as_bytes())?;
    let panel = |title: String, cells: Vec<(f64, f64, f64, f64, f64)>| Panel {
        title,
        x_label: "log2 x   (x = n / (m s ln(d/s)))".into(),
        y_label: "log2 (student width / teacher width)".into(),
        log_x: false,
        log_y: false,
        series: vec![],
        cells,
        legend_lower: false,
    };
    let mut panels = Vec::new();
    for arm in ARMS {
        panels.push(panel(
            format!("{arm}: hidden matched F1 (dark = 1)"),
            tr::heat(&cells, arm, &|c| c.hidden_f1.mean),
        ));
    }
    for arm in ARMS {
        panels.push(panel(
            format!("{arm}: test R² = 1 − loss/variance (dark = 1)"),
            tr::heat(&cells, arm, &|c| 1.0 - c.relative_loss.mean),
        ));
    }
    figure(&dir.join("ticket_recovery"), &panels, 5)?;
    print!("{successes}\n{md}\n{paired}");
    eprintln!("{}", dir.display());
    Ok(())
}
