//! EDM's Heun sampler (Karras et al. 2022) and the time at a given noise-to-signal ratio, which the
//! multistep solvers share.

use super::super::{Sde, TimeScore};
use crate::diffusion::ode::Stats;
use stein_autodiff::Tensor;

/// The time at which σ(t)/α(t) = `target`, by bisection on `span` = [ε, T] (σ/α increases with t).
pub(super) fn time_of(sde: &Sde, span: (f64, f64), target: f64) -> f64 {
    let (mut lo, mut hi) = span;
    let ratio = |t: f64| sde.sigma(t) / sde.alpha(t);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if ratio(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Karras et al.'s Heun sampler; x holds the prior draws (x_T) on entry and the samples on exit.
pub(super) fn edm_heun<S: TimeScore + ?Sized>(
    score: &S,
    sde: &Sde,
    (eps, big_t): (f64, f64),
    x: &mut Tensor,
    steps: usize,
    observe: &mut dyn FnMut(usize, f64, &Tensor),
) -> Stats {
    const RHO: f64 = 7.0;
    let ratio = |t: f64| sde.sigma(t) / sde.alpha(t);
    let (hi, lo) = (ratio(big_t).powf(1.0 / RHO), ratio(eps).powf(1.0 / RHO));
    // N levels from σ̃_max to σ̃_min (one level: σ̃_max alone, then a single Euler step to 0)
    let n = steps;
    let mut levels: Vec<f64> = (0..n)
        .map(|i| (hi + i as f64 / (n - 1).max(1) as f64 * (lo - hi)).powf(RHO))
        .collect();
    levels.push(0.0);
    let times: Vec<f64> = levels
        .iter()
        .map(|&l| {
            if l > 0.0 {
                time_of(sde, (eps, big_t), l)
            } else {
                0.0
            }
        })
        .collect();
    // x̃ = x / α(T)
    let a_big = sde.alpha(big_t);
    x.data_mut().iter_mut().for_each(|v| *v /= a_big);
    let mut s = Tensor::zeros(0, 0);
    let mut stats = Stats::default();
    // dx̃/dσ̃ = (x̃ − D)/σ̃ = −σ̃ α s(α x̃, t)
    let mut slope = |xt: &Tensor, t: f64, level: f64, out: &mut Vec<f64>| {
        let a = sde.alpha(t);
        let scaled = Tensor::from_fn(xt.rows(), xt.cols(), |i, j| a * xt.get(i, j));
        score.score_at(&scaled, t, &mut s);
        out.clear();
        out.extend(s.data().iter().map(|sv| -level * a * sv));
    };
    let (mut d1, mut d2) = (Vec::new(), Vec::new());
    for i in 0..n {
        let (l0, l1) = (levels[i], levels[i + 1]);
        slope(x, times[i], l0, &mut d1);
        stats.evaluations += 1;
        let h = l1 - l0;
        let euler = Tensor::new(
            x.rows(),
            x.cols(),
            x.data().iter().zip(&d1).map(|(v, d)| v + h * d).collect(),
        )
        .expect("same shape");
        if l1 > 0.0 {
            slope(&euler, times[i + 1], l1, &mut d2);
            stats.evaluations += 1;
            for ((v, a), b) in x.data_mut().iter_mut().zip(&d1).zip(&d2) {
                *v += 0.5 * h * (a + b);
            }
        } else {
            *x = euler;
        }
        stats.accepted += 1;
        observe(i + 1, times[i + 1], x);
    }
    stats
}
