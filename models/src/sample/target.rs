//! What a sampler targets: a score, and (for Metropolis-adjusted methods) a log-density; one point at a time
//! ([`Target`]) or a batch of points in one pass ([`BatchTarget`], for networks).

use stein_autodiff::{with_tape, Jit, JitStats, TVar, Tensor, TraceError, Var};
use stein_scores::{Analytic, LogDensity, Score};

/// A sampling target. Every target gives its score; targets that also give log p(x) (up to a constant) can
/// be sampled by MALA, HMC and NUTS.
pub trait Target: Sync {
    /// Dimension.
    fn dim(&self) -> usize;
    /// Write ∇ₓ log p(x) into `score` and return log p(x) if this target has one (`None` otherwise).
    fn eval(&self, x: &[f64], score: &mut [f64]) -> Option<f64>;
    /// True when [`Target::eval`] returns log p.
    fn has_log_density(&self) -> bool;
    /// [`Target::eval`] at noise level `sigma`, for noise-conditional targets (annealed Langevin); other
    /// targets ignore `sigma`.
    fn eval_at(&self, x: &[f64], sigma: Option<f64>, score: &mut [f64]) -> Option<f64> {
        let _ = sigma;
        self.eval(x, score)
    }
    /// What a reader of the draws should know about how this target was evaluated, asked once at the end of
    /// a run (a compiled density that fell back to the tape, and why); `None` by default.
    fn note(&self) -> Option<String> {
        None
    }
}

/// A target evaluated on a batch of points (`n × dim`) in one pass: a network.
pub trait BatchTarget: Sync {
    /// Dimension.
    fn dim(&self) -> usize;
    /// True when [`BatchTarget::eval_batch`] returns log p.
    fn has_log_density(&self) -> bool;
    /// Scores of every row into `score` (resized to `n × dim`); log p of every row when the target has one.
    /// `sigma` is the noise level of noise-conditional targets.
    fn eval_batch(&self, x: &Tensor, sigma: Option<f64>, score: &mut Tensor) -> Option<Vec<f64>>;
    /// Scores only, for methods that never read log p (SVGD): by default [`BatchTarget::eval_batch`] with log p
    /// dropped; a target with a cheaper score-only path overrides it.
    fn score_batch(&self, x: &Tensor, sigma: Option<f64>, score: &mut Tensor) {
        let _ = self.eval_batch(x, sigma, score);
    }
}

/// Any [`Target`] evaluated row by row as a [`BatchTarget`] (the batched driver on an ordinary target gives
/// the same draws as the per-chain driver).
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a, T: ?Sized>(pub &'a T);

impl<T: Target + ?Sized> BatchTarget for Rows<'_, T> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn has_log_density(&self) -> bool {
        self.0.has_log_density()
    }
    fn eval_batch(&self, x: &Tensor, sigma: Option<f64>, score: &mut Tensor) -> Option<Vec<f64>> {
        let (n, d) = x.shape();
        score.set_zeros(n, d);
        let lp: Vec<Option<f64>> = (0..n)
            .map(|i| {
                let s = &mut score.data_mut()[i * d..(i + 1) * d];
                self.0.eval_at(x.row_slice(i), sigma, s)
            })
            .collect();
        lp.into_iter().collect()
    }
}

/// A Gaussian mixture's batch evaluator ([`stein_scores::GaussianMixture::batch`]): scores and log p of all
/// chains at once, vectorised across them.
impl BatchTarget for stein_scores::MixtureBatch {
    fn dim(&self) -> usize {
        stein_scores::MixtureBatch::dim(self)
    }
    fn has_log_density(&self) -> bool {
        true
    }
    fn eval_batch(&self, x: &Tensor, _sigma: Option<f64>, score: &mut Tensor) -> Option<Vec<f64>> {
        let (n, d) = x.shape();
        score.set_zeros(n, d);
        let mut lp = vec![0.0; n];
        self.eval(x.data(), score.data_mut(), Some(&mut lp))
            .expect("the driver passes n × dim points");
        Some(lp)
    }
    fn score_batch(&self, x: &Tensor, _sigma: Option<f64>, score: &mut Tensor) {
        let (n, d) = x.shape();
        score.set_zeros(n, d);
        self.eval(x.data(), score.data_mut(), None)
            .expect("the driver passes n × dim points");
    }
}

/// A model as a batch target, in model coordinates (map points with
/// [`Model::standardization`](crate::nn::Model::standardization)); log p = −E for energy models.
impl BatchTarget for crate::nn::Model {
    fn dim(&self) -> usize {
        self.dim
    }
    fn has_log_density(&self) -> bool {
        self.kind == crate::nn::Kind::Energy
    }
    fn eval_batch(&self, x: &Tensor, sigma: Option<f64>, score: &mut Tensor) -> Option<Vec<f64>> {
        with_tape(|t| {
            let p: Vec<TVar> = self.net.params.iter().map(|w| t.tensor_const(w)).collect();
            let xv = t.tensor(x);
            let s = match self.conditioning {
                crate::nn::Conditioning::None => None,
                _ => {
                    let sig = sigma
                        .or(self.smallest_sigma())
                        .expect("a noise-conditional model needs σ (or a ladder)");
                    Some(t.tensor_const(&Tensor::full(x.rows(), 1, sig)))
                }
            };
            match self.kind {
                crate::nn::Kind::Energy => {
                    let e = self.energy_of(&p, xv, s);
                    let g = t.grad_tensors(e.sum(), &[xv]).remove(0);
                    score.assign(&g);
                    score.data_mut().iter_mut().for_each(|v| *v = -*v);
                    Some(e.value().data().iter().map(|v| -v).collect())
                }
                crate::nn::Kind::Score => {
                    self.score(t, &p, xv, s).value_into(score);
                    None
                }
            }
        })
    }
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

/// The log-density of a compiled density.
type LogProbFn<'a> = Box<dyn for<'t> Fn(&[Var<'t>]) -> Var<'t> + Sync + 'a>;

/// Any [`LogDensity`], its score by a compiled gradient ([`Jit`]): log p is traced once and replayed for
/// every later point (2–3× faster than [`Autodiff`] on scalar code), traced again when the density takes
/// another branch, and answered by the tape when it cannot be traced (it reads raw values: see
/// [`stein_autodiff::compile`](mod@stein_autodiff::compile) for the contract). Same draws as [`Autodiff`] to rounding.
///
/// ```
/// use stein_autodiff::Real;
/// use stein_models::sample::{Compiled, Target};
/// use stein_scores::LogDensity;
/// struct Banana;
/// impl LogDensity for Banana {
///     fn dim(&self) -> usize { 2 }
///     fn log_prob<S: Real>(&self, x: &[S]) -> S {
///         -(x[0] * x[0]) * 0.5 - (x[1] - x[0] * x[0]).powi(2) * 0.5
///     }
/// }
/// let target = Compiled::new(&Banana);
/// let mut s = [0.0; 2];
/// let lp = target.eval(&[1.0, 1.0], &mut s).unwrap();
/// assert_eq!((lp, s), (-0.5, [-1.0, 0.0]));
/// assert_eq!(target.stats().traces, 1);
/// ```
pub struct Compiled<'a, D: ?Sized> {
    jit: Jit<LogProbFn<'a>>,
    dim: usize,
    _density: std::marker::PhantomData<&'a D>,
}

impl<'a, D: LogDensity + ?Sized> Compiled<'a, D> {
    /// Compile `density` on first use.
    pub fn new(density: &'a D) -> Self {
        let f: LogProbFn<'a> = Box::new(move |x| density.log_prob(x));
        Compiled {
            jit: Jit::new(f),
            dim: density.dim(),
            _density: std::marker::PhantomData,
        }
    }
}

impl<D: ?Sized> Compiled<'_, D> {
    /// Traces, misses and tape calls so far.
    pub fn stats(&self) -> JitStats {
        self.jit.stats()
    }

    /// Why the density runs on the tape, if it could not be traced.
    pub fn error(&self) -> Option<TraceError> {
        self.jit.error()
    }
}

impl<D: ?Sized> std::fmt::Debug for Compiled<'_, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled").field("jit", &self.jit).finish()
    }
}

impl<D: LogDensity + ?Sized> Target for Compiled<'_, D> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn eval(&self, x: &[f64], score: &mut [f64]) -> Option<f64> {
        Some(self.jit.value_grad(x, score))
    }
    fn has_log_density(&self) -> bool {
        true
    }
    fn note(&self) -> Option<String> {
        self.error().map(|e| {
            format!(
                "the compiled log-density ran on the tape ({} calls, no faster than Autodiff): {e}",
                self.stats().tape_calls
            )
        })
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

/// A model read one point at a time (the per-chain driver; [`BatchTarget`] is the fast way for many chains),
/// in model coordinates (map points with [`Model::standardization`](crate::nn::Model::standardization)),
/// at the σ asked for, or its smallest σ.
impl Target for crate::nn::Model {
    fn dim(&self) -> usize {
        self.dim
    }
    fn eval(&self, x: &[f64], score: &mut [f64]) -> Option<f64> {
        self.eval_at(x, None, score)
    }
    fn has_log_density(&self) -> bool {
        BatchTarget::has_log_density(self)
    }
    fn eval_at(&self, x: &[f64], sigma: Option<f64>, score: &mut [f64]) -> Option<f64> {
        let mut s = Tensor::zeros(1, self.dim);
        let lp = self.eval_batch(&Tensor::row(x), sigma, &mut s);
        score.copy_from_slice(s.data());
        lp.map(|l| l[0])
    }
}

/// The exact scores of p ⊛ N(0, σ²I) on a fixed σ ladder (built once per level).
#[derive(Clone, Debug)]
pub struct PerturbedLadder<D> {
    levels: Vec<(f64, stein_scores::NoisePerturbed<D>)>,
}

impl<D> PerturbedLadder<D> {
    /// The ladder's σ, as given.
    pub fn sigmas(&self) -> Vec<f64> {
        self.levels.iter().map(|l| l.0).collect()
    }
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

/// The ladder as a target: [`Target::eval_at`] reads the level nearest the σ asked for; [`Target::eval`]
/// the smallest σ. Each level is exact, log-density included.
impl<D: Analytic + Sync> Target for PerturbedLadder<D> {
    fn dim(&self) -> usize {
        LogDensity::dim(&self.levels[0].1)
    }
    fn eval(&self, x: &[f64], score: &mut [f64]) -> Option<f64> {
        self.eval_at(x, None, score)
    }
    fn has_log_density(&self) -> bool {
        true
    }
    fn eval_at(&self, x: &[f64], sigma: Option<f64>, score: &mut [f64]) -> Option<f64> {
        let sigma = sigma.unwrap_or(0.0); // the smallest σ is the nearest to 0
        let (_, p) = self
            .levels
            .iter()
            .min_by(|a, b| (a.0 - sigma).abs().total_cmp(&(b.0 - sigma).abs()))
            .expect("a non-empty ladder");
        Some(p.log_prob_and_score(x, score))
    }
}
