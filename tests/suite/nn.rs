//! The tch bridge on CPU: models build for CIFAR and MNIST shapes with the standard parameter
//! counts, and pruned weights stay exactly zero through many masked optimizer steps.
#![cfg(feature = "torch")]

use lottery::nn::models::{Arch, Init, Network};
use lottery::nn::optim::{Optimizer, OptimizerKind};
use lottery::nn::params::Params;
use lottery::select::{Budget, Random, Rule};
use lottery::space::SparseVector;
use tch::{nn, Device, Kind, Tensor};

fn build(arch: Arch, input: [usize; 3]) -> (nn::VarStore, Network) {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Network::new(&vs, arch, input, 10, Init::Kaiming).unwrap();
    (vs, net)
}

fn prunable_count(vs: &nn::VarStore, net: &Network) -> i64 {
    let vars = vs.variables();
    net.prunable.iter().map(|n| vars[n].numel() as i64).sum()
}

#[test]
fn models_have_the_standard_sizes_and_shapes() {
    // Weights only (biases and batch norm excluded), as the papers count them.
    let (vs, net) = build(Arch::Lenet300, [1, 28, 28]);
    assert_eq!(prunable_count(&vs, &net), 784 * 300 + 300 * 100 + 100 * 10); // 266,200
    let (vs, net) = build(Arch::Conv2, [3, 32, 32]);
    assert_eq!(
        prunable_count(&vs, &net),
        3 * 64 * 9 + 64 * 64 * 9 + 16384 * 256 + 256 * 256 + 2560
    ); // ≈ 4.3M
    let (vs, net) = build(Arch::Resnet20, [3, 32, 32]);
    let n = prunable_count(&vs, &net);
    assert!(
        (268_000..=272_000).contains(&n),
        "ResNet-20 has ≈ 270K weights, got {n}"
    );
    // MNIST-1D's ConvBase: 25·5 + 25·25·3 + 25·25·3 conv weights, 25·5 features into fc 10.
    let (vs, net) = build(Arch::Conv1d, [1, 1, 40]);
    assert_eq!(
        prunable_count(&vs, &net),
        25 * 5 + 2 * 25 * 25 * 3 + 125 * 10
    );
    let xs = Tensor::randn([3, 1, 1, 40], (Kind::Float, Device::Cpu));
    assert_eq!(net.forward_t(&xs, false).size(), vec![3, 10]);
    assert_eq!(net.output, "fc.weight");
    for arch in [
        Arch::Lenet300,
        Arch::Conv2,
        Arch::Conv4,
        Arch::Conv6,
        Arch::Resnet20,
        Arch::Vgg16,
    ] {
        for input in [[1, 28, 28], [3, 32, 32]] {
            let (_vs, net) = build(arch, input);
            let xs = Tensor::randn(
                [2, input[0] as i64, input[1] as i64, input[2] as i64],
                (Kind::Float, Device::Cpu),
            );
            assert_eq!(
                net.forward_t(&xs, false).size(),
                vec![2, 10],
                "{arch:?} on {input:?}"
            );
            assert_eq!(net.output, *net.prunable.last().unwrap());
        }
    }
}

#[test]
fn glorot_and_kaiming_have_their_variances() {
    for (init, var) in [
        (Init::Glorot, 2.0 / (784.0 + 300.0)),
        (Init::Kaiming, 2.0 / 784.0),
    ] {
        tch::manual_seed(1);
        let vs = nn::VarStore::new(Device::Cpu);
        let _net = Network::new(&vs, Arch::Lenet300, [1, 28, 28], 10, init).unwrap();
        let w = &vs.variables()["fc1.weight"];
        let measured = w.var(true).double_value(&[]);
        assert!(
            (measured / var - 1.0).abs() < 0.02,
            "{init:?}: {measured} vs {var}"
        );
        assert_eq!(
            vs.variables()["fc1.bias"]
                .abs()
                .sum(Kind::Double)
                .double_value(&[]),
            0.0
        );
    }
}

#[test]
fn pruned_weights_stay_exactly_zero_through_sgd_and_adam() {
    for kind in [
        OptimizerKind::Sgd {
            momentum: 0.9,
            nesterov: true,
        },
        OptimizerKind::Sgd {
            momentum: 0.9,
            nesterov: false,
        },
        OptimizerKind::adam(),
    ] {
        let (vs, net) = build(Arch::Lenet300, [1, 28, 28]);
        let vars = vs.variables();
        let mut params = Params::new(
            net.prunable.clone(),
            net.prunable
                .iter()
                .map(|n| vars[n].shallow_clone())
                .collect(),
        );
        // 80% of the weights pruned, layerwise, through the selection layer.
        let mask = Random { seed: 3 }
            .select(&params.to_scores(), &Budget::PerGroupDensity(vec![0.2; 3]))
            .unwrap();
        params.apply_mask(&mask);
        let masks: Vec<Option<Tensor>> =
            (0..3).map(|g| Some(params.mask_tensor(&mask, g))).collect();
        let before = params.clone();
        let mut opt = Optimizer::new(kind, 1e-4, &params.tensors);
        let lr = if matches!(kind, OptimizerKind::Adam { .. }) {
            1e-3
        } else {
            0.05
        };
        for step in 0..200 {
            tch::manual_seed(100 + step);
            let xs = Tensor::randn([32, 1, 28, 28], (Kind::Float, Device::Cpu));
            let ys = Tensor::randint(10, [32], (Kind::Int64, Device::Cpu));
            for t in &mut params.tensors {
                t.zero_grad();
            }
            let (loss, _) = net.loss_and_correct(&xs, &ys, true);
            loss.backward();
            opt.step(&mut params.tensors, &masks, lr);
        }
        let after = params.to_scores();
        let start = before.to_scores();
        let mut moved = 0;
        for (i, (a, b)) in after.values().iter().zip(start.values()).enumerate() {
            if mask.contains(i) {
                moved += usize::from(a != b);
            } else {
                assert_eq!(*a, 0.0, "{kind:?}: pruned weight {i} became {a}");
            }
        }
        assert!(
            moved > mask.count() / 2,
            "{kind:?}: only {moved} kept weights moved"
        );
        // The moments are masked too: zero wherever the weight is pruned.
        for (g, m) in masks.iter().enumerate() {
            let off = 1.0 - m.as_ref().unwrap();
            for state in std::iter::once(&opt.m[g]).chain(opt.v.get(g)) {
                let leak = (state * &off).abs().sum(Kind::Double).double_value(&[]);
                assert_eq!(
                    leak, 0.0,
                    "{kind:?}: moment of layer {g} nonzero on pruned weights"
                );
            }
        }
    }
}

/// Our optimizers match libtorch's own `torch::optim::SGD` and `torch::optim::Adam` (through
/// tch's `nn::Optimizer`) over 30 unmasked steps from the same weights and batches (momentum and
/// Adam moments carried across steps by each optimizer).
#[test]
fn optimizers_match_torch_optim() {
    use tch::nn::OptimizerConfig;
    // One intra-op thread: with several test threads calling libtorch at once, its shared pool
    // may change reduction orders between the two runs, and Adam amplifies ulp-level gradient
    // differences on coordinates whose gradient is ~0.
    tch::set_num_threads(1);
    for (kind, wd, lr) in [
        (
            OptimizerKind::Sgd {
                momentum: 0.9,
                nesterov: true,
            },
            1e-4,
            0.05,
        ),
        (
            OptimizerKind::Sgd {
                momentum: 0.9,
                nesterov: false,
            },
            0.0,
            0.05,
        ),
        (OptimizerKind::adam(), 0.0, 1e-3),
        (OptimizerKind::adam(), 1e-4, 1e-3),
    ] {
        let (vs_a, net_a) = build(Arch::Lenet300, [1, 28, 28]);
        let (mut vs_b, net_b) = build(Arch::Lenet300, [1, 28, 28]);
        // The same starting weights, copied (the global torch seed is shared with tests
        // running in parallel threads, so two seeded builds need not agree).
        vs_b.copy(&vs_a).unwrap();
        let mut names: Vec<String> = vs_a.variables().keys().cloned().collect();
        names.sort();
        let mut ours: Vec<Tensor> = names
            .iter()
            .map(|n| vs_a.variables()[n].shallow_clone())
            .collect();
        let mut opt = Optimizer::new(kind, wd, &ours);
        let mut theirs = match kind {
            OptimizerKind::Sgd { momentum, nesterov } => nn::Sgd {
                momentum,
                dampening: 0.0,
                wd,
                nesterov,
            }
            .build(&vs_b, lr)
            .unwrap(),
            OptimizerKind::Adam { beta1, beta2, eps } => nn::Adam {
                beta1,
                beta2,
                wd,
                eps,
                amsgrad: false,
            }
            .build(&vs_b, lr)
            .unwrap(),
        };
        for step in 0..30 {
            // Both start every step from our weights, so that ulp-level differences in the
            // gradients (reduction order) cannot flip a ReLU and compound over the steps: what
            // is compared is the update rule and the optimizer state it carries.
            if step > 0 {
                vs_b.copy(&vs_a).unwrap();
            }
            let xs = Tensor::randn([32, 1, 28, 28], (Kind::Float, Device::Cpu));
            let ys = Tensor::randint(10, [32], (Kind::Int64, Device::Cpu));
            for t in &mut ours {
                t.zero_grad();
            }
            let (loss, _) = net_a.loss_and_correct(&xs, &ys, true);
            loss.backward();
            opt.step(&mut ours, &[], lr);
            let (loss_b, _) = net_b.loss_and_correct(&xs, &ys, true);
            theirs.backward_step(&loss_b);
        }
        for n in &names {
            let (a, b) = (&vs_a.variables()[n], &vs_b.variables()[n]);
            let diff = (a - b).abs().max().double_value(&[]);
            let scale = b.abs().max().double_value(&[]);
            assert!(
                diff <= 1e-5 * (1.0 + scale),
                "{kind:?} wd {wd}: {n} differs by {diff}"
            );
        }
    }
}
