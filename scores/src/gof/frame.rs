//! Scale-safe coordinates for the kernel statistics. A Gaussian kernel with the median heuristic depends on
//! ratios of squared distances only, but squared distances of points at scale 10¹⁶⁰ overflow and at 10⁻¹⁷⁰
//! underflow. The statistics therefore work in centred coordinates x̂ = (x − c) / 2ᵏ, with 2ᵏ the power of two
//! nearest the points' spread: dividing by a power of two is exact, so distances keep every bit of their
//! ratios, and scores are multiplied by 2ᵏ (ŝ = 2ᵏ s, the score of the rescaled density).

use crate::error::ScoreError;

/// The rescaling of one point set: x̂ = (x − center) · 2^(−log2).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Frame {
    center: Vec<f64>,
    /// k of the scale 2ᵏ.
    pub log2: i32,
}

/// `v · 2ᵏ` for any k (a plain `2f64.powi(k)` over- or underflows for |k| > 1023 before the product does).
pub(crate) fn ldexp(mut v: f64, mut k: i64) -> f64 {
    const STEP: i64 = 1000;
    while k > STEP {
        v *= 2f64.powi(STEP as i32);
        k -= STEP;
    }
    while k < -STEP {
        v *= 2f64.powi(-STEP as i32);
        k += STEP;
    }
    v * 2f64.powi(k as i32)
}

/// `v · 2ˣ` for a real exponent x.
pub(crate) fn scale_pow2(v: f64, x: f64) -> f64 {
    let whole = x.floor();
    ldexp(v * (x - whole).exp2(), whole as i64)
}

impl Frame {
    /// The frame of `points` (all of one dimension, all finite): centred on the midrange of each coordinate,
    /// scaled by the power of two nearest the largest half-range (1 when every point is the same).
    pub fn of<'a>(points: impl IntoIterator<Item = &'a [f64]>) -> Frame {
        let mut lo: Vec<f64> = Vec::new();
        let mut hi: Vec<f64> = Vec::new();
        for x in points {
            if lo.is_empty() {
                lo = x.to_vec();
                hi = x.to_vec();
            }
            for ((l, h), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(x) {
                *l = l.min(v);
                *h = h.max(v);
            }
        }
        // halves first: hi − lo of points at ±1.7e308 would overflow
        let center: Vec<f64> = lo.iter().zip(&hi).map(|(l, h)| l * 0.5 + h * 0.5).collect();
        let half_range = lo
            .iter()
            .zip(&hi)
            .map(|(l, h)| h * 0.5 - l * 0.5)
            .fold(0.0f64, f64::max);
        let log2 = if half_range > 0.0 {
            half_range.log2().round() as i32
        } else {
            0
        };
        Frame { center, log2 }
    }

    /// x̂ = (x − center) / 2ᵏ, each coordinate computed as x/2ᵏ − c/2ᵏ (exact divisions, no overflow).
    pub fn point(&self, x: &[f64]) -> Vec<f64> {
        let k = -(self.log2 as i64);
        x.iter()
            .zip(&self.center)
            .map(|(&v, &c)| ldexp(v, k) - ldexp(c, k))
            .collect()
    }

    /// Every point in the frame.
    pub fn points<'a>(&self, points: impl IntoIterator<Item = &'a [f64]>) -> Vec<Vec<f64>> {
        points.into_iter().map(|x| self.point(x)).collect()
    }

    /// ŝ = 2ᵏ s: the score of the rescaled density at x̂; an error naming `what` when a score is not finite.
    pub fn score(
        &self,
        what: &'static str,
        index: usize,
        s: &[f64],
    ) -> Result<Vec<f64>, ScoreError> {
        let k = self.log2 as i64;
        let scaled: Vec<f64> = s.iter().map(|&v| ldexp(v, k)).collect();
        match s.iter().position(|v| !v.is_finite()) {
            Some(j) => Err(ScoreError::NonFinite {
                what,
                index,
                value: s[j],
            }),
            None => Ok(scaled),
        }
    }

    /// A length h in the frame: h / 2ᵏ.
    pub fn length(&self, h: f64) -> f64 {
        ldexp(h, -(self.log2 as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldexp_spans_the_whole_range() {
        assert_eq!(ldexp(1.0, 1074 + 1023), f64::INFINITY);
        assert_eq!(ldexp(1.0, -1076), 0.0);
        assert_eq!(
            ldexp(f64::MAX, -2046),
            f64::MAX * 2f64.powi(-1023) * 2f64.powi(-1023)
        );
        assert_eq!(ldexp(3.0, 4), 48.0);
        assert!((scale_pow2(1.0, 0.5) - 2f64.sqrt()).abs() < 1e-15);
    }

    #[test]
    fn a_frame_maps_points_to_unit_scale_exactly() {
        for scale in [1e-170, 1.0, 1e160, 1.7e308] {
            let pts = [vec![-scale, 0.5 * scale], vec![scale, -0.25 * scale]];
            let f = Frame::of(pts.iter().map(|p| p.as_slice()));
            let hat = f.points(pts.iter().map(|p| p.as_slice()));
            for p in &hat {
                assert!(
                    p.iter().all(|v| v.is_finite() && v.abs() <= 1.5),
                    "{scale}: {p:?}"
                );
            }
            // differences scaled by an exact power of two
            let d = hat[1][0] - hat[0][0];
            let want = 2.0 * ldexp(scale, -(f.log2 as i64));
            assert!((d - want).abs() <= 1e-15 * d.abs(), "{scale}");
        }
        let same = [vec![3.0, 4.0], vec![3.0, 4.0]];
        assert_eq!(Frame::of(same.iter().map(|p| p.as_slice())).log2, 0);
    }
}
