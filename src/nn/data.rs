//! Datasets as tensors on the training device: train / validation / test splits, normalized
//! with the training statistics, and the empty dataset of data-free pruning.

use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};

use crate::data::{self, Dataset, Split};
use crate::run::kinds::{Arch, Dataset as DatasetName, TeacherKind, TeacherTargets};
use crate::run::RunConfig;
use crate::select::Mask;
use crate::{Error, Result};

/// Train, validation and test sets as tensors on the device.
#[derive(Debug)]
pub struct Data {
    /// Features ($N \times C \times H \times W$) and labels (length $N$).
    pub train: (Tensor, Tensor),
    /// Validation split (held out from the training set).
    pub val: (Tensor, Tensor),
    /// Test set.
    pub test: (Tensor, Tensor),
    /// $(C, H, W)$.
    pub shape: [usize; 3],
    /// Classes.
    pub classes: usize,
    /// The planted support, for the `teacher` dataset (one group per teacher layer).
    pub planted: Option<Mask>,
    /// The planted network itself, for the `teacher` dataset, with the scalar normalization
    /// $(x - m)/s$ the training inputs received (the recovery metrics feed the teacher raw
    /// inputs and the student normalized ones).
    pub teacher: Option<(crate::data::teacher::Teacher, f32, f32)>,
}

impl Data {
    /// Number of training samples.
    pub fn train_len(&self) -> usize {
        self.train.1.size()[0] as usize
    }

    /// An empty dataset with the input shape and classes of `cfg`'s model on its usual data
    /// (`--dataset none`: data-free pruning at initialization).
    pub fn none(cfg: &RunConfig) -> Data {
        let shape = match (cfg.model, cfg.dataset) {
            (Arch::Conv1d, _) | (_, DatasetName::Mnist1d) => [1, 1, 40],
            (Arch::Lenet300 | Arch::Mlp, _) => [1, 28, 28],
            _ => [3, 32, 32],
        };
        let empty = || {
            (
                Tensor::zeros([0, 1], (Kind::Float, Device::Cpu)),
                Tensor::zeros([0], (Kind::Int64, Device::Cpu)),
            )
        };
        Data {
            train: empty(),
            val: empty(),
            test: empty(),
            shape,
            classes: 10,
            planted: None,
            teacher: None,
        }
    }
}

fn to_tensors(d: &Dataset, device: Device) -> (Tensor, Tensor) {
    let [c, h, w] = d.shape.map(|v| v as i64);
    let x = Tensor::from_slice(&d.x)
        .view([d.len() as i64, c, h, w])
        .to_device(device);
    let y = if d.targets.is_empty() {
        Tensor::from_slice(&d.y).to_kind(Kind::Int64)
    } else {
        Tensor::from_slice(&d.targets).view([d.len() as i64, d.classes as i64])
    };
    (x, y.to_device(device))
}

/// The planted teacher of `cfg` and its training and test sets (5000 test samples).
fn teacher_data(cfg: &RunConfig) -> Result<(Dataset, Dataset, data::teacher::Teacher)> {
    let t = &cfg.teacher;
    let n_train = if t.teacher_online {
        cfg.iterations * cfg.batch + cfg.validation
    } else {
        t.teacher_samples
    };
    let regression = t.teacher_targets == TeacherTargets::Regression;
    match t.teacher {
        TeacherKind::Wide => {
            if regression || t.teacher_noise > 0.0 {
                return Err(Error::param(
                    "teacher",
                    "regression targets and noise need `teacher = \"narrow\"` (the wide teacher \
                     has argmax labels only)",
                ));
            }
            data::teacher::TeacherParams {
                seed: cfg.seed,
                n_train,
                ..Default::default()
            }
            .generate()
        }
        TeacherKind::Narrow => {
            let teacher = data::teacher::NarrowTeacherParams {
                input: t.teacher_input,
                relevant: t.teacher_relevant,
                hidden: t.teacher_hidden.clone(),
                fan_in: t.teacher_fan_in.clone(),
                outputs: t.teacher_outputs,
                seed: cfg.seed,
            }
            .generate()?;
            let (train, test) = data::teacher::Sampling {
                n_train,
                n_test: 5000,
                regression,
                noise: t.teacher_noise,
                seed: cfg.seed ^ 0x0074_6561_6368_6572,
            }
            .sample(&teacher)?;
            Ok((train, test, teacher))
        }
    }
}

/// Load `cfg.dataset` (from `data_dir`, or its default location), hold out `cfg.validation`
/// training samples (seeded by `cfg.seed`), normalize with the training statistics.
pub fn load_data(cfg: &RunConfig, data_dir: Option<&Path>, device: Device) -> Result<Data> {
    let mut planted = None;
    let mut teacher_net = None;
    let dir_or = |default: &str| {
        data_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(default))
    };
    let (train, test) = match cfg.dataset {
        DatasetName::FashionMnist | DatasetName::Mnist => {
            let dir = dir_or(if cfg.dataset == DatasetName::Mnist {
                "data/mnist"
            } else {
                data::FASHION_MNIST_DIR
            });
            (
                data::load_mnist(&dir, Split::Train)?,
                data::load_mnist(&dir, Split::Test)?,
            )
        }
        DatasetName::Cifar10 => {
            let dir = dir_or("data/cifar10");
            (
                data::cifar::read(&data::cifar::files(&dir, true))?,
                data::cifar::read(&data::cifar::files(&dir, false))?,
            )
        }
        DatasetName::Mnist1d => data::mnist1d::load(&dir_or(data::mnist1d::DIR))?,
        DatasetName::Teacher => {
            let (tr, te, teacher) = teacher_data(cfg)?;
            planted = Some(teacher.mask.clone());
            teacher_net = Some(teacher);
            (tr, te)
        }
        DatasetName::None => {
            return Err(Error::param(
                "dataset",
                "`none` has no data to load (only data-free pruning runs without data)",
            ))
        }
    };
    // Checked where the training set's size is known: at most half of it is held out.
    if cfg.validation > train.len() / 2 {
        return Err(Error::param(
            "validation",
            format!(
                "{} is more than half of the {} training samples of {}",
                cfg.validation,
                train.len(),
                cfg.dataset
            ),
        ));
    }
    let (mut tr, mut va) = train.split_validation(cfg.validation, cfg.seed)?;
    let mut te = test;
    let (mean, std) = tr.channel_stats();
    for d in [&mut tr, &mut va, &mut te] {
        d.normalize(&mean, &std);
    }
    let teacher = teacher_net.map(|t| (t, mean[0], std[0]));
    Ok(Data {
        planted,
        teacher,
        shape: tr.shape,
        classes: tr.classes,
        train: to_tensors(&tr, device),
        val: to_tensors(&va, device),
        test: to_tensors(&te, device),
    })
}
