//! L-BFGS's estimate H of the inverse Hessian of −log p, and the Gaussian N(μ, H) drawn from it in O(d k)
//! per draw (k correction pairs), never forming a d × d matrix.
//!
//! With the pairs S = [s₁ … s_k], Y = [y₁ … y_k] and the initial estimate γ I, the compact representation
//! (Byrd, Nocedal & Schnabel 1994, eq. 2.17) is H = γ I + B M Bᵀ, B = [S, γY], and
//! M = [[R⁻ᵀ(D + γ YᵀY)R⁻¹, −R⁻ᵀ], [−R⁻¹, 0]] with Rᵢⱼ = sᵢᵀyⱼ (i ≤ j) and D its diagonal. Writing
//! B/√γ = Q Rb (thin QR, Q with orthonormal columns) and C = I + Rb M Rbᵀ = L Lᵀ (Zhang et al. 2022, Alg. 4):
//! H = γ (I + Q (C − I) Qᵀ), so x = μ + √γ (u + Q (L − I) Qᵀ u) for u ~ N(0, I) has covariance H, and
//! log det H = d log γ + 2 Σ log Lᵢᵢ.
// The small k × k algebra reads best with the indices of its formulas.
#![allow(clippy::needless_range_loop)]

use std::collections::VecDeque;

pub(super) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The L-BFGS correction pairs (s, y, 1/yᵀs) of −log p, oldest first, and the scale γ = sᵀy/yᵀy of the newest.
pub(super) struct History {
    pairs: VecDeque<(Vec<f64>, Vec<f64>, f64)>,
    gamma: f64,
    keep: usize,
}

impl History {
    pub(super) fn new(keep: usize) -> Self {
        History {
            pairs: VecDeque::with_capacity(keep),
            gamma: 1.0,
            keep,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    pub(super) fn push(&mut self, s: Vec<f64>, y: Vec<f64>) {
        let sy = dot(&s, &y);
        // keep only pairs of positive curvature (the estimate stays positive-definite)
        if !(sy > 1e-12 * dot(&y, &y).sqrt() * dot(&s, &s).sqrt() && sy.is_finite()) {
            return;
        }
        self.gamma = sy / dot(&y, &y);
        if self.pairs.len() == self.keep {
            self.pairs.pop_front();
        }
        self.pairs.push_back((s, y, 1.0 / sy));
    }

    /// H q by the two-loop recursion.
    pub(super) fn apply(&self, q: &[f64]) -> Vec<f64> {
        let mut q = q.to_vec();
        let mut alpha = vec![0.0; self.pairs.len()];
        for (a, (s, y, rho)) in alpha.iter_mut().zip(&self.pairs).rev() {
            *a = rho * dot(s, &q);
            q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= *a * yi);
        }
        q.iter_mut().for_each(|v| *v *= self.gamma);
        for (a, (s, y, rho)) in alpha.iter().zip(&self.pairs) {
            let b = rho * dot(y, &q);
            q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
        }
        q
    }

    /// The factors of H (see the module documentation); `None` when C is not positive-definite in floating
    /// point (then the iterate has no Gaussian).
    pub(super) fn factor(&self, d: usize) -> Option<Factor> {
        let k = self.pairs.len();
        let g = self.gamma;
        // M (2k × 2k): R⁻¹ by back substitution on the upper-triangular R, Rᵢⱼ = sᵢᵀyⱼ (i ≤ j)
        let mut r = vec![vec![0.0; k]; k];
        for i in 0..k {
            for j in i..k {
                r[i][j] = dot(&self.pairs[i].0, &self.pairs[j].1);
            }
        }
        let mut rinv = vec![vec![0.0; k]; k];
        for j in 0..k {
            // column j of R⁻¹: solve R x = e_j
            for i in (0..=j).rev() {
                let rhs = if i == j { 1.0 } else { 0.0 };
                let acc: f64 = (i + 1..=j).map(|l| r[i][l] * rinv[l][j]).sum();
                rinv[i][j] = (rhs - acc) / r[i][i];
            }
        }
        let mut inner = vec![vec![0.0; k]; k]; // D + γ YᵀY
        for i in 0..k {
            for j in 0..k {
                inner[i][j] = g * dot(&self.pairs[i].1, &self.pairs[j].1);
            }
            inner[i][i] += 1.0 / self.pairs[i].2;
        }
        let mut m = vec![vec![0.0; 2 * k]; 2 * k];
        for i in 0..k {
            for j in 0..k {
                // (R⁻ᵀ inner R⁻¹)ᵢⱼ = Σₐ Σ_b R⁻¹ₐᵢ innerₐ_b R⁻¹_bj
                m[i][j] = (0..k)
                    .map(|a| rinv[a][i] * (0..k).map(|b| inner[a][b] * rinv[b][j]).sum::<f64>())
                    .sum();
                m[i][k + j] = -rinv[j][i];
                m[k + j][i] = -rinv[j][i];
            }
        }
        // B/√γ = [S/√γ, √γ Y], orthonormalised by Gram–Schmidt twice; columns already in the span are dropped
        let sg = g.sqrt();
        let cols = (0..2 * k).map(|j| {
            let (s, y, _) = &self.pairs[j % k];
            if j < k {
                s.iter().map(|v| v / sg).collect::<Vec<f64>>()
            } else {
                y.iter().map(|v| v * sg).collect()
            }
        });
        let mut q: Vec<Vec<f64>> = Vec::with_capacity(2 * k);
        let mut rb: Vec<Vec<f64>> = Vec::with_capacity(2 * k);
        for (j, mut v) in cols.enumerate() {
            let norm0 = dot(&v, &v).sqrt();
            let mut coef = vec![0.0; q.len()];
            for _ in 0..2 {
                for (c, qi) in coef.iter_mut().zip(&q) {
                    let a = dot(qi, &v);
                    *c += a;
                    v.iter_mut().zip(qi).for_each(|(vi, qv)| *vi -= a * qv);
                }
            }
            for (row, c) in rb.iter_mut().zip(&coef) {
                row[j] = *c;
            }
            let norm = dot(&v, &v).sqrt();
            if norm > 1e-10 * norm0 && norm > 0.0 && q.len() < d {
                v.iter_mut().for_each(|x| *x /= norm);
                q.push(v);
                let mut row = vec![0.0; 2 * k];
                row[j] = norm;
                rb.push(row);
            }
        }
        // C = I + Rb M Rbᵀ and its Cholesky factor
        let n = q.len();
        let mut c = vec![0.0; n * n];
        for i in 0..n {
            let rm: Vec<f64> = (0..2 * k)
                .map(|b| (0..2 * k).map(|a| rb[i][a] * m[a][b]).sum())
                .collect();
            for j in 0..n {
                c[i * n + j] = dot(&rm, &rb[j]) + if i == j { 1.0 } else { 0.0 };
            }
        }
        for i in 0..n {
            for j in 0..i {
                let s = 0.5 * (c[i * n + j] + c[j * n + i]);
                c[i * n + j] = s;
                c[j * n + i] = s;
            }
        }
        let l = stein_scores::linalg::cholesky(&c, n).ok()?;
        let log_det = d as f64 * g.ln() + 2.0 * (0..n).map(|i| l[i * n + i].ln()).sum::<f64>();
        log_det.is_finite().then_some(Factor {
            sqrt_gamma: sg,
            q,
            l,
            log_det,
        })
    }
}

/// H = γ (I + Q (L Lᵀ − I) Qᵀ) in factored form.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Factor {
    sqrt_gamma: f64,
    /// Orthonormal columns, each of length d.
    q: Vec<Vec<f64>>,
    /// Lower Cholesky factor of C, row-major n × n (n = the columns of Q).
    l: Vec<f64>,
    /// log det H.
    pub(super) log_det: f64,
}

impl Factor {
    /// μ + √γ (u + Q (L − I) Qᵀ u): a draw of N(μ, H) from standard normal `u`.
    pub(super) fn transform(&self, mean: &[f64], u: &[f64]) -> Vec<f64> {
        let n = self.q.len();
        let qu: Vec<f64> = self.q.iter().map(|c| dot(c, u)).collect();
        let w: Vec<f64> = (0..n)
            .map(|i| (0..=i).map(|j| self.l[i * n + j] * qu[j]).sum::<f64>() - qu[i])
            .collect();
        let mut x: Vec<f64> = u.to_vec();
        for (c, wi) in self.q.iter().zip(&w) {
            x.iter_mut().zip(c).for_each(|(xi, ci)| *xi += wi * ci);
        }
        x.iter_mut()
            .zip(mean)
            .for_each(|(xi, m)| *xi = m + self.sqrt_gamma * *xi);
        x
    }

    /// H as a dense row-major d × d matrix, O(d² n).
    pub(super) fn dense(&self, d: usize) -> Vec<f64> {
        let n = self.q.len();
        let g = self.sqrt_gamma * self.sqrt_gamma;
        // C − I = L Lᵀ − I
        let cm: Vec<f64> = (0..n * n)
            .map(|ij| {
                let (i, j) = (ij / n, ij % n);
                let v: f64 = (0..=i.min(j))
                    .map(|a| self.l[i * n + a] * self.l[j * n + a])
                    .sum();
                v - if i == j { 1.0 } else { 0.0 }
            })
            .collect();
        let mut h = vec![0.0; d * d];
        for r in 0..d {
            let qr: Vec<f64> = self.q.iter().map(|c| c[r]).collect();
            let t: Vec<f64> = (0..n)
                .map(|a| (0..n).map(|b| qr[b] * cm[b * n + a]).sum())
                .collect();
            for s in 0..d {
                let v: f64 = (0..n).map(|a| t[a] * self.q[a][s]).sum();
                h[r * d + s] = g * (v + if r == s { 1.0 } else { 0.0 });
            }
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pairs of a quadratic with Hessian A plus noise, so curvature is positive but no exact relation holds.
    fn history(d: usize, k: usize) -> History {
        let mut h = History::new(k);
        for p in 0..k + 2 {
            let s: Vec<f64> = (0..d)
                .map(|i| ((1 + i * 7 + p * 13) as f64).sin())
                .collect();
            let y: Vec<f64> = (0..d)
                .map(|i| (1.0 + i as f64) * s[i] + 0.1 * ((p + i) as f64).cos())
                .collect();
            h.push(s, y);
        }
        h
    }

    /// H by the two-loop recursion applied to the unit vectors.
    fn two_loop_dense(h: &History, d: usize) -> Vec<f64> {
        let mut out = vec![0.0; d * d];
        for j in 0..d {
            let mut e = vec![0.0; d];
            e[j] = 1.0;
            for (i, v) in h.apply(&e).into_iter().enumerate() {
                out[i * d + j] = v;
            }
        }
        out
    }

    #[test]
    fn the_compact_form_is_the_two_loop_recursion_and_its_draws_have_covariance_h() {
        // 2k < d (a thin Q) and 2k > d (columns dropped as they enter the span)
        for (d, k) in [(9, 3), (3, 4), (5, 5)] {
            let h = history(d, k);
            let want = two_loop_dense(&h, d);
            let f = h.factor(d).expect("a positive-definite estimate");
            let got = f.dense(d);
            for (a, b) in got.iter().zip(&want) {
                assert!(
                    (a - b).abs() < 1e-9 * (1.0 + b.abs()),
                    "d {d} k {k}: {a} vs {b}"
                );
            }
            // F Fᵀ = H for the draw map F u = transform(0, u) (columns F e_j)
            let fcol: Vec<Vec<f64>> = (0..d)
                .map(|j| {
                    let mut e = vec![0.0; d];
                    e[j] = 1.0;
                    f.transform(&vec![0.0; d], &e)
                })
                .collect();
            for r in 0..d {
                for s in 0..d {
                    let ffl: f64 = fcol.iter().map(|c| c[r] * c[s]).sum();
                    let w = want[r * d + s];
                    assert!((ffl - w).abs() < 1e-9 * (1.0 + w.abs()), "F Fᵀ at {r},{s}");
                }
            }
            // log det against a dense Cholesky factor
            let l = stein_scores::linalg::cholesky(&want, d).unwrap();
            let ld: f64 = 2.0 * (0..d).map(|i| l[i * d + i].ln()).sum::<f64>();
            assert!((f.log_det - ld).abs() < 1e-9 * (1.0 + ld.abs()), "log det");
        }
    }
}
