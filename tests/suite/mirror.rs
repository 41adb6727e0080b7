//! Property tests of mirror descent (theory/mirror_descent.md).

use crate::common;

use common::*;
use lottery::solver::frank_wolfe::Domain;
use lottery::solver::mirror::{Geometry, MdDomain, MirrorDescent, MirrorParams, Output};
use lottery::solver::solve_quiet;
use proptest::prelude::*;

proptest! {
    #![proptest_config(config(256, "mirror"))]

    /// theory/mirror_descent.md: f(x̄_T) − f* ≤ L∞ √(2 ln n / T) on the simplex.
    #[test]
    fn entropic_md_rate_simplex(n in 5usize..40, d in 2usize..30, t in 1usize..600,
                                noise in 0.0f64..1.0, seed in any::<u64>()) {
        let (p, _, _) = gaussian_ls(n, d, 2.min(d), noise, seed);
        let (f_lower, _) = fstar_bounds(&p, Domain::Simplex);
        let md = MirrorDescent::new(MirrorParams { iters: t, ..MirrorParams::default() }).unwrap();
        let sol = solve_quiet(&md, &p).unwrap();
        // The inequality the proof telescopes (three-point property of the entropy, i.e.
        // Hoeffding's lemma): for every vertex e_i and the step η the solver reports,
        // η⟨g_t, x_t − e_i⟩ ≤ ln x_{t+1,i} − ln x_{t,i} + η²‖g_t‖∞²/2.
        let (xs, recs) = iterates(&md, &p);
        for (w, r) in xs.windows(2).zip(recs.iter().skip(1)) {
            let eta = r.step.unwrap();
            let g = lottery::space::Objective::gradient(&p, &w[0]);
            let ginf = g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let gx = g.dot(&w[0]);
            for i in 0..d {
                let lhs = eta * (gx - g[i]);
                let rhs = w[1][i].ln() - w[0][i].ln() + eta * eta * ginf * ginf / 2.0;
                prop_assert!(lhs <= rhs + 1e-9 * (1.0 + lhs.abs()), "coordinate {i}: {lhs} > {rhs}");
            }
        }
        prop_assert!((sol.x.sum() - 1.0).abs() < 1e-9 && sol.x.iter().all(|v| *v >= 0.0));
        let bound = md.bound(&p);
        prop_assert!(sol.info.objective - f_lower <= bound + slack(f_lower),
            "T = {t}: f(x̄) − f* ≤ {} > bound {bound}", sol.info.objective - f_lower);
    }

    /// theory/mirror_descent.md: f(x̄_T) − f* ≤ τ L∞ √(2 ln(2n) / T) on the ℓ1 ball via doubling.
    #[test]
    fn entropic_md_rate_l1(n in 5usize..40, d in 2usize..30, t in 1usize..600, radius in 0.2f64..3.0,
                           noise in 0.0f64..1.0, seed in any::<u64>()) {
        let (p, _, _) = gaussian_ls(n, d, 2.min(d), noise, seed);
        let (f_lower, _) = fstar_bounds(&p, Domain::L1 { radius });
        let md = MirrorDescent::new(MirrorParams { iters: t, domain: MdDomain::L1 { radius },
            ..MirrorParams::default() }).unwrap();
        let sol = solve_quiet(&md, &p).unwrap();
        prop_assert!(sol.x.iter().map(|v| v.abs()).sum::<f64>() <= radius * (1.0 + 1e-12));
        let bound = md.bound(&p);
        prop_assert!(sol.info.objective - f_lower <= bound + slack(f_lower),
            "T = {t}: f(x̄) − f* ≤ {} > bound {bound}", sol.info.objective - f_lower);
    }

    /// The Euclidean comparison method stays feasible and also meets its (projected-gradient) bound.
    #[test]
    fn euclidean_md_feasible_and_bounded(n in 5usize..30, d in 2usize..20, t in 1usize..300,
                                         simplex in any::<bool>(), seed in any::<u64>()) {
        let (p, _, _) = gaussian_ls(n, d, 2.min(d), 0.5, seed);
        let (md_domain, fw_domain) = if simplex { (MdDomain::Simplex, Domain::Simplex) }
            else { (MdDomain::L1 { radius: 1.0 }, Domain::L1 { radius: 1.0 }) };
        let (f_lower, _) = fstar_bounds(&p, fw_domain);
        let md = MirrorDescent::new(MirrorParams { iters: t, geometry: Geometry::Euclidean,
            domain: md_domain, output: Output::Average, ..MirrorParams::default() }).unwrap();
        let sol = solve_quiet(&md, &p).unwrap();
        prop_assert!(fw_domain.contains(&sol.x, 1e-9));
        prop_assert!(sol.info.objective - f_lower <= md.bound(&p) + slack(f_lower));
    }
}
