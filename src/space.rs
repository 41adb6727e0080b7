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

    /// Multiply group `g` by `alphas[g]`.
    fn scale_groups(&mut self, alphas: &[f64]);

    /// $\ell_1$ norm of each group.
    fn group_l1(&self) -> Vec<f64>;

    /// $x_i \leftarrow x_i \exp(\alpha_g\,\mathrm{sign}(x_i)\,g_i)$ for $i$ in group $g$: the
    /// exponentiated-gradient factor on magnitudes with signs kept (zeros stay zero).
    fn mul_exp_signed(&mut self, alphas: &[f64], gradient: &Self);
}

/// One entropic mirror-descent step on the product of scaled, sign-fixed $\ell_1$ spheres
/// $\{x : \mathrm{sign}(x) = \sigma,\ \|x_g\|_1 = r_g\}$: with $u = |x|$ on group $g$,
/// $u \leftarrow r_g\, u \odot e^{-\eta_g \sigma\odot\nabla f} / \|u \odot e^{-\eta_g \sigma\odot\nabla f}\|_1$.
///
/// On a nonnegative vector with one group and $r = 1$ this is the exponentiated-gradient step on
/// the simplex ([`crate::solver::mirror`]); on a network it is the entropic trainer of
/// `lottery prune md`, one sphere per layer.
pub fn entropic_step<V: SparseVector>(x: &mut V, gradient: &V, etas: &[f64], radii: &[f64]) {
    let minus: Vec<f64> = etas.iter().map(|e| -e).collect();
    x.mul_exp_signed(&minus, gradient);
    let scale: Vec<f64> = x
        .group_l1()
        .iter()
        .zip(radii)
        .map(|(n, r)| if *n > 0.0 { r / n } else { 0.0 })
        .collect();
    x.scale_groups(&scale);
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
    let taus = vec![tau; gradient.group_sizes().len()];
    sparse_polytope_vertex_grouped(gradient, &taus, rule, budget)
}

/// [`sparse_polytope_vertex`] on a product of polytopes, one per group with its own $\tau_g$
/// (with a global budget the vertex is that of the polytope whose coordinates are scaled by
/// $\tau_g$): $s = -\tau_g\,\mathrm{sign}(g)$ on the selected coordinates.
pub fn sparse_polytope_vertex_grouped<V: SparseVector, R: Rule>(
    gradient: &V,
    taus: &[f64],
    rule: &R,
    budget: &Budget,
) -> Result<(V, Mask)> {
    let mask = rule.select(&gradient.to_scores(), budget)?;
    let mut s = gradient.clone();
    s.signum();
    s.apply_mask(&mask);
    let minus: Vec<f64> = taus.iter().map(|t| -t).collect();
    s.scale_groups(&minus);
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
