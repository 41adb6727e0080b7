//! One interface, proven: the same selection rule and the same IHT code (`Iht::run_on`, i.e.
//! `solver::step::gradient_threshold_step`) run on a least-squares problem held as ndarray and on that
//! problem as a one-layer linear network in tch (loss and gradient by autograd), and give the
//! same iterates and masks to float tolerance.
#![cfg(feature = "torch")]

use lottery::nn::params::Params;
use lottery::problem::{LeastSquares, PlantedParams, SmoothProblem};
use lottery::solver::iht::{Iht, ThresholdParams};
use lottery::space::{Objective, SparseVector};
use ndarray::Array1;
use tch::{Kind, Tensor};

/// ‖X wᵀ − y‖²/(2n) for a linear layer `w` (1 × d, no bias), gradient by autograd.
struct LinearNet {
    x: Tensor,
    y: Tensor,
}

impl Objective<Params> for LinearNet {
    fn value(&self, p: &Params) -> f64 {
        tch::no_grad(|| self.loss(&p.tensors[0]).double_value(&[]))
    }

    fn gradient(&self, p: &Params) -> Params {
        let w = p.tensors[0].detach().set_requires_grad(true);
        let loss = self.loss(&w);
        loss.backward();
        Params::new(p.names.clone(), vec![w.grad().detach().copy()])
    }
}

impl LinearNet {
    fn loss(&self, w: &Tensor) -> Tensor {
        let n = self.y.size()[0] as f64;
        let r = self.x.matmul(&w.transpose(0, 1)).squeeze_dim(1) - &self.y;
        (&r * &r).sum(Kind::Double) / (2.0 * n)
    }
}

#[test]
fn iht_on_ndarray_and_on_a_tch_linear_layer_agree() {
    let inst = PlantedParams {
        n: 100,
        d: 150,
        k: 5,
        noise: 0.01,
        seed: 11,
        ..Default::default()
    }
    .generate()
    .unwrap();
    let x = Tensor::from_slice(inst.a.as_slice().unwrap())
        .view([100, 150])
        .to_kind(Kind::Double);
    let y = Tensor::from_slice(inst.y.as_slice().unwrap()).to_kind(Kind::Double);
    let net = LinearNet { x, y };
    let p = LeastSquares::from_f64(inst.a.clone(), inst.y.clone()).unwrap();
    let eta = 1.0 / p.smoothness();
    let iht = Iht::new(ThresholdParams::new(5)).unwrap();

    let (x_nd, masks_nd) = iht.run_on(&p, Array1::zeros(150), eta, 300).unwrap();
    let w0 = Params::new(
        vec!["fc.weight".into()],
        vec![Tensor::zeros([1, 150], (Kind::Double, tch::Device::Cpu))],
    );
    let (w_tch, masks_tch) = iht.run_on(&net, w0, eta, 300).unwrap();

    assert_eq!(
        masks_nd, masks_tch,
        "the two backends selected different supports"
    );
    let w: Vec<f64> = w_tch.to_scores().values().to_vec();
    for (a, b) in x_nd.iter().zip(&w) {
        assert!((a - b).abs() <= 1e-10 * (1.0 + a.abs()), "{a} vs {b}");
    }
    assert_eq!(
        masks_nd.last().unwrap().indices(),
        inst.support,
        "IHT recovers the planted support"
    );
    // Both objectives agree at the final point too.
    let f_nd = p.value(&x_nd);
    assert!((f_nd - net.value(&w_tch)).abs() <= 1e-12 * (1.0 + f_nd));
}

/// The entropic mirror step and the k-sparse Frank-Wolfe vertex give the same result on an
/// ndarray vector and on the same values held as a (double) tensor.
#[test]
fn entropic_and_frank_wolfe_steps_agree_across_backends() {
    use lottery::select::{Budget, Largest};
    use lottery::solver::step::{entropic_step, sparse_polytope_vertex_grouped};
    let d = 40;
    let x0: Vec<f64> = (0..d)
        .map(|i| ((i * 7 % 11) as f64 - 5.0) / 3.0 + 0.05)
        .collect();
    let g0: Vec<f64> = (0..d).map(|i| ((i * 5 % 13) as f64 - 6.0) / 4.0).collect();
    let tensor = |v: &[f64]| Params::new(vec!["w".into()], vec![Tensor::from_slice(v)]);
    let values = |p: &Params| Vec::<f64>::try_from(&p.tensors[0]).unwrap();
    let (mut a, ga) = (Array1::from(x0.clone()), Array1::from(g0.clone()));
    let (mut b, gb) = (tensor(&x0), tensor(&g0));
    let radius = a.iter().map(|v| v.abs()).sum::<f64>();
    entropic_step(&mut a, &ga, &[0.3], &[radius]);
    entropic_step(&mut b, &gb, &[0.3], &[radius]);
    for (u, v) in a.iter().zip(values(&b)) {
        assert!((u - v).abs() < 1e-12, "{u} vs {v}");
    }
    // Signs are kept, the l1 norm is the radius.
    assert!(a.iter().zip(&x0).all(|(u, v)| u.signum() == v.signum()));
    assert!((a.iter().map(|v| v.abs()).sum::<f64>() - radius).abs() < 1e-9);
    let budget = Budget::TopK(6);
    let (va, ma) = sparse_polytope_vertex_grouped(&ga, &[2.0], &Largest, &budget).unwrap();
    let (vb, mb) = sparse_polytope_vertex_grouped(&gb, &[2.0], &Largest, &budget).unwrap();
    assert_eq!(ma, mb);
    assert_eq!(va.to_vec(), values(&vb));
    assert_eq!(va.iter().filter(|v| **v != 0.0).count(), 6);
}
