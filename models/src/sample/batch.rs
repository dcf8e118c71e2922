//! Batched samplers for network targets: all chains advance together as the rows of one tensor, so each step
//! is one batched forward/backward pass instead of one per chain. Row r draws from the RNG of chain r, so the
//! result does not depend on the batch layout or thread count.
// Row r indexes the RNGs, the states and the scores together: an index reads better than zipped iterators.
#![allow(clippy::needless_range_loop)]

use super::{chain_rng, Method, SampleError};
use crate::nn::{Kind, Model};
use rand::rngs::SmallRng;
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};
use stein_autodiff::{with_tape, TVar, Tensor};

/// A target evaluated on a batch of points (`n × dim`).
pub trait BatchTarget: Sync {
    /// Dimension.
    fn dim(&self) -> usize;
    /// Scores of every row into `score`; log p of every row when the target has one.
    fn eval(&self, x: &Tensor, sigma: Option<f64>, score: &mut Tensor) -> Option<Vec<f64>>;
}

impl BatchTarget for Model {
    fn dim(&self) -> usize {
        self.dim
    }
    fn eval(&self, x: &Tensor, sigma: Option<f64>, score: &mut Tensor) -> Option<Vec<f64>> {
        with_tape(|t| {
            let p: Vec<TVar> = self.net.params.iter().map(|w| t.tensor_const(w)).collect();
            let xv = t.tensor(x);
            let s = match self.conditioning {
                crate::nn::Conditioning::None => None,
                _ => Some(t.tensor_const(&Tensor::full(x.rows(), 1, sigma.unwrap_or(1.0)))),
            };
            match self.kind {
                Kind::Energy => {
                    let e = self.energy_of(&p, xv, s);
                    let g = t.grad_tensors(e.sum(), &[xv]).remove(0);
                    score.assign(&g);
                    score.data_mut().iter_mut().for_each(|v| *v = -*v);
                    Some(e.value().data().iter().map(|v| -v).collect())
                }
                Kind::Score => {
                    self.score(t, &p, xv, s).value_into(score);
                    None
                }
            }
        })
    }
}

fn check_rows(
    what: &'static str,
    step: usize,
    x: &Tensor,
    score: &Tensor,
    lp: &Option<Vec<f64>>,
) -> Result<(), SampleError> {
    let d = x.cols();
    for r in 0..x.rows() {
        let bad_score = score.row_slice(r).iter().any(|v| !v.is_finite());
        let bad_lp = lp.as_ref().is_some_and(|l| l[r].is_nan());
        if bad_score || bad_lp {
            return Err(SampleError::NonFinite {
                chain: r,
                step,
                what: if bad_score { "score" } else { what },
                state: x.data()[r * d..(r + 1) * d].to_vec(),
            });
        }
    }
    Ok(())
}

/// Run `transitions` steps of ULA, MALA or HMC on every row of `init` (one chain per row) at noise level
/// `sigma` (for noise-conditional models). Returns the final states and the acceptance rate.
pub fn sample_batch<T: BatchTarget>(
    target: &T,
    method: &Method,
    init: &Tensor,
    transitions: usize,
    sigma: Option<f64>,
    seed: u64,
) -> Result<(Tensor, f64), SampleError> {
    // on a rayon worker, so the batched kernels' parallel splits are cheap
    stein_autodiff::on_pool(|| {
        let (n, d) = init.shape();
        let mut rngs: Vec<SmallRng> = (0..n).map(|r| chain_rng(seed, r)).collect();
        let mut x = init.clone();
        let mut s = Tensor::zeros(n, d);
        let mut lp = target.eval(&x, sigma, &mut s);
        check_rows("log-density", 0, &x, &s, &lp)?;
        if !matches!(method, Method::Ula { .. }) && lp.is_none() {
            return Err(SampleError::NeedsLogDensity {
                method: if matches!(method, Method::Mala { .. }) {
                    "MALA"
                } else {
                    "HMC"
                },
            });
        }
        let (mut accepted, mut proposed) = (0usize, 0usize);
        let mut sy = Tensor::zeros(n, d);
        for k in 0..transitions {
            match method {
                Method::Ula { step } => {
                    let h = step.sqrt();
                    for r in 0..n {
                        for i in 0..d {
                            let z: f64 = StandardNormal.sample(&mut rngs[r]);
                            x.data_mut()[r * d + i] += 0.5 * step * s.get(r, i) + h * z;
                        }
                    }
                    lp = target.eval(&x, sigma, &mut s);
                    check_rows("log-density", k + 1, &x, &s, &lp)?;
                }
                Method::Mala { step } => {
                    let h = step.sqrt();
                    let mut y = x.clone();
                    let mut zz = vec![0.0; n];
                    for r in 0..n {
                        for i in 0..d {
                            let z: f64 = StandardNormal.sample(&mut rngs[r]);
                            zz[r] += z * z;
                            y.data_mut()[r * d + i] += 0.5 * step * s.get(r, i) + h * z;
                        }
                    }
                    let lpy = target.eval(&y, sigma, &mut sy).expect("checked");
                    check_rows("log-density", k + 1, &y, &sy, &Some(lpy.clone()))?;
                    let lpx = lp.as_mut().expect("checked");
                    for r in 0..n {
                        let back: f64 = (0..d)
                            .map(|i| {
                                (x.get(r, i) - y.get(r, i) - 0.5 * step * sy.get(r, i)).powi(2)
                            })
                            .sum();
                        let log_alpha = lpy[r] - lpx[r] - back / (2.0 * step) + 0.5 * zz[r];
                        proposed += 1;
                        if rngs[r].random::<f64>().ln() < log_alpha {
                            accepted += 1;
                            lpx[r] = lpy[r];
                            x.data_mut()[r * d..(r + 1) * d].copy_from_slice(y.row_slice(r));
                            s.data_mut()[r * d..(r + 1) * d].copy_from_slice(sy.row_slice(r));
                        }
                    }
                }
                Method::Hmc { step, leapfrog, .. } => {
                    let mut p = Tensor::from_fn(n, d, |_, _| 0.0);
                    for r in 0..n {
                        for i in 0..d {
                            p.data_mut()[r * d + i] = StandardNormal.sample(&mut rngs[r]);
                        }
                    }
                    let kin = |p: &Tensor, r: usize| {
                        0.5 * p.row_slice(r).iter().map(|v| v * v).sum::<f64>()
                    };
                    let lpx = lp.clone().expect("checked");
                    let h0: Vec<f64> = (0..n).map(|r| -lpx[r] + kin(&p, r)).collect();
                    let mut y = x.clone();
                    sy.assign(&s);
                    let mut lpy = lpx.clone();
                    for _ in 0..*leapfrog {
                        for (pv, (yv, sv)) in p
                            .data_mut()
                            .iter_mut()
                            .zip(y.data_mut().iter_mut().zip(sy.data()))
                        {
                            *pv += 0.5 * step * sv;
                            *yv += step * *pv;
                        }
                        lpy = target.eval(&y, sigma, &mut sy).expect("checked");
                        for (pv, sv) in p.data_mut().iter_mut().zip(sy.data()) {
                            *pv += 0.5 * step * sv;
                        }
                    }
                    let lpm = lp.as_mut().expect("checked");
                    for r in 0..n {
                        let h1 = -lpy[r] + kin(&p, r);
                        proposed += 1;
                        let ok = (h1 - h0[r]).is_finite()
                            && sy.row_slice(r).iter().all(|v| v.is_finite());
                        if ok && rngs[r].random::<f64>() < (h0[r] - h1).exp() {
                            accepted += 1;
                            lpm[r] = lpy[r];
                            x.data_mut()[r * d..(r + 1) * d].copy_from_slice(y.row_slice(r));
                            s.data_mut()[r * d..(r + 1) * d].copy_from_slice(sy.row_slice(r));
                        }
                    }
                }
            }
        }
        let acc = if proposed == 0 {
            1.0
        } else {
            accepted as f64 / proposed as f64
        };
        Ok((x, acc))
    })
}

/// Annealed Langevin on a batch: `steps` ULA steps per level with αᵢ = ε σᵢ²/σ_L², starting from
/// N(0, σ₁² I); one chain per row (`n` rows).
pub fn annealed_batch<T: BatchTarget>(
    target: &T,
    sigmas: &[f64],
    steps: usize,
    eps: f64,
    n: usize,
    seed: u64,
) -> Result<Tensor, SampleError> {
    stein_autodiff::on_pool(|| {
        let d = target.dim();
        let last = *sigmas.last().ok_or(SampleError::BadParameter {
            param: "sigmas",
            reason: "an empty ladder".into(),
        })?;
        let mut rngs: Vec<SmallRng> = (0..n).map(|r| chain_rng(seed, r)).collect();
        let mut x = Tensor::zeros(n, d);
        for r in 0..n {
            for i in 0..d {
                let z: f64 = StandardNormal.sample(&mut rngs[r]);
                x.data_mut()[r * d + i] = sigmas[0] * z;
            }
        }
        let mut s = Tensor::zeros(n, d);
        let mut k = 0;
        for &sig in sigmas {
            let alpha = eps * sig * sig / (last * last);
            let h = alpha.sqrt();
            for _ in 0..steps {
                let lp = target.eval(&x, Some(sig), &mut s);
                k += 1;
                check_rows("log-density", k, &x, &s, &lp)?;
                for r in 0..n {
                    for i in 0..d {
                        let z: f64 = StandardNormal.sample(&mut rngs[r]);
                        x.data_mut()[r * d + i] += 0.5 * alpha * s.get(r, i) + h * z;
                    }
                }
            }
        }
        Ok(x)
    })
}
