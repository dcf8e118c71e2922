//! Continuous-time denoising score matching for diffusion models (Song et al. 2021, eq. 7): t ~ U(ε, T),
//! x_t = α(t) x₀ + σ(t) z, loss λ(t) ‖s_θ(x_t, t) + z/σ(t)‖² with λ = σ² (the "simple" ε loss of DDPM) or
//! λ = g² (the likelihood weighting, which bounds the negative log-likelihood), t uniform or importance-
//! sampled. The only objective with an f32 path so far ([`crate::diffusion::single`]).

use super::{Gradient, Objective, Record, Registration, Step};
use crate::diffusion::net::TimeModel;
use crate::diffusion::Sde;
use crate::error::ModelError;
use crate::network::Network;
use crate::nn::Precision;
use crate::shard::rows_of;
use rand::RngExt;
use stein_autodiff::{TVar, Tape, Tensor, Var};

/// The loss weighting λ(t).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Weighting {
    /// λ = σ(t)²: ‖σ s + z‖², the ε-prediction loss.
    Simple,
    /// λ = g(t)²: the likelihood weighting, with t uniform (the weight g²/σ² varies by orders of magnitude
    /// over t, so the gradient is noisy).
    Likelihood,
    /// λ = g(t)² with t drawn with density ∝ g(t)²/σ(t)² (importance sampling, Song, Durkan, Murray & Ermon
    /// 2021): the same objective up to a constant, each draw weighted equally, so the gradient's variance
    /// drops.
    LikelihoodImportance,
    /// λ = g(t)⁴/4: ‖v_θ − v‖² for the probability-flow velocities v = a x − ½ g² s, i.e. conditional flow
    /// matching's loss ‖v_θ(x_t, t) − (α′ x₀ + σ′ z)‖² ([`crate::objective::flow`]).
    Flow,
}

impl Weighting {
    /// The weight w(t) of ‖σ s + z‖² (λ(t)/σ(t)²; draws of t by importance already carry it).
    pub fn weight(self, sde: &Sde, t: f64) -> f64 {
        match self {
            Weighting::Simple | Weighting::LikelihoodImportance => 1.0,
            Weighting::Likelihood => (sde.diffusion(t) / sde.sigma(t)).powi(2),
            Weighting::Flow => (0.5 * sde.diffusion(t).powi(2) / sde.sigma(t)).powi(2),
        }
    }

    /// `simple`, `likelihood` or `likelihood-importance`.
    pub fn name(self) -> &'static str {
        match self {
            Weighting::Simple => "simple",
            Weighting::Likelihood => "likelihood",
            Weighting::LikelihoodImportance => "likelihood-importance",
            Weighting::Flow => "flow",
        }
    }

    /// The weighting named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Weighting::Simple,
            Weighting::Likelihood,
            Weighting::LikelihoodImportance,
            Weighting::Flow,
        ]
        .into_iter()
        .find(|w| w.name() == name)
    }
}

/// The noised rows x_t = α(t) x₀ + σ(t) z, one time per row, and each row's (α, σ).
pub(crate) fn noised(sde: &Sde, x0: &Tensor, t: &[f64], z: &Tensor) -> (Tensor, Vec<(f64, f64)>) {
    let (b, d) = x0.shape();
    let coefficients: Vec<(f64, f64)> = t.iter().map(|&t| (sde.alpha(t), sde.sigma(t))).collect();
    let mut xt = x0.clone();
    let rows = xt
        .data_mut()
        .chunks_exact_mut(d.max(1))
        .zip(z.data().chunks_exact(d.max(1)));
    for ((row, zr), (a, s)) in rows.zip(&coefficients).take(b) {
        row.iter_mut()
            .zip(zr)
            .for_each(|(x, z)| *x = a * *x + s * z);
    }
    (xt, coefficients)
}

/// Draws of t ∈ [ε, T] with density ∝ g(t)²/σ(t)², by inverting its CDF tabulated on 4,096 cells (the
/// weight is integrable: it behaves like 1/t near 0 only at exactly t = 0, which [ε, T] excludes).
#[derive(Clone, Debug)]
struct ImportanceTimes {
    grid: Vec<f64>,
    cdf: Vec<f64>,
}

impl ImportanceTimes {
    fn new(sde: &Sde, (eps, big_t): (f64, f64)) -> Self {
        let n = 4096;
        // cells uniform in log t: the weight changes fastest near ε
        let grid: Vec<f64> = (0..=n)
            .map(|k| eps * (big_t / eps).powf(k as f64 / n as f64))
            .collect();
        let w = |t: f64| (sde.diffusion(t) / sde.sigma(t)).powi(2);
        let mut cdf = vec![0.0];
        for k in 0..n {
            let (a, b) = (grid[k], grid[k + 1]);
            cdf.push(cdf[k] + 0.5 * (w(a) + w(b)) * (b - a));
        }
        let total = cdf[n];
        cdf.iter_mut().for_each(|c| *c /= total);
        ImportanceTimes { grid, cdf }
    }

    fn draw(&self, u: f64) -> f64 {
        let k = self
            .cdf
            .partition_point(|&c| c < u)
            .clamp(1, self.cdf.len() - 1);
        let (c0, c1) = (self.cdf[k - 1], self.cdf[k]);
        let f = if c1 > c0 { (u - c0) / (c1 - c0) } else { 0.5 };
        self.grid[k - 1] + f * (self.grid[k] - self.grid[k - 1])
    }
}

/// The denoising loss of a batch of data rows `x0` at times `t` with noise `z` (rows), on the tape:
/// mean w(t) ‖σ(t) s(x_t, t) + z‖².
pub fn loss<'t>(
    model: &TimeModel,
    tape: &'t Tape,
    p: &[TVar<'t>],
    x0: &Tensor,
    t: &[f64],
    z: &Tensor,
    weighting: Weighting,
) -> Var<'t> {
    let sde = &model.sde;
    let b = x0.rows();
    let (xt, coefficients) = noised(sde, x0, t, z);
    let s = model.score(tape, p, tape.tensor_const(&xt), t);
    // λ ‖s + z/σ‖² = (λ/σ²) ‖σ s + z‖²
    let sigma = tape.tensor_const(&Tensor::from_fn(b, 1, |i, _| coefficients[i].1));
    let weight = tape.tensor_const(&Tensor::from_fn(b, 1, |i, _| weighting.weight(sde, t[i])));
    let r = s * sigma + tape.tensor_const(z);
    (r.square() * weight).sum() / b as f64
}

/// Continuous-time denoising score matching with a weighting.
#[derive(Clone, Debug)]
pub struct DiffusionDsm {
    weighting: Weighting,
    times: Option<ImportanceTimes>,
}

impl PartialEq for DiffusionDsm {
    fn eq(&self, o: &Self) -> bool {
        self.weighting == o.weighting
    }
}

impl DiffusionDsm {
    /// With the weighting λ(t).
    pub fn new(weighting: Weighting) -> Self {
        DiffusionDsm {
            weighting,
            times: None,
        }
    }

    /// The weighting.
    pub fn weighting(&self) -> Weighting {
        self.weighting
    }
}

/// `diffusion-dsm`.
pub const REGISTRATION: Registration = Registration {
    name: "diffusion-dsm",
    help: "continuous-time denoising score matching over t (diffusion models)",
    trains: super::DIFFUSION,
    fresh: |_| Ok(Box::new(DiffusionDsm::new(Weighting::Simple))),
    from_record: |r| {
        Ok(Box::new(DiffusionDsm::new(
            r.get_choice("weighting", Weighting::parse)?,
        )))
    },
};

impl Objective for DiffusionDsm {
    fn name(&self) -> &'static str {
        REGISTRATION.name
    }

    fn check(&self, net: &Network) -> Result<(), ModelError> {
        super::needs(self.name(), super::DIFFUSION, net)
    }

    fn prepare(&mut self, net: &mut Network, _data: &Tensor) -> Result<(), ModelError> {
        let m = net.diffusion(self.name())?;
        let span = crate::diffusion::time_span(m, &m.sde);
        self.times = (self.weighting == Weighting::LikelihoodImportance)
            .then(|| ImportanceTimes::new(&m.sde, span));
        Ok(())
    }

    fn gradient(&mut self, step: Step<'_>) -> Result<Gradient, ModelError> {
        let m = step.net.diffusion(self.name())?;
        let (eps, big_t) = crate::diffusion::time_span(m, &m.sde);
        let (b, d) = step.batch.shape();
        let t: Vec<f64> = (0..b)
            .map(|_| match &self.times {
                Some(it) => it.draw(step.rng.random::<f64>()),
                None => eps + (big_t - eps) * step.rng.random::<f64>(),
            })
            .collect();
        let z = super::normals(b, d, step.rng);
        weighted_gradient(&step, m, &t, &z, self.weighting)
    }

    fn record(&self) -> Record {
        Record::new(self.name()).choice("weighting", self.weighting.name())
    }
}

/// The gradient of the weighted denoising loss of the step's batch at times `t` with noise `z` (row i of `z`
/// pairs with row i of the batch): the f32 pass when the step runs in f32, the tape otherwise.
pub(super) fn weighted_gradient(
    step: &Step<'_>,
    m: &TimeModel,
    t: &[f64],
    z: &Tensor,
    w: Weighting,
) -> Result<Gradient, ModelError> {
    let x0 = step.batch;
    let b = x0.rows();
    let single = step.single.and_then(super::Single::diffusion);
    if let Some(single) = single.filter(|_| step.precision == Precision::F32) {
        // f32 passes do half the work per row: shards twice as large
        let shard = crate::shard::shard_rows_up_to(b, 2 * crate::shard::SHARD_ROWS);
        let (loss, grads) = crate::shard::sharded_by(b, shard, |lo, hi| {
            single.denoising_loss_grad(&rows_of(x0, lo, hi), &t[lo..hi], &rows_of(z, lo, hi), w)
        });
        return Ok(Gradient { loss, grads });
    }
    Ok(super::sharded(step.net, &[], b, |tape, p, _, lo, hi| {
        loss(
            m,
            tape,
            p,
            &rows_of(x0, lo, hi),
            &t[lo..hi],
            &rows_of(z, lo, hi),
            w,
        )
    }))
}

/// The Fisher divergence E_{x ~ p_t} ‖s(x, t) − s*(x, t)‖² between two time scores at time t over draws of
/// p_t (rows of `x`).
pub fn fisher_divergence_at<
    A: crate::diffusion::TimeScore + ?Sized,
    B: crate::diffusion::TimeScore + ?Sized,
>(
    a: &A,
    b: &B,
    x: &Tensor,
    t: f64,
) -> f64 {
    let (mut sa, mut sb) = (Tensor::zeros(0, 0), Tensor::zeros(0, 0));
    a.score_at(x, t, &mut sa);
    b.score_at(x, t, &mut sb);
    sa.data()
        .iter()
        .zip(sb.data())
        .map(|(u, v)| (u - v).powi(2))
        .sum::<f64>()
        / x.rows().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// The importance draws have the mean of the density ∝ g²/σ² (a fine trapezoid rule on a log grid).
    #[test]
    fn importance_times_follow_their_density() {
        for sde in [Sde::vp(0.1, 20.0).unwrap(), Sde::sub_vp(0.1, 20.0).unwrap()] {
            let (eps, big_t) = sde.time_range();
            let it = ImportanceTimes::new(&sde, (eps, big_t));
            let w = |t: f64| (sde.diffusion(t) / sde.sigma(t)).powi(2);
            let n = 200_000;
            let grid: Vec<f64> = (0..=n)
                .map(|k| eps * (big_t / eps).powf(k as f64 / n as f64))
                .collect();
            let (mut z, mut m) = (0.0, 0.0);
            for k in 0..n {
                let (a, b) = (grid[k], grid[k + 1]);
                z += 0.5 * (w(a) + w(b)) * (b - a);
                m += 0.5 * (a * w(a) + b * w(b)) * (b - a);
            }
            let want = m / z;
            let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
            let draws: Vec<f64> = (0..100_000).map(|_| it.draw(rng.random::<f64>())).collect();
            let mean = draws.iter().sum::<f64>() / draws.len() as f64;
            let sd =
                (draws.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / draws.len() as f64).sqrt();
            let se = sd / (draws.len() as f64).sqrt();
            assert!(
                (mean - want).abs() < 4.0 * se + 1e-4,
                "{sde:?}: mean {mean} vs {want} ± {se}"
            );
            assert!(draws.iter().all(|t| (eps..=big_t).contains(t)));
        }
    }
}
