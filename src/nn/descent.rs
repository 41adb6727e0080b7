//! Measuring a training step's descent on its own minibatch (for
//! [`super::dynamics::Dynamics::observe_descent`]): the loss before and after the step on the
//! same batch, the step's inner product with the gradient and its squared length, over every
//! trained variable. Used by the IHT trainer (`theory/network-trainers.md`).

use tch::{Kind, Tensor};

use super::dynamics::DescentStep;
use super::models::Network;

/// The variables, their gradients and the minibatch loss before a step (for
/// [`Dynamics::observe_descent`]).
pub(crate) struct Before {
    loss: f64,
    vars: Vec<Tensor>,
    grads: Vec<Tensor>,
}

impl Before {
    pub(crate) fn take(
        net: &Network,
        xs: &Tensor,
        ys: &Tensor,
        x: &[Tensor],
        rest: &[Tensor],
    ) -> Self {
        tch::no_grad(|| {
            let all = || x.iter().chain(rest);
            let (loss, _) = net.loss_and_correct_with(xs, ys, false, None);
            Before {
                loss: loss.double_value(&[]),
                vars: all().map(|t| t.detach().copy()).collect(),
                grads: all()
                    .map(|t| {
                        let g = t.grad();
                        if g.defined() {
                            g.detach().copy()
                        } else {
                            t.zeros_like()
                        }
                    })
                    .collect(),
            }
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn step(
        &self,
        net: &Network,
        xs: &Tensor,
        ys: &Tensor,
        x: &[Tensor],
        rest: &[Tensor],
        iteration: usize,
        lr: f64,
    ) -> DescentStep {
        tch::no_grad(|| {
            let (loss, _) = net.loss_and_correct_with(xs, ys, false, None);
            let (mut inner, mut step_sq) = (0.0, 0.0);
            for ((now, was), g) in x.iter().chain(rest).zip(&self.vars).zip(&self.grads) {
                let d = now - was;
                inner += (&d * g).sum(Kind::Double).double_value(&[]);
                step_sq += (&d * &d).sum(Kind::Double).double_value(&[]);
            }
            DescentStep {
                iteration,
                lr,
                before: self.loss,
                after: loss.double_value(&[]),
                inner,
                step_sq,
            }
        })
    }
}
