//! The recovery metrics see recovery (issue 13): a permuted, slightly perturbed copy of a planted
//! teacher scores a matched F1 near 1 while its positional overlap is at chance, a random student
//! scores chance on both, and bad input is refused; the layerwise guarantees of
//! theory/recovery.md (c) and (d); the narrow teacher's shape.

use crate::common::config;

use lottery::data::teacher::{NarrowTeacherParams, TeacherParams};
use lottery::problem::{LeastSquares, SmoothProblem};
use lottery::recovery::layerwise::{relu_stein_scale, top_k_support, unit_problem, Signal};
use lottery::recovery::{match_units, recovery, ReluNet};
use lottery::solver::greedy::{GreedyParams, Omp};
use ndarray::{Array1, Array2, Axis};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

fn gaussian(n: usize, d: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((n, d), || rng.sample::<f32, _>(StandardNormal))
}

/// A one-hidden-layer teacher (60 inputs, `hidden` units, 4 outputs) at `density`.
fn teacher(hidden: Vec<usize>, density: f64, seed: u64) -> ReluNet {
    let (_, _, t) = TeacherParams {
        input: 60,
        hidden,
        classes: 4,
        density,
        n_train: 10,
        n_test: 10,
        seed,
    }
    .generate()
    .unwrap();
    t.net().unwrap()
}

/// `net` with its hidden units permuted (unit u of every hidden layer goes to perm[u]; no unit
/// stays in place) and every kept weight multiplied by 1 + 0.01·N(0, 1).
fn permuted_copy(net: &ReluNet, seed: u64) -> ReluNet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let depth = net.weights.len();
    let widths = net.widths();
    // A cyclic shift by a third of the width: a derangement.
    let perms: Vec<Vec<usize>> = widths[1..depth]
        .iter()
        .map(|&w| (0..w).map(|u| (u + w / 3 + 1) % w).collect())
        .collect();
    let mut weights = Vec::new();
    let mut biases = Vec::new();
    for l in 0..depth {
        let w = &net.weights[l];
        let (rows, cols) = w.dim();
        let mut nw = Array2::<f32>::zeros((rows, cols));
        let mut nb = Array1::<f32>::zeros(rows);
        for o in 0..rows {
            let po = if l + 1 < depth { perms[l][o] } else { o };
            nb[po] = net.biases[l][o];
            for i in 0..cols {
                let pi = if l > 0 { perms[l - 1][i] } else { i };
                let noise: f32 = rng.sample(StandardNormal);
                nw[[po, pi]] = w[[o, i]] * (1.0 + 0.01 * noise);
            }
        }
        weights.push(nw);
        biases.push(nb);
    }
    ReluNet::from_weights(weights, biases).unwrap()
}

/// A student of the given hidden widths with a random support of `density` per layer and
/// Gaussian weights.
fn random_student(hidden: &[usize], density: f64, seed: u64) -> ReluNet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut widths = vec![60];
    widths.extend(hidden);
    widths.push(4);
    let weights: Vec<Array2<f32>> = widths
        .windows(2)
        .map(|w| {
            Array2::from_shape_fn((w[1], w[0]), |_| {
                if rng.gen::<f64>() < density {
                    rng.sample::<f32, _>(StandardNormal)
                } else {
                    0.0
                }
            })
        })
        .collect();
    let biases = widths[1..].iter().map(|&w| Array1::zeros(w)).collect();
    ReluNet::from_weights(weights, biases).unwrap()
}

#[test]
fn a_permuted_perturbed_copy_is_recovered_while_its_positions_are_at_chance() {
    for hidden in [vec![24], vec![24, 12]] {
        let t = teacher(hidden.clone(), 0.3, 3);
        let s = permuted_copy(&t, 5);
        let x = gaussian(4000, 60, 11);
        let r = recovery(&t, &s, &x).unwrap();
        assert!(
            r.matched_f1() >= 0.99 && r.identifiable_f1() >= 0.99,
            "{hidden:?}: matched F1 {} / identifiable {}",
            r.matched_f1(),
            r.identifiable_f1()
        );
        assert!(r.features.f1() >= 0.99, "{:?}", r.features);
        // Positionally, the hidden layers keep about the density's share (0.3) of the support.
        for l in &r.layers[1..] {
            let p = l.positional.expect("same shapes");
            assert!(p < 0.55, "{hidden:?}: positional overlap {p}");
        }
        // The teacher against itself: 1 everywhere.
        let same = recovery(&t, &t, &x).unwrap();
        assert_eq!(same.matched_f1(), 1.0);
        assert!(same.layers.iter().all(|l| l.positional == Some(1.0)));
    }
}

#[test]
fn a_wider_student_holding_the_teacher_in_some_units_is_recovered() {
    // The copy plus 24 silent extra units (no outgoing weights, random incoming ones): they are
    // not live, so they cost no precision.
    let t = teacher(vec![24], 0.3, 4);
    let c = permuted_copy(&t, 6);
    let extra = random_student(&[24], 0.3, 9);
    let w0 = ndarray::concatenate![ndarray::Axis(0), c.weights[0], extra.weights[0]];
    let w1 = ndarray::concatenate![
        ndarray::Axis(1),
        c.weights[1],
        Array2::<f32>::zeros((4, 24))
    ];
    let b0 = ndarray::concatenate![ndarray::Axis(0), c.biases[0], Array1::zeros(24)];
    let s = ReluNet::from_weights(vec![w0, w1], vec![b0, c.biases[1].clone()]).unwrap();
    let x = gaussian(4000, 60, 12);
    let r = recovery(&t, &s, &x).unwrap();
    assert!(r.matched_f1() >= 0.99, "{}", r.matched_f1());
    assert!(r.layers[0].positional.is_none());
    // Made live (an outgoing weight each), the extra units' edges become false positives.
    let mut live = s.clone();
    for u in 24..48 {
        live.weights[1][[0, u]] = 0.5;
        live.support[1][[0, u]] = true;
    }
    let r = recovery(&t, &live, &x).unwrap();
    assert!(r.layers[0].support.precision() < 0.6, "{:?}", r.layers[0]);
    assert!(r.layers[0].support.recall() >= 0.99);
    // The hidden F1 is the first layer's alone (the output layer left out).
    assert_eq!(r.hidden_f1(), r.layers[0].support.f1());
    assert!(r.report().hidden_f1.unwrap() < 0.75);
}

#[test]
fn a_random_student_scores_chance() {
    // Chance is the density: a random support of density ρ shares about ρ of each teacher
    // unit's edges with any unit it is matched to (the matching picks the best of 24 per
    // unit, so allow some excess over ρ, far below recovery).
    for seed in 0..3 {
        let t = teacher(vec![24, 12], 0.2, seed);
        let s = random_student(&[24, 12], 0.2, 100 + seed);
        let x = gaussian(3000, 60, 13 + seed);
        let r = recovery(&t, &s, &x).unwrap();
        for (l, layer) in r.layers.iter().enumerate() {
            let f1 = layer.support.f1();
            assert!(f1 < 0.4, "seed {seed} layer {l}: matched F1 {f1}");
        }
        assert!(r.matched_f1() < 0.35, "seed {seed}: {}", r.matched_f1());
    }
}

#[test]
fn matching_finds_a_hidden_permutation_and_refuses_bad_input() {
    let t = gaussian(500, 8, 1).mapv(|v| v.max(0.0));
    let perm = [3, 0, 7, 1, 6, 2, 5, 4];
    let s = Array2::from_shape_fn((500, 8), |(n, j)| t[[n, perm[j]]] * 2.0);
    let m = match_units(&t, &s).unwrap();
    for (j, &p) in perm.iter().enumerate() {
        assert_eq!(m.student_of[p], Some(j));
        assert_eq!(m.teacher_of[j], Some(p));
    }
    assert!(m.correlation.iter().all(|&c| (c - 1.0).abs() < 1e-9));
    // A narrower student leaves teacher units unmatched.
    let narrow = s.slice(ndarray::s![.., ..5]).to_owned();
    let m = match_units(&t, &narrow).unwrap();
    assert_eq!(m.student_of.iter().filter(|u| u.is_none()).count(), 3);
    // Different sample counts, and networks that do not fit.
    assert!(match_units(&t, &s.slice(ndarray::s![..400, ..]).to_owned()).is_err());
    let a = teacher(vec![24], 0.3, 1);
    let b = random_student(&[24, 12], 0.3, 1);
    let err = recovery(&a, &b, &gaussian(10, 60, 1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("same depth"), "{err}");
    assert!(recovery(&a, &a, &gaussian(10, 59, 1)).is_err());
    assert!(ReluNet::new(vec![Array2::zeros((3, 4))], vec![Array1::zeros(2)], vec![]).is_err());
}

fn gaussian64(n: usize, d: usize, seed: u64) -> Array2<f64> {
    gaussian(n, d, seed).mapv(f64::from)
}

proptest! {
    #![proptest_config(config(256, "recovery"))]

    /// theory/recovery.md (c): on the active rows of a ReLU unit the equations are exact; if
    /// the centred, column-normalized active design has coherence μ < 1/(2s−1), OMP returns the
    /// unit's support and (rescaled) weights exactly.
    #[test]
    fn active_rows_recover_exactly_under_coherence(n in 200usize..600, d in 4usize..24,
                                                   s in 1usize..=3, b in -0.5f64..0.5,
                                                   seed in any::<u64>()) {
        prop_assume!(s <= d);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = Array2::from_shape_simple_fn((n, d), || rng.sample::<f64, _>(StandardNormal));
        let mut w = Array1::<f64>::zeros(d);
        let mut idx: Vec<usize> = (0..d).collect();
        rand::seq::SliceRandom::shuffle(&mut idx[..], &mut rng);
        for &j in &idx[..s] {
            w[j] = rng.gen_range(0.3..1.5) * if rng.gen::<bool>() { 1.0 } else { -1.0 };
        }
        let up = unit_problem(&x, &w, b, Signal::ActiveRows, &Array1::zeros(n)).unwrap();
        // Normalize the columns (the support is unchanged; the weights scale by the norms).
        let mut a = match up.problem.design() {
            lottery::problem::Design::F64(a) => a.clone(),
            _ => unreachable!(),
        };
        let norms: Vec<f64> = a.columns().into_iter().map(|c| c.dot(&c).sqrt()).collect();
        for (mut c, &nrm) in a.columns_mut().into_iter().zip(&norms) {
            c /= nrm;
        }
        let y = up.problem.response().clone();
        let p = LeastSquares::from_f64(a, y).unwrap();
        let mu = p.design().coherence();
        prop_assume!(mu < 1.0 / (2.0 * s as f64 - 1.0));
        let sol = lottery::solver::solve_quiet(&Omp::new(GreedyParams::new(s)).unwrap(), &p).unwrap();
        let mut truth: Vec<usize> = idx[..s].to_vec();
        truth.sort_unstable();
        prop_assert_eq!(&sol.info.support, &truth);
        for &j in &truth {
            let got = sol.x[j] / norms[j];
            prop_assert!((got - w[j]).abs() < 1e-8 * (1.0 + w[j].abs()), "w[{}] = {} recovered as {}", j, w[j], got);
        }
    }
}

#[test]
fn stein_identity_gives_the_relu_scale() {
    // theory/recovery.md (d): (1/n) Xᵀ ReLU(Xw + b) → Φ(b/‖w‖) w for Gaussian X. Each
    // coordinate of the average has standard error ≤ sqrt(E[x_j² y²]/n); five of them is the
    // tolerance.
    let (n, d) = (200_000, 6);
    let x = gaussian64(n, d, 21);
    let w = Array1::from(vec![0.8, -0.5, 0.0, 0.3, 0.0, 0.0]);
    for b in [-0.7, 0.0, 0.4] {
        let y = (x.dot(&w) + b).mapv(|v: f64| v.max(0.0));
        let est = x.t().dot(&y) / n as f64;
        let mu = relu_stein_scale(w.dot(&w).sqrt(), b);
        let second = (&x * &y.view().insert_axis(Axis(1)))
            .mapv(|v| v * v)
            .mean_axis(Axis(0))
            .unwrap();
        for j in 0..d {
            let se = (second[j] / n as f64).sqrt();
            assert!(
                (est[j] - mu * w[j]).abs() < 5.0 * se,
                "b = {b}, j = {j}: {} against μw = {}",
                est[j],
                mu * w[j]
            );
        }
        // The scale is Φ(b/‖w‖): 1/2 at b = 0.
        if b == 0.0 {
            assert!((mu - 0.5).abs() < 1e-12);
        }
    }
    // A wrong scale (the post-ReLU fit aims at w, not μw) is caught: at b = 0 the distance
    // to w is about ‖w‖/2, far above the tolerance.
    let y = x.dot(&w).mapv(|v: f64| v.max(0.0));
    let est = x.t().dot(&y) / n as f64;
    assert!((&est - &w).mapv(f64::abs).sum() > 0.3);
}

#[test]
fn the_layerwise_problems_recover_a_unit_with_enough_samples_and_refuse_bad_input() {
    let x = gaussian64(400, 50, 3);
    let mut w = Array1::<f64>::zeros(50);
    for (j, v) in [(3, 0.9), (17, -0.7), (30, 0.6), (41, -1.1)] {
        w[j] = v;
    }
    for signal in Signal::ALL {
        let up = unit_problem(&x, &w, 0.2, signal, &Array1::zeros(400)).unwrap();
        let sol =
            lottery::solver::solve_quiet(&Omp::new(GreedyParams::new(4)).unwrap(), &up.problem)
                .unwrap();
        assert_eq!(top_k_support(&sol.x, 4), vec![3, 17, 30, 41], "{signal:?}");
        if signal == Signal::ActiveRows {
            assert!(up.rows < 400 && up.rows > 100, "{} active rows", up.rows);
        }
    }
    assert!(unit_problem(
        &x,
        &w.slice(ndarray::s![..49]).to_owned(),
        0.0,
        Signal::PostRelu,
        &Array1::zeros(400)
    )
    .is_err());
    let mut bad = x.clone();
    bad[[0, 0]] = f64::NAN;
    assert!(unit_problem(&bad, &w, 0.0, Signal::PreActivation, &Array1::zeros(400)).is_err());
    // A unit that is never active has nothing to recover from.
    assert!(unit_problem(&x, &w, -100.0, Signal::ActiveRows, &Array1::zeros(400)).is_err());
}

#[test]
fn the_narrow_teacher_is_identifiable_by_construction() {
    for hidden in [vec![16], vec![16, 8]] {
        let fan_in = if hidden.len() == 1 {
            vec![8]
        } else {
            vec![8, 4]
        };
        let t = NarrowTeacherParams {
            hidden: hidden.clone(),
            fan_in: fan_in.clone(),
            ..Default::default()
        }
        .generate()
        .unwrap();
        let net = t.net().unwrap();
        // Every hidden unit reads exactly its fan-in, only relevant inputs, and is live.
        for (l, &s) in fan_in.iter().enumerate() {
            for row in net.support[l].rows() {
                assert_eq!(row.iter().filter(|&&k| k).count(), s);
            }
        }
        assert!(net.support[0]
            .columns()
            .into_iter()
            .skip(40)
            .all(|c| c.iter().all(|&k| !k)));
        assert!(net
            .live_units()
            .iter()
            .all(|layer| layer.iter().all(|&l| l)));
        // Every relevant input is read (16 units × 8 ≥ 40).
        assert_eq!(net.input_features().iter().filter(|&&f| f).count(), 40);
        // Planted weights are bounded away from zero.
        let min = t
            .weights
            .iter()
            .flat_map(|w| w.iter())
            .filter(|v| **v != 0.0)
            .fold(f32::MAX, |m, v| m.min(v.abs()));
        assert!(min >= 0.5 / (8f32).sqrt() - 1e-6, "{min}");
    }
    let bad = NarrowTeacherParams {
        fan_in: vec![41],
        ..Default::default()
    }
    .generate()
    .unwrap_err();
    assert!(bad.to_string().contains("fan-in 41"), "{bad}");
    assert!(NarrowTeacherParams {
        hidden: vec![4, 4, 4],
        fan_in: vec![1, 1, 1],
        ..Default::default()
    }
    .validate()
    .is_err());
}
