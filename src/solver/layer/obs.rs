//! `obs`: Optimal Brain Surgeon backward elimination ([`crate::solver::greedy::ObsRow`]) on each
//! row down to its budget; a layer budget by OBC's joint rule (every row's elimination costs,
//! the $P$ cheapest over the layer; Frantar, Singh & Alistarh 2022); N:M by eliminating only in
//! groups with more than $N$ left (theory/obs.md).

use ndarray::{Array1, Array2};
use rayon::prelude::*;

use super::{
    by_rows, refit_quadratic, stack_rows, LayerBudget, LayerProblem, NoSettings, Solve, SolverSpec,
};
use crate::problem::LayerGram;
use crate::solver::greedy::ObsRow;
use crate::{Error, Result};

/// The registry's entry.
pub const SPEC: SolverSpec = SolverSpec::new(
    "obs",
    "Optimal Brain Surgeon elimination per row (OBC's joint rule for a layer budget)",
    &ObsSolver,
)
.with_n_of_m();

/// No settings.
pub type Settings = NoSettings;

struct ObsSolver;

impl Solve for ObsSolver {
    fn layer(&self, p: &LayerProblem) -> Result<Array2<f64>> {
        let (gram, c) = (p.gram, p.center);
        let d = c.ncols();
        match p.budget {
            LayerBudget::Layer(k) => obc_layer(gram, c, k),
            LayerBudget::Row(k) => {
                let hinv = gram.inverse()?;
                by_rows(c, |w| obs_row(&hinv, w, k, |_: &ObsRow, _| true))
            }
            LayerBudget::NM { n, m } => {
                let hinv = gram.inverse()?;
                let k = d / m * n;
                by_rows(c, |w| {
                    obs_row(&hinv, w, k, |row: &ObsRow, q| {
                        let g = q / m;
                        (g * m..(g + 1) * m).filter(|&j| row.is_active(j)).count() > n
                    })
                })
            }
            other => Err(Error::Unsupported(format!("{other:?} for obs"))),
        }
    }
}

/// OBS on one row down to `k` active weights, eliminating only where `allowed`.
fn obs_row(
    hinv: &Array2<f64>,
    w: Array1<f64>,
    k: usize,
    allowed: impl Fn(&ObsRow, usize) -> bool,
) -> Result<Array1<f64>> {
    let mut row = ObsRow::new(w, hinv.clone());
    while row.n_active() > k {
        let Some(q) = row.best(|q| allowed(&row, q)) else {
            return Err(Error::Numerical(
                "OBS found no coordinate it may remove before meeting the budget".into(),
            ));
        };
        row.eliminate(q);
    }
    Ok(row.w)
}

/// OBC's joint layer budget: each row's full elimination sequence and its costs; the
/// $P = \text{rows}\cdot d - K$ cheapest steps over the layer decide how many each row takes;
/// each row is then the minimizer of its quadratic on the support OBS reached (theory/obs.md
/// (a): every OBS iterate is that minimizer), computed by one solve.
fn obc_layer(gram: &LayerGram, c: &Array2<f64>, k_layer: usize) -> Result<Array2<f64>> {
    let (rows, d) = c.dim();
    let hinv = gram.inverse()?;
    let traces: Vec<(Vec<usize>, Vec<f64>)> = (0..rows)
        .into_par_iter()
        .map(|r| {
            let mut row = ObsRow::new(c.row(r).to_owned(), hinv.clone());
            let mut order = Vec::with_capacity(d);
            let mut costs = Vec::with_capacity(d);
            while let Some(q) = row.best(|_| true) {
                costs.push(row.eliminate(q));
                order.push(q);
            }
            (order, costs)
        })
        .collect();
    let prune = rows * d - k_layer;
    let mut steps: Vec<(f64, usize, usize)> = traces
        .iter()
        .enumerate()
        .flat_map(|(r, (_, costs))| costs.iter().enumerate().map(move |(i, &v)| (v, r, i)))
        .collect();
    steps.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut per_row = vec![0usize; rows];
    for &(_, r, _) in &steps[..prune] {
        per_row[r] += 1;
    }
    let out: Vec<Result<Array1<f64>>> = (0..rows)
        .into_par_iter()
        .map(|r| {
            let removed = &traces[r].0[..per_row[r]];
            let support: Vec<usize> = (0..d).filter(|q| !removed.contains(q)).collect();
            refit_quadratic(gram.h(), c.row(r).to_owned(), &support)
        })
        .collect();
    stack_rows(out, d)
}
