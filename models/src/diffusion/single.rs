//! A time-conditional model evaluated in single precision ([`crate::nn::single`]): the sampler's score over
//! thousands of particles a step, and the training loss's gradient — the parameters stay f64 (the optimiser
//! keeps them and its moments there), the passes run in f32.
//!
//! All particles of a sampler step share one time, so the Fourier features of t are constant for the whole
//! batch: their product with the first layer's weights is folded into its bias once per step, and the
//! first GEMM multiplies only the d coordinates of each point (2 of 34 inputs in T11).
//!
//! ```
//! use rand::SeedableRng;
//! use stein_autodiff::Tensor;
//! use stein_models::diffusion::{net::{Output, TimeModel}, single::TimeModel32, Sde, TimeScore};
//!
//! let sde = Sde::vp(0.1, 20.0).unwrap();
//! let model = TimeModel::new(2, &[32, 32], Output::Noise, sde, &mut rand::rngs::SmallRng::seed_from_u64(0)).unwrap();
//! let fast = TimeModel32::new(&model);
//! let x = Tensor::from_fn(100, 2, |i, j| (i as f64 * 0.1 + j as f64).sin());
//! let (mut a, mut b) = (Tensor::zeros(0, 0), Tensor::zeros(0, 0));
//! model.score_at(&x, 0.5, &mut a);
//! fast.score_at(&x, 0.5, &mut b);
//! for (u, v) in a.data().iter().zip(b.data()) {
//!     assert!((u - v).abs() < 1e-4 * (1.0 + u.abs()));
//! }
//! ```

use super::likelihood::TimeDivergence;
use super::net::{block_rows, blocked, Readout, TimeModel};
use super::TimeScore;
use crate::nn::single::{Mlp32, Work};
use crate::nn::vmath32::fourier;
use crate::objective::diffusion::Weighting;
use std::cell::RefCell;
use stein_autodiff::Tensor;

/// A [`TimeModel`] with its network in f32, for sampling ([`TimeScore`]) and training steps.
#[derive(Clone, Debug)]
pub struct TimeModel32 {
    /// The model it was made from: its dimension, features, SDE and output reading (its f64 parameters are
    /// not read: `net` holds the parameters in use).
    model: TimeModel,
    net: Mlp32,
}

/// Each thread's buffers: the passes', the f32 input rows and the network's output.
#[derive(Default)]
struct Buffers {
    work: Work,
    input: Vec<f32>,
    output: Vec<f32>,
    grads: Vec<Vec<f32>>,
    /// Directions and tangents of [`Mlp32::jvp`].
    dirs: Vec<f32>,
    tangents: Vec<f32>,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

impl TimeModel32 {
    /// `model` with its parameters rounded to f32.
    pub fn new(model: &TimeModel) -> Self {
        TimeModel32 {
            model: model.clone(),
            net: Mlp32::new(&model.net),
        }
    }

    /// Take the parameters of `model` (after an optimiser step). Panics if its network's widths differ (a
    /// programmer error).
    pub fn refresh(&mut self, model: &TimeModel) {
        self.net.refresh(&model.net);
    }

    /// The first layer's bias with the Fourier features of `t` folded in: b₀ + Σₖ fₖ(t) W₀[d + k, ·], from
    /// the f32 parameters, summed in f64.
    fn folded_bias(&self, t: f64) -> Vec<f32> {
        let d = self.model.dim;
        let mut features = vec![0.0; 2 * self.model.frequencies.len()];
        self.model.fourier_into(t, &mut features);
        let (w0, b0) = self.net.first_layer();
        let n = b0.len();
        (0..n)
            .map(|o| {
                let fold: f64 = features
                    .iter()
                    .enumerate()
                    .map(|(k, f)| f * w0[(d + k) * n + o] as f64)
                    .sum();
                (b0[o] as f64 + fold) as f32
            })
            .collect()
    }

    /// The mean weighted denoising loss of rows `x0` at times `t` with noise `z` and its gradient in the
    /// parameters (the shapes of [`crate::nn::Mlp::params`]): [`crate::objective::diffusion::loss`] in f32.
    pub fn denoising_loss_grad(
        &self,
        x0: &Tensor,
        t: &[f64],
        z: &Tensor,
        weighting: Weighting,
    ) -> (f64, Vec<Tensor>) {
        let m = &self.model;
        let (b, d) = x0.shape();
        let (f, width) = (m.frequencies.len(), m.net.input_dim());
        assert!(
            t.len() == b && z.shape() == (b, d),
            "denoising_loss_grad: {b} rows, {} times, noise {:?}",
            t.len(),
            z.shape()
        );
        BUFFERS.with(|buffers| {
            let bufs = &mut *buffers.borrow_mut();
            let (xt, coefficients) = crate::objective::diffusion::noised(&m.sde, x0, t, z);
            let readouts: Vec<_> = t.iter().map(|&t| m.readout(t)).collect();
            bufs.input.resize(b * width, 0.0);
            let rows = bufs
                .input
                .chunks_exact_mut(width)
                .zip(xt.data().chunks_exact(d));
            for (i, (row, x)) in rows.enumerate() {
                let scale = readouts[i].input;
                row.iter_mut()
                    .zip(x)
                    .for_each(|(r, &x)| *r = (scale * x) as f32);
                fourier(&m.frequencies, t[i], &mut row[d..d + 2 * f]);
            }
            bufs.output.resize(b * d, 0.0);
            self.net
                .forward(&bufs.input, width, None, &mut bufs.output, &mut bufs.work);
            // λ‖s + z/σ‖² = w ‖σ s + z‖², s = skip x + out F: the residual ρ = σ(skip x + out F) + z, and
            // ∂/∂F = 2 w σ out ρ / B
            let mut loss = 0.0;
            let rows = bufs
                .output
                .chunks_exact_mut(d)
                .zip(xt.data().chunks_exact(d))
                .zip(z.data().chunks_exact(d));
            for (i, ((out, x), z)) in rows.enumerate() {
                let (r, sigma, w) = (
                    readouts[i],
                    coefficients[i].1,
                    weighting.weight(&m.sde, t[i]),
                );
                for ((o, x), z) in out.iter_mut().zip(x).zip(z) {
                    let rho = sigma * (r.skip * x + r.out * *o as f64) + z;
                    loss += w * rho * rho;
                    *o = (2.0 * w * sigma * r.out * rho / b as f64) as f32;
                }
            }
            let Buffers {
                work,
                input,
                output,
                grads,
                ..
            } = bufs;
            self.net.backward(input, output, work, grads);
            let shaped = m.net.params.iter().zip(grads.iter());
            let grads = shaped
                .map(|(p, g)| {
                    Tensor::new(p.rows(), p.cols(), g.iter().map(|&v| v as f64).collect())
                        .expect("parameter shape")
                })
                .collect();
            (loss / b as f64, grads)
        })
    }
}

impl TimeModel32 {
    /// The score at the rows of `x` into `score` and, from the same pass, one number a row into `out`:
    /// the network runs (in blocks, in parallel) with its derivative along `m` directions a row ([`Mlp32::jvp`]);
    /// `fill(first, rows, dirs)` writes a block's directions (m blocks of `rows × d`; `first` is the block's
    /// first row in `x`), and `read(r, row, i, rows, tangents)` makes row `i` of the block (row `row` of `x`)
    /// its number from the readout `r` and the block's tangents.
    #[allow(clippy::too_many_arguments)]
    fn with_tangents(
        &self,
        x: &Tensor,
        t: f64,
        m: usize,
        score: &mut Tensor,
        out: &mut [f64],
        fill: impl Fn(usize, usize, &mut [f32]) + Sync,
        read: impl Fn(&Readout, usize, usize, usize, &[f32]) -> f64 + Sync,
    ) {
        let d = self.model.dim;
        let (r, bias) = (self.model.readout(t), self.folded_bias(t));
        score.set_zeros(x.rows(), d);
        // each block writes [its score rows | its numbers] into one slice: both from one pass
        let mut both = vec![0.0; x.rows() * (d + 1)];
        blocked(x, d + 1, &mut both, |first, xb, o| {
            BUFFERS.with(|buffers| {
                let bufs = &mut *buffers.borrow_mut();
                let rows = xb.len() / d;
                bufs.input.clear();
                bufs.input.extend(xb.iter().map(|&v| (r.input * v) as f32));
                bufs.output.resize(xb.len(), 0.0);
                bufs.dirs.resize(m * rows * d, 0.0);
                bufs.tangents.resize(m * rows * d, 0.0);
                fill(first, rows, &mut bufs.dirs);
                self.net.jvp(
                    &bufs.input,
                    d,
                    Some(&bias),
                    &bufs.dirs,
                    &mut bufs.output,
                    &mut bufs.tangents,
                    &mut bufs.work,
                );
                let (s, numbers) = o.split_at_mut(rows * d);
                for ((s, &x), &f) in s.iter_mut().zip(xb).zip(&bufs.output) {
                    *s = r.skip * x + r.out * f as f64;
                }
                for (i, v) in numbers.iter_mut().enumerate() {
                    *v = read(&r, first + i, i, rows, &bufs.tangents);
                }
            })
        });
        let block = block_rows(x.rows());
        for (k, chunk) in both.chunks(block * (d + 1)).enumerate() {
            let n = chunk.len() / (d + 1);
            let first = k * block;
            score.data_mut()[first * d..(first + n) * d].copy_from_slice(&chunk[..n * d]);
            out[first..first + n].copy_from_slice(&chunk[n * d..]);
        }
    }
}

/// The divergence and the probes in forward mode, in f32: tr ∇ₓs = d·skip + out·input·Σⱼ ∂fⱼ/∂uⱼ for the
/// score s = skip·x + out·f(input·x) of the [`Readout`].
impl TimeDivergence for TimeModel32 {
    fn divergence_at(&self, x: &Tensor, t: f64, out: &mut [f64]) {
        let mut score = Tensor::zeros(0, 0);
        self.score_and_divergence_at(x, t, &mut score, out);
    }

    fn probe_at(&self, x: &Tensor, t: f64, z: &Tensor, out: &mut [f64]) {
        let d = self.model.dim;
        let mut score = Tensor::zeros(0, 0);
        self.with_tangents(
            x,
            t,
            1,
            &mut score,
            out,
            |first, rows, dirs| {
                for (v, &zv) in dirs
                    .iter_mut()
                    .zip(&z.data()[first * d..(first + rows) * d])
                {
                    *v = zv as f32;
                }
            },
            |r, row, i, _, tangents| {
                let z = z.row_slice(row);
                let zz: f64 = z.iter().map(|v| v * v).sum();
                let zjz: f64 = z
                    .iter()
                    .zip(&tangents[i * d..(i + 1) * d])
                    .map(|(a, &b)| a * b as f64)
                    .sum();
                r.skip * zz + r.out * r.input * zjz
            },
        );
    }

    fn score_and_divergence_at(&self, x: &Tensor, t: f64, score: &mut Tensor, div: &mut [f64]) {
        let d = self.model.dim;
        self.with_tangents(
            x,
            t,
            d,
            score,
            div,
            |_, rows, dirs| {
                // direction j of every row is the axis eⱼ
                dirs.iter_mut().for_each(|v| *v = 0.0);
                for j in 0..d {
                    for i in 0..rows {
                        dirs[(j * rows + i) * d + j] = 1.0;
                    }
                }
            },
            |r, _, i, rows, tangents| {
                let tr: f64 = (0..d)
                    .map(|j| tangents[(j * rows + i) * d + j] as f64)
                    .sum();
                d as f64 * r.skip + r.out * r.input * tr
            },
        );
    }
}

impl TimeScore for TimeModel32 {
    fn dim(&self) -> usize {
        self.model.dim
    }

    fn score_at(&self, x: &Tensor, t: f64, out: &mut Tensor) {
        let d = self.model.dim;
        let (r, bias) = (self.model.readout(t), self.folded_bias(t));
        out.set_zeros(x.rows(), x.cols());
        blocked(x, d, out.data_mut(), |_, xb, o| {
            BUFFERS.with(|buffers| {
                let bufs = &mut *buffers.borrow_mut();
                bufs.input.clear();
                bufs.input.extend(xb.iter().map(|&v| (r.input * v) as f32));
                bufs.output.resize(xb.len(), 0.0);
                self.net.predict(
                    &bufs.input,
                    d,
                    Some(&bias),
                    &mut bufs.output,
                    &mut bufs.work,
                );
                for ((o, &x), &f) in o.iter_mut().zip(xb).zip(&bufs.output) {
                    *o = r.skip * x + r.out * f as f64;
                }
            })
        });
    }

    fn t_min(&self) -> Option<f64> {
        self.model.t_min
    }
}

#[cfg(test)]
mod tests {
    use super::super::net::Output;
    use super::super::Sde;
    use super::*;
    use rand::SeedableRng;

    /// Scores and loss gradients in f32 agree with the tape's f64 ones, for every output reading and
    /// weighting, and the scores do not depend on the thread count.
    #[test]
    fn agrees_with_the_tape() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(5);
        let sde = Sde::vp(0.1, 20.0).unwrap();
        for output in [
            Output::Score,
            Output::Noise,
            Output::Denoised,
            Output::Velocity,
        ] {
            let model = TimeModel::new(2, &[48, 48], output, sde, &mut rng).unwrap();
            let fast = TimeModel32::new(&model);
            let x = Tensor::from_fn(1000, 2, |i, j| 3.0 * ((i * 2 + j) as f64 * 0.37).sin());
            for t in [1e-3, 0.3, 1.0] {
                let (mut a, mut b) = (Tensor::zeros(0, 0), Tensor::zeros(0, 0));
                model.score_at(&x, t, &mut a);
                fast.score_at(&x, t, &mut b);
                let scale = a.data().iter().fold(1.0f64, |m, v| m.max(v.abs()));
                for (u, v) in a.data().iter().zip(b.data()) {
                    assert!((u - v).abs() < 1e-5 * scale, "{output:?} t {t}: {u} vs {v}");
                }
                let one = rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .build()
                    .unwrap();
                let mut c = Tensor::zeros(0, 0);
                one.install(|| fast.score_at(&x, t, &mut c));
                assert_eq!(b, c, "thread count changed the scores");
            }
            let x0 = Tensor::from_fn(64, 2, |i, j| ((i + 5 * j) as f64).cos() * 2.0);
            let z = Tensor::from_fn(64, 2, |i, j| ((3 * i + j) as f64 * 0.9).sin());
            let t: Vec<f64> = (0..64).map(|i| 1e-3 + i as f64 / 64.0).collect();
            for weighting in [Weighting::Simple, Weighting::Likelihood] {
                let (want, grads) = stein_autodiff::with_tape(|tape| {
                    let p = model.net.lift(tape);
                    let l =
                        crate::objective::diffusion::loss(&model, tape, &p, &x0, &t, &z, weighting);
                    (l.value(), tape.grad_tensors(l, &p))
                });
                let (got, mine) = fast.denoising_loss_grad(&x0, &t, &z, weighting);
                assert!(
                    (got - want).abs() < 1e-5 * want.abs(),
                    "{output:?} loss {got} vs {want}"
                );
                for (g, h) in mine.iter().zip(&grads) {
                    let scale = h.data().iter().fold(1e-3f64, |m, v| m.max(v.abs()));
                    for (u, v) in g.data().iter().zip(h.data()) {
                        assert!(
                            (u - v).abs() < 1e-4 * scale,
                            "{output:?} {weighting:?} gradient {u} vs {v}"
                        );
                    }
                }
            }
        }
    }

    /// The divergence and probes in forward mode (f32) agree with the tape's reverse mode (f64), for every
    /// output reading, at times from t_min to 1 and over more rows than one block; the score returned beside
    /// the divergence is `score_at`'s bit for bit; and the likelihood through the ODE agrees to 10⁻³ nats.
    #[test]
    fn divergences_agree_with_the_tape() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(6);
        let sde = Sde::vp(0.1, 20.0).unwrap();
        for output in [
            Output::Score,
            Output::Noise,
            Output::Denoised,
            Output::Velocity,
        ] {
            let model = TimeModel::new(2, &[48, 48, 48], output, sde, &mut rng).unwrap();
            let fast = TimeModel32::new(&model);
            let x = Tensor::from_fn(1500, 2, |i, j| 2.0 * ((i * 2 + j) as f64 * 0.37).sin());
            let z = Tensor::from_fn(1500, 2, |i, j| ((3 * i + j) as f64 * 0.9).cos());
            for t in [1e-3, 0.05, 0.3, 1.0] {
                let (mut a, mut b) = (vec![0.0; 1500], vec![0.0; 1500]);
                model.divergence_at(&x, t, &mut a);
                let mut score = Tensor::zeros(0, 0);
                fast.score_and_divergence_at(&x, t, &mut score, &mut b);
                let mut plain = Tensor::zeros(0, 0);
                fast.score_at(&x, t, &mut plain);
                assert_eq!(
                    score, plain,
                    "{output:?} t {t}: the score beside the divergence"
                );
                let scale = a.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                for (u, v) in a.iter().zip(&b) {
                    assert!(
                        (u - v).abs() < 1e-5 * scale,
                        "{output:?} t {t}: divergence {v} vs {u}"
                    );
                }
                model.probe_at(&x, t, &z, &mut a);
                fast.probe_at(&x, t, &z, &mut b);
                let scale = a.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                for (u, v) in a.iter().zip(&b) {
                    assert!(
                        (u - v).abs() < 1e-5 * scale,
                        "{output:?} t {t}: probe {v} vs {u}"
                    );
                }
            }
            let pts = Tensor::from_fn(40, 2, |i, j| ((i * 2 + j) as f64 * 0.61).sin());
            let tol = super::super::ode::Tolerance::default();
            let ll = |m: &dyn TimeDivergence| {
                super::super::likelihood::log_likelihood(
                    m,
                    &sde,
                    &pts,
                    super::super::likelihood::Divergence::Exact,
                    &tol,
                    0,
                )
                .unwrap()
                .nats
            };
            for (u, v) in ll(&model).iter().zip(ll(&fast)) {
                assert!(
                    (u - v).abs() < 1e-3,
                    "{output:?}: log-likelihood {v} vs {u}"
                );
            }
        }
    }
}
