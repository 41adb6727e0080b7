//! Measured $f(x_t) - f^\star$ against each theorem's bound, log–log: Frank-Wolfe, away/pairwise
//! FW, entropic mirror descent, FCFGS.
//!
//! `cargo run --release --bin rates [-- --paper] [--out results]`
//! writes `results/rates/{rates.csv, rates.svg, rates.png, config.json}`.

use clap::Parser;
use lottery_experiments::plot::{figure, Panel, Series};
use lottery_experiments::{rates, write_rows, ExperimentArgs};

#[derive(Parser)]
#[command(about = "Measured f(x_t) − f* against the Frank-Wolfe, mirror-descent and FCFGS bounds")]
struct Args {
    #[command(flatten)]
    common: ExperimentArgs,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse().common;
    let mut cfg = args.size(rates::Config::paper_size, rates::Config::default_size);
    cfg.seed = args.seed;
    let dir = args.prepare("rates")?;
    let rows = rates::run(&cfg)?;
    write_rows(&dir.join("rates.csv"), &rows)?;
    let pick = |m: &str| rows.iter().filter(|r| r.method == m).collect::<Vec<_>>();
    let measured = |m: &str| {
        Series::line(
            m,
            pick(m).iter().map(|r| (r.t as f64, r.measured)).collect(),
        )
    };
    let bound = |m: &str, label: &str| {
        Series::bound(
            label,
            pick(m)
                .iter()
                .filter_map(|r| r.bound.map(|b| (r.t as f64, b)))
                .collect(),
        )
    };
    let panels = vec![
        Panel {
            title: "Frank-Wolfe on the ℓ1 ball".into(),
            x_label: "iteration t".into(),
            y_label: "f(x_t) − f*".into(),
            log_x: true,
            log_y: true,
            series: vec![
                measured("FW 2/(t+2)"),
                measured("FW line search"),
                measured("away-step FW"),
                measured("pairwise FW"),
                bound("FW 2/(t+2)", "2 C_f/(t+2)"),
            ],
            cells: vec![],
            legend_lower: false,
        },
        Panel {
            title: "Entropic mirror descent (ℓ1 ball, doubling)".into(),
            x_label: "horizon T".into(),
            y_label: "f(x̄_T) − f*".into(),
            log_x: true,
            log_y: true,
            series: vec![
                measured("entropic MD"),
                bound("entropic MD", "τ L∞ √(2 ln 2d / T)"),
            ],
            cells: vec![],
            legend_lower: false,
        },
        Panel {
            title: "FCFGS against w̄ = x*".into(),
            x_label: "atoms k".into(),
            y_label: "f(w_k) − f(w̄)".into(),
            log_x: true,
            log_y: true,
            series: vec![measured("FCFGS"), bound("FCFGS", "2β‖w̄‖₁²/k")],
            cells: vec![],
            legend_lower: false,
        },
    ];
    figure(&dir.join("rates"), &panels, 3)?;
    lottery::io::write_json(&dir.join("config.json"), &cfg)?;
    println!("{}", dir.display());
    Ok(())
}
