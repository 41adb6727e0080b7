//! Selection: the one idea shared by sparse solvers and pruning methods.
//!
//! Every method in this crate makes the same two moves:
//!
//! 1. **score** every coordinate — a weight, a gradient entry, $|w \cdot g|$, a learned score,
//!    a random draw — giving [`Scores`], grouped (one group for a flat vector, one per layer for a
//!    network);
//! 2. **select** a support under a [`Budget`] with a [`Rule`], giving a bit-packed [`Mask`].
//!
//! Hard thresholding $H_s$ is `Largest` under `Budget::TopK(s)` applied to the iterate; greedy
//! selection is `Largest` under `TopK(1)` applied to the gradient; the Frank-Wolfe vertex of the
//! $k$-sparse polytope is `Largest` under `TopK(k)` applied to the gradient; magnitude pruning is
//! `Largest` under `PerGroupDensity` applied to the weights.
//!
//! # Determinism
//!
//! [`Largest`] is exact and deterministic: coordinates are ordered by $|s_i|$ descending and,
//! among equal magnitudes, by **lower flat index first**. It runs in $O(d)$ expected time
//! (introselect), never sorts the whole vector, and never depends on the thread count.
//!
//! ```
//! use lottery::select::{Budget, Largest, Rule, Scores};
//! // Two groups (say, two layers). Keep the top 2 overall, then the top 1 of each group.
//! let s = Scores::grouped(vec![vec![0.1, -3.0, 2.0], vec![2.0, 0.5]]);
//! let m = Largest.select(&s, &Budget::TopK(2)).unwrap();
//! assert_eq!(m.indices(), vec![1, 2]); // |−3| first, then the tie 2.0 vs 2.0 goes to index 2
//! let m = Largest.select(&s, &Budget::PerGroupK(vec![1, 1])).unwrap();
//! assert_eq!(m.indices(), vec![1, 3]);
//! // A pooled budget prunes only the pooled groups: group 1 stays whole.
//! let m = Largest.select(&s, &Budget::Pooled { k: 1, pool: vec![true, false] }).unwrap();
//! assert_eq!(m.indices(), vec![1, 3, 4]);
//! ```

pub mod budget;
mod erk;
mod exchange;
mod mask;
mod rules;
mod tiles;

pub use erk::erk_densities;
pub use exchange::{exchange, exchange_n_of_m, Exchange};
pub use mask::Mask;
pub use rules::{
    arg_max_abs, by_value, draw_proportional, top_k, Largest, Proportional, Random, Rule,
};
pub use tiles::{exchange_tiles, exchange_units, Tile};

use crate::{Error, Result};

/// Scores of every coordinate, split into groups.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    values: Vec<f64>,
    offsets: Vec<usize>,
}

impl Scores {
    /// A single group.
    pub fn flat(values: Vec<f64>) -> Self {
        let n = values.len();
        Scores {
            values,
            offsets: vec![0, n],
        }
    }

    /// Flat values split into groups of the given sizes.
    pub fn from_parts(values: Vec<f64>, group_sizes: &[usize]) -> Result<Self> {
        let offsets = mask::offsets_of(group_sizes);
        if *offsets.last().unwrap_or(&0) != values.len() {
            return Err(Error::Shape(format!(
                "{} scores for groups summing to {}",
                values.len(),
                offsets.last().unwrap_or(&0)
            )));
        }
        Ok(Scores { values, offsets })
    }

    /// One group per inner vector.
    pub fn grouped(groups: Vec<Vec<f64>>) -> Self {
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        let values = groups.into_iter().flatten().collect();
        Self::from_parts(values, &sizes).expect("sizes match by construction")
    }

    /// All values, flat.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Number of coordinates.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are no coordinates.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Number of groups.
    pub fn n_groups(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Sizes of the groups.
    pub fn group_sizes(&self) -> Vec<usize> {
        self.offsets.windows(2).map(|w| w[1] - w[0]).collect()
    }

    /// The values of group `g`.
    pub fn group(&self, g: usize) -> &[f64] {
        &self.values[self.offsets[g]..self.offsets[g + 1]]
    }

    /// Fails with [`crate::Error::NonFinite`] unless every score is finite.
    pub fn check_finite(&self) -> Result<()> {
        crate::error::ensure_finite(&self.values, "scores")
    }
}

/// How much survives a selection.
#[derive(Clone, Debug, PartialEq)]
pub enum Budget {
    /// Keep `k` coordinates over all groups together (global pruning; $H_k$ on a flat vector).
    /// Requires $1 \le k \le d$.
    TopK(usize),
    /// Keep `k[g]` coordinates in group `g` (layerwise pruning). Requires $k_g \le d_g$.
    PerGroupK(Vec<usize>),
    /// Keep the fraction `density[g]` of group `g`: $k_g = \mathrm{round}(\rho_g d_g)$ with
    /// halves rounded away from zero (`f64::round`). Requires $0 \le \rho_g \le 1$.
    PerGroupDensity(Vec<f64>),
    /// Keep every coordinate with $|s_i| > \tau$ (strictly), for $\tau \ge 0$.
    Threshold(f64),
    /// Keep `k` coordinates over the groups with `pool[g]` true, chosen together as by
    /// [`Budget::TopK`], and every coordinate of the other groups (global pruning with layers
    /// excluded, e.g. open_lth's unpruned output layer). Requires $1 \le k \le$ the pool's size.
    Pooled {
        /// Coordinates kept in the pool.
        k: usize,
        /// Which groups are pruned.
        pool: Vec<bool>,
    },
    /// Keep `k` coordinates over the groups with `pool[g]` true, chosen together as by
    /// [`Budget::Pooled`], `own[g]` in each group `g` with a count of its own (chosen within
    /// it), and every coordinate of the other groups: a global budget with some layers at their
    /// own rate ([`budget::Target`]'s allocations). Requires the pool and the own groups to be
    /// disjoint, $1 \le k \le$ the pool's size and `own[g]` ≤ group `g`'s size.
    Split {
        /// Coordinates kept in the pool.
        k: usize,
        /// Which groups are pruned together.
        pool: Vec<bool>,
        /// Groups pruned on their own, and their counts.
        own: Vec<Option<usize>>,
    },
    /// N:M structured sparsity: in every pooled group, each run of `m` consecutive coordinates
    /// (a group's last run may be shorter) keeps exactly `min(n, len)` of them — for a
    /// row-major weight whose row length is a multiple of `m`, N of every M consecutive inputs of
    /// a row, the pattern sparse tensor cores run (2:4 on NVIDIA). The other groups are kept
    /// whole. Every rule works with it: the rule selects within each run as within a group.
    /// Requires $1 \le n \le m$.
    NofM {
        /// Kept per run.
        n: usize,
        /// Run length.
        m: usize,
        /// Which groups are pruned.
        pool: Vec<bool>,
    },
    /// Whole tiles ([`Tile`]: `h × w` blocks, or rows — a unit's incoming weights, a filter):
    /// group `g` is a `shapes[g]` = (rows, cols) row-major matrix and keeps `keep[g]` of its
    /// tiles, the rule choosing among the tiles scored by their $\ell_2$ mass $\sum s_i^2$
    /// (with [`Largest`] the exact projection onto whole tiles); groups with
    /// `keep[g] = None` are kept whole. Requires rows × cols = the group's size and `keep[g]` ≤
    /// its number of tiles.
    Tiles {
        /// The unit kept or removed whole.
        tile: Tile,
        /// (rows, cols) of every group.
        shapes: Vec<(usize, usize)>,
        /// Tiles kept per group (`None`: the group whole).
        keep: Vec<Option<usize>>,
        /// With [`Tile::Row`]: `next[g] = Some(span)` when group `g + 1` reads group `g`'s rows
        /// as its inputs, `span` consecutive columns per row of `g` (1 for dense layers, the
        /// kernel size for convolutions, the spatial size after a flatten); a removed row of `g`
        /// then removes those columns from every row of `g + 1` too (a pruned unit's outgoing
        /// weights). Empty: no such removal.
        next: Vec<Option<usize>>,
    },
}

/// The budgets every rule applies through an adapter (pooled, N:M, tiles): the adapter's
/// result, or `None` for a budget the rule handles itself.
pub(crate) fn structured<R: Rule + ?Sized>(
    rule: &R,
    scores: &Scores,
    budget: &Budget,
) -> Option<Result<Mask>> {
    match budget {
        Budget::Pooled { k, pool } => Some(select_pooled(rule, scores, *k, pool)),
        Budget::Split { k, pool, own } => Some(select_split(rule, scores, *k, pool, own)),
        Budget::NofM { n, m, pool } => Some(select_n_of_m(rule, scores, *n, *m, pool)),
        Budget::Tiles {
            tile,
            shapes,
            keep,
            next,
        } => Some(tiles::select_tiles(rule, scores, *tile, shapes, keep, next)),
        _ => None,
    }
}

/// Apply `rule` with [`Budget::NofM`] semantics: every run of `m` consecutive coordinates of a
/// pooled group becomes a group of its own with budget `min(n, len)`.
pub(crate) fn select_n_of_m<R: Rule + ?Sized>(
    rule: &R,
    scores: &Scores,
    n: usize,
    m: usize,
    pool: &[bool],
) -> Result<Mask> {
    let sizes = scores.group_sizes();
    Budget::NofM {
        n,
        m,
        pool: pool.to_vec(),
    }
    .counts(&sizes)?;
    let mut runs: Vec<Vec<f64>> = Vec::new();
    for g in (0..sizes.len()).filter(|&g| pool[g]) {
        runs.extend(scores.group(g).chunks(m).map(<[f64]>::to_vec));
    }
    let ks: Vec<usize> = runs.iter().map(|r| r.len().min(n)).collect();
    let inner = Scores::grouped(runs);
    let chosen = rule.select(&inner, &Budget::PerGroupK(ks))?;
    let mut mask = Mask::full(&sizes);
    let mut j = 0;
    for g in (0..sizes.len()).filter(|&g| pool[g]) {
        for a in scores.offsets[g]..scores.offsets[g] + sizes[g] {
            if !chosen.contains(j) {
                mask.remove(a);
            }
            j += 1;
        }
    }
    Ok(mask)
}

/// Apply `rule` with [`Budget::Pooled`] semantics: select `k` over the pooled groups' scores,
/// keep the other groups whole.
pub(crate) fn select_pooled<R: Rule + ?Sized>(
    rule: &R,
    scores: &Scores,
    k: usize,
    pool: &[bool],
) -> Result<Mask> {
    let sizes = scores.group_sizes();
    check_groups(pool.len(), sizes.len())?;
    let groups: Vec<usize> = (0..sizes.len()).filter(|&g| pool[g]).collect();
    let inner = Scores::grouped(groups.iter().map(|&g| scores.group(g).to_vec()).collect());
    let chosen = rule.select(&inner, &Budget::TopK(k))?;
    let mut mask = Mask::full(&sizes);
    for (j, &g) in groups.iter().enumerate() {
        let (dst, src) = (scores.offsets[g].., inner.offsets[j]..);
        for (a, b) in dst.zip(src).take(sizes[g]) {
            if !chosen.contains(b) {
                mask.remove(a);
            }
        }
    }
    Ok(mask)
}

/// Apply `rule` with [`Budget::Split`] semantics: the pooled groups through
/// [`select_pooled`], then each group with a count of its own as a per-group budget.
pub(crate) fn select_split<R: Rule + ?Sized>(
    rule: &R,
    scores: &Scores,
    k: usize,
    pool: &[bool],
    own: &[Option<usize>],
) -> Result<Mask> {
    let sizes = scores.group_sizes();
    Budget::Split {
        k,
        pool: pool.to_vec(),
        own: own.to_vec(),
    }
    .counts(&sizes)?;
    let mut mask = select_pooled(rule, scores, k, pool)?;
    let ks: Vec<usize> = (0..sizes.len())
        .map(|g| own[g].unwrap_or(sizes[g]))
        .collect();
    let mine = rule.select(scores, &Budget::PerGroupK(ks))?;
    for g in (0..sizes.len()).filter(|&g| own[g].is_some()) {
        for a in mask.group_range(g) {
            if !mine.contains(a) {
                mask.remove(a);
            }
        }
    }
    Ok(mask)
}

impl Budget {
    /// The number of coordinates kept in each group, validated against the group sizes.
    /// `None` for [`Budget::Threshold`], whose counts depend on the scores.
    pub fn counts(&self, group_sizes: &[usize]) -> Result<Option<Vec<usize>>> {
        let total: usize = group_sizes.iter().sum();
        match self {
            Budget::TopK(k) => {
                if *k == 0 || *k > total {
                    return Err(Error::Budget { k: *k, len: total });
                }
                Ok(None)
            }
            Budget::PerGroupK(ks) => {
                check_groups(ks.len(), group_sizes.len())?;
                for (&k, &n) in ks.iter().zip(group_sizes) {
                    if k > n {
                        return Err(Error::Budget { k, len: n });
                    }
                }
                Ok(Some(ks.clone()))
            }
            Budget::PerGroupDensity(rho) => {
                check_groups(rho.len(), group_sizes.len())?;
                let mut ks = Vec::with_capacity(rho.len());
                for (&r, &n) in rho.iter().zip(group_sizes) {
                    if !(0.0..=1.0).contains(&r) {
                        return Err(Error::param("density", format!("{r} is not in [0, 1]")));
                    }
                    ks.push(((r * n as f64).round() as usize).min(n));
                }
                Ok(Some(ks))
            }
            Budget::Pooled { k, pool } => {
                check_pool(*k, pool, group_sizes)?;
                Ok(None)
            }
            Budget::Split { k, pool, own } => {
                check_pool(*k, pool, group_sizes)?;
                check_groups(own.len(), group_sizes.len())?;
                for (g, o) in own.iter().enumerate() {
                    match o {
                        Some(_) if pool[g] => {
                            return Err(Error::param(
                                "budget",
                                format!("group {g} is both pooled and on its own count"),
                            ))
                        }
                        Some(c) if *c > group_sizes[g] => {
                            return Err(Error::Budget {
                                k: *c,
                                len: group_sizes[g],
                            })
                        }
                        _ => {}
                    }
                }
                Ok(None)
            }
            Budget::NofM { n, m, pool } => {
                check_groups(pool.len(), group_sizes.len())?;
                if *n == 0 || n > m {
                    return Err(Error::param("budget", format!("{n}:{m} needs 1 <= N <= M")));
                }
                Ok(Some(
                    group_sizes
                        .iter()
                        .zip(pool)
                        .map(|(&size, &p)| {
                            if p {
                                (size / m) * n + (size % m).min(*n)
                            } else {
                                size
                            }
                        })
                        .collect(),
                ))
            }
            Budget::Tiles {
                tile, shapes, keep, ..
            } => tiles::tile_counts(*tile, shapes, keep, group_sizes).map(Some),
            Budget::Threshold(t) => {
                if !(t.is_finite() && *t >= 0.0) {
                    return Err(Error::param(
                        "threshold",
                        format!("{t} is not finite and >= 0"),
                    ));
                }
                Ok(None)
            }
        }
    }

    /// The number of coordinates the budget keeps over groups of `group_sizes` (validated);
    /// `None` for [`Budget::Threshold`], whose count depends on the scores.
    pub fn total(&self, group_sizes: &[usize]) -> Result<Option<usize>> {
        Ok(match (self, self.counts(group_sizes)?) {
            (_, Some(ks)) => Some(ks.iter().sum()),
            (Budget::TopK(k), None) => Some(*k),
            (Budget::Pooled { k, pool }, None) => Some(
                k + (0..pool.len())
                    .filter(|&g| !pool[g])
                    .map(|g| group_sizes[g])
                    .sum::<usize>(),
            ),
            (Budget::Split { k, pool, own }, None) => Some(
                k + (0..pool.len())
                    .filter(|&g| !pool[g])
                    .map(|g| own[g].unwrap_or(group_sizes[g]))
                    .sum::<usize>(),
            ),
            _ => None,
        })
    }
}

/// A pool's flags fit the groups and $1 \le k \le$ the pool's size.
fn check_pool(k: usize, pool: &[bool], group_sizes: &[usize]) -> Result<()> {
    check_groups(pool.len(), group_sizes.len())?;
    let n: usize = (0..pool.len())
        .filter(|&g| pool[g])
        .map(|g| group_sizes[g])
        .sum();
    if k == 0 || k > n {
        return Err(Error::Budget { k, len: n });
    }
    Ok(())
}

fn check_groups(got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(Error::Shape(format!(
            "budget has {got} groups, scores have {want}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn largest_breaks_ties_by_lower_index() {
        let s = Scores::flat(vec![1.0, -3.0, 3.0, 2.0, -3.0]);
        let m = Largest.select(&s, &Budget::TopK(2)).unwrap();
        assert_eq!(m.indices(), vec![1, 2]);
    }

    #[test]
    fn per_group_density_rounds_half_away_from_zero() {
        let s = Scores::grouped(vec![vec![1.0, 2.0, 3.0, 4.0], vec![5.0, 6.0]]);
        let m = Largest
            .select(&s, &Budget::PerGroupDensity(vec![0.625, 0.25]))
            .unwrap();
        // 0.625 * 4 = 2.5 -> 3 kept; 0.25 * 2 = 0.5 -> 1 kept.
        assert_eq!(m.group_count(0), 3);
        assert_eq!(m.group_count(1), 1);
        assert_eq!(m.indices(), vec![1, 2, 3, 5]);
    }

    #[test]
    fn budget_out_of_range_is_an_error() {
        let s = Scores::flat(vec![1.0; 3]);
        assert!(matches!(
            Largest.select(&s, &Budget::TopK(4)),
            Err(Error::Budget { k: 4, len: 3 })
        ));
        assert!(Largest.select(&s, &Budget::TopK(0)).is_err());
        // Pooled: group 1 is excluded (kept whole), 2 chosen from group 0 and 2 together.
        let g = Scores::grouped(vec![vec![5.0, 0.1], vec![0.0, 0.0], vec![0.2, 3.0]]);
        let pooled = Budget::Pooled {
            k: 2,
            pool: vec![true, false, true],
        };
        assert_eq!(
            Largest.select(&g, &pooled).unwrap().indices(),
            vec![0, 2, 3, 5]
        );
        let r = Random { seed: 3 }.select(&g, &pooled).unwrap();
        assert_eq!((r.group_count(1), r.count()), (2, 4));
        assert!(Largest
            .select(
                &g,
                &Budget::Pooled {
                    k: 5,
                    pool: vec![true, false, true]
                }
            )
            .is_err());
        assert!(Largest
            .select(&Scores::flat(vec![f64::NAN, 1.0]), &Budget::TopK(1))
            .is_err());
    }

    #[test]
    fn threshold_is_strict() {
        let s = Scores::flat(vec![0.5, -1.0, 1.5]);
        let m = Largest.select(&s, &Budget::Threshold(1.0)).unwrap();
        assert_eq!(m.indices(), vec![2]);
    }

    #[test]
    fn random_rule_meets_counts_and_is_seeded() {
        let s = Scores::grouped(vec![vec![0.0; 50], vec![0.0; 30]]);
        let b = Budget::PerGroupK(vec![7, 3]);
        let a = Random { seed: 1 }.select(&s, &b).unwrap();
        assert_eq!((a.group_count(0), a.group_count(1)), (7, 3));
        assert_eq!(a, Random { seed: 1 }.select(&s, &b).unwrap());
        assert_ne!(a, Random { seed: 2 }.select(&s, &b).unwrap());
    }

    #[test]
    fn proportional_never_draws_zero_weights() {
        let w = [0.0, 2.0, 0.0, 1.0];
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let c = draw_proportional(&w, 3000, &mut rng).unwrap();
        assert_eq!(c[0] + c[2], 0);
        let ratio = f64::from(c[1]) / f64::from(c[3]);
        assert!((ratio - 2.0).abs() < 0.3, "ratio {ratio}");
    }
}
