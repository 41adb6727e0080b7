//! `wanda`: Wanda (Sun, Liu, Bair & Kolter, ICLR 2024) — keep the weights of largest
//! $\lvert W_{ij}\rvert \cdot \lVert X_j\rVert_2$, the weight's magnitude times its input's norm
//! over the calibration samples, with no update. Its own comparison group is the output row
//! (`--budget row`, the paper's); under a `layer` budget the scores are compared over the whole
//! layer, and under `N:M` within each run of $M$ inputs (the paper's 2:4 and 4:8). The norms
//! come from the layer's quadratic: $\lVert X_j\rVert_2 = \sqrt{n\,(H_{jj} - \lambda)}$ with $H$
//! the damped $X^\top X/n$, so the damping does not enter the score ($\sqrt n$ is common to every
//! score and dropped); a dead input scores zero.
//!
//! # References
//! - M. Sun, Z. Liu, A. Bair, J. Z. Kolter. A simple and effective pruning approach for large
//!   language models. ICLR 2024.

use ndarray::Array2;

use super::{kept_values, LayerProblem, NoSettings, Solve, SolverSpec};
use crate::Result;

/// The registry's entry.
pub const SPEC: SolverSpec = SolverSpec::new(
    "wanda",
    "Wanda: keep the largest |w| x input norm (per row, over the layer, or N of every M); no update",
    &Wanda,
)
.with_n_of_m();

/// No settings.
pub type Settings = NoSettings;

struct Wanda;

impl Solve for Wanda {
    fn layer(&self, p: &LayerProblem) -> Result<Array2<f64>> {
        let (h, c) = (p.gram.h(), p.center);
        let dead = p.gram.dead();
        let norms: Vec<f64> = (0..h.nrows())
            .map(|j| {
                if dead.contains(&j) {
                    0.0
                } else {
                    (h[[j, j]] - p.gram.lambda()).max(0.0).sqrt()
                }
            })
            .collect();
        let scores = Array2::from_shape_fn(c.dim(), |(r, j)| c[[r, j]].abs() * norms[j]);
        let keep = p.budget.keep_largest(scores.view())?;
        Ok(kept_values(c, &keep))
    }
}
