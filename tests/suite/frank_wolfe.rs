//! Property tests of Frank-Wolfe (theory/frank_wolfe.md, fw_sparsity.md, fw_linear.md).

use crate::common;

use common::*;
use lottery::problem::LeastSquares;
use lottery::solver::frank_wolfe::{Domain, FrankWolfe, FwParams, StepRule, Variant};
use lottery::solver::StepKind;
use lottery::space::Objective;
use ndarray::{Array1, Array2};
use proptest::prelude::*;

fn domain_strategy() -> impl Strategy<Value = Domain> {
    prop_oneof![
        (0.3f64..3.0).prop_map(|radius| Domain::L1 { radius }),
        Just(Domain::Simplex),
        (1usize..4, 0.2f64..1.5).prop_map(|(k, radius)| Domain::KSparse { k, radius }),
    ]
}

fn fw(variant: Variant, step: StepRule, iters: usize, domain: Domain) -> FrankWolfe {
    FrankWolfe::new(
        FwParams {
            variant,
            step,
            max_iters: iters,
            tol: 0.0,
        },
        domain,
    )
    .unwrap()
}

proptest! {
    #![proptest_config(config(256, "frank_wolfe"))]

    /// theory/frank_wolfe.md: f(x_t) − f* ≤ 2C_f/(t+2) for both step rules, with f* replaced by
    /// a certified lower bound (a stronger assertion).
    #[test]
    fn fw_primal_rate(n in 5usize..40, d in 3usize..25, domain in domain_strategy(),
                      line_search in any::<bool>(), noise in 0.0f64..1.0, seed in any::<u64>()) {
        if let Domain::KSparse { k, .. } = domain { prop_assume!(k <= d); }
        let (p, _, _) = gaussian_ls(n, d, 2.min(d), noise, seed);
        let (f_lower, _) = fstar_bounds(&p, domain);
        let c_f = domain.curvature(&p);
        let step = if line_search { StepRule::LineSearch } else { StepRule::OpenLoop };
        let (_, recs) = iterates(&fw(Variant::Vanilla, step, 300, domain), &p);
        for r in recs.iter().skip(1) {
            let bound = 2.0 * c_f / (r.iter as f64 + 2.0);
            prop_assert!(r.objective - f_lower <= bound + slack(f_lower),
                "t = {}: f − f* ≤ {} > 2C_f/(t+2) = {bound}", r.iter, r.objective - f_lower);
        }
        // The lemma the proof rests on (Jaggi 2013, Lemma 5): with γ_t = 2/(t+2),
        // f(x_{t+1}) ≤ f(x_t) − γ_t g(x_t) + γ_t² C_f / 2 (line search does at least as well).
        for w in recs.windows(2) {
            let gamma = 2.0 / (w[0].iter as f64 + 2.0);
            let rhs = w[0].objective - gamma * w[0].gap.unwrap() + gamma * gamma * c_f / 2.0;
            prop_assert!(w[1].objective <= rhs + slack(w[0].objective),
                "step {}: f {} > f − γ g + γ² C_f/2 = {rhs}", w[1].iter, w[1].objective);
        }
    }

    /// theory/frank_wolfe.md: the gap bounds f(x) − f*, here f(x) − f_best ≤ f(x) − f*; all four
    /// domains (the k-support ball included).
    #[test]
    fn fw_gap_bounds_suboptimality(n in 5usize..40, d in 3usize..25, k in 1usize..4, radius in 0.3f64..2.0,
                                   which in 0usize..4, noise in 0.0f64..1.0, seed in any::<u64>()) {
        prop_assume!(k <= d);
        let domain = [Domain::L1 { radius }, Domain::Simplex, Domain::KSparse { k, radius },
                      Domain::KSupport { k, radius }][which];
        let (p, _, _) = gaussian_ls(n, d, 2.min(d), noise, seed);
        let (_, f_best_long) = fstar_bounds(&p, domain);
        let (xs, recs) = iterates(&fw(Variant::Vanilla, StepRule::LineSearch, 200, domain), &p);
        let f_best = recs.iter().map(|r| r.objective).fold(f_best_long, f64::min);
        for (x, r) in xs.iter().zip(&recs) {
            prop_assert!(domain.contains(x, 1e-9), "iterate left the domain");
            let gap = r.gap.unwrap();
            prop_assert!(gap >= r.objective - f_best - slack(f_best), "gap {gap} < f − f_best = {}", r.objective - f_best);
            prop_assert!((gap - domain.gap(x, &p.gradient(x)).unwrap()).abs() <= 1e-9 * gap.abs().max(1.0));
        }
    }

    /// theory/fw_sparsity.md: ‖x_t‖₀ ≤ t + 1 (ℓ1, simplex) or ≤ k(t+1) (k-sparse polytope); on the
    /// simplex with f = ‖x‖², f(x_t) − f* ≥ 1/(t+1) − 1/n.
    #[test]
    fn fw_sparsity_and_lower_bound(dim in 3usize..60, line_search in any::<bool>(), k in 1usize..4,
                                   radius in 0.3f64..2.0, seed in any::<u64>()) {
        let step = if line_search { StepRule::LineSearch } else { StepRule::OpenLoop };
        let a = Array2::<f64>::eye(dim) * (2.0 * dim as f64).sqrt();
        let p = LeastSquares::from_f64(a, Array1::zeros(dim)).unwrap();
        let (_, recs) = iterates(&fw(Variant::Vanilla, step, 3 * dim, Domain::Simplex), &p);
        for r in &recs {
            let t = r.iter;
            prop_assert!(r.nnz <= t + 1, "t = {t}: {} nonzeros", r.nnz);
            prop_assert!(r.objective - 1.0 / dim as f64 >= 1.0 / (t as f64 + 1.0) - 1.0 / dim as f64 - 1e-12);
        }
        let (q, _, _) = gaussian_ls(20, dim, 2.min(dim), 0.3, seed);
        for (domain, per) in [(Domain::L1 { radius }, 1), (Domain::KSparse { k: k.min(dim), radius }, k.min(dim))] {
            let (_, recs) = iterates(&fw(Variant::Vanilla, step, 40, domain), &q);
            for r in &recs {
                prop_assert!(r.nnz <= per * (r.iter + 1), "{domain:?}, t = {}: {} nonzeros", r.iter, r.nnz);
            }
        }
    }

    /// theory/fw_linear.md: for f = ‖x − p‖² on the simplex (f* = 0), every good step of away-step
    /// and pairwise FW contracts f by 1 − 1/(2n); bad steps do not increase it.
    #[test]
    fn afw_pfw_linear_rate_simplex(dim in 3usize..30, zeros in 0usize..20, pairwise in any::<bool>(),
                                   seed in any::<u64>()) {
        let mut r = rng(seed);
        let mut target = gaussian_vector(dim, &mut r).mapv(f64::exp);
        for j in 0..zeros.min(dim - 1) {
            target[j] = 0.0;
        }
        target /= target.sum();
        let scale = (2.0 * dim as f64).sqrt();
        let p = LeastSquares::from_f64(Array2::<f64>::eye(dim) * scale, &target * scale).unwrap();
        let variant = if pairwise { Variant::Pairwise } else { Variant::Away };
        let (_, recs) = iterates(&fw(variant, StepRule::LineSearch, 400, Domain::Simplex), &p);
        let rho = 1.0 / (2.0 * dim as f64);
        for w in recs.windows(2) {
            let (h, h_next) = (w[0].objective, w[1].objective);
            let good = matches!(w[1].kind, Some(StepKind::Toward | StepKind::Away | StepKind::Pairwise));
            if good {
                prop_assert!(h_next <= (1.0 - rho) * h + 1e-15, "good {:?} step {}: {h_next} > (1 − 1/(2n)) {h}", w[1].kind, w[1].iter);
            } else {
                prop_assert!(h_next <= h + 1e-15, "bad step {} increased f", w[1].iter);
            }
        }
    }
}
