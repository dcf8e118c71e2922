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
    let worst = worst_entry(&ad, &fd);
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

/// Step and tolerance of the higher-order checks, named so that the two numbers cannot be swapped silently.
///
/// ```
/// use stein_autodiff::CheckOptions;
/// let strict = CheckOptions::default().rtol(1e-8);
/// assert_eq!((strict.eps, strict.rtol), (1e-5, 1e-8));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CheckOptions {
    /// The finite-difference step ε (10⁻⁵: central differences of the tape's lower-order derivative).
    pub eps: f64,
    /// The relative tolerance, |ad − fd| / max(1, |ad|, |fd|) (10⁻⁶).
    pub rtol: f64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            eps: 1e-5,
            rtol: 1e-6,
        }
    }
}

impl CheckOptions {
    /// Use this finite-difference step.
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// Use this relative tolerance.
    pub fn rtol(mut self, rtol: f64) -> Self {
        self.rtol = rtol;
        self
    }

    fn check(&self) -> Result<(), AdError> {
        if !(self.eps > 0.0 && self.eps.is_finite() && self.rtol > 0.0 && self.rtol.is_finite()) {
            return Err(AdError::Shape {
                what: "CheckOptions",
                expected: "a positive finite eps and rtol".into(),
                got: format!("eps {}, rtol {}", self.eps, self.rtol),
            });
        }
        Ok(())
    }
}

/// The outcome of a passing [`hesscheck`].
#[derive(Debug, Clone, PartialEq)]
pub struct HessCheck {
    /// The tape's Hessian.
    pub autodiff: Vec<Vec<f64>>,
    /// Central differences of the tape's gradient, column by column.
    pub finite_difference: Vec<Vec<f64>>,
    /// The largest relative error.
    pub max_rel_err: f64,
}

/// Relative error |a − b| / max(1, |a|, |b|) (NaN stays NaN).
fn rel_err(a: f64, b: f64) -> f64 {
    (a - b).abs() / 1f64.max(a.abs()).max(b.abs())
}

/// The entry with the largest relative error and that error; a NaN error wins, so a NaN derivative is
/// reported rather than skipped.
fn worst_entry(ad: &[f64], fd: &[f64]) -> (usize, f64) {
    let mut worst = (0, 0.0);
    for (i, (&a, &d)) in ad.iter().zip(fd).enumerate() {
        let e = rel_err(a, d);
        if e.is_nan() || e > worst.1 {
            worst = (i, e);
        }
    }
    worst
}

/// The first entry where `ad` and `fd` are further apart than `rtol`, as an error of `order` at `name(i)`.
fn compare(
    order: usize,
    ad: &[f64],
    fd: &[f64],
    rtol: f64,
    name: &dyn Fn(usize) -> String,
) -> Result<f64, AdError> {
    let worst = worst_entry(ad, fd);
    if worst.1 > rtol || worst.1.is_nan() {
        let i = worst.0;
        return Err(AdError::DerivativeCheck {
            order,
            at: name(i),
            autodiff: ad[i],
            finite_difference: fd[i],
            rel_err: worst.1,
            rtol,
        });
    }
    Ok(worst.1)
}

/// The tape's gradient at `x`, checked finite.
fn tape_grad<F>(f: &F, x: &[f64]) -> Result<Vec<f64>, AdError>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    let (_, g) = value_and_grad(f, x);
    crate::error::check_finite("gradient", &g)?;
    Ok(g)
}

/// (∇f(x + εv) − ∇f(x − εv)) / 2ε from the tape's gradients.
fn gradient_difference<F>(f: &F, x: &[f64], v: &[f64], eps: f64) -> Result<Vec<f64>, AdError>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    let at = |s: f64| -> Vec<f64> { x.iter().zip(v).map(|(a, b)| a + s * eps * b).collect() };
    let (hi, lo) = (tape_grad(f, &at(1.0))?, tape_grad(f, &at(-1.0))?);
    Ok(hi
        .iter()
        .zip(&lo)
        .map(|(h, l)| (h - l) / (2.0 * eps))
        .collect())
}

/// Check the tape's Hessian of `f` at `x`: symmetric (within `rtol`), and equal column by column to central
/// differences of the tape's gradient, (∇f(x + εeⱼ) − ∇f(x − εeⱼ)) / 2ε. Catches a derivative rule whose first
/// derivative is right but whose own derivative is not (e.g. a VJP written with detached values).
///
/// ```
/// use stein_autodiff::{hesscheck, CheckOptions, Real};
/// fn log_p<S: Real>(x: &[S]) -> S { -(x[0] * x[1]).cosh().ln() - x[1].powi(4) }
/// let report = hesscheck(|x| log_p(x), &[0.3, -0.7], &CheckOptions::default()).unwrap();
/// assert!(report.max_rel_err < 1e-6);
/// ```
pub fn hesscheck<F>(f: F, x: &[f64], opts: &CheckOptions) -> Result<HessCheck, AdError>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    opts.check()?;
    check_inputs(x)?;
    let n = x.len();
    let h = crate::functional::try_hessian(&f, x)?;
    let asymmetric = (0..n)
        .flat_map(|i| (0..i).map(move |j| (i, j)))
        .find(|&(i, j)| rel_err(h[i][j], h[j][i]) > opts.rtol);
    if let Some((i, j)) = asymmetric {
        return Err(AdError::Asymmetric {
            i,
            j,
            hij: h[i][j],
            hji: h[j][i],
        });
    }
    let mut fd = vec![vec![0.0; n]; n];
    let mut e = vec![0.0; n];
    for j in 0..n {
        e[j] = 1.0;
        let col = gradient_difference(&f, x, &e, opts.eps)?;
        e[j] = 0.0;
        (0..n).for_each(|i| fd[i][j] = col[i]);
    }
    let flat_ad: Vec<f64> = h.iter().flatten().copied().collect();
    let flat_fd: Vec<f64> = fd.iter().flatten().copied().collect();
    let max_rel_err = compare(2, &flat_ad, &flat_fd, opts.rtol, &|k| {
        format!("H[{}][{}]", k / n, k % n)
    })?;
    Ok(HessCheck {
        autodiff: h,
        finite_difference: fd,
        max_rel_err,
    })
}

/// Check the tape's Hessian-vector product H(x) v (the gradient of the gradient, one recorded sweep) against
/// central differences of the tape's gradient along v. Returns the largest relative error.
///
/// ```
/// use stein_autodiff::{gradgradcheck, CheckOptions, Real};
/// fn f<S: Real>(x: &[S]) -> S { x[0].sin() * x[1].exp() + x[2] * x[0] * x[0] }
/// let e = gradgradcheck(|x| f(x), &[0.2, -0.4, 1.1], &[1.0, -2.0, 0.5], &CheckOptions::default()).unwrap();
/// assert!(e < 1e-6);
/// ```
pub fn gradgradcheck<F>(f: F, x: &[f64], v: &[f64], opts: &CheckOptions) -> Result<f64, AdError>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    opts.check()?;
    let ad = crate::functional::try_hvp(&f, x, v)?;
    let fd = gradient_difference(&f, x, v, opts.eps)?;
    compare(2, &ad, &fd, opts.rtol, &|i| format!("(H v)[{i}]"))
}

/// D^k f(x)[v, …, v], the k-th directional derivative along v, from the tape (k − 1 recorded sweeps, one
/// plain); k = 0 is f(x).
fn directional<F>(f: &F, x: &[f64], v: &[f64], k: usize) -> f64
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    crate::functional::with_tape(|t| {
        let xs = t.vars(x);
        let mut y = f(&xs);
        if k == 0 {
            return y.value();
        }
        for _ in 1..k {
            let g = t.grad_graph(y, &xs);
            y = g.iter().zip(v).map(|(&gi, &vi)| gi * vi).sum();
        }
        t.grad(y, &xs).iter().zip(v).map(|(g, vi)| g * vi).sum()
    })
}

/// Check every derivative of `f` at `x` up to `order`, as Stan's `expect_ad` does: order 1 by [`gradcheck`],
/// order 2 by [`hesscheck`], and each order k ≥ 3 by the k-th directional derivative along every coordinate
/// axis and along (1, …, 1)/√n, against central differences of the tape's order k − 1 along the same
/// direction. Returns the largest relative error of each order (index 0 is order 1).
///
/// ```
/// use stein_autodiff::{check_orders, CheckOptions, Real};
/// fn f<S: Real>(x: &[S]) -> S { (x[0] * x[1]).tanh() + x[1].exp() * x[0].powi(3) }
/// let errs = check_orders(|x| f(x), &[0.4, -0.3], 4, &CheckOptions::default().eps(1e-4).rtol(1e-5)).unwrap();
/// assert_eq!(errs.len(), 4);
/// ```
pub fn check_orders<F>(
    f: F,
    x: &[f64],
    order: usize,
    opts: &CheckOptions,
) -> Result<Vec<f64>, AdError>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    opts.check()?;
    check_inputs(x)?;
    let n = x.len();
    let mut errs = Vec::with_capacity(order);
    if order >= 1 {
        errs.push(gradcheck(&f, x, opts.eps, opts.rtol)?.max_rel_err);
    }
    if order >= 2 {
        errs.push(hesscheck(&f, x, opts)?.max_rel_err);
    }
    let mut directions: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    directions.push(vec![1.0 / (n.max(1) as f64).sqrt(); n]);
    for k in 3..=order {
        let (mut ad, mut fd) = (Vec::new(), Vec::new());
        for v in &directions {
            let at = |s: f64| -> Vec<f64> {
                x.iter().zip(v).map(|(a, b)| a + s * opts.eps * b).collect()
            };
            ad.push(directional(&f, x, v, k));
            fd.push(
                (directional(&f, &at(1.0), v, k - 1) - directional(&f, &at(-1.0), v, k - 1))
                    / (2.0 * opts.eps),
            );
        }
        crate::error::check_finite("directional derivative", &ad)?;
        let name = |i: usize| {
            if i < n {
                format!("D^{k} f[e{i}, …, e{i}]")
            } else {
                format!("D^{k} f[u, …, u], u = (1, …, 1)/√{n}")
            }
        };
        errs.push(compare(k, &ad, &fd, opts.rtol, &name)?);
    }
    Ok(errs)
}
