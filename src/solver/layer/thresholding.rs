//! `iht`, `niht`, `htp`, `cosamp`: the thresholding solvers on each row's Gram-form problem (or
//! on the Fisher objective), started from the magnitude support refit, with step $1/L$ for the
//! layer, $L = \lambda_{\max}(H)$ — so that every IHT and HTP step descends and the result is
//! never worse than that start (theory/layerwise.md (c)); at most `threshold_iterations` (100)
//! iterations: from the magnitude start the support settles within a few dozen when it settles
//! at all (CoSaMP can cycle on a correlated $H$). A layer budget is spread over the rows by the
//! magnitude ranking.

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use super::{from_magnitude, per_row_problem, LayerBudget, Solve, SolverSettings, SolverSpec};
use crate::problem::{FisherQuadratic, LayerGram, SmoothProblem};
use crate::solver::iht::{Cosamp, Htp, Iht, Niht, ThresholdParams};
use crate::solver::solve_quiet;
use crate::{Error, Result};

/// IHT.
pub const IHT: SolverSpec = SolverSpec {
    name: "iht",
    doc: "IHT from the magnitude support, step 1/L",
    n_of_m: false,
    fisher: true,
    solve: &Thresholding(Kind::Iht),
};

/// Normalized IHT.
pub const NIHT: SolverSpec = SolverSpec {
    name: "niht",
    doc: "normalized IHT from the magnitude support",
    n_of_m: false,
    fisher: true,
    solve: &Thresholding(Kind::Niht),
};

/// HTP.
pub const HTP: SolverSpec = SolverSpec {
    name: "htp",
    doc: "hard thresholding pursuit from the magnitude support (a refit per step)",
    n_of_m: false,
    fisher: true,
    solve: &Thresholding(Kind::Htp),
};

/// CoSaMP.
pub const COSAMP: SolverSpec = SolverSpec {
    name: "cosamp",
    doc: "CoSaMP from the magnitude support",
    n_of_m: false,
    fisher: true,
    solve: &Thresholding(Kind::Cosamp),
};

/// The thresholding solvers' settings (key `threshold_iterations`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Iterations at most (100).
    #[serde(rename = "threshold_iterations", skip_serializing_if = "is_default")]
    pub iterations: usize,
}

const ITERATIONS: usize = 100;

fn is_default(v: &usize) -> bool {
    *v == ITERATIONS
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            iterations: ITERATIONS,
        }
    }
}

impl Settings {
    /// The keys.
    pub const KEYS: &'static [&'static str] = &["threshold_iterations"];

    /// At least one iteration.
    pub fn check(&self) -> Result<()> {
        if self.iterations == 0 {
            return Err(Error::param("threshold_iterations", "must be >= 1"));
        }
        Ok(())
    }
}

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
    fn layer(
        &self,
        gram: &LayerGram,
        c: &Array2<f64>,
        budget: LayerBudget,
        settings: &SolverSettings,
    ) -> Result<Array2<f64>> {
        per_row_problem(gram, c, budget, |p, w, k, step| {
            self.run(p, w, k, step, &settings.thresholding)
        })
    }

    fn fisher(&self, q: &FisherQuadratic, k: usize, settings: &SolverSettings) -> Result<Array1<f64>> {
        let step = 1.0 / (1.01 * q.smoothness());
        self.run(q, q.center(), k, step, &settings.thresholding)
    }
}
