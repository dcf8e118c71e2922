//! Each transform's forward map (generic, with its log-Jacobian) beside its inverse (f64).
// The triangular fill of the correlation factor reads best with the indices of its formulas.
#![allow(clippy::needless_range_loop)]

use super::Transform;
use stein_autodiff::Real;

/// log(1 − tanh²(u)) = −2 log cosh u = 2 (log 2 + u − softplus(2u)), stable for large |u|.
fn log1m_tanh_sq<S: Real>(u: S) -> S {
    (u + std::f64::consts::LN_2 - (u * 2.0).softplus()) * 2.0
}

pub(super) fn constrain<S: Real>(t: &Transform, u: &[S], out: &mut Vec<S>) -> S {
    let zero = S::cst(0.0);
    match *t {
        Transform::Real { .. } => {
            out.extend_from_slice(u);
            zero
        }
        Transform::Positive { .. } => {
            out.extend(u.iter().map(|v| v.exp()));
            u.iter().fold(zero, |a, &v| a + v)
        }
        Transform::Lower { lower, .. } => {
            out.extend(u.iter().map(|v| v.exp() + lower));
            u.iter().fold(zero, |a, &v| a + v)
        }
        Transform::Upper { upper, .. } => {
            out.extend(u.iter().map(|v| v.exp().rsub(upper)));
            u.iter().fold(zero, |a, &v| a + v)
        }
        Transform::Interval { lower, upper, .. } => {
            let w = upper - lower;
            out.extend(u.iter().map(|v| v.sigmoid() * w + lower));
            u.iter().fold(zero, |a, &v| {
                a + v.log_sigmoid() + (-v).log_sigmoid() + w.ln()
            })
        }
        Transform::Simplex { k } => {
            let mut stick = S::cst(1.0);
            let mut lp = zero;
            for (i, &v) in u.iter().enumerate() {
                let adj = v - ((k - 1 - i) as f64).ln();
                let x = stick * adj.sigmoid();
                lp += stick.ln() + adj.log_sigmoid() + (-adj).log_sigmoid();
                out.push(x);
                stick -= x;
            }
            out.push(stick);
            lp
        }
        Transform::Ordered { .. } | Transform::PositiveOrdered { .. } => {
            // the first value is u₁ (ordered) or e^{u₁} (positive ordered); each next adds e^{uᵢ}
            let positive = matches!(*t, Transform::PositiveOrdered { .. });
            let mut prev = if positive { u[0].exp() } else { u[0] };
            let mut lp = if positive { u[0] } else { zero };
            out.push(prev);
            for &v in &u[1..] {
                prev += v.exp();
                out.push(prev);
                lp += v;
            }
            lp
        }
        Transform::CorrCholesky { k } => {
            let start = out.len();
            out.resize(start + k * k, zero);
            let l = &mut out[start..];
            l[0] = S::cst(1.0);
            let mut lp = zero;
            let mut next = 0;
            for i in 1..k {
                let mut sum_sq = zero;
                for j in 0..i {
                    let y = u[next];
                    next += 1;
                    lp += log1m_tanh_sq(y);
                    let z = y.tanh();
                    l[i * k + j] = if j == 0 {
                        z
                    } else {
                        let rest = sum_sq.rsub(1.0);
                        lp += rest.ln() * 0.5;
                        z * rest.sqrt()
                    };
                    sum_sq += l[i * k + j] * l[i * k + j];
                }
                l[i * k + i] = sum_sq.rsub(1.0).sqrt();
            }
            lp
        }
    }
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// Every entry must pass `ok`, or the message names the first that does not.
fn check(x: &[f64], ok: impl Fn(f64) -> bool, need: &str) -> Result<(), String> {
    match x.iter().position(|&v| !ok(v)) {
        Some(i) => Err(format!("x[{i}] = {} is not {need}", x[i])),
        None => Ok(()),
    }
}

pub(super) fn unconstrain(t: &Transform, x: &[f64]) -> Result<Vec<f64>, String> {
    check(x, f64::is_finite, "finite")?;
    Ok(match *t {
        Transform::Real { .. } => x.to_vec(),
        Transform::Positive { .. } => {
            check(x, |v| v > 0.0, "positive")?;
            x.iter().map(|v| v.ln()).collect()
        }
        Transform::Lower { lower, .. } => {
            check(x, |v| v > lower, "above the lower bound")?;
            x.iter().map(|v| (v - lower).ln()).collect()
        }
        Transform::Upper { upper, .. } => {
            check(x, |v| v < upper, "below the upper bound")?;
            x.iter().map(|v| (upper - v).ln()).collect()
        }
        Transform::Interval { lower, upper, .. } => {
            check(x, |v| v > lower && v < upper, "inside the interval")?;
            x.iter()
                .map(|v| logit((v - lower) / (upper - lower)))
                .collect()
        }
        Transform::Simplex { k } => {
            check(x, |v| v > 0.0, "positive")?;
            let sum: f64 = x.iter().sum();
            if (sum - 1.0).abs() > 1e-8 {
                return Err(format!("the entries sum to {sum}, not 1"));
            }
            let mut stick = 1.0;
            (0..k - 1)
                .map(|i| {
                    let z = (x[i] / stick).min(1.0 - f64::EPSILON);
                    stick -= x[i];
                    logit(z) + ((k - 1 - i) as f64).ln()
                })
                .collect()
        }
        Transform::Ordered { .. } | Transform::PositiveOrdered { .. } => {
            let positive = matches!(*t, Transform::PositiveOrdered { .. });
            if positive && (x[0].is_nan() || x[0] <= 0.0) {
                return Err(format!("x[0] = {} is not positive", x[0]));
            }
            if let Some(i) = (1..x.len()).find(|&i| x[i] <= x[i - 1]) {
                return Err(format!(
                    "x[{i}] = {} does not exceed x[{}] = {}",
                    x[i],
                    i - 1,
                    x[i - 1]
                ));
            }
            let first = if positive { x[0].ln() } else { x[0] };
            std::iter::once(first)
                .chain(x.windows(2).map(|w| (w[1] - w[0]).ln()))
                .collect()
        }
        Transform::CorrCholesky { k } => {
            let mut u = Vec::with_capacity(k * (k - 1) / 2);
            for i in 0..k {
                let row = &x[i * k..(i + 1) * k];
                if row[i + 1..].iter().any(|v| *v != 0.0) {
                    return Err(format!("row {i} has entries above the diagonal"));
                }
                let norm: f64 = row.iter().map(|v| v * v).sum();
                if (norm - 1.0).abs() > 1e-8 || row[i] <= 0.0 {
                    return Err(format!(
                        "row {i} has norm² {norm} and diagonal {} (need 1 and > 0)",
                        row[i]
                    ));
                }
                let mut sum_sq: f64 = 0.0;
                for j in 0..i {
                    let z = if j == 0 {
                        row[0]
                    } else {
                        row[j] / (1.0 - sum_sq).sqrt()
                    };
                    if z.is_nan() || z.abs() >= 1.0 {
                        return Err(format!(
                            "L[{i}][{j}] = {} leaves no room for the diagonal",
                            row[j]
                        ));
                    }
                    u.push(z.atanh());
                    sum_sq += row[j] * row[j];
                }
            }
            u
        }
    })
}
