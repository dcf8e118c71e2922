//! What a sampler targets: a score, and (for Metropolis-adjusted methods) a log-density.

use stein_autodiff::{with_tape, Var};
use stein_scores::{Analytic, LogDensity, Score};

/// A sampling target. Every target gives its score; targets that also give log p(x) (up to a constant) can
/// be sampled by MALA and HMC.
pub trait Target: Sync {
    /// Dimension.
    fn dim(&self) -> usize;
    /// Write ∇ₓ log p(x) into `score` and return log p(x) if this target has one (`None` otherwise).
    fn eval(&self, x: &[f64], score: &mut [f64]) -> Option<f64>;
    /// True when [`Target::eval`] returns log p.
    fn has_log_density(&self) -> bool;
}

/// A target known only through its score (ULA and annealed Langevin): a trained network, any [`Score`].
#[derive(Clone, Copy, Debug)]
pub struct ScoreOnly<'a, S: ?Sized>(pub &'a S);

impl<S: Score + ?Sized> Target for ScoreOnly<'_, S> {
    fn dim(&self) -> usize {
        self.0.score_dim()
    }
    fn eval(&self, x: &[f64], score: &mut [f64]) -> Option<f64> {
        self.0.score_into(x, score);
        None
    }
    fn has_log_density(&self) -> bool {
        false
    }
}

/// Any [`LogDensity`], its score by autodiff: one forward and one backward sweep give log p and ∇ log p.
#[derive(Clone, Copy, Debug)]
pub struct Autodiff<'a, D: ?Sized>(pub &'a D);

impl<D: LogDensity + ?Sized> Target for Autodiff<'_, D> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn eval(&self, x: &[f64], score: &mut [f64]) -> Option<f64> {
        Some(with_tape(|t| {
            let xs: Vec<Var> = t.vars(x);
            let y = self.0.log_prob(&xs);
            t.grad_into(y, &xs, score);
            y.value()
        }))
    }
    fn has_log_density(&self) -> bool {
        true
    }
}

/// An [`Analytic`] distribution: closed-form score and log-density.
#[derive(Clone, Copy, Debug)]
pub struct Exact<'a, D: ?Sized>(pub &'a D);

impl<D: Analytic + ?Sized> Target for Exact<'_, D> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn eval(&self, x: &[f64], score: &mut [f64]) -> Option<f64> {
        Some(self.0.log_prob_and_score(x, score))
    }
    fn has_log_density(&self) -> bool {
        true
    }
}

/// A score that depends on a noise level σ, for annealed Langevin: a noise-conditional network, or the exact
/// noise-perturbed scores of a known density.
pub trait NoiseConditionalScore: Sync {
    /// Dimension.
    fn dim(&self) -> usize;
    /// Write s(x, σ) into `out`.
    fn score_at(&self, x: &[f64], sigma: f64, out: &mut [f64]);
}

impl NoiseConditionalScore for crate::nn::Model {
    fn dim(&self) -> usize {
        self.dim
    }
    fn score_at(&self, x: &[f64], sigma: f64, out: &mut [f64]) {
        self.as_score(Some(sigma)).score_into(x, out)
    }
}

/// The exact scores of p ⊛ N(0, σ²I) on a fixed σ ladder (built once per level).
#[derive(Clone, Debug)]
pub struct PerturbedLadder<D> {
    levels: Vec<(f64, stein_scores::NoisePerturbed<D>)>,
}

impl<D: stein_scores::GaussianConvolution + Clone> PerturbedLadder<D> {
    /// p perturbed at every σ of the ladder. An empty ladder, or a σ that is not positive and finite, is an
    /// error naming `sigmas`.
    pub fn new(base: &D, sigmas: &[f64]) -> Result<Self, stein_scores::ScoreError> {
        if sigmas.is_empty() {
            return Err(stein_scores::ScoreError::Dimension {
                param: "sigmas",
                expected: "at least one noise level".into(),
                got: "an empty ladder".into(),
            });
        }
        Ok(PerturbedLadder {
            levels: sigmas
                .iter()
                .map(|&s| Ok((s, stein_scores::NoisePerturbed::new(base.clone(), s)?)))
                .collect::<Result<_, stein_scores::ScoreError>>()?,
        })
    }
}

impl<D: Analytic + Sync> NoiseConditionalScore for PerturbedLadder<D> {
    fn dim(&self) -> usize {
        LogDensity::dim(&self.levels[0].1)
    }
    fn score_at(&self, x: &[f64], sigma: f64, out: &mut [f64]) {
        let (_, p) = self
            .levels
            .iter()
            .min_by(|a, b| {
                (a.0 - sigma)
                    .abs()
                    .partial_cmp(&(b.0 - sigma).abs())
                    .expect("finite σ")
            })
            .expect("a non-empty ladder");
        p.analytic_score_into(x, out)
    }
}
