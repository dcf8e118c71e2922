//! Networks: multilayer perceptrons as score models (vector output) and energy models (scalar output, score
//! = −∇ₓE by the tape), optionally conditioned on the noise level σ.
//!
//! Parameters are plain [`Tensor`]s. Each step lifts them onto a fresh tape ([`Mlp::lift`]), runs the
//! network functionally on the lifted handles, and reads the gradients back — as in JAX, no module state is
//! mutated by a forward pass.

pub mod jet;
pub mod single;
pub(crate) mod vmath32;

use crate::data::Standardization;
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};
use stein_autodiff::{TVar, Tape, Tensor};

/// Limits on what a model may hold; a model file beyond them is refused before anything is allocated from it.
pub mod limits {
    /// Layers of an MLP (weight matrices).
    pub const MAX_LAYERS: usize = 64;
    /// Width of any layer, input and output included.
    pub const MAX_WIDTH: usize = 1 << 16;
    /// Scalar parameters in all.
    pub const MAX_PARAMS: usize = 1 << 28;
    /// Levels of a σ ladder.
    pub const MAX_SIGMAS: usize = 10_000;
}

/// Check the widths of a network `input → hidden… → output` before building it: every width 1 to
/// [`limits::MAX_WIDTH`], at most [`limits::MAX_LAYERS`] layers and [`limits::MAX_PARAMS`] parameters.
pub fn check_widths(
    input: usize,
    hidden: &[usize],
    output: usize,
) -> Result<(), crate::ModelError> {
    use limits::*;
    let widths: Vec<usize> = std::iter::once(input)
        .chain(hidden.iter().copied())
        .chain(std::iter::once(output))
        .collect();
    let bad = |reason: String| crate::ModelError::BadParameter {
        param: "widths",
        value: format!("{widths:?}"),
        reason,
    };
    if let Some(&w) = widths.iter().find(|&&w| w == 0 || w > MAX_WIDTH) {
        return Err(bad(format!(
            "a layer of width {w} in {widths:?}: widths (the data's dimension included) must be 1 to {MAX_WIDTH}"
        )));
    }
    if widths.len() > MAX_LAYERS + 1 {
        return Err(bad(format!(
            "{} layers; at most {MAX_LAYERS}",
            widths.len() - 1
        )));
    }
    let params = widths.windows(2).fold(0usize, |n, w| {
        n.saturating_add((w[0] + 1).saturating_mul(w[1]))
    });
    if params > MAX_PARAMS {
        return Err(bad(format!(
            "{widths:?} has {params} parameters; at most {MAX_PARAMS}"
        )));
    }
    Ok(())
}

/// Elementwise non-linearity between layers.
///
/// Energy models trained with derivative losses (implicit / sliced score matching, energy-based denoising)
/// differentiate the network twice in x: `Relu` has a zero second derivative almost everywhere, so those
/// losses cannot shape it — use `Silu`, `Softplus`, `Tanh` or `Elu` there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// x σ(x) (smooth).
    Silu,
    /// ln(1 + eˣ) (smooth).
    Softplus,
    /// tanh x (smooth).
    Tanh,
    /// ELU, α = 1 (once differentiable at 0).
    Elu,
    /// max(x, 0): zero second derivative; unfit for losses that differentiate the network twice.
    Relu,
}

impl Activation {
    /// Every activation, in declaration order (for tests and listings).
    pub const ALL: [Activation; 5] = [
        Activation::Silu,
        Activation::Softplus,
        Activation::Tanh,
        Activation::Elu,
        Activation::Relu,
    ];

    /// Apply to a tensor on the tape.
    pub fn apply<'t>(self, x: TVar<'t>) -> TVar<'t> {
        match self {
            Activation::Silu => x.silu(),
            Activation::Softplus => x.softplus(),
            Activation::Tanh => x.tanh(),
            Activation::Elu => x.elu(),
            Activation::Relu => x.relu(),
        }
    }

    /// Parse `silu`, `softplus`, `tanh`, `elu`, `relu`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "silu" | "swish" => Activation::Silu,
            "softplus" => Activation::Softplus,
            "tanh" => Activation::Tanh,
            "elu" => Activation::Elu,
            "relu" => Activation::Relu,
            _ => return None,
        })
    }
}

/// The arithmetic of a network's passes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precision {
    /// f64 on the tape (any order of derivatives).
    #[default]
    F64,
    /// f32 passes fused by hand ([`single`]): twice the lanes per instruction, half the bytes; first
    /// derivatives in the parameters only.
    F32,
}

impl Precision {
    /// `f64` or `f32`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F64 => "f64",
            Precision::F32 => "f32",
        }
    }

    /// Parse `f64` or `f32`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "f64" => Some(Precision::F64),
            "f32" => Some(Precision::F32),
            _ => None,
        }
    }
}

/// A multilayer perceptron: `widths[0] → widths[1] → … → widths[L]`, the activation after every layer but
/// the last. Weights are stored `in × out` (so a batch `B × in` multiplies on the left); parameters are
/// `[W₀, b₀, W₁, b₁, …]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mlp {
    /// Layer widths, input first.
    pub widths: Vec<usize>,
    /// The non-linearity.
    pub activation: Activation,
    /// `[W₀, b₀, W₁, b₁, …]`, Wₗ of shape `widths[l] × widths[l+1]`, bₗ of shape `1 × widths[l+1]`.
    pub params: Vec<Tensor>,
}

impl Mlp {
    /// A network initialised at He's scale in its hidden layers (He, Zhang, Ren & Sun 2015): their weights
    /// uniform on ±√(6/fan_in); the output layer's weights and every bias uniform on ±1/√fan_in (PyTorch's
    /// default), so the output starts small. At PyTorch's scale throughout, a deep SiLU stack loses its
    /// input's signal layer by layer: a 6-layer diffusion network on the rings (mean 0, covariance I, no
    /// first-order structure to follow) started, and stayed, at the Gaussian N(0, I) — KL 0.76 nats after
    /// 20,000 steps — and learnt them to 0.02 nats at He's scale; the energy recipe's two moons went from
    /// 1.66 to 0.64 nats. Panics if fewer than two widths are given or a width is zero (a programmer error).
    pub fn new<R: Rng + ?Sized>(widths: &[usize], activation: Activation, rng: &mut R) -> Self {
        assert!(
            widths.len() >= 2 && widths.iter().all(|&w| w > 0),
            "Mlp::new: need at least two positive widths, got {widths:?}"
        );
        let mut params = Vec::new();
        let layers = widths.len() - 1;
        for (l, w) in widths.windows(2).enumerate() {
            let bound = 1.0 / (w[0] as f64).sqrt();
            let he = if l + 1 < layers { 6f64.sqrt() } else { 1.0 };
            params.push(Tensor::from_fn(w[0], w[1], |_, _| {
                he * rng.random_range(-bound..bound)
            }));
            params.push(Tensor::from_fn(1, w[1], |_, _| {
                rng.random_range(-bound..bound)
            }));
        }
        Mlp {
            widths: widths.to_vec(),
            activation,
            params,
        }
    }

    /// Input width.
    pub fn input_dim(&self) -> usize {
        self.widths[0]
    }

    /// Output width.
    pub fn output_dim(&self) -> usize {
        *self.widths.last().expect("at least two widths")
    }

    /// Number of scalar parameters.
    pub fn num_params(&self) -> usize {
        self.params.iter().map(|p| p.len()).sum()
    }

    /// Check a network read from a file: 1 to [`limits::MAX_LAYERS`] layers of widths 1 to
    /// [`limits::MAX_WIDTH`], parameter shapes that fit them, at most [`limits::MAX_PARAMS`] parameters, all
    /// finite.
    pub fn validate(&self) -> Result<(), crate::ModelError> {
        self.check()
            .map_err(|reason| crate::ModelError::BadParameter {
                param: "network",
                value: format!("widths {:?}", self.widths),
                reason,
            })
    }

    fn check(&self) -> Result<(), String> {
        use limits::*;
        let net = self;
        let w = &net.widths;
        if w.len() < 2 || w.len() > MAX_LAYERS + 1 {
            return Err(format!(
                "{} layer widths; need 2 to {}",
                w.len(),
                MAX_LAYERS + 1
            ));
        }
        if let Some(&bad) = w.iter().find(|&&v| v == 0 || v > MAX_WIDTH) {
            return Err(format!(
                "layer width {bad} in {w:?}; widths must be 1 to {MAX_WIDTH}"
            ));
        }
        if net.params.len() != 2 * (w.len() - 1) {
            return Err(format!(
                "{} parameter tensors for {} layers (need {})",
                net.params.len(),
                w.len() - 1,
                2 * (w.len() - 1)
            ));
        }
        for (l, pair) in w.windows(2).enumerate() {
            let (wt, b) = (&net.params[2 * l], &net.params[2 * l + 1]);
            if wt.shape() != (pair[0], pair[1]) || b.shape() != (1, pair[1]) {
                return Err(format!(
                    "layer {l}: weight {:?} and bias {:?}, expected ({}, {}) and (1, {})",
                    wt.shape(),
                    b.shape(),
                    pair[0],
                    pair[1],
                    pair[1]
                ));
            }
        }
        if net.num_params() > MAX_PARAMS {
            return Err(format!(
                "{} parameters; at most {MAX_PARAMS}",
                net.num_params()
            ));
        }
        if let Some(v) = net
            .params
            .iter()
            .flat_map(|p| p.data())
            .find(|v| !v.is_finite())
        {
            return Err(format!("non-finite parameter {v}"));
        }
        Ok(())
    }

    /// Place the parameters on `tape` as differentiable inputs.
    pub fn lift<'t>(&self, tape: &'t Tape) -> Vec<TVar<'t>> {
        self.params.iter().map(|p| tape.tensor(p)).collect()
    }

    /// The forward pass with lifted parameters: `x` is `B × widths[0]`, the result `B × widths[L]`.
    pub fn forward<'t>(&self, params: &[TVar<'t>], x: TVar<'t>) -> TVar<'t> {
        let layers = params.len() / 2;
        let mut h = x;
        for l in 0..layers {
            h = h.matmul(params[2 * l]) + params[2 * l + 1];
            if l + 1 < layers {
                h = self.activation.apply(h);
            }
        }
        h
    }
}

/// How a network sees the noise level σ (for multi-noise training and annealed sampling).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Conditioning {
    /// The network ignores σ.
    None,
    /// log σ is appended to the input, and the output is divided by σ (NCSN v2: s(x, σ) = net(x, log σ)/σ, so
    /// the score's scale follows 1/σ).
    InputAndScale,
}

/// What the network's output means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Vector output: the score itself.
    Score,
    /// Scalar output E(x): log p = −E + const, score = −∇ₓE.
    Energy,
}

/// A score model: an MLP read as a score network or an energy network, optionally noise-conditional.
///
/// The network works in *model coordinates*: the data's coordinates after [`Model::standardization`] (when
/// set) maps them to mean 0 and scale 1. [`Model::as_score`] reads the model in data coordinates; the tape
/// methods ([`Model::score`], [`Model::score_values`]) stay in model coordinates, where training happens.
///
/// ```
/// use rand::SeedableRng;
/// use stein_autodiff::{Tape, Tensor};
/// use stein_models::nn::{Activation, Model};
///
/// let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
/// let m = Model::energy(2, &[32, 32], Activation::Softplus, &mut rng);
/// let tape = Tape::new();
/// let p = m.net.lift(&tape);
/// let x = tape.tensor(&Tensor::zeros(5, 2));
/// let s = m.score(&tape, &p, x, None);           // −∇ₓE, 5 × 2, still on the tape
/// assert_eq!(s.shape(), (5, 2));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Score or energy.
    pub kind: Kind,
    /// Noise conditioning.
    pub conditioning: Conditioning,
    /// Data dimension.
    pub dim: usize,
    /// The network.
    pub net: Mlp,
    /// The σ ladder a noise-conditional model was trained on, largest first (empty for other models; set by
    /// [`Trainer::fit`](crate::fit::Trainer::fit) from the NCSN loss). Annealed sampling walks it.
    #[serde(default)]
    pub sigmas: Vec<f64>,
    /// The map from data to model coordinates (`None`: the identity).
    #[serde(default)]
    pub standardization: Option<Standardization>,
}

impl Model {
    /// A score network `dim → hidden… → dim`.
    pub fn score_net<R: Rng + ?Sized>(
        dim: usize,
        hidden: &[usize],
        act: Activation,
        rng: &mut R,
    ) -> Self {
        Self::build(Kind::Score, Conditioning::None, dim, hidden, act, rng)
    }

    /// An energy network `dim → hidden… → 1`.
    pub fn energy<R: Rng + ?Sized>(
        dim: usize,
        hidden: &[usize],
        act: Activation,
        rng: &mut R,
    ) -> Self {
        Self::build(Kind::Energy, Conditioning::None, dim, hidden, act, rng)
    }

    /// Any combination of kind and conditioning.
    ///
    /// # Panics
    /// When `dim` or a hidden width is 0 (a programmer error, as [`Mlp::new`]; the message names the widths).
    /// Check widths from user input with [`check_widths`] first.
    pub fn build<R: Rng + ?Sized>(
        kind: Kind,
        conditioning: Conditioning,
        dim: usize,
        hidden: &[usize],
        act: Activation,
        rng: &mut R,
    ) -> Self {
        let input = dim + usize::from(conditioning != Conditioning::None);
        let output = if kind == Kind::Score { dim } else { 1 };
        let mut widths = vec![input];
        widths.extend_from_slice(hidden);
        widths.push(output);
        Model {
            kind,
            conditioning,
            dim,
            net: Mlp::new(&widths, act, rng),
            sigmas: Vec::new(),
            standardization: None,
        }
    }

    /// Check every invariant the methods rely on, so a model read from a file can be used without panics:
    /// layer widths within [`limits`], each weight `widths[l] × widths[l+1]` and bias `1 × widths[l+1]`,
    /// finite parameters, input width = `dim` (+ 1 when noise-conditional), output width = `dim` (score) or
    /// 1 (energy), a σ ladder that is non-empty, finite, positive and bounded when noise-conditional, and a
    /// standardisation of dimension `dim` with finite shifts and positive finite scales.
    pub fn validate(&self) -> Result<(), crate::ModelError> {
        self.net.validate()?;
        self.check()
            .map_err(|reason| crate::ModelError::BadParameter {
                param: "model",
                value: format!("{:?} model of dimension {}", self.kind, self.dim),
                reason,
            })
    }

    fn check(&self) -> Result<(), String> {
        let w = &self.net.widths;
        let cond = usize::from(self.conditioning != Conditioning::None);
        if self.dim == 0 || self.dim + cond != w[0] {
            return Err(format!(
                "dim {} does not fit the first layer's width {} ({})",
                self.dim,
                w[0],
                if cond == 1 {
                    "dim + 1 for the noise level"
                } else {
                    "must equal dim"
                }
            ));
        }
        let out = *w.last().expect("two widths");
        let want = if self.kind == Kind::Score {
            self.dim
        } else {
            1
        };
        if out != want {
            return Err(format!(
                "a {:?} model of dim {} needs an output width of {want}, the network has {out}",
                self.kind, self.dim
            ));
        }
        if cond == 1 {
            validate_ladder(&self.sigmas).map_err(|e| e.to_string())?;
        } else if !self.sigmas.is_empty() {
            return Err("a σ ladder on a model that is not noise-conditional".into());
        }
        if let Some(st) = &self.standardization {
            st.validate(self.dim).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The smallest σ of the ladder (noise-conditional models), where the model is closest to the data.
    pub fn smallest_sigma(&self) -> Option<f64> {
        match self.conditioning {
            Conditioning::None => None,
            _ => self.sigmas.last().copied(),
        }
    }

    /// The network's raw output for `x` (`B × dim`) at noise `sigma` (`B × 1`, required when conditioned).
    fn raw<'t>(&self, p: &[TVar<'t>], x: TVar<'t>, sigma: Option<TVar<'t>>) -> TVar<'t> {
        match self.conditioning {
            Conditioning::None => self.net.forward(p, x),
            Conditioning::InputAndScale => {
                let s = sigma.expect("a noise-conditional model needs σ");
                let h = self.net.forward(p, TVar::concat(&[x, s.ln()], 1));
                h / s
            }
        }
    }

    /// The [`Jet`](jet::Jet) of the network's output — E for an energy model, s for a score network — in x
    /// at noise `sigma` (required when conditioned; σ itself is not differentiated): see [`Mlp::jet`].
    pub fn jet<'t>(
        &self,
        p: &[TVar<'t>],
        x: TVar<'t>,
        sigma: Option<TVar<'t>>,
        dirs: &[jet::Direction<'t>],
        second: &[usize],
    ) -> jet::Jet<'t> {
        match self.conditioning {
            Conditioning::None => self.net.jet(p, x, dirs, second),
            Conditioning::InputAndScale => {
                let s = sigma.expect("a noise-conditional model needs σ");
                let input = TVar::concat(&[x, s.ln()], 1);
                self.net.jet(p, input, dirs, second).divided(s)
            }
        }
    }

    /// E(x) per row (`B × 1`), for energy models. Panics for a score network (a programmer error).
    pub fn energy_of<'t>(&self, p: &[TVar<'t>], x: TVar<'t>, sigma: Option<TVar<'t>>) -> TVar<'t> {
        assert_eq!(self.kind, Kind::Energy, "energy_of on a score network");
        self.raw(p, x, sigma)
    }

    /// The score s(x) (`B × dim`), on the tape so losses can differentiate it again: the output of a score
    /// network, or −∇ₓE for an energy network (`x` must then be a differentiable tensor on the tape).
    pub fn score<'t>(
        &self,
        tape: &'t Tape,
        p: &[TVar<'t>],
        x: TVar<'t>,
        sigma: Option<TVar<'t>>,
    ) -> TVar<'t> {
        match self.kind {
            Kind::Score => self.raw(p, x, sigma),
            Kind::Energy => {
                let e = self.raw(p, x, sigma).sum();
                -tape.grad_graph_tensors(e, &[x])[0]
            }
        }
    }

    /// The score at plain points (no gradient kept): `x` is `B × dim`, `sigma` the noise level for
    /// conditioned models.
    pub fn score_values(&self, x: &Tensor, sigma: Option<f64>) -> Tensor {
        stein_autodiff::with_tape(|t| {
            let p: Vec<TVar> = self.net.params.iter().map(|w| t.tensor_const(w)).collect();
            let xv = t.tensor(x);
            let s = sigma.map(|s| t.tensor_const(&Tensor::full(x.rows(), 1, s)));
            self.score(t, &p, xv, s).value()
        })
    }
}

/// A model read as a [`Score`](stein_scores::Score) in data coordinates at a fixed noise level (`None` for
/// unconditioned models), for samplers, metrics and pictures: s_x(x) = s_z((x − m)/c) / c under the
/// standardisation z = (x − m)/c.
#[derive(Clone, Copy, Debug)]
pub struct ModelScore<'a> {
    model: &'a Model,
    sigma: Option<f64>,
}

impl Model {
    /// This model as a [`Score`](stein_scores::Score) in data coordinates at noise level `sigma`: ignored
    /// when unconditioned; for a noise-conditional model `None` means the smallest σ of its ladder.
    ///
    /// # Panics
    /// A noise-conditional model with an empty ladder and no `sigma` (a model that has not been validated).
    pub fn as_score(&self, sigma: Option<f64>) -> ModelScore<'_> {
        let sigma = match self.conditioning {
            Conditioning::None => None,
            _ => Some(sigma.or(self.smallest_sigma()).expect(
                "Model::as_score: a noise-conditional model without a σ ladder needs an explicit σ",
            )),
        };
        ModelScore { model: self, sigma }
    }
}

impl stein_scores::Score for ModelScore<'_> {
    fn score_dim(&self) -> usize {
        self.model.dim
    }
    fn score_into(&self, x: &[f64], out: &mut [f64]) {
        let d = self.model.dim;
        assert!(
            x.len() == d && out.len() == d,
            "ModelScore::score_into: point of {} and output of {} coordinates for a model of dimension {d}",
            x.len(),
            out.len()
        );
        let mut t = Tensor::row(x);
        if let Some(st) = &self.model.standardization {
            st.to_model(&mut t);
        }
        out.copy_from_slice(self.model.score_values(&t, self.sigma).data());
        if let Some(st) = &self.model.standardization {
            st.score_to_data(out);
        }
    }
}

/// Check a σ ladder: 1 to [`limits::MAX_SIGMAS`] levels, each finite and positive.
pub fn validate_ladder(sigmas: &[f64]) -> Result<(), crate::ModelError> {
    let bad = |value: String, reason: String| crate::ModelError::BadParameter {
        param: "sigmas",
        value,
        reason,
    };
    if sigmas.is_empty() || sigmas.len() > limits::MAX_SIGMAS {
        return Err(bad(
            format!("{} levels", sigmas.len()),
            format!("a σ ladder needs 1 to {} levels", limits::MAX_SIGMAS),
        ));
    }
    if let Some(s) = sigmas.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(bad(
            s.to_string(),
            "every σ must be positive and finite".into(),
        ));
    }
    Ok(())
}
