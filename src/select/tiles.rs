//! Tile budgets: whole blocks of a matrix, or whole rows (a unit's or filter's weights).

use super::{Budget, Mask, Rule, Scores};
use crate::{Error, Result};

/// The unit a [`Budget::Tiles`] keeps or removes whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Tile {
    /// An `h × w` block of the row-major matrix (the blocks of the last block-row and block-column
    /// may be smaller).
    Block {
        /// Rows of a block.
        h: usize,
        /// Columns of a block.
        w: usize,
    },
    /// A whole row: a unit's incoming weights, or a filter (its kernel flattened into the row).
    Row,
}

impl Tile {
    /// Tiles of a `rows × cols` matrix.
    pub fn count(self, rows: usize, cols: usize) -> usize {
        match self {
            Tile::Block { h, w } => rows.div_ceil(h) * cols.div_ceil(w),
            Tile::Row => rows,
        }
    }

    /// The flat indices of each tile of a `rows × cols` row-major matrix, tiles in row-major
    /// order.
    pub fn members(self, rows: usize, cols: usize) -> Vec<Vec<usize>> {
        match self {
            Tile::Row => (0..rows)
                .map(|r| (r * cols..(r + 1) * cols).collect())
                .collect(),
            Tile::Block { h, w } => {
                let mut out = Vec::with_capacity(self.count(rows, cols));
                for r0 in (0..rows).step_by(h) {
                    for c0 in (0..cols).step_by(w) {
                        let mut t = Vec::with_capacity(h * w);
                        for r in r0..(r0 + h).min(rows) {
                            t.extend(r * cols + c0..r * cols + (c0 + w).min(cols));
                        }
                        out.push(t);
                    }
                }
                out
            }
        }
    }
}

/// Check a tile budget against the groups; returns the coordinates it keeps per group.
pub(crate) fn tile_counts(
    tile: Tile,
    shapes: &[(usize, usize)],
    keep: &[Option<usize>],
    group_sizes: &[usize],
) -> Result<Vec<usize>> {
    if shapes.len() != group_sizes.len() || keep.len() != group_sizes.len() {
        return Err(Error::Shape(format!(
            "tile budget: {} shapes and {} counts for {} groups",
            shapes.len(),
            keep.len(),
            group_sizes.len()
        )));
    }
    if let Tile::Block { h, w } = tile {
        if h == 0 || w == 0 {
            return Err(Error::param(
                "budget",
                format!("block {h}x{w}: sides must be >= 1"),
            ));
        }
    }
    let mut counts = Vec::with_capacity(keep.len());
    for (g, (&(rows, cols), k)) in shapes.iter().zip(keep).enumerate() {
        if rows * cols != group_sizes[g] {
            return Err(Error::Shape(format!(
                "group {g}: shape {rows}x{cols} for {} coordinates",
                group_sizes[g]
            )));
        }
        counts.push(match k {
            None => group_sizes[g],
            Some(k) => {
                let tiles = tile.members(rows, cols);
                if *k > tiles.len() {
                    return Err(Error::Budget {
                        k: *k,
                        len: tiles.len(),
                    });
                }
                // Kept coordinates depend on which tiles are kept only when edge tiles are
                // smaller; the count is of the largest tiles as an upper bound.
                let mut sizes: Vec<usize> = tiles.iter().map(Vec::len).collect();
                sizes.sort_unstable_by(|a, b| b.cmp(a));
                sizes[..*k].iter().sum()
            }
        });
    }
    Ok(counts)
}

/// Apply `rule` with [`Budget::Tiles`] semantics: each tile of a group with a count is scored by
/// its $\ell_2$ mass $\sum s_i^2$, the rule keeps `keep[g]` tiles of group `g` (as a per-group
/// budget over the tiles), and a kept tile keeps all its coordinates. With [`super::Largest`]
/// this is the exact Euclidean projection onto "`keep[g]` whole tiles per group" (the nearest
/// such point keeps the tiles of largest mass), before any next-layer removal.
pub(crate) fn select_tiles<R: Rule + ?Sized>(
    rule: &R,
    scores: &Scores,
    tile: Tile,
    shapes: &[(usize, usize)],
    keep: &[Option<usize>],
    next: &[Option<usize>],
) -> Result<Mask> {
    let sizes = scores.group_sizes();
    tile_counts(tile, shapes, keep, &sizes)?;
    check_next(tile, shapes, next)?;
    scores.check_finite()?;
    let mut units: Vec<Vec<f64>> = Vec::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    let mut ks = Vec::new();
    for (g, k) in keep.iter().enumerate() {
        let Some(k) = k else { continue };
        let (rows, cols) = shapes[g];
        let start = scores.offsets[g];
        let tiles = tile.members(rows, cols);
        units.push(
            tiles
                .iter()
                .map(|t| t.iter().map(|&i| scores.values()[start + i].powi(2)).sum())
                .collect(),
        );
        members.extend(
            tiles
                .into_iter()
                .map(|t| t.into_iter().map(|i| start + i).collect::<Vec<_>>()),
        );
        ks.push(*k);
    }
    let mut mask = Mask::full(&sizes);
    if units.is_empty() {
        return Ok(mask);
    }
    let inner = Scores::grouped(units);
    let chosen = rule.select(&inner, &Budget::PerGroupK(ks))?;
    for (j, t) in members.iter().enumerate() {
        if !chosen.contains(j) {
            for &i in t {
                mask.remove(i);
            }
        }
    }
    // A removed row takes its outgoing weights (the next group's columns it feeds) with it.
    for (g, span) in next.iter().enumerate() {
        let Some(span) = span else { continue };
        let (rows, cols) = shapes[g];
        let (next_rows, next_cols) = shapes[g + 1];
        let (start, next_start) = (scores.offsets[g], scores.offsets[g + 1]);
        for r in 0..rows {
            if (start + r * cols..start + (r + 1) * cols).any(|i| mask.contains(i)) {
                continue;
            }
            for q in 0..next_rows {
                for c in r * span..(r + 1) * span {
                    mask.remove(next_start + q * next_cols + c);
                }
            }
        }
    }
    Ok(mask)
}

/// `next` is empty or one entry per group; a span links a row group to the following group
/// whose columns it divides exactly.
fn check_next(tile: Tile, shapes: &[(usize, usize)], next: &[Option<usize>]) -> Result<()> {
    if next.is_empty() {
        return Ok(());
    }
    if next.len() != shapes.len() {
        return Err(Error::Shape(format!(
            "tile budget: {} next-layer spans for {} groups",
            next.len(),
            shapes.len()
        )));
    }
    for (g, span) in next.iter().enumerate() {
        let Some(span) = span else { continue };
        let fits = tile == Tile::Row
            && g + 1 < shapes.len()
            && *span >= 1
            && shapes[g].0 * span == shapes[g + 1].1;
        if !fits {
            return Err(Error::Shape(format!(
                "tile budget: group {g} ({}x{}) does not feed group {} with {span} columns per row",
                shapes[g].0,
                shapes[g].1,
                g + 1
            )));
        }
    }
    Ok(())
}

/// Drop-and-grow over whole tiles: [`super::exchange`] applied to the tiles of every group (a
/// tile is in the support when its first coordinate is), with each tile scored by its $\ell_2$
/// mass under `drop` and `grow`; `counts[g]` tiles move in group `g`. The support must be made
/// of whole tiles; the result is too, with the same number of tiles per group.
pub fn exchange_tiles(
    current: &Mask,
    drop: &Scores,
    grow: &Scores,
    counts: &[usize],
    tile: Tile,
    shapes: &[(usize, usize)],
) -> Result<super::Exchange> {
    let sizes = current.group_sizes();
    tile_counts(tile, shapes, &vec![None; sizes.len()], &sizes)?;
    let members: Vec<Vec<Vec<usize>>> = shapes
        .iter()
        .enumerate()
        .map(|(g, &(r, c))| {
            let start = current.group_range(g).start;
            tile.members(r, c)
                .into_iter()
                .map(|t| t.into_iter().map(|i| start + i).collect())
                .collect()
        })
        .collect();
    let mass = |s: &Scores| -> Scores {
        Scores::grouped(
            members
                .iter()
                .map(|ts| {
                    ts.iter()
                        .map(|t| t.iter().map(|&i| s.values()[i].powi(2)).sum())
                        .collect()
                })
                .collect(),
        )
    };
    let tile_sizes: Vec<usize> = members.iter().map(Vec::len).collect();
    let mut tiles_in = Mask::empty(&tile_sizes);
    let mut j = 0;
    for ts in &members {
        for t in ts {
            if current.contains(t[0]) {
                tiles_in.insert(j);
            }
            j += 1;
        }
    }
    let e = super::exchange(&tiles_in, &mass(drop), &mass(grow), counts)?;
    let mut mask = Mask::empty(&sizes);
    for (j, t) in members.iter().flatten().enumerate() {
        if e.mask.contains(j) {
            for &i in t {
                mask.insert(i);
            }
        }
    }
    Ok(super::Exchange::between(current, mask))
}

/// Drop-and-grow over whole units of a chain of layers (channel budgets): unit `r` of group `g`
/// is row `r` of `g` together with the columns `r·span..(r+1)·span` of every row of group `g+1`
/// when `next[g] = Some(span)` — its incoming and outgoing weights. In every group with
/// `counts[g] > 0`, [`super::exchange`] moves `counts[g]` units, scored by the $\ell_2$ mass of
/// `drop` and of `grow` over all their weights (so a removed unit, whose incoming gradient is
/// zero because its outgoing weights are masked, is scored by its outgoing gradient). The masks
/// are then rebuilt as (rows alive) × (inputs from units alive) in every group the move touches.
/// A unit is alive when its row has a member in `current`.
pub fn exchange_units(
    current: &Mask,
    drop: &Scores,
    grow: &Scores,
    counts: &[usize],
    shapes: &[(usize, usize)],
    next: &[Option<usize>],
) -> Result<super::Exchange> {
    let sizes = current.group_sizes();
    tile_counts(Tile::Row, shapes, &vec![None; sizes.len()], &sizes)?;
    check_next(Tile::Row, shapes, next)?;
    let start = |g: usize| current.group_range(g).start;
    let row_alive = |m: &Mask, g: usize, r: usize| {
        let (_, cols) = shapes[g];
        (start(g) + r * cols..start(g) + (r + 1) * cols).any(|i| m.contains(i))
    };
    let mut alive: Vec<Vec<bool>> = (0..sizes.len())
        .map(|g| (0..shapes[g].0).map(|r| row_alive(current, g, r)).collect())
        .collect();
    let mut touched = vec![false; sizes.len()];
    for (g, &count) in counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let (rows, cols) = shapes[g];
        let span = next.get(g).copied().flatten();
        let members = |r: usize| -> Vec<usize> {
            let mut v: Vec<usize> = (start(g) + r * cols..start(g) + (r + 1) * cols).collect();
            if let Some(span) = span {
                let (next_rows, next_cols) = shapes[g + 1];
                for q in 0..next_rows {
                    v.extend((r * span..(r + 1) * span).map(|c| start(g + 1) + q * next_cols + c));
                }
            }
            v
        };
        let units: Vec<Vec<usize>> = (0..rows).map(members).collect();
        let mass = |s: &Scores| -> Scores {
            Scores::flat(
                units
                    .iter()
                    .map(|u| u.iter().map(|&i| s.values()[i].powi(2)).sum())
                    .collect(),
            )
        };
        let mut inside = Mask::empty(&[rows]);
        for r in (0..rows).filter(|&r| alive[g][r]) {
            inside.insert(r);
        }
        let e = super::exchange(&inside, &mass(drop), &mass(grow), &[count])?;
        alive[g] = (0..rows).map(|r| e.mask.contains(r)).collect();
        touched[g] = true;
        if span.is_some() {
            touched[g + 1] = true;
        }
    }
    let mut mask = current.clone();
    for g in (0..sizes.len()).filter(|&g| touched[g]) {
        let cols = shapes[g].1;
        let inputs: Vec<bool> = match g
            .checked_sub(1)
            .and_then(|p| next.get(p).copied().flatten())
        {
            Some(span) => (0..cols).map(|q| alive[g - 1][q / span]).collect(),
            None => vec![true; cols],
        };
        for (r, &row) in alive[g].iter().enumerate() {
            for (q, &live) in inputs.iter().enumerate() {
                let i = start(g) + r * cols + q;
                if row && live {
                    mask.insert(i);
                } else {
                    mask.remove(i);
                }
            }
        }
    }
    Ok(super::Exchange::between(current, mask))
}
