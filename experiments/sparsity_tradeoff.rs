//! Accuracy against sparsity (SSZ 2010): least-squares objective at each support size for
//! forward greedy, FCFGS, FoBa, IHT and Maurey sparsification of the ℓ1 solution.
//!
//! `cargo run --release --bin sparsity_tradeoff [-- --paper] [--out results]`
//! writes `results/sparsity_tradeoff/{tradeoff.csv, tradeoff.svg, tradeoff.png, config.json}`.

use clap::Parser;
use lottery_experiments::plot::{figure, Panel, Series};
use lottery_experiments::{tradeoff, write_rows, ExperimentArgs};

#[derive(Parser)]
#[command(about = "Objective against support size for greedy, IHT and Maurey sparsification")]
struct Args {
    #[command(flatten)]
    common: ExperimentArgs,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse().common;
    let mut cfg = args.size(tradeoff::Config::paper_size, tradeoff::Config::default_size);
    cfg.instance.seed = args.seed;
    let dir = args.prepare("sparsity_tradeoff")?;
    let rows = tradeoff::run(&cfg)?;
    write_rows(&dir.join("tradeoff.csv"), &rows)?;
    let mut methods: Vec<String> = rows.iter().map(|r| r.method.clone()).collect();
    methods.dedup();
    let series = methods
        .iter()
        .filter(|m| !m.contains("dense"))
        .map(|m| {
            let pts: Vec<_> = rows.iter().filter(|r| &r.method == m).collect();
            let mut s = Series::line(
                m.clone(),
                pts.iter().map(|r| (r.nnz as f64, r.objective)).collect(),
            );
            if pts.iter().any(|r| r.std > 0.0) {
                s.err = Some(pts.iter().map(|r| r.std).collect());
            }
            s
        })
        .collect();
    let panel = Panel {
        title: "Accuracy vs sparsity (least squares, compressible signal)".into(),
        x_label: "nonzeros".into(),
        y_label: "f(x) = ‖Ax − y‖²/(2n)".into(),
        log_x: false,
        log_y: true,
        series,
        cells: vec![],
        legend_lower: false,
    };
    figure(&dir.join("tradeoff"), &[panel], 1)?;
    lottery::io::write_json(&dir.join("config.json"), &cfg)?;
    println!("{}", dir.display());
    Ok(())
}
