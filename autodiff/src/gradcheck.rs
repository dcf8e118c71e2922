//! Finite-difference checks of tape gradients, for users' own tests.

use crate::error::{check_inputs, AdError};
use crate::functional::value_and_grad;
use crate::var::Var;

/// The outcome of a passing [`gradcheck`].
#[derive(Debug, Clone, PartialEq)]
pub struct GradCheck {
    /// The tape gradient.
    pub autodiff: Vec<f64>,
    /// The central finite differences.
    pub finite_difference: Vec<f64>,
    /// The largest relative error, |ad − fd| / max(1, |ad|, |fd|).
    pub max_rel_err: f64,
}

/// Compare the tape gradient of `f` at `x` with central finite differences (f(x + εeᵢ) − f(x − εeᵢ)) / 2ε,
/// evaluated on constants (no tape). Fails with [`AdError::GradCheck`] naming the worst coordinate when
/// |ad − fd| > rtol · max(1, |ad|, |fd|), or with a non-finite error.
///
/// ```
/// use stein_autodiff::{gradcheck, Real};
/// fn log_p<S: Real>(x: &[S]) -> S { -(x[0] * x[1]).cosh().ln() }
/// let report = gradcheck(|x| log_p(x), &[0.3, -0.7], 1e-6, 1e-7).unwrap();
/// assert!(report.max_rel_err < 1e-7);
/// ```
pub fn gradcheck<F>(f: F, x: &[f64], eps: f64, rtol: f64) -> Result<GradCheck, AdError>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    check_inputs(x)?;
    let (v, ad) = value_and_grad(&f, x);
    crate::error::check_value(v, None)?;
    crate::error::check_finite("gradient", &ad)?;
    let fd = central_differences(|p| f(p).value(), x, eps);
    let mut worst = (0, 0.0);
    for (i, (&a, &d)) in ad.iter().zip(&fd).enumerate() {
        let e = (a - d).abs() / 1f64.max(a.abs()).max(d.abs());
        // NaN errors win, so a NaN derivative is reported rather than skipped
        if e.is_nan() || e > worst.1 {
            worst = (i, e);
        }
    }
    if worst.1 > rtol || worst.1.is_nan() {
        let i = worst.0;
        return Err(AdError::GradCheck {
            index: i,
            autodiff: ad[i],
            finite_difference: fd[i],
            rel_err: worst.1,
            rtol,
        });
    }
    Ok(GradCheck {
        autodiff: ad,
        finite_difference: fd,
        max_rel_err: worst.1,
    })
}

/// Central differences of a function evaluated on constant variables.
pub fn central_differences(f: impl Fn(&[Var<'_>]) -> f64, x: &[f64], eps: f64) -> Vec<f64> {
    let mut p: Vec<Var> = x.iter().map(|&v| Var::constant(v)).collect();
    (0..x.len())
        .map(|i| {
            p[i] = Var::constant(x[i] + eps);
            let hi = f(&p);
            p[i] = Var::constant(x[i] - eps);
            let lo = f(&p);
            p[i] = Var::constant(x[i]);
            (hi - lo) / (2.0 * eps)
        })
        .collect()
}
