//! The dataset knobs of a [`super::RunConfig`] (the planted teacher), flattened into the
//! config's flat key space (`--set teacher_input=100`). The methods' knobs live in their files
//! ([`crate::zoo`]).

use serde::{Deserialize, Serialize};

use super::kinds::{TeacherKind, TeacherTargets};

/// The planted teacher (`dataset = teacher`); keys as the fields. The shape keys apply to the
/// narrow teacher; targets, samples, noise and `teacher_online` to both.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TeacherKnobs {
    /// `wide` (the original random teacher; default) or `narrow` (identifiable).
    pub teacher: TeacherKind,
    /// Narrow teacher: input dimension $d$ (200).
    pub teacher_input: usize,
    /// Narrow teacher: relevant inputs $q$ (40).
    pub teacher_relevant: usize,
    /// Narrow teacher: hidden widths, one or two layers (\[16\]).
    pub teacher_hidden: Vec<usize>,
    /// Narrow teacher: fan-in of each hidden layer's units (\[8\]).
    pub teacher_fan_in: Vec<usize>,
    /// Narrow teacher: outputs (10).
    pub teacher_outputs: usize,
    /// `labels` (argmax, cross-entropy; default) or `regression` (the outputs, squared error).
    pub teacher_targets: TeacherTargets,
    /// Training samples drawn, the validation split included (20000).
    pub teacher_samples: usize,
    /// Standard deviation of Gaussian noise on the training outputs (0).
    pub teacher_noise: f64,
    /// Online: `teacher_samples` is replaced by iterations × batch + validation, so that every
    /// step sees fresh samples (each training sample is used exactly once; false).
    pub teacher_online: bool,
}

impl TeacherKnobs {
    /// The noise and the sample count's ranges (the shapes are checked when the teacher is
    /// drawn).
    pub fn check(&self) -> crate::Result<()> {
        if !(self.teacher_noise.is_finite() && self.teacher_noise >= 0.0) {
            return Err(crate::Error::param(
                "teacher_noise",
                format!("{} must be >= 0", self.teacher_noise),
            ));
        }
        if self.teacher_samples < 2 {
            return Err(crate::Error::param("teacher_samples", "must be >= 2"));
        }
        Ok(())
    }
}
