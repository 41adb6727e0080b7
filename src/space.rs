//! The few vector operations that solvers need, implemented for ndarray vectors here and for a
//! network's masked parameters in the tch bridge.
//!
//! A step written against [`SparseVector`] and [`Objective`] runs unchanged on an
//! `Array1<f64>` least-squares problem and on a network: the iterate is "whatever can be scored,
//! masked and updated", the objective is "whatever returns a value and a gradient in the same
//! space". The selection logic ([`crate::select`]) never sees the backend; the steps themselves
//! live in [`crate::solver::step`].
//!
//! ```
//! use lottery::space::SparseVector;
//! use ndarray::array;
//! let mut x = array![3.0_f64, -4.0, 0.0];
//! assert_eq!(x.group_sizes(), vec![3]);
//! assert_eq!(x.norm_sq(), 25.0);
//! SparseVector::signum(&mut x); // (ndarray has an inherent `signum` that returns a copy)
//! assert_eq!(x, array![1.0, -1.0, 0.0]);
//! ```

use ndarray::Array1;

use crate::select::{Mask, Scores};

/// A point of a parameter space, split into groups, that can be scored, masked and updated.
pub trait SparseVector: Clone {
    /// Sizes of the groups (one group for a flat vector; one per prunable tensor for a network).
    fn group_sizes(&self) -> Vec<usize>;

    /// Total number of coordinates.
    fn len(&self) -> usize {
        self.group_sizes().iter().sum()
    }

    /// Whether the space has no coordinate.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The coordinates as f64 scores, grouped as [`SparseVector::group_sizes`].
    fn to_scores(&self) -> Scores;

    /// `self += alpha * x`.
    fn axpy(&mut self, alpha: f64, x: &Self);

    /// `self *= alpha`.
    fn scale(&mut self, alpha: f64);

    /// Euclidean inner product.
    fn dot(&self, other: &Self) -> f64;

    /// Zero every coordinate outside `mask`.
    fn apply_mask(&mut self, mask: &Mask);

    /// Replace every coordinate by its sign (−1, 0 or 1).
    fn signum(&mut self);

    /// Squared Euclidean norm.
    fn norm_sq(&self) -> f64 {
        self.dot(self)
    }

    /// Multiply group `g` by `alphas[g]`.
    fn scale_groups(&mut self, alphas: &[f64]);

    /// $\ell_1$ norm of each group.
    fn group_l1(&self) -> Vec<f64>;

    /// $x_i \leftarrow x_i \exp(\alpha_g\,\mathrm{sign}(x_i)\,g_i)$ for $i$ in group $g$: the
    /// exponentiated-gradient factor on magnitudes with signs kept (zeros stay zero).
    fn mul_exp_signed(&mut self, alphas: &[f64], gradient: &Self);
}

/// A differentiable objective on a space `V`.
pub trait Objective<V> {
    /// $f(x)$.
    fn value(&self, x: &V) -> f64;

    /// $\nabla f(x)$.
    fn gradient(&self, x: &V) -> V;

    /// Both at once (implementations share the residual).
    fn value_and_gradient(&self, x: &V) -> (f64, V) {
        (self.value(x), self.gradient(x))
    }
}

macro_rules! impl_sparse_vector_for_array1 {
    ($t:ty) => {
        impl SparseVector for Array1<$t> {
            fn group_sizes(&self) -> Vec<usize> {
                vec![self.len()]
            }
            fn len(&self) -> usize {
                self.dim()
            }
            fn to_scores(&self) -> Scores {
                Scores::flat(self.iter().map(|&v| f64::from(v)).collect())
            }
            fn axpy(&mut self, alpha: f64, x: &Self) {
                self.scaled_add(alpha as $t, x);
            }
            fn scale(&mut self, alpha: f64) {
                *self *= alpha as $t;
            }
            fn dot(&self, other: &Self) -> f64 {
                f64::from(ndarray::Array1::<$t>::dot(self, other))
            }
            fn apply_mask(&mut self, mask: &Mask) {
                for (i, v) in self.iter_mut().enumerate() {
                    if !mask.contains(i) {
                        *v = 0.0;
                    }
                }
            }
            fn scale_groups(&mut self, alphas: &[f64]) {
                *self *= alphas[0] as $t;
            }
            fn group_l1(&self) -> Vec<f64> {
                vec![self.iter().map(|v| f64::from(v.abs())).sum()]
            }
            fn mul_exp_signed(&mut self, alphas: &[f64], gradient: &Self) {
                let a = alphas[0];
                for (x, g) in self.iter_mut().zip(gradient) {
                    let sign = if *x > 0.0 {
                        1.0
                    } else if *x < 0.0 {
                        -1.0
                    } else {
                        0.0
                    };
                    *x *= (a * sign * f64::from(*g)).exp() as $t;
                }
            }
            fn signum(&mut self) {
                self.mapv_inplace(|v| {
                    if v > 0.0 {
                        1.0
                    } else if v < 0.0 {
                        -1.0
                    } else {
                        0.0
                    }
                });
            }
        }
    };
}

impl_sparse_vector_for_array1!(f64);
impl_sparse_vector_for_array1!(f32);
