//! Recipes: the command line's runs as library values — which network to build (its width, depth and
//! activation are the user's), which objective, and the optimiser's settings. [`Recipe::build`] fits what
//! depends on the data (the standardisation, the σ ladder, VE's σ_max) and returns a [`Trainer`] ready to
//! [`fit`](Trainer::fit); `stein train` does exactly this, so a recipe run from the library and the same
//! recipe from the command line give the same bits.
//!
//! | recipe | network | objective | optimiser | tuned on |
//! |---|---|---|---|---|
//! | [`Recipe::ebm`] | energy, 4 × 96 SiLU at He's scale, noise-conditional | `ncsn`, 10 levels from the data's largest spread to 5% of it | Adam 2·10⁻³ cosine to 5%, batch 256, clip 10, f32, 16,000 steps; the model the parameters' moving average (decay 0.9995) | Q2's seven toy sets (KL by AIS) |
//! | [`Recipe::score`] | score, otherwise as `ebm` | `ncsn` | as `ebm` | two moons |
//! | [`Recipe::diffusion`] | x₀-network read as EDM's denoiser (the prior's score built in) over [x, 16 Fourier pairs of t], 6 × 96 SiLU at He's scale | `diffusion-dsm`, λ = σ² | Adam 4·10⁻³ cosine to 5%, batch 512, clip 1, f32, 20,000 steps; the model the parameters' moving average (decay 0.9995) | Q2's seven toy sets against their exact densities |
//!
//! The diffusion recipe was chosen on Q2 (KL(data ‖ model) by the probability-flow ODE on 1,000 fresh points,
//! and the fraction of samples where the data almost never are); ARCHITECTURE.md has the measurements.
//!
//! ```
//! use rand::SeedableRng;
//! use stein_models::data::Toy;
//! use stein_models::fit::FitOptions;
//! use stein_models::nn::Activation;
//! use stein_models::recipe::{Recipe, SdeKind};
//!
//! let data = Toy::TwoMoons.sample(1000, &mut rand::rngs::SmallRng::seed_from_u64(1));
//! let recipe = Recipe::diffusion(SdeKind::Vp).hidden(&[64, 64]).activation(Activation::Tanh).steps(20);
//! let mut trainer = recipe.build(&data, 7).unwrap();
//! trainer.fit(&data, &FitOptions::steps(recipe.steps)).unwrap();
//! assert_eq!(trainer.step, 20);
//! ```

use crate::data::Standardization;
use crate::diffusion::net::{Output, TimeModel};
use crate::diffusion::Sde;
use crate::error::ModelError;
use crate::fit::{Settings, Trainer};
use crate::network::{Network, NetworkKind};
use crate::nn::{Activation, Conditioning, Kind, Model, Precision};
use crate::optim::Schedule;
use rand::SeedableRng;
use stein_autodiff::Tensor;

/// The forward SDE of a diffusion recipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdeKind {
    /// Variance preserving, β from 0.1 to 20 (DDPM's schedule).
    Vp,
    /// Sub-VP, β from 0.1 to 20.
    SubVp,
    /// Variance exploding, σ from 0.01 to the data's largest pairwise distance (at least 10).
    Ve,
    /// The straight path of flow matching, x_t = (1 − t) x₀ + t z ([`Sde::Linear`]).
    Linear,
}

/// A run's defaults: network, objective, optimiser.
#[derive(Clone, Debug, PartialEq)]
pub struct Recipe {
    /// Energy, score or diffusion.
    pub kind: NetworkKind,
    /// Hidden layer widths.
    pub hidden: Vec<usize>,
    /// The non-linearity.
    pub activation: Activation,
    /// The objective's registered name ([`crate::objective::REGISTRY`]).
    pub objective: String,
    /// The SDE (diffusion recipes).
    pub sde: SdeKind,
    /// The earliest time ε of a diffusion model's interval (`None`: the SDE's).
    pub t_min: Option<f64>,
    /// Standardise each coordinate of the data to mean 0 and scale 1 first.
    pub standardize: bool,
    /// Minibatch size.
    pub batch: usize,
    /// Peak learning rate (cosine-decayed to 5% over the run).
    pub lr: f64,
    /// Gradient-norm clip.
    pub clip: f64,
    /// The arithmetic of the passes.
    pub precision: Precision,
    /// Steps of a run.
    pub steps: usize,
    /// What a diffusion network's output stands for (`None`: EDM's denoiser, [`Recipe::diffusion`]).
    pub output: Option<Output>,
    /// The decay of the parameters' moving average, if the run keeps one ([`Settings::ema`]).
    pub ema: Option<f64>,
}

impl Recipe {
    /// The README's main job: a noise-conditional energy network on multi-noise denoising. Four hidden
    /// layers of 96: on two moons KL(data ‖ model) by AIS was 0.64 nats with two of 128, 0.26 with four of
    /// 96 and 0.48 with six (4,000 steps, ladder to 2%; 0.06 with four and the ladder to 5%). In f32: on two
    /// moons and the checkerboard the same KL as in f64 within its standard error (0.061 and 0.208 nats
    /// against 0.063 and 0.196, ± 0.013) in 3.6 and 3.2 s of training instead of 8.6 and 9.0 s. The model is
    /// the parameters' moving average (decay 0.9995) after 16,000 steps: over the seven toy sets (KL by AIS
    /// against the exact densities, nats) the 4,000-step recipe without an average summed 1.15 (8gaussians
    /// 0.19, pinwheel 0.27, spirals 0.21), 16,000 steps without one gave two moons 0.22 (an unlucky last
    /// iterate), 4,000 with the average 0.999 summed four sets to 0.43, 16,000 with 0.999 summed 0.67 and
    /// with 0.9995 0.62 (two moons 0.065, 8gaussians 0.027, swiss roll 0.12, checkerboard 0.13, rings 0.034,
    /// pinwheel 0.17, spirals 0.070; samples off the data 0.0–0.9%), about 14 s of training.
    pub fn ebm() -> Self {
        Recipe {
            kind: NetworkKind::Energy,
            hidden: vec![96; 4],
            activation: Activation::Silu,
            objective: "ncsn".into(),
            sde: SdeKind::Vp,
            t_min: None,
            standardize: true,
            batch: 256,
            lr: 2e-3,
            clip: 10.0,
            precision: Precision::F32,
            steps: 16_000,
            output: None,
            ema: Some(0.9995),
        }
    }

    /// [`Recipe::ebm`] with a score network (vector output) in place of the energy network.
    pub fn score() -> Self {
        Recipe {
            kind: NetworkKind::Score,
            ..Recipe::ebm()
        }
    }

    /// A diffusion model for `sde`: six hidden layers of 96 (deep beats wide on the toy sets: 4 × 128 learnt
    /// the spirals to 0.30 nats, 6 × 96 to 0.09, 2 × 256 to 0.74, at 10,000 steps), the network read as
    /// EDM's denoiser, whose score is the prior's −x/(α² + σ²) plus the network's part damped by α(t) — the ε
    /// reading let a network's extrapolation blow the likelihood up (swiss roll: NLL 2.6 × 10¹⁰) — and
    /// 20,000 steps (about 30 s on a 2-core machine). The model is the parameters' moving average (decay
    /// 0.9995): KL on two moons 0.017 → 0.007, spirals 0.042 → 0.016, pinwheel 0.047 → 0.012, checkerboard
    /// 0.104 → 0.100 nats against the last iterate (one run each).
    pub fn diffusion(sde: SdeKind) -> Self {
        Recipe {
            kind: NetworkKind::Diffusion,
            hidden: vec![96; 6],
            objective: "diffusion-dsm".into(),
            sde,
            batch: 512,
            lr: 4e-3,
            clip: 1.0,
            precision: Precision::F32,
            steps: 20_000,
            output: Some(Output::Denoised),
            ema: Some(0.9995),
            ..Recipe::ebm()
        }
    }

    /// A flow model (conditional flow matching, Lipman et al. 2023): the diffusion recipe's network reading
    /// its output as the velocity, on the straight path x_t = (1 − t) x₀ + t z, trained by `flow-matching`
    /// (independent coupling; `flow-matching-ot` pairs data and noise by optimal transport). It samples by
    /// the deterministic samplers (the probability-flow ODE, DPM-Solver++, UniPC, …) and has the same
    /// likelihood as a diffusion model.
    ///
    /// ```
    /// use stein_models::recipe::{Recipe, SdeKind};
    /// let r = Recipe::flow();
    /// assert_eq!((r.sde, r.objective.as_str()), (SdeKind::Linear, "flow-matching"));
    /// ```
    pub fn flow() -> Self {
        Recipe {
            objective: "flow-matching".into(),
            sde: SdeKind::Linear,
            output: Some(Output::Velocity),
            ..Recipe::diffusion(SdeKind::Linear)
        }
    }

    /// The recipe of a kind of network: [`Recipe::ebm`], [`Recipe::score`] or [`Recipe::diffusion`] (VP).
    pub fn for_kind(kind: NetworkKind) -> Self {
        match kind {
            NetworkKind::Energy => Recipe::ebm(),
            NetworkKind::Score => Recipe::score(),
            NetworkKind::Diffusion => Recipe::diffusion(SdeKind::Vp),
        }
    }

    /// With these hidden widths.
    pub fn hidden(mut self, widths: &[usize]) -> Self {
        self.hidden = widths.to_vec();
        self
    }
    /// With this activation.
    pub fn activation(mut self, a: Activation) -> Self {
        self.activation = a;
        self
    }
    /// With this objective (a registered name).
    pub fn objective(mut self, name: &str) -> Self {
        self.objective = name.into();
        self
    }
    /// With this many steps.
    pub fn steps(mut self, n: usize) -> Self {
        self.steps = n;
        self
    }
    /// With this minibatch size.
    pub fn batch(mut self, n: usize) -> Self {
        self.batch = n;
        self
    }
    /// With this peak learning rate.
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = lr;
        self
    }
    /// With a diffusion network's output read as `output`.
    pub fn output(mut self, output: Output) -> Self {
        self.output = Some(output);
        self
    }
    /// With a moving average of the parameters of this decay ([`Settings::ema`]).
    pub fn ema(mut self, decay: f64) -> Self {
        self.ema = Some(decay);
        self
    }

    /// In this precision.
    pub fn precision(mut self, p: Precision) -> Self {
        self.precision = p;
        self
    }

    /// The cosine schedule of a run of `steps` steps: to 5% of the peak rate.
    pub fn schedule(steps: usize) -> Schedule {
        Schedule::Cosine {
            total: steps,
            min_factor: 0.05,
        }
    }

    /// The settings of a run of `steps` steps seeded `seed`.
    pub fn settings(&self, steps: usize, seed: u64) -> Settings {
        Settings {
            batch: self.batch,
            lr: self.lr,
            schedule: Recipe::schedule(steps),
            clip: Some(self.clip),
            seed,
            precision: self.precision,
            ema: self.ema,
            ..Settings::default()
        }
    }

    /// The trainer of this recipe for `data` (data coordinates), seeded: the standardisation fitted to the
    /// data, the network built (its initial weights drawn from `seed`), the objective with the defaults the
    /// command line uses for the data (the σ ladder from their spread), the settings of [`Recipe::settings`].
    /// Everything is checked before it is returned.
    pub fn build(&self, data: &Tensor, seed: u64) -> Result<Trainer, ModelError> {
        if data.rows() < 2 || data.cols() == 0 {
            return Err(ModelError::BadParameter {
                param: "data",
                value: format!("{} × {}", data.rows(), data.cols()),
                reason: "need at least 2 points of at least 1 coordinate".into(),
            });
        }
        let standardization = self.standardize.then(|| Standardization::fit(data));
        let mut z = data.clone();
        if let Some(st) = &standardization {
            st.to_model(&mut z);
        }
        let registration = crate::objective::registration(&self.objective)?;
        let objective = (registration.fresh)(&z)?;
        let d = data.cols();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let mut network = match self.kind {
            NetworkKind::Diffusion => {
                let sde = match self.sde {
                    SdeKind::Vp => Sde::vp(0.1, 20.0)?,
                    SdeKind::SubVp => Sde::sub_vp(0.1, 20.0)?,
                    SdeKind::Ve => Sde::ve(0.01, ve_sigma_max(&z))?,
                    SdeKind::Linear => Sde::linear(),
                };
                let output = self.output.unwrap_or(Output::Denoised);
                let mut m =
                    TimeModel::build(d, &self.hidden, self.activation, output, sde, &mut rng)?;
                if let Some(t) = self.t_min {
                    m = m.with_t_min(t)?;
                }
                Network::Diffusion(m)
            }
            kind => {
                crate::nn::check_widths(d + 1, &self.hidden, d)?;
                let conditioning = if self.objective == "ncsn" {
                    Conditioning::InputAndScale
                } else {
                    Conditioning::None
                };
                let k = if kind == NetworkKind::Energy {
                    Kind::Energy
                } else {
                    Kind::Score
                };
                Network::Model(Model::build(
                    k,
                    conditioning,
                    d,
                    &self.hidden,
                    self.activation,
                    &mut rng,
                ))
            }
        };
        network.set_standardization(standardization);
        let settings = self.settings(self.steps, seed);
        settings.validate()?;
        objective.check(&network)?;
        Ok(Trainer::new(network, objective, settings))
    }
}

/// VE's σ_max: the largest distance between two of (at most 500 evenly spaced) points, at least 10 (Song &
/// Ermon's rule: the prior must cover every pair of data points).
pub fn ve_sigma_max(z: &Tensor) -> f64 {
    let n = z.rows();
    let k = n.min(500);
    let pts: Vec<&[f64]> = (0..k).map(|i| z.row_slice(i * n / k)).collect();
    let mut far = 0.0f64;
    for (i, a) in pts.iter().enumerate() {
        for b in &pts[i + 1..] {
            far = far.max(
                a.iter()
                    .zip(*b)
                    .map(|(u, v)| (u - v).powi(2))
                    .sum::<f64>()
                    .sqrt(),
            );
        }
    }
    far.max(10.0)
}
