//! The forward SDEs of score-based generative modelling (Song et al. 2021): dx = a(t) x dt + g(t) dw on
//! t ∈ [0, 1], whose marginal given x₀ is N(α(t) x₀, σ(t)² I). VE (variance exploding), VP (variance
//! preserving, with the linear schedule of DDPM or the cosine schedule of Nichol & Dhariwal 2021) and sub-VP.

use crate::ModelError;
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// How β(t) of a variance-preserving SDE runs; B(t) = ∫₀ᵗ β(s) ds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    /// β(t) = β_min + t (β_max − β_min): DDPM's linear schedule of N steps is β_min = N β₁, β_max = N β_N
    /// (0.1 and 20 for β₁ = 10⁻⁴, β_N = 0.02, N = 1,000).
    Linear {
        /// β(0).
        beta_min: f64,
        /// β(1).
        beta_max: f64,
    },
    /// ᾱ(t) = cos²(π/2 · (t + s)/(1 + s)) / cos²(π/2 · s/(1 + s)), so B(t) = −ln ᾱ(t) and β(t) = dB/dt
    /// (Nichol & Dhariwal 2021; s = 0.008). β(1) is infinite: use t ≤ 1 − 10⁻³.
    Cosine {
        /// The offset s.
        s: f64,
    },
}

impl Schedule {
    /// DDPM's linear schedule (β₁ = 10⁻⁴, β_N = 0.02 over N = 1,000 steps) in continuous time.
    pub const DDPM: Schedule = Schedule::Linear {
        beta_min: 0.1,
        beta_max: 20.0,
    };

    /// B(t) = ∫₀ᵗ β.
    pub fn integral(&self, t: f64) -> f64 {
        match *self {
            Schedule::Linear { beta_min, beta_max } => {
                beta_min * t + 0.5 * (beta_max - beta_min) * t * t
            }
            Schedule::Cosine { s } => {
                let f = |u: f64| {
                    (std::f64::consts::FRAC_PI_2 * (u + s) / (1.0 + s))
                        .cos()
                        .powi(2)
                };
                -(f(t) / f(0.0)).ln()
            }
        }
    }

    /// β(t).
    pub fn beta(&self, t: f64) -> f64 {
        match *self {
            Schedule::Linear { beta_min, beta_max } => beta_min + t * (beta_max - beta_min),
            Schedule::Cosine { s } => {
                let c = std::f64::consts::FRAC_PI_2 / (1.0 + s);
                2.0 * c * (c * (t + s)).tan()
            }
        }
    }
}

/// A forward SDE dx = a(t) x dt + g(t) dw.
///
/// ```
/// use stein_models::diffusion::Sde;
/// let vp = Sde::vp(0.1, 20.0).unwrap();
/// let t = 0.3;
/// // variance preserving: α² + σ² = 1
/// assert!((vp.alpha(t).powi(2) + vp.sigma(t).powi(2) - 1.0).abs() < 1e-12);
/// let ve = Sde::ve(0.01, 50.0).unwrap();
/// assert_eq!(ve.alpha(t), 1.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Sde {
    /// Variance exploding: a = 0, g(t) = σ_v(t) √(2 ln(σ_max/σ_min)) with σ_v(t) = σ_min (σ_max/σ_min)ᵗ; the
    /// marginal std is σ(t) = √(σ_v(t)² − σ_min²) (exact for the SDE from t = 0), prior N(0, σ_max² I).
    Ve {
        /// σ_min > 0.
        sigma_min: f64,
        /// σ_max > σ_min.
        sigma_max: f64,
    },
    /// Variance preserving: a = −β(t)/2, g = √β(t); α = e^{−B/2}, σ² = 1 − e^{−B}; prior N(0, I).
    Vp(Schedule),
    /// Sub-VP: a = −β(t)/2, g = √(β(t)(1 − e^{−2B})); α = e^{−B/2}, σ = 1 − e^{−B}; prior N(0, I).
    SubVp(Schedule),
    /// The straight path of flow matching and rectified flow (Lipman et al. 2023; Liu et al. 2023):
    /// x_t = (1 − t) x₀ + t z, α = 1 − t, σ = t, so the velocity of a pair is z − x₀; as an SDE, a = −1/(1 − t),
    /// g² = 2t/(1 − t); prior N(0, I). Both ends are singular (α or σ vanishes): its times are
    /// [10⁻³, 1 − 10⁻³]. The reverse SDE is stiff near t = 1 (its drift grows as 1/(1 − t)), so it is sampled
    /// by the deterministic samplers only (the probability-flow ODE, DDIM with η = 0, EDM's Heun,
    /// DPM-Solver++, UniPC), whose drift is the bounded velocity.
    Linear,
}

fn bad(param: &'static str, value: String, reason: String) -> ModelError {
    ModelError::BadParameter {
        param,
        value,
        reason,
    }
}

/// The largest β_max of a linear schedule: B(1) ≤ 1,000 keeps α(1) = e^{−B/2} a normal number, and the
/// probability-flow ODE's drift −β/2 within what an explicit solver crosses in a bounded number of steps
/// (DDPM's β_max is 20).
pub const MAX_BETA: f64 = 1_000.0;

/// The range of a VE SDE's σ_min and σ_max: [10⁻¹², 10¹²] (data far outside it are standardised first).
pub const VE_SIGMA_RANGE: (f64, f64) = (1e-12, 1e12);

fn check_linear(beta_min: f64, beta_max: f64) -> Result<Schedule, ModelError> {
    if !(beta_min > 0.0 && beta_max > beta_min && beta_max <= MAX_BETA) {
        return Err(bad(
            "beta_min/beta_max",
            format!("{beta_min}/{beta_max}"),
            format!("need 0 < β_min < β_max ≤ {MAX_BETA}"),
        ));
    }
    Ok(Schedule::Linear { beta_min, beta_max })
}

impl Sde {
    /// Check the parameters (as the constructors do), e.g. of an SDE read from a file.
    pub fn validate(&self) -> Result<(), ModelError> {
        match *self {
            Sde::Ve {
                sigma_min,
                sigma_max,
            } => Sde::ve(sigma_min, sigma_max).map(|_| ()),
            Sde::Vp(Schedule::Cosine { s }) | Sde::SubVp(Schedule::Cosine { s }) => {
                Sde::vp_cosine(s).map(|_| ())
            }
            Sde::Vp(Schedule::Linear { beta_min, beta_max })
            | Sde::SubVp(Schedule::Linear { beta_min, beta_max }) => {
                check_linear(beta_min, beta_max).map(|_| ())
            }
            Sde::Linear => Ok(()),
        }
    }

    /// The straight path of flow matching ([`Sde::Linear`]).
    pub fn linear() -> Sde {
        Sde::Linear
    }

    /// Whether the reverse SDE may be simulated (Euler–Maruyama, predictor–corrector, DDIM with η > 0):
    /// every SDE but [`Sde::Linear`], whose reverse drift is unbounded near t = 1.
    pub fn stochastic_sampling(&self) -> bool {
        !matches!(self, Sde::Linear)
    }

    /// VE with σ_min < σ_max, both in [`VE_SIGMA_RANGE`] (Song et al.: 0.01 and 50; 2-D toys of unit scale use
    /// σ_max ≈ 10).
    pub fn ve(sigma_min: f64, sigma_max: f64) -> Result<Sde, ModelError> {
        let (lo, hi) = VE_SIGMA_RANGE;
        if !(sigma_min >= lo && sigma_max > sigma_min && sigma_max <= hi) {
            return Err(bad(
                "sigma_min/sigma_max",
                format!("{sigma_min}/{sigma_max}"),
                format!("need {lo:e} ≤ σ_min < σ_max ≤ {hi:e}"),
            ));
        }
        Ok(Sde::Ve {
            sigma_min,
            sigma_max,
        })
    }

    /// VP with the linear schedule β_min..β_max (0.1 and 20: DDPM's).
    pub fn vp(beta_min: f64, beta_max: f64) -> Result<Sde, ModelError> {
        Ok(Sde::Vp(check_linear(beta_min, beta_max)?))
    }

    /// VP with the cosine schedule of offset s (0.008).
    pub fn vp_cosine(s: f64) -> Result<Sde, ModelError> {
        if !(s > 0.0 && s < 1.0) {
            return Err(bad(
                "s",
                s.to_string(),
                "the cosine offset must be in (0, 1)".into(),
            ));
        }
        Ok(Sde::Vp(Schedule::Cosine { s }))
    }

    /// Sub-VP with the linear schedule β_min..β_max.
    pub fn sub_vp(beta_min: f64, beta_max: f64) -> Result<Sde, ModelError> {
        Ok(Sde::SubVp(check_linear(beta_min, beta_max)?))
    }

    /// An error unless `t` is a time of the SDE, in [0, 1].
    pub fn check_time(t: f64) -> Result<f64, ModelError> {
        if (0.0..=1.0).contains(&t) {
            Ok(t)
        } else {
            Err(bad(
                "t",
                t.to_string(),
                "the SDE's times lie in [0, 1] (t = 0 is the data, t = 1 the prior)".into(),
            ))
        }
    }

    /// The drift coefficient a(t) of dx = a(t) x dt + g(t) dw.
    ///
    /// The coefficients ([`Sde::drift`], [`Sde::diffusion`], [`Sde::alpha`], [`Sde::sigma`]) are defined
    /// for t ∈ [0, 1]; at any other t, and at NaN, they are NaN ([`Sde::check_time`] gives the error instead).
    pub fn drift(&self, t: f64) -> f64 {
        if !(0.0..=1.0).contains(&t) {
            return f64::NAN;
        }
        match self {
            Sde::Ve { .. } => 0.0,
            Sde::Vp(s) | Sde::SubVp(s) => -0.5 * s.beta(t),
            Sde::Linear => -1.0 / (1.0 - t),
        }
    }

    /// The diffusion coefficient g(t) (NaN outside [0, 1]; see [`Sde::drift`]).
    pub fn diffusion(&self, t: f64) -> f64 {
        if !(0.0..=1.0).contains(&t) {
            return f64::NAN;
        }
        match self {
            Sde::Ve {
                sigma_min,
                sigma_max,
            } => {
                let r = sigma_max / sigma_min;
                sigma_min * r.powf(t) * (2.0 * r.ln()).sqrt()
            }
            Sde::Vp(s) => s.beta(t).sqrt(),
            Sde::SubVp(s) => (s.beta(t) * -(-2.0 * s.integral(t)).exp_m1()).sqrt(),
            Sde::Linear => (2.0 * t / (1.0 - t)).sqrt(),
        }
    }

    /// The marginal mean coefficient α(t): x_t | x₀ ~ N(α(t) x₀, σ(t)² I) (NaN outside [0, 1]; see
    /// [`Sde::drift`]).
    pub fn alpha(&self, t: f64) -> f64 {
        if !(0.0..=1.0).contains(&t) {
            return f64::NAN;
        }
        match self {
            Sde::Ve { .. } => 1.0,
            Sde::Vp(s) | Sde::SubVp(s) => (-0.5 * s.integral(t)).exp(),
            Sde::Linear => 1.0 - t,
        }
    }

    /// The marginal standard deviation σ(t) (NaN outside [0, 1]; see [`Sde::drift`]).
    pub fn sigma(&self, t: f64) -> f64 {
        if !(0.0..=1.0).contains(&t) {
            return f64::NAN;
        }
        match self {
            Sde::Ve {
                sigma_min,
                sigma_max,
            } => {
                let v = sigma_min * (sigma_max / sigma_min).powf(t);
                (v * v - sigma_min * sigma_min).max(0.0).sqrt()
            }
            Sde::Vp(s) => (-(-s.integral(t)).exp_m1()).sqrt(),
            Sde::SubVp(s) => -(-s.integral(t)).exp_m1(),
            Sde::Linear => t,
        }
    }

    /// The standard deviation of the prior N(0, s² I) the reverse process starts from (σ_max for VE, 1
    /// otherwise).
    pub fn prior_std(&self) -> f64 {
        match self {
            Sde::Ve { sigma_max, .. } => *sigma_max,
            Sde::Vp(_) | Sde::SubVp(_) | Sde::Linear => 1.0,
        }
    }

    /// The time the reverse process ends at: 10⁻³ for the cosine schedule (its β blows up at 1 … and σ
    /// vanishes at 0) and the straight path, 10⁻⁵ otherwise; the start is 1 (1 − 10⁻³ for those two).
    pub fn time_range(&self) -> (f64, f64) {
        match self {
            Sde::Vp(Schedule::Cosine { .. })
            | Sde::SubVp(Schedule::Cosine { .. })
            | Sde::Linear => (1e-3, 1.0 - 1e-3),
            Sde::Ve { .. }
            | Sde::Vp(Schedule::Linear { .. })
            | Sde::SubVp(Schedule::Linear { .. }) => (1e-5, 1.0),
        }
    }

    /// `n` draws of the prior in `d` dimensions.
    ///
    /// # Panics
    /// When `n × d` exceeds [`stein_autodiff::MAX_TENSOR_ENTRIES`] (the message names both).
    pub fn prior_sample<R: Rng + ?Sized>(&self, rng: &mut R, n: usize, d: usize) -> Vec<Vec<f64>> {
        assert!(
            n.checked_mul(d.max(1))
                .is_some_and(|v| v <= stein_autodiff::MAX_TENSOR_ENTRIES),
            "Sde::prior_sample: {n} draws × {d} dimensions exceed the limit of {}",
            stein_autodiff::MAX_TENSOR_ENTRIES
        );
        let s = self.prior_std();
        (0..n)
            .map(|_| {
                (0..d)
                    .map(|_| s * rng.sample::<f64, _>(StandardNormal))
                    .collect()
            })
            .collect()
    }

    /// log N(x; 0, s² I) of the prior.
    pub fn prior_log_prob(&self, x: &[f64]) -> f64 {
        let s = self.prior_std();
        let d = x.len() as f64;
        -0.5 * x.iter().map(|v| v * v).sum::<f64>() / (s * s)
            - d * (s.ln() + 0.5 * (2.0 * std::f64::consts::PI).ln())
    }
}
