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
