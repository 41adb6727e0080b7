//! Property tests of the hard-thresholding family (theory/thresholding.md, iht_descent.md,
//! iht_rip_recovery.md, iht_rsc.md).

use crate::common;

use common::*;
use lottery::problem::{Design, LeastSquares, Logistic, SmoothProblem};
use lottery::select::{Budget, Largest};
use lottery::solver::iht::{Htp, Iht, ThresholdParams};
use lottery::solver::step::threshold;
use lottery::space::Objective;
use ndarray::{Array1, Array2};
use proptest::prelude::*;

fn norm_sq(v: &Array1<f64>) -> f64 {
    v.dot(v)
}

proptest! {
    #![proptest_config(config(1024, "thresholding"))]

    /// theory/thresholding.md: ‖H_s(z) − z‖² ≤ (d−s)/(d−s*) ‖θ* − z‖² for s ≥ s*, θ* s*-sparse.
    #[test]
    fn thresholding_ratio(d in 2usize..40, s_star_frac in 0.0f64..1.0, s_frac in 0.0f64..1.0, seed in any::<u64>()) {
        let s_star = ((d - 1) as f64 * s_star_frac) as usize;           // 0 ..= d-2
        let lo = s_star.max(1);
        let s = lo + (((d - lo) as f64) * s_frac) as usize;               // lo ..= d-1
        prop_assume!(s >= s_star && s < d && s >= 1);
        let mut r = rng(seed);
        let z = gaussian_vector(d, &mut r);
        let theta = sparse_vector(d, s_star, &mut r);
        let mut hz = z.clone();
        threshold(&mut hz, &Largest, &Budget::TopK(s)).unwrap();
        prop_assert_eq!(hz.iter().filter(|v| **v != 0.0).count(), s);
        let lhs = norm_sq(&(&hz - &z));
        let rhs = (d - s) as f64 / (d - s_star) as f64 * norm_sq(&(&theta - &z));
        prop_assert!(lhs <= rhs * (1.0 + 1e-12) + 1e-15, "lhs {lhs} > rhs {rhs}");
    }
}

/// Check the descent inequality along an IHT or HTP trajectory on any smooth problem.
fn check_descent<P: SmoothProblem>(
    p: &P,
    xs: &[Array1<f64>],
    eta: f64,
    s: usize,
    lip: f64,
) -> Result<(), TestCaseError> {
    check_descent_under(p, xs, eta, &Budget::TopK(s), lip)
}

/// [`check_descent`] under any budget whose projection is exact (top-s, N:M).
fn check_descent_under<P: SmoothProblem>(
    p: &P,
    xs: &[Array1<f64>],
    eta: f64,
    budget: &Budget,
    lip: f64,
) -> Result<(), TestCaseError> {
    for w in xs.windows(2) {
        let (x, x_next) = (&w[0], &w[1]);
        // The IHT point from x (for HTP the bound is stated at this point).
        let mut z = x.clone();
        z.scaled_add(-eta, &p.gradient(x));
        threshold(&mut z, &Largest, budget).unwrap();
        let fx = p.value(x);
        let bound = fx - (1.0 / (2.0 * eta) - lip / 2.0) * norm_sq(&(&z - x));
        let f_next = p.value(x_next);
        prop_assert!(
            f_next <= bound + slack(fx),
            "f(x+) = {f_next} > {bound} (f(x) = {fx})"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256, "thresholding"))]

    /// theory/iht_descent.md: f(x⁺) ≤ f(x) − (1/(2η) − L/2)‖x⁺ − x‖² for η ≤ 1/L (least squares).
    #[test]
    fn iht_descent(n in 5usize..50, d in 5usize..60, s_frac in 0.0f64..1.0, c in 0.05f64..=1.0,
                   noise in 0.0f64..1.0, seed in any::<u64>()) {
        let s = 1 + ((d.min(10) - 1) as f64 * s_frac) as usize;
        let (p, _, _) = gaussian_ls(n, d, s, noise, seed);
        let lip = p.smoothness();
        let eta = c / lip;
        let solver = Iht::new(ThresholdParams::new(s).step(eta).max_iters(40)).unwrap();
        let (xs, _) = iterates(&solver, &p);
        check_descent(&p, &xs, eta, s, lip)?;
    }

    /// theory/iht_descent.md on logistic loss (L = ‖A‖²/(4n)).
    #[test]
    fn iht_descent_logistic(n in 5usize..50, d in 5usize..40, s_frac in 0.0f64..1.0, c in 0.05f64..=1.0,
                            seed in any::<u64>()) {
        let s = 1 + ((d.min(8) - 1) as f64 * s_frac) as usize;
        let (ls, _, _) = gaussian_ls(n, d, s, 0.5, seed);
        let labels = ls.response().mapv(|v| if v >= 0.0 { 1.0 } else { -1.0 });
        let a = match ls.design() { Design::F64(a) => a.clone(), _ => unreachable!() };
        let p = Logistic::new(Design::F64(a * 3.0), labels).unwrap();
        let lip = p.smoothness();
        let eta = c / lip;
        let solver = Iht::new(ThresholdParams::new(s).step(eta).max_iters(30)).unwrap();
        let (xs, _) = iterates(&solver, &p);
        check_descent(&p, &xs, eta, s, lip)?;
    }

    /// theory/iht_descent.md under an N:M budget: the projection onto "N of every M
    /// consecutive coordinates" is exact (per run), so every IHT and HTP iterate is N:M and
    /// the descent inequality holds as for H_s.
    #[test]
    fn iht_descent_n_of_m(n in 5usize..50, runs in 1usize..12, m in 2usize..6, keep_frac in 0.0f64..1.0,
                          c in 0.05f64..=1.0, noise in 0.0f64..1.0, seed in any::<u64>(), htp in any::<bool>()) {
        let d = runs * m;
        let keep = 1 + ((m - 1) as f64 * keep_frac) as usize;
        let (p, _, _) = gaussian_ls(n, d, keep.min(d), noise, seed);
        let lip = p.smoothness();
        let eta = c / lip;
        let params = ThresholdParams::new(1).n_of_m(keep, m, d).step(eta).max_iters(30);
        prop_assert_eq!(params.sparsity, runs * keep);
        let xs = if htp {
            iterates(&Htp::new(params.clone()).unwrap(), &p).0
        } else {
            iterates(&Iht::new(params.clone()).unwrap(), &p).0
        };
        for x in xs.iter().skip(1) {
            for run in x.as_slice().unwrap().chunks(m) {
                prop_assert!(run.iter().filter(|v| **v != 0.0).count() <= keep, "run {:?}", run);
            }
        }
        check_descent_under(&p, &xs, eta, &params.budget(), lip)?;
    }

    /// theory/iht_descent.md for HTP: its refit iterate is below the IHT descent bound.
    #[test]
    fn htp_descent(n in 5usize..50, d in 5usize..60, s_frac in 0.0f64..1.0, c in 0.05f64..=1.0,
                   noise in 0.0f64..1.0, seed in any::<u64>()) {
        let s = 1 + ((d.min(10).min(n) - 1) as f64 * s_frac) as usize;
        let (p, _, _) = gaussian_ls(n, d, s, noise, seed);
        let lip = p.smoothness();
        let eta = c / lip;
        let solver = Htp::new(ThresholdParams::new(s).step(eta).max_iters(30)).unwrap();
        let (xs, _) = iterates(&solver, &p);
        check_descent(&p, &xs, eta, s, lip)?;
    }
}

proptest! {
    #![proptest_config(config(256, "thresholding"))]

    /// theory/iht_rip_recovery.md: with δ_{3s} < 1/√32 and unit step,
    /// ‖x^{k+1} − x‖ ≤ 2δ‖x^k − x‖ + 2√(1+δ)‖e‖ and ‖x^k − x‖ ≤ 2^{−k}‖x‖ + 6‖e‖.
    #[test]
    fn iht_rip_recovery(d in 4usize..11, s in 1usize..=2, extra in 0usize..8, spread in 0.0f64..0.15,
                        perturb in 0.0f64..0.05, sigma in 0.0f64..0.1, seed in any::<u64>()) {
        prop_assume!(3 * s <= d);
        let n = d + extra;
        let mut r = rng(seed);
        let q = orthonormal(n, d, &mut r);
        let scales = Array1::from_shape_simple_fn(d, || 1.0 - spread + 2.0 * spread * rand::Rng::gen::<f64>(&mut r));
        let noise_mat = Array2::from_shape_simple_fn((n, d), || rand::Rng::sample::<f64, _>(&mut r, rand_distr::StandardNormal));
        let a = &q * &scales + &(noise_mat * (perturb / (n as f64).sqrt()));
        let delta = rip_constant(&a, 3 * s);
        prop_assume!(delta < 1.0 / 32f64.sqrt());
        let x = sparse_vector(d, s, &mut r);
        let e = gaussian_vector(n, &mut r) * sigma;
        let y = a.dot(&x) + &e;
        let p = LeastSquares::from_f64(a, y).unwrap();
        // f = ‖Ax − y‖²/(2n), so the unit step on ½‖Ax − y‖² is η = n here.
        let solver = Iht::new(ThresholdParams::new(s).step(n as f64).max_iters(30)).unwrap();
        let (xs, _) = iterates(&solver, &p);
        let en = e.dot(&e).sqrt();
        let xn = x.dot(&x).sqrt();
        for (k, w) in xs.windows(2).enumerate() {
            let err = (&w[0] - &x).mapv(|v| v * v).sum().sqrt();
            let err_next = (&w[1] - &x).mapv(|v| v * v).sum().sqrt();
            prop_assert!(err_next <= 2.0 * delta * err + 2.0 * (1.0 + delta).sqrt() * en + 1e-9,
                "step {k}: {err_next} > 2·{delta}·{err} + noise term");
            prop_assert!(err <= 0.5f64.powi(k as i32) * xn + 6.0 * en + 1e-9,
                "iterate {k}: error {err} above 2^-k ‖x‖ + 6‖e‖");
        }
    }

    /// theory/htp_rip_recovery.md (Foucart 2011, Thm 3.5): with δ_{3s} < 1/√3 and unit step,
    /// ‖x^{k+1} − x‖ ≤ ρ‖x^k − x‖ + τ‖e‖, ρ = √(2δ_{3s}²/(1 − δ_{2s}²)),
    /// τ = √(2/(1 − δ_{2s})) + √(1 + δ_s)/(1 − δ_{2s}); noiseless: HTP ends at x.
    #[test]
    fn htp_rip_recovery(d in 4usize..11, s in 1usize..=2, extra in 0usize..8, spread in 0.0f64..0.5,
                        perturb in 0.0f64..0.3, noisy in any::<bool>(), seed in any::<u64>()) {
        prop_assume!(3 * s <= d);
        let n = d + extra;
        let mut r = rng(seed);
        let q = orthonormal(n, d, &mut r);
        let scales = Array1::from_shape_simple_fn(d, || 1.0 - spread + 2.0 * spread * rand::Rng::gen::<f64>(&mut r));
        let noise_mat = Array2::from_shape_simple_fn((n, d), || rand::Rng::sample::<f64, _>(&mut r, rand_distr::StandardNormal));
        let a = &q * &scales + &(noise_mat * (perturb / (n as f64).sqrt()));
        let (d1, d2, d3) = (rip_constant(&a, s), rip_constant(&a, 2 * s), rip_constant(&a, 3 * s));
        prop_assume!(d3 < 1.0 / 3f64.sqrt());
        let rho = (2.0 * d3 * d3 / (1.0 - d2 * d2)).sqrt();
        let tau = (2.0 / (1.0 - d2)).sqrt() + (1.0 + d1).sqrt() / (1.0 - d2);
        let x = sparse_vector(d, s, &mut r);
        let e = gaussian_vector(n, &mut r) * if noisy { 0.05 } else { 0.0 };
        let y = a.dot(&x) + &e;
        let p = LeastSquares::from_f64(a, y).unwrap();
        let solver = Htp::new(ThresholdParams::new(s).step(n as f64).max_iters(40)).unwrap();
        let (xs, _) = iterates(&solver, &p);
        let en = e.dot(&e).sqrt();
        let dist = |w: &Array1<f64>| (w - &x).mapv(|v| v * v).sum().sqrt();
        for (k, w) in xs.windows(2).enumerate() {
            let (err, err_next) = (dist(&w[0]), dist(&w[1]));
            prop_assert!(err_next <= rho * err + tau * en + 1e-9,
                "step {k}: {err_next} > ρ·{err} + τ‖e‖ (ρ = {rho}, δ3s = {d3})");
        }
        if !noisy {
            let last = xs.last().unwrap();
            prop_assert!(dist(last) <= 1e-8 * (1.0 + x.dot(&x).sqrt()),
                "noiseless HTP ended {} from x (δ3s = {d3})", dist(last));
        }
    }

    /// theory/iht_rsc.md: HTP with η = 1/L and s ≥ 16κ²s* contracts f − f(θ*) by (1 − 1/(4κ)).
    #[test]
    fn htp_rsc_linear_rate(s_star in 1usize..=2, extra_d in 1usize..15, extra_n in 0usize..20,
                           spread in 0.0f64..0.04, sigma in 0.0f64..0.5, seed in any::<u64>()) {
        let mut r = rng(seed);
        // A = √n Q D: AᵀA/n = D², so L = max D², α ≥ min D², κ = (max D / min D)².
        let s_guess = (16.0 * (1.0 + spread).powi(4) * s_star as f64).ceil() as usize;
        let d = s_guess + extra_d;
        let n = d + extra_n;
        let q = orthonormal(n, d, &mut r);
        let dvals = Array1::from_shape_simple_fn(d, || 1.0 + spread * rand::Rng::gen::<f64>(&mut r));
        let a = &q * &dvals * (n as f64).sqrt();
        let (dmin, dmax) = dvals.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let kappa = (dmax / dmin).powi(2);
        let s = (16.0 * kappa * kappa * s_star as f64).ceil() as usize;
        prop_assume!(s < d);
        let planted = sparse_vector(d, s_star, &mut r);
        let y = a.dot(&planted) + &(gaussian_vector(n, &mut r) * sigma);
        let p = LeastSquares::from_f64(a, y).unwrap();
        let support: Vec<usize> = (0..d).filter(|&j| planted[j] != 0.0).collect();
        let theta = p.refit(&support, &Array1::zeros(d)).unwrap();
        let f_star = p.value(&theta);
        let lip = p.smoothness();
        let solver = Htp::new(ThresholdParams::new(s).step(1.0 / lip).max_iters(20)).unwrap();
        let (xs, _) = iterates(&solver, &p);
        for w in xs.windows(2) {
            let (h, h_next) = (p.value(&w[0]) - f_star, p.value(&w[1]) - f_star);
            prop_assert!(h_next <= (1.0 - 1.0 / (4.0 * kappa)) * h + slack(f_star.max(h.abs())),
                "h_next {h_next} > (1 − 1/(4κ)) h = {}", (1.0 - 1.0 / (4.0 * kappa)) * h);
        }
    }
}
