use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Distribution of the design's entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DesignKind {
    /// i.i.d. $\mathcal N(0, 1)$.
    Gaussian,
    /// i.i.d. $\pm 1$ with probability 1/2.
    Rademacher,
}

/// Scaling applied to the design after drawing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scaling {
    /// Entries as drawn: $\mathbb E\|a_j\|^2 = n$, so $\beta \approx 1$ for least squares.
    Raw,
    /// Entries divided by $\sqrt n$: $\mathbb E\|Ax\|^2 = \|x\|^2$ (the compressed-sensing scaling).
    InvSqrtN,
    /// Every column normalized to unit norm (OMP's coherence setting).
    UnitColumns,
}

/// Magnitudes of the planted signal's nonzeros (signs are always random).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Magnitudes {
    /// All equal to the value.
    Constant(f64),
    /// $|\mathcal N(0,1)|$.
    Gaussian,
    /// Uniform on $[lo, hi]$.
    Uniform(f64, f64),
}

/// Parameters of a planted sparse regression instance $y = A x^\star + \sigma \varepsilon$.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlantedParams {
    /// Samples.
    pub n: usize,
    /// Dimension.
    pub d: usize,
    /// Nonzeros of $x^\star$.
    pub k: usize,
    /// Entry distribution.
    pub design: DesignKind,
    /// Column scaling.
    pub scaling: Scaling,
    /// Nonzero magnitudes.
    pub magnitudes: Magnitudes,
    /// Noise standard deviation $\sigma$.
    pub noise: f64,
    /// Seed (ChaCha8).
    pub seed: u64,
}

impl Default for PlantedParams {
    /// $n = 100$, $d = 200$, $k = 5$, Gaussian design scaled by $1/\sqrt n$, unit magnitudes,
    /// no noise, seed 0.
    fn default() -> Self {
        PlantedParams {
            n: 100,
            d: 200,
            k: 5,
            design: DesignKind::Gaussian,
            scaling: Scaling::InvSqrtN,
            magnitudes: Magnitudes::Constant(1.0),
            noise: 0.0,
            seed: 0,
        }
    }
}

/// A planted instance: design, response, the planted signal and its support.
#[derive(Clone, Debug)]
pub struct Planted {
    /// $A$.
    pub a: Array2<f64>,
    /// $y = A x^\star + \sigma\varepsilon$ (least squares).
    pub y: Array1<f64>,
    /// $x^\star$.
    pub x_star: Array1<f64>,
    /// $\mathrm{supp}(x^\star)$, sorted.
    pub support: Vec<usize>,
}

impl PlantedParams {
    /// Draw the instance. Deterministic in `seed`.
    pub fn generate(&self) -> Result<Planted> {
        if self.n == 0 || self.d == 0 {
            return Err(Error::param("n, d", "must be positive"));
        }
        if self.k > self.d {
            return Err(Error::Budget {
                k: self.k,
                len: self.d,
            });
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(Error::param("noise", "must be finite and >= 0"));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut a = match self.design {
            DesignKind::Gaussian => {
                Array2::from_shape_simple_fn((self.n, self.d), || rng.sample(StandardNormal))
            }
            DesignKind::Rademacher => Array2::from_shape_simple_fn((self.n, self.d), || {
                if rng.gen::<bool>() {
                    1.0
                } else {
                    -1.0
                }
            }),
        };
        match self.scaling {
            Scaling::Raw => {}
            Scaling::InvSqrtN => a /= (self.n as f64).sqrt(),
            Scaling::UnitColumns => {
                for mut col in a.columns_mut() {
                    let norm = col.dot(&col).sqrt();
                    if norm > 0.0 {
                        col /= norm;
                    }
                }
            }
        }
        let mut support: Vec<usize> = rand::seq::index::sample(&mut rng, self.d, self.k).into_vec();
        support.sort_unstable();
        let mut x_star = Array1::zeros(self.d);
        for &j in &support {
            let mag = match self.magnitudes {
                Magnitudes::Constant(c) => c,
                Magnitudes::Gaussian => rng.sample::<f64, _>(StandardNormal).abs(),
                Magnitudes::Uniform(lo, hi) => rng.gen_range(lo..=hi),
            };
            x_star[j] = if rng.gen::<bool>() { mag } else { -mag };
        }
        let mut y = a.dot(&x_star);
        if self.noise > 0.0 {
            for v in y.iter_mut() {
                *v += self.noise * rng.sample::<f64, _>(StandardNormal);
            }
        }
        Ok(Planted {
            a,
            y,
            x_star,
            support,
        })
    }
}

impl Planted {
    /// Labels $\mathrm{sign}(y_i)$ (ties to $+1$) for a logistic-regression instance.
    pub fn labels(&self) -> Array1<f64> {
        self.y.mapv(|v| if v >= 0.0 { 1.0 } else { -1.0 })
    }
}
