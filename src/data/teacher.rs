//! A planted sparse teacher: a random ReLU MLP whose weights are masked to a known sparse
//! support labels Gaussian inputs. A ticket found on this data can be compared with the planted
//! support (overlap), as support recovery is in the convex layer.
//!
//! The masks are drawn with [`crate::select::Random`] under a per-layer density budget: the same
//! selection layer the solvers and pruning methods use.

use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::Dataset;
use crate::select::{Budget, Mask, Random, Rule, Scores};
use crate::Result;

/// Shape and size of the teacher problem.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TeacherParams {
    /// Input dimension (inputs are $\mathcal N(0, I)$).
    pub input: usize,
    /// Hidden widths.
    pub hidden: Vec<usize>,
    /// Classes (output width).
    pub classes: usize,
    /// Fraction of each layer's weights that are nonzero.
    pub density: f64,
    /// Training samples.
    pub n_train: usize,
    /// Test samples.
    pub n_test: usize,
    /// Seed.
    pub seed: u64,
}

impl Default for TeacherParams {
    /// 784 inputs (LeNet-sized), hidden 300-100, 10 classes, 10% density, 20000/5000 samples.
    fn default() -> Self {
        TeacherParams {
            input: 784,
            hidden: vec![300, 100],
            classes: 10,
            density: 0.1,
            n_train: 20000,
            n_test: 5000,
            seed: 0,
        }
    }
}

/// The planted network: per layer a weight matrix (out × in, zero off the mask), a bias and the
/// mask itself.
#[derive(Clone, Debug)]
pub struct Teacher {
    /// Weights, out × in.
    pub weights: Vec<Array2<f32>>,
    /// Biases.
    pub biases: Vec<Array1<f32>>,
    /// The planted support: one group per layer, row-major like the weights.
    pub mask: Mask,
}

impl Teacher {
    /// Logits for one input.
    pub fn forward(&self, x: &[f32]) -> Array1<f32> {
        let mut h = Array1::from(x.to_vec());
        let last = self.weights.len() - 1;
        for (l, (w, b)) in self.weights.iter().zip(&self.biases).enumerate() {
            h = w.dot(&h) + b;
            if l < last {
                h.mapv_inplace(|v| v.max(0.0));
            }
        }
        h
    }
}

impl TeacherParams {
    /// Draw the teacher, then label `n_train + n_test` Gaussian inputs by its argmax.
    pub fn generate(&self) -> Result<(Dataset, Dataset, Teacher)> {
        crate::check_positive("density", self.density)?;
        if self.density > 1.0 {
            return Err(crate::Error::param("density", "must be at most 1"));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut widths = vec![self.input];
        widths.extend(&self.hidden);
        widths.push(self.classes);
        let sizes: Vec<usize> = widths.windows(2).map(|w| w[0] * w[1]).collect();
        let mask = Random { seed: rng.gen() }.select(
            &Scores::from_parts(vec![0.0; sizes.iter().sum()], &sizes)?,
            &Budget::PerGroupDensity(vec![self.density; sizes.len()]),
        )?;
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        for (l, w) in widths.windows(2).enumerate() {
            let (fan_in, fan_out) = (w[0], w[1]);
            // Variance 2/(density · fan_in): He scaling for the surviving inputs.
            let scale = (2.0 / (self.density * fan_in as f64)).sqrt();
            let start = mask.group_range(l).start;
            let m = Array2::from_shape_fn((fan_out, fan_in), |(o, i)| {
                let v: f64 = rng.sample(StandardNormal);
                if mask.contains(start + o * fan_in + i) {
                    (v * scale) as f32
                } else {
                    0.0
                }
            });
            weights.push(m);
            biases.push(Array1::zeros(fan_out));
        }
        let teacher = Teacher {
            weights,
            biases,
            mask,
        };
        let mut draw = |n: usize| -> Result<Dataset> {
            let x = Array2::from_shape_simple_fn((n, self.input), || {
                rng.sample::<f64, _>(StandardNormal) as f32
            });
            // Batched forward pass: one matrix product per layer.
            let mut h = x.clone();
            let last = teacher.weights.len() - 1;
            for (l, (w, b)) in teacher.weights.iter().zip(&teacher.biases).enumerate() {
                h = h.dot(&w.t()) + b;
                if l < last {
                    h.mapv_inplace(|v| v.max(0.0));
                }
            }
            let y = h
                .rows()
                .into_iter()
                .map(|logits| {
                    (0..logits.len())
                        .max_by(|&a, &b| logits[a].total_cmp(&logits[b]).then(b.cmp(&a)))
                        .unwrap_or(0) as u8
                })
                .collect();
            Dataset::new(
                x.into_raw_vec_and_offset().0,
                y,
                [1, 1, self.input],
                self.classes,
            )
        };
        let train = draw(self.n_train)?;
        let test = draw(self.n_test)?;
        Ok((train, test, teacher))
    }
}
