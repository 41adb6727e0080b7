//! SGD (momentum, Nesterov, weight decay) and Adam written on tensors, with their state in
//! plain tensors so that a checkpoint holds it and masks apply to it.
//!
//! tch's `nn::Optimizer` cannot save or load its state, so an exact mid-training resume needs
//! optimizers whose moments we own. Semantics follow `torch.optim.SGD` (dampening 0, the first
//! momentum buffer equal to the first gradient) and `torch.optim.Adam` (L2 weight decay added to
//! the gradient, bias-corrected moments).
//!
//! Masking: [`Optimizer::step`] multiplies the gradient, the updated parameter and every moment
//! by the mask, so pruned weights stay exactly zero through any number of steps (tested).

use serde::{Deserialize, Serialize};
use tch::Tensor;

/// Which optimizer and its hyperparameters (learning rate and weight decay are separate).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "lowercase")]
pub enum OptimizerKind {
    /// SGD with heavy-ball or Nesterov momentum (0 = plain SGD).
    Sgd {
        /// Momentum coefficient.
        momentum: f64,
        /// Nesterov momentum.
        nesterov: bool,
    },
    /// Adam.
    Adam {
        /// $\beta_1$.
        beta1: f64,
        /// $\beta_2$.
        beta2: f64,
        /// $\epsilon$.
        eps: f64,
    },
}

impl OptimizerKind {
    /// Adam with PyTorch's defaults (0.9, 0.999, 1e-8).
    pub fn adam() -> Self {
        OptimizerKind::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// Optimizer state for a list of parameters.
#[derive(Debug)]
pub struct Optimizer {
    /// Kind and hyperparameters.
    pub kind: OptimizerKind,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// Steps taken (Adam's bias correction).
    pub steps: i64,
    /// First moments (SGD momentum buffers / Adam's m), one per parameter.
    pub m: Vec<Tensor>,
    /// Second moments (Adam's v), one per parameter; empty for SGD.
    pub v: Vec<Tensor>,
    /// Leave masked coordinates at their values instead of zeroing them (pruned weights frozen
    /// at initialization, Zhou et al. 2019): the masked gradient and moments already make their
    /// update zero.
    pub freeze_masked: bool,
}

impl Optimizer {
    /// Zero state for `params`.
    pub fn new(kind: OptimizerKind, weight_decay: f64, params: &[Tensor]) -> Self {
        let zeros = || params.iter().map(Tensor::zeros_like).collect::<Vec<_>>();
        let v = match kind {
            OptimizerKind::Adam { .. } => zeros(),
            OptimizerKind::Sgd { .. } => Vec::new(),
        };
        Optimizer {
            kind,
            weight_decay,
            steps: 0,
            m: zeros(),
            v,
            freeze_masked: false,
        }
    }

    /// One step with learning rate `lr` using each parameter's `.grad()`; `masks[i]` (0/1, same
    /// shape) keeps parameter `i` and its moments exactly zero where the mask is zero.
    ///
    /// The gradient is masked first (in place), so on pruned coordinates the moments, which
    /// start at zero, stay exactly zero; the parameter is masked again after the update. All
    /// updates are in place (`lerp_`, `addcmul_`, `addcdiv_`), as in `torch.optim.Adam`.
    pub fn step(&mut self, params: &mut [Tensor], masks: &[Option<Tensor>], lr: f64) {
        let grads: Vec<Tensor> = params.iter().map(Tensor::grad).collect();
        self.step_with(params, &grads, masks, lr)
    }

    /// [`Optimizer::step`] with explicit gradients (DPF applies the gradient taken at the masked
    /// weights to the dense ones). The gradients may be modified in place.
    pub fn step_with(
        &mut self,
        params: &mut [Tensor],
        grads: &[Tensor],
        masks: &[Option<Tensor>],
        lr: f64,
    ) {
        self.steps += 1;
        let t = self.steps as i32;
        tch::no_grad(|| {
            for (i, p) in params.iter_mut().enumerate() {
                let mut g = grads[i].shallow_clone();
                if !g.defined() {
                    continue;
                }
                let mask = masks.get(i).and_then(Option::as_ref);
                if self.weight_decay > 0.0 {
                    let _ = g.f_add_(&(&*p * self.weight_decay)).expect("decay");
                }
                if let Some(m) = mask {
                    let _ = g.f_mul_(m).expect("mask shape");
                }
                match self.kind {
                    OptimizerKind::Sgd { momentum, nesterov } => {
                        if momentum == 0.0 {
                            let _ = p.f_add_(&(&g * -lr)).expect("update");
                        } else {
                            let buf = &mut self.m[i];
                            let _ = buf.f_mul_scalar_(momentum).expect("momentum");
                            let _ = buf.f_add_(&g).expect("momentum");
                            if nesterov {
                                let _ = g.f_add_(&(&*buf * momentum)).expect("nesterov");
                                let _ = p.f_add_(&(&g * -lr)).expect("update");
                            } else {
                                let _ = p.f_add_(&(&*buf * -lr)).expect("update");
                            }
                        }
                    }
                    OptimizerKind::Adam { beta1, beta2, eps } => {
                        let bias1 = 1.0 - beta1.powi(t);
                        let bias2 = 1.0 - beta2.powi(t);
                        let _ = self.m[i].f_lerp_(&g, 1.0 - beta1).expect("adam m");
                        let v = &mut self.v[i];
                        let _ = v.f_mul_scalar_(beta2).expect("adam v");
                        let _ = v.f_addcmul_(&(&g * (1.0 - beta2)), &g).expect("adam v");
                        let mut denom = v.sqrt();
                        let _ = denom.f_div_scalar_(bias2.sqrt()).expect("adam denom");
                        let _ = denom.f_add_scalar_(eps).expect("adam denom");
                        let _ = p
                            .f_addcdiv_(&(&self.m[i] * (-lr / bias1)), &denom)
                            .expect("adam update");
                    }
                }
                if let (Some(m), false) = (mask, self.freeze_masked) {
                    let _ = p.f_mul_(m).expect("mask shape");
                }
            }
        });
    }

    /// Zero the moments outside `masks` (0/1, one per parameter; `None` leaves one alone): a
    /// coordinate that leaves the support forgets its history, so that if it comes back it
    /// restarts as a new weight (RigL's regrown weights, AC/DC's restored ones).
    pub fn restrict(&mut self, masks: &[Option<Tensor>]) {
        tch::no_grad(|| {
            for (i, mask) in masks.iter().enumerate() {
                if let Some(m) = mask {
                    for buf in [self.m.get_mut(i), self.v.get_mut(i)].into_iter().flatten() {
                        let _ = buf.f_mul_(m).expect("mask shape");
                    }
                }
            }
        });
    }

    /// The state as named tensors (`m.<i>`, `v.<i>`) for a checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = self
            .m
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("m.{i}"), t.shallow_clone()))
            .collect();
        out.extend(
            self.v
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("v.{i}"), t.shallow_clone())),
        );
        out
    }

    /// The state and the step count as tensors named `<prefix>m.<i>`, `<prefix>v.<i>` and
    /// `<prefix>steps` (for a checkpoint holding other tensors too).
    pub fn named_state(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut s: Vec<(String, Tensor)> = self
            .state()
            .into_iter()
            .map(|(k, t)| (format!("{prefix}{k}"), t))
            .collect();
        s.push((format!("{prefix}steps"), Tensor::from(self.steps)));
        s
    }

    /// Restore [`Optimizer::named_state`] from `named` (other tensors are ignored).
    pub fn load_named_state(
        &mut self,
        named: &[(String, Tensor)],
        prefix: &str,
    ) -> crate::Result<()> {
        let steps_name = format!("{prefix}steps");
        let steps = named
            .iter()
            .find(|(n, _)| *n == steps_name)
            .map(|(_, t)| t.int64_value(&[]))
            .unwrap_or(0);
        let own: Vec<(String, Tensor)> = named
            .iter()
            .filter(|(n, _)| *n != steps_name)
            .filter_map(|(n, t)| {
                n.strip_prefix(prefix)
                    .map(|k| (k.to_string(), t.shallow_clone()))
            })
            .collect();
        self.load_state(&own, steps)
    }

    /// Restore the state written by [`Optimizer::state`] (and the step count).
    pub fn load_state(&mut self, named: &[(String, Tensor)], steps: i64) -> crate::Result<()> {
        self.steps = steps;
        for (name, t) in named {
            let (which, idx) = name.split_once('.').ok_or_else(|| {
                crate::Error::param("optimizer state", format!("bad name {name}"))
            })?;
            let idx: usize = idx
                .parse()
                .map_err(|_| crate::Error::param("optimizer state", format!("bad name {name}")))?;
            let slot = match which {
                "m" => self.m.get_mut(idx),
                "v" => self.v.get_mut(idx),
                _ => None,
            }
            .ok_or_else(|| {
                crate::Error::param("optimizer state", format!("unexpected tensor {name}"))
            })?;
            tch::no_grad(|| slot.copy_(t));
        }
        Ok(())
    }
}
