//! The Euclidean metric of the gradient-based kernels: an inverse mass matrix M⁻¹ (identity, diagonal,
//! dense, or low-rank + diagonal). HMC and NUTS draw momenta p ~ N(0, M) and move positions by M⁻¹p; MALA and ULA use M⁻¹ as the
//! preconditioner of their drift and noise. Warm-up estimates M⁻¹ as the posterior covariance.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// An inverse mass matrix M⁻¹ (the covariance it is estimated as).
#[derive(Clone, Debug, PartialEq)]
pub enum Metric {
    /// M⁻¹ = I.
    Identity,
    /// A diagonal M⁻¹ (one positive entry per coordinate).
    Diagonal(Vec<f64>),
    /// A dense M⁻¹ = L Lᵀ, kept as its Cholesky factor L (row-major, lower triangular).
    Dense(DenseMetric),
    /// M⁻¹ = D (I + U (Λ − I) Uᵀ) D: a diagonal scale D corrected along k orthonormal directions U
    /// (nutpie's low-rank metric); products cost O(d k) instead of O(d²).
    LowRank(LowRankMetric),
}

/// A low-rank + diagonal inverse mass matrix M⁻¹ = D (I + U (Λ − I) Uᵀ) D.
#[derive(Clone, Debug, PartialEq)]
pub struct LowRankMetric {
    /// D, the diagonal scale (the square root of M⁻¹'s diagonal where U is empty).
    scale: Vec<f64>,
    /// U, k orthonormal directions of length d, one after another.
    vecs: Vec<f64>,
    /// Λ, the eigenvalue along each direction.
    vals: Vec<f64>,
}

impl LowRankMetric {
    /// From the scale D (d positive entries), k orthonormal directions (`vecs`, k × d row-major) and their
    /// positive eigenvalues; `None` when sizes disagree, an entry is not positive and finite, or the
    /// directions are not orthonormal to 1e-6.
    pub fn new(scale: Vec<f64>, vecs: Vec<f64>, vals: Vec<f64>) -> Option<Self> {
        let d = scale.len();
        let ok = |v: &f64| v.is_finite() && *v > 0.0;
        if d == 0 || vecs.len() != vals.len() * d || !scale.iter().all(ok) || !vals.iter().all(ok) {
            return None;
        }
        let m = LowRankMetric { scale, vecs, vals };
        for a in 0..m.rank() {
            for b in 0..=a {
                let dot: f64 = m.dir(a).iter().zip(m.dir(b)).map(|(x, y)| x * y).sum();
                if (dot - f64::from(a == b)).abs() > 1e-6 {
                    return None;
                }
            }
        }
        Some(m)
    }

    /// k, the number of corrected directions.
    pub fn rank(&self) -> usize {
        self.vals.len()
    }

    /// The eigenvalues Λ along the corrected directions.
    pub fn eigenvalues(&self) -> &[f64] {
        &self.vals
    }

    fn dir(&self, a: usize) -> &[f64] {
        let d = self.scale.len();
        &self.vecs[a * d..(a + 1) * d]
    }

    /// w ← w + U ((f(λ) − 1) ⊙ Uᵀ w) in place: the correction with eigenvalues f(λ).
    fn correct(&self, w: &mut [f64], f: impl Fn(f64) -> f64) {
        for a in 0..self.rank() {
            let u = self.dir(a);
            let c =
                (f(self.vals[a]) - 1.0) * u.iter().zip(w.iter()).map(|(x, y)| x * y).sum::<f64>();
            w.iter_mut().zip(u).for_each(|(wi, ui)| *wi += c * ui);
        }
    }

    /// M⁻¹ as a row-major matrix.
    pub fn inverse_mass(&self) -> Vec<f64> {
        let d = self.scale.len();
        let mut m = vec![0.0; d * d];
        for j in 0..d {
            let mut e = vec![0.0; d];
            e[j] = self.scale[j];
            self.correct(&mut e, |l| l);
            for i in 0..d {
                m[i * d + j] = self.scale[i] * e[i];
            }
        }
        m
    }
}

/// A dense inverse mass matrix held by its Cholesky factor.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseMetric {
    d: usize,
    /// L, row-major lower triangle (M⁻¹ = L Lᵀ).
    l: Vec<f64>,
}

impl DenseMetric {
    /// Factor a symmetric positive-definite M⁻¹ given row-major (`d × d`); `None` if it is not.
    pub fn new(inv_mass: &[f64], d: usize) -> Option<Self> {
        if inv_mass.len() != d * d {
            return None;
        }
        let l = stein_scores::linalg::cholesky(inv_mass, d).ok()?;
        Some(DenseMetric { d, l })
    }

    /// M⁻¹ as a row-major matrix.
    pub fn inverse_mass(&self) -> Vec<f64> {
        let d = self.d;
        let mut m = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                m[i * d + j] = (0..=i.min(j))
                    .map(|k| self.l[i * d + k] * self.l[j * d + k])
                    .sum();
            }
        }
        m
    }
}

impl Metric {
    /// The dimension it fits (`None` for the identity, which fits any).
    pub fn dim(&self) -> Option<usize> {
        match self {
            Metric::Identity => None,
            Metric::Diagonal(v) => Some(v.len()),
            Metric::Dense(m) => Some(m.d),
            Metric::LowRank(m) => Some(m.scale.len()),
        }
    }

    /// Check against the target's dimension: sizes agree, entries positive and finite.
    pub fn validate(&self, dim: usize) -> Result<(), String> {
        match self {
            Metric::Identity => Ok(()),
            Metric::Diagonal(v) if v.len() != dim => Err(format!(
                "a diagonal metric of {} entries for dimension {dim}",
                v.len()
            )),
            Metric::Diagonal(v) => match v.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
                Some(x) => Err(format!(
                    "metric entry {x}: entries must be positive and finite"
                )),
                None => Ok(()),
            },
            Metric::Dense(m) if m.d != dim => Err(format!(
                "a dense metric of dimension {} for dimension {dim}",
                m.d
            )),
            Metric::Dense(_) => Ok(()),
            Metric::LowRank(m) if m.scale.len() != dim => Err(format!(
                "a low-rank metric of dimension {} for dimension {dim}",
                m.scale.len()
            )),
            Metric::LowRank(_) => Ok(()),
        }
    }

    /// v = M⁻¹ p (the velocity, Stan's p♯).
    pub fn velocity(&self, p: &[f64], v: &mut [f64]) {
        match self {
            Metric::Identity => v.copy_from_slice(p),
            Metric::Diagonal(m) => {
                for ((vi, pi), mi) in v.iter_mut().zip(p).zip(m) {
                    *vi = mi * pi;
                }
            }
            Metric::Dense(m) => {
                // v = L (Lᵀ p)
                let d = m.d;
                for (j, vj) in v.iter_mut().enumerate() {
                    *vj = (j..d).map(|k| m.l[k * d + j] * p[k]).sum();
                }
                for i in (0..d).rev() {
                    let s: f64 = (0..=i).map(|k| m.l[i * d + k] * v[k]).sum();
                    v[i] = s;
                }
            }
            Metric::LowRank(m) => {
                // v = D (I + U (Λ − I) Uᵀ) D p
                v.iter_mut()
                    .zip(p)
                    .zip(&m.scale)
                    .for_each(|((vi, pi), di)| *vi = di * pi);
                m.correct(v, |l| l);
                v.iter_mut().zip(&m.scale).for_each(|(vi, di)| *vi *= di);
            }
        }
    }

    /// v = M⁻¹ p and K(p) = ½ pᵀ M⁻¹ p in one pass (the same sums as [`Metric::velocity`] then
    /// [`Metric::kinetic`]).
    pub fn velocity_kinetic(&self, p: &[f64], v: &mut [f64]) -> f64 {
        let mut k = 0.0;
        match self {
            Metric::Identity => {
                for (vi, pi) in v.iter_mut().zip(p) {
                    *vi = *pi;
                    k += pi * pi;
                }
            }
            Metric::Diagonal(m) => {
                for ((vi, pi), mi) in v.iter_mut().zip(p).zip(m) {
                    *vi = mi * pi;
                    k += pi * *vi;
                }
            }
            Metric::Dense(_) | Metric::LowRank(_) => {
                self.velocity(p, v);
                return Self::kinetic(p, v);
            }
        }
        0.5 * k
    }

    /// K(p) = ½ pᵀ M⁻¹ p, with `v` = M⁻¹p already computed.
    pub fn kinetic(p: &[f64], v: &[f64]) -> f64 {
        0.5 * p.iter().zip(v).map(|(a, b)| a * b).sum::<f64>()
    }

    /// A momentum p ~ N(0, M): with M⁻¹ = L Lᵀ, p = L⁻ᵀ z.
    pub fn sample_momentum<R: Rng + ?Sized>(&self, rng: &mut R, p: &mut [f64]) {
        for pi in p.iter_mut() {
            *pi = StandardNormal.sample(rng);
        }
        match self {
            Metric::Identity => {}
            Metric::Diagonal(m) => p.iter_mut().zip(m).for_each(|(pi, mi)| *pi /= mi.sqrt()),
            Metric::Dense(m) => {
                // solve Lᵀ p = z, back substitution
                let d = m.d;
                for i in (0..d).rev() {
                    let s: f64 = (i + 1..d).map(|k| m.l[k * d + i] * p[k]).sum();
                    p[i] = (p[i] - s) / m.l[i * d + i];
                }
            }
            Metric::LowRank(m) => {
                // M = D⁻¹ (I + U (Λ^{-1/2} − I) Uᵀ)² D⁻¹, so p = D⁻¹ (I + U (Λ^{-1/2} − I) Uᵀ) z
                m.correct(p, |l| l.sqrt().recip());
                p.iter_mut().zip(&m.scale).for_each(|(pi, di)| *pi /= di);
            }
        }
    }

    /// noise = L z for z ~ N(0, I): a draw of N(0, M⁻¹) (the preconditioned Langevin noise). Returns ‖z‖².
    pub fn sample_noise<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f64]) -> f64 {
        let mut zz = 0.0;
        for o in out.iter_mut() {
            let z: f64 = StandardNormal.sample(rng);
            zz += z * z;
            *o = z;
        }
        self.mul_sqrt(out);
        zz
    }

    /// z ← L z in place (L the factor of M⁻¹; the square root of the diagonal for a diagonal metric).
    fn mul_sqrt(&self, z: &mut [f64]) {
        match self {
            Metric::Identity => {}
            Metric::Diagonal(m) => z.iter_mut().zip(m).for_each(|(zi, mi)| *zi *= mi.sqrt()),
            Metric::Dense(m) => {
                let d = m.d;
                for i in (0..d).rev() {
                    z[i] = (0..=i).map(|k| m.l[i * d + k] * z[k]).sum();
                }
            }
            Metric::LowRank(m) => {
                // the symmetric root D (I + U (Λ^{1/2} − I) Uᵀ)
                m.correct(z, f64::sqrt);
                z.iter_mut().zip(&m.scale).for_each(|(zi, di)| *zi *= di);
            }
        }
    }

    /// rᵀ M r = ‖L⁻¹ r‖² (the Mahalanobis norm of a preconditioned proposal); `r` is overwritten.
    pub fn mass_norm_in_place(&self, r: &mut [f64]) -> f64 {
        match self {
            Metric::Identity => r.iter().map(|v| v * v).sum(),
            Metric::Diagonal(m) => r.iter().zip(m).map(|(v, mi)| v * v / mi).sum(),
            Metric::Dense(m) => {
                // forward substitution L w = r, in place
                let d = m.d;
                for i in 0..d {
                    let s: f64 = (0..i).map(|k| m.l[i * d + k] * r[k]).sum();
                    r[i] = (r[i] - s) / m.l[i * d + i];
                }
                r.iter().map(|v| v * v).sum()
            }
            Metric::LowRank(m) => {
                // w = (I + U (Λ^{-1/2} − I) Uᵀ) D⁻¹ r, the inverse of the root above
                r.iter_mut().zip(&m.scale).for_each(|(ri, di)| *ri /= di);
                m.correct(r, |l| l.sqrt().recip());
                r.iter().map(|v| v * v).sum()
            }
        }
    }
}
