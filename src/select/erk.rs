//! Erdős–Rényi layer budgets (Mocanu et al. 2018, SET; with kernels, "ERK", Evci et al. 2020,
//! RigL): the density of layer $l$ is proportional to $\sum_i s_{l,i} / \prod_i s_{l,i}$ over its
//! shape $s_l$ — $(n_{in} + n_{out})/(n_{in} n_{out})$ for a fully connected layer, kernel
//! dimensions included for a convolution — scaled so that the pooled layers keep the fraction
//! `density` of their weights together. A layer whose scaled density would exceed 1 is kept
//! dense and the others are rescaled (RigL's `get_sparsities`), so wide layers are pruned
//! hardest and small ones, like a first layer with few inputs, are spared: the fix for the layer
//! collapse of a single global budget.
//!
//! The result is a [`super::Budget::PerGroupDensity`]; each layer then keeps
//! $\mathrm{round}(\rho_l n_l)$, so the total differs from `density` × the pool by at most half
//! a weight per layer.

use crate::{Error, Result};

/// ERK densities of the groups with `shapes` (one shape per group; `pool[g]` false: not pruned,
/// density 1, outside the budget), the pooled groups keeping `density` of their weights
/// together. `density` in $(0, 1]$.
pub fn erk_densities(shapes: &[Vec<usize>], pool: &[bool], density: f64) -> Result<Vec<f64>> {
    if !(density > 0.0 && density <= 1.0) {
        return Err(Error::param(
            "density",
            format!("{density} is not in (0, 1]"),
        ));
    }
    if shapes.len() != pool.len() || shapes.iter().any(|s| s.is_empty() || s.contains(&0)) {
        return Err(Error::Shape(format!(
            "ERK needs one non-empty shape with positive sizes per group and one pool flag each \
             ({} shapes, {} flags)",
            shapes.len(),
            pool.len()
        )));
    }
    let size = |s: &Vec<usize>| s.iter().product::<usize>() as f64;
    let raw: Vec<f64> = shapes
        .iter()
        .map(|s| s.iter().sum::<usize>() as f64 / size(s))
        .collect();
    let mut dense: Vec<bool> = pool.iter().map(|&p| !p).collect();
    let total: f64 = (0..shapes.len())
        .filter(|&g| pool[g])
        .map(|g| size(&shapes[g]))
        .sum();
    let target = density * total;
    loop {
        // Kept by the pooled layers already dense; the rest share eps · raw_l · n_l.
        let fixed: f64 = (0..shapes.len())
            .filter(|&g| pool[g] && dense[g])
            .map(|g| size(&shapes[g]))
            .sum();
        let divisor: f64 = (0..shapes.len())
            .filter(|&g| !dense[g])
            .map(|g| raw[g] * size(&shapes[g]))
            .sum();
        if divisor == 0.0 {
            break;
        }
        let eps = (target - fixed) / divisor;
        // The layer that overflows most becomes dense; none overflowing ends it.
        let worst = (0..shapes.len())
            .filter(|&g| !dense[g] && eps * raw[g] > 1.0)
            .max_by(|&a, &b| raw[a].total_cmp(&raw[b]));
        match worst {
            Some(g) => dense[g] = true,
            None => {
                return Ok((0..shapes.len())
                    .map(|g| if dense[g] { 1.0 } else { eps * raw[g] })
                    .collect());
            }
        }
    }
    Ok(vec![1.0; shapes.len()])
}
