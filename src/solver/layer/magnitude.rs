//! `magnitude`: keep the largest $|\bar w|$ under the budget, no update — the baseline every
//! layer's report compares with.

use ndarray::Array2;

use super::{LayerBudget, NoSettings, Solve, SolverSettings, SolverSpec};
use crate::problem::{FisherQuadratic, LayerGram};
use crate::Result;

/// The registry's entry.
pub const SPEC: SolverSpec = SolverSpec {
    name: "magnitude",
    doc: "keep the largest |w| (per row, over the layer, or N of every M); no update",
    n_of_m: true,
    fisher: true,
    solve: &Magnitude,
};

/// No settings.
pub type Settings = NoSettings;

struct Magnitude;

impl Solve for Magnitude {
    fn layer(
        &self,
        _gram: &LayerGram,
        c: &Array2<f64>,
        budget: LayerBudget,
        _settings: &SolverSettings,
    ) -> Result<Array2<f64>> {
        let keep = budget.keep_largest(c.view())?;
        Ok(Array2::from_shape_fn(c.dim(), |(r, q)| {
            if keep[[r, q]] {
                c[[r, q]]
            } else {
                0.0
            }
        }))
    }

    fn fisher(
        &self,
        q: &FisherQuadratic,
        k: usize,
        _settings: &SolverSettings,
    ) -> Result<ndarray::Array1<f64>> {
        let w = q.center();
        let mut out = ndarray::Array1::zeros(w.len());
        for j in crate::select::top_k(w.as_slice().expect("owned"), k) {
            out[j] = w[j];
        }
        Ok(out)
    }
}
