//! What happens to the kept weights of a ticket before it is trained: the actions of Zhou et
//! al. 2019 (supermask experiments) and the early-phase perturbations of Frankle, Schwab &
//! Morcos 2020, in one place.
//!
//! | action | kept weight $w_i$ becomes |
//! |---|---|
//! | `rewind` | itself (the weights at initialization or at the rewind iteration $k$) |
//! | `reinit` | a fresh draw of the same initialization scheme |
//! | `reshuffle` | another kept weight of the same layer (a seeded permutation) |
//! | `signed_constant` | $\sigma_l\,\mathrm{sign}(w_i)$, $\sigma_l$ the layer's standard deviation |
//! | `flip_signs` | $\pm w_i$, each sign flipped with probability 1/2 (magnitudes kept) |
//!
//! Pruned coordinates are left alone (the caller zeroes or freezes them).

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::nn::VarStore;

use crate::nn::models::{Init, Network};
use crate::nn::params::{self, Params};
use crate::select::Mask;
use crate::space::SparseVector;
use crate::{Error, Result};

pub use crate::run::kinds::Kept;

/// A fresh initialization of the prunable weights drawn with `seed`, leaving the network's
/// weights as they were.
pub fn fresh_init(net: &Network, vs: &VarStore, init: Init, seed: u64) -> Result<Params> {
    let saved: Vec<(String, tch::Tensor)> = params::named_vars(vs)
        .into_iter()
        .map(|(n, t)| (n, t.detach().copy()))
        .collect();
    tch::manual_seed(seed as i64);
    net.reinitialize(vs, init);
    let fresh = params::prunable(vs, net).clone();
    params::assign(vs, &saved)?;
    Ok(fresh)
}

/// Apply `action` to the coordinates of `x` kept by `mask`, layer by layer; `fresh` is the new
/// initialization for [`Kept::Reinit`].
pub fn perturb(
    x: &mut Params,
    mask: &Mask,
    action: Kept,
    fresh: Option<&Params>,
    seed: u64,
) -> Result<()> {
    if action == Kept::Rewind {
        return Ok(());
    }
    let scores = x.to_scores();
    let mut v = scores.values().to_vec();
    let new = match (action, fresh) {
        (Kept::Reinit, Some(f)) => Some(f.to_scores()),
        (Kept::Reinit, None) => {
            return Err(Error::param(
                "action",
                "reinit needs a fresh initialization",
            ))
        }
        _ => None,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for g in 0..mask.n_groups() {
        let range = mask.group_range(g);
        let kept: Vec<usize> = range.clone().filter(|&i| mask.contains(i)).collect();
        match action {
            Kept::Reinit => {
                let f = new.as_ref().expect("checked").values();
                for &i in &kept {
                    v[i] = f[i];
                }
            }
            Kept::Reshuffle => {
                let mut vals: Vec<f64> = kept.iter().map(|&i| v[i]).collect();
                vals.shuffle(&mut rng);
                for (&i, val) in kept.iter().zip(vals) {
                    v[i] = val;
                }
            }
            Kept::SignedConstant => {
                let n = range.len().max(1) as f64;
                let mean = v[range.clone()].iter().sum::<f64>() / n;
                let var = v[range.clone()]
                    .iter()
                    .map(|a| (a - mean).powi(2))
                    .sum::<f64>()
                    / n;
                for &i in &kept {
                    v[i] = var.sqrt() * v[i].signum();
                }
            }
            Kept::FlipSigns => {
                for &i in &kept {
                    if rng.gen_bool(0.5) {
                        v[i] = -v[i];
                    }
                }
            }
            Kept::Rewind => {}
        }
    }
    x.set_values(&v);
    Ok(())
}
