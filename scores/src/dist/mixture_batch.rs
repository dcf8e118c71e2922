//! Scores and log-densities of many points at once under a Gaussian mixture, vectorised across the points:
//! tiles of 64 points in struct-of-arrays layout, each component's quadratic form computed for the whole
//! tile, the responsibilities through one vectorised exponential per component and tile, tiles in parallel.
//! For samplers that move thousands of chains together (the batched ULA and MALA drivers).

use crate::dist::mixture::GaussianMixture;
use crate::error::ScoreError;
use rayon::prelude::*;

/// Points per tile.
const TILE: usize = 64;

/// A Gaussian mixture prepared for batches: means, precision matrices and log-weights minus log-normalisers.
///
/// ```
/// use stein_scores::{GaussianMixture, MultivariateNormal, Score};
/// let c = |m: f64| MultivariateNormal::isotropic(vec![m, 0.5], 0.7).unwrap();
/// let gmm = GaussianMixture::new(vec![1.0, 3.0], vec![c(-2.0), c(2.0)]).unwrap();
/// let batch = gmm.batch();
/// let x = [0.3, -0.1, 5.0, 2.0, -40.0, 1.0];     // three points, row by row
/// let (mut s, mut lp) = (vec![0.0; 6], vec![0.0; 3]);
/// batch.eval(&x, &mut s, Some(&mut lp)).unwrap();
/// for i in 0..3 {
///     let one = gmm.score(&x[2 * i..2 * i + 2]);
///     assert!((one[0] - s[2 * i]).abs() < 1e-9 * (1.0 + one[0].abs()));
/// }
/// ```
#[derive(Clone, Debug)]
pub struct MixtureBatch {
    d: usize,
    means: Vec<f64>,
    precisions: Vec<f64>,
    offsets: Vec<f64>,
}

impl GaussianMixture {
    /// This mixture prepared for batches of points ([`MixtureBatch`]).
    pub fn batch(&self) -> MixtureBatch {
        let d = self.components()[0].mean().len();
        let mut precisions = Vec::with_capacity(self.components().len() * d * d);
        for c in self.components() {
            // Σ⁻¹ column by column (symmetric: rows alike)
            for a in 0..d {
                let mut e = vec![0.0; d];
                e[a] = 1.0;
                precisions.extend(c.cholesky().solve(&e));
            }
        }
        MixtureBatch {
            d,
            means: self
                .components()
                .iter()
                .flat_map(|c| c.mean().to_vec())
                .collect(),
            precisions,
            offsets: self.log_offsets(),
        }
    }
}

impl MixtureBatch {
    /// The dimension.
    pub fn dim(&self) -> usize {
        self.d
    }

    /// Scores of the points in `x` (row by row, n × d) into `score` (n × d) and, when given, their
    /// normalised log-densities into `log_p` (n); an error naming the lengths when they do not fit.
    pub fn eval(
        &self,
        x: &[f64],
        score: &mut [f64],
        log_p: Option<&mut [f64]>,
    ) -> Result<(), ScoreError> {
        let d = self.d;
        let n = x.len() / d;
        let lp_len = log_p.as_ref().map_or(n, |l| l.len());
        if x.len() != n * d || score.len() != x.len() || lp_len != n {
            return Err(ScoreError::Dimension {
                param: "batch",
                expected: format!("x of n × {d}, a score of the same length, log p of n"),
                got: format!("x {}, score {}, log p {lp_len}", x.len(), score.len()),
            });
        }
        let want_log_p = log_p.is_some();
        let mut spare = Vec::new();
        let log_p = match log_p {
            Some(l) => l,
            None => {
                spare.resize(n, 0.0);
                &mut spare[..]
            }
        };
        let k = self.offsets.len();
        x.par_chunks(TILE * d)
            .zip(score.par_chunks_mut(TILE * d))
            .zip(log_p.par_chunks_mut(TILE))
            .for_each_init(
                || Scratch::new(k, d),
                |scratch, ((x, s), lp)| {
                    pulp::Arch::new().dispatch(Tile {
                        batch: self,
                        scratch,
                        x,
                        score: s,
                        log_p: lp,
                        want_log_p,
                    })
                },
            );
        Ok(())
    }

    /// One tile of at most [`TILE`] points (the rest of the tile is padded with zeros and not written out).
    #[inline(always)]
    fn tile(
        &self,
        sc: &mut Scratch,
        x: &[f64],
        score: &mut [f64],
        log_p: &mut [f64],
        want_log_p: bool,
    ) {
        let (d, k, n) = (self.d, self.offsets.len(), log_p.len());
        // struct of arrays: coordinate a of point i at xs[a][i]
        for (a, xa) in sc.xs.iter_mut().enumerate() {
            xa.fill(0.0);
            for (i, v) in xa.iter_mut().take(n).enumerate() {
                *v = x[i * d + a];
            }
        }
        for c in 0..k {
            let mu = &self.means[c * d..(c + 1) * d];
            let p = &self.precisions[c * d * d..(c + 1) * d * d];
            for ((da, xa), m) in sc.diff.iter_mut().zip(&sc.xs).zip(mu) {
                for i in 0..TILE {
                    da[i] = xa[i] - m;
                }
            }
            let mut quad = [0.0f64; TILE];
            for a in 0..d {
                let mut ya = [0.0f64; TILE];
                for b in 0..d {
                    let pab = p[a * d + b];
                    if pab == 0.0 {
                        continue;
                    }
                    let db = &sc.diff[b];
                    for i in 0..TILE {
                        ya[i] += pab * db[i];
                    }
                }
                let da = &sc.diff[a];
                for i in 0..TILE {
                    quad[i] += ya[i] * da[i];
                }
                sc.ys[c * d + a] = ya;
            }
            let off = self.offsets[c];
            let l = &mut sc.logits[c];
            for i in 0..TILE {
                l[i] = off - 0.5 * quad[i];
            }
        }
        // responsibilities: e^{logit − max}, the largest exactly 1 (far points stay exact)
        let mut m = [f64::NEG_INFINITY; TILE];
        for l in &sc.logits {
            for i in 0..TILE {
                m[i] = if l[i] > m[i] { l[i] } else { m[i] };
            }
        }
        for l in sc.logits.iter_mut() {
            for i in 0..TILE {
                l[i] -= m[i];
            }
        }
        stein_autodiff::special::exp_slice(sc.logits.as_flattened(), sc.w.as_flattened_mut());
        let mut total = [0.0f64; TILE];
        for wc in &sc.w {
            for i in 0..TILE {
                total[i] += wc[i];
            }
        }
        for a in 0..d {
            let mut acc = [0.0f64; TILE];
            for c in 0..k {
                let (wc, ya) = (&sc.w[c], &sc.ys[c * d + a]);
                for i in 0..TILE {
                    acc[i] -= wc[i] * ya[i];
                }
            }
            for i in 0..n {
                score[i * d + a] = acc[i] / total[i];
            }
        }
        if want_log_p {
            for i in 0..n {
                log_p[i] = m[i] + total[i].ln();
            }
        }
    }
}

/// One tile, compiled once per instruction set by `pulp` and chosen at run time (a plain call would be compiled
/// for the baseline only: SSE2, two lanes).
struct Tile<'a> {
    batch: &'a MixtureBatch,
    scratch: &'a mut Scratch,
    x: &'a [f64],
    score: &'a mut [f64],
    log_p: &'a mut [f64],
    want_log_p: bool,
}

impl pulp::WithSimd for Tile<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        self.batch.tile(
            self.scratch,
            self.x,
            self.score,
            self.log_p,
            self.want_log_p,
        )
    }
}

/// A tile's working arrays (one set per rayon job).
struct Scratch {
    xs: Vec<[f64; TILE]>,
    diff: Vec<[f64; TILE]>,
    ys: Vec<[f64; TILE]>,
    logits: Vec<[f64; TILE]>,
    w: Vec<[f64; TILE]>,
}

impl Scratch {
    fn new(k: usize, d: usize) -> Self {
        Scratch {
            xs: vec![[0.0; TILE]; d],
            diff: vec![[0.0; TILE]; d],
            ys: vec![[0.0; TILE]; k * d],
            logits: vec![[0.0; TILE]; k],
            w: vec![[0.0; TILE]; k],
        }
    }
}
