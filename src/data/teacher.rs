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

    /// Outputs (logits) of a batch of inputs (rows): one matrix product per layer.
    pub fn outputs(&self, x: &Array2<f32>) -> Array2<f32> {
        let mut h = x.clone();
        let last = self.weights.len() - 1;
        for (l, (w, b)) in self.weights.iter().zip(&self.biases).enumerate() {
            h = h.dot(&w.t()) + b;
            if l < last {
                h.mapv_inplace(|v| v.max(0.0));
            }
        }
        h
    }

    /// `n` fresh $\mathcal N(0, I)$ inputs from `rng` and their targets: the argmax of the
    /// outputs (`regression = false`) or the outputs themselves, with
    /// $\mathcal N(0, \text{noise}^2)$ added to every output first when `noise > 0`.
    pub fn draw(
        &self,
        rng: &mut ChaCha8Rng,
        n: usize,
        regression: bool,
        noise: f64,
    ) -> Result<Dataset> {
        let d = self.weights[0].ncols();
        let x =
            Array2::from_shape_simple_fn((n, d), || rng.sample::<f64, _>(StandardNormal) as f32);
        let mut h = self.outputs(&x);
        if noise > 0.0 {
            h.mapv_inplace(|v| v + (noise * rng.sample::<f64, _>(StandardNormal)) as f32);
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
        let classes = h.ncols();
        let set = Dataset::new(x.into_raw_vec_and_offset().0, y, [1, 1, d], classes)?;
        if regression {
            set.with_targets(h.into_raw_vec_and_offset().0)
        } else {
            Ok(set)
        }
    }
}

/// How the samples of a planted teacher are drawn: sizes, targets, noise, seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Sampling {
    /// Training samples (the validation split is taken from these).
    pub n_train: usize,
    /// Test samples (always noiseless).
    pub n_test: usize,
    /// Targets are the teacher's outputs (regression; logit matching) rather than their argmax.
    pub regression: bool,
    /// Standard deviation of the Gaussian noise added to the training outputs.
    pub noise: f64,
    /// Seed of the inputs and the noise.
    pub seed: u64,
}

impl Sampling {
    /// Training and test sets of `teacher`.
    pub fn sample(&self, teacher: &Teacher) -> Result<(Dataset, Dataset)> {
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(crate::Error::param(
                "teacher_noise",
                format!("{} must be >= 0", self.noise),
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let train = teacher.draw(&mut rng, self.n_train, self.regression, self.noise)?;
        let test = teacher.draw(&mut rng, self.n_test, self.regression, 0.0)?;
        Ok((train, test))
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
        let train = teacher.draw(&mut rng, self.n_train, false, 0.0)?;
        let test = teacher.draw(&mut rng, self.n_test, false, 0.0)?;
        Ok((train, test, teacher))
    }
}

/// An identifiable planted teacher (issue 13): a narrow ReLU network whose support *can* be
/// recovered from data, unlike [`TeacherParams`]'s wide random one.
///
/// - Input: $d$ coordinates, of which the first `relevant` ($q$) are read at all.
/// - First hidden layer: `hidden[0]` units, each reading exactly `fan_in[0]` ($s$) of the $q$
///   relevant inputs (a uniformly random subset per unit), every input of the $q$ read by some
///   unit when $\text{units}\cdot s \ge q$ (the subsets are dealt round-robin first).
/// - A second hidden layer (optional): each unit reads exactly `fan_in[1]` units of the first,
///   every first-layer unit read by some second-layer unit (so every unit has fan-out).
/// - Output: every last-hidden unit connects to every output (dense), weights of magnitude in
///   $[0.5, 1.5]$ with random signs — bounded away from zero, so no hidden unit is silent.
/// - Incoming weights of hidden units: magnitudes uniform in $[0.5, 1.5]$ times $1/\sqrt{s}$,
///   random signs (bounded away from zero, so every planted weight is identifiable); biases 0.
///
/// Inputs are $\mathcal N(0, I_d)$; the planted mask is the nonzero pattern.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NarrowTeacherParams {
    /// Input dimension $d$.
    pub input: usize,
    /// Relevant inputs $q \le d$ (the first $q$ coordinates).
    pub relevant: usize,
    /// Hidden widths (one or two layers).
    pub hidden: Vec<usize>,
    /// Fan-in of each hidden layer's units ($s$ of the first; of the second, if any).
    pub fan_in: Vec<usize>,
    /// Outputs.
    pub outputs: usize,
    /// Seed.
    pub seed: u64,
}

impl Default for NarrowTeacherParams {
    /// $d = 200$ inputs, $q = 40$ relevant, 16 hidden units of fan-in 8, 10 outputs.
    fn default() -> Self {
        NarrowTeacherParams {
            input: 200,
            relevant: 40,
            hidden: vec![16],
            fan_in: vec![8],
            outputs: 10,
            seed: 0,
        }
    }
}

impl NarrowTeacherParams {
    /// Checks the shape: 1 or 2 hidden layers with a fan-in each, $s \le q \le d$, and a second
    /// layer's fan-in at most the first layer's width.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(crate::Error::param("teacher", reason));
        if self.hidden.is_empty() || self.hidden.len() > 2 || self.fan_in.len() != self.hidden.len()
        {
            return bad(format!(
                "1 or 2 hidden layers with one fan-in each, got widths {:?} and fan-ins {:?}",
                self.hidden, self.fan_in
            ));
        }
        if self.relevant == 0 || self.relevant > self.input || self.outputs == 0 {
            return bad(format!(
                "need 1 <= relevant ({}) <= input ({}) and outputs >= 1",
                self.relevant, self.input
            ));
        }
        let below = [self.relevant, self.hidden[0]];
        for (l, (&w, &s)) in self.hidden.iter().zip(&self.fan_in).enumerate() {
            if w == 0 || s == 0 || s > below[l] {
                return bad(format!(
                    "hidden layer {l}: width {w} and fan-in {s} (at most {})",
                    below[l]
                ));
            }
        }
        Ok(())
    }

    /// Draw the planted network.
    pub fn generate(&self) -> Result<Teacher> {
        use rand::seq::SliceRandom;
        self.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut widths = vec![self.input];
        widths.extend(&self.hidden);
        widths.push(self.outputs);
        let mut weights = Vec::new();
        for l in 0..widths.len() - 1 {
            let (fan_in, fan_out) = (widths[l], widths[l + 1]);
            let mut w = Array2::<f32>::zeros((fan_out, fan_in));
            let magnitude = |scale: f64, rng: &mut ChaCha8Rng| -> f32 {
                let m = rng.gen_range(0.5..1.5) * scale;
                (if rng.gen::<bool>() { m } else { -m }) as f32
            };
            if l + 1 == widths.len() - 1 {
                // Output layer: dense.
                for v in w.iter_mut() {
                    *v = magnitude(1.0, &mut rng);
                }
            } else {
                // Units read exactly s of the `pool` units below; the pool is dealt round-robin
                // first so that every one of them is read.
                let pool = if l == 0 { self.relevant } else { fan_in };
                let s = self.fan_in[l];
                let scale = 1.0 / (s as f64).sqrt();
                let mut deal: Vec<usize> = (0..pool).collect();
                deal.shuffle(&mut rng);
                for u in 0..fan_out {
                    let mut read: Vec<usize> = Vec::with_capacity(s);
                    // Round-robin share first, then random others.
                    for (r, &i) in deal.iter().enumerate() {
                        if r % fan_out == u && read.len() < s {
                            read.push(i);
                        }
                    }
                    let mut others: Vec<usize> = (0..pool).filter(|i| !read.contains(i)).collect();
                    others.shuffle(&mut rng);
                    read.extend(others.into_iter().take(s - read.len()));
                    for i in read {
                        w[[u, i]] = magnitude(scale, &mut rng);
                    }
                }
            }
            weights.push(w);
        }
        let sizes: Vec<usize> = weights.iter().map(|w| w.len()).collect();
        let bytes: Vec<u8> = weights
            .iter()
            .flat_map(|w| w.iter().map(|&v| u8::from(v != 0.0)))
            .collect();
        let mask = Mask::from_bytes(&bytes, &sizes)?;
        let biases = widths[1..].iter().map(|&w| Array1::zeros(w)).collect();
        Ok(Teacher {
            weights,
            biases,
            mask,
        })
    }
}
