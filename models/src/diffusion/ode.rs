//! The ODE integrators of the probability-flow sampler and the likelihood: fixed-step Heun and RK4, and
//! adaptive Dormand–Prince 5(4) with error control (Dormand & Prince 1980; the `RK45` of SciPy, as Song et al.
//! use), over one flat state (every particle's coordinates, and the log-density terms for the likelihood).

use crate::ModelError;

/// The right-hand side dy/dt = f(t, y), written into its third argument.
pub type Rhs<'a> = dyn FnMut(f64, &[f64], &mut [f64]) + 'a;

/// One integration's cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Right-hand side evaluations.
    pub evaluations: usize,
    /// Steps accepted.
    pub accepted: usize,
    /// Steps rejected (adaptive only).
    pub rejected: usize,
}

/// A fixed-step solver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fixed {
    /// Heun's method (explicit trapezoid), second order, 2 evaluations per step.
    Heun,
    /// The classical Runge–Kutta method, fourth order, 4 evaluations per step.
    Rk4,
}

fn axpy(y: &[f64], h: f64, k: &[&[f64]], c: &[f64], out: &mut [f64]) {
    for i in 0..y.len() {
        out[i] = y[i] + h * k.iter().zip(c).map(|(k, c)| c * k[i]).sum::<f64>();
    }
}

/// The most steps of an integration ([`fixed`]'s `steps`, [`Tolerance::max_steps`]).
pub const MAX_STEPS: usize = 1_000_000;

fn check_span(t0: f64, t1: f64) -> Result<(), ModelError> {
    if t0.is_finite() && t1.is_finite() {
        Ok(())
    } else {
        Err(ModelError::BadParameter {
            param: "span",
            value: format!("{t0} to {t1}"),
            reason: "both ends must be finite".into(),
        })
    }
}

/// Integrate from t0 to t1 (either direction) in `steps` equal steps; `observe(k, t, y)` sees the state after
/// every step. An error for `steps` outside 1 to [`MAX_STEPS`], a non-finite end, or a state that turns
/// non-finite (naming the time).
pub fn fixed(
    f: &mut Rhs<'_>,
    y: &mut [f64],
    (t0, t1): (f64, f64),
    steps: usize,
    solver: Fixed,
    observe: &mut dyn FnMut(usize, f64, &[f64]),
) -> Result<Stats, ModelError> {
    if !(1..=MAX_STEPS).contains(&steps) {
        return Err(ModelError::BadParameter {
            param: "steps",
            value: format!("{steps}"),
            reason: format!("must be 1 to {MAX_STEPS}"),
        });
    }
    check_span(t0, t1)?;
    let n = y.len();
    let h = (t1 - t0) / steps as f64;
    let (mut k1, mut k2, mut k3, mut k4, mut tmp) = (
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
    );
    let mut stats = Stats::default();
    for s in 0..steps {
        let t = t0 + s as f64 * h;
        match solver {
            Fixed::Heun => {
                f(t, y, &mut k1);
                axpy(y, h, &[&k1], &[1.0], &mut tmp);
                f(t + h, &tmp, &mut k2);
                let yc = y.to_vec();
                axpy(&yc, h, &[&k1, &k2], &[0.5, 0.5], y);
                stats.evaluations += 2;
            }
            Fixed::Rk4 => {
                f(t, y, &mut k1);
                axpy(y, 0.5 * h, &[&k1], &[1.0], &mut tmp);
                f(t + 0.5 * h, &tmp, &mut k2);
                axpy(y, 0.5 * h, &[&k2], &[1.0], &mut tmp);
                f(t + 0.5 * h, &tmp, &mut k3);
                axpy(y, h, &[&k3], &[1.0], &mut tmp);
                f(t + h, &tmp, &mut k4);
                let yc = y.to_vec();
                axpy(
                    &yc,
                    h,
                    &[&k1, &k2, &k3, &k4],
                    &[1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
                    y,
                );
                stats.evaluations += 4;
            }
        }
        stats.accepted += 1;
        if y.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::BadParameter {
                param: "ODE",
                value: format!("t = {}", t + h),
                reason: "the state turned non-finite".into(),
            });
        }
        observe(s + 1, t + h, y);
    }
    Ok(stats)
}

/// Tolerances of the adaptive solver: a step is accepted when the error estimate eᵢ satisfies
/// max |eᵢ| / (atol + rtol · max(|yᵢ|, |ŷᵢ|)) ≤ 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Relative tolerance (10⁻⁵).
    pub rtol: f64,
    /// Absolute tolerance (10⁻⁵).
    pub atol: f64,
    /// The most steps, accepted and rejected, before giving up (10,000; the likelihood of a trained 2-D model
    /// takes about 100): every integration's work is bounded by it.
    pub max_steps: usize,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            rtol: 1e-5,
            atol: 1e-5,
            max_steps: 10_000,
        }
    }
}

impl Tolerance {
    /// An error unless rtol and atol are positive and finite and max_steps is 1 to [`MAX_STEPS`].
    pub fn check(&self) -> Result<(), ModelError> {
        if !(self.rtol > 0.0 && self.rtol.is_finite() && self.atol > 0.0 && self.atol.is_finite()) {
            return Err(ModelError::BadParameter {
                param: "tolerance",
                value: format!("rtol {}, atol {}", self.rtol, self.atol),
                reason: "both must be positive and finite".into(),
            });
        }
        if !(1..=MAX_STEPS).contains(&self.max_steps) {
            return Err(ModelError::BadParameter {
                param: "Tolerance::max_steps",
                value: self.max_steps.to_string(),
                reason: format!("must be 1 to {MAX_STEPS}"),
            });
        }
        Ok(())
    }
}

// Dormand–Prince 5(4) tableau.
const C: [f64; 7] = [0.0, 0.2, 0.3, 0.8, 8.0 / 9.0, 1.0, 1.0];
const A: [[f64; 6]; 7] = [
    [0.0; 6],
    [0.2, 0.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
    [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
        0.0,
        0.0,
    ],
    [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
        0.0,
    ],
    [
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ],
];
// fifth-order weights are A[6] (with 0 for stage 7); the error is (b5 − b4)
const E: [f64; 7] = [
    71.0 / 57600.0,
    0.0,
    -71.0 / 16695.0,
    71.0 / 1920.0,
    -17253.0 / 339200.0,
    22.0 / 525.0,
    -1.0 / 40.0,
];

/// Integrate from t0 to t1 (either direction) with Dormand–Prince 5(4), first-same-as-last, step size from the
/// error estimate (safety 0.9, factors in [0.2, 10]). An error for bad tolerances ([`Tolerance::check`]), when
/// the steps run out or the state turns non-finite.
pub fn dopri5(
    f: &mut Rhs<'_>,
    y: &mut [f64],
    (t0, t1): (f64, f64),
    tol: &Tolerance,
) -> Result<Stats, ModelError> {
    tol.check()?;
    check_span(t0, t1)?;
    let n = y.len();
    let dir = (t1 - t0).signum();
    let span = (t1 - t0).abs();
    let mut k: Vec<Vec<f64>> = vec![vec![0.0; n]; 7];
    let (mut tmp, mut y5) = (vec![0.0; n], vec![0.0; n]);
    let mut stats = Stats::default();
    let mut t = t0;
    f(t, y, &mut k[0]);
    stats.evaluations += 1;
    // first step: Hairer's rule of thumb from the scale of y and f
    let scale = |v: f64| tol.atol + tol.rtol * v.abs();
    let d0 = (y.iter().map(|v| (v / scale(*v)).powi(2)).sum::<f64>() / n.max(1) as f64).sqrt();
    let d1 = (k[0]
        .iter()
        .zip(y.iter())
        .map(|(d, v)| (d / scale(*v)).powi(2))
        .sum::<f64>()
        / n.max(1) as f64)
        .sqrt();
    let mut h = if d0 < 1e-5 || d1 < 1e-5 {
        1e-6
    } else {
        0.01 * d0 / d1
    }
    .min(span);
    while (t1 - t) * dir > 1e-15 * span.max(1.0) {
        if stats.accepted + stats.rejected >= tol.max_steps {
            return Err(ModelError::BadParameter {
                param: "Tolerance::max_steps",
                value: tol.max_steps.to_string(),
                reason: format!("the steps did not reach t = {t1} (at t = {t}): loosen rtol/atol or raise max_steps"),
            });
        }
        h = h.min((t1 - t).abs());
        // a step f64 cannot resolve at t: the solution is far too stiff, or the state far out of range
        if h <= 4.0 * f64::EPSILON * t.abs().max(1e-3 * span) {
            return Err(ModelError::BadParameter {
                param: "ODE",
                value: format!("t = {t}"),
                reason: format!(
                    "the step size fell to {h:e}, below what f64 resolves: the state (largest |y| = {:e}) is too far out or the flow too stiff to integrate",
                    y.iter().fold(0.0f64, |m, v| m.max(v.abs()))
                ),
            });
        }
        for s in 1..7 {
            for i in 0..n {
                tmp[i] = y[i] + dir * h * (0..s).map(|j| A[s][j] * k[j][i]).sum::<f64>();
            }
            f(t + dir * C[s] * h, &tmp, &mut k[s]);
        }
        stats.evaluations += 6;
        y5.copy_from_slice(&tmp); // stage 7 is evaluated at the fifth-order solution
        let mut err: f64 = 0.0;
        for i in 0..n {
            let e = dir * h * (0..7).map(|j| E[j] * k[j][i]).sum::<f64>();
            let sc = tol.atol + tol.rtol * y[i].abs().max(y5[i].abs());
            err = err.max((e / sc).abs());
        }
        if !err.is_finite() {
            return Err(ModelError::BadParameter {
                param: "ODE",
                value: format!("t = {t}"),
                reason: "the state turned non-finite".into(),
            });
        }
        if err <= 1.0 {
            t += dir * h;
            y.copy_from_slice(&y5);
            k.swap(0, 6); // first same as last
            stats.accepted += 1;
        } else {
            stats.rejected += 1;
        }
        let factor = if err == 0.0 {
            10.0
        } else {
            (0.9 * err.powf(-0.2)).clamp(0.2, 10.0)
        };
        h *= factor;
    }
    Ok(stats)
}
