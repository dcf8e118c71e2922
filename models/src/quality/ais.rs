//! log Z of an unnormalised density f by annealed importance sampling (Neal 2001): particles start at a
//! Gaussian q₀ fitted to the data and walk a geometric path π_β ∝ q₀^(1−β) f^β from β = 0 to 1 by MALA
//! moves that leave each π_β invariant; their weights Π_k (f/q₀)^(β_k − β_{k−1}) average to Z.
//!
//! The estimate Ẑ is unbiased, so log Ẑ is biased *low* (Jensen): an NLL = −log f + log Ẑ computed from it
//! errs on the optimistic side by about var(Ẑ)/(2Z²), which the standard error bounds when the effective
//! sample size is large. A small ESS says the path was too short for the target: [`LogZ::reliable`] is
//! false below 10% of the particles, and the readouts that use it say so.

use crate::sample::BatchTarget;
use crate::ModelError;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use stein_autodiff::Tensor;
use stein_scores::{Analytic, MultivariateNormal, Sample};

/// Settings of an AIS run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ais {
    /// Particles (1,000).
    pub particles: usize,
    /// Intermediate temperatures β of the path (500), spaced by a sigmoid in k (dense at both ends).
    pub temperatures: usize,
    /// MALA moves per temperature (2).
    pub moves: usize,
    /// Seed (0).
    pub seed: u64,
}

impl Default for Ais {
    fn default() -> Self {
        Ais {
            particles: 1000,
            temperatures: 500,
            moves: 2,
            seed: 0,
        }
    }
}

/// An AIS estimate of log Z.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogZ {
    /// log Ẑ.
    pub log_z: f64,
    /// Its standard error by the delta method, √(Σ(wᵢ/w̄ − 1)² / (N(N − 1))).
    pub se: f64,
    /// The effective sample size of the final weights, (Σw)²/Σw².
    pub ess: f64,
    /// Particles.
    pub particles: usize,
    /// The mean MALA acceptance rate over the path.
    pub acceptance: f64,
}

impl LogZ {
    /// Whether the estimate can be read at its standard error: an ESS of at least 10% of the particles.
    pub fn reliable(&self) -> bool {
        self.ess >= 0.1 * self.particles as f64
    }
}

/// The Gaussian q₀ of the path: the data's mean and covariance, the covariance inflated by 1.5² (a base a
/// little wider than the target keeps every region of it reachable) plus 10⁻⁶ I.
pub fn base_for(data: &Tensor) -> Result<MultivariateNormal, ModelError> {
    let (n, d) = data.shape();
    if n < 2 || d == 0 {
        return Err(ModelError::BadParameter {
            param: "data",
            value: format!("{n} × {d}"),
            reason: "fitting the base Gaussian needs at least 2 points".into(),
        });
    }
    let mean: Vec<f64> = (0..d)
        .map(|j| (0..n).map(|i| data.get(i, j)).sum::<f64>() / n as f64)
        .collect();
    let mut cov = vec![vec![0.0; d]; d];
    for i in 0..n {
        let x = data.row_slice(i);
        for a in 0..d {
            for b in 0..d {
                cov[a][b] += (x[a] - mean[a]) * (x[b] - mean[b]) / (n - 1) as f64;
            }
        }
    }
    for (a, row) in cov.iter_mut().enumerate() {
        row.iter_mut().for_each(|v| *v *= 2.25);
        row[a] += 1e-6;
    }
    Ok(MultivariateNormal::new(mean, cov)?)
}

/// β_k of a path of `k_max` temperatures: a sigmoid in k rescaled to run from 0 to 1 exactly.
fn beta(k: usize, k_max: usize) -> f64 {
    let s = |u: f64| 1.0 / (1.0 + (-8.0 * (u - 0.5)).exp());
    let u = k as f64 / k_max as f64;
    (s(u) - s(0.0)) / (s(1.0) - s(0.0))
}

/// log f and ∇ log f of every row of the particles, and log q₀ and its gradient.
struct Ends<'a, T: ?Sized> {
    target: &'a T,
    sigma: Option<f64>,
    base: &'a MultivariateNormal,
    log_norm: f64,
}

/// A batch of particles with log f, log q₀ and their gradients.
struct Particles {
    x: Tensor,
    lf: Vec<f64>,
    lq: Vec<f64>,
    gf: Tensor,
    gq: Tensor,
}

impl Particles {
    /// ∇ log π_β of row i into `out`.
    fn grad(&self, i: usize, beta: f64, out: &mut [f64]) {
        let (gf, gq) = (self.gf.row_slice(i), self.gq.row_slice(i));
        for ((o, a), b) in out.iter_mut().zip(gq).zip(gf) {
            *o = (1.0 - beta) * a + beta * b;
        }
    }
    /// log π_β of row i, up to its constant.
    fn log_pi(&self, i: usize, beta: f64) -> f64 {
        beta * self.lf[i] + (1.0 - beta) * self.lq[i]
    }
}

impl<T: BatchTarget + ?Sized> Ends<'_, T> {
    /// The particles at `x`, both ends evaluated.
    fn eval(&self, x: Tensor) -> Particles {
        let (n, d) = x.shape();
        let mut gf = Tensor::zeros(n, d);
        let lf = self
            .target
            .eval_batch(&x, self.sigma, &mut gf)
            .expect("a target with a log-density (checked)");
        let mut gq = Tensor::zeros(n, d);
        let lq: Vec<f64> = (0..n)
            .map(|i| {
                let row = &mut gq.data_mut()[i * d..(i + 1) * d];
                self.base.log_prob_and_score(x.row_slice(i), row) - self.log_norm
            })
            .collect();
        Particles { x, lf, lq, gf, gq }
    }
}

/// log Z of `target` (its log-density up to a constant, at noise level `sigma` for noise-conditional
/// networks) by AIS from `base` ([`base_for`] the data). Particles whose log f turns non-finite are
/// rejected moves (they stay where they were); an error for a target without a log-density, a base of
/// another dimension, settings of 0 or beyond 10⁶ particles × temperatures, or a final estimate that is
/// not finite.
///
/// ```
/// use stein_autodiff::Tensor;
/// use stein_models::quality::ais::{log_z, Ais};
/// use stein_models::sample::{Exact, Rows};
/// use stein_scores::MultivariateNormal;
///
/// // N(0, 2² I) in 2-D as an unnormalised density: log Z = log(2π · 4)
/// let p = MultivariateNormal::isotropic(vec![0.0, 0.0], 2.0).unwrap();
/// let base = MultivariateNormal::isotropic(vec![0.5, 0.0], 1.0).unwrap();
/// let z = log_z(&Rows(&Exact(&p)), None, &base, &Ais { particles: 400, temperatures: 100, ..Ais::default() }).unwrap();
/// let truth = (2.0 * std::f64::consts::PI * 4.0).ln();
/// assert!((z.log_z - truth).abs() < 4.0 * z.se + 1e-3, "{z:?} vs {truth}");
/// ```
pub fn log_z<T: BatchTarget + ?Sized>(
    target: &T,
    sigma: Option<f64>,
    base: &MultivariateNormal,
    opts: &Ais,
) -> Result<LogZ, ModelError> {
    let d = target.dim();
    let bad = |param, value: String, reason: &str| ModelError::BadParameter {
        param,
        value,
        reason: reason.into(),
    };
    if !target.has_log_density() {
        return Err(bad(
            "target",
            "a score".into(),
            "AIS needs a log-density (an energy model)",
        ));
    }
    if stein_scores::LogDensity::dim(base) != d {
        return Err(bad(
            "base",
            format!("dimension {}", stein_scores::LogDensity::dim(base)),
            "must have the target's dimension",
        ));
    }
    let (n, k_max) = (opts.particles, opts.temperatures);
    if n < 2 || k_max == 0 || opts.moves == 0 || n.saturating_mul(k_max) > 1_000_000_000 {
        return Err(bad(
            "ais",
            format!("{n} particles, {k_max} temperatures, {} moves", opts.moves),
            "need at least 2 particles, 1 temperature and 1 move, and particles × temperatures ≤ 10⁹",
        ));
    }
    let ends = Ends {
        target,
        sigma,
        base,
        log_norm: base.log_normalizer().unwrap_or(0.0),
    };
    let mut rng = SmallRng::seed_from_u64(opts.seed);
    let mut x = Tensor::zeros(n, d);
    for i in 0..n {
        base.sample_into(&mut rng, &mut x.data_mut()[i * d..(i + 1) * d]);
    }
    let mut cur = ends.eval(x);
    let mut log_w = vec![0.0; n];
    // MALA's step from the base's scale (proposal sd √(2h) ≈ σ d^(−1/6)), then adapted after every move
    // toward an acceptance of 0.57 (the target's own scale is usually finer than the base's)
    let mut h = 0.5 * base_sd(base).powi(2) / (d as f64).cbrt();
    let (mut accepted, mut proposed) = (0usize, 0usize);
    let (mut gx, mut gp) = (vec![0.0; d], vec![0.0; d]);
    for k in 1..=k_max {
        let (b0, b1) = (beta(k - 1, k_max), beta(k, k_max));
        for (i, w) in log_w.iter_mut().enumerate() {
            let inc = (b1 - b0) * (cur.lf[i] - cur.lq[i]);
            *w += if inc.is_finite() {
                inc
            } else {
                f64::NEG_INFINITY
            };
        }
        for _ in 0..opts.moves {
            // MALA: x' = x + h ∇log π + √(2h) z
            let mut prop = Tensor::zeros(n, d);
            for i in 0..n {
                cur.grad(i, b1, &mut gx);
                let (xr, pr) = (cur.x.row_slice(i), &mut prop.data_mut()[i * d..(i + 1) * d]);
                for ((p, x), g) in pr.iter_mut().zip(xr).zip(&gx) {
                    let z: f64 = rng.sample(StandardNormal);
                    *p = x + h * g + (2.0 * h).sqrt() * z;
                }
            }
            let new = ends.eval(prop);
            let mut acc_here = 0;
            for i in 0..n {
                cur.grad(i, b1, &mut gx);
                new.grad(i, b1, &mut gp);
                let (xr, pr) = (cur.x.row_slice(i), new.x.row_slice(i));
                // log q(x | x') − log q(x' | x) of the Langevin proposal
                let fwd: f64 = pr
                    .iter()
                    .zip(xr)
                    .zip(&gx)
                    .map(|((p, x), g)| (p - x - h * g).powi(2))
                    .sum();
                let back: f64 = xr
                    .iter()
                    .zip(pr)
                    .zip(&gp)
                    .map(|((x, p), g)| (x - p - h * g).powi(2))
                    .sum();
                let log_a = new.log_pi(i, b1) - cur.log_pi(i, b1) + (fwd - back) / (4.0 * h);
                if !log_a.is_nan() && rng.random::<f64>().ln() < log_a {
                    acc_here += 1;
                    let r = i * d..(i + 1) * d;
                    cur.x.data_mut()[r.clone()].copy_from_slice(&new.x.data()[r.clone()]);
                    cur.gf.data_mut()[r.clone()].copy_from_slice(&new.gf.data()[r.clone()]);
                    cur.gq.data_mut()[r.clone()].copy_from_slice(&new.gq.data()[r]);
                    cur.lf[i] = new.lf[i];
                    cur.lq[i] = new.lq[i];
                }
            }
            accepted += acc_here;
            proposed += n;
            let rate = acc_here as f64 / n as f64;
            h *= (1.0 + rate - 0.57).clamp(0.7, 1.3);
        }
    }
    let m = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return Err(bad(
            "ais",
            format!("{m}"),
            "every particle's weight vanished: the target has no mass where the base has",
        ));
    }
    let w: Vec<f64> = log_w.iter().map(|l| (l - m).exp()).collect();
    let (sum, sum2) = (w.iter().sum::<f64>(), w.iter().map(|v| v * v).sum::<f64>());
    let mean = sum / n as f64;
    let log_z = m + mean.ln();
    let se =
        (w.iter().map(|v| (v / mean - 1.0).powi(2)).sum::<f64>() / (n * (n - 1)) as f64).sqrt();
    let z = LogZ {
        log_z,
        se,
        ess: sum * sum / sum2,
        particles: n,
        acceptance: accepted as f64 / proposed.max(1) as f64,
    };
    if !(z.log_z.is_finite() && z.se.is_finite()) {
        return Err(bad("ais", format!("{z:?}"), "the estimate is not finite"));
    }
    Ok(z)
}

/// The base's typical standard deviation: √(tr Σ / d).
fn base_sd(base: &MultivariateNormal) -> f64 {
    let d = stein_scores::LogDensity::dim(base);
    (-base.laplacian(&vec![0.0; d]) / d as f64).sqrt().recip()
}
