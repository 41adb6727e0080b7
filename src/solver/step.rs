//! The steps the convex solvers and the network trainers share, written once against
//! [`SparseVector`]: an `Array1<f64>` iterate and a network's prunable parameters
//! ([`crate::nn::params::Params`], feature `torch`) run the same code.
//!
//! | step | convex solver | network trainer (`lottery prune …`) |
//! |---|---|---|
//! | [`threshold`] ($H_s$ through any rule) | [`super::iht`] (IHT, HTP, CoSaMP) | `iht`, `dpf`, `gradual`, the final threshold of `sfw` and `md` |
//! | [`gradient_threshold_step`] | [`super::iht::Iht`] | `iht` (through [`super::iht::Iht::step_on`]) |
//! | [`sparse_polytope_vertex`] / [`sparse_polytope_vertex_grouped`] | [`super::frank_wolfe::Domain::KSparse`] | `sfw` |
//! | [`frank_wolfe_update`] | (active-set weights of [`super::frank_wolfe`]) | `sfw` |
//! | [`entropic_step`] | [`super::mirror`] on the simplex | `md` |
//! | [`grow`] | [`super::greedy`] (one coordinate per step) | `greedy` (a batch per round) |
//!
//! ```
//! use lottery::select::{Budget, Largest};
//! use lottery::solver::step::gradient_threshold_step;
//! use ndarray::array;
//! // x − 0.5·g = [0.5, −2, 1], then keep the 2 largest magnitudes.
//! let mut x = array![1.0, -1.0, 1.0];
//! let g = array![1.0, 2.0, 0.0];
//! let mask = gradient_threshold_step(&mut x, &g, 0.5, &Largest, &Budget::TopK(2)).unwrap();
//! assert_eq!(mask.indices(), vec![1, 2]);
//! assert_eq!(x, array![0.0, -2.0, 1.0]);
//! ```

use crate::select::{Budget, Largest, Mask, Rule, Scores};
use crate::space::SparseVector;
use crate::{Error, Result};

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

/// One entropic mirror-descent step on the product of scaled, sign-fixed $\ell_1$ spheres
/// $\{x : \mathrm{sign}(x) = \sigma,\ \|x_g\|_1 = r_g\}$: with $u = |x|$ on group $g$,
/// $u \leftarrow r_g\, u \odot e^{-\eta_g \sigma\odot\nabla f} / \|u \odot e^{-\eta_g \sigma\odot\nabla f}\|_1$.
///
/// On a nonnegative vector with one group and $r = 1$ this is the exponentiated-gradient step on
/// the simplex ([`super::mirror`]); on a network it is the entropic trainer of
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

/// The Frank-Wolfe combination $x \leftarrow (1-\gamma)\,x + \gamma\,s$ with a vertex $s$ of
/// the domain, $\gamma \in [0, 1]$: stays in the domain by convexity.
pub fn frank_wolfe_update<V: SparseVector>(x: &mut V, s: &V, gamma: f64) {
    x.scale(1.0 - gamma);
    x.axpy(gamma, s);
}

/// Forward greedy selection: the support `current` and, outside it, the coordinates with the
/// largest $|g_i|$, up to the budget's counts (which must cover `current`). The convex greedy
/// solvers ([`super::greedy`]) add one coordinate per step this way, the network trainer
/// of `lottery prune greedy` a batch per growth round.
pub fn grow<V: SparseVector>(gradient: &V, current: &Mask, budget: &Budget) -> Result<Mask> {
    grow_scores(&gradient.to_scores(), current, budget)
}

/// [`grow`] on scores already on the host.
pub fn grow_scores(gradient: &Scores, current: &Mask, budget: &Budget) -> Result<Mask> {
    gradient.check_finite()?;
    // Members of `current` rank above every outsider, so the top-k holds all of them.
    let values: Vec<f64> = gradient
        .values()
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if current.contains(i) {
                f64::MAX
            } else {
                v.abs()
            }
        })
        .collect();
    let mask = Largest.select(
        &Scores::from_parts(values, &gradient.group_sizes())?,
        budget,
    )?;
    if current.iter().any(|i| !mask.contains(i)) {
        return Err(Error::param(
            "budget",
            "a growth budget must keep the current support",
        ));
    }
    Ok(mask)
}
