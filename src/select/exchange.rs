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
    let dropped = current.iter().filter(|&i| !mask.contains(i)).collect();
    let grown = mask.iter().filter(|&i| !current.contains(i)).collect();
    Ok(Exchange {
        mask,
        dropped,
        grown,
    })
}
