//! Layerwise recovery of a planted teacher's first layer as compressed sensing (issue 13): per
//! unit, OMP, HTP, CoSaMP, NIHT and ℓ1 Frank-Wolfe on the unit's pre-activations, its post-ReLU
//! outputs and the active rows of those, over x = n / (s ln(d/s)), beside the convex layer's
//! planted instances at the same (n, d, k = s).
//!
//! `cargo run --release --bin layer_recovery [-- --paper] [--out results]` writes
//! `results/layer_recovery/{rows.csv, summary.csv, summary.md, layer_recovery.svg, .png,
//! config.json}`.

use clap::Parser;
use lottery_experiments::layer_recovery as lr;
use lottery_experiments::plot::{figure, Panel, Series};
use lottery_experiments::{write_rows, ExperimentArgs};

#[derive(Parser)]
#[command(about = "Layerwise recovery of a planted teacher's units as compressed sensing")]
struct Args {
    #[command(flatten)]
    common: ExperimentArgs,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse().common;
    let mut cfg = args.size(lr::Config::paper_size, lr::Config::default_size);
    cfg.seed = args.seed;
    let dir = args.prepare("layer_recovery")?;
    let start = std::time::Instant::now();
    let rows = lr::run(&cfg)?;
    write_rows(&dir.join("rows.csv"), &rows)?;
    let summary = lr::summarize(&rows);
    write_rows(&dir.join("summary.csv"), &summary)?;
    let titles = [
        "convex layer: planted Gaussian instance",
        "pre-activation y = Xw",
        "post-ReLU y = max(Xw, 0), all rows",
        "post-ReLU, active rows only",
    ];
    let panels: Vec<Panel> = lr::SOURCES
        .iter()
        .zip(titles)
        .map(|(source, title)| Panel {
            title: title.to_string(),
            x_label: "x = n / (s ln(d/s))".into(),
            y_label: "units recovered exactly (mean, 95% CI over teachers)".into(),
            log_x: true,
            log_y: false,
            series: lr::SOLVERS
                .iter()
                .map(|solver| {
                    let pts: Vec<&lr::Summary> = summary
                        .iter()
                        .filter(|s| s.source == *source && s.solver == *solver)
                        .collect();
                    Series {
                        err: Some(
                            pts.iter()
                                .map(|s| if s.ci.is_finite() { s.ci } else { 0.0 })
                                .collect(),
                        ),
                        ..Series::line(*solver, pts.iter().map(|s| (s.x, s.success)).collect())
                    }
                })
                .collect(),
            cells: vec![],
            legend_lower: true,
        })
        .collect();
    figure(&dir.join("layer_recovery"), &panels, 2)?;
    let mut md = String::from("| source | solver |");
    let xs = &cfg.xs;
    for x in xs {
        md += &format!(" x = {x} |");
    }
    md += "\n|---|---|";
    md += &"---|".repeat(xs.len());
    md += "\n";
    for source in lr::SOURCES {
        for solver in lr::SOLVERS {
            md += &format!("| {source} | {solver} |");
            for x in xs {
                match summary
                    .iter()
                    .find(|s| s.source == source && s.solver == solver && s.x == *x)
                {
                    Some(s) => md += &format!(" {:.2} ± {:.2} |", s.success, s.ci),
                    None => md += " — |",
                }
            }
            md += "\n";
        }
    }
    let ns: Vec<String> = xs.iter().map(|&x| format!("{}", cfg.samples(x))).collect();
    md += &format!("\nn at each x: {}\n", ns.join(", "));
    let active: Vec<String> = xs
        .iter()
        .filter_map(|x| {
            summary
                .iter()
                .find(|s| s.source == "active" && s.x == *x)
                .map(|s| format!("{:.0}", s.rows))
        })
        .collect();
    md += &format!("mean active rows at each x: {}\n", active.join(", "));
    lottery::io::write_atomic(&dir.join("summary.md"), md.as_bytes())?;
    lottery::io::write_json(&dir.join("config.json"), &cfg)?;
    eprintln!(
        "layer_recovery: {} rows in {:.1}s",
        rows.len(),
        start.elapsed().as_secs_f64()
    );
    println!("{}", dir.display());
    Ok(())
}
