//! The functional API: pass a closure over `&[Var]`, get derivatives as `f64`s.
//!
//! Each call records on a tape taken from a per-thread pool and gives it back cleared, so repeated calls
//! reuse memory. Names follow JAX. The `try_` variants check inputs, values and derivatives for NaN/∞ and
//! return an [`AdError`] naming the first offending entry; the plain ones let IEEE values propagate.

use crate::error::{check_finite, check_inputs, check_len, check_value, AdError};
use crate::tape::Tape;
use crate::var::Var;
use std::cell::RefCell;

thread_local! {
    static POOL: RefCell<Vec<Tape>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` on a worker of rayon's pool (directly, if this thread already is one).
///
/// Large tensor kernels split their work over rayon. Called from a thread outside the pool, each such kernel
/// wakes a worker and waits for it; called from a worker, the split is work-stealing and costs almost
/// nothing. Wrapping a training or sampling loop in `on_pool` made a T7 step 20–30% faster here;
/// `stein_models::train::Trainer::fit` does it for you.
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        f()
    } else {
        rayon::join(f, || ()).0
    }
}

/// Run `f` on a cleared tape from this thread's pool (nested calls get their own tape).
pub fn with_tape<R>(f: impl FnOnce(&Tape) -> R) -> R {
    let mut tape = POOL.with(|p| p.borrow_mut().pop()).unwrap_or_default();
    let r = f(&tape);
    tape.clear();
    POOL.with(|p| p.borrow_mut().push(tape));
    r
}

/// ∇f(x). `f` is any closure over tape variables, typically a generic function `f::<S: Real>`.
///
/// ```
/// use stein_autodiff::{grad, Real};
/// fn banana<S: Real>(x: &[S]) -> S {
///     let (a, b) = (x[0], x[1]);
///     -(a * a) * 0.5 - (b - a * a).powi(2) * 0.5
/// }
/// let s = grad(|x| banana(x), &[0.3, -1.2]);
/// // ∂/∂b = −(b − a²) = 1.29
/// assert!((s[1] - 1.29).abs() < 1e-12);
/// ```
pub fn grad<F>(f: F, x: &[f64]) -> Vec<f64>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    value_and_grad(f, x).1
}

/// (f(x), ∇f(x)) from one forward and one backward sweep.
pub fn value_and_grad<F>(f: F, x: &[f64]) -> (f64, Vec<f64>)
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    with_tape(|t| {
        let xs = t.vars(x);
        let y = f(&xs);
        (y.value(), t.grad(y, &xs))
    })
}

/// The Jacobian of a vector function, `m × n` (rows are outputs).
pub fn jacobian<F>(f: F, x: &[f64]) -> Vec<Vec<f64>>
where
    F: for<'t> Fn(&[Var<'t>]) -> Vec<Var<'t>>,
{
    with_tape(|t| {
        let xs = t.vars(x);
        let ys = f(&xs);
        t.jacobian(&ys, &xs)
    })
}

/// (f(x), uᵀ J(x)): a vector-Jacobian product by one backward sweep. Panics if `u` does not have one entry
/// per output (see [`try_vjp`]).
pub fn vjp<F>(f: F, x: &[f64], u: &[f64]) -> (Vec<f64>, Vec<f64>)
where
    F: for<'t> Fn(&[Var<'t>]) -> Vec<Var<'t>>,
{
    with_tape(|t| {
        let xs = t.vars(x);
        let ys = f(&xs);
        assert_eq!(
            ys.len(),
            u.len(),
            "stein-autodiff: vjp: {} outputs, cotangent of length {}",
            ys.len(),
            u.len()
        );
        let s: Var = ys.iter().zip(u).map(|(&y, &w)| y * w).sum();
        (ys.iter().map(|y| y.value()).collect(), t.grad(s, &xs))
    })
}

/// (f(x), J(x) v): a Jacobian-vector product, computed reverse-over-reverse (the transpose trick: J v is the
/// gradient w.r.t. u of vᵀ (Jᵀ u)). Panics if `v` does not have one entry per input.
pub fn jvp<F>(f: F, x: &[f64], v: &[f64]) -> (Vec<f64>, Vec<f64>)
where
    F: for<'t> Fn(&[Var<'t>]) -> Vec<Var<'t>>,
{
    assert_eq!(
        x.len(),
        v.len(),
        "stein-autodiff: jvp: {} inputs, tangent of length {}",
        x.len(),
        v.len()
    );
    with_tape(|t| {
        let xs = t.vars(x);
        let ys = f(&xs);
        let us = t.vars(&vec![0.0; ys.len()]);
        let s: Var = ys.iter().zip(&us).map(|(&y, &u)| y * u).sum();
        let w = t.grad_graph(s, &xs); // Jᵀ u, linear in u
        let r: Var = w.iter().zip(v).map(|(&wi, &vi)| wi * vi).sum();
        (ys.iter().map(|y| y.value()).collect(), t.grad(r, &us))
    })
}

/// H(x) v, the Hessian-vector product: one recorded and one plain backward sweep, never the full Hessian.
/// Panics if `v` does not have one entry per input.
pub fn hvp<F>(f: F, x: &[f64], v: &[f64]) -> Vec<f64>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    assert_eq!(
        x.len(),
        v.len(),
        "stein-autodiff: hvp: {} inputs, vector of length {}",
        x.len(),
        v.len()
    );
    with_tape(|t| {
        let xs = t.vars(x);
        let g = t.grad_graph(f(&xs), &xs);
        let s: Var = g.iter().zip(v).map(|(&gi, &vi)| gi * vi).sum();
        t.grad(s, &xs)
    })
}

/// The Hessian ∇²f(x), `n × n`: the gradient is recorded once, then its rows come from vector sweeps
/// (16 rows per sweep on scalar code).
pub fn hessian<F>(f: F, x: &[f64]) -> Vec<Vec<f64>>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    with_tape(|t| {
        let xs = t.vars(x);
        let g = t.grad_graph(f(&xs), &xs);
        t.jacobian(&g, &xs)
    })
}

/// The Laplacian tr ∇²f(x) = Σᵢ ∂²f/∂xᵢ², exact (vector sweeps over the recorded gradient). For a
/// log-density this is the divergence of its score.
pub fn laplacian<F>(f: F, x: &[f64]) -> f64
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    with_tape(|t| {
        let xs = t.vars(x);
        let g = t.grad_graph(f(&xs), &xs);
        diagonal_sum(t, &g, &xs)
    })
}

/// The divergence Σᵢ ∂fᵢ/∂xᵢ of a vector field f: ℝⁿ → ℝⁿ, exact. Panics if `f` does not return n values.
pub fn divergence<F>(f: F, x: &[f64]) -> f64
where
    F: for<'t> Fn(&[Var<'t>]) -> Vec<Var<'t>>,
{
    with_tape(|t| {
        let xs = t.vars(x);
        let ys = f(&xs);
        assert_eq!(
            ys.len(),
            xs.len(),
            "stein-autodiff: divergence: field has {} components for {} inputs",
            ys.len(),
            xs.len()
        );
        diagonal_sum(t, &ys, &xs)
    })
}

/// Σᵢ ∂yᵢ/∂xᵢ, from the Jacobian's vector sweeps.
fn diagonal_sum<'t>(t: &'t Tape, ys: &[Var<'t>], xs: &[Var<'t>]) -> f64 {
    let j = t.jacobian(ys, xs);
    (0..ys.len()).map(|i| j[i][i]).sum()
}

/// The first non-finite entry of a matrix, named "`what` row i[j]".
fn check_rows(what: &str, rows: &[Vec<f64>]) -> Result<(), AdError> {
    for (i, row) in rows.iter().enumerate() {
        check_finite(&format!("{what} row {i}"), row)?;
    }
    Ok(())
}

/// [`value_and_grad`] that returns an error naming the first non-finite input, value or gradient entry.
pub fn try_value_and_grad<F>(f: F, x: &[f64]) -> Result<(f64, Vec<f64>), AdError>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    check_inputs(x)?;
    let (v, g) = value_and_grad(f, x);
    check_value(v, None)?;
    check_finite("gradient", &g)?;
    Ok((v, g))
}

/// [`grad`], checked (see [`try_value_and_grad`]).
pub fn try_grad<F>(f: F, x: &[f64]) -> Result<Vec<f64>, AdError>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    try_value_and_grad(f, x).map(|(_, g)| g)
}

/// [`hessian`], checked: names the first non-finite entry as "hessian row i".
pub fn try_hessian<F>(f: F, x: &[f64]) -> Result<Vec<Vec<f64>>, AdError>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    check_inputs(x)?;
    let h = hessian(f, x);
    check_rows("hessian", &h)?;
    Ok(h)
}

/// [`laplacian`], checked.
pub fn try_laplacian<F>(f: F, x: &[f64]) -> Result<f64, AdError>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    check_inputs(x)?;
    let l = laplacian(f, x);
    check_finite("laplacian", &[l])?;
    Ok(l)
}

/// [`hvp`], checked: a vector of the wrong length is an error, not a panic.
pub fn try_hvp<F>(f: F, x: &[f64], v: &[f64]) -> Result<Vec<f64>, AdError>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    check_len("hvp vector", x.len(), v.len())?;
    check_inputs(x)?;
    check_inputs(v)?;
    let r = hvp(f, x, v);
    check_finite("hvp", &r)?;
    Ok(r)
}

/// [`vjp`], checked: a vector `u` with the wrong number of entries is an error, not a panic.
pub fn try_vjp<F>(f: F, x: &[f64], u: &[f64]) -> Result<(Vec<f64>, Vec<f64>), AdError>
where
    F: for<'t> Fn(&[Var<'t>]) -> Vec<Var<'t>>,
{
    check_inputs(x)?;
    check_inputs(u)?;
    let outputs = with_tape(|t| f(&t.vars(x)).len());
    check_len("vjp vector", outputs, u.len())?;
    let r = vjp(f, x, u);
    check_finite("vjp", &r.1)?;
    Ok(r)
}

/// [`jacobian`], checked.
pub fn try_jacobian<F>(f: F, x: &[f64]) -> Result<Vec<Vec<f64>>, AdError>
where
    F: for<'t> Fn(&[Var<'t>]) -> Vec<Var<'t>>,
{
    check_inputs(x)?;
    let j = jacobian(f, x);
    check_rows("jacobian", &j)?;
    Ok(j)
}

/// [`divergence`], checked: a field with the wrong number of components is an error.
pub fn try_divergence<F>(f: F, x: &[f64]) -> Result<f64, AdError>
where
    F: for<'t> Fn(&[Var<'t>]) -> Vec<Var<'t>>,
{
    check_inputs(x)?;
    let n = with_tape(|t| f(&t.vars(x)).len());
    check_len("divergence field", x.len(), n)?;
    let d = divergence(f, x);
    check_finite("divergence", &[d])?;
    Ok(d)
}
