//! The planted teacher against a trained student: the student MLP's masked weights read off
//! the variable store into a [`ReluNet`] and scored by `crate::recovery` (theory/recovery.md).

use std::collections::HashMap;

use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use tch::{nn::VarStore, Tensor};

use super::data::Data;
use super::models::Network;
use crate::recovery::{group_support, recovery_between, RecoveryReport, ReluNet};
use crate::select::Mask;
use crate::{Error, Result};

/// Fresh inputs on which units are matched.
const SAMPLES: usize = 2000;

/// A variable on the host, as its shape and f32 values.
fn host(vars: &HashMap<String, Tensor>, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
    let t = vars
        .get(name)
        .ok_or_else(|| Error::param("recovery", format!("no variable {name}")))?;
    let shape = t.size().iter().map(|&d| d as usize).collect();
    let flat = t
        .to_device(tch::Device::Cpu)
        .to_kind(tch::Kind::Float)
        .contiguous()
        .view([-1]);
    let v = Vec::<f32>::try_from(&flat).map_err(|e| Error::Numerical(e.to_string()))?;
    Ok((shape, v))
}

/// On the planted-teacher dataset with an MLP of the teacher's shape: the student's masked
/// weights against the teacher's, units matched on 2000 fresh Gaussian inputs (seeded by
/// `seed`; raw for the teacher, normalized as in training for the student). `None` for any
/// other dataset or network.
pub fn recovery(
    net: &Network,
    vs: &VarStore,
    data: &Data,
    seed: u64,
    mask: &Mask,
) -> Result<Option<RecoveryReport>> {
    let Some((teacher, mean, std)) = &data.teacher else {
        return Ok(None);
    };
    let depth = teacher.weights.len();
    let fc = |l: usize, what: &str| format!("fc{}.{what}", l + 1);
    if net.prunable != (0..depth).map(|l| fc(l, "weight")).collect::<Vec<_>>() {
        return Ok(None);
    }
    let vars = vs.variables();
    let (mut weights, mut biases, mut support) = (Vec::new(), Vec::new(), Vec::new());
    for (l, tw) in teacher.weights.iter().enumerate() {
        let (shape, w) = host(&vars, &fc(l, "weight"))?;
        let (_, b) = host(&vars, &fc(l, "bias"))?;
        if shape != [tw.nrows(), tw.ncols()] {
            return Ok(None);
        }
        let kept = group_support(mask, l, tw.dim());
        let w = Array2::from_shape_vec(tw.dim(), w).map_err(|e| Error::Shape(e.to_string()))?;
        weights.push(&w * &kept.mapv(f32::from));
        biases.push(Array1::from(b));
        support.push(kept);
    }
    let student = ReluNet::new(weights, biases, support)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x0072_6563_6f76_6572);
    let raw = Array2::from_shape_simple_fn((SAMPLES, teacher.weights[0].ncols()), || {
        rng.sample::<f32, _>(rand_distr::StandardNormal)
    });
    let normalized = raw.mapv(|v| (v - mean) / std);
    Ok(Some(
        recovery_between(&teacher.net()?, &student, &raw, &normalized)?.report(),
    ))
}
