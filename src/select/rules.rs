//! The selection rules: [`Rule`] and its implementations — exact top-$k$ by magnitude
//! ([`Largest`]), seeded uniform ([`Random`]) and magnitude-proportional sampling
//! ([`Proportional`]) — with the helpers they share.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{structured, Budget, Mask, Scores};
use crate::{Error, Result};

/// A selection rule: turns scores and a budget into a mask.
///
/// Implement it to add a rule; every solver and pruning method that is generic over `R: Rule`
/// picks it up.
pub trait Rule {
    /// Select a support of `scores` under `budget`.
    fn select(&self, scores: &Scores, budget: &Budget) -> Result<Mask>;
}

/// Keep the coordinates with the largest $|s_i|$; ties go to the lower index.
///
/// With `TopK(s)` on an iterate this is the hard-thresholding operator $H_s$.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Largest;

impl Rule for Largest {
    fn select(&self, scores: &Scores, budget: &Budget) -> Result<Mask> {
        scores.check_finite()?;
        if let Some(mask) = structured(self, scores, budget) {
            return mask;
        }
        let sizes = scores.group_sizes();
        let mut mask = Mask::empty(&sizes);
        match (budget, budget.counts(&sizes)?) {
            (Budget::TopK(k), _) => {
                for i in top_k(scores.values(), *k) {
                    mask.insert(i);
                }
            }
            (Budget::Threshold(t), _) => {
                for (i, v) in scores.values().iter().enumerate() {
                    if v.abs() > *t {
                        mask.insert(i);
                    }
                }
            }
            (_, Some(ks)) => {
                for (g, &k) in ks.iter().enumerate() {
                    let start = scores.offsets[g];
                    for i in top_k(scores.group(g), k) {
                        mask.insert(start + i);
                    }
                }
            }
            (_, None) => unreachable!("per-group budgets always have counts"),
        }
        Ok(mask)
    }
}

/// The same scores ordered by value rather than magnitude: $s_i - \min_j s_j \ge 0$, so that
/// [`Largest`] keeps the largest **signed** scores (GraSP, supermask and continuous-sparsification
/// scores, magnitude increase).
pub fn by_value(scores: &Scores) -> Result<Scores> {
    scores.check_finite()?;
    let min = scores
        .values()
        .iter()
        .cloned()
        .fold(f64::INFINITY, f64::min);
    Scores::from_parts(
        scores.values().iter().map(|v| v - min).collect(),
        &scores.group_sizes(),
    )
}

/// Indices of the `k` largest `|values|` (ties: lower index first), sorted ascending.
///
/// Values must be finite. `k` is clamped to `values.len()`.
pub fn top_k(values: &[f64], k: usize) -> Vec<usize> {
    let n = values.len();
    let k = k.min(n);
    if k == 0 {
        return Vec::new();
    }
    let mut idx: Vec<usize> = (0..n).collect();
    if k < n {
        idx.select_nth_unstable_by(k - 1, |&a, &b| rank(values, a, b));
        idx.truncate(k);
    }
    idx.sort_unstable();
    idx
}

/// Index of the largest `|values|` (lowest index among ties); `None` when empty.
///
/// A single pass with a strict comparison (so the first maximum wins); NaNs are never selected.
pub fn arg_max_abs(values: &[f64]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, v) in values.iter().enumerate() {
        let a = v.abs();
        match best {
            Some((_, b)) if a <= b => {}
            _ if a.is_nan() => {}
            _ => best = Some((i, a)),
        }
    }
    best.map(|(i, _)| i)
}

/// Total order: larger magnitude first, then lower index.
#[inline]
fn rank(values: &[f64], a: usize, b: usize) -> std::cmp::Ordering {
    values[b]
        .abs()
        .total_cmp(&values[a].abs())
        .then_with(|| a.cmp(&b))
}

/// Uniformly random support with the budget's counts (scores are ignored): the random-pruning
/// baseline. Deterministic given `seed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Random {
    /// Seed of the ChaCha8 generator.
    pub seed: u64,
}

impl Rule for Random {
    fn select(&self, scores: &Scores, budget: &Budget) -> Result<Mask> {
        if let Some(mask) = structured(self, scores, budget) {
            return mask;
        }
        let sizes = scores.group_sizes();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut mask = Mask::empty(&sizes);
        match (budget, budget.counts(&sizes)?) {
            (Budget::TopK(k), _) => {
                for i in rand::seq::index::sample(&mut rng, scores.len(), *k) {
                    mask.insert(i);
                }
            }
            (Budget::Threshold(_), _) => {
                return Err(Error::Unsupported(
                    "a random rule has no threshold budget".into(),
                ))
            }
            (_, Some(ks)) => {
                for (g, &k) in ks.iter().enumerate() {
                    let start = scores.offsets[g];
                    for i in rand::seq::index::sample(&mut rng, sizes[g], k) {
                        mask.insert(start + i);
                    }
                }
            }
            (_, None) => unreachable!("per-group budgets always have counts"),
        }
        Ok(mask)
    }
}

/// Maurey's randomized selection: `k` draws with replacement, coordinate $i$ drawn with
/// probability $|s_i| / \|s\|_1$. With `TopK(k)` the mask holds the distinct draws (at most $k$).
///
/// [`draw_proportional`] returns the draw counts that Maurey sparsification needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Proportional {
    /// Seed of the ChaCha8 generator.
    pub seed: u64,
}

impl Rule for Proportional {
    fn select(&self, scores: &Scores, budget: &Budget) -> Result<Mask> {
        let Budget::TopK(k) = budget else {
            return Err(Error::Unsupported(
                "proportional selection takes a TopK budget (the number of draws)".into(),
            ));
        };
        budget.counts(&scores.group_sizes())?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let counts = draw_proportional(scores.values(), *k, &mut rng)?;
        let mut mask = Mask::empty(&scores.group_sizes());
        for (i, &c) in counts.iter().enumerate() {
            if c > 0 {
                mask.insert(i);
            }
        }
        Ok(mask)
    }
}

/// `draws` i.i.d. draws of a coordinate with probability $|w_i|/\|w\|_1$; returns the count of
/// each coordinate. Fails on non-finite or all-zero weights.
pub fn draw_proportional<R: Rng + ?Sized>(
    w: &[f64],
    draws: usize,
    rng: &mut R,
) -> Result<Vec<u32>> {
    crate::error::ensure_finite(w, "weights")?;
    let mut cumulative = Vec::with_capacity(w.len());
    let mut acc = 0.0;
    for v in w {
        acc += v.abs();
        cumulative.push(acc);
    }
    if acc <= 0.0 {
        return Err(Error::param("weights", "all weights are zero"));
    }
    let mut counts = vec![0u32; w.len()];
    for _ in 0..draws {
        let u = rng.gen::<f64>() * acc;
        // First index whose cumulative weight exceeds u; zero-weight coordinates are never drawn.
        let i = cumulative.partition_point(|&c| c <= u).min(w.len() - 1);
        counts[i] += 1;
    }
    Ok(counts)
}
