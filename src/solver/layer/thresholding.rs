//! `iht`, `niht`, `htp`, `cosamp`: the thresholding solvers on each row's Gram-form problem (or
//! on the Fisher objective), started from the magnitude support refit, with step $1/L$ for the
//! layer, $L = \lambda_{\max}(H)$ — so that every IHT and HTP step descends and the result is
//! never worse than that start (theory/layerwise.md (c)); at most `threshold_iterations` (100)
//! iterations: from the magnitude start the support settles within a few dozen when it settles
//! at all (CoSaMP can cycle on a correlated $H$). A layer budget is spread over the rows by the
//! magnitude ranking.

use ndarray::{Array1, Array2};
use super::{from_magnitude, per_row_problem, LayerProblem, Solve, SolverSettings, SolverSpec};
use crate::problem::{FisherQuadratic, SmoothProblem};
use crate::solver::iht::{Cosamp, Htp, Iht, Niht, ThresholdParams};
use crate::solver::solve_quiet;
use crate::Result;

/// IHT.
pub const IHT: SolverSpec = SolverSpec::new(
    "iht",
    "IHT from the magnitude support, step 1/L",
    &Thresholding(Kind::Iht),
)
.with_fisher();

/// Normalized IHT.
pub const NIHT: SolverSpec = SolverSpec::new(
    "niht",
    "normalized IHT from the magnitude support",
    &Thresholding(Kind::Niht),
)
.with_fisher();

/// HTP.
pub const HTP: SolverSpec = SolverSpec::new(
    "htp",
    "hard thresholding pursuit from the magnitude support (a refit per step)",
    &Thresholding(Kind::Htp),
)
.with_fisher();

/// CoSaMP.
pub const COSAMP: SolverSpec = SolverSpec::new(
    "cosamp",
    "CoSaMP from the magnitude support",
    &Thresholding(Kind::Cosamp),
)
.with_fisher();

super::count_settings!(
    "The thresholding solvers' settings (key `threshold_iterations`: iterations at most, 100).",
    "threshold_iterations",
    iterations = 100
);

#[derive(Clone, Copy, Debug)]
enum Kind {
    Iht,
    Niht,
    Htp,
    Cosamp,
}

struct Thresholding(Kind);

impl Thresholding {
    fn run<P: SmoothProblem>(
        &self,
        p: &P,
        w: &Array1<f64>,
        k: usize,
        step: f64,
        settings: &Settings,
    ) -> Result<Array1<f64>> {
        let params = ThresholdParams {
            warm: Some(from_magnitude(p, w, k)?),
            step: Some(step),
            max_iters: settings.iterations,
            ..ThresholdParams::new(k)
        };
        Ok(match self.0 {
            Kind::Iht => solve_quiet(&Iht::new(params)?, p)?.x,
            Kind::Niht => solve_quiet(&Niht::new(params)?, p)?.x,
            Kind::Htp => solve_quiet(&Htp::new(params)?, p)?.x,
            Kind::Cosamp => solve_quiet(&Cosamp::new(params)?, p)?.x,
        })
    }
}

impl Solve for Thresholding {
    fn layer(&self, p: &LayerProblem) -> Result<Array2<f64>> {
        per_row_problem(p, |row, w, k, step| {
            self.run(row, w, k, step, &p.settings.thresholding)
        })
    }

    fn fisher(&self, q: &FisherQuadratic, k: usize, settings: &SolverSettings) -> Result<Array1<f64>> {
        let step = 1.0 / (1.01 * q.smoothness());
        self.run(q, q.center(), k, step, &settings.thresholding)
    }
}
