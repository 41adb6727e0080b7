//! The named presets: the papers' settings for each model (Frankle & Carbin 2019 for `*-lth`,
//! open_lth for `*-openlth`, MNIST-1D's own recipe for `*-mnist1d`; ../shared/REFERENCES.md). Every setting of [`RunConfig`] gets its
//! default here; run names hash only what differs from the preset.

use super::config::{RunConfig, TeacherKnobs};
use super::kinds::{
    Arch, Dataset, Init, Method, OptimizerName, Rewind, Strategy, Structure, TeacherKind,
    TeacherTargets,
};
use crate::select::budget::SparsityBudget;
use crate::{Error, Result};

fn with_strategy(mut cfg: RunConfig, strategy: Strategy) -> RunConfig {
    cfg.budget.strategy = strategy;
    cfg
}

/// The presets by name.
pub const PRESETS: [&str; 10] = [
    "lenet300-lth",
    "conv2-lth",
    "conv4-lth",
    "conv6-lth",
    "lenet300-openlth",
    "resnet20-openlth",
    "vgg16-openlth",
    "lenet300-mnist1d",
    "conv1d-mnist1d",
    "mlp-teacher",
];

impl RunConfig {
    /// The settings of a named preset (Frankle & Carbin 2019 for `*-lth`, open_lth for
    /// `*-openlth`; see ../shared/REFERENCES.md).
    pub fn preset(name: &str) -> Result<Self> {
        let lth = |model: Arch, lr: f64, iterations: usize, rate_conv: f64| RunConfig {
            preset: name.to_string(),
            model,
            hidden: vec![300, 100],
            dataset: if model == Arch::Lenet300 {
                Dataset::FashionMnist
            } else {
                Dataset::Cifar10
            },
            init: Init::Glorot,
            optimizer: OptimizerName::Adam,
            lr,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            batch: 60,
            iterations,
            epochs: 0,
            lr_drop_epochs: vec![],
            lr_drop_iterations: vec![],
            lr_gamma: 0.1,
            warmup: 0,
            eval_every: 1000,
            validation: 5000,
            levels: 20,
            rate_fc: 0.2,
            rate_conv,
            rate_output: 0.1,
            rate_global: 0.2,
            prune_output: true,
            oneshot: 0.0,
            rewind: Rewind::Init,
            finetune_lr: 0.0,
            retrain: 0,
            seed: 0,
            divergence_loss: 1e4,
            method: Method::Imp,
            budget: SparsityBudget {
                sparsity: 0.0,
                strategy: Strategy::Layerwise,
                structure: Structure::Unstructured,
                output: 1.0,
            },
            score_lr: 0.1,
            methods: Default::default(),
            teacher: TeacherKnobs {
                teacher: TeacherKind::Wide,
                teacher_input: 200,
                teacher_relevant: 40,
                teacher_hidden: vec![16],
                teacher_fan_in: vec![8],
                teacher_outputs: 10,
                teacher_targets: TeacherTargets::Labels,
                teacher_samples: 20_000,
                teacher_noise: 0.0,
                teacher_online: false,
            },
            layerwise: Default::default(),
        };
        let openlth = |model: Arch,
                       epochs: usize,
                       drops: Vec<usize>,
                       momentum: f64,
                       wd: f64,
                       prune_output: bool| RunConfig {
            init: Init::Kaiming,
            optimizer: OptimizerName::Sgd,
            lr: 0.1,
            momentum,
            weight_decay: wd,
            batch: 128,
            iterations: 0,
            epochs,
            lr_drop_epochs: drops,
            prune_output,
            ..with_strategy(lth(model, 0.1, 0, 0.2), Strategy::Global)
        };
        // MNIST-1D (Greydanus 2020): the package's training recipe (Adam 1e-2, batch 100, 6000
        // steps), 500 of the 4000 training samples held out for validation, evaluation every
        // 100 steps, and Frankle & Carbin's per-level rates.
        let mnist1d = |model: Arch| RunConfig {
            dataset: Dataset::Mnist1d,
            batch: 100,
            validation: 500,
            eval_every: 100,
            ..lth(model, 1e-2, 6000, 0.1)
        };
        Ok(match name {
            "lenet300-lth" => lth(Arch::Lenet300, 1.2e-3, 50_000, 0.1),
            "conv2-lth" => lth(Arch::Conv2, 2e-4, 20_000, 0.1),
            "conv4-lth" => lth(Arch::Conv4, 3e-4, 25_000, 0.1),
            "conv6-lth" => lth(Arch::Conv6, 3e-4, 30_000, 0.15),
            "lenet300-openlth" => openlth(Arch::Lenet300, 40, vec![], 0.0, 0.0, false),
            "resnet20-openlth" => openlth(Arch::Resnet20, 160, vec![80, 120], 0.9, 1e-4, true),
            "vgg16-openlth" => openlth(Arch::Vgg16, 160, vec![80, 120], 0.9, 1e-4, false),
            "lenet300-mnist1d" => mnist1d(Arch::Lenet300),
            "conv1d-mnist1d" => mnist1d(Arch::Conv1d),
            // The identifiable narrow teacher (issue 13): a student MLP of the teacher's width
            // regressing the teacher's outputs with Adam; only hidden layers are pruned (the
            // teacher's output layer is dense).
            "mlp-teacher" => {
                let base = lth(Arch::Mlp, 3e-3, 6000, 0.1);
                RunConfig {
                    hidden: vec![16],
                    dataset: Dataset::Teacher,
                    init: Init::Kaiming,
                    batch: 100,
                    validation: 200,
                    eval_every: 250,
                    prune_output: false,
                    teacher: TeacherKnobs {
                        teacher: TeacherKind::Narrow,
                        teacher_targets: TeacherTargets::Regression,
                        ..base.teacher.clone()
                    },
                    ..base
                }
            }
            other => {
                return Err(Error::param(
                    "preset",
                    format!("unknown preset `{other}` (one of {})", PRESETS.join(", ")),
                ))
            }
        })
    }
}
