//! How the prunable weights evolve during training — the one place where the pruning methods
//! differ — and the plain case, a fixed mask under the run's optimizer.

use tch::Tensor;

use super::optim::{Optimizer, OptimizerKind};
use super::params::{mask_from_state, mask_state, Params};
use crate::select::Mask;
use crate::{Error, Result};

/// Whether training goes on after an iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep training.
    Continue,
    /// Stop here (an early-bird ticket was drawn).
    Stop,
}

/// How the prunable weights evolve during training. The loop ([`crate::nn::phase::Phase`]) draws
/// the batches, runs forward and backward, updates the other variables (biases, batch norm)
/// with the run's optimizer, evaluates, checkpoints and resumes; a `Dynamics` decides what the
/// forward pass sees, what is added to the loss, how the prunable weights move given their
/// gradients, and what happens to the mask between steps.
pub trait Dynamics {
    /// Prunable weights for the forward pass, in [`crate::nn::models::Network::prunable`]
    /// order, when they are a differentiable function of other tensors (supermask scores,
    /// continuous sparsification); `None` uses the stored weights. `train` is false for
    /// evaluation (deterministic masks).
    fn forward_weights(&self, _train: bool) -> Option<Vec<Tensor>> {
        None
    }

    /// Whether the network's variables are trained at all (false: frozen weights, as under a
    /// learned supermask).
    fn trains_network(&self) -> bool {
        true
    }

    /// A term added to the training loss (e.g. $\lambda\,\|\sigma(\beta s)\|_1$).
    fn penalty(&self) -> Option<Tensor> {
        None
    }

    /// Mask (0/1, same shape) of a non-prunable variable, e.g. the batch-norm scale and shift of a
    /// pruned channel.
    fn rest_mask(&self, _name: &str) -> Option<Tensor> {
        None
    }

    /// Move the prunable weights `x` given their gradients (`x.tensors[i].grad()`) at learning
    /// rate `lr`, iteration `it` (0-based); also steps any tensors of the dynamics' own (and
    /// zeroes their gradients).
    fn update(&mut self, x: &mut Params, lr: f64, it: usize) -> Result<()>;

    /// After `done` iterations: mask schedules, ticket detection.
    fn after(&mut self, _done: usize, _x: &mut Params) -> Result<Flow> {
        Ok(Flow::Continue)
    }

    /// The support the weights live on now.
    fn mask(&self) -> Mask;

    /// Tensors to checkpoint.
    fn state(&self) -> Vec<(String, Tensor)>;

    /// Restore [`Dynamics::state`].
    fn load_state(&mut self, named: &[(String, Tensor)]) -> Result<()>;

    /// Small JSON state (checkpointed; e.g. the early-bird distance trace).
    fn trace(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Restore [`Dynamics::trace`].
    fn load_trace(&mut self, _trace: &serde_json::Value) -> Result<()> {
        Ok(())
    }

    /// Whether the loop should measure each step's descent on its own minibatch (costs two
    /// extra forward passes per step) and report it through [`Dynamics::observe_descent`].
    fn observes_descent(&self) -> bool {
        false
    }

    /// One step's descent, measured on the step's minibatch $B$ over every trained variable
    /// $z$ (prunable weights and the rest).
    fn observe_descent(&mut self, _step: &DescentStep) {}
}

/// What one training step did to its own minibatch loss $f_B$ (evaluation mode, no grad):
/// the quantities of the descent inequality of `theory/iht_descent.md`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DescentStep {
    /// Iteration (0-based).
    pub iteration: usize,
    /// Learning rate $\eta$ of the step.
    pub lr: f64,
    /// $f_B(z)$ before the step.
    pub before: f64,
    /// $f_B(z^+)$ after it, on the same batch.
    pub after: f64,
    /// $\langle \nabla f_B(z), z^+ - z\rangle$.
    pub inner: f64,
    /// $\|z^+ - z\|^2$.
    pub step_sq: f64,
}

impl DescentStep {
    /// The curvature of $f_B$ along the step, $\hat L = 2(f_B(z^+) - f_B(z) - \langle\nabla
    /// f_B(z), z^+ - z\rangle)/\|z^+ - z\|^2$ (0 for a null step): the descent inequality
    /// needs $\eta \hat L \le 1$.
    pub fn curvature(&self) -> f64 {
        if self.step_sq > 0.0 {
            2.0 * (self.after - self.before - self.inner) / self.step_sq
        } else {
            0.0
        }
    }
}

/// Restore tensors named `prefix.<i>` into `slots[i]`.
pub fn load_indexed(named: &[(String, Tensor)], prefix: &str, slots: &mut [Tensor]) -> Result<()> {
    for (name, t) in named {
        let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        let i: usize = rest
            .parse()
            .map_err(|_| Error::param("checkpoint", format!("bad tensor name `{name}`")))?;
        let slot = slots
            .get_mut(i)
            .ok_or_else(|| Error::param("checkpoint", format!("unexpected tensor `{name}`")))?;
        tch::no_grad(|| slot.copy_(t));
    }
    Ok(())
}

/// Tensors as `prefix.<i>`.
pub fn indexed(prefix: &str, tensors: &[Tensor]) -> Vec<(String, Tensor)> {
    tensors
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("{prefix}.{i}"), t.shallow_clone()))
        .collect()
}

/// The [`Dynamics`] methods of a method whose weights move under a [`FixedMask`] it holds in
/// field `$inner` (greedy growth, the group lasso, AC/DC, RigL/SET): the mask and the
/// checkpoint state are the inner one's. Used inside the method's `impl Dynamics`.
macro_rules! fixed_mask_state {
    ($inner:ident) => {
        fn mask(&self) -> $crate::select::Mask {
            self.$inner.mask()
        }

        fn state(&self) -> Vec<(String, tch::Tensor)> {
            self.$inner.state()
        }

        fn load_state(&mut self, named: &[(String, tch::Tensor)]) -> $crate::Result<()> {
            self.$inner.load_state(named)
        }
    };
}
pub(crate) use fixed_mask_state;

/// A fixed mask and the run's optimizer: ordinary (IMP) training of a sparse network.
#[derive(Debug)]
pub struct FixedMask {
    mask: Mask,
    masks: Vec<Option<Tensor>>,
    opt: Optimizer,
    rest: Vec<(String, Tensor)>,
    /// The mask is part of the checkpoint (it moves during training: AC/DC, RigL).
    saves_mask: bool,
    /// The mask tensors must be rebuilt before the next step (after a restore).
    stale: bool,
}

impl FixedMask {
    /// Train `x` under `mask` with optimizer `kind`; `rest` masks other variables by name.
    pub fn new(
        kind: OptimizerKind,
        weight_decay: f64,
        x: &Params,
        mask: &Mask,
        rest: Vec<(String, Tensor)>,
    ) -> Self {
        FixedMask {
            masks: x.mask_tensors(mask).into_iter().map(Some).collect(),
            mask: mask.clone(),
            opt: Optimizer::new(kind, weight_decay, &x.tensors),
            rest,
            saves_mask: false,
            stale: false,
        }
    }

    /// Rebuild the mask tensors of a restored mask (done by every step; call it first when
    /// moving the mask before a step).
    pub fn refresh(&mut self, x: &Params) {
        if self.stale {
            self.set_mask(x, self.mask.clone());
        }
    }

    /// Checkpoint the mask too, restored before the weights it applies to are at hand (its
    /// tensors are rebuilt at the next step): for dynamics that move it — greedy growth, the
    /// group lasso, AC/DC, RigL/SET.
    pub fn saving_mask(mut self) -> Self {
        self.saves_mask = true;
        self
    }

    /// Keep pruned weights at their current values (frozen) instead of zero.
    pub fn frozen(mut self) -> Self {
        self.opt.freeze_masked = true;
        self
    }

    /// Move to another mask; the optimizer's state is kept (forward greedy growth).
    pub fn set_mask(&mut self, x: &Params, mask: Mask) {
        self.masks = x.mask_tensors(&mask).into_iter().map(Some).collect();
        self.mask = mask;
        self.stale = false;
    }

    /// Move to another mask and zero the optimizer's moments outside it (the weights outside it
    /// are zeroed by the next step): what leaves the support forgets its history (RigL, AC/DC).
    pub fn move_to(&mut self, x: &Params, mask: Mask) {
        self.set_mask(x, mask);
        self.opt.restrict(&self.masks);
    }
}

impl Dynamics for FixedMask {
    fn rest_mask(&self, name: &str) -> Option<Tensor> {
        self.rest
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.shallow_clone())
    }

    fn update(&mut self, x: &mut Params, lr: f64, _it: usize) -> Result<()> {
        self.refresh(x);
        self.opt.step(&mut x.tensors, &self.masks, lr);
        Ok(())
    }

    fn mask(&self) -> Mask {
        self.mask.clone()
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut s = if self.saves_mask {
            mask_state(&self.mask)
        } else {
            vec![]
        };
        s.extend(self.opt.named_state("opt."));
        s
    }

    fn load_state(&mut self, named: &[(String, Tensor)]) -> Result<()> {
        if self.saves_mask {
            if let Some(m) = mask_from_state(named, &self.mask.group_sizes())? {
                self.mask = m;
                self.stale = true;
            }
        }
        self.opt.load_named_state(named, "opt.")
    }
}

/// Per-weight scores learned with their own Adam optimizer at a fixed rate: the trainable part
/// of the learned supermask and of continuous sparsification.
#[derive(Debug)]
pub struct LearnedScores {
    names: Vec<String>,
    /// The score tensors (one per prunable tensor, requiring gradients).
    pub tensors: Vec<Tensor>,
    opt: Optimizer,
    lr: f64,
    prefix: &'static str,
}

impl LearnedScores {
    /// Scores starting at `init` (copied, made trainable), named as the prunable tensors
    /// `names`, trained with Adam at `lr`; the optimizer's checkpoint tensors are prefixed
    /// `prefix`.
    pub fn new(names: Vec<String>, init: Vec<Tensor>, lr: f64, prefix: &'static str) -> Self {
        let tensors: Vec<Tensor> = init
            .into_iter()
            .map(|s| s.detach().copy().set_requires_grad(true))
            .collect();
        LearnedScores {
            names,
            opt: Optimizer::new(OptimizerKind::adam(), 0.0, &tensors),
            tensors,
            lr,
            prefix,
        }
    }

    /// The same scores trained with `kind` and L2 weight decay `weight_decay` instead of Adam.
    pub fn with_optimizer(mut self, kind: OptimizerKind, weight_decay: f64) -> Self {
        self.opt = Optimizer::new(kind, weight_decay, &self.tensors);
        self
    }

    /// Set the learning rate of the next steps (a schedule).
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// The scores on the host, grouped as the prunable tensors.
    pub fn values(&self) -> crate::select::Scores {
        use crate::space::SparseVector;
        Params::new(
            self.names.clone(),
            self.tensors.iter().map(Tensor::shallow_clone).collect(),
        )
        .to_scores()
    }

    /// One Adam step on the scores' gradients, then zero them.
    pub fn step(&mut self) {
        let none: Vec<Option<Tensor>> = (0..self.tensors.len()).map(|_| None).collect();
        self.opt.step(&mut self.tensors, &none, self.lr);
        for s in self.tensors.iter_mut() {
            s.zero_grad();
        }
    }

    /// Checkpoint tensors: `scores.<i>` and the optimizer's state.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut s = indexed("scores", &self.tensors);
        s.extend(self.opt.named_state(self.prefix));
        s
    }

    /// Restore [`LearnedScores::state`].
    pub fn load_state(&mut self, named: &[(String, Tensor)]) -> Result<()> {
        load_indexed(named, "scores", &mut self.tensors)?;
        self.opt.load_named_state(named, self.prefix)
    }
}
