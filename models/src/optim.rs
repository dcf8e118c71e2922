//! Optimisers, gradient clipping and learning-rate schedules. Optimisers update plain parameter tensors in
//! place from gradient tensors of the same shapes; their state is allocated once, on the first step.

use serde::{Deserialize, Serialize};
use stein_autodiff::Tensor;

/// A learning-rate schedule over steps `0..total`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// Cosine decay from the base rate to `min_factor ×` it at `total` steps.
    Cosine {
        /// Steps of the whole run.
        total: usize,
        /// Final rate as a fraction of the base.
        min_factor: f64,
    },
    /// Multiply by `gamma` every `every` steps.
    Step {
        /// Period in steps.
        every: usize,
        /// Factor per period.
        gamma: f64,
    },
}

impl Schedule {
    /// The rate at `step` for base rate `lr`.
    pub fn rate(&self, lr: f64, step: usize) -> f64 {
        match *self {
            Schedule::Constant => lr,
            Schedule::Cosine { total, min_factor } => {
                let t = (step as f64 / total.max(1) as f64).min(1.0);
                lr * (min_factor
                    + (1.0 - min_factor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()))
            }
            Schedule::Step { every, gamma } => lr * gamma.powi((step / every.max(1)) as i32),
        }
    }
}

/// Scale the gradients so their global L2 norm is at most `max_norm`; returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut [Tensor], max_norm: f64) -> f64 {
    let norm = grads
        .iter()
        .flat_map(|g| g.data())
        .map(|v| v * v)
        .sum::<f64>()
        .sqrt();
    if norm > max_norm && norm.is_finite() {
        let f = max_norm / norm;
        for g in grads.iter_mut() {
            g.data_mut().iter_mut().for_each(|v| *v *= f);
        }
    }
    norm
}

/// An optimiser: one update of the parameters from their gradients at learning rate `lr`.
pub trait Optimizer {
    /// θ ← update(θ, ∇θ). Panics if shapes differ from the first call's (a programmer error).
    fn step(&mut self, params: &mut [Tensor], grads: &[Tensor], lr: f64);
}

/// Stochastic gradient descent with (heavy-ball) momentum: v ← μv + g, θ ← θ − lr·v.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Sgd {
    /// Momentum μ (0 for plain SGD).
    pub momentum: f64,
    velocity: Vec<Tensor>,
}

impl Sgd {
    /// SGD with momentum μ.
    pub fn new(momentum: f64) -> Self {
        Sgd {
            momentum,
            velocity: Vec::new(),
        }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, params: &mut [Tensor], grads: &[Tensor], lr: f64) {
        if self.velocity.is_empty() {
            self.velocity = grads
                .iter()
                .map(|g| Tensor::zeros(g.rows(), g.cols()))
                .collect();
        }
        for ((p, g), v) in params.iter_mut().zip(grads).zip(&mut self.velocity) {
            assert_eq!(
                p.shape(),
                g.shape(),
                "Sgd: parameter {:?} vs gradient {:?}",
                p.shape(),
                g.shape()
            );
            for ((pi, gi), vi) in p.data_mut().iter_mut().zip(g.data()).zip(v.data_mut()) {
                *vi = self.momentum * *vi + gi;
                *pi -= lr * *vi;
            }
        }
    }
}

/// Adam (Kingma & Ba 2015) with optional decoupled weight decay (AdamW, Loshchilov & Hutter 2019).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Adam {
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// Decoupled weight decay λ (0 for Adam): θ ← θ − lr·λ·θ before the Adam step.
    pub weight_decay: f64,
    t: u64,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
}

impl Default for Adam {
    fn default() -> Self {
        Adam::new()
    }
}

impl Adam {
    /// Adam with β = (0.9, 0.999), ε = 1e-8.
    pub fn new() -> Self {
        Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            t: 0,
            m: Vec::new(),
            v: Vec::new(),
        }
    }
    /// AdamW with decoupled weight decay λ.
    pub fn adamw(weight_decay: f64) -> Self {
        Adam {
            weight_decay,
            ..Adam::new()
        }
    }
    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// Check a state (e.g. read from a checkpoint) against the tensors it will update (their shapes, in
    /// order): hyper-parameters in range, first and second moments either absent or of those shapes, finite,
    /// and v ≥ 0.
    pub fn validate(&self, shapes: &[(usize, usize)]) -> Result<(), crate::ModelError> {
        let bad = |value: String, reason: String| crate::ModelError::BadParameter {
            param: "optimizer",
            value,
            reason,
        };
        for (name, b) in [("β₁", self.beta1), ("β₂", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(bad(
                    b.to_string(),
                    format!("Adam's {name} must be in [0, 1)"),
                ));
            }
        }
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return Err(bad(
                self.eps.to_string(),
                "Adam's ε must be positive and finite".into(),
            ));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(bad(
                self.weight_decay.to_string(),
                "Adam's weight decay must be non-negative and finite".into(),
            ));
        }
        if self.m.len() != self.v.len() {
            return Err(bad(
                format!("{} and {} moments", self.m.len(), self.v.len()),
                "Adam's first and second moments must match".into(),
            ));
        }
        if self.m.is_empty() {
            return Ok(());
        }
        if self.m.len() != shapes.len() {
            return Err(bad(
                format!("moments of {} tensors", self.m.len()),
                format!("the model and its objective train {}", shapes.len()),
            ));
        }
        for (i, ((m, v), s)) in self.m.iter().zip(&self.v).zip(shapes).enumerate() {
            if m.shape() != *s || v.shape() != *s {
                return Err(bad(
                    format!(
                        "moments of tensor {i} of {:?} and {:?}",
                        m.shape(),
                        v.shape()
                    ),
                    format!("the tensor is {s:?}"),
                ));
            }
            if m.data().iter().any(|x| !x.is_finite())
                || v.data().iter().any(|x| !(x.is_finite() && *x >= 0.0))
            {
                return Err(bad(
                    format!("moments of tensor {i}"),
                    "must be finite (and v ≥ 0)".into(),
                ));
            }
        }
        Ok(())
    }

    /// One optimiser over the tensors of `self` then those of `other`, both at the same step (two optimisers
    /// a former file kept for a network and an objective's own tensors).
    pub fn merged(mut self, other: Adam) -> Adam {
        if other.m.is_empty() {
            return self;
        }
        if self.m.is_empty() {
            return other;
        }
        self.m.extend(other.m);
        self.v.extend(other.v);
        self
    }
}

impl Optimizer for Adam {
    fn step(&mut self, params: &mut [Tensor], grads: &[Tensor], lr: f64) {
        self.step_all(params.iter_mut(), grads, lr);
    }
}

impl Adam {
    /// [`Optimizer::step`] over tensors held in several places (a network's parameters, then an objective's
    /// own), updated as one list in order.
    pub fn step_all<'a>(
        &mut self,
        params: impl IntoIterator<Item = &'a mut Tensor>,
        grads: &[Tensor],
        lr: f64,
    ) {
        if self.m.is_empty() {
            self.m = grads
                .iter()
                .map(|g| Tensor::zeros(g.rows(), g.cols()))
                .collect();
            self.v = self.m.clone();
        }
        self.t += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        // βᵗ underflows to 0 long before t reaches 2³⁰; the cap keeps the exponent an i32
        let t = self.t.min(1 << 30) as i32;
        let c1 = 1.0 - b1.powi(t);
        let c2 = 1.0 - b2.powi(t);
        for (((p, g), m), v) in params
            .into_iter()
            .zip(grads)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            assert_eq!(
                p.shape(),
                g.shape(),
                "Adam: parameter {:?} vs gradient {:?}",
                p.shape(),
                g.shape()
            );
            pulp::Arch::new().dispatch(AdamPass {
                p: p.data_mut(),
                g: g.data(),
                m: m.data_mut(),
                v: v.data_mut(),
                coefficients: [b1, b2, c1, c2, lr, self.weight_decay, self.eps],
            });
        }
    }
}

/// One tensor's Adam update, compiled for each instruction set (`pulp`): the same operations in the same
/// order on every one (no fused multiply-adds), so the bits do not depend on the CPU's vector width.
struct AdamPass<'a> {
    p: &'a mut [f64],
    g: &'a [f64],
    m: &'a mut [f64],
    v: &'a mut [f64],
    /// β₁, β₂, 1 − β₁ᵗ, 1 − β₂ᵗ, the rate, the weight decay, ε.
    coefficients: [f64; 7],
}

impl pulp::WithSimd for AdamPass<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let [b1, b2, c1, c2, lr, decay, eps] = self.coefficients;
        let all = self
            .p
            .iter_mut()
            .zip(self.g)
            .zip(self.m.iter_mut())
            .zip(self.v.iter_mut());
        for (((pi, &gi), mi), vi) in all {
            *mi = b1 * *mi + (1.0 - b1) * gi;
            *vi = b2 * *vi + (1.0 - b2) * gi * gi;
            if decay != 0.0 {
                *pi -= lr * decay * *pi;
            }
            *pi -= lr * (*mi / c1) / ((*vi / c2).sqrt() + eps);
        }
    }
}
