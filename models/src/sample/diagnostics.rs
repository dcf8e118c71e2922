//! Convergence diagnostics: rank-normalised split R-hat and bulk ESS (Vehtari, Gelman, Simpson, Carpenter &
//! Bürkner 2021), ESS by Geyer's initial monotone sequence (Geyer 1992), as in Stan.
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

/// The classic potential scale reduction factor of equal-length chains.
pub fn rhat_basic(chains: &[Vec<f64>]) -> f64 {
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
    let var_plus = (n - 1.0) / n * w + b_over_n;
    (var_plus / w).sqrt()
}

/// Rank-normalised split R-hat: the larger of the bulk and the folded (|x − median|) values. Below 1.01 is
/// the usual bar for convergence.
pub fn split_rhat(chains: &[Vec<f64>]) -> f64 {
    let split = split_chains(chains);
    let bulk = rhat_basic(&rank_normalize(&split));
    let mut pooled: Vec<f64> = split.iter().flatten().copied().collect();
    pooled.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let med = pooled[pooled.len() / 2];
    let folded: Vec<Vec<f64>> = split
        .iter()
        .map(|c| c.iter().map(|v| (v - med).abs()).collect())
        .collect();
    bulk.max(rhat_basic(&rank_normalize(&folded)))
}

/// Effective sample size of equal-length chains, from the multi-chain autocorrelation truncated by Geyer's
/// initial monotone sequence (the estimator of Stan's `ess_basic`).
pub fn ess_basic(chains: &[Vec<f64>]) -> f64 {
    let m = chains.len();
    let n = chains[0].len();
    if n < 4 {
        return f64::NAN;
    }
    let means: Vec<f64> = chains.iter().map(|c| mean(c)).collect();
    let acov = |j: usize, t: usize| -> f64 {
        let (c, mu) = (&chains[j], means[j]);
        (0..n - t)
            .map(|i| (c[i] - mu) * (c[i + t] - mu))
            .sum::<f64>()
            / n as f64
    };
    let acov0: Vec<f64> = (0..m).map(|j| acov(j, 0)).collect();
    let chain_var: Vec<f64> = acov0
        .iter()
        .map(|a| a * n as f64 / (n as f64 - 1.0))
        .collect();
    let mean_var = mean(&chain_var);
    let mut var_plus = mean_var * (n as f64 - 1.0) / n as f64;
    if m > 1 {
        let gm = mean(&means);
        var_plus += means.iter().map(|mu| (mu - gm) * (mu - gm)).sum::<f64>() / (m as f64 - 1.0);
    }
    if var_plus.is_nan() || var_plus <= 0.0 {
        return f64::NAN; // constant draws
    }
    let rho =
        |t: usize| 1.0 - (mean_var - (0..m).map(|j| acov(j, t)).sum::<f64>() / m as f64) / var_plus;
    let mut rhos = vec![1.0, rho(1)];
    let mut t = 0;
    while t + 4 < n {
        let (a, b) = (rho(t + 2), rho(t + 3));
        if a + b < 0.0 {
            break;
        }
        rhos.push(a);
        rhos.push(b);
        t += 2;
    }
    // Geyer's initial monotone sequence on the paired sums Γₖ = ρ₂ₖ + ρ₂ₖ₊₁
    let mut pairs: Vec<f64> = rhos.chunks(2).map(|p| p.iter().sum()).collect();
    for k in 1..pairs.len() {
        if pairs[k] > pairs[k - 1] {
            pairs[k] = pairs[k - 1];
        }
    }
    let tau = -1.0 + 2.0 * pairs.iter().sum::<f64>();
    let total = (m * n) as f64;
    (total / tau.max(1.0 / total.log10())).min(total * total.log10())
}

/// Bulk ESS: [`ess_basic`] of the rank-normalised split chains.
pub fn ess_bulk(chains: &[Vec<f64>]) -> f64 {
    ess_basic(&rank_normalize(&split_chains(chains)))
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
