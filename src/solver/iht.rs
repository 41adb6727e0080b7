//! Hard-thresholding methods: IHT, normalized IHT, HTP, CoSaMP.
//!
//! All four alternate a gradient proxy with the selection rule $H_s$ (here any
//! [`Rule`], by default [`Largest`]), which is the same [`gradient_threshold_step`] the network
//! trainers call.
//!
//! # References
//! - T. Blumensath, M. E. Davies. Iterative hard thresholding for compressed sensing. ACHA 27, 2009.
//! - T. Blumensath, M. E. Davies. Normalized iterative hard thresholding: guaranteed stability and
//!   performance. IEEE J. Sel. Topics Signal Process. 4(2), 2010.
//! - S. Foucart. Hard thresholding pursuit. SIAM J. Numer. Anal. 49(6), 2011.
//! - D. Needell, J. A. Tropp. CoSaMP. ACHA 26, 2009.
//! - P. Jain, A. Tewari, P. Kar. On iterative hard thresholding methods for high-dimensional
//!   M-estimation. NeurIPS 2014.
//!
//! # Guarantees
#![doc = include_str!("../../theory/thresholding.md")]
#![doc = include_str!("../../theory/iht_descent.md")]
#![doc = include_str!("../../theory/iht_rip_recovery.md")]
#![doc = include_str!("../../theory/htp_rip_recovery.md")]
#![doc = include_str!("../../theory/iht_rsc.md")]

use ndarray::Array1;
use serde::{Deserialize, Serialize};

use super::step::{gradient_threshold_step, threshold};
use super::{check_positive, check_sparsity, support_of, Iterative, Record, Status};
use crate::problem::SmoothProblem;
use crate::select::{Budget, Largest, Mask, Rule};
use crate::space::{Objective, SparseVector};
use crate::{Error, Result};

/// Parameters shared by the thresholding methods.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdParams {
    /// Sparsity level $s$ ($1 \le s \le d$).
    pub sparsity: usize,
    /// Step $\eta$; `None` means $1/L$ with $L$ the problem's smoothness constant for IHT, and
    /// $1/\beta$ for HTP. (NIHT and CoSaMP ignore it.)
    pub step: Option<f64>,
    /// Iteration cap (default 500).
    pub max_iters: usize,
    /// Stop when $\|x^{t+1} - x^t\| \le \mathrm{tol}\cdot\max(1, \|x^t\|)$ (default $10^{-10}$).
    pub tol: f64,
    /// Starting point (default $0$), at most $s$-sparse: layerwise pruning starts from the
    /// magnitude support refit, as CHITA does.
    #[serde(default)]
    pub warm: Option<Array1<f64>>,
    /// N:M structure `(n, m)`: IHT and HTP project onto "exactly N of every M consecutive
    /// coordinates" ([`Budget::NofM`]) instead of the $s$ largest. The projection is exact —
    /// the set is a product over the runs and $H$ is exact on each — so the descent inequality
    /// of `theory/iht_descent.md` holds unchanged (its proof uses only that $x^+$ is a nearest
    /// point of the set and $x$ lies in it). Set with [`ThresholdParams::n_of_m`].
    #[serde(default)]
    pub n_of_m: Option<(usize, usize)>,
}

impl ThresholdParams {
    /// Defaults for sparsity `s`: step $1/L$, 500 iterations, tolerance $10^{-10}$.
    pub fn new(sparsity: usize) -> Self {
        ThresholdParams {
            sparsity,
            step: None,
            max_iters: 500,
            tol: 1e-10,
            warm: None,
            n_of_m: None,
        }
    }

    /// N:M structure on a vector of dimension `d`: the sparsity becomes the number of
    /// coordinates N:M keeps, $\lfloor d/M\rfloor N + \min(d \bmod M, N)$.
    pub fn n_of_m(mut self, n: usize, m: usize, d: usize) -> Self {
        self.n_of_m = Some((n, m));
        self.sparsity = (d / m.max(1)) * n + (d % m.max(1)).min(n);
        self
    }

    /// The projection's budget: $H_s$ (`TopK(sparsity)`) or N:M.
    pub fn budget(&self) -> Budget {
        match self.n_of_m {
            Some((n, m)) => Budget::NofM {
                n,
                m,
                pool: vec![true],
            },
            None => Budget::TopK(self.sparsity),
        }
    }

    /// Set the step.
    pub fn step(mut self, step: f64) -> Self {
        self.step = Some(step);
        self
    }

    /// Set the iteration cap.
    pub fn max_iters(mut self, t: usize) -> Self {
        self.max_iters = t;
        self
    }

    fn validate(&self) -> Result<()> {
        if self.sparsity == 0 {
            return Err(Error::Budget { k: 0, len: 0 });
        }
        if let Some(eta) = self.step {
            check_positive("step", eta)?;
        }
        if let Some((n, m)) = self.n_of_m {
            if n == 0 || n > m {
                return Err(Error::param("n_of_m", format!("{n}:{m} needs 1 <= N <= M")));
            }
        }
        if self.max_iters == 0 {
            return Err(Error::param("max_iters", "must be >= 1"));
        }
        if self.tol.is_nan() || self.tol < 0.0 {
            return Err(Error::param("tol", "must be >= 0"));
        }
        if let Some(w) = &self.warm {
            let nnz = w.iter().filter(|v| **v != 0.0).count();
            if nnz > self.sparsity || w.iter().any(|v| !v.is_finite()) {
                return Err(Error::param(
                    "warm",
                    format!(
                        "must be finite and at most {}-sparse, has {nnz} nonzeros",
                        self.sparsity
                    ),
                ));
            }
        }
        Ok(())
    }

    fn resolve_step<P: SmoothProblem + ?Sized>(&self, p: &P) -> f64 {
        self.step.unwrap_or_else(|| 1.0 / p.smoothness())
    }
}

/// State of a thresholding method: the iterate, $f$ and $\nabla f$ there.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ThresholdState {
    /// Current iterate.
    pub x: Array1<f64>,
    /// $f(x)$.
    pub f: f64,
    /// $\nabla f(x)$.
    pub g: Array1<f64>,
    /// $\mathrm{supp}(x)$ as selected (sorted).
    pub support: Vec<usize>,
    /// Step used by the last iteration.
    pub step: f64,
}

fn initial_state<P: SmoothProblem + ?Sized>(
    p: &P,
    params: &ThresholdParams,
) -> Result<ThresholdState> {
    check_sparsity(params.sparsity, p.dim())?;
    let x = match &params.warm {
        Some(w) if w.len() != p.dim() => {
            return Err(Error::Shape(format!(
                "warm start has length {} but the problem has dimension {}",
                w.len(),
                p.dim()
            )))
        }
        Some(w) => w.clone(),
        None => Array1::zeros(p.dim()),
    };
    let (f, g) = p.value_and_gradient(&x);
    let support = crate::solver::support_of(&x);
    Ok(ThresholdState {
        x,
        f,
        g,
        support,
        step: 0.0,
    })
}

fn record_of(s: &ThresholdState) -> Record {
    Record::of(s.f, &s.x).with_step(Some(s.step))
}

fn moved(old: &Array1<f64>, new: &Array1<f64>, tol: f64) -> bool {
    let diff = (new - old).mapv(|v| v * v).sum().sqrt();
    diff > tol * old.dot(old).sqrt().max(1.0)
}

/// The parts of `Iterative` every thresholding method shares.
macro_rules! threshold_common {
    ($name:literal) => {
        fn name(&self) -> &'static str {
            $name
        }
        fn max_iters(&self) -> usize {
            self.params.max_iters
        }
        fn iterate<'s>(&self, s: &'s ThresholdState) -> &'s Array1<f64> {
            &s.x
        }
        fn record(&self, s: &ThresholdState) -> Record {
            record_of(s)
        }
    };
}

/// Refresh $f$ and $\nabla f$ at the new iterate; converged when it did not move.
fn finish<P: SmoothProblem + ?Sized>(
    p: &P,
    s: &mut ThresholdState,
    old: &Array1<f64>,
    tol: f64,
) -> Status {
    (s.f, s.g) = p.value_and_gradient(&s.x);
    if moved(old, &s.x, tol) {
        Status::Continue
    } else {
        Status::Converged
    }
}

/// Iterative hard thresholding: $x^{t+1} = H_s(x^t - \eta \nabla f(x^t))$.
///
/// The rule `R` decides the support ($H_s$ = [`Largest`] under `TopK(s)`).
///
/// ```
/// use lottery::problem::{LeastSquares, PlantedParams};
/// use lottery::solver::{iht::{Iht, ThresholdParams}, solve_quiet};
/// let inst = PlantedParams { n: 80, d: 200, k: 4, ..Default::default() }.generate().unwrap();
/// let p = LeastSquares::from_f64(inst.a, inst.y).unwrap();
/// let sol = solve_quiet(&Iht::new(ThresholdParams::new(4)).unwrap(), &p).unwrap();
/// assert_eq!(sol.info.support, inst.support);
/// assert!(sol.info.objective < 1e-12);
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Iht<R = Largest> {
    /// Parameters.
    pub params: ThresholdParams,
    /// Selection rule.
    pub rule: R,
}

impl Iht<Largest> {
    /// IHT with $H_s$.
    pub fn new(params: ThresholdParams) -> Result<Self> {
        Self::with_rule(params, Largest)
    }
}

impl<R: Rule> Iht<R> {
    /// IHT with another selection rule.
    pub fn with_rule(params: ThresholdParams, rule: R) -> Result<Self> {
        params.validate()?;
        Ok(Iht { params, rule })
    }

    /// One IHT step on any space, $x \leftarrow \mathrm{select}(x - \eta g)$ under `budget`
    /// with this solver's rule ([`gradient_threshold_step`]); returns the support. The ndarray
    /// solver calls it with `Budget::TopK(sparsity)`, the network trainer `lottery prune iht`
    /// with the run's per-layer or pooled budget.
    pub fn step_on<V: SparseVector>(
        &self,
        x: &mut V,
        gradient: &V,
        eta: f64,
        budget: &Budget,
    ) -> Result<Mask> {
        gradient_threshold_step(x, gradient, eta, &self.rule, budget)
    }

    /// The IHT iteration on any space: `iters` steps from `x0` with step `eta`, returning the
    /// iterate and the support selected at each step ([`Iht::step_on`] with
    /// `Budget::TopK(sparsity)`).
    pub fn run_on<V: SparseVector, O: Objective<V>>(
        &self,
        objective: &O,
        x0: V,
        eta: f64,
        iters: usize,
    ) -> Result<(V, Vec<Mask>)> {
        let mut x = x0;
        let mut masks = Vec::with_capacity(iters);
        let budget = self.params.budget();
        for _ in 0..iters {
            let g = objective.gradient(&x);
            masks.push(self.step_on(&mut x, &g, eta, &budget)?);
        }
        Ok((x, masks))
    }
}

impl<P: SmoothProblem + ?Sized, R: Rule> Iterative<P> for Iht<R> {
    type State = ThresholdState;

    threshold_common!("iht");

    fn init(&self, p: &P) -> Result<ThresholdState> {
        let mut s = initial_state(p, &self.params)?;
        s.step = self.params.resolve_step(p);
        Ok(s)
    }

    fn step(&self, p: &P, s: &mut ThresholdState) -> Result<Status> {
        let old = s.x.clone();
        let budget = self.params.budget();
        let mask = self.step_on(&mut s.x, &s.g, s.step, &budget)?;
        s.support = mask.indices();
        Ok(finish(p, s, &old, self.params.tol))
    }
}

/// Normalized IHT (Blumensath–Davies 2010): the step is the exact line-search step along the
/// gradient restricted to the current support, $\mu = \|g_\Gamma\|^2 / g_\Gamma^\top \nabla^2 f\,
/// g_\Gamma$, shrunk by $\kappa(1-c)$ while the support changes and
/// $\mu > (1-c)\|x^{+}-x\|^2/(x^+-x)^\top\nabla^2 f(x^+-x)$. Defaults $\kappa = 2$, $c = 0.01$.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Niht {
    /// Parameters (the step field is ignored).
    pub params: ThresholdParams,
    /// Shrink factor $\kappa > 1/(1-c)$ (default 2).
    pub kappa: f64,
    /// Safety margin $c \in (0, 1)$ (default 0.01).
    pub c: f64,
}

impl Niht {
    /// NIHT with $\kappa = 2$, $c = 0.01$.
    pub fn new(params: ThresholdParams) -> Result<Self> {
        params.validate()?;
        Ok(Niht {
            params,
            kappa: 2.0,
            c: 0.01,
        })
    }
}

impl<P: SmoothProblem + ?Sized> Iterative<P> for Niht {
    type State = ThresholdState;

    threshold_common!("niht");

    fn init(&self, p: &P) -> Result<ThresholdState> {
        if self.params.n_of_m.is_some() {
            return Err(Error::Unsupported(
                "niht: the N:M projection is implemented for IHT and HTP".into(),
            ));
        }
        initial_state(p, &self.params)
    }

    fn step(&self, p: &P, s: &mut ThresholdState) -> Result<Status> {
        let budget = Budget::TopK(self.params.sparsity);
        let gamma = if s.support.is_empty() {
            Largest.select(&s.g.to_scores(), &budget)?.indices()
        } else {
            s.support.clone()
        };
        let mut g_gamma = Array1::zeros(s.g.len());
        for &j in &gamma {
            g_gamma[j] = s.g[j];
        }
        let num = g_gamma.dot(&g_gamma);
        if num == 0.0 {
            return Ok(Status::Converged);
        }
        let curv = p.curvature(&s.x, &g_gamma);
        let mut mu = if curv > 0.0 {
            num / curv
        } else {
            1.0 / p.smoothness()
        };
        let mut candidate;
        let mut mask;
        let mut tries = 0;
        loop {
            candidate = s.x.clone();
            mask = gradient_threshold_step(&mut candidate, &s.g, mu, &Largest, &budget)?;
            if mask.indices() == gamma {
                break;
            }
            let delta = &candidate - &s.x;
            let dc = p.curvature(&s.x, &delta);
            let omega = (1.0 - self.c) * delta.dot(&delta) / dc.max(f64::MIN_POSITIVE);
            if mu <= omega || tries >= 60 {
                break;
            }
            mu /= self.kappa * (1.0 - self.c);
            tries += 1;
        }
        let old = std::mem::replace(&mut s.x, candidate);
        s.support = mask.indices();
        s.step = mu;
        Ok(finish(p, s, &old, self.params.tol))
    }
}

/// Hard thresholding pursuit (Foucart 2011): select $S = \mathrm{supp}\,H_s(x - \eta\nabla f(x))$,
/// then refit $x = \arg\min_{\mathrm{supp}(z)\subseteq S} f(z)$; stop when $S$ repeats.
///
/// The default step is $1/\beta$ ($\beta$ the coordinate smoothness), Foucart's unit step for
/// unit-norm columns: with the safe $1/L$ the proxy barely moves and HTP stops on its first
/// support. The descent guarantee needs $\eta \le 1/L_{2s}$ (restricted smoothness), which
/// $1/\beta$ meets when $A$ is well conditioned on $2s$-sparse vectors.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Htp {
    /// Parameters.
    pub params: ThresholdParams,
}

impl Htp {
    /// HTP with validated parameters.
    pub fn new(params: ThresholdParams) -> Result<Self> {
        params.validate()?;
        Ok(Htp { params })
    }
}

impl<P: SmoothProblem + ?Sized> Iterative<P> for Htp {
    type State = ThresholdState;

    threshold_common!("htp");

    fn init(&self, p: &P) -> Result<ThresholdState> {
        let mut s = initial_state(p, &self.params)?;
        // Foucart's unit step on unit-norm columns, i.e. 1/β in this crate's scaling.
        s.step = self
            .params
            .step
            .unwrap_or_else(|| 1.0 / p.coordinate_smoothness().max(f64::MIN_POSITIVE));
        Ok(s)
    }

    fn step(&self, p: &P, s: &mut ThresholdState) -> Result<Status> {
        let mut z = s.x.clone();
        let mask = gradient_threshold_step(&mut z, &s.g, s.step, &Largest, &self.params.budget())?;
        let support = mask.indices();
        if support == s.support {
            return Ok(Status::Converged);
        }
        s.x = p.refit(&support, &z)?;
        s.support = support;
        (s.f, s.g) = p.value_and_gradient(&s.x);
        Ok(Status::Continue)
    }
}

/// CoSaMP (Needell–Tropp 2009): merge the $2s$ largest gradient entries with the current
/// support, refit on the union, keep the $s$ largest.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cosamp {
    /// Parameters (the step field is ignored).
    pub params: ThresholdParams,
}

impl Cosamp {
    /// CoSaMP with validated parameters.
    pub fn new(params: ThresholdParams) -> Result<Self> {
        params.validate()?;
        Ok(Cosamp { params })
    }
}

impl<P: SmoothProblem + ?Sized> Iterative<P> for Cosamp {
    type State = ThresholdState;

    threshold_common!("cosamp");

    fn init(&self, p: &P) -> Result<ThresholdState> {
        if self.params.n_of_m.is_some() {
            return Err(Error::Unsupported(
                "cosamp: the N:M projection is implemented for IHT and HTP".into(),
            ));
        }
        initial_state(p, &self.params)
    }

    fn step(&self, p: &P, s: &mut ThresholdState) -> Result<Status> {
        let d = p.dim();
        let k2 = (2 * self.params.sparsity).min(d);
        let omega = Largest.select(&s.g.to_scores(), &Budget::TopK(k2))?;
        let mut merged = omega;
        for &j in &support_of(&s.x) {
            merged.insert(j);
        }
        let mut b = p.refit(&merged.indices(), &s.x)?;
        let mask = threshold(&mut b, &Largest, &Budget::TopK(self.params.sparsity))?;
        let old = std::mem::replace(&mut s.x, b);
        s.support = mask.indices();
        Ok(finish(p, s, &old, self.params.tol))
    }
}
