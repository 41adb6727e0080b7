//! Maurey's randomized sparsification of an $\ell_1$-bounded point (SSZ 2010, Section 2).
//!
//! Draw $k$ coordinates i.i.d. with $P(i) = |w_i|/\|w\|_1$ and return
//! $\hat w_k = \frac{\|w\|_1}{k}\sum_{m=1}^k \mathrm{sign}(w_{i_m}) e_{i_m}$: an unbiased,
//! at most $k$-sparse estimate of $w$. The draw is [`crate::select::draw_proportional`], the
//! same randomized selection rule exposed as [`crate::select::Proportional`].
//!
//! ```
//! use lottery::solver::maurey::sparsify;
//! use ndarray::array;
//! let w = array![0.5, -0.25, 0.25, 0.0];
//! let w_hat = sparsify(&w, 3, 7).unwrap();
//! // At most k nonzeros, each ±‖w‖₁/k times its multiplicity, on w's support with w's signs.
//! assert!(w_hat.iter().filter(|v| **v != 0.0).count() <= 3);
//! assert_eq!(w_hat[3], 0.0);
//! assert!(w_hat.iter().zip(&w).all(|(h, v)| h * v >= 0.0));
//! assert!((w_hat.iter().map(|v| v.abs()).sum::<f64>() - 1.0).abs() < 1e-12);
//! ```
//!
//! # Guarantee
#![doc = include_str!("../../theory/maurey.md")]

use ndarray::Array1;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::problem::{LeastSquares, SmoothProblem};
use crate::select::draw_proportional;
use crate::Result;

/// $\hat w_k$ for `draws` $= k$ draws from a ChaCha8 generator seeded with `seed`.
pub fn sparsify(w: &Array1<f64>, draws: usize, seed: u64) -> Result<Array1<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    sparsify_with(w, draws, &mut rng)
}

/// $\hat w_k$ with a caller-supplied generator.
pub fn sparsify_with<R: rand::Rng + ?Sized>(
    w: &Array1<f64>,
    draws: usize,
    rng: &mut R,
) -> Result<Array1<f64>> {
    super::check_sparsity(draws, usize::MAX)?;
    let counts = draw_proportional(w.as_slice().expect("contiguous"), draws, rng)?;
    let l1: f64 = w.iter().map(|v| v.abs()).sum();
    let scale = l1 / draws as f64;
    Ok(Array1::from_shape_fn(w.len(), |i| {
        f64::from(counts[i]) * scale * w[i].signum()
    }))
}

/// The exact expected excess $\mathbb E f(\hat w_k) - f(w)$ for least squares:
/// $\frac{1}{2nk}\big(\|w\|_1 \sum_i |w_i|\,\|a_i\|^2 - \|Aw\|^2\big)$ (the variance of one draw,
/// divided by $k$).
pub fn expected_excess(p: &LeastSquares, w: &Array1<f64>, draws: usize) -> f64 {
    let l1: f64 = w.iter().map(|v| v.abs()).sum();
    let weighted: f64 = w
        .iter()
        .zip(p.column_norms_sq().iter())
        .map(|(wi, ni)| wi.abs() * ni)
        .sum();
    let aw = p.apply(w);
    (l1 * weighted - aw.dot(&aw)) / (2.0 * p.n_samples() as f64 * draws as f64)
}

/// The bound $\beta\|w\|_1^2/(2k)$ of the theorem.
pub fn bound<P: SmoothProblem + ?Sized>(p: &P, w: &Array1<f64>, draws: usize) -> f64 {
    let l1: f64 = w.iter().map(|v| v.abs()).sum();
    p.coordinate_smoothness() * l1 * l1 / (2.0 * draws as f64)
}
