//! `sparsegpt`: SparseGPT's column sweep on a layer (Frantar & Alistarh 2023), the fast
//! approximation of OBS: columns in blocks of `sparsegpt_block` (128), the mask of a block by
//! $w^2/U_{qq}^2$ (a threshold per block over the layer for a layer budget; every $M$ columns for
//! N:M).

use ndarray::{s, Array1, Array2, ArrayView2};
use ndarray_linalg::{Cholesky, UPLO};
use super::{LayerBudget, LayerProblem, Solve, SolverSpec};
use crate::problem::LayerGram;
use crate::{Error, Result};

/// The registry's entry.
pub const SPEC: SolverSpec = SolverSpec::new(
    "sparsegpt",
    "SparseGPT's column sweep (OBS's update, the mask chosen per block of columns)",
    &SparseGpt,
)
.with_n_of_m();

super::count_settings!(
    "SparseGPT's settings (key `sparsegpt_block`: columns per block, 128 as in the paper).",
    "sparsegpt_block",
    block = 128
);

struct SparseGpt;

impl Solve for SparseGpt {
    fn layer(&self, p: &LayerProblem) -> Result<Array2<f64>> {
        sparsegpt(p.gram, p.center, p.budget, p.settings.sparsegpt.block)
    }
}

/// SparseGPT's column sweep (Frantar & Alistarh 2023, Algorithm 1): $U$ = upper Cholesky factor
/// of $H^{-1}$; columns are visited left to right in blocks of `block`; within a block the mask
/// is chosen from $w^2/U_{qq}^2$ (for N:M: at every $M$-th column, among the next $M$), each
/// pruned weight's error $e = w_q/U_{qq}$ is spread over the later columns of the row as
/// $-e\,U_{q,\cdot}$, and the block's errors reach the later blocks in one matrix product.
/// Row and layer budgets prune, in each block, the share of the budget proportional to the
/// columns swept so far, so the final count is exact.
pub fn sparsegpt(
    gram: &LayerGram,
    c: &Array2<f64>,
    budget: LayerBudget,
    block: usize,
) -> Result<Array2<f64>> {
    let (rows, d) = c.dim();
    budget.check(rows, d)?;
    let hinv = gram.inverse()?;
    let u = hinv
        .cholesky(UPLO::Upper)
        .map_err(|e| Error::Numerical(format!("Cholesky of H⁻¹: {e}")))?;
    let block = match budget {
        LayerBudget::NM { m, .. } => block.div_ceil(m) * m,
        _ => block,
    };
    let mut w = c.clone();
    let prune_total = |cols_done: usize| -> usize {
        match budget {
            LayerBudget::Row(k) => ((d - k) as f64 * cols_done as f64 / d as f64).round() as usize,
            LayerBudget::Layer(k) => {
                ((rows * d - k) as f64 * cols_done as f64 / d as f64).round() as usize
            }
            LayerBudget::NM { .. } | LayerBudget::Blocks { .. } | LayerBudget::Channels { .. } => 0,
        }
    };
    let mut i1 = 0;
    while i1 < d {
        let i2 = (i1 + block).min(d);
        let count = i2 - i1;
        let mut w1 = w.slice(s![.., i1..i2]).to_owned();
        let u1 = u.slice(s![i1..i2, i1..i2]).to_owned();
        let mut err1 = Array2::<f64>::zeros((rows, count));
        let mut pruned = Array2::from_elem((rows, count), false);
        let saliency = |w1: &Array2<f64>, from: usize, to: usize| {
            Array2::from_shape_fn((rows, to - from), |(r, j)| {
                let v = w1[[r, from + j]] / u1[[from + j, from + j]];
                v * v
            })
        };
        match budget {
            LayerBudget::Row(_) => {
                let p = prune_total(i2) - prune_total(i1);
                let keep = LayerBudget::Row(count - p)
                    .keep_largest_or_all(saliency(&w1, 0, count).view())?;
                pruned.assign(&keep.mapv(|k| !k));
            }
            LayerBudget::Layer(_) => {
                let p = prune_total(i2) - prune_total(i1);
                let keep = LayerBudget::Layer(rows * count - p)
                    .keep_largest_or_all(saliency(&w1, 0, count).view())?;
                pruned.assign(&keep.mapv(|k| !k));
            }
            LayerBudget::NM { .. } | LayerBudget::Blocks { .. } | LayerBudget::Channels { .. } => {}
        }
        for i in 0..count {
            if let LayerBudget::NM { n, m } = budget {
                if i % m == 0 {
                    let keep =
                        LayerBudget::NM { n, m }.keep_largest(saliency(&w1, i, i + m).view())?;
                    pruned
                        .slice_mut(s![.., i..i + m])
                        .assign(&keep.mapv(|k| !k));
                }
            }
            let dgl = u1[[i, i]];
            let mut e = Array1::<f64>::zeros(rows);
            for r in 0..rows {
                if pruned[[r, i]] {
                    e[r] = w1[[r, i]] / dgl;
                }
            }
            // W1[:, i:] -= e ⊗ U1[i, i:]
            let urow = u1.slice(s![i, i..]).to_owned();
            for r in 0..rows {
                if e[r] != 0.0 {
                    let mut seg = w1.slice_mut(s![r, i..]);
                    seg.scaled_add(-e[r], &urow);
                }
            }
            for r in 0..rows {
                if pruned[[r, i]] {
                    w1[[r, i]] = 0.0;
                }
            }
            err1.column_mut(i).assign(&e);
        }
        w.slice_mut(s![.., i1..i2]).assign(&w1);
        if i2 < d {
            let upd = err1.dot(&u.slice(s![i1..i2, i2..]));
            let mut rest = w.slice_mut(s![.., i2..]);
            rest -= &upd;
        }
        i1 = i2;
    }
    Ok(w)
}

impl LayerBudget {
    /// [`Self::keep_largest`], keeping everything when the budget is the whole matrix.
    fn keep_largest_or_all(&self, scores: ArrayView2<f64>) -> Result<Array2<bool>> {
        let (rows, cols) = scores.dim();
        let all = match *self {
            LayerBudget::Row(k) => k >= cols,
            LayerBudget::Layer(k) => k >= rows * cols,
            LayerBudget::NM { n, m } => n >= m,
            LayerBudget::Blocks { .. } | LayerBudget::Channels { .. } => false,
        };
        if all {
            return Ok(Array2::from_elem((rows, cols), true));
        }
        if matches!(*self, LayerBudget::Row(0) | LayerBudget::Layer(0)) {
            return Ok(Array2::from_elem((rows, cols), false));
        }
        self.keep_largest(scores)
    }
}
