//! Channel budgets for one-shot layerwise reconstruction: whole rows (units, filters) of a layer
//! removed, each kept row refit on the inputs that are still alive.
//!
//! Rows are independent problems of $q_r(w) = \frac12(w-\bar w_r)^\top H(w-\bar w_r)$, so the
//! reconstruction-optimal choice of $k$ whole rows is exact and cheap: removing row $r$ costs
//! $q_r(0) = \frac12\bar w_r^\top H\bar w_r$, keeping it costs the refit on the live inputs $L$,
//! $\min_{\mathrm{supp}(w)\subseteq L} q_r(w)$ ([`super::refit_quadratic`]); keep the $k$ rows of
//! largest gain $q_r(0) - \min q_r$. The `magnitude` solver instead keeps the rows of largest
//! $\|\bar w_r\|_2$ and only zeroes the dead inputs (no refit), the baseline every layer reports.

use ndarray::{Array1, Array2, ArrayView2};
use rayon::prelude::*;

use super::{refit_quadratic, PrunedLayer};
use crate::problem::LayerGram;
use crate::select::{Budget, Largest, Rule, Scores};
use crate::Result;

/// Keep `keep` whole rows of `center` (all of them with `None`), with the inputs where `live` is
/// false removed from every row; `exact` selects and refits by the reconstruction objective,
/// otherwise by row norm without refit.
pub fn prune_channels(
    gram: &LayerGram,
    center: ArrayView2<f64>,
    keep: Option<usize>,
    live: &[bool],
    exact: bool,
) -> Result<PrunedLayer> {
    let (rows, d) = center.dim();
    let c = gram.center_rows(center)?;
    let support: Vec<usize> = (0..d).filter(|&q| live[q]).collect();
    let h = gram.h();
    let q = |w: &Array1<f64>, r: usize| -> f64 {
        let diff = w - &c.row(r);
        0.5 * diff.dot(&h.dot(&diff))
    };
    let fitted: Vec<Result<(Array1<f64>, f64)>> = (0..rows)
        .into_par_iter()
        .map(|r| {
            let w = if exact {
                refit_quadratic(h, c.row(r).to_owned(), &support)?
            } else {
                let mut w = c.row(r).to_owned();
                for (j, v) in w.iter_mut().enumerate() {
                    if !live[j] {
                        *v = 0.0;
                    }
                }
                w
            };
            let removal = q(&Array1::zeros(d), r);
            let gain = if exact {
                removal - q(&w, r)
            } else {
                c.row(r).dot(&c.row(r))
            };
            Ok((w, gain))
        })
        .collect();
    let fitted: Vec<(Array1<f64>, f64)> = fitted.into_iter().collect::<Result<_>>()?;
    let kept_rows = match keep {
        Some(k) => Largest
            .select(
                &Scores::flat(fitted.iter().map(|f| f.1.max(0.0)).collect()),
                &Budget::TopK(k.clamp(1, rows)),
            )?
            .indices(),
        None => (0..rows).collect(),
    };
    let mut weights = Array2::zeros((rows, d));
    for &r in &kept_rows {
        weights.row_mut(r).assign(&fitted[r].0);
    }
    Ok(PrunedLayer::of(gram, weights, c.view()))
}

/// Keep `keep` whole `h × w` blocks of `center` (ragged at the edges), each kept row then refit
/// on its kept inputs when `exact`. Blocks are scored by the diagonal cost of removing them,
/// $\sum_{(r,q)\in B}\bar w_{rq}^2 H_{qq}$ (the OBD approximation: the cost with no refit when $H$
/// is diagonal) when `exact`, by their $\ell_2$ mass otherwise (magnitude). The selection is not
/// the reconstruction optimum — blocks couple rows — and is only claimed to be no worse than
/// magnitude's with the same refit (it is the refit that the tests compare).
pub fn prune_blocks(
    gram: &LayerGram,
    center: ArrayView2<f64>,
    h: usize,
    w: usize,
    keep: usize,
    exact: bool,
) -> Result<PrunedLayer> {
    let (rows, d) = center.dim();
    let c = gram.center_rows(center)?;
    let hm = gram.h();
    // The shared tile budget scores a tile by Σ s²: with s = w̄·√H_qq that is the diagonal cost.
    let scores: Vec<f64> = c
        .indexed_iter()
        .map(|((_, q), v)| if exact { v * hm[[q, q]].sqrt() } else { *v })
        .collect();
    let tile = crate::select::Tile::Block { h, w };
    let kept_mask = Largest.select(
        &Scores::flat(scores),
        &Budget::Tiles {
            tile,
            shapes: vec![(rows, d)],
            keep: vec![Some(keep.clamp(1, tile.count(rows, d)))],
            next: vec![],
        },
    )?;
    let kept_in = Array2::from_shape_fn((rows, d), |(r, q)| kept_mask.contains(r * d + q));
    let out: Vec<Result<Array1<f64>>> = (0..rows)
        .into_par_iter()
        .map(|r| {
            let support: Vec<usize> = (0..d).filter(|&q| kept_in[[r, q]]).collect();
            if exact {
                refit_quadratic(hm, c.row(r).to_owned(), &support)
            } else {
                let mut x = Array1::zeros(d);
                for &q in &support {
                    x[q] = c[[r, q]];
                }
                Ok(x)
            }
        })
        .collect();
    let mut weights = Array2::zeros((rows, d));
    for (r, row) in out.into_iter().enumerate() {
        weights.row_mut(r).assign(&row?);
    }
    Ok(PrunedLayer::of(gram, weights, c.view()))
}
