//! Special functions on `f64` shared by the plain and the differentiated code paths.
//!
//! Every scalar function that [`Real`](crate::Real) offers is computed here once, so a generic user function
//! gives bit-identical primal values whether it runs on `f64` or on a tape variable.

use std::f64::consts::PI;

/// Logistic sigmoid 1 / (1 + e^{-x}), evaluated without overflow for either sign of `x`.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// softplus(x) = ln(1 + e^x) = max(x, 0) + ln(1 + e^{-|x|}), stable for large |x|.
pub fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// ln σ(x) = −softplus(−x).
pub fn log_sigmoid(x: f64) -> f64 {
    -softplus(-x)
}

/// SiLU (swish) x σ(x).
pub fn silu(x: f64) -> f64 {
    x * sigmoid(x)
}

/// ELU with α = 1: x for x > 0, e^x − 1 otherwise.
pub fn elu(x: f64) -> f64 {
    if x > 0.0 {
        x
    } else {
        x.exp_m1()
    }
}

/// ReLU max(x, 0). Its second derivative is zero everywhere it exists.
pub fn relu(x: f64) -> f64 {
    if x > 0.0 {
        x
    } else {
        0.0
    }
}

/// Heaviside step: 1 for x > 0, else 0. Treated as a constant by the tape (derivative 0).
pub fn step(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else {
        0.0
    }
}

/// Sign with sign(0) = 0 (and NaN for NaN). Treated as a constant by the tape.
pub fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x * 0.0
    }
}

/// The error function.
pub fn erf(x: f64) -> f64 {
    libm::erf(x)
}

/// ln |Γ(x)|.
pub fn lgamma(x: f64) -> f64 {
    libm::lgamma(x)
}

// Bernoulli numbers B_2, B_4, …, B_16 for the asymptotic series.
const BERNOULLI: [f64; 8] = [
    1.0 / 6.0,
    -1.0 / 30.0,
    1.0 / 42.0,
    -1.0 / 30.0,
    5.0 / 66.0,
    -691.0 / 2730.0,
    7.0 / 6.0,
    -3617.0 / 510.0,
];

/// The digamma function ψ(x) = d/dx ln Γ(x), for any x that is not a pole (0, −1, −2, …).
pub fn digamma(x: f64) -> f64 {
    if x.is_nan() || x == f64::NEG_INFINITY {
        return f64::NAN;
    }
    if x <= 0.0 {
        if x == x.floor() {
            return f64::NAN;
        }
        // Reflection: ψ(x) = ψ(1 − x) − π / tan(πx).
        return digamma(1.0 - x) - PI / (PI * x).tan();
    }
    // Recurrence ψ(x) = ψ(x + 1) − 1/x, then the asymptotic series (Abramowitz & Stegun 6.3.18).
    let mut acc = 0.0;
    let mut x = x;
    while x < 20.0 {
        acc -= 1.0 / x;
        x += 1.0;
    }
    let x2 = 1.0 / (x * x);
    let mut series = 0.0;
    let mut pow = x2;
    for (k, b) in BERNOULLI.iter().enumerate() {
        series += b / (2.0 * (k as f64 + 1.0)) * pow;
        pow *= x2;
    }
    acc + x.ln() - 0.5 / x - series
}

/// The polygamma function ψ⁽ⁿ⁾(x), the n-th derivative of digamma. `n = 0` is [`digamma`] (any non-pole x);
/// for `n ≥ 1` the domain is x > 0 (NaN elsewhere).
pub fn polygamma(n: u32, x: f64) -> f64 {
    if n == 0 {
        return digamma(x);
    }
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    let nf = n as f64;
    let mut fact = 1.0; // n!
    for i in 1..=n {
        fact *= i as f64;
    }
    let sign = if n % 2 == 1 { 1.0 } else { -1.0 }; // (−1)^{n+1}
                                                    // ψ⁽ⁿ⁾(x) = ψ⁽ⁿ⁾(x + 1) + (−1)^{n+1} n! / x^{n+1}
    let mut acc = 0.0;
    let mut x = x;
    while x < 20.0 {
        acc += fact / x.powi(n as i32 + 1);
        x += 1.0;
    }
    // ψ⁽ⁿ⁾(x) ~ (−1)^{n+1} [ (n−1)!/xⁿ + n!/(2x^{n+1}) + Σ_k B_2k (2k+n−1)! / ((2k)! x^{2k+n}) ]
    let mut s = fact / nf / x.powi(n as i32) + fact / (2.0 * x.powi(n as i32 + 1));
    let mut ratio = fact / nf; // (2k+n−1)!/(2k)! for k = 0 is (n−1)!
    let mut pow = x.powi(n as i32);
    for (k, b) in BERNOULLI.iter().enumerate() {
        let k2 = 2.0 * (k as f64 + 1.0);
        // update (2k+n−1)!/(2k)! from k−1 to k: multiply by (2k+n−2)(2k+n−1) / ((2k−1)(2k))
        ratio *= (k2 + nf - 2.0) * (k2 + nf - 1.0) / ((k2 - 1.0) * k2);
        pow *= x * x;
        s += b * ratio / pow;
    }
    sign * (acc + s)
}

/// log Σ exp(xᵢ), stable: the largest term is factored out. Empty input gives −∞.
pub fn logsumexp(xs: &[f64]) -> f64 {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    let s: f64 = xs.iter().map(|&x| (x - m).exp()).sum();
    m + s.ln()
}

/// log(eᵃ + eᵇ), stable; −∞ when both are −∞.
pub fn logaddexp(a: f64, b: f64) -> f64 {
    let m = a.max(b);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + (-(a - b).abs()).exp().ln_1p()
}

/// eˣ of every entry of `x` into `out`, vectorised for this CPU (AVX-512, AVX2 + FMA or the baseline, chosen
/// at run time): the tensor exponential's kernel, within 2 ulp of `f64::exp` (tested there). For long runs of
/// exponentials in plain code — a mixture's responsibilities over many chains, say.
///
/// ```
/// let x = [0.0, 1.0, -700.0, 2.5];
/// let mut e = [0.0; 4];
/// stein_autodiff::special::exp_slice(&x, &mut e);
/// for (a, b) in x.iter().zip(&e) {
///     assert!((a.exp() - b).abs() <= 4.0 * f64::EPSILON * a.exp());
/// }
/// ```
///
/// # Panics
/// When the lengths differ (a programmer error); the message names both.
pub fn exp_slice(x: &[f64], out: &mut [f64]) {
    assert_eq!(
        x.len(),
        out.len(),
        "exp_slice: {} inputs for {} outputs",
        x.len(),
        out.len()
    );
    crate::ops::vmath::map(crate::ops::vmath::Fun::Exp, x, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digamma_known_values() {
        // ψ(1) = −γ, ψ(1/2) = −γ − 2 ln 2
        let gamma = 0.577_215_664_901_532_9;
        assert!((digamma(1.0) + gamma).abs() < 1e-14);
        assert!((digamma(0.5) + gamma + 2.0 * 2f64.ln()).abs() < 1e-14);
        // reflection: ψ(−0.5) = ψ(1.5) + π tan(... ) known value 0.03648997397857652
        assert!((digamma(-0.5) - 0.036_489_973_978_576_52).abs() < 1e-13);
    }

    #[test]
    fn polygamma_known_values() {
        // ψ₁(1) = π²/6, ψ₁(1/2) = π²/2, ψ₂(1) = −2ζ(3), ψ₃(1) = π⁴/15
        assert!((polygamma(1, 1.0) - PI * PI / 6.0).abs() < 1e-13);
        assert!((polygamma(1, 0.5) - PI * PI / 2.0).abs() < 1e-12);
        assert!((polygamma(2, 1.0) + 2.0 * 1.202_056_903_159_594_2).abs() < 1e-12);
        assert!((polygamma(3, 1.0) - PI.powi(4) / 15.0).abs() < 1e-11);
    }

    #[test]
    fn digamma_is_derivative_of_lgamma() {
        for &x in &[0.3, 1.7, 4.2, 25.0, -1.5] {
            let h = 1e-5;
            let fd = (lgamma(x + h) - lgamma(x - h)) / (2.0 * h);
            assert!((fd - digamma(x)).abs() < 1e-7 * (1.0 + fd.abs()), "x = {x}");
        }
    }

    #[test]
    fn stable_logistic_functions() {
        assert_eq!(sigmoid(-800.0), 0.0);
        assert_eq!(sigmoid(800.0), 1.0);
        assert_eq!(softplus(800.0), 800.0);
        assert!((log_sigmoid(-800.0) + 800.0).abs() < 1e-12);
        assert!((logsumexp(&[1000.0, 1000.0]) - (1000.0 + 2f64.ln())).abs() < 1e-12);
        assert!((logaddexp(1000.0, 1000.0) - (1000.0 + 2f64.ln())).abs() < 1e-12);
        assert_eq!(logaddexp(f64::NEG_INFINITY, -3.0), -3.0);
        assert_eq!(
            logaddexp(f64::NEG_INFINITY, f64::NEG_INFINITY),
            f64::NEG_INFINITY
        );
        assert!((logaddexp(0.3, -1.2) - (0.3f64.exp() + (-1.2f64).exp()).ln()).abs() < 1e-15);
    }
}
