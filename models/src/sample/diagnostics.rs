//! Convergence diagnostics as Stan and ArviZ compute them (Vehtari, Gelman, Simpson, Carpenter & Bürkner
//! 2021): rank-normalised split R-hat, bulk and tail ESS, ESS by Geyer's initial monotone sequence (Geyer
//! 1992), Monte Carlo standard errors of means and quantiles, E-BFMI (Betancourt 2016). Each takes a
//! coordinate's draws as one vector per chain; chains must be of equal length.
// Acklam's published coefficients are kept digit for digit.
#![allow(clippy::excessive_precision)]

/// Φ⁻¹(p), the standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383577518672690e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let lo = 0.02425;
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    if p < lo {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - lo {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}

/// Split every chain into its first and second halves (dropping the middle draw of odd lengths).
pub fn split_chains(chains: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let mut out = Vec::with_capacity(2 * chains.len());
    for c in chains {
        let h = c.len() / 2;
        out.push(c[..h].to_vec());
        out.push(c[c.len() - h..].to_vec());
    }
    out
}

/// Replace every draw by the normal score of its pooled fractional rank, Φ⁻¹((r − 3/8)/(S + 1/4)); ties
/// share their average rank.
pub fn rank_normalize(chains: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let mut all: Vec<(f64, usize, usize)> = Vec::new();
    for (j, c) in chains.iter().enumerate() {
        for (i, &v) in c.iter().enumerate() {
            all.push((v, j, i));
        }
    }
    all.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    let s = all.len() as f64;
    let mut out: Vec<Vec<f64>> = chains.iter().map(|c| vec![0.0; c.len()]).collect();
    let mut k = 0;
    while k < all.len() {
        let mut e = k;
        while e + 1 < all.len() && all[e + 1].0 == all[k].0 {
            e += 1;
        }
        let rank = (k + e) as f64 / 2.0 + 1.0;
        let z = normal_quantile((rank - 0.375) / (s + 0.25));
        for item in &all[k..=e] {
            out[item.1][item.2] = z;
        }
        k = e + 1;
    }
    out
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn usable(chains: &[Vec<f64>], min_len: usize) -> bool {
    !chains.is_empty()
        && chains
            .iter()
            .all(|c| c.len() == chains[0].len() && c.len() >= min_len)
        && chains.iter().flatten().all(|v| v.is_finite())
}

fn is_constant(chains: &[Vec<f64>]) -> bool {
    let mut all = chains.iter().flatten();
    let first = all.next().copied().unwrap_or(0.0);
    all.all(|v| (v - first).abs() < f64::EPSILON * first.abs().max(1.0))
}

/// The classic potential scale reduction factor of equal-length chains (NaN for non-finite draws or
/// chains shorter than 2; 1 for constant draws).
pub fn rhat_basic(chains: &[Vec<f64>]) -> f64 {
    if !usable(chains, 2) || chains.len() < 2 {
        return f64::NAN;
    }
    if is_constant(chains) {
        return 1.0;
    }
    let m = chains.len() as f64;
    let n = chains[0].len() as f64;
    let means: Vec<f64> = chains.iter().map(|c| mean(c)).collect();
    let w = chains
        .iter()
        .zip(&means)
        .map(|(c, mu)| c.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / (n - 1.0))
        .sum::<f64>()
        / m;
    let gm = mean(&means);
    let b_over_n = means.iter().map(|mu| (mu - gm) * (mu - gm)).sum::<f64>() / (m - 1.0);
    ((n - 1.0) / n + b_over_n / w).sqrt()
}

/// Rank-normalised split R-hat (Vehtari et al. 2021): the larger of the bulk and the folded (|x − median|)
/// values. Below 1.01 is the bar for convergence.
pub fn split_rhat(chains: &[Vec<f64>]) -> f64 {
    if !usable(chains, 4) {
        return f64::NAN;
    }
    let split = split_chains(chains);
    let bulk = rhat_basic(&rank_normalize(&split));
    let med = quantile(chains, 0.5);
    let folded: Vec<Vec<f64>> = split
        .iter()
        .map(|c| c.iter().map(|v| (v - med).abs()).collect())
        .collect();
    bulk.max(rhat_basic(&rank_normalize(&folded)))
}

/// Effective sample size of equal-length chains: the multi-chain autocorrelation estimate, truncated by
/// Geyer's initial positive sequence and made monotone, with the improved estimate for antithetic chains
/// (Stan's `ess`; Vehtari et al. 2021, eq. 10). NaN for non-finite draws or chains shorter than 4.
pub fn ess_basic(chains: &[Vec<f64>]) -> f64 {
    if !usable(chains, 4) {
        return f64::NAN;
    }
    let (m, n) = (chains.len(), chains[0].len());
    let total = (m * n) as f64;
    if is_constant(chains) {
        return total;
    }
    let means: Vec<f64> = chains.iter().map(|c| mean(c)).collect();
    // mean over chains of the biased autocovariance at lag t
    let acov = |t: usize| -> f64 {
        chains
            .iter()
            .zip(&means)
            .map(|(c, mu)| {
                (0..n - t)
                    .map(|i| (c[i] - mu) * (c[i + t] - mu))
                    .sum::<f64>()
            })
            .sum::<f64>()
            / (n * m) as f64
    };
    let nf = n as f64;
    let mean_var = acov(0) * nf / (nf - 1.0);
    let mut var_plus = mean_var * (nf - 1.0) / nf;
    if m > 1 {
        let gm = mean(&means);
        var_plus += means.iter().map(|mu| (mu - gm).powi(2)).sum::<f64>() / (m as f64 - 1.0);
    }
    let rho = |t: usize| 1.0 - (mean_var - acov(t)) / var_plus;
    let mut rho_hat = vec![0.0; n + 2];
    rho_hat[0] = 1.0;
    let (mut even, mut odd) = (1.0, rho(1));
    rho_hat[1] = odd;
    // Geyer's initial positive sequence over pairs of lags (t + 1, t + 2)
    let mut t = 1;
    while t + 3 < n && even + odd > 0.0 {
        even = rho(t + 1);
        odd = rho(t + 2);
        if even + odd >= 0.0 {
            rho_hat[t + 1] = even;
            rho_hat[t + 2] = odd;
        }
        t += 2;
    }
    // lags 0..=max_t enter the sum; the last even lag (max_t + 1) enters once, when positive: the improved
    // estimate for antithetic chains
    let last_even = t - 1;
    if even > 0.0 {
        rho_hat[last_even] = even;
    }
    // Geyer's initial monotone sequence
    let mut t = 1;
    while t + 3 <= last_even {
        if rho_hat[t + 1] + rho_hat[t + 2] > rho_hat[t - 1] + rho_hat[t] {
            rho_hat[t + 1] = (rho_hat[t - 1] + rho_hat[t]) / 2.0;
            rho_hat[t + 2] = rho_hat[t + 1];
        }
        t += 2;
    }
    let tau = -1.0 + 2.0 * rho_hat[..last_even].iter().sum::<f64>() + rho_hat[last_even];
    total / tau.max(1.0 / total.log10())
}

/// Bulk ESS: [`ess_basic`] of the rank-normalised split chains (for the centre of the distribution).
pub fn ess_bulk(chains: &[Vec<f64>]) -> f64 {
    if !usable(chains, 4) {
        return f64::NAN;
    }
    ess_basic(&rank_normalize(&split_chains(chains)))
}

/// ESS of the estimate of the `p`-quantile: [`ess_basic`] of the split chains of I(x ≤ q̂ₚ).
pub fn ess_quantile(chains: &[Vec<f64>], p: f64) -> f64 {
    if !usable(chains, 4) {
        return f64::NAN;
    }
    let q = quantile(chains, p);
    let ind: Vec<Vec<f64>> = chains
        .iter()
        .map(|c| c.iter().map(|&v| f64::from(u8::from(v <= q))).collect())
        .collect();
    ess_basic(&split_chains(&ind))
}

/// Tail ESS: the smaller ESS of the 5% and 95% quantiles (for intervals).
pub fn ess_tail(chains: &[Vec<f64>]) -> f64 {
    ess_quantile(chains, 0.05).min(ess_quantile(chains, 0.95))
}

/// ESS of the mean: [`ess_basic`] of the split chains (no rank normalisation).
pub fn ess_mean(chains: &[Vec<f64>]) -> f64 {
    if !usable(chains, 4) {
        return f64::NAN;
    }
    ess_basic(&split_chains(chains))
}

/// Monte Carlo standard error of the mean: sd / √ESS_mean.
pub fn mcse_mean(chains: &[Vec<f64>]) -> f64 {
    sd(chains) / ess_mean(chains).sqrt()
}

/// Monte Carlo standard error of the `p`-quantile (Vehtari et al. 2021, §4.3): half the distance between
/// the order statistics at the ±1 sd quantiles of Beta(ESSₚ p + 1, ESSₚ (1 − p) + 1), rounded outwards.
pub fn mcse_quantile(chains: &[Vec<f64>], p: f64) -> f64 {
    if !usable(chains, 4) {
        return f64::NAN;
    }
    if is_constant(chains) {
        return 0.0;
    }
    let ess = ess_quantile(chains, p);
    let (a, b) = (ess * p + 1.0, ess * (1.0 - p) + 1.0);
    let mut all: Vec<f64> = chains.iter().flatten().copied().collect();
    all.sort_by(f64::total_cmp);
    let s = all.len() as f64;
    // the order statistics just outside the ±1 sd interval (floor below, ceiling above), as posterior and
    // ArviZ take them
    let index = |prob: f64, round: fn(f64) -> f64| {
        let i = round(beta_quantile(prob, a, b) * s - 1.0);
        all[i.clamp(0.0, s - 1.0) as usize]
    };
    (index(0.841_344_7, f64::ceil) - index(0.158_655_3, f64::floor)) / 2.0
}

/// The standard deviation of the pooled draws.
pub fn sd(chains: &[Vec<f64>]) -> f64 {
    let all: Vec<f64> = chains.iter().flatten().copied().collect();
    let mu = mean(&all);
    (all.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / (all.len() as f64 - 1.0)).sqrt()
}

/// The `p`-quantile of the pooled draws, linearly interpolated between order statistics (R's and
/// NumPy's default, type 7).
pub fn quantile(chains: &[Vec<f64>], p: f64) -> f64 {
    let mut all: Vec<f64> = chains.iter().flatten().copied().collect();
    if all.is_empty() {
        return f64::NAN;
    }
    all.sort_by(f64::total_cmp);
    let h = (all.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let (lo, frac) = (h.floor() as usize, h - h.floor());
    let hi = (lo + 1).min(all.len() - 1);
    all[lo] + frac * (all[hi] - all[lo])
}

/// Energy Bayesian fraction of missing information of one chain (Betancourt 2016): Σ (Eₜ − Eₜ₋₁)² /
/// Σ (Eₜ − Ē)², from the Hamiltonian at each draw. Below 0.3, the momentum resampling explores the energy
/// distribution poorly (heavy tails; a reparameterisation helps).
pub fn ebfmi(energy: &[f64]) -> f64 {
    if energy.len() < 2 {
        return f64::NAN;
    }
    let mu = mean(energy);
    let num: f64 = energy.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum();
    let den: f64 = energy.iter().map(|e| (e - mu).powi(2)).sum();
    num / den
}

/// The regularised incomplete beta function I_x(a, b) by its continued fraction (modified Lentz).
fn beta_cdf(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - beta_cdf(1.0 - x, b, a);
    }
    use stein_autodiff::special::lgamma;
    let front = (lgamma(a + b) - lgamma(a) - lgamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp() / a;
    let tiny = 1e-300;
    let (mut c, mut d) = (1.0, 1.0 - (a + b) * x / (a + 1.0));
    d = 1.0 / if d.abs() < tiny { tiny } else { d };
    let mut f = d;
    for m in 1..500 {
        let m = f64::from(m);
        for num in [
            m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0)),
        ] {
            d = 1.0 + num * d;
            d = 1.0 / if d.abs() < tiny { tiny } else { d };
            c = 1.0 + num / c;
            c = if c.abs() < tiny { tiny } else { c };
            f *= c * d;
        }
        if (c * d - 1.0).abs() < 1e-15 {
            break;
        }
    }
    front * f
}

/// The p-quantile of Beta(a, b), by bisection on [`beta_cdf`].
fn beta_quantile(p: f64, a: f64, b: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 1.0);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if beta_cdf(mid, a, b) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_inverts_the_normal_cdf() {
        for &p in &[1e-8, 0.01, 0.2, 0.5, 0.8, 0.99, 1.0 - 1e-8] {
            let z = normal_quantile(p);
            let back = 0.5 * (1.0 + stein_autodiff::special::erf(z / std::f64::consts::SQRT_2));
            // relative error 1.15e-9 in z is a relative error of about z² · 1.15e-9 in the tail probability
            let tail = p.min(1.0 - p);
            assert!(
                (back - p).abs() <= (1.0 + z * z) * 1.2e-9 * tail + 1e-16,
                "p = {p}: {back}"
            );
        }
    }

    #[test]
    fn ess_of_an_ar1_chain_matches_theory() {
        // x_t = a x_{t−1} + e_t: ESS/N = (1 − a)/(1 + a)
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let (a, n) = (0.6, 20_000);
        let chains: Vec<Vec<f64>> = (0..4)
            .map(|_| {
                let mut x = 0.0;
                (0..n)
                    .map(|_| {
                        let e: f64 = StandardNormal.sample(&mut rng);
                        x = a * x + e;
                        x
                    })
                    .collect()
            })
            .collect();
        let ratio = ess_basic(&chains) / (4 * n) as f64;
        let theory = (1.0 - a) / (1.0 + a);
        assert!((ratio - theory).abs() < 0.1 * theory, "{ratio} vs {theory}");
        assert!((split_rhat(&chains) - 1.0).abs() < 0.01);
        // chains stuck in different places: R-hat far above 1
        let stuck: Vec<Vec<f64>> = chains
            .iter()
            .enumerate()
            .map(|(j, c)| c.iter().map(|v| v + 5.0 * j as f64).collect())
            .collect();
        assert!(split_rhat(&stuck) > 1.5);
    }
}
