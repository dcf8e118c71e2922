//! Time-conditional networks: an MLP over the point and Gaussian Fourier features of t (Tancik et al. 2020;
//! Song et al. 2021), whose output is read as the score, as the noise ε (score = −ε/σ(t)), or as the denoised
//! point x₀ with the preconditioning of Karras et al. 2022 (EDM) — and the adapters between the three.

use super::{Sde, TimeScore};
use crate::nn::{Activation, Mlp};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};
use stein_autodiff::{TVar, Tape, Tensor};

/// What the network's output stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Output {
    /// The score s(x, t) itself.
    Score,
    /// The noise ε of x_t = α(t) x₀ + σ(t) ε: s = −ε / σ(t) (DDPM's parametrisation).
    Noise,
    /// The denoised x₀ with EDM's preconditioning in the VE frame x̃ = x/α, σ̃ = σ/α (data of unit scale):
    /// D = c_skip x̃ + c_out F(c_in x̃, t), c_skip = 1/(σ̃² + 1), c_out = σ̃/√(σ̃² + 1), c_in = 1/√(σ̃² + 1);
    /// s = (α D − x) / σ².
    Denoised,
    /// The velocity v of the probability-flow ODE dx/dt = a(t) x − ½ g(t)² s (flow matching's target):
    /// s = 2 (a x − v) / g².
    Velocity,
}

/// The four readings of one prediction at (x, t) of `sde`, each from any other: ε = −σ s, x₀ = (x + σ² s) / α,
/// v = a x − ½ g² s.
///
/// ```
/// use stein_models::diffusion::net::{convert, Output};
/// use stein_models::diffusion::Sde;
/// let (sde, t) = (Sde::vp(0.1, 20.0).unwrap(), 0.4);
/// let s = [0.5, -1.0];
/// let x = [0.2, 0.1];
/// for other in [Output::Noise, Output::Denoised, Output::Velocity] {
///     let there = convert(Output::Score, other, &s, &x, &sde, t);
///     let back = convert(other, Output::Score, &there, &x, &sde, t);
///     assert!((back[0] - s[0]).abs() < 1e-12 && (back[1] - s[1]).abs() < 1e-12);
/// }
/// // on the straight path the velocity of x_t = (1 − t) x₀ + t z is z − x₀
/// let (x0, z) = (1.5, -0.5);
/// let xt = [(1.0 - t) * x0 + t * z];
/// let v = convert(Output::Denoised, Output::Velocity, &[x0], &xt, &Sde::linear(), t);
/// assert!((v[0] - (z - x0)).abs() < 1e-12);
/// ```
pub fn convert(from: Output, to: Output, v: &[f64], x: &[f64], sde: &Sde, t: f64) -> Vec<f64> {
    let (alpha, sigma, a, g2) = (
        sde.alpha(t),
        sde.sigma(t),
        sde.drift(t),
        sde.diffusion(t).powi(2),
    );
    let score: Vec<f64> = match from {
        Output::Score => v.to_vec(),
        Output::Noise => v.iter().map(|e| -e / sigma).collect(),
        Output::Denoised => v
            .iter()
            .zip(x)
            .map(|(d, x)| (alpha * d - x) / (sigma * sigma))
            .collect(),
        Output::Velocity => v
            .iter()
            .zip(x)
            .map(|(v, x)| 2.0 * (a * x - v) / g2)
            .collect(),
    };
    match to {
        Output::Score => score,
        Output::Noise => score.iter().map(|s| -sigma * s).collect(),
        Output::Denoised => score
            .iter()
            .zip(x)
            .map(|(s, x)| (x + sigma * sigma * s) / alpha)
            .collect(),
        Output::Velocity => score
            .iter()
            .zip(x)
            .map(|(s, x)| a * x - 0.5 * g2 * s)
            .collect(),
    }
}

/// The largest |ω| of a Fourier feature sin(2π ω t) a model may hold (the features are drawn N(0, 4²)).
pub const MAX_FREQUENCY: f64 = 256.0;

/// A time-conditional score model for an SDE.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimeModel {
    /// The MLP: input d + 2F (the point and F Fourier pairs), output d.
    pub net: Mlp,
    /// The data dimension d.
    pub dim: usize,
    /// Frequencies ω of the features sin(2π ω t), cos(2π ω t), drawn N(0, 16) once (fixed, not trained).
    pub frequencies: Vec<f64>,
    /// How the output is read.
    pub output: Output,
    /// The SDE the model serves.
    pub sde: Sde,
    /// The earliest time ε of its interval [ε, T]: training draws t there, samplers end there, the likelihood
    /// starts there ([`super::time_span`]); `None`: the SDE's default ([`Sde::time_range`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t_min: Option<f64>,
    /// The map from data to model coordinates (`None`: the identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standardization: Option<crate::data::Standardization>,
}

impl TimeModel {
    /// Check a model read from a file: its SDE, its interval, its network ([`Mlp::validate`]), at most 256
    /// Fourier frequencies of size at most [`MAX_FREQUENCY`], input width d + 2F and output width d, and its
    /// standardisation.
    pub fn validate(&self) -> Result<(), crate::ModelError> {
        let bad = |param, value: String, reason: String| crate::ModelError::BadParameter {
            param,
            value,
            reason,
        };
        self.sde.validate()?;
        if let Some(eps) = self.t_min {
            super::check_t_min(&self.sde, eps)?;
        }
        self.net.validate()?;
        let f = self.frequencies.len();
        if f > 256 {
            return Err(bad(
                "frequencies",
                format!("{f} of them"),
                "at most 256".into(),
            ));
        }
        if let Some(w) = self
            .frequencies
            .iter()
            .find(|w| w.is_nan() || w.abs() > MAX_FREQUENCY)
        {
            return Err(bad(
                "frequencies",
                w.to_string(),
                format!("each of size at most {MAX_FREQUENCY} (a feature that turns more often over [0, 1] is noise to the network and makes the ODE samplers and the likelihood crawl)"),
            ));
        }
        let w = &self.net.widths;
        if self.dim == 0 || w[0] != self.dim + 2 * f || w.last() != Some(&self.dim) {
            return Err(bad(
                "widths",
                format!("{w:?}"),
                format!(
                    "do not fit dimension {} with {f} Fourier pairs (input {}, output {})",
                    self.dim,
                    self.dim + 2 * f,
                    self.dim
                ),
            ));
        }
        if let Some(st) = &self.standardization {
            st.validate(self.dim)?;
        }
        Ok(())
    }

    /// A model for d-dimensional data: F = 16 Fourier pairs, hidden widths as given (at He's scale,
    /// [`Mlp::new`]), SiLU; an error for d = 0,
    /// a hidden width of 0, or sizes beyond [`crate::nn::limits`].
    pub fn new<R: Rng + ?Sized>(
        dim: usize,
        hidden: &[usize],
        output: Output,
        sde: Sde,
        rng: &mut R,
    ) -> Result<Self, crate::ModelError> {
        Self::build(dim, hidden, Activation::Silu, output, sde, rng)
    }

    /// [`TimeModel::new`] with another activation.
    pub fn build<R: Rng + ?Sized>(
        dim: usize,
        hidden: &[usize],
        activation: Activation,
        output: Output,
        sde: Sde,
        rng: &mut R,
    ) -> Result<Self, crate::ModelError> {
        crate::nn::check_widths(dim, hidden, dim)?;
        let f = 16;
        let frequencies = (0..f)
            .map(|_| 4.0 * rng.sample::<f64, _>(StandardNormal))
            .collect();
        let mut widths = vec![dim + 2 * f];
        widths.extend_from_slice(hidden);
        widths.push(dim);
        Ok(TimeModel {
            net: Mlp::new(&widths, activation, rng),
            dim,
            frequencies,
            output,
            sde,
            t_min: None,
            standardization: None,
        })
    }

    /// The same model on the interval [`t_min`, T] ([`TimeModel::t_min`]); an error unless [`super::MIN_T`] ≤ ε ≤ T/2.
    ///
    /// ```
    /// use rand::SeedableRng;
    /// use stein_models::diffusion::net::{Output, TimeModel};
    /// use stein_models::diffusion::{time_span, Sde};
    ///
    /// let sde = Sde::vp(0.1, 20.0).unwrap();
    /// let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
    /// let model = TimeModel::new(2, &[16], Output::Noise, sde, &mut rng).unwrap().with_t_min(1e-3).unwrap();
    /// assert_eq!(time_span(&model, &sde), (1e-3, 1.0));
    /// assert!(TimeModel::new(2, &[16], Output::Noise, sde, &mut rng).unwrap().with_t_min(0.0).is_err());
    /// assert!(TimeModel::new(0, &[16], Output::Noise, sde, &mut rng).is_err());
    /// ```
    pub fn with_t_min(mut self, t_min: f64) -> Result<Self, crate::ModelError> {
        super::check_t_min(&self.sde, t_min)?;
        self.t_min = Some(t_min);
        Ok(self)
    }

    /// How the score is read from the network at time t: s(x, t) = `skip`·x + `out`·F(`input`·x, t), F the
    /// network ([`Output`] says which).
    pub fn readout(&self, t: f64) -> Readout {
        let (alpha, sigma) = (self.sde.alpha(t), self.sde.sigma(t));
        match self.output {
            Output::Score => Readout {
                input: 1.0,
                skip: 0.0,
                out: 1.0,
            },
            Output::Noise => Readout {
                input: 1.0,
                skip: 0.0,
                out: -1.0 / sigma,
            },
            Output::Denoised => {
                // EDM in the frame x̃ = x/α: D = c_skip x̃ + c_out F(c_in x̃), s = (α D − x)/σ²; with
                // r² = α² + σ²: c_in/α = 1/r, (c_skip − 1)/σ² = −1/r², α c_out/σ² = α/(σ r)
                let r2 = alpha * alpha + sigma * sigma;
                Readout {
                    input: 1.0 / r2.sqrt(),
                    skip: -1.0 / r2,
                    out: alpha / (sigma * r2.sqrt()),
                }
            }
            Output::Velocity => {
                // s = 2 (a x − F) / g²
                let (a, g2) = (self.sde.drift(t), self.sde.diffusion(t).powi(2));
                Readout {
                    input: 1.0,
                    skip: 2.0 * a / g2,
                    out: -2.0 / g2,
                }
            }
        }
    }

    /// The Fourier features [sin | cos](2π ω t) of time t into `row` (2F values).
    pub fn fourier_into(&self, t: f64, row: &mut [f64]) {
        let f = self.frequencies.len();
        let two_pi = 2.0 * std::f64::consts::PI;
        for (k, w) in self.frequencies.iter().enumerate() {
            let a = two_pi * w * t;
            (row[k], row[f + k]) = (a.sin(), a.cos());
        }
    }

    /// The score s(x, t) on the tape: `x` is `B × d`, `t` one time per row. The result stays differentiable in
    /// the parameters `p` and in `x`.
    pub fn score<'t>(&self, tape: &'t Tape, p: &[TVar<'t>], x: TVar<'t>, t: &[f64]) -> TVar<'t> {
        let b = x.rows();
        assert_eq!(
            t.len(),
            b,
            "TimeModel::score: {} times for {b} rows",
            t.len()
        );
        // [sin | cos](2π ω t) of every row, computed once per distinct time (a sampler's batch shares one)
        let f = self.frequencies.len();
        let mut fourier = Tensor::zeros(b, 2 * f);
        for i in 0..b {
            let (done, row) = fourier.data_mut().split_at_mut(i * 2 * f);
            let row = &mut row[..2 * f];
            if i > 0 && t[i] == t[i - 1] {
                row.copy_from_slice(&done[(i - 1) * 2 * f..]);
            } else {
                self.fourier_into(t[i], row);
            }
        }
        let fourier = tape.tensor_const(&fourier);
        let net = |input: TVar<'t>| self.net.forward(p, TVar::concat(&[input, fourier], 1));
        if self.output == Output::Score {
            return net(x);
        }
        let r: Vec<Readout> = t.iter().map(|&t| self.readout(t)).collect();
        let column =
            |f: fn(&Readout) -> f64| tape.tensor_const(&Tensor::from_fn(b, 1, |i, _| f(&r[i])));
        match self.output {
            Output::Denoised => {
                x * column(|r| r.skip) + net(x * column(|r| r.input)) * column(|r| r.out)
            }
            Output::Velocity => x * column(|r| r.skip) + net(x) * column(|r| r.out),
            Output::Score | Output::Noise => net(x) * column(|r| r.out),
        }
    }
}

/// The coefficients of [`TimeModel::readout`] at one time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Readout {
    /// The scale of the point fed to the network.
    pub input: f64,
    /// The coefficient of the point in the score.
    pub skip: f64,
    /// The coefficient of the network's output in the score.
    pub out: f64,
}

impl TimeModel {
    /// Run `f(tape, score)` with the score of the rows of `x` at time `t` on a pooled tape: parameters as
    /// constants, `x` differentiable when `grad_x` (for divergences) and constant otherwise. `f` gets `x`'s
    /// variable too.
    fn on_tape<R>(
        &self,
        x: &Tensor,
        t: f64,
        grad_x: bool,
        f: impl FnOnce(&Tape, TVar<'_>, TVar<'_>) -> R,
    ) -> R {
        let times = vec![t; x.rows()];
        stein_autodiff::with_tape(|tape| {
            let p: Vec<TVar> = self
                .net
                .params
                .iter()
                .map(|w| tape.tensor_const(w))
                .collect();
            let xv = if grad_x {
                tape.tensor(x)
            } else {
                tape.tensor_const(x)
            };
            let s = self.score(tape, &p, xv, &times);
            f(tape, xv, s)
        })
    }
}

/// The most rows per block of a batch evaluation: a block's GEMMs run on one core with its tensors in that
/// core's cache, and blocks go to the cores in parallel (5,000 × 128 → 128: 384-row blocks took 2.8 ms, one
/// 5,000-row block with parallel GEMMs 9.0 ms, 64-row blocks 3.6 ms here).
const BLOCK_ROWS: usize = 384;

/// Rows per block for `n` rows: at most [`BLOCK_ROWS`], in a multiple of the pool's threads of blocks so each
/// gets the same share. Each row's values do not depend on the blocks (a GEMM row's sums run over k in one
/// order whatever the rows beside it), so neither do the results on the thread count.
pub(crate) fn block_rows(n: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let blocks = threads * n.div_ceil(threads * BLOCK_ROWS).max(1);
    n.div_ceil(blocks).max(1)
}

/// Evaluate `f(first row, block of x, rows of out)` over blocks of rows of `x` ([`block_rows`]), in
/// parallel; `out` holds `width` values per row. A row's values do not depend on its block, so results do
/// not depend on the thread count.
pub(crate) fn blocked(
    x: &Tensor,
    width: usize,
    out: &mut [f64],
    f: impl Fn(usize, &[f64], &mut [f64]) + Sync,
) {
    use rayon::prelude::*;
    let (d, rows) = (x.cols().max(1), block_rows(x.rows()));
    out.par_chunks_mut(rows * width.max(1))
        .zip(x.data().par_chunks(rows * d))
        .enumerate()
        .for_each(|(k, (o, xb))| f(k * rows, xb, o));
}

/// Rows of `d` values as a tensor of their own.
fn block(xb: &[f64], d: usize) -> Tensor {
    Tensor::new(xb.len() / d.max(1), d, xb.to_vec()).expect("rows × d")
}

impl TimeScore for TimeModel {
    fn dim(&self) -> usize {
        self.dim
    }

    fn score_at(&self, x: &Tensor, t: f64, out: &mut Tensor) {
        super::check_score_args("TimeModel::score_at", x, self.dim, t);
        assert!(
            self.output == Output::Score || self.sde.sigma(t) > 0.0,
            "TimeModel::score_at: t = {t} has σ(t) = 0, where a network read as {:?} has no score (use t ≥ ε = {})",
            self.output,
            super::time_span(self, &self.sde).0
        );
        out.set_zeros(x.rows(), x.cols());
        blocked(x, x.cols(), out.data_mut(), |_, xb, o| {
            self.on_tape(&block(xb, self.dim), t, false, |_, _, s| {
                let mut v = Tensor::zeros(0, 0);
                s.value_into(&mut v);
                o.copy_from_slice(v.data());
            })
        });
    }

    fn t_min(&self) -> Option<f64> {
        self.t_min
    }
}

impl super::likelihood::TimeDivergence for TimeModel {
    fn divergence_at(&self, x: &Tensor, t: f64, out: &mut [f64]) {
        blocked(x, 1, out, |_, xb, out| {
            self.on_tape(&block(xb, self.dim), t, true, |tape, xv, s| {
                out.iter_mut().for_each(|o| *o = 0.0);
                // rows are independent: ∂/∂x_{·j} of Σᵢ s_{ij} holds ∂s_{ij}/∂x_{ij} in row i, column j
                for j in 0..self.dim {
                    let g = tape.grad_tensors(s.slice_cols(j, 1).sum(), &[xv]).remove(0);
                    out.iter_mut()
                        .enumerate()
                        .for_each(|(i, o)| *o += g.get(i, j));
                }
            })
        });
    }

    fn probe_at(&self, x: &Tensor, t: f64, z: &Tensor, out: &mut [f64]) {
        blocked(x, 1, out, |first, xb, out| {
            let xb = block(xb, self.dim);
            let zb = crate::shard::rows_of(z, first, first + xb.rows());
            self.on_tape(&xb, t, true, |tape, xv, s| {
                let g = tape
                    .grad_tensors((s * tape.tensor_const(&zb)).sum(), &[xv])
                    .remove(0);
                out.iter_mut().enumerate().for_each(|(i, o)| {
                    *o = g
                        .row_slice(i)
                        .iter()
                        .zip(zb.row_slice(i))
                        .map(|(a, b)| a * b)
                        .sum();
                });
            })
        });
    }
}
