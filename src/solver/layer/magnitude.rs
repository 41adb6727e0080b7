//! `magnitude`: keep the largest $|\bar w|$ under the budget, no update — the baseline every
//! layer's report compares with.

use ndarray::Array2;

use super::{kept_values, LayerProblem, NoSettings, Solve, SolverSettings, SolverSpec};
use crate::problem::FisherQuadratic;
use crate::Result;

/// The registry's entry.
pub const SPEC: SolverSpec = SolverSpec::new(
    "magnitude",
    "keep the largest |w| (per row, over the layer, or N of every M); no update",
    &Magnitude,
)
.with_n_of_m()
.with_fisher();

/// No settings.
pub type Settings = NoSettings;

struct Magnitude;

impl Solve for Magnitude {
    fn layer(&self, p: &LayerProblem) -> Result<Array2<f64>> {
        let keep = p.budget.keep_largest(p.center.view())?;
        Ok(kept_values(p.center, &keep))
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
