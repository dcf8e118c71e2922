//! The exact rank test of kernels (Gandy & Scott 2020) on Stein's own kernels, and its power on planted bugs:
//! each bug is a small copy of a kernel, written here, with one line wrong, and must be detected at
//! α = 0.01 in each of 20 seeds (the documented budget: 500 replications of chains of 20, 4,000 for NUTS),
//! while the same copy without the bug passes.

use rand::rngs::SmallRng;
use rand::RngExt;
use rand_distr::StandardNormal;
use stein_autodiff::Real;
use stein_models::calibration::RankReport;
use stein_models::calibration::{kernel_test, Probe};
use stein_models::sample::sgld::{self, SumOfTerms};
use stein_models::sample::{
    hmc, mala, nuts, DenseMetric, Exact, Kernel, LowRankMetric, Metric, State,
};
use stein_scores::{MultivariateNormal, Sample};

/// Seeds per planted bug.
fn seeds() -> u64 {
    20
}

fn normal(rng: &mut SmallRng) -> f64 {
    rng.sample(StandardNormal)
}

/// N(0, diag(sd²)): its exact draw, log density and score.
struct Diag(Vec<f64>);
impl Diag {
    fn draw(&self, rng: &mut SmallRng) -> Vec<f64> {
        self.0.iter().map(|s| s * normal(rng)).collect()
    }
    fn log_p(&self, x: &[f64]) -> f64 {
        x.iter()
            .zip(&self.0)
            .map(|(x, s)| -0.5 * (x / s).powi(2))
            .sum()
    }
    fn score(&self, x: &[f64]) -> Vec<f64> {
        x.iter().zip(&self.0).map(|(x, s)| -x / (s * s)).collect()
    }
}

fn opts(seed: u64) -> kernel_test::Options {
    kernel_test::Options::default()
        .replications(500)
        .chain_length(20)
        .seed(seed)
}

/// `run(seed)` (a planted bug) rejects at α = 0.01 for every one of `seeds()` seeds.
fn assert_detected_in_every_seed(mut run: impl FnMut(u64) -> RankReport) {
    let mut last = String::new();
    let hits = (0..seeds())
        .filter(|&s| {
            let r = run(s);
            last = r.to_string();
            r.p_value < 0.01
        })
        .count() as u64;
    println!("detected in {hits} of {} seeds", seeds());
    assert_eq!(
        hits,
        seeds(),
        "detected in {hits} of {} seeds; last:\n{last}",
        seeds()
    );
}

// ---- Stein's kernels leave their targets invariant ----

/// The exact rank test of Stein's kernel `K` with `params` on a correlated Gaussian, probing the coordinates,
/// their squares and their product.
fn on_correlated<K: Kernel>(params: &K::Params, seed: u64) -> RankReport {
    let target =
        MultivariateNormal::new(vec![1.0, -0.5], vec![vec![1.0, 0.8], vec![0.8, 1.0]]).unwrap();
    let mut probes = Probe::standard(2);
    probes.push(Probe::new("x₀·x₁", |x: &[f64]| x[0] * x[1]));
    let exact = |rng: &mut SmallRng| target.sample_n(rng, 1).remove(0);
    kernel_test::rank_test::<K, _>(&Exact(&target), params, exact, &probes, &opts(seed)).unwrap()
}

#[test]
fn steins_adjusted_kernels_pass_the_exact_rank_test() {
    let dense = Metric::Dense(DenseMetric::new(&[1.0, 0.8, 0.8, 1.0], 2).unwrap());
    let diagonal = Metric::Diagonal(vec![1.5, 0.7]);
    let hmc = hmc::Params {
        metric: diagonal.clone(),
        ..hmc::Params::new(0.3, 5)
    };
    let nuts_diagonal = nuts::Params {
        metric: diagonal,
        ..nuts::Params::new(0.5)
    };
    let h = std::f64::consts::FRAC_1_SQRT_2;
    let low_rank = LowRankMetric::new(vec![1.0, 1.0], vec![h, h, h, -h], vec![1.8, 0.2]).unwrap();
    let nuts_low_rank = nuts::Params {
        metric: Metric::LowRank(low_rank),
        ..nuts::Params::new(0.9)
    };
    let nuts_dense = nuts::Params {
        metric: dense,
        uturn: nuts::UTurn::Endpoints,
        ..nuts::Params::new(0.9)
    };
    let reports = [
        on_correlated::<mala::Mala>(&mala::Params::new(0.4), 1),
        on_correlated::<hmc::Hmc>(&hmc, 2),
        on_correlated::<nuts::Nuts>(&nuts::Params::new(0.35), 3),
        on_correlated::<nuts::Nuts>(&nuts_diagonal, 4),
        on_correlated::<nuts::Nuts>(&nuts_dense, 5),
        on_correlated::<nuts::Nuts>(&nuts_low_rank, 6),
    ];
    for r in reports {
        r.assert_calibrated(0.001);
    }
}

// ---- planted bugs ----

/// MALA on N(0, diag(sd²)) with step h; `bug`: the Metropolis ratio forgets the proposal densities.
fn mala_step(t: &Diag, h: f64, bug: bool) -> impl Fn(&mut Vec<f64>, &mut SmallRng) + Sync + '_ {
    move |x, rng| {
        let drift = |x: &[f64]| -> Vec<f64> {
            let s = t.score(x);
            x.iter().zip(&s).map(|(x, s)| x + 0.5 * h * s).collect()
        };
        let log_q = |to: &[f64], from: &[f64]| -> f64 {
            let m = drift(from);
            -to.iter().zip(&m).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / (2.0 * h)
        };
        let y: Vec<f64> = drift(x)
            .iter()
            .map(|m| m + h.sqrt() * normal(rng))
            .collect();
        let mut log_a = t.log_p(&y) - t.log_p(x);
        if !bug {
            log_a += log_q(x, &y) - log_q(&y, x);
        }
        if rng.random::<f64>().ln() < log_a {
            *x = y;
        }
    }
}

#[test]
fn mala_without_the_proposal_correction_fails() {
    let t = Diag(vec![1.0, 2.0]);
    let probes = Probe::standard(2);
    assert_detected_in_every_seed(|s| {
        kernel_test::rank_test_with(|r| t.draw(r), mala_step(&t, 1.2, true), &probes, &opts(s))
            .unwrap()
    });
    let ok =
        kernel_test::rank_test_with(|r| t.draw(r), mala_step(&t, 1.2, false), &probes, &opts(99));
    ok.unwrap().assert_calibrated(0.001);
}

/// HMC with `n` leapfrog steps of ε and inverse mass `inv_mass` (diagonal) on `t`; `bug`: momenta drawn
/// from N(0, I) instead of N(0, M).
fn hmc_step<'a>(
    t: &'a Diag,
    inv_mass: &'a [f64],
    eps: f64,
    n: usize,
    bug: bool,
) -> impl Fn(&mut Vec<f64>, &mut SmallRng) + Sync + 'a {
    move |x, rng| {
        let p0: Vec<f64> = inv_mass
            .iter()
            .map(|m| {
                if bug {
                    normal(rng)
                } else {
                    normal(rng) / m.sqrt()
                }
            })
            .collect();
        let kinetic = |p: &[f64]| {
            p.iter()
                .zip(inv_mass)
                .map(|(p, m)| 0.5 * p * p * m)
                .sum::<f64>()
        };
        let (mut q, mut p) = (x.clone(), p0.clone());
        for _ in 0..n {
            let s = t.score(&q);
            p.iter_mut().zip(&s).for_each(|(p, s)| *p += 0.5 * eps * s);
            q.iter_mut()
                .zip(&p)
                .zip(inv_mass)
                .for_each(|((q, p), m)| *q += eps * m * p);
            let s = t.score(&q);
            p.iter_mut().zip(&s).for_each(|(p, s)| *p += 0.5 * eps * s);
        }
        let log_a = t.log_p(&q) - kinetic(&p) - t.log_p(x) + kinetic(&p0);
        if rng.random::<f64>().ln() < log_a {
            *x = q;
        }
    }
}

#[test]
fn hmc_whose_momentum_forgets_the_mass_matrix_fails() {
    let t = Diag(vec![2.0, 0.5]);
    let inv_mass = [4.0, 0.25];
    let probes = Probe::standard(2);
    assert_detected_in_every_seed(|s| {
        let step = hmc_step(&t, &inv_mass, 0.4, 4, true);
        kernel_test::rank_test_with(|r| t.draw(r), step, &probes, &opts(s)).unwrap()
    });
    let step = hmc_step(&t, &inv_mass, 0.4, 4, false);
    let ok = kernel_test::rank_test_with(|r| t.draw(r), step, &probes, &opts(99));
    ok.unwrap().assert_calibrated(0.001);
}

/// A subtree of the small NUTS below: its edges, its multinomial sample and log weight, and whether it may
/// be extended.
struct Tree {
    minus: (Vec<f64>, Vec<f64>),
    plus: (Vec<f64>, Vec<f64>),
    sample: Vec<f64>,
    log_w: f64,
    ok: bool,
}

fn log_add(a: f64, b: f64) -> f64 {
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

fn no_uturn(minus: &(Vec<f64>, Vec<f64>), plus: &(Vec<f64>, Vec<f64>)) -> bool {
    let dx: Vec<f64> = plus.0.iter().zip(&minus.0).map(|(a, b)| a - b).collect();
    let dot = |p: &[f64]| dx.iter().zip(p).map(|(a, b)| a * b).sum::<f64>();
    dot(&minus.1) >= 0.0 && dot(&plus.1) >= 0.0
}

/// Hoffman & Gelman's recursion with multinomial sampling (identity metric) from the edge `(x, p)`.
fn build(
    t: &Diag,
    edge: &(Vec<f64>, Vec<f64>),
    dir: f64,
    depth: u32,
    eps: f64,
    h0: f64,
    rng: &mut SmallRng,
) -> Tree {
    if depth == 0 {
        let (mut q, mut p) = edge.clone();
        let s = t.score(&q);
        p.iter_mut()
            .zip(&s)
            .for_each(|(p, s)| *p += 0.5 * dir * eps * s);
        q.iter_mut().zip(&p).for_each(|(q, p)| *q += dir * eps * p);
        let s = t.score(&q);
        p.iter_mut()
            .zip(&s)
            .for_each(|(p, s)| *p += 0.5 * dir * eps * s);
        let h = -t.log_p(&q) + 0.5 * p.iter().map(|v| v * v).sum::<f64>();
        let leaf = (q.clone(), p);
        return Tree {
            minus: leaf.clone(),
            plus: leaf,
            sample: q,
            log_w: -h,
            ok: h - h0 < 1000.0,
        };
    }
    let mut a = build(t, edge, dir, depth - 1, eps, h0, rng);
    if !a.ok {
        return a;
    }
    let from = if dir > 0.0 {
        a.plus.clone()
    } else {
        a.minus.clone()
    };
    let b = build(t, &from, dir, depth - 1, eps, h0, rng);
    if !b.ok {
        a.ok = false;
        return a;
    }
    let total = log_add(a.log_w, b.log_w);
    if rng.random::<f64>().ln() < b.log_w - total {
        a.sample = b.sample;
    }
    if dir > 0.0 {
        a.plus = b.plus
    } else {
        a.minus = b.minus
    }
    a.log_w = total;
    a.ok = no_uturn(&a.minus, &a.plus);
    a
}

/// One transition of the small NUTS; `bug`: each new subtree's sample is taken without its weight.
fn nuts_step(t: &Diag, eps: f64, bug: bool) -> impl Fn(&mut Vec<f64>, &mut SmallRng) + Sync + '_ {
    move |x, rng| {
        let p: Vec<f64> = x.iter().map(|_| normal(rng)).collect();
        let h0 = -t.log_p(x) + 0.5 * p.iter().map(|v| v * v).sum::<f64>();
        let (mut minus, mut plus) = ((x.clone(), p.clone()), (x.clone(), p));
        let (mut sample, mut log_w) = (x.clone(), -h0);
        for depth in 0..8 {
            let dir = if rng.random::<bool>() { 1.0 } else { -1.0 };
            let edge = if dir > 0.0 { &plus } else { &minus };
            let tree = build(t, edge, dir, depth, eps, h0, rng);
            if !tree.ok {
                break;
            }
            if bug || rng.random::<f64>().ln() < tree.log_w - log_w {
                sample = tree.sample;
            }
            log_w = log_add(log_w, tree.log_w);
            if dir > 0.0 {
                plus = tree.plus
            } else {
                minus = tree.minus
            }
            if !no_uturn(&minus, &plus) {
                break;
            }
        }
        *x = sample;
    }
}

#[test]
fn nuts_without_the_multinomial_weights_fails() {
    let t = Diag(vec![1.0, 1.0]);
    let mut probes = Probe::standard(2);
    probes.push(Probe::new("|x|²", |x: &[f64]| x[0] * x[0] + x[1] * x[1]));
    // ε = 1: NUTS's own warm-up picks 1.15–1.20 on this target (acceptance 0.84), where the weights differ
    // enough to matter; at ε ≤ 0.5 every subtree weighs about the same and taking the new one is what the
    // weights would do anyway (0 of 10 seeds detected at 4,000 replications).
    let budget = |s| opts(s).replications(4000);
    assert_detected_in_every_seed(|s| {
        kernel_test::rank_test_with(|r| t.draw(r), nuts_step(&t, 1.0, true), &probes, &budget(s))
            .unwrap()
    });
    let ok = kernel_test::rank_test_with(
        |r| t.draw(r),
        nuts_step(&t, 1.0, false),
        &probes,
        &budget(99),
    );
    ok.unwrap().assert_calibrated(0.001);
}

// ---- an unadjusted kernel: SGLD passes at a small step and fails where its bias is visible ----

/// yᵢ ~ N(θ, 1) for 100 points, θ ~ N(0, 10²): the posterior is N(Σy/(N + 0.01), 1/(N + 0.01)).
struct MeanModel(Vec<f64>);
impl SumOfTerms for MeanModel {
    fn dim(&self) -> usize {
        1
    }
    fn n_terms(&self) -> usize {
        self.0.len()
    }
    fn log_prior<S: Real>(&self, t: &[S]) -> S {
        -(t[0] * t[0]) * 0.005
    }
    fn log_term<S: Real>(&self, t: &[S], i: usize) -> S {
        -(t[0] - self.0[i]).powi(2) * 0.5
    }
}

#[test]
fn sgld_passes_at_a_small_step_and_fails_where_its_bias_shows() {
    let model = MeanModel((0..100).map(|i| 1.0 + (i as f64 * 0.37).sin()).collect());
    let precision = 100.01;
    let mean = model.0.iter().sum::<f64>() / precision;
    let exact = |rng: &mut SmallRng| vec![mean + normal(rng) / f64::sqrt(precision)];
    let probes = Probe::standard(1);
    // hN = 0.8 inflates the variance by 1/(1 − hN/4) = 1.25 before the minibatch noise adds more
    let run = |h: f64, thin: usize, seed: u64| {
        let params = sgld::Params::new(h, 10);
        let step = |x: &mut Vec<f64>, rng: &mut SmallRng| {
            let mut state = State {
                x: std::mem::take(x),
                log_p: None,
                score: vec![0.0],
            };
            sgld::step(&mut state, &model, &params, 0, &mut sgld::Work::new(1), rng);
            *x = state.x;
        };
        kernel_test::rank_test_with(exact, step, &probes, &opts(seed).thin(thin)).unwrap()
    };
    assert_detected_in_every_seed(|s| run(8e-3, 1, s));
    // hN = 0.1, ten steps between chain states (the chain relaxes by e^(−0.5) from one to the next): a bias
    // of a few per cent of the variance, below what 500 replications can see
    run(1e-3, 10, 7).assert_calibrated(0.001);
}
