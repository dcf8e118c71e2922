//! Pareto-smoothed importance sampling (Vehtari, Simpson, Gelman, Yao & Gabry 2024): the largest importance
//! ratios, whose few values decide a weighted mean, are replaced by the expected order statistics of a
//! generalised Pareto distribution fitted to them (Zhang & Stephens 2009, with the weakly informative prior
//! of the `loo` package), and truncated at the largest raw ratio. The fitted shape k̂ says how far the
//! weights can be trusted: below 0.5 the importance-weighted means converge at the usual rate, up to 0.7
//! usable with more draws, above 0.7 not to be trusted (the proposal misses mass of the target).
//!
//! ```
//! use statrs::distribution::{ContinuousCDF, Normal};
//! use stein_models::sample::psis::psis;
//! // proposal N(0, 1), target N(0, 2): log ratios x²/4 (up to a constant), tail shape k = 1 − 1/2
//! let x: Vec<f64> = (1..=4000)
//!     .map(|i| Normal::standard().inverse_cdf((i as f64 - 0.5) / 4000.0))
//!     .collect();
//! let r = psis(&x.iter().map(|v| v * v / 4.0).collect::<Vec<_>>());
//! assert!((r.pareto_k - 0.5).abs() < 0.15, "k̂ = {}", r.pareto_k);
//! ```

/// Smoothed log weights and the Pareto shape k̂ of their tail.
#[derive(Clone, Debug, PartialEq)]
pub struct Psis {
    /// The log weights (unnormalised), in the order of the ratios given.
    pub log_weights: Vec<f64>,
    /// The fitted tail shape k̂; NaN when there were too few ratios (< 10) or their tail was flat (all its
    /// ratios equal: the weights are already equal there).
    pub pareto_k: f64,
}

/// Pareto-smooth the log importance ratios `log_ratios` (log p − log q of draws from q). Non-finite ratios:
/// −∞ stays a weight of zero; NaN or +∞ give all-NaN weights and k̂ = NaN.
pub fn psis(log_ratios: &[f64]) -> Psis {
    let s = log_ratios.len();
    let mut lw = log_ratios.to_vec();
    if log_ratios.iter().any(|v| v.is_nan() || *v == f64::INFINITY) {
        return Psis {
            log_weights: vec![f64::NAN; s],
            pareto_k: f64::NAN,
        };
    }
    let top = lw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if top == f64::NEG_INFINITY {
        return Psis {
            log_weights: lw,
            pareto_k: f64::NAN,
        };
    }
    lw.iter_mut().for_each(|v| *v -= top);
    let finite = lw.iter().filter(|v| v.is_finite()).count();
    let tail = ((0.2 * finite as f64).min(3.0 * (finite as f64).sqrt())).ceil() as usize;
    let mut k = f64::NAN;
    if finite >= 10 && tail >= 5 && tail < finite {
        let mut order: Vec<usize> = (0..s).filter(|&i| lw[i].is_finite()).collect();
        order.sort_by(|&a, &b| lw[a].total_cmp(&lw[b]));
        let ids = &order[finite - tail..];
        let cutoff = lw[order[finite - tail - 1]];
        let (lo, hi) = (lw[ids[0]], lw[ids[tail - 1]]);
        if hi - lo > f64::EPSILON / 100.0 {
            let exceed: Vec<f64> = ids.iter().map(|&i| lw[i].exp() - cutoff.exp()).collect();
            let (shape, sigma) = gpd_fit(&exceed);
            k = shape;
            if shape.is_finite() && sigma > 0.0 {
                for (j, &i) in ids.iter().enumerate() {
                    let p = (j as f64 + 0.5) / tail as f64;
                    lw[i] = (gpd_quantile(p, shape, sigma) + cutoff.exp()).ln();
                }
            }
        }
    }
    // truncate at the largest raw ratio (0 after the shift), then shift back
    lw.iter_mut().for_each(|v| *v = v.min(0.0) + top);
    Psis {
        log_weights: lw,
        pareto_k: k,
    }
}

/// The generalised Pareto quantile: σ ((1 − p)^(−k) − 1) / k.
fn gpd_quantile(p: f64, k: f64, sigma: f64) -> f64 {
    if k.abs() < 1e-12 {
        -sigma * (-p).ln_1p()
    } else {
        sigma * (-k * (-p).ln_1p()).exp_m1() / k
    }
}

/// Zhang & Stephens' (2009) estimate of the generalised Pareto shape k and scale σ from exceedances `x`
/// (sorted ascending, positive), with `loo`'s weakly informative prior pulling k towards 0.5 by 10 pseudo-
/// observations.
fn gpd_fit(x: &[f64]) -> (f64, f64) {
    let n = x.len();
    let prior = 3.0;
    let m = 30 + (n as f64).sqrt() as usize;
    let xstar = x[((n as f64) / 4.0 + 0.5).floor() as usize - 1];
    let theta: Vec<f64> = (1..=m)
        .map(|j| 1.0 / x[n - 1] + (1.0 - (m as f64 / (j as f64 - 0.5)).sqrt()) / prior / xstar)
        .collect();
    // the profile log-likelihood of each θ
    let l: Vec<f64> = theta
        .iter()
        .map(|&t| {
            let k = x.iter().map(|v| (-t * v).ln_1p()).sum::<f64>() / n as f64;
            n as f64 * ((-t / k).ln() - k - 1.0)
        })
        .collect();
    let lmax = l
        .iter()
        .copied()
        .filter(|v| !v.is_nan())
        .fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = l
        .iter()
        .map(|v| if v.is_nan() { 0.0 } else { (v - lmax).exp() })
        .collect();
    let total: f64 = w.iter().sum();
    let theta_hat = theta.iter().zip(&w).map(|(t, w)| t * w).sum::<f64>() / total;
    let k = x.iter().map(|v| (-theta_hat * v).ln_1p()).sum::<f64>() / n as f64;
    let sigma = -k / theta_hat;
    let k = (k * n as f64 + 0.5 * 10.0) / (n as f64 + 10.0);
    (k, sigma)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gpd_fit_recovers_known_shapes() {
        // exact quantiles of GPD(k, 1): the fit lands near k (the prior pulls k̂ a little towards 0.5)
        for k in [0.1, 0.5, 0.9] {
            let n = 2000;
            let x: Vec<f64> = (0..n)
                .map(|i| gpd_quantile((i as f64 + 0.5) / n as f64, k, 1.0))
                .collect();
            let (kh, sigma) = gpd_fit(&x);
            assert!((kh - k).abs() < 0.05, "k {k}: k̂ {kh}");
            assert!((sigma - 1.0).abs() < 0.1, "k {k}: σ̂ {sigma}");
        }
    }

    #[test]
    fn smoothing_keeps_the_order_and_truncates_at_the_largest_ratio() {
        let r: Vec<f64> = (0..500)
            .map(|i| ((i * 37 % 500) as f64 / 50.0).powi(2))
            .collect();
        let p = psis(&r);
        let top = r.iter().copied().fold(f64::MIN, f64::max);
        assert!(p.log_weights.iter().all(|w| *w <= top));
        // the untouched body keeps its values
        let body = r
            .iter()
            .zip(&p.log_weights)
            .filter(|(a, b)| (*a - *b).abs() < 1e-12)
            .count();
        assert!(body >= 500 - 68, "{body} unchanged");
        assert!(p.pareto_k.is_finite());
        // degenerate inputs
        assert!(psis(&[1.0, f64::NAN])
            .log_weights
            .iter()
            .all(|w| w.is_nan()));
        assert!(psis(&[0.5; 100]).pareto_k.is_nan());
        assert_eq!(psis(&[0.5; 100]).log_weights, vec![0.5; 100]);
    }
}
