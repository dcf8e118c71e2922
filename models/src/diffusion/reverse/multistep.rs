//! Multistep solvers of the probability-flow ODE in its data-prediction form: DPM-Solver++(2M) (Lu et al.
//! 2022) and UniPC (Zhao et al. 2023). With λ = log(α/σ) and the denoiser x̂₀(x, t) = (x + σ² s(x, t))/α, the
//! exact flow from s to t is x_t = (σ_t/σ_s) x_s + σ_t ∫ e^λ x̂₀ dλ; both take the integral with x̂₀
//! extrapolated linearly in λ through the last two evaluations, one network evaluation per step, on times
//! uniform in λ (DPM-Solver's "logSNR" spacing) — uniform in t on the straight path of flow matching, whose
//! velocity changes evenly in t. UniPC adds a corrector (UniC, B(h) = e^{−h} − 1) that
//! re-reads the step with the evaluation the next step needs anyway, so it costs nothing extra. Below
//! [`LOWER_ORDER_FINAL`] steps the last step is first order (as the reference implementations do: the
//! extrapolation is poor where few, long steps end near the data).

use super::edm::time_of;
use crate::diffusion::ode::Stats;
use crate::diffusion::{Sde, TimeScore};
use stein_autodiff::Tensor;

/// Fewer steps than this make the last step first order.
pub const LOWER_ORDER_FINAL: usize = 15;

/// Which multistep solver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Solver {
    /// DPM-Solver++(2M).
    DpmSolverPp,
    /// UniPC: the same predictor (UniP-2 with B(h) = e^{−h} − 1 is DPM-Solver++(2M)) and the UniC corrector.
    UniPc,
}

/// `steps` steps of `solver` from T to ε; `x` holds x_T on entry and the samples on exit.
pub(super) fn multistep<S: TimeScore + ?Sized>(
    score: &S,
    sde: &Sde,
    (eps, big_t): (f64, f64),
    x: &mut Tensor,
    steps: usize,
    solver: Solver,
    observe: &mut dyn FnMut(usize, f64, &Tensor),
) -> Stats {
    let lambda = |t: f64| (sde.alpha(t) / sde.sigma(t)).ln();
    let (l_big, l_eps) = (lambda(big_t), lambda(eps));
    // the straight path's velocity changes evenly in t, where logSNR steps would crowd both ends (measured on
    // flow models of two moons: outside at 5 evaluations 0.41 with logSNR steps)
    let uniform_t = matches!(sde, Sde::Linear);
    let times: Vec<f64> = (0..=steps)
        .map(|i| match i {
            0 => big_t,
            i if i == steps => eps,
            i if uniform_t => big_t + i as f64 / steps as f64 * (eps - big_t),
            i => {
                let l = l_big + i as f64 / steps as f64 * (l_eps - l_big);
                time_of(sde, (eps, big_t), (-l).exp())
            }
        })
        .collect();
    let lambdas: Vec<f64> = times.iter().map(|&t| lambda(t)).collect();
    let (rows, cols) = x.shape();
    let mut s = Tensor::zeros(rows, cols);
    let mut stats = Stats::default();
    let mut denoise = |x: &Tensor, t: f64, stats: &mut Stats| -> Vec<f64> {
        score.score_at(x, t, &mut s);
        stats.evaluations += 1;
        let (a, sg) = (sde.alpha(t), sde.sigma(t));
        x.data()
            .iter()
            .zip(s.data())
            .map(|(xv, sv)| (xv + sg * sg * sv) / a)
            .collect()
    };
    // x̂₀ at the current point (m0) and at the one before (m1)
    let mut m0 = denoise(x, times[0], &mut stats);
    let mut m1: Option<Vec<f64>> = None;
    for i in 1..=steps {
        let (t, h) = (times[i], lambdas[i] - lambdas[i - 1]);
        let (ratio, at) = (sde.sigma(t) / sde.sigma(times[i - 1]), sde.alpha(t));
        let phi = (-h).exp_m1(); // e^{−h} − 1
        let last = i == steps;
        let previous = m1.as_ref().filter(|_| !(last && steps < LOWER_ORDER_FINAL));
        // the first-order step, and D = (m0 − m1)/r, r = h_prev/h: the change of x̂₀ over one step of λ
        let base: Vec<f64> = x
            .data()
            .iter()
            .zip(&m0)
            .map(|(xv, m)| ratio * xv - at * phi * m)
            .collect();
        let r = previous.map(|_| (lambdas[i - 1] - lambdas[i - 2]) / h);
        let d: Option<Vec<f64>> = previous
            .zip(r)
            .map(|(m1, r)| m0.iter().zip(m1).map(|(a, b)| (a - b) / r).collect());
        let predicted: Vec<f64> = match &d {
            Some(d) => base
                .iter()
                .zip(d)
                .map(|(b, dv)| b - 0.5 * at * phi * dv)
                .collect(),
            None => base.clone(),
        };
        *x = Tensor::new(rows, cols, predicted).expect("rows × cols");
        if !last {
            let mt = denoise(x, t, &mut stats);
            if solver == Solver::UniPc {
                // UniC: ρ solves [[1, 1], [r₁, 1]] ρ = [k₁, 2 k₂]/B with r₁ = −r, k₁ = φ/(−h) − 1,
                // k₂ = k₁/(−h) − ½, B = φ; the first step (no D) takes ρ = ½ on the new difference alone
                let (k1, hh) = (phi / -h - 1.0, -h);
                let k2 = k1 / hh - 0.5;
                let (rho_d, rho_t) = match r {
                    Some(r) => {
                        let (b1, b2) = (k1 / phi, 2.0 * k2 / phi);
                        let rho_d = (b1 - b2) / (1.0 + r);
                        (rho_d, b1 - rho_d)
                    }
                    None => (0.0, 0.5),
                };
                let corrected: Vec<f64> = base
                    .iter()
                    .enumerate()
                    .map(|(j, b)| {
                        let dv = d.as_ref().map_or(0.0, |d| d[j]);
                        b - at * phi * (rho_d * dv + rho_t * (mt[j] - m0[j]))
                    })
                    .collect();
                *x = Tensor::new(rows, cols, corrected).expect("rows × cols");
            }
            m1 = Some(std::mem::replace(&mut m0, mt));
        }
        stats.accepted += 1;
        observe(i, t, x);
    }
    stats
}
