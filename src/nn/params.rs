//! A network's prunable parameters as one point of a [`SparseVector`] space: one group per
//! tensor (layer), in a fixed order, with the tensors' names (as in the model's `VarStore`).
//!
//! Every operation runs under `tch::no_grad` on the tensors' own device; scores are copied to
//! the host as f64 for the selection rules.

use tch::{Kind, Tensor};

use crate::select::{Mask, Scores};
use crate::space::SparseVector;

/// Named tensors treated as one vector.
#[derive(Debug)]
pub struct Params {
    /// Parameter names, e.g. `fc1.weight`.
    pub names: Vec<String>,
    /// The tensors (shared storage with the model when built from its variables).
    pub tensors: Vec<Tensor>,
}

impl Params {
    /// From names and tensors.
    pub fn new(names: Vec<String>, tensors: Vec<Tensor>) -> Self {
        assert_eq!(names.len(), tensors.len(), "one name per tensor");
        Params { names, tensors }
    }

    /// The same tensors, not copied (in-place updates reach the model).
    pub fn shallow_clone(&self) -> Self {
        Params {
            names: self.names.clone(),
            tensors: self.tensors.iter().map(Tensor::shallow_clone).collect(),
        }
    }

    /// Mask tensor of group `g` (0/1, same kind and device as the parameter).
    pub fn mask_tensor(&self, mask: &Mask, g: usize) -> Tensor {
        let t = &self.tensors[g];
        Tensor::from_slice(&mask.group_bytes(g))
            .to_kind(t.kind())
            .to_device(t.device())
            .view(t.size().as_slice())
    }
}

impl Params {
    /// Overwrite the tensors with `values` (flat, in group order), as from
    /// [`SparseVector::to_scores`].
    pub fn set_values(&mut self, values: &[f64]) {
        let mut offset = 0;
        tch::no_grad(|| {
            for t in self.tensors.iter_mut() {
                let n = t.numel();
                let src = Tensor::from_slice(&values[offset..offset + n])
                    .to_kind(t.kind())
                    .to_device(t.device())
                    .view(t.size().as_slice());
                t.copy_(&src);
                offset += n;
            }
        });
    }
}

impl Clone for Params {
    /// A deep copy (new storage), as `Array1::clone` is.
    fn clone(&self) -> Self {
        tch::no_grad(|| Params {
            names: self.names.clone(),
            tensors: self.tensors.iter().map(|t| t.detach().copy()).collect(),
        })
    }
}

impl SparseVector for Params {
    fn group_sizes(&self) -> Vec<usize> {
        self.tensors.iter().map(|t| t.numel()).collect()
    }

    fn to_scores(&self) -> Scores {
        let groups = self
            .tensors
            .iter()
            .map(|t| {
                let flat = t
                    .detach()
                    .to_kind(Kind::Double)
                    .to_device(tch::Device::Cpu)
                    .flatten(0, -1);
                Vec::<f64>::try_from(&flat).expect("a double tensor converts to Vec<f64>")
            })
            .collect();
        Scores::grouped(groups)
    }

    fn axpy(&mut self, alpha: f64, x: &Self) {
        tch::no_grad(|| {
            for (t, u) in self.tensors.iter_mut().zip(&x.tensors) {
                let _ = t.f_add_(&(u * alpha)).expect("axpy: shapes agree");
            }
        });
    }

    fn scale(&mut self, alpha: f64) {
        tch::no_grad(|| {
            for t in self.tensors.iter_mut() {
                let _ = t.f_mul_scalar_(alpha).expect("scale");
            }
        });
    }

    fn dot(&self, other: &Self) -> f64 {
        tch::no_grad(|| {
            self.tensors
                .iter()
                .zip(&other.tensors)
                .map(|(a, b)| (a * b).sum(Kind::Double).double_value(&[]))
                .sum()
        })
    }

    fn apply_mask(&mut self, mask: &Mask) {
        let masks: Vec<Tensor> = (0..self.tensors.len())
            .map(|g| self.mask_tensor(mask, g))
            .collect();
        tch::no_grad(|| {
            for (t, m) in self.tensors.iter_mut().zip(&masks) {
                let _ = t.f_mul_(m).expect("mask shape");
            }
        });
    }

    fn scale_groups(&mut self, alphas: &[f64]) {
        tch::no_grad(|| {
            for (t, a) in self.tensors.iter_mut().zip(alphas) {
                let _ = t.f_mul_scalar_(*a).expect("scale");
            }
        });
    }

    fn group_l1(&self) -> Vec<f64> {
        tch::no_grad(|| {
            self.tensors
                .iter()
                .map(|t| t.abs().sum(Kind::Double).double_value(&[]))
                .collect()
        })
    }

    fn mul_exp_signed(&mut self, alphas: &[f64], gradient: &Self) {
        tch::no_grad(|| {
            for ((t, g), a) in self.tensors.iter_mut().zip(&gradient.tensors).zip(alphas) {
                let factor = (t.sign() * g * *a).exp();
                let _ = t.f_mul_(&factor).expect("shapes agree");
            }
        });
    }

    fn signum(&mut self) {
        tch::no_grad(|| {
            for t in self.tensors.iter_mut() {
                let _ = t.sign_();
            }
        });
    }
}
