use fixedbitset::FixedBitSet;

use crate::{Error, Result};

/// A support: one bit per coordinate, bit-packed, split into groups (layers on the network side,
/// a single group for a flat vector).
///
/// Invariant: `offsets` starts at 0, is non-decreasing and ends at `bits.len()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mask {
    bits: FixedBitSet,
    offsets: Vec<usize>,
}

impl Mask {
    /// An all-zero mask over groups of the given sizes.
    pub fn empty(group_sizes: &[usize]) -> Self {
        let offsets = offsets_of(group_sizes);
        let len = *offsets.last().unwrap_or(&0);
        Mask {
            bits: FixedBitSet::with_capacity(len),
            offsets,
        }
    }

    /// An all-one mask (dense) over groups of the given sizes.
    pub fn full(group_sizes: &[usize]) -> Self {
        let mut m = Self::empty(group_sizes);
        m.bits.insert_range(..);
        m
    }

    /// A single-group mask of length `len` holding `indices`.
    pub fn from_indices(len: usize, indices: &[usize]) -> Result<Self> {
        let mut m = Self::empty(&[len]);
        for &i in indices {
            if i >= len {
                return Err(Error::Shape(format!(
                    "index {i} out of range for length {len}"
                )));
            }
            m.bits.insert(i);
        }
        Ok(m)
    }

    /// Mask from a 0/1 (or boolean-like, nonzero = kept) byte per coordinate and group sizes.
    pub fn from_bytes(bytes: &[u8], group_sizes: &[usize]) -> Result<Self> {
        let mut m = Self::empty(group_sizes);
        if bytes.len() != m.len() {
            return Err(Error::Shape(format!(
                "mask has {} bytes, groups need {}",
                bytes.len(),
                m.len()
            )));
        }
        for (i, &b) in bytes.iter().enumerate() {
            if b != 0 {
                m.bits.insert(i);
            }
        }
        Ok(m)
    }

    /// Total number of coordinates.
    pub fn len(&self) -> usize {
        self.bits.len()
    }

    /// Whether the mask covers no coordinate at all.
    pub fn is_empty(&self) -> bool {
        self.bits.len() == 0
    }

    /// Number of groups.
    pub fn n_groups(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Sizes of the groups.
    pub fn group_sizes(&self) -> Vec<usize> {
        self.offsets.windows(2).map(|w| w[1] - w[0]).collect()
    }

    /// Coordinate range of group `g` in the flat numbering.
    pub fn group_range(&self, g: usize) -> std::ops::Range<usize> {
        self.offsets[g]..self.offsets[g + 1]
    }

    /// Whether coordinate `i` is kept.
    pub fn contains(&self, i: usize) -> bool {
        self.bits.contains(i)
    }

    /// Keep coordinate `i`.
    pub fn insert(&mut self, i: usize) {
        self.bits.insert(i);
    }

    /// Drop coordinate `i`.
    pub fn remove(&mut self, i: usize) {
        self.bits.set(i, false);
    }

    /// Number of kept coordinates.
    pub fn count(&self) -> usize {
        self.bits.count_ones(..)
    }

    /// Number of kept coordinates in group `g`.
    pub fn group_count(&self, g: usize) -> usize {
        self.bits.count_ones(self.group_range(g))
    }

    /// Fraction of kept coordinates (1 for a dense mask).
    pub fn density(&self) -> f64 {
        if self.is_empty() {
            return 0.0;
        }
        self.count() as f64 / self.len() as f64
    }

    /// Kept coordinates, sorted ascending.
    pub fn indices(&self) -> Vec<usize> {
        self.bits.ones().collect()
    }

    /// Iterator over kept coordinates, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.bits.ones()
    }

    /// One byte (0 or 1) per coordinate of group `g`, the layout saved to disk.
    pub fn group_bytes(&self, g: usize) -> Vec<u8> {
        self.group_range(g)
            .map(|i| u8::from(self.bits.contains(i)))
            .collect()
    }

    /// Union with another mask of the same shape.
    pub fn union(&self, other: &Mask) -> Result<Mask> {
        self.check_same_shape(other)?;
        let mut m = self.clone();
        m.bits.union_with(&other.bits);
        Ok(m)
    }

    /// Intersection with another mask of the same shape.
    pub fn intersection(&self, other: &Mask) -> Result<Mask> {
        self.check_same_shape(other)?;
        let mut m = self.clone();
        m.bits.intersect_with(&other.bits);
        Ok(m)
    }

    /// Number of coordinates on which the two masks differ.
    pub fn hamming(&self, other: &Mask) -> Result<usize> {
        self.check_same_shape(other)?;
        Ok(self.bits.symmetric_difference(&other.bits).count())
    }

    /// Hamming distance divided by the number of coordinates — You et al.'s early-bird distance
    /// for channel masks. Two masks of density $\rho$ are at most $2\rho$ apart under it, so at
    /// high sparsity it says nothing (at 98% sparsity, disjoint masks are 0.04 apart); use
    /// [`Mask::kept_distance`] for weight masks.
    pub fn normalized_hamming(&self, other: &Mask) -> Result<f64> {
        Ok(self.hamming(other)? as f64 / self.len().max(1) as f64)
    }

    /// Distance relative to the kept sets: $1 - |M \cap M'| / \max(|M|, |M'|)$, in $[0, 1]$ at
    /// every density (0: the same kept set; 1: disjoint). For masks of equal size it is the
    /// fraction of the kept weights that changed, Hamming$/(2|M|)$. Two empty masks are 0 apart.
    ///
    /// ```
    /// use lottery::select::Mask;
    /// // 2% of 100 coordinates kept, disjoint: 0.04 apart by Hamming, 1.0 by kept sets.
    /// let mut a = vec![0u8; 100];
    /// let mut b = vec![0u8; 100];
    /// a[0] = 1; a[1] = 1; b[2] = 1; b[3] = 1;
    /// let (a, b) = (Mask::from_bytes(&a, &[100]).unwrap(), Mask::from_bytes(&b, &[100]).unwrap());
    /// assert_eq!(a.normalized_hamming(&b).unwrap(), 0.04);
    /// assert_eq!(a.kept_distance(&b).unwrap(), 1.0);
    /// ```
    pub fn kept_distance(&self, other: &Mask) -> Result<f64> {
        let common = self.intersection(other)?.count();
        let larger = self.count().max(other.count());
        Ok(if larger == 0 {
            0.0
        } else {
            1.0 - common as f64 / larger as f64
        })
    }

    fn check_same_shape(&self, other: &Mask) -> Result<()> {
        if self.offsets != other.offsets {
            return Err(Error::Shape(format!(
                "masks have groups {:?} and {:?}",
                self.group_sizes(),
                other.group_sizes()
            )));
        }
        Ok(())
    }
}

pub(crate) fn offsets_of(group_sizes: &[usize]) -> Vec<usize> {
    let mut offsets = Vec::with_capacity(group_sizes.len() + 1);
    offsets.push(0);
    let mut acc = 0;
    for &s in group_sizes {
        acc += s;
        offsets.push(acc);
    }
    offsets
}
