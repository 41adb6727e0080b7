//! A network's prunable parameters as one point of a [`SparseVector`] space: one group per
//! tensor (layer), in a fixed order, with the tensors' names (as in the model's `VarStore`).
//!
//! Every operation runs under `tch::no_grad` on the tensors' own device; scores are copied to
//! the host as f64 for the selection rules.

use tch::{nn::VarStore, Kind, Tensor};

use super::models::Network;

use crate::select::{Mask, Scores};
use crate::space::SparseVector;
use crate::{Error, Result};

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

    /// Mask tensor of group `g` (0/1, same shape, kind and device as the parameter).
    pub fn mask_tensor(&self, mask: &Mask, g: usize) -> Tensor {
        let t = &self.tensors[g];
        mask_group_u8(mask, g, &t.size())
            .to_kind(t.kind())
            .to_device(t.device())
    }
}

impl Params {
    /// The mask tensors of every group ([`Params::mask_tensor`]).
    pub fn mask_tensors(&self, mask: &Mask) -> Vec<Tensor> {
        (0..self.names.len())
            .map(|g| self.mask_tensor(mask, g))
            .collect()
    }

    /// The gradients of the tensors as a [`Params`] (shared storage).
    pub fn gradients(&self) -> Params {
        Params::new(
            self.names.clone(),
            self.tensors
                .iter()
                .map(|t| t.grad().shallow_clone())
                .collect(),
        )
    }

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
        let masks = self.mask_tensors(mask);
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

/// The one conversion from a mask to a tensor: group `g` of `mask` as u8 0/1 of `shape`
/// (`&[-1]` for flat). [`Params::mask_tensor`], `mask.safetensors` and checkpoints use it.
pub fn mask_group_u8(mask: &Mask, g: usize, shape: &[i64]) -> Tensor {
    Tensor::from_slice(&mask.group_bytes(g)).view(shape)
}

/// The one conversion back: the tensors named `keys[g]` in `named` (nonzero = kept) as a mask
/// with groups of `sizes`.
pub fn mask_from_named(
    named: &[(String, Tensor)],
    keys: &[String],
    sizes: &[usize],
) -> Result<Mask> {
    let mut bytes = Vec::with_capacity(sizes.iter().sum());
    for key in keys {
        let (_, t) = named
            .iter()
            .find(|(n, _)| n == key)
            .ok_or_else(|| Error::param("mask", format!("no tensor `{key}`")))?;
        let flat = t
            .to_device(tch::Device::Cpu)
            .flatten(0, -1)
            .ne(0.0)
            .to_kind(Kind::Uint8);
        bytes.extend(Vec::<u8>::try_from(&flat).map_err(|e| Error::param("mask", e.to_string()))?);
    }
    Mask::from_bytes(&bytes, sizes)
}

/// Copy named tensors into the store's variables of the same names.
pub fn assign(vs: &VarStore, named: &[(String, Tensor)]) -> Result<()> {
    let vars = vs.variables();
    tch::no_grad(|| {
        for (n, t) in named {
            let mut v = vars
                .get(n)
                .ok_or_else(|| Error::param("weights", format!("no variable `{n}` in the model")))?
                .shallow_clone();
            v.copy_(t);
        }
        Ok(())
    })
}

/// All variables of the store, sorted by name.
pub fn named_vars(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// The network's prunable weights as one [`Params`] (shared storage).
pub fn prunable(vs: &VarStore, net: &Network) -> Params {
    let vars = vs.variables();
    Params::new(
        net.prunable.clone(),
        net.prunable
            .iter()
            .map(|n| vars[n].shallow_clone())
            .collect(),
    )
}

/// A mask as checkpoint tensors `mask.<g>` (u8 0/1, flat, per group).
pub fn mask_state(mask: &Mask) -> Vec<(String, Tensor)> {
    (0..mask.n_groups())
        .map(|g| (format!("mask.{g}"), mask_group_u8(mask, g, &[-1])))
        .collect()
}

/// Read [`mask_state`] back (None when the checkpoint has no mask).
pub fn mask_from_state(named: &[(String, Tensor)], sizes: &[usize]) -> Result<Option<Mask>> {
    if !named.iter().any(|(n, _)| n == "mask.0") {
        return Ok(None);
    }
    let keys: Vec<String> = (0..sizes.len()).map(|g| format!("mask.{g}")).collect();
    mask_from_named(named, &keys, sizes).map(Some)
}
