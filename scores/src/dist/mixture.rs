use crate::density::{Analytic, LogDensity, Sample, Score};
use crate::dist::mvn::MultivariateNormal;
use crate::error::ScoreError;
use rand::{Rng, RngExt};
use stein_autodiff::Real;

/// A finite mixture Σₖ πₖ pₖ(x) of components of one type with known normalisers.
///
/// # Density and score
/// log p(x) = logsumexp_k [log πₖ + log pₖ(x)]; s(x) = Σₖ rₖ(x) sₖ(x) with responsibilities
/// rₖ = softmax_k(log πₖ + log pₖ(x)), computed by log-sum-exp, so the score stays finite and accurate far from
/// every mode; Laplacian Σₖ rₖ (Δ log pₖ + ‖sₖ‖²) − ‖s‖².
///
/// # Parameters
/// Weights ≥ 0 with a positive sum (normalised here), one per component; components of one dimension,
/// each with a known normaliser.
///
/// # Example
/// ```
/// use stein_scores::{GaussianMixture, MultivariateNormal, Score};
/// let c = |m: f64| MultivariateNormal::isotropic(vec![m, 0.0], 0.5).unwrap();
/// let gmm = GaussianMixture::new(vec![1.0, 1.0], vec![c(-2.0), c(2.0)]).unwrap();
/// let far = gmm.score(&[100.0, 0.0]);           // 50σ from every mode: still exact
/// assert!((far[0] + (100.0 - 2.0) / 0.25).abs() < 1e-9);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Mixture<D> {
    log_w: Vec<f64>,
    log_z: Vec<f64>,
    comps: Vec<D>,
}

/// A mixture of full-covariance Gaussians.
pub type GaussianMixture = Mixture<MultivariateNormal>;

impl<D: Analytic> Mixture<D> {
    /// A mixture with the given (unnormalised) weights.
    pub fn new(weights: Vec<f64>, components: Vec<D>) -> Result<Self, ScoreError> {
        crate::error::dim_eq("weights", components.len(), weights.len())?;
        if components.is_empty() {
            return Err(ScoreError::Dimension {
                param: "components",
                expected: "at least one component".into(),
                got: "none".into(),
            });
        }
        for &w in &weights {
            if !(w >= 0.0 && w.is_finite()) {
                return Err(ScoreError::BadParameter {
                    param: "weights",
                    requirement: "non-negative and finite",
                    value: w,
                });
            }
        }
        let total: f64 = weights.iter().sum();
        if !(total > 0.0 && total.is_finite()) {
            return Err(ScoreError::BadParameter {
                param: "weights",
                requirement: "of positive, finite sum (rescale weights whose sum overflows)",
                value: total,
            });
        }
        let d = components[0].dim();
        let mut log_z = Vec::new();
        for c in &components {
            crate::error::dim_eq("components", d, c.dim())?;
            log_z.push(c.log_normalizer().ok_or(ScoreError::BadParameter {
                param: "components",
                requirement: "distributions with a known normaliser",
                value: f64::NAN,
            })?);
        }
        Ok(Mixture {
            log_w: weights.iter().map(|w| (w / total).ln()).collect(),
            log_z,
            comps: components,
        })
    }

    /// The components.
    pub fn components(&self) -> &[D] {
        &self.comps
    }

    /// Normalised weights.
    pub fn weights(&self) -> Vec<f64> {
        self.log_w.iter().map(|l| l.exp()).collect()
    }

    /// Responsibilities rₖ(x) and component scores sₖ(x).
    pub fn responsibilities(&self, x: &[f64]) -> (Vec<f64>, Vec<Vec<f64>>) {
        let logits: Vec<f64> = self
            .comps
            .iter()
            .zip(&self.log_w)
            .zip(&self.log_z)
            .map(|((c, lw), lz)| lw + c.log_prob(x) - lz)
            .collect();
        let lse = stein_autodiff::special::logsumexp(&logits);
        let r = logits.iter().map(|l| (l - lse).exp()).collect();
        let s = self.comps.iter().map(|c| c.score(x)).collect();
        (r, s)
    }

    /// log πₖ − log Zₖ of each component: its logit is this plus its unnormalised log-density.
    pub(crate) fn log_offsets(&self) -> Vec<f64> {
        self.log_w
            .iter()
            .zip(&self.log_z)
            .map(|(w, z)| w - z)
            .collect()
    }

    /// Map each component (used to build noise-perturbed and tempered mixtures).
    pub(crate) fn map_components(
        &self,
        f: impl Fn(&D) -> Result<D, ScoreError>,
    ) -> Result<Self, ScoreError> {
        Mixture::new(
            self.weights(),
            self.comps.iter().map(f).collect::<Result<_, _>>()?,
        )
    }
}

impl<D: Analytic> LogDensity for Mixture<D> {
    fn dim(&self) -> usize {
        self.comps[0].dim()
    }
    fn log_prob<S: Real>(&self, x: &[S]) -> S {
        crate::density::check_len("Mixture::log_prob", x.len(), LogDensity::dim(self));
        let terms: Vec<S> = self
            .comps
            .iter()
            .zip(&self.log_w)
            .zip(&self.log_z)
            .map(|((c, lw), lz)| c.log_prob(x) + (lw - lz))
            .collect();
        S::logsumexp(&terms)
    }
}

impl<D: Analytic> Analytic for Mixture<D> {
    fn analytic_score_into(&self, x: &[f64], out: &mut [f64]) {
        self.log_prob_and_score(x, out);
    }
    fn log_prob_and_score(&self, x: &[f64], out: &mut [f64]) -> f64 {
        // One pass, no allocation for up to 16 components in up to 16 dimensions: a running log-sum-exp of
        // the logits with the score accumulated as a responsibility-weighted mean (rescaled when the maximum
        // logit moves), so far-away points stay exact.
        let d = x.len();
        let mut buf = [0.0f64; 16];
        let mut heap = Vec::new();
        let sk: &mut [f64] = if d <= 16 {
            &mut buf[..d]
        } else {
            heap.resize(d, 0.0);
            &mut heap
        };
        let (mut m, mut total) = (f64::NEG_INFINITY, 0.0);
        out.iter_mut().for_each(|o| *o = 0.0);
        for ((c, lw), lz) in self.comps.iter().zip(&self.log_w).zip(&self.log_z) {
            let logit = lw + c.log_prob_and_score(x, sk) - lz;
            if logit > m {
                // rescale what was accumulated under the old maximum
                let f = (m - logit).exp();
                total *= f;
                out.iter_mut().for_each(|o| *o *= f);
                m = logit;
            }
            let w = (logit - m).exp();
            total += w;
            for (o, v) in out.iter_mut().zip(sk.iter()) {
                *o += w * v;
            }
        }
        out.iter_mut().for_each(|o| *o /= total);
        m + total.ln()
    }
    fn laplacian(&self, x: &[f64]) -> f64 {
        crate::density::check_len("Mixture::laplacian", x.len(), LogDensity::dim(self));
        let (r, s) = self.responsibilities(x);
        let mut mean = vec![0.0; x.len()];
        let mut acc = 0.0;
        for ((rk, sk), c) in r.iter().zip(&s).zip(&self.comps) {
            acc += rk * (c.laplacian(x) + sk.iter().map(|v| v * v).sum::<f64>());
            for (m, v) in mean.iter_mut().zip(sk) {
                *m += rk * v;
            }
        }
        acc - mean.iter().map(|v| v * v).sum::<f64>()
    }
    fn log_normalizer(&self) -> Option<f64> {
        Some(0.0)
    }
}

impl<D: Analytic + Sample> Sample for Mixture<D> {
    fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f64]) {
        let u: f64 = rng.random();
        let mut acc = 0.0;
        let mut k = self.comps.len() - 1;
        for (i, lw) in self.log_w.iter().enumerate() {
            acc += lw.exp();
            if u < acc {
                k = i;
                break;
            }
        }
        self.comps[k].sample_into(rng, out)
    }
}
