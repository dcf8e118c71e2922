//! One training step — every random draw, then the loss's gradient over shards of rows — and what a run
//! computes once (the data's box, NCE's noise law).

use super::Trainer;
use crate::error::ModelError;
use crate::loss::{self, tile_rows, Loss};
use crate::shard::{rows_of, sharded};
use crate::train::TrainConfig;
use rand::rngs::SmallRng;
use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};
use stein_autodiff::{TVar, Tensor};
use stein_scores::{Analytic, MultivariateNormal, Sample};

impl Trainer {
    /// One loss and gradient evaluation; returns the loss, gradients in `grads` (network, then extras).
    /// Every random draw is taken first, in one order; then the loss, a mean over rows, is differentiated over
    /// shards of rows in parallel ([`crate::shard`]).
    pub(super) fn step_once(
        &mut self,
        ctx: &Context,
        config: &TrainConfig,
        rng: &mut SmallRng,
        grads: &mut Vec<Tensor>,
    ) -> f64 {
        let b = config.batch;
        let x = sample_rows(ctx.data, b, rng);
        let model = &self.model;
        // draws that depend on the loss (taken before recording, so the tape holds the computation only)
        let negatives = if let Loss::Cd {
            steps, step_size, ..
        } = &config.loss
        {
            let buf = self.buffer.get_or_insert_with(|| ctx.uniform(b, rng));
            if buf.rows() != b {
                // a run continued with another batch size: the chains, cycled to b rows (the loss is sharded
                // over the rows of the batch and of the negatives together)
                let old = buf.clone();
                *buf = Tensor::from_fn(b, old.cols(), |i, j| old.get(i % old.rows(), j));
            }
            // persistent chains, 5% restarted from noise each step
            let d = buf.cols();
            for i in 0..buf.rows() {
                if rng.random::<f64>() < 0.05 {
                    let fresh = ctx.uniform(1, rng);
                    buf.data_mut()[i * d..(i + 1) * d].copy_from_slice(fresh.data());
                }
            }
            // a score that is not finite at a negative shows as a NaN loss: the loop stops and says so
            let Ok(moved) = loss::langevin_negatives(model, buf, *steps, *step_size, rng) else {
                return f64::NAN;
            };
            *buf = moved.clone();
            Some(moved)
        } else {
            None
        };
        if matches!(config.loss, Loss::Nce) && self.extra.is_empty() {
            self.extra.push(("log_z".into(), Tensor::zeros(1, 1)));
        }
        let d = self.model.dim;
        let normal = |r: usize, c: usize, rng: &mut SmallRng| {
            Tensor::from_fn(r, c, |_, _| StandardNormal.sample(rng))
        };
        // the loss's inputs, one row per term of its mean
        let inputs: Vec<Tensor> = match &config.loss {
            Loss::Dsm { sigma } => vec![x, normal(b, d, rng), Tensor::full(b, 1, *sigma)],
            Loss::Ncsn { sigmas } => {
                let z = normal(b, d, rng);
                let s = Tensor::from_fn(b, 1, |_, _| sigmas[rng.random_range(0..sigmas.len())]);
                vec![x, z, s]
            }
            Loss::Ssm {
                projections,
                projection,
                ..
            } => {
                let xt = tile_rows(&x, *projections);
                let v = projection.draw(xt.rows(), xt.cols(), rng);
                vec![xt, v]
            }
            Loss::Ism => vec![x],
            Loss::IsmHutchinson { projections } => {
                let xt = tile_rows(&x, *projections);
                let v = crate::loss::Projection::Rademacher.draw(xt.rows(), xt.cols(), rng);
                vec![xt, v]
            }
            Loss::Nce => {
                let q = ctx.noise.as_ref().expect("fitted for NCE");
                let xn = Tensor::new(b, d, q.sample_n(rng, b).concat()).expect("b × dim");
                let lq = |t: &Tensor| {
                    Tensor::from_fn(t.rows(), 1, |i, _| {
                        q.log_pdf(t.row_slice(i)).expect("Gaussian")
                    })
                };
                let (lx, lxn) = (lq(&x), lq(&xn));
                vec![x, xn, lx, lxn]
            }
            Loss::Cd { .. } => vec![x, negatives.expect("drawn")],
        };
        let (model, extra) = (&self.model, &self.extra);
        let (value, g) = sharded(inputs[0].rows(), |lo, hi| {
            let part: Vec<Tensor> = inputs.iter().map(|t| rows_of(t, lo, hi)).collect();
            stein_autodiff::with_tape(|tape| {
                let p = model.net.lift(tape);
                let extra: Vec<TVar> = extra.iter().map(|e| tape.tensor(&e.1)).collect();
                let l = match &config.loss {
                    Loss::Dsm { .. } | Loss::Ncsn { .. } => {
                        loss::denoising(model, tape, &p, &part[0], &part[1], &part[2])
                    }
                    Loss::Ssm {
                        variance_reduced, ..
                    } => loss::sliced(model, tape, &p, &part[0], &part[1], *variance_reduced),
                    Loss::Ism => loss::implicit(model, tape, &p, &part[0]),
                    Loss::IsmHutchinson { .. } => {
                        loss::implicit_hutchinson(model, tape, &p, &part[0], &part[1])
                    }
                    Loss::Nce => loss::nce(
                        model, tape, &p, extra[0], &part[0], &part[1], &part[2], &part[3],
                    ),
                    Loss::Cd { alpha, .. } => {
                        loss::contrastive_divergence(model, tape, &p, &part[0], &part[1], *alpha)
                    }
                };
                let all: Vec<TVar> = p.iter().chain(&extra).copied().collect();
                (l.value(), tape.grad_tensors(l, &all))
            })
        });
        *grads = g;
        value
    }
}

/// What a run computes once: the data, and the fitted noise law for NCE.
pub(super) struct Context<'a> {
    data: &'a Tensor,
    noise: Option<MultivariateNormal>,
    lo: Vec<f64>,
    hi: Vec<f64>,
}

impl<'a> Context<'a> {
    pub(super) fn new(data: &'a Tensor, config: &TrainConfig) -> Result<Self, ModelError> {
        let (n, d) = data.shape();
        let mut lo = vec![f64::INFINITY; d];
        let mut hi = vec![f64::NEG_INFINITY; d];
        for i in 0..n {
            for (j, &v) in data.row_slice(i).iter().enumerate() {
                lo[j] = lo[j].min(v);
                hi[j] = hi[j].max(v);
            }
        }
        let noise = if matches!(config.loss, Loss::Nce) {
            // a Gaussian fitted to the data (mean and covariance, slightly inflated)
            let mean: Vec<f64> = (0..d)
                .map(|j| (0..n).map(|i| data.get(i, j)).sum::<f64>() / n as f64)
                .collect();
            let cov: Vec<Vec<f64>> = (0..d)
                .map(|a| {
                    (0..d)
                        .map(|b| {
                            let c = (0..n)
                                .map(|i| (data.get(i, a) - mean[a]) * (data.get(i, b) - mean[b]))
                                .sum::<f64>()
                                / (n - 1) as f64;
                            c * 1.2 + if a == b { 1e-6 } else { 0.0 }
                        })
                        .collect()
                })
                .collect();
            Some(MultivariateNormal::new(mean, cov)?)
        } else {
            None
        };
        Ok(Context {
            data,
            noise,
            lo,
            hi,
        })
    }

    /// Points uniform on the data's bounding box, widened by 20% (initial/restarted negatives).
    fn uniform(&self, n: usize, rng: &mut SmallRng) -> Tensor {
        Tensor::from_fn(n, self.lo.len(), |_, j| {
            let w = self.hi[j] - self.lo[j];
            self.lo[j] - 0.1 * w + rng.random::<f64>() * 1.2 * w
        })
    }
}

/// `b` rows drawn uniformly with replacement.
pub fn sample_rows<R: Rng + ?Sized>(data: &Tensor, b: usize, rng: &mut R) -> Tensor {
    let (n, d) = data.shape();
    let mut out = Vec::with_capacity(b * d);
    for _ in 0..b {
        let i = rng.random_range(0..n);
        out.extend_from_slice(data.row_slice(i));
    }
    Tensor::new(b, d, out).expect("b × d")
}
