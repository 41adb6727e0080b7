//! The planted teacher against a trained student: the student MLP's masked weights read off
//! the variable store into a [`ReluNet`] and scored by `crate::recovery` (theory/recovery.md).

use std::collections::HashMap;

use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use tch::{nn::VarStore, Tensor};

use super::data::Data;
use super::models::Network;
use super::params::Params;
use crate::recovery::{group_support, recovery_between, RecoveryReport, ReluNet};
use crate::select::{Mask, Scores};
use crate::space::SparseVector;
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

/// On the planted-teacher dataset with an MLP of the teacher's depth, inputs and outputs (hidden
/// layers at least as wide as the teacher's): the student's masked weights against the
/// teacher's, units matched on 2000 fresh Gaussian inputs (seeded by `seed`; raw for the
/// teacher, normalized as in training for the student). `None` for any other dataset or
/// network.
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
        let last = l + 1 == depth;
        let wide_enough = shape.len() == 2
            && (shape[0] >= tw.nrows() && !last || shape[0] == tw.nrows())
            && (shape[1] >= tw.ncols() && l > 0 || shape[1] == tw.ncols());
        if !wide_enough {
            return Ok(None);
        }
        let dim = (shape[0], shape[1]);
        let kept = group_support(mask, l, dim);
        let w = Array2::from_shape_vec(dim, w).map_err(|e| Error::Shape(e.to_string()))?;
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

/// The oracle ticket's scores: 1 on the teacher's planted weights embedded in the student's
/// first units (teacher unit $u$ of layer $l$ is student unit $u$; the student is at least as
/// wide), 0 elsewhere — kept first by [`crate::select::Largest`]. An error when the data has no
/// planted teacher or the student is not an MLP of the teacher's depth that is at least as wide.
pub fn oracle_scores(net: &Network, x: &Params, data: &Data) -> Result<Scores> {
    let Some((teacher, _, _)) = &data.teacher else {
        return Err(Error::param(
            "method",
            "`oracle` needs the planted teacher (`dataset = teacher`)",
        ));
    };
    let depth = teacher.weights.len();
    let fc: Vec<String> = (0..depth).map(|l| format!("fc{}.weight", l + 1)).collect();
    if net.prunable != fc {
        return Err(Error::param(
            "model",
            format!("`oracle` needs an MLP of the teacher's depth ({depth} layers)"),
        ));
    }
    let mut values = Vec::new();
    for (l, (tw, t)) in teacher.weights.iter().zip(&x.tensors).enumerate() {
        let shape = t.size();
        let (rows, cols) = (shape[0] as usize, shape[1] as usize);
        if rows < tw.nrows() || cols < tw.ncols() {
            return Err(Error::param(
                "hidden",
                format!(
                    "layer {}: the student ({rows} x {cols}) is narrower than the teacher ({} x {})",
                    l + 1,
                    tw.nrows(),
                    tw.ncols()
                ),
            ));
        }
        let planted = group_support(&teacher.mask, l, tw.dim());
        values.extend((0..rows * cols).map(|k| {
            let (o, i) = (k / cols, k % cols);
            f64::from(u8::from(
                o < tw.nrows() && i < tw.ncols() && planted[[o, i]],
            ))
        }));
    }
    Scores::from_parts(values, &x.group_sizes())
}
