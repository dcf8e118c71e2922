//! Shared finite-difference helpers for the derivative tests.
#![allow(dead_code)]

use proptest::test_runner::TestCaseError;
use stein_autodiff::{compile, with_tape, Compiled, Var, Workspace};

/// Central difference with one Richardson step: error O(h⁴) instead of O(h²).
pub fn richardson(f: impl Fn(f64) -> f64, x: f64) -> f64 {
    let h = 1e-3 * (1.0 + x.abs());
    let d = |h: f64| (f(x + h) - f(x - h)) / (2.0 * h);
    (4.0 * d(h / 2.0) - d(h)) / 3.0
}

/// |a − b| ≤ rtol (1 + |b|), as a proptest failure naming what differs.
pub fn close(what: &str, a: f64, b: f64, rtol: f64) -> Result<(), TestCaseError> {
    if (a - b).abs() <= rtol * (1.0 + b.abs()) || (a.is_nan() && b.is_nan()) {
        Ok(())
    } else {
        Err(TestCaseError::fail(format!(
            "{what}: tape {a:e} vs finite differences {b:e}"
        )))
    }
}

fn bump(x: &[f64], i: usize, v: f64) -> Vec<f64> {
    let mut p = x.to_vec();
    p[i] = v;
    p
}

/// Value, gradient, Hessian and third-derivative tensor.
pub type Derivatives = (f64, Vec<f64>, Vec<Vec<f64>>, Vec<Vec<Vec<f64>>>);

/// Tape derivatives of orders 1, 2 and 3.
pub fn derivatives<F>(f: &F, x: &[f64]) -> Derivatives
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    with_tape(|t| {
        let xs = t.vars(x);
        let y = f(&xs);
        let g = t.grad_graph(y, &xs);
        let h: Vec<Vec<Var>> = g.iter().map(|&gi| t.grad_graph(gi, &xs)).collect();
        let third = h
            .iter()
            .map(|row| row.iter().map(|&hij| t.grad(hij, &xs)).collect())
            .collect();
        let g1 = t.grad(y, &xs);
        let h2 = h
            .iter()
            .map(|row| row.iter().map(|v| v.value()).collect())
            .collect();
        // the recorded gradient's values equal the first-order sweep's
        for (a, b) in g.iter().zip(&g1) {
            assert_eq!(
                a.value().to_bits(),
                b.to_bits(),
                "recorded vs plain gradient"
            );
        }
        (y.value(), g1, h2, third)
    })
}

/// Check a scalar function at every order against finite differences, and its primal value bit for bit
/// against the plain `f64` run of the same generic code.
pub fn check_orders<F>(
    f: F,
    plain: impl Fn(&[f64]) -> f64,
    x: &[f64],
    rtol: f64,
) -> Result<(), TestCaseError>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    let (v, g, h, t3) = derivatives(&f, x);
    let p = plain(x);
    if v.to_bits() != p.to_bits() {
        return Err(TestCaseError::fail(format!(
            "primal on tape {v:e} vs f64 {p:e}"
        )));
    }
    let consts: Vec<Var> = x.iter().map(|&v| Var::constant(v)).collect();
    let c = f(&consts);
    if c.value().to_bits() != p.to_bits() || !c.is_constant() {
        return Err(TestCaseError::fail(
            "constant inputs must give the same constant",
        ));
    }
    let c = check_replay(&f, x, v, &g)?;
    // a replay at a nearby point, where the trace's guards still hold, equals the tape there
    let near: Vec<f64> = x.iter().map(|&v| v * (1.0 + 1e-3) + 1e-4).collect();
    let mut gr = vec![0.0; x.len()];
    if let Some(vr) = c.value_grad(&near, &mut gr, &mut Workspace::default()) {
        let (vt, gt, _, _) = derivatives(&f, &near);
        // to rounding: a trace keeps a log-sum-exp's shift where the tape takes the new maximum
        close("replayed value", vr, vt, 1e-14)?;
        for i in 0..x.len() {
            close(&format!("replayed d/dx{i}"), gr[i], gt[i], 1e-13)?;
        }
    }
    for i in 0..x.len() {
        let fd = richardson(|s| plain(&bump(x, i, s)), x[i]);
        close(&format!("d/dx{i}"), g[i], fd, rtol)?;
        for j in 0..x.len() {
            let fd = richardson(|s| derivatives(&f, &bump(x, j, s)).1[i], x[j]);
            close(&format!("d2/dx{i}dx{j}"), h[i][j], fd, rtol)?;
            for k in 0..x.len() {
                let fd = richardson(|s| derivatives(&f, &bump(x, k, s)).2[i][j], x[k]);
                close(&format!("d3/dx{i}dx{j}dx{k}"), t3[i][j][k], fd, rtol)?;
            }
        }
    }
    Ok(())
}

/// The compiled replay at the traced point: the tape's value bit for bit, its gradient to rounding. Returns
/// the trace for further points.
pub fn check_replay<F>(f: &F, x: &[f64], v: f64, g: &[f64]) -> Result<Compiled, TestCaseError>
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    let c = compile(f, x).map_err(|e| TestCaseError::fail(format!("compile: {e}")))?;
    let mut gr = vec![0.0; x.len()];
    let vr = c
        .value_grad(x, &mut gr, &mut Workspace::default())
        .ok_or_else(|| TestCaseError::fail("a trace's guards fail at its own point"))?;
    if vr.to_bits() != v.to_bits() {
        return Err(TestCaseError::fail(format!(
            "replay value {vr:e} vs tape {v:e}"
        )));
    }
    for i in 0..x.len() {
        close(&format!("replayed d/dx{i}"), gr[i], g[i], 1e-13)?;
    }
    Ok(c)
}
