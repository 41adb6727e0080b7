//! Drop-and-grow at a constant budget: the mask update of dynamic sparse training (SET, RigL)
//! and of any swap-based local search on a sparse vector.

use super::{top_k, Mask, Scores};
use crate::{Error, Result};

/// The result of [`exchange`].
#[derive(Clone, Debug, PartialEq)]
pub struct Exchange {
    /// The new support; it has exactly as many coordinates in every group as the old one.
    pub mask: Mask,
    /// Coordinates of the old support that are not in the new one.
    pub dropped: Vec<usize>,
    /// Coordinates of the new support that were not in the old one (a coordinate dropped and
    /// grown back in the same exchange is in neither list).
    pub grown: Vec<usize>,
}

impl Exchange {
    /// The move from `current` to `mask`: what left and what came in.
    pub fn between(current: &Mask, mask: Mask) -> Self {
        let dropped = current.iter().filter(|&i| !mask.contains(i)).collect();
        let grown = mask.iter().filter(|&i| !current.contains(i)).collect();
        Exchange {
            mask,
            dropped,
            grown,
        }
    }
}

/// In every group `g`, drop the `counts[g]` members of `current` with the smallest `|drop|`
/// (among equal magnitudes the higher index is dropped first), then add the `counts[g]`
/// coordinates with the largest `|grow|` among those outside the support left by the drop —
/// the just-dropped ones included, so a dropped coordinate can come straight back (RigL's
/// rule). Each group keeps exactly its count; `counts[g]` larger than the group's support is
/// clipped to it.
///
/// RigL is `drop` = the weights, `grow` = the dense gradient; SET is `grow` = uniform random
/// scores.
///
/// ```
/// use lottery::select::{exchange, Mask, Scores};
/// let current = Mask::from_indices(5, &[0, 1, 2]).unwrap();
/// let w = Scores::flat(vec![3.0, 0.1, -2.0, 0.0, 0.0]);
/// let g = Scores::flat(vec![0.0, 9.0, 0.0, 0.5, -4.0]);
/// let e = exchange(&current, &w, &g, &[1]).unwrap();
/// // 0.1 is dropped; among the outside coordinates {1, 3, 4} the gradient picks 1 back.
/// assert_eq!(e.mask.indices(), vec![0, 1, 2]);
/// let e = exchange(&current, &w, &g, &[2]).unwrap();
/// // 0.1 and −2 are dropped; 1 (|9|) and 4 (|−4|) grow.
/// assert_eq!(e.mask.indices(), vec![0, 1, 4]);
/// assert_eq!((e.dropped, e.grown), (vec![2], vec![4]));
/// ```
pub fn exchange(
    current: &Mask,
    drop: &Scores,
    grow: &Scores,
    counts: &[usize],
) -> Result<Exchange> {
    let sizes = current.group_sizes();
    if drop.group_sizes() != sizes || grow.group_sizes() != sizes || counts.len() != sizes.len() {
        return Err(Error::Shape(format!(
            "exchange: mask groups {:?}, drop scores {:?}, grow scores {:?}, {} counts",
            sizes,
            drop.group_sizes(),
            grow.group_sizes(),
            counts.len()
        )));
    }
    drop.check_finite()?;
    grow.check_finite()?;
    let mut mask = current.clone();
    let (dv, gv) = (drop.values(), grow.values());
    for (g, &count) in counts.iter().enumerate() {
        let range = current.group_range(g);
        let members: Vec<usize> = range.clone().filter(|&i| current.contains(i)).collect();
        let n = count.min(members.len());
        if n == 0 {
            continue;
        }
        let magnitudes: Vec<f64> = members.iter().map(|&i| dv[i]).collect();
        let mut keep = vec![false; members.len()];
        for j in top_k(&magnitudes, members.len() - n) {
            keep[j] = true;
        }
        for (j, &i) in members.iter().enumerate() {
            if !keep[j] {
                mask.remove(i);
            }
        }
        let outside: Vec<usize> = range.filter(|&i| !mask.contains(i)).collect();
        let values: Vec<f64> = outside.iter().map(|&i| gv[i]).collect();
        for j in top_k(&values, n) {
            mask.insert(outside[j]);
        }
    }
    Ok(Exchange::between(current, mask))
}

/// Drop-and-grow that keeps an N:M support N:M: group `g` makes `swaps[g]` swaps, each inside
/// one run of `m` consecutive coordinates (the run's smallest `|drop|` member out, its largest
/// `|grow|` non-member in — the just-dropped one included, so a swap may leave the run as it
/// was). The runs that swap are those whose best outside `|grow|` is largest (ties: lower run
/// first), at most one swap per run, so at most the group's number of runs. Every run keeps its
/// count; a group with `swaps[g] = 0` is untouched.
///
/// ```
/// use lottery::select::{exchange_n_of_m, Mask, Scores};
/// // One group, two runs of 4 with 2 kept each: {0, 1} and {4, 5}.
/// let current = Mask::from_indices(8, &[0, 1, 4, 5]).unwrap();
/// let w = Scores::flat(vec![3.0, 0.1, 0.0, 0.0, 2.0, 1.0, 0.0, 0.0]);
/// let g = Scores::flat(vec![0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 0.0, 9.0]);
/// let e = exchange_n_of_m(&current, &w, &g, &[1], 4).unwrap();
/// // Only the second run swaps (|9| > |5|): 1.0 out, index 7 in.
/// assert_eq!(e.mask.indices(), vec![0, 1, 4, 7]);
/// ```
pub fn exchange_n_of_m(
    current: &Mask,
    drop: &Scores,
    grow: &Scores,
    swaps: &[usize],
    m: usize,
) -> Result<Exchange> {
    let sizes = current.group_sizes();
    if drop.group_sizes() != sizes || grow.group_sizes() != sizes || swaps.len() != sizes.len() {
        return Err(Error::Shape(format!(
            "exchange_n_of_m: mask groups {:?}, {} swap counts",
            sizes,
            swaps.len()
        )));
    }
    if m == 0 {
        return Err(Error::param("m", "must be >= 1"));
    }
    let (dv, gv) = (drop.values(), grow.values());
    // Every swapping group's runs become groups of their own.
    let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    for (g, &s) in swaps.iter().enumerate() {
        if s == 0 {
            continue;
        }
        let range = current.group_range(g);
        let here: Vec<std::ops::Range<usize>> = range
            .clone()
            .step_by(m)
            .map(|a| a..(a + m).min(range.end))
            .collect();
        let gain: Vec<f64> = here
            .iter()
            .map(|r| {
                r.clone()
                    .filter(|&i| !current.contains(i))
                    .map(|i| gv[i].abs())
                    .fold(0.0, f64::max)
            })
            .collect();
        let chosen = top_k(&gain, s.min(here.len()));
        for (j, r) in here.into_iter().enumerate() {
            let members = r.clone().filter(|&i| current.contains(i)).count();
            counts.push(usize::from(chosen.binary_search(&j).is_ok() && members > 0));
            runs.push(r);
        }
    }
    let take = |v: &[f64]| -> Scores {
        Scores::grouped(runs.iter().map(|r| v[r.clone()].to_vec()).collect())
    };
    let run_sizes: Vec<usize> = runs.iter().map(|r| r.len()).collect();
    let mut inner = Mask::empty(&run_sizes);
    let mut j = 0;
    for r in &runs {
        for i in r.clone() {
            if current.contains(i) {
                inner.insert(j);
            }
            j += 1;
        }
    }
    let e = exchange(&inner, &take(dv), &take(gv), &counts)?;
    let mut mask = current.clone();
    let mut j = 0;
    for r in &runs {
        for i in r.clone() {
            if e.mask.contains(j) {
                mask.insert(i);
            } else {
                mask.remove(i);
            }
            j += 1;
        }
    }
    Ok(Exchange::between(current, mask))
}
