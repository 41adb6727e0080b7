//! Criterion benchmarks of every solver on seeded planted instances (data built outside the
//! timed closures; sizes in the `BenchmarkId`s). `cargo bench --bench solvers`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use lottery::problem::{LeastSquares, Logistic, PlantedParams, Scaling};
use lottery::select::{Budget, Largest, Rule, Scores};
use lottery::solver::frank_wolfe::{Domain, FrankWolfe, FwParams, StepRule, Variant};
use lottery::solver::greedy::{Fcfgs, Foba, ForwardGreedy, Fwr, GreedyParams, Omp};
use lottery::solver::iht::{Cosamp, Htp, Iht, Niht, ThresholdParams};
use lottery::solver::mirror::{MdDomain, MirrorDescent, MirrorParams};
use lottery::solver::{maurey, solve_quiet};
use std::hint::black_box;

fn instance(n: usize, d: usize, k: usize) -> (LeastSquares, ndarray::Array1<f64>) {
    let inst = PlantedParams {
        n,
        d,
        k,
        noise: 0.01,
        seed: 42,
        ..Default::default()
    }
    .generate()
    .unwrap();
    let x = inst.x_star.clone();
    (LeastSquares::from_f64(inst.a, inst.y).unwrap(), x)
}

fn thresholding(c: &mut Criterion) {
    let (n, d, k) = (400, 2000, 20);
    let (p, _) = instance(n, d, k);
    let id = format!("n{n}_d{d}_k{k}");
    let mut g = c.benchmark_group("thresholding");
    g.sample_size(10);
    let t = ThresholdParams::new(k).max_iters(100);
    g.bench_function(BenchmarkId::new("iht_100it", &id), |b| {
        b.iter(|| solve_quiet(&Iht::new(t.clone()).unwrap(), &p).unwrap())
    });
    g.bench_function(BenchmarkId::new("niht_100it", &id), |b| {
        b.iter(|| solve_quiet(&Niht::new(t.clone()).unwrap(), &p).unwrap())
    });
    g.bench_function(BenchmarkId::new("htp", &id), |b| {
        b.iter(|| solve_quiet(&Htp::new(t.clone()).unwrap(), &p).unwrap())
    });
    g.bench_function(BenchmarkId::new("cosamp", &id), |b| {
        b.iter(|| solve_quiet(&Cosamp::new(t.clone()).unwrap(), &p).unwrap())
    });
    g.finish();
}

fn greedy(c: &mut Criterion) {
    let (n, d, k) = (400, 2000, 20);
    let (p, x_star) = instance(n, d, k);
    let pf32 = p.to_f32();
    let id = format!("n{n}_d{d}_k{k}");
    let mut g = c.benchmark_group("greedy");
    g.sample_size(10);
    let gp = GreedyParams::new(k);
    g.bench_function(BenchmarkId::new("omp_f64", &id), |b| {
        b.iter(|| solve_quiet(&Omp::new(gp.clone()).unwrap(), &p).unwrap())
    });
    g.bench_function(BenchmarkId::new("omp_f32", &id), |b| {
        b.iter(|| solve_quiet(&Omp::new(gp.clone()).unwrap(), &pf32).unwrap())
    });
    g.bench_function(BenchmarkId::new("fcfgs", &id), |b| {
        b.iter(|| solve_quiet(&Fcfgs::new(gp.clone()).unwrap(), &p).unwrap())
    });
    g.bench_function(BenchmarkId::new("forward", &id), |b| {
        b.iter(|| solve_quiet(&ForwardGreedy::new(gp.clone()).unwrap(), &p).unwrap())
    });
    g.bench_function(BenchmarkId::new("fwr", &id), |b| {
        b.iter(|| solve_quiet(&Fwr::new(gp.clone()).unwrap(), &p).unwrap())
    });
    g.bench_function(BenchmarkId::new("foba", &id), |b| {
        b.iter(|| solve_quiet(&Foba::new(gp.clone()).unwrap(), &p).unwrap())
    });
    g.bench_function(BenchmarkId::new("maurey_k20", &id), |b| {
        b.iter(|| maurey::sparsify(&x_star, k, 1).unwrap())
    });
    let small = PlantedParams {
        n: 300,
        d: 200,
        k: 5,
        scaling: Scaling::InvSqrtN,
        seed: 1,
        ..Default::default()
    }
    .generate()
    .unwrap();
    let labels = small.labels();
    let logistic = Logistic::new(lottery::problem::Design::F64(small.a * 3.0), labels).unwrap();
    g.bench_function(BenchmarkId::new("fcfgs_logistic", "n300_d200_k5"), |b| {
        b.iter(|| solve_quiet(&Fcfgs::new(GreedyParams::new(5)).unwrap(), &logistic).unwrap())
    });
    g.finish();
}

fn first_order(c: &mut Criterion) {
    let (n, d, k) = (400, 2000, 20);
    let (p, _) = instance(n, d, k);
    let id = format!("n{n}_d{d}");
    let mut g = c.benchmark_group("first_order");
    g.sample_size(10);
    for (name, variant, domain) in [
        ("fw_l1_200it", Variant::Vanilla, Domain::L1 { radius: 10.0 }),
        ("afw_l1_200it", Variant::Away, Domain::L1 { radius: 10.0 }),
        (
            "pfw_l1_200it",
            Variant::Pairwise,
            Domain::L1 { radius: 10.0 },
        ),
        (
            "fw_ksparse_200it",
            Variant::Vanilla,
            Domain::KSparse { k, radius: 1.0 },
        ),
        (
            "fw_ksupport_200it",
            Variant::Vanilla,
            Domain::KSupport { k, radius: 5.0 },
        ),
    ] {
        let fw = FrankWolfe::new(
            FwParams {
                variant,
                step: StepRule::LineSearch,
                max_iters: 200,
                tol: 0.0,
            },
            domain,
        )
        .unwrap();
        g.bench_function(BenchmarkId::new(name, &id), |b| {
            b.iter(|| solve_quiet(&fw, &p).unwrap())
        });
    }
    let md = MirrorDescent::new(MirrorParams {
        iters: 200,
        domain: MdDomain::L1 { radius: 10.0 },
        ..MirrorParams::default()
    })
    .unwrap();
    g.bench_function(BenchmarkId::new("md_l1_200it", &id), |b| {
        b.iter(|| solve_quiet(&md, &p).unwrap())
    });
    g.finish();
}

fn selection(c: &mut Criterion) {
    let mut g = c.benchmark_group("select");
    for d in [100_000usize, 1_000_000] {
        let v: Vec<f64> = (0..d)
            .map(|i| ((i * 2_654_435_761) % 1_000_003) as f64 - 500_000.0)
            .collect();
        let scores = Scores::flat(v);
        g.bench_function(BenchmarkId::new("largest_top1pct", d), |b| {
            b.iter(|| {
                Largest
                    .select(black_box(&scores), &Budget::TopK(d / 100))
                    .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, thresholding, greedy, first_order, selection);
criterion_main!(benches);
