//! Recovery of a planted sparse network: metrics that can see it.
//!
//! (theory/recovery.md follows this overview.)
//!
//! Hidden units are exchangeable, so a student that learned a planted teacher exactly, up to a
//! permutation of its hidden units, keeps the *chance* fraction of the teacher's support
//! position by position (the positional overlap of [`LayerRecovery::positional`]). The metrics
//! here match units first:
//!
//! 1. **Matching.** Each hidden layer's student units are matched to the teacher's by the
//!    Hungarian assignment (Kuhn–Munkres, `pathfinding`) maximizing the total
//!    $|\mathrm{corr}|$ of their post-ReLU activations over fresh inputs; with a wider student
//!    every teacher unit gets a distinct student unit, with a narrower one every student unit
//!    a distinct teacher unit. The input coordinates and the output units are shared by
//!    construction and need no matching.
//! 2. **Matched support.** Teacher unit $t$ of layer $\ell$ reads the set $T_t$ of units (or
//!    inputs) of layer $\ell-1$. Its matched student unit $\sigma(t)$ reads $S_{\sigma(t)}$;
//!    translated through the previous layer's matching, an edge from a student unit matched to
//!    teacher unit $u$ stands for the edge from $u$, and an edge from an unmatched student unit
//!    stands for no teacher edge (a false positive). Precision, recall and F1 are
//!    micro-averaged over the layer's edges; the edges of unmatched student units that are
//!    *live* count as false positives.
//! 3. **Live units and the identifiable support.** A unit is *live* if some path of kept
//!    weights leads from it to an output (output units are live). A teacher unit that is not
//!    live changes no output, so no data can reveal its incoming support: the identifiable
//!    scores ([`LayerRecovery::identifiable`]) count the live teacher units only.
//! 4. **Input features.** The input coordinates that some live first-layer unit reads, for
//!    teacher and student: precision, recall, F1 with no matching at all.
//!
//! Chance levels: a student whose support is random at the teacher's density $\rho$ scores
//! matched precision and recall about $\rho$; a permuted, slightly perturbed copy of the teacher
//! scores 1 (both are tests in `tests/suite/recovery.rs`).

#![doc = include_str!("../../theory/recovery.md")]

pub mod layerwise;

use ndarray::{Array1, Array2, Axis};
use pathfinding::prelude::{kuhn_munkres, Matrix};
use serde::{Deserialize, Serialize};

use crate::data::teacher::Teacher;
use crate::select::Mask;
use crate::{Error, Result};

/// A ReLU multilayer perceptron as plain arrays: weights (out × in), biases and the kept
/// support of every layer. ReLU after every layer but the last.
#[derive(Clone, Debug)]
pub struct ReluNet {
    /// Weights, out × in, per layer.
    pub weights: Vec<Array2<f32>>,
    /// Biases per layer.
    pub biases: Vec<Array1<f32>>,
    /// Kept weights per layer (same shapes as `weights`).
    pub support: Vec<Array2<bool>>,
}

impl ReluNet {
    /// Checks that the layers chain (each layer's inputs are the previous one's outputs) and
    /// that biases and supports have the weights' shapes.
    pub fn new(
        weights: Vec<Array2<f32>>,
        biases: Vec<Array1<f32>>,
        support: Vec<Array2<bool>>,
    ) -> Result<Self> {
        if weights.is_empty() || weights.len() != biases.len() || weights.len() != support.len() {
            return Err(Error::Shape(format!(
                "a network needs one weight, bias and support per layer, got {}, {} and {}",
                weights.len(),
                biases.len(),
                support.len()
            )));
        }
        for (l, ((w, b), s)) in weights.iter().zip(&biases).zip(&support).enumerate() {
            if b.len() != w.nrows() || s.dim() != w.dim() {
                return Err(Error::Shape(format!(
                    "layer {l}: weights {:?}, bias {}, support {:?}",
                    w.dim(),
                    b.len(),
                    s.dim()
                )));
            }
            if l > 0 && w.ncols() != weights[l - 1].nrows() {
                return Err(Error::Shape(format!(
                    "layer {l} reads {} inputs but layer {} has {} outputs",
                    w.ncols(),
                    l - 1,
                    weights[l - 1].nrows()
                )));
            }
        }
        Ok(ReluNet {
            weights,
            biases,
            support,
        })
    }

    /// The network whose support is its nonzero weights.
    pub fn from_weights(weights: Vec<Array2<f32>>, biases: Vec<Array1<f32>>) -> Result<Self> {
        let support = weights.iter().map(|w| w.mapv(|v| v != 0.0)).collect();
        ReluNet::new(weights, biases, support)
    }

    /// Input dimension, hidden widths, output width.
    pub fn widths(&self) -> Vec<usize> {
        let mut w = vec![self.weights[0].ncols()];
        w.extend(self.weights.iter().map(|m| m.nrows()));
        w
    }

    /// Post-ReLU activations of every hidden layer on the rows of `x` (n × width each).
    pub fn hidden_activations(&self, x: &Array2<f32>) -> Vec<Array2<f32>> {
        let mut out = Vec::new();
        let mut h = x.clone();
        for (w, b) in self
            .weights
            .iter()
            .zip(&self.biases)
            .take(self.weights.len() - 1)
        {
            h = h.dot(&w.t()) + b;
            h.mapv_inplace(|v| v.max(0.0));
            out.push(h.clone());
        }
        out
    }

    /// Per hidden layer, whether each unit is live: some path of kept weights leads from it to
    /// an output.
    pub fn live_units(&self) -> Vec<Vec<bool>> {
        let depth = self.weights.len();
        let mut live: Vec<Vec<bool>> = vec![Vec::new(); depth - 1];
        let mut next = vec![true; self.weights[depth - 1].nrows()];
        for l in (0..depth - 1).rev() {
            let s = &self.support[l + 1];
            let cur: Vec<bool> = (0..s.ncols())
                .map(|u| (0..s.nrows()).any(|o| next[o] && s[[o, u]]))
                .collect();
            live[l] = cur.clone();
            next = cur;
        }
        live
    }

    /// The input coordinates some live first-layer unit reads.
    pub fn input_features(&self) -> Vec<bool> {
        let s = &self.support[0];
        let live = if self.weights.len() > 1 {
            self.live_units()[0].clone()
        } else {
            vec![true; s.nrows()]
        };
        (0..s.ncols())
            .map(|i| (0..s.nrows()).any(|u| live[u] && s[[u, i]]))
            .collect()
    }
}

/// Group `group` of `mask` (a row-major out × in weight) as a boolean matrix of shape `dim`.
pub fn group_support(mask: &Mask, group: usize, dim: (usize, usize)) -> Array2<bool> {
    let start = mask.group_range(group).start;
    Array2::from_shape_fn(dim, |(o, i)| mask.contains(start + o * dim.1 + i))
}

impl Teacher {
    /// The planted network, its support the planted mask.
    pub fn net(&self) -> Result<ReluNet> {
        let support = (0..self.weights.len())
            .map(|l| group_support(&self.mask, l, self.weights[l].dim()))
            .collect();
        ReluNet::new(self.weights.clone(), self.biases.clone(), support)
    }
}

/// Counts behind precision and recall: true positives, predicted and actual positives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Prf {
    /// Predicted and actual.
    pub tp: usize,
    /// Predicted.
    pub predicted: usize,
    /// Actual.
    pub actual: usize,
}

impl Prf {
    /// $\mathrm{tp}/\mathrm{predicted}$ (1 when nothing is predicted).
    pub fn precision(&self) -> f64 {
        if self.predicted == 0 {
            1.0
        } else {
            self.tp as f64 / self.predicted as f64
        }
    }

    /// $\mathrm{tp}/\mathrm{actual}$ (1 when nothing is actual).
    pub fn recall(&self) -> f64 {
        if self.actual == 0 {
            1.0
        } else {
            self.tp as f64 / self.actual as f64
        }
    }

    /// Harmonic mean of precision and recall (0 when both are 0).
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    fn add(&mut self, o: Prf) {
        self.tp += o.tp;
        self.predicted += o.predicted;
        self.actual += o.actual;
    }
}

/// A one-to-one matching of one hidden layer's teacher units to student units.
#[derive(Clone, Debug, PartialEq)]
pub struct Matching {
    /// For each teacher unit, its student unit (none when the student is narrower and the unit
    /// was left out).
    pub student_of: Vec<Option<usize>>,
    /// For each student unit, its teacher unit.
    pub teacher_of: Vec<Option<usize>>,
    /// $|\mathrm{corr}|$ of each teacher unit's activations with its match (0 when unmatched).
    pub correlation: Vec<f64>,
}

/// Columns centred and scaled to unit norm (a zero-variance column stays zero).
fn standardized(a: &Array2<f32>) -> Array2<f64> {
    let mut z = a.mapv(f64::from);
    let mean = z.mean_axis(Axis(0)).expect("at least one sample");
    z -= &mean;
    for mut c in z.columns_mut() {
        let norm = c.dot(&c).sqrt();
        if norm > 1e-12 {
            c /= norm;
        } else {
            c.fill(0.0);
        }
    }
    z
}

/// The Hungarian matching maximizing the total $|\mathrm{corr}|$ between the teacher's and the
/// student's activations (n × teacher width and n × student width, same inputs).
pub fn match_units(teacher: &Array2<f32>, student: &Array2<f32>) -> Result<Matching> {
    if teacher.nrows() != student.nrows() || teacher.nrows() < 2 {
        return Err(Error::Shape(format!(
            "matching needs the same ≥ 2 inputs on both sides, got {} and {}",
            teacher.nrows(),
            student.nrows()
        )));
    }
    let corr = standardized(teacher)
        .t()
        .dot(&standardized(student))
        .mapv(f64::abs);
    let (t, s) = corr.dim();
    // Integer weights for Kuhn–Munkres: |corr| ≤ 1 in steps of 1e-9.
    let scaled = |v: f64| (v * 1e9).round() as i64;
    let mut student_of = vec![None; t];
    let mut teacher_of = vec![None; s];
    if t <= s {
        let m = Matrix::from_fn(t, s, |(i, j)| scaled(corr[[i, j]]));
        let (_, assign) = kuhn_munkres(&m);
        for (i, &j) in assign.iter().enumerate() {
            student_of[i] = Some(j);
            teacher_of[j] = Some(i);
        }
    } else {
        let m = Matrix::from_fn(s, t, |(j, i)| scaled(corr[[i, j]]));
        let (_, assign) = kuhn_munkres(&m);
        for (j, &i) in assign.iter().enumerate() {
            student_of[i] = Some(j);
            teacher_of[j] = Some(i);
        }
    }
    let correlation = student_of
        .iter()
        .enumerate()
        .map(|(i, j)| j.map_or(0.0, |j| corr[[i, j]]))
        .collect();
    Ok(Matching {
        student_of,
        teacher_of,
        correlation,
    })
}

/// Recovery of one layer's incoming support.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayerRecovery {
    /// Mean $|\mathrm{corr}|$ of the layer's teacher units with their matches (1 for the
    /// output layer, which is not matched).
    pub matched_correlation: f64,
    /// Matched incoming support over all teacher units.
    pub support: Prf,
    /// The same over the live teacher units only.
    pub identifiable: Prf,
    /// $|S \cap T| / |T|$ position by position, when the shapes agree (chance: the student's
    /// density).
    pub positional: Option<f64>,
}

/// Recovery of a whole network.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Recovery {
    /// Per layer, input layer first.
    pub layers: Vec<LayerRecovery>,
    /// Input coordinates read by live first-layer units.
    pub features: Prf,
}

impl Recovery {
    /// Matched F1 over all layers' edges (micro-averaged).
    pub fn matched_f1(&self) -> f64 {
        let mut all = Prf::default();
        for l in &self.layers {
            all.add(l.support);
        }
        all.f1()
    }

    /// Matched F1 over the hidden units' incoming edges (every layer but the output).
    pub fn hidden_f1(&self) -> f64 {
        let mut all = Prf::default();
        for l in &self.layers[..self.layers.len().saturating_sub(1)] {
            all.add(l.support);
        }
        all.f1()
    }

    /// Matched F1 over the live teacher units' edges.
    pub fn identifiable_f1(&self) -> f64 {
        let mut all = Prf::default();
        for l in &self.layers {
            all.add(l.identifiable);
        }
        all.f1()
    }
}

/// Scores `student` against `teacher`: units matched on the activations of `inputs` (n × input
/// dimension, fresh samples), then supports compared through the matching.
pub fn recovery(teacher: &ReluNet, student: &ReluNet, inputs: &Array2<f32>) -> Result<Recovery> {
    recovery_between(teacher, student, inputs, inputs)
}

/// [`recovery`] when the two networks read the same samples in different coordinates: row $i$
/// of `teacher_inputs` and of `student_inputs` is the same sample (e.g. raw for the teacher,
/// normalized as in training for the student).
pub fn recovery_between(
    teacher: &ReluNet,
    student: &ReluNet,
    teacher_inputs: &Array2<f32>,
    student_inputs: &Array2<f32>,
) -> Result<Recovery> {
    if teacher_inputs.nrows() != student_inputs.nrows() {
        return Err(Error::Shape(format!(
            "{} teacher samples against {} student samples",
            teacher_inputs.nrows(),
            student_inputs.nrows()
        )));
    }
    let (tw, sw) = (teacher.widths(), student.widths());
    if tw.len() != sw.len() || tw[0] != sw[0] || tw.last() != sw.last() {
        return Err(Error::Shape(format!(
            "teacher {tw:?} and student {sw:?} need the same depth, inputs and outputs"
        )));
    }
    for inputs in [teacher_inputs, student_inputs] {
        if inputs.ncols() != tw[0] {
            return Err(Error::Shape(format!(
                "inputs have {} columns, the networks read {}",
                inputs.ncols(),
                tw[0]
            )));
        }
    }
    let depth = teacher.weights.len();
    let (ta, sa) = (
        teacher.hidden_activations(teacher_inputs),
        student.hidden_activations(student_inputs),
    );
    let matchings = ta
        .iter()
        .zip(&sa)
        .map(|(t, s)| match_units(t, s))
        .collect::<Result<Vec<_>>>()?;
    let (t_live, s_live) = (teacher.live_units(), student.live_units());
    let mut layers = Vec::with_capacity(depth);
    for l in 0..depth {
        let (ts, ss) = (&teacher.support[l], &student.support[l]);
        let last = l + 1 == depth;
        // Rows: teacher unit → student unit (identity on the outputs).
        let row_of = |t: usize| -> Option<usize> {
            if last {
                Some(t)
            } else {
                matchings[l].student_of[t]
            }
        };
        // Columns: a student input (or unit of layer l−1) → the teacher's.
        let col_of = |j: usize| -> Option<usize> {
            if l == 0 {
                Some(j)
            } else {
                matchings[l - 1].teacher_of[j]
            }
        };
        let t_row_live = |t: usize| last || t_live[l][t];
        let (mut all, mut ident) = (Prf::default(), Prf::default());
        for t in 0..ts.nrows() {
            let actual = ts.row(t).iter().filter(|&&k| k).count();
            let mut p = Prf {
                tp: 0,
                predicted: 0,
                actual,
            };
            if let Some(s) = row_of(t) {
                for (j, &kept) in ss.row(s).iter().enumerate() {
                    if kept {
                        p.predicted += 1;
                        if col_of(j).is_some_and(|i| ts[[t, i]]) {
                            p.tp += 1;
                        }
                    }
                }
            }
            all.add(p);
            if t_row_live(t) {
                ident.add(p);
            }
        }
        // Live student units with no teacher unit: every edge is a false positive.
        if !last {
            for (s, t) in matchings[l].teacher_of.iter().enumerate() {
                if t.is_none() && s_live[l][s] {
                    let extra = ss.row(s).iter().filter(|&&k| k).count();
                    all.predicted += extra;
                    ident.predicted += extra;
                }
            }
        }
        let matched_correlation = if last {
            1.0
        } else {
            let c = &matchings[l].correlation;
            c.iter().sum::<f64>() / c.len() as f64
        };
        let positional = (ts.dim() == ss.dim()).then(|| {
            let both = ts.iter().zip(ss).filter(|(&a, &b)| a && b).count();
            both as f64 / ts.iter().filter(|&&k| k).count().max(1) as f64
        });
        layers.push(LayerRecovery {
            matched_correlation,
            support: all,
            identifiable: ident,
            positional,
        });
    }
    let (tf, sf) = (teacher.input_features(), student.input_features());
    let features = Prf {
        tp: tf.iter().zip(&sf).filter(|(&a, &b)| a && b).count(),
        predicted: sf.iter().filter(|&&b| b).count(),
        actual: tf.iter().filter(|&&a| a).count(),
    };
    Ok(Recovery { layers, features })
}

/// What a run's `summary.json` records of a recovery: the three F1 scores and, per layer, the
/// matched correlation, precision, recall and F1 and the positional overlap.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecoveryReport {
    /// Matched support F1 over all layers' edges.
    pub matched_f1: f64,
    /// The same over the live teacher units.
    pub identifiable_f1: f64,
    /// Input-feature F1.
    pub feature_f1: f64,
    /// Matched F1 over the hidden units' incoming edges only (the output layer left out: it is
    /// dense in the narrow teacher and unpruned in its students). Absent in older runs.
    #[serde(default)]
    pub hidden_f1: Option<f64>,
    /// Per layer, input layer first.
    pub layers: Vec<LayerReport>,
}

/// One layer of a [`RecoveryReport`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerReport {
    /// Mean |corr| of matched units.
    pub matched_correlation: f64,
    /// Matched precision.
    pub precision: f64,
    /// Matched recall.
    pub recall: f64,
    /// Matched F1.
    pub f1: f64,
    /// Positional overlap $|S\cap T|/|T|$, when the shapes agree.
    pub positional: Option<f64>,
}

impl Recovery {
    /// The compact form a run records.
    pub fn report(&self) -> RecoveryReport {
        RecoveryReport {
            matched_f1: self.matched_f1(),
            identifiable_f1: self.identifiable_f1(),
            feature_f1: self.features.f1(),
            hidden_f1: Some(self.hidden_f1()),
            layers: self
                .layers
                .iter()
                .map(|l| LayerReport {
                    matched_correlation: l.matched_correlation,
                    precision: l.support.precision(),
                    recall: l.support.recall(),
                    f1: l.support.f1(),
                    positional: l.positional,
                })
                .collect(),
        }
    }
}
