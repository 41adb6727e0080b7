//! The typed settings of a run: every setting with a fixed set of values is an enum that reads
//! and writes the same plain string as before (so TOML files and pinned run hashes do not
//! change), and every `match` on one is checked by the compiler. Each type lists its names
//! (`NAMES`) and parses with a one-line error that lists them.
//!
//! ```
//! use lottery::run::kinds::{Method, Rewind};
//! let m: Method = "magnitude-init".parse().unwrap();
//! assert_eq!(m, Method::MagnitudeInit);
//! assert_eq!(m.as_str(), "magnitude-init");
//! assert!(Method::NAMES.contains(&"early-bird"));
//! assert_eq!("500".parse::<Rewind>().unwrap(), Rewind::Iteration(500));
//! assert!("lr2".parse::<Rewind>().is_err());
//! ```

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::select::budget::{Strategy, Structure};
pub use crate::zoo::convex::FwSchedule;
pub use crate::zoo::early_bird::{EbDistance, EbVariant};
pub use crate::zoo::supermask::{Criterion, Kept, Pruned};
pub use crate::zoo::Method;

use crate::names::named_enum;
use crate::{Error, Result};

named_enum!(
    /// Model names.
    Arch, "model", {
        /// LeNet-300-100.
        Lenet300 = "lenet300",
        /// Conv-2.
        Conv2 = "conv2",
        /// Conv-4.
        Conv4 = "conv4",
        /// Conv-6.
        Conv6 = "conv6",
        /// ResNet-20 (CIFAR).
        Resnet20 = "resnet20",
        /// VGG-16 (CIFAR).
        Vgg16 = "vgg16",
        /// The MNIST-1D convolutional network (Greydanus 2020): three 1-d convolutions of 25
        /// channels, fc 10.
        Conv1d = "conv1d",
        /// A ReLU MLP with the hidden widths of the `hidden` setting (the planted teacher's
        /// students).
        Mlp = "mlp",
    }
);

named_enum!(
    /// Which planted teacher `--dataset teacher` draws.
    TeacherKind, "teacher", {
        /// The original wide random teacher (784 inputs, 300-100, 10% density,
        /// [`crate::data::teacher::TeacherParams`]); its support is not identifiable.
        Wide = "wide",
        /// The identifiable narrow teacher ([`crate::data::teacher::NarrowTeacherParams`]): the
        /// `teacher_*` shape settings.
        Narrow = "narrow",
    }
);

named_enum!(
    /// The targets of the planted teacher's samples.
    TeacherTargets, "teacher_targets", {
        /// The argmax of the teacher's outputs (cross-entropy).
        Labels = "labels",
        /// The teacher's outputs themselves (mean squared error; logit matching, Ba & Caruana
        /// 2014): real-valued, so far more bits per sample than an argmax's $\log_2 K$.
        Regression = "regression",
    }
);

named_enum!(
    /// Datasets.
    Dataset, "dataset", {
        /// Fashion-MNIST (Debian's `dataset-fashion-mnist`).
        FashionMnist = "fashion-mnist",
        /// MNIST (IDX files in `--data-dir`).
        Mnist = "mnist",
        /// CIFAR-10 (binary batches in `--data-dir`).
        Cifar10 = "cifar10",
        /// The planted sparse teacher.
        Teacher = "teacher",
        /// MNIST-1D (Greydanus 2020; `.npy` files from `scripts/mnist1d` in `--data-dir`).
        Mnist1d = "mnist1d",
        /// No data: data-free pruning at initialization.
        None = "none",
    }
);

named_enum!(
    /// Weight initialization of conv and linear weights (biases start at zero).
    Init, "init", {
        /// Glorot (Xavier) normal: $\sigma^2 = 2/(\text{fan}_{in} + \text{fan}_{out})$ — the LTH paper.
        Glorot = "glorot",
        /// Kaiming (He) normal, fan-in, ReLU gain: $\sigma^2 = 2/\text{fan}_{in}$ — open_lth.
        Kaiming = "kaiming",
    }
);

named_enum!(
    /// The optimizer of a run.
    OptimizerName, "optimizer", {
        /// SGD with `momentum`, `nesterov`.
        Sgd = "sgd",
        /// Adam.
        Adam = "adam",
    }
);

named_enum!(
    /// What the sparse copies of `lottery lmc --mask` are (Frankle et al. 2020's controls).
    LmcControl, "control", {
        /// The ticket: its mask on the parent's weights at $k$.
        Ticket = "ticket",
        /// A random mask with the ticket's per-layer survival on the parent's weights at $k$.
        RandomPrune = "random-prune",
        /// The ticket's mask with its kept weights redrawn from the initialization's
        /// distribution at $k$.
        RandomReinit = "random-reinit",
    }
);

named_enum!(
    /// The device of `--device`.
    DeviceName, "device", {
        /// CPU.
        Cpu = "cpu",
        /// CUDA (the first GPU).
        Cuda = "cuda",
    }
);

named_enum!(
    /// The branches of a finished IMP level (`lottery branch <kind>`).
    BranchKind, "branch", {
        /// Same mask, fresh initialization.
        RandomReinit = "random-reinit",
        /// Random mask with the same survival, original initialization.
        RandomPrune = "random-prune",
        /// The pruned architecture from scratch.
        Scratch = "scratch",
        /// Kept weights shuffled within each layer.
        PerturbShuffle = "perturb-shuffle",
        /// Kept weights redrawn.
        PerturbReinit = "perturb-reinit",
        /// Kept weights with random signs.
        PerturbSigns = "perturb-signs",
        /// Kept weights set to the layer's standard deviation with their signs.
        PerturbConstant = "perturb-constant",
        /// The ticket under other settings.
        Transfer = "transfer",
    }
);

impl BranchKind {
    /// The action on kept weights of a perturbation branch.
    pub fn perturbation(self) -> Option<Kept> {
        match self {
            BranchKind::PerturbShuffle => Some(Kept::Reshuffle),
            BranchKind::PerturbReinit => Some(Kept::Reinit),
            BranchKind::PerturbSigns => Some(Kept::FlipSigns),
            BranchKind::PerturbConstant => Some(Kept::SignedConstant),
            _ => None,
        }
    }
}

/// Where a level's training starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rewind {
    /// The initialization (Frankle & Carbin 2019).
    Init,
    /// The weights at iteration $k$ (late rewinding; `0` is the initialization).
    Iteration(usize),
    /// The final weights, with the learning-rate schedule replayed (Renda et al. 2020).
    Lr,
    /// The final weights at the fine-tuning learning rate.
    Finetune,
}

impl Rewind {
    /// $k$ of late rewinding when $k > 0$.
    pub fn late(self) -> Option<usize> {
        match self {
            Rewind::Iteration(k) if k > 0 => Some(k),
            _ => None,
        }
    }
}

impl std::str::FromStr for Rewind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "init" => Ok(Rewind::Init),
            "lr" => Ok(Rewind::Lr),
            "finetune" => Ok(Rewind::Finetune),
            k => k.parse().map(Rewind::Iteration).map_err(|_| {
                Error::param(
                    "rewind",
                    format!("`{k}` is not init, lr, finetune or an iteration"),
                )
            }),
        }
    }
}

impl std::fmt::Display for Rewind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rewind::Init => f.write_str("init"),
            Rewind::Lr => f.write_str("lr"),
            Rewind::Finetune => f.write_str("finetune"),
            Rewind::Iteration(k) => write!(f, "{k}"),
        }
    }
}

impl Serialize for Rewind {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rewind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|_| {
            serde::de::Error::custom(format!("`{s}` is not init, lr, finetune or an iteration"))
        })
    }
}
