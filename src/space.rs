//! The few vector operations that solvers need, implemented for ndarray vectors here and for a
//! network's masked parameters in the tch bridge.
//!
//! A solver written against [`SparseVector`] and [`Objective`] runs unchanged on an
//! `Array1<f64>` least-squares problem and on a network: the iterate is "whatever can be scored,
//! masked and updated", the objective is "whatever returns a value and a gradient in the same
//! space". The selection logic ([`crate::select`]) never sees the backend.

use ndarray::Array1;

use crate::select::{Budget, Mask, Rule, Scores};
use crate::Result;

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

/// Hard thresholding through a rule: keep the support `rule` selects from `x`'s own values,
/// zero the rest, and return the support. With [`crate::select::Largest`] and
/// `Budget::TopK(s)` this is $H_s$.
pub fn threshold<V: SparseVector, R: Rule>(x: &mut V, rule: &R, budget: &Budget) -> Result<Mask> {
    let mask = rule.select(&x.to_scores(), budget)?;
    x.apply_mask(&mask);
    Ok(mask)
}

/// One projected-gradient (IHT) step: $x \leftarrow \mathrm{select}(x - \eta g)$.
///
/// Shared by [`crate::solver::iht`] and the network trainers; returns the new support.
pub fn gradient_threshold_step<V: SparseVector, R: Rule>(
    x: &mut V,
    gradient: &V,
    step: f64,
    rule: &R,
    budget: &Budget,
) -> Result<Mask> {
    x.axpy(-step, gradient);
    threshold(x, rule, budget)
}

/// The vertex of the $k$-sparse polytope $\{\|x\|_\infty \le \tau, \|x\|_1 \le k\tau\}$ that
/// minimizes $\langle g, s\rangle$: $s = -\tau\,\mathrm{sign}(g)$ on the $k$ largest $|g_i|$.
/// With $k = 1$ it is the $\ell_1$-ball vertex, i.e. greedy selection by gradient.
pub fn sparse_polytope_vertex<V: SparseVector, R: Rule>(
    gradient: &V,
    tau: f64,
    rule: &R,
    budget: &Budget,
) -> Result<(V, Mask)> {
    let mask = rule.select(&gradient.to_scores(), budget)?;
    let mut s = gradient.clone();
    s.signum();
    s.apply_mask(&mask);
    s.scale(-tau);
    Ok((s, mask))
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
