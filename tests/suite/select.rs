//! Property tests of the selection layer: exact top-k, budgets, masks.

use lottery::select::{top_k, Budget, Largest, Mask, Random, Rule, Scores};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct("tests/suite/proptest-regressions/select.txt"))), ..ProptestConfig::default() })]

    /// `Largest` keeps exactly k coordinates, every kept |s| ≥ every dropped |s|, and among equal
    /// magnitudes the lower index wins; the result equals a full sort.
    #[test]
    fn largest_is_exact_top_k(values in prop::collection::vec(-3i32..3, 1..200), k_frac in 0.0f64..1.0) {
        let v: Vec<f64> = values.iter().map(|&x| f64::from(x) * 0.5).collect();
        let k = 1 + ((v.len() - 1) as f64 * k_frac) as usize;
        let mask = Largest.select(&Scores::flat(v.clone()), &Budget::TopK(k)).unwrap();
        prop_assert_eq!(mask.count(), k);
        let mut order: Vec<usize> = (0..v.len()).collect();
        order.sort_by(|&a, &b| v[b].abs().total_cmp(&v[a].abs()).then(a.cmp(&b)));
        let mut expected = order[..k].to_vec();
        expected.sort_unstable();
        prop_assert_eq!(mask.indices(), expected.clone());
        prop_assert_eq!(top_k(&v, k), expected);
    }

    /// Per-group budgets keep the requested count in every group, and only within the group.
    #[test]
    fn per_group_counts(groups in prop::collection::vec(prop::collection::vec(-5.0f64..5.0, 1..40), 1..6),
                        dens in prop::collection::vec(0.0f64..=1.0, 6)) {
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        let rho: Vec<f64> = dens[..groups.len()].to_vec();
        let scores = Scores::grouped(groups.clone());
        let mask = Largest.select(&scores, &Budget::PerGroupDensity(rho.clone())).unwrap();
        for (g, &n) in sizes.iter().enumerate() {
            let want = ((rho[g] * n as f64).round() as usize).min(n);
            prop_assert_eq!(mask.group_count(g), want);
            let r = Random { seed: 7 }.select(&scores, &Budget::PerGroupDensity(rho.clone())).unwrap();
            prop_assert_eq!(r.group_count(g), want);
        }
    }

    /// Masks round-trip through their on-disk byte layout and Hamming distances are symmetric.
    #[test]
    fn mask_bytes_round_trip(bits in prop::collection::vec(any::<bool>(), 1..300), split in 0.0f64..1.0) {
        let n = bits.len();
        let a = ((n as f64) * split) as usize;
        let sizes = [a, n - a];
        let bytes: Vec<u8> = bits.iter().map(|&b| u8::from(b)).collect();
        let m = Mask::from_bytes(&bytes, &sizes).unwrap();
        let mut back = m.group_bytes(0);
        back.extend(m.group_bytes(1));
        prop_assert_eq!(&back, &bytes);
        prop_assert_eq!(m.count(), bits.iter().filter(|b| **b).count());
        let full = Mask::full(&sizes);
        prop_assert_eq!(m.hamming(&full).unwrap(), full.hamming(&m).unwrap());
        prop_assert_eq!(m.hamming(&full).unwrap(), n - m.count());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct("tests/suite/proptest-regressions/select.txt"))), ..ProptestConfig::default() })]

    /// ERK densities (Evci et al. 2020): every density in (0, 1]; the pooled layers keep exactly
    /// `density` of their weights together; among layers not capped at 1 the density is one
    /// constant times (Σ shape)/(Π shape); a capped layer's scaled score is at least 1; layers
    /// outside the pool stay dense.
    #[test]
    fn erk_densities_follow_the_formula(
        shapes in prop::collection::vec(prop::collection::vec(1usize..40, 1..5), 1..6),
        pool_bits in prop::collection::vec(any::<bool>(), 6),
        density in 0.01f64..=1.0,
    ) {
        let mut pool = pool_bits[..shapes.len()].to_vec();
        pool[0] = true;
        let rho = lottery::select::erk_densities(&shapes, &pool, density).unwrap();
        let size = |s: &Vec<usize>| s.iter().product::<usize>() as f64;
        let raw = |s: &Vec<usize>| s.iter().sum::<usize>() as f64 / size(s);
        let (mut kept, mut total) = (0.0, 0.0);
        for (g, s) in shapes.iter().enumerate() {
            prop_assert!(rho[g] > 0.0 && rho[g] <= 1.0 + 1e-12, "{:?}", rho);
            if pool[g] {
                kept += rho[g] * size(s);
                total += size(s);
            } else {
                prop_assert_eq!(rho[g], 1.0);
            }
        }
        prop_assert!((kept - density * total).abs() <= 1e-9 * total, "{} vs {}", kept, density * total);
        let free: Vec<usize> = (0..shapes.len()).filter(|&g| pool[g] && rho[g] < 1.0).collect();
        if let Some(&f) = free.first() {
            let eps = rho[f] / raw(&shapes[f]);
            for &g in &free {
                prop_assert!((rho[g] / raw(&shapes[g]) - eps).abs() <= 1e-9 * eps);
            }
            for g in (0..shapes.len()).filter(|&g| pool[g] && rho[g] >= 1.0) {
                prop_assert!(eps * raw(&shapes[g]) >= 1.0 - 1e-9);
            }
        }
    }
}

/// ERK on LeNet-300-100 at 10% density, by hand: raw scores (784+300)/(784·300), 400/30000,
/// 110/1000; the output layer's ε·0.11 would exceed 1, so it is kept dense and the other two
/// share the rest.
#[test]
fn erk_on_lenet_by_hand() {
    let shapes = vec![vec![300, 784], vec![100, 300], vec![10, 100]];
    let rho = lottery::select::erk_densities(&shapes, &[true; 3], 0.1).unwrap();
    assert_eq!(rho[2], 1.0);
    let (n1, n2) = (235_200.0, 30_000.0);
    let target = 0.1 * (n1 + n2 + 1000.0) - 1000.0;
    let eps = target / (1084.0 + 400.0);
    assert!((rho[0] - eps * 1084.0 / n1).abs() < 1e-12, "{rho:?}");
    assert!((rho[1] - eps * 400.0 / n2).abs() < 1e-12, "{rho:?}");
    assert!(rho[1] > rho[0]);
    assert!(lottery::select::erk_densities(&shapes, &[true; 3], 0.0).is_err());
    assert!(lottery::select::erk_densities(&[vec![0, 3]], &[true], 0.5).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct("tests/suite/proptest-regressions/select.txt"))), ..ProptestConfig::default() })]

    /// N:M budgets: in every pooled group each run of M consecutive coordinates keeps exactly
    /// min(N, run length) — with `Largest` the run's largest |s| (ties to the lower index), with
    /// `Random` any of them — and groups outside the pool are kept whole.
    #[test]
    fn n_of_m_keeps_n_in_every_run(
        groups in prop::collection::vec(prop::collection::vec(-4i32..4, 1..50), 1..5),
        pool_bits in prop::collection::vec(any::<bool>(), 5),
        m in 1usize..9,
        n_frac in 0.0f64..1.0,
        seed in any::<u64>(),
    ) {
        let n = 1 + ((m - 1) as f64 * n_frac) as usize;
        let pool = pool_bits[..groups.len()].to_vec();
        let values: Vec<Vec<f64>> = groups.iter().map(|g| g.iter().map(|&v| f64::from(v)).collect()).collect();
        let scores = Scores::grouped(values.clone());
        let budget = Budget::NofM { n, m, pool: pool.clone() };
        for (rule, exact) in [(&Largest as &dyn Rule, true), (&Random { seed } as &dyn Rule, false)] {
            let mask = rule.select(&scores, &budget).unwrap();
            let mut start = 0;
            for (g, v) in values.iter().enumerate() {
                let kept: Vec<bool> = (0..v.len()).map(|i| mask.contains(start + i)).collect();
                if !pool[g] {
                    prop_assert!(kept.iter().all(|&k| k));
                } else {
                    for (r, run) in v.chunks(m).enumerate() {
                        let bits = &kept[r * m..r * m + run.len()];
                        prop_assert_eq!(bits.iter().filter(|&&k| k).count(), n.min(run.len()));
                        if exact {
                            let mut order: Vec<usize> = (0..run.len()).collect();
                            order.sort_by(|&a, &b| run[b].abs().total_cmp(&run[a].abs()).then(a.cmp(&b)));
                            for &i in &order[..n.min(run.len())] {
                                prop_assert!(bits[i], "run {:?} kept {:?}", run, bits);
                            }
                        }
                    }
                }
                start += v.len();
            }
            prop_assert_eq!(Some(mask.count()), budget.total(&scores.group_sizes()).unwrap());
        }
    }
}

/// 2:4 on one row of 8 and a refused 3:2.
#[test]
fn two_of_four_by_hand() {
    let s = Scores::flat(vec![0.1, -3.0, 2.0, 0.5, 4.0, 0.0, -0.2, 1.0]);
    let m = Largest
        .select(
            &s,
            &Budget::NofM {
                n: 2,
                m: 4,
                pool: vec![true],
            },
        )
        .unwrap();
    assert_eq!(m.indices(), vec![1, 2, 4, 7]);
    assert!(Largest
        .select(
            &s,
            &Budget::NofM {
                n: 3,
                m: 2,
                pool: vec![true]
            }
        )
        .is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct("tests/suite/proptest-regressions/select.txt"))), ..ProptestConfig::default() })]

    /// Drop-and-grow (`select::exchange`, the mask update of SET and RigL): every group keeps its
    /// count; the result equals the reference by full sorts (drop the smallest |drop| members,
    /// then grow the largest |grow| outside what is left, the just-dropped ones included);
    /// `dropped` and `grown` are the set differences.
    #[test]
    fn exchange_keeps_counts_drops_the_smallest_and_grows_the_largest(
        groups in prop::collection::vec(prop::collection::vec((-4i32..4, -4i32..4, any::<bool>()), 1..40), 1..5),
        fracs in prop::collection::vec(0.0f64..=1.0, 5),
    ) {
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        let flat: Vec<(i32, i32, bool)> = groups.iter().flatten().cloned().collect();
        let drop = Scores::from_parts(flat.iter().map(|t| f64::from(t.0) * 0.5).collect(), &sizes).unwrap();
        let grow = Scores::from_parts(flat.iter().map(|t| f64::from(t.1) * 0.5).collect(), &sizes).unwrap();
        let mut current = lottery::select::Mask::empty(&sizes);
        for (i, t) in flat.iter().enumerate() {
            if t.2 {
                current.insert(i);
            }
        }
        let counts: Vec<usize> = (0..sizes.len())
            .map(|g| (fracs[g] * current.group_count(g) as f64) as usize)
            .collect();
        let e = lottery::select::exchange(&current, &drop, &grow, &counts).unwrap();
        // The reference by full sorts: keep the members of largest |drop| (ties: lower index),
        // then grow the largest |grow| outside them (ties: lower index).
        let by = |v: &[f64], a: usize, b: usize| v[b].abs().total_cmp(&v[a].abs()).then(a.cmp(&b));
        let mut expected = lottery::select::Mask::empty(&sizes);
        for (g, &count) in counts.iter().enumerate() {
            prop_assert_eq!(e.mask.group_count(g), current.group_count(g));
            let range = current.group_range(g);
            let mut members: Vec<usize> = range.clone().filter(|&i| current.contains(i)).collect();
            let n = count.min(members.len());
            members.sort_by(|&a, &b| by(drop.values(), a, b));
            let kept = &members[..members.len() - n];
            let mut outside: Vec<usize> = range.filter(|i| !kept.contains(i)).collect();
            outside.sort_by(|&a, &b| by(grow.values(), a, b));
            for &i in kept.iter().chain(&outside[..n]) {
                expected.insert(i);
            }
        }
        prop_assert_eq!(e.mask.indices(), expected.indices());
        let dropped: Vec<usize> = current.iter().filter(|&i| !e.mask.contains(i)).collect();
        let grown: Vec<usize> = e.mask.iter().filter(|&i| !current.contains(i)).collect();
        prop_assert_eq!(e.dropped, dropped);
        prop_assert_eq!(e.grown, grown);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct("tests/suite/proptest-regressions/select.txt"))), ..ProptestConfig::default() })]

    /// Tile budgets (blocks, rows): with the exact rule and the random rule, every tile is kept
    /// or removed whole, each group keeps exactly its count of tiles (groups without one stay
    /// whole), and the exact rule's kept tiles outscore its removed ones (ℓ2 mass: the exact
    /// projection onto whole tiles).
    #[test]
    fn tiles_are_whole_and_counted(
        dims in prop::collection::vec((1usize..12, 1usize..12, any::<bool>()), 1..4),
        tile_kind in 0usize..3, th in 1usize..5, tw in 1usize..5, frac in 0.0f64..=1.0, seed in 0u64..100,
    ) {
        use lottery::select::Tile;
        let tile = match tile_kind { 0 => Tile::Row, _ => Tile::Block { h: th, w: tw } };
        let shapes: Vec<(usize, usize)> = dims.iter().map(|d| (d.0, d.1)).collect();
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
        let groups: Vec<Vec<f64>> = shapes.iter()
            .map(|&(r, c)| (0..r * c).map(|_| rand::Rng::gen_range(&mut rng, -2.0..2.0)).collect())
            .collect();
        let keep: Vec<Option<usize>> = dims.iter().zip(&shapes)
            .map(|(d, &(r, c))| d.2.then(|| ((frac * tile.count(r, c) as f64) as usize).max(1)))
            .collect();
        let scores = Scores::grouped(groups);
        let budget = Budget::Tiles { tile, shapes: shapes.clone(), keep: keep.clone(), next: vec![] };
        for (name, mask) in [
            ("largest", Largest.select(&scores, &budget).unwrap()),
            ("random", Random { seed }.select(&scores, &budget).unwrap()),
        ] {
            for (g, &(r, c)) in shapes.iter().enumerate() {
                let start = mask.group_range(g).start;
                let tiles = tile.members(r, c);
                let kept: Vec<bool> = tiles.iter().map(|t| mask.contains(start + t[0])).collect();
                for (t, &k) in tiles.iter().zip(&kept) {
                    for &i in t {
                        prop_assert_eq!(mask.contains(start + i), k, "{}: tile not whole", name);
                    }
                }
                let n = kept.iter().filter(|&&k| k).count();
                prop_assert_eq!(n, keep[g].unwrap_or(tiles.len()), "{}", name);
                if name == "largest" {
                    let sum = |t: &Vec<usize>| t.iter().map(|&i| scores.group(g)[i].powi(2)).sum::<f64>();
                    let lo = tiles.iter().zip(&kept).filter(|p| *p.1).map(|p| sum(p.0)).fold(f64::INFINITY, f64::min);
                    let hi = tiles.iter().zip(&kept).filter(|p| !*p.1).map(|p| sum(p.0)).fold(f64::NEG_INFINITY, f64::max);
                    prop_assert!(lo >= hi, "kept tile {} below removed {}", lo, hi);
                }
            }
        }
    }

    /// Channel budgets remove a pruned row's outgoing weights: with group 1 reading group 0's
    /// rows (`span` columns each), every column fed by a removed row of group 0 is out of every
    /// row of group 1, and a column fed by a kept row is in wherever group 1 keeps the row.
    #[test]
    fn removed_rows_take_their_next_layer_inputs(
        r0 in 1usize..10, c0 in 1usize..6, r1 in 1usize..6, span in 1usize..4,
        k0 in 1usize..10, k1 in 0usize..6, seed in 0u64..100,
    ) {
        use lottery::select::Tile;
        let c1 = r0 * span;
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
        let mut draw = |n: usize| -> Vec<f64> { (0..n).map(|_| rand::Rng::gen_range(&mut rng, -2.0..2.0)).collect() };
        let scores = Scores::grouped(vec![draw(r0 * c0), draw(r1 * c1)]);
        let keep = vec![Some(k0.min(r0)), (k1 > 0).then_some(k1.min(r1))];
        let budget = Budget::Tiles { tile: Tile::Row, shapes: vec![(r0, c0), (r1, c1)], keep, next: vec![Some(span), None] };
        for mask in [Largest.select(&scores, &budget).unwrap(), Random { seed }.select(&scores, &budget).unwrap()] {
            let off = r0 * c0;
            // At least one row of group 0 survives, so a kept row of group 1 has some input.
            let kept_q: Vec<bool> = (0..r1).map(|q| (0..c1).any(|c| mask.contains(off + q * c1 + c))).collect();
            for r in 0..r0 {
                let alive = mask.contains(r * c0);
                for (q, &kq) in kept_q.iter().enumerate() {
                    for c in r * span..(r + 1) * span {
                        prop_assert_eq!(mask.contains(off + q * c1 + c), alive && kq);
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct("tests/suite/proptest-regressions/select.txt"))), ..ProptestConfig::default() })]

    /// Drop-and-grow inside N:M runs (`select::exchange_n_of_m`, RigL/SET under an N:M budget):
    /// every run keeps its count, at most `swaps[g]` runs of group g change and each changed run
    /// trades exactly one coordinate, and the runs that change are among those whose best
    /// outside |grow| is largest.
    #[test]
    fn n_of_m_exchange_keeps_every_run(
        runs in prop::collection::vec(1usize..8, 1..4), m in 2usize..6, n_frac in 0.0f64..1.0,
        swaps in prop::collection::vec(0usize..6, 3), seed in 0u64..1000,
    ) {
        let n = 1 + ((m - 1) as f64 * n_frac) as usize;
        let sizes: Vec<usize> = runs.iter().map(|r| r * m).collect();
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
        let mut draw = |k: usize| -> Vec<f64> { (0..k).map(|_| rand::Rng::gen_range(&mut rng, -2.0..2.0)).collect() };
        let total: usize = sizes.iter().sum();
        let (w, g) = (draw(total), draw(total));
        let drop = Scores::from_parts(w, &sizes).unwrap();
        let grow = Scores::from_parts(g.clone(), &sizes).unwrap();
        let current = Largest.select(&drop, &Budget::NofM { n, m, pool: vec![true; sizes.len()] }).unwrap();
        let swaps = &swaps[..sizes.len()];
        let e = lottery::select::exchange_n_of_m(&current, &drop, &grow, swaps, m).unwrap();
        for (gi, &s) in swaps.iter().enumerate() {
            let range = current.group_range(gi);
            let mut changed = 0;
            for a in range.clone().step_by(m) {
                let run = a..a + m;
                let before: Vec<usize> = run.clone().filter(|&i| current.contains(i)).collect();
                let after: Vec<usize> = run.clone().filter(|&i| e.mask.contains(i)).collect();
                prop_assert_eq!(before.len(), after.len());
                let out = before.iter().filter(|i| !after.contains(i)).count();
                prop_assert!(out <= 1, "a run traded {} coordinates", out);
                changed += out;
            }
            prop_assert!(changed <= s, "{} runs changed, {} swaps", changed, s);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct("tests/suite/proptest-regressions/select.txt"))), ..ProptestConfig::default() })]

    /// Drop-and-grow over whole units (`select::exchange_units`, RigL/SET under channel budgets)
    /// on a chain of two layers: the moving layer keeps its number of live units, and both masks
    /// are exactly (rows alive) × (inputs from units alive).
    #[test]
    fn unit_exchange_keeps_rows_times_inputs(
        r0 in 2usize..10, c0 in 1usize..6, r1 in 1usize..5, span in 1usize..3,
        alive_frac in 0.1f64..0.9, count in 1usize..4, seed in 0u64..1000,
    ) {
        let c1 = r0 * span;
        let shapes = vec![(r0, c0), (r1, c1)];
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
        let mut draw = |k: usize| -> Vec<f64> { (0..k).map(|_| rand::Rng::gen_range(&mut rng, -2.0..2.0)).collect() };
        let sizes = [r0 * c0, r1 * c1];
        let (w, g) = (draw(sizes[0] + sizes[1]), draw(sizes[0] + sizes[1]));
        let drop = Scores::from_parts(w, &sizes).unwrap();
        let grow = Scores::from_parts(g, &sizes).unwrap();
        let keep = ((alive_frac * r0 as f64) as usize).max(1);
        let budget = Budget::Tiles {
            tile: lottery::select::Tile::Row, shapes: shapes.clone(),
            keep: vec![Some(keep), None], next: vec![Some(span), None],
        };
        let current = Random { seed }.select(&drop, &budget).unwrap();
        let e = lottery::select::exchange_units(&current, &drop, &grow, &[count, 0], &shapes, &[Some(span), None]).unwrap();
        let alive0: Vec<bool> = (0..r0).map(|r| (r * c0..(r + 1) * c0).any(|i| e.mask.contains(i))).collect();
        prop_assert_eq!(alive0.iter().filter(|a| **a).count(), keep);
        for (r, &a) in alive0.iter().enumerate() {
            for q in 0..c0 {
                prop_assert_eq!(e.mask.contains(r * c0 + q), a);
            }
        }
        for q in 0..r1 {
            for c in 0..c1 {
                prop_assert_eq!(e.mask.contains(sizes[0] + q * c1 + c), alive0[c / span]);
            }
        }
    }
}
