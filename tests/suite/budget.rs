//! The sparsity budget (theory/budget.md): one kept-count rule, the same count on every path
//! that turns a sparsity into a count — the zoo's budgets, IMP's levels, the random baselines'
//! budgets and the layerwise solvers' — and the allocations on top of it.

use lottery::problem::{Damping, LayerGram};
use lottery::select::budget::{
    kept, LayerBudget, Layout, SparsityBudget, Strategy, Structure, Target,
};
use lottery::select::{Budget, Largest, Mask, Random, Rule, Scores};
use lottery::solver::layer::{prune_layer, LayerSolver};
use ndarray::Array2;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};

use super::common;

const STRATEGIES: [Strategy; 3] = [Strategy::Layerwise, Strategy::Global, Strategy::Erk];

fn settings(sparsity: f64, strategy: Strategy) -> SparsityBudget {
    SparsityBudget {
        sparsity,
        strategy,
        ..SparsityBudget::default()
    }
}

/// Random scores (distinct values) over groups of `sizes`.
fn scores(sizes: &[usize], seed: u64) -> Scores {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    Scores::grouped(
        sizes
            .iter()
            .map(|&n| (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect())
            .collect(),
    )
}

/// What a selection budget keeps in each group under `Largest`; `Random` keeps the same total,
/// and both meet the budget's own per-group counts where it has them.
fn kept_by_rules(budget: &Budget, s: &Scores) -> Vec<usize> {
    let sizes = s.group_sizes();
    let a = Largest.select(s, budget).unwrap();
    let b = Random { seed: 3 }.select(s, budget).unwrap();
    let counts: Vec<usize> = (0..s.n_groups()).map(|g| a.group_count(g)).collect();
    let other: Vec<usize> = (0..s.n_groups()).map(|g| b.group_count(g)).collect();
    assert_eq!(a.count(), b.count(), "{budget:?}");
    assert_eq!(Some(a.count()), budget.total(&sizes).unwrap(), "{budget:?}");
    if let Some(ks) = budget.counts(&sizes).unwrap() {
        assert_eq!((&counts, &other), (&ks, &ks), "{budget:?}");
    }
    counts
}

/// A mask keeping the first `counts[g]` coordinates of each group.
fn mask_with(sizes: &[usize], counts: &[usize]) -> Mask {
    let mut m = Mask::empty(sizes);
    for (g, &k) in counts.iter().enumerate() {
        let start = m.group_range(g).start;
        for i in start..start + k {
            m.insert(i);
        }
    }
    m
}

proptest! {
    #![proptest_config(common::config(256, "budget"))]

    /// theory/budget.md (1)–(2): the nearest count, at least one, at most n, monotone in s.
    #[test]
    fn kept_is_the_nearest_count_and_monotone(n in 1usize..100_000, s in 0.0f64..1.0, t in 0.0f64..1.0) {
        let k = kept(n, s);
        prop_assert!((1..=n).contains(&k));
        let exact = (1.0 - s) * n as f64;
        if exact >= 0.5 {
            prop_assert!((k as f64 - exact).abs() <= 0.5 + 1e-9, "kept({n}, {s}) = {k}, (1-s)n = {exact}");
        } else {
            prop_assert_eq!(k, 1);
        }
        let (lo, hi) = if s <= t { (s, t) } else { (t, s) };
        prop_assert!(kept(n, lo) >= kept(n, hi));
    }

    /// theory/budget.md (3): on one layer of n weights, every path asks for kept(n, s) and the
    /// rules and the layerwise solvers meet it. A tie ((1 − s)·n a half-integer) is drawn one
    /// case in four.
    #[test]
    fn every_path_keeps_the_same_count_on_one_layer(
        rows in 1usize..6, cols in 1usize..24, s0 in 0.0f64..0.99, tie in 0usize..4, seed in 0u64..1000,
    ) {
        let n = rows * cols;
        // A tie: s with s·n = j + 1/2.
        let s = if tie == 0 && n >= 2 {
            let j = ((s0 * n as f64) as usize).min(n - 1);
            (j as f64 + 0.5) / n as f64
        } else {
            s0
        };
        prop_assume!(s < 1.0);
        let want = kept(n, s);
        let layout = Layout::layer(rows, cols);
        let sc = scores(&[n], seed);
        for strategy in STRATEGIES {
            let t = Target::new(settings(s, strategy), layout.clone());
            // The zoo's budget (every method selects through it).
            prop_assert_eq!(kept_by_rules(&t.budget(s).unwrap(), &sc), vec![want], "zoo {}", strategy);
            // IMP's next level at rate s from the full mask.
            let full = Mask::full(&[n]);
            let imp = t.budget_of_remaining(&full, &[s], s).unwrap();
            prop_assert_eq!(kept_by_rules(&imp, &sc), vec![want], "imp {}", strategy);
            // The random baselines: a budget like a mask with that count.
            let like = t.budget_like(&mask_with(&[n], &[want])).unwrap();
            prop_assert_eq!(kept_by_rules(&like, &sc), vec![want], "like {}", strategy);
            // The layerwise solvers' `layer` budget.
            prop_assert_eq!(t.layer(0).unwrap(), Some(LayerBudget::Layer(want)));
        }
        // A one-row layer's `row` budget.
        let row = Target::new(
            SparsityBudget { structure: Structure::Row, ..settings(s, Strategy::Layerwise) },
            Layout::layer(1, n),
        );
        prop_assert_eq!(row.layer(0).unwrap(), Some(LayerBudget::Row(want)));
        // Every layerwise solver under that layer budget keeps at most it; magnitude exactly.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let x = Array2::from_shape_fn((3 * cols + 4, cols), |_| rng.gen_range(-1.0..1.0));
        let w = Array2::from_shape_fn((rows, cols), |_| rng.gen_range(-1.0..1.0));
        let gram = LayerGram::from_inputs(x.view(), Damping::Relative(0.01)).unwrap();
        for solver in LayerSolver::ALL {
            let out = prune_layer(&gram, w.view(), solver, LayerBudget::Layer(want)).unwrap();
            prop_assert!(out.kept <= want, "{}: {} > {want}", solver.name(), out.kept);
            if solver == LayerSolver::Magnitude {
                prop_assert_eq!(out.kept, want);
            }
        }
    }

    /// theory/budget.md (4): over several layers the per-layer paths keep kept(n_l, s) in each
    /// layer, as the layer's own single-layer path does, and the global path kept(N, s).
    #[test]
    fn per_layer_paths_agree_and_global_keeps_the_pool_count(
        shapes in prop::collection::vec((1usize..8, 1usize..16), 1..5), s in 0.0f64..0.99, seed in 0u64..1000,
    ) {
        let layout = Layout::new(
            shapes.iter().map(|&(r, c)| vec![r, c]).collect(),
            vec![true; shapes.len()],
            None,
        ).unwrap();
        let sizes = layout.sizes();
        let sc = scores(&sizes, seed);
        let each: Vec<usize> = sizes.iter().map(|&n| kept(n, s)).collect();
        let layerwise = Target::new(settings(s, Strategy::Layerwise), layout.clone());
        prop_assert_eq!(kept_by_rules(&layerwise.budget(s).unwrap(), &sc), each.clone());
        let full = Mask::full(&sizes);
        let rates = vec![s; sizes.len()];
        prop_assert_eq!(kept_by_rules(&layerwise.budget_of_remaining(&full, &rates, s).unwrap(), &sc), each.clone());
        for (g, &(r, c)) in shapes.iter().enumerate() {
            let alone = Target::new(settings(s, Strategy::Layerwise), Layout::layer(r, c));
            let one = kept_by_rules(&alone.budget(s).unwrap(), &scores(&[r * c], seed));
            prop_assert_eq!(one[0], each[g]);
            prop_assert_eq!(layerwise.layer(g).unwrap(), Some(LayerBudget::Layer(each[g])));
        }
        let global = Target::new(settings(s, Strategy::Global), layout.clone());
        let total: usize = sizes.iter().sum();
        for b in [
            global.budget(s).unwrap(),
            global.budget_of_remaining(&full, &rates, s).unwrap(),
        ] {
            prop_assert_eq!(kept_by_rules(&b, &sc).iter().sum::<usize>(), kept(total, s));
        }
    }
}

/// The example: n = 10 at s = 0.25 kept 7 on the zoo's path and 8 on the layerwise
/// solvers'; every path keeps 8 now (a tie keeps the larger count, as IMP's levels always did).
#[test]
fn a_tie_keeps_the_larger_count_on_every_path() {
    assert_eq!(kept(10, 0.25), 8);
    assert_eq!(kept(750, 0.25), 563);
    let t = Target::new(settings(0.25, Strategy::Global), Layout::layer(2, 5));
    assert_eq!(t.budget(0.25).unwrap().total(&[10]).unwrap(), Some(8));
    assert_eq!(t.layer(0).unwrap(), Some(LayerBudget::Layer(8)));
}

/// The output layer at its own rate (`budget_output`), under each strategy: it keeps
/// kept(n_out, a·s), the other layers share the rest as the strategy spreads it; IMP's levels
/// prune it at a·rate.
#[test]
fn the_output_layer_at_its_own_rate() {
    let layout = Layout::new(
        vec![vec![30, 20], vec![20, 30], vec![10, 20]],
        vec![true; 3],
        Some(2),
    )
    .unwrap();
    let sizes = layout.sizes();
    let sc = scores(&sizes, 5);
    let s = 0.9;
    for strategy in STRATEGIES {
        let half = SparsityBudget {
            output: 0.5,
            ..settings(s, strategy)
        };
        half.check().unwrap();
        let t = Target::new(half, layout.clone());
        t.check().unwrap();
        let counts = kept_by_rules(&t.budget(s).unwrap(), &sc);
        assert_eq!(counts[2], kept(200, 0.45), "{strategy}");
        match strategy {
            Strategy::Layerwise => assert_eq!(&counts[..2], &[kept(600, s), kept(600, s)]),
            // The two hidden layers share kept(1200, s) (ERK within one count per layer).
            Strategy::Global => assert_eq!(counts[0] + counts[1], kept(1200, s)),
            Strategy::Erk => assert!((counts[0] + counts[1]).abs_diff(kept(1200, s)) <= 1),
        }
        assert_eq!(
            t.layer(2).unwrap(),
            Some(LayerBudget::Layer(kept(200, 0.45)))
        );
        // IMP: the output layer at half the per-level rate.
        let full = Mask::full(&sizes);
        let next = kept_by_rules(
            &t.budget_of_remaining(&full, &[0.2, 0.2, 0.2], 0.2).unwrap(),
            &sc,
        );
        assert_eq!(next[2], kept(200, 0.1), "{strategy}");
        // A mask's budget keeps the output's count apart.
        let like = kept_by_rules(&t.budget_like(&mask_with(&sizes, &counts)).unwrap(), &sc);
        assert_eq!(like[2], counts[2], "{strategy}");
        assert_eq!(like.iter().sum::<usize>(), counts.iter().sum::<usize>());
    }
    // Allocations out of range are refused, each with one line naming the key.
    for (output, sparsity) in [(1.5, 0.5), (-0.1, 0.5)] {
        let e = SparsityBudget {
            output,
            ..settings(sparsity, Strategy::Layerwise)
        }
        .check()
        .unwrap_err()
        .to_string();
        assert!(e.contains("budget_output") && e.lines().count() == 1, "{e}");
    }
    // A rate chosen per layer.
    let t = Target::new(settings(0.5, Strategy::Layerwise), layout.clone())
        .with_scales(vec![1.0, 1.5, 0.0])
        .unwrap();
    assert_eq!(
        kept_by_rules(&t.budget(0.5).unwrap(), &sc),
        vec![kept(600, 0.5), kept(600, 0.75), 200]
    );
    assert!(Target::new(settings(0.8, Strategy::Layerwise), layout)
        .with_scales(vec![1.0, 1.5, 1.0])
        .unwrap()
        .budget(0.8)
        .is_err());
}

/// A bad budget is refused in one place, each with one line naming the key.
#[test]
fn bad_budgets_are_refused_with_one_line() {
    use lottery::select::budget::Accepts;
    let cases = [
        (settings(1.0, Strategy::Layerwise), "sparsity"),
        (settings(-0.1, Strategy::Layerwise), "sparsity"),
        (settings(f64::NAN, Strategy::Layerwise), "sparsity"),
        (
            SparsityBudget {
                structure: Structure::NofM { n: 2, m: 4 },
                ..settings(0.8, Strategy::Global)
            },
            "1 - 2/4 = 0.5",
        ),
    ];
    for (b, want) in cases {
        let e = b
            .check_for("gradual", Accepts::STRUCTURED, true, String::new)
            .unwrap_err()
            .to_string();
        assert!(e.contains(want) && e.lines().count() == 1, "{e}");
    }
    let e = SparsityBudget {
        structure: Structure::Row,
        ..settings(0.8, Strategy::Global)
    }
    .check_for("`gradual`", Accepts::STRUCTURED, true, || {
        "layerwise runs".into()
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("`row` is implemented for layerwise runs, not `gradual`"),
        "{e}"
    );
    let e = settings(0.0, Strategy::Global)
        .check_for("snip", Accepts::STRUCTURED, true, String::new)
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs a sparsity"), "{e}");
    // The default sparsity: lottery prune's, or an N:M budget's own.
    assert_eq!(
        SparsityBudget::default_sparsity(Structure::Unstructured, 0.8),
        0.8
    );
    assert_eq!(
        SparsityBudget::default_sparsity(Structure::NofM { n: 1, m: 4 }, 0.8),
        0.75
    );
}
