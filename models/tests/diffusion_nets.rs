//! Time-conditional networks: the tape's divergence and Hutchinson probes of the score agree with finite
//! differences, for every output reading.

use rand::rngs::SmallRng;
use rand::SeedableRng;
use stein_autodiff::Tensor;
use stein_models::diffusion::likelihood::TimeDivergence;
use stein_models::diffusion::net::{Output, TimeModel};
use stein_models::diffusion::{Sde, TimeScore};

#[test]
fn the_divergence_and_the_probes_match_finite_differences() {
    let x = Tensor::new(3, 3, vec![0.3, -0.2, 0.9, 1.1, 0.4, -0.7, -0.5, 0.0, 0.25]).unwrap();
    for (output, sde) in [
        (Output::Score, Sde::vp(0.1, 20.0).unwrap()),
        (Output::Noise, Sde::sub_vp(0.1, 20.0).unwrap()),
        (Output::Denoised, Sde::ve(0.01, 20.0).unwrap()),
    ] {
        let m = TimeModel::new(3, &[24, 24], output, sde, &mut SmallRng::seed_from_u64(1)).unwrap();
        let t = 0.4;
        let mut div = vec![0.0; 3];
        m.divergence_at(&x, t, &mut div);
        // central differences of the score, one coordinate at a time
        let h = 1e-5;
        let mut fd = vec![0.0; 3];
        let (mut sp, mut sm) = (Tensor::zeros(0, 0), Tensor::zeros(0, 0));
        for j in 0..3 {
            let shift =
                |d: f64| Tensor::from_fn(3, 3, |i, k| x.get(i, k) + if k == j { d } else { 0.0 });
            m.score_at(&shift(h), t, &mut sp);
            m.score_at(&shift(-h), t, &mut sm);
            for (i, f) in fd.iter_mut().enumerate() {
                *f += (sp.get(i, j) - sm.get(i, j)) / (2.0 * h);
            }
        }
        for (a, b) in div.iter().zip(&fd) {
            assert!(
                (a - b).abs() < 1e-5 * (1.0 + b.abs()),
                "{output:?}: divergence {a} vs {b}"
            );
        }
        // probes along the coordinate axes add up to the divergence
        let mut total = [0.0; 3];
        let mut one = vec![0.0; 3];
        for j in 0..3 {
            let e = Tensor::from_fn(3, 3, |_, k| f64::from(u8::from(k == j)));
            m.probe_at(&x, t, &e, &mut one);
            total.iter_mut().zip(&one).for_each(|(s, o)| *s += o);
        }
        for (a, b) in total.iter().zip(&div) {
            assert!(
                (a - b).abs() < 1e-10 * (1.0 + b.abs()),
                "{output:?}: probes {a} vs {b}"
            );
        }
    }
}

/// Batch evaluations run in row blocks sized by the thread count: the same bits on one or two threads, and the
/// whole batch on one tape to rounding, for the score, the divergence and Hutchinson's probes.
#[test]
fn blocked_evaluations_do_not_depend_on_the_thread_count() {
    let sde = Sde::vp(0.1, 20.0).unwrap();
    let m = TimeModel::new(
        2,
        &[32, 32],
        Output::Noise,
        sde,
        &mut SmallRng::seed_from_u64(5),
    )
    .unwrap();
    let n = 1001;
    let x = Tensor::from_fn(n, 2, |i, j| ((i * 2 + j) as f64 * 0.7).sin() * 2.0);
    let z = Tensor::from_fn(n, 2, |i, j| if (i + j) % 3 == 0 { 1.0 } else { -1.0 });
    let eval = || {
        let mut s = Tensor::zeros(0, 0);
        m.score_at(&x, 0.3, &mut s);
        let (mut div, mut probe) = (vec![0.0; n], vec![0.0; n]);
        m.divergence_at(&x, 0.3, &mut div);
        m.probe_at(&x, 0.3, &z, &mut probe);
        (s, div, probe)
    };
    let pool = |k| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(k)
            .build()
            .unwrap()
    };
    let one = pool(1).install(eval);
    let two = pool(2).install(eval);
    assert_eq!(one, two);
    // the whole batch on one tape
    let whole = stein_autodiff::with_tape(|tape| {
        let p: Vec<_> = m.net.params.iter().map(|w| tape.tensor_const(w)).collect();
        m.score(tape, &p, tape.tensor_const(&x), &vec![0.3; n])
            .value()
    });
    for (a, b) in one.0.data().iter().zip(whole.data()) {
        assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
    }
}

/// The swiss-roll likelihood that blew up (NLL 2.6 × 10¹⁰ over 1,000 fresh points of a 10,000-step model,
/// one point at 2.6 × 10¹³), reduced to its cause: an ε-reading network whose output grows faster than x in
/// the tails, where training never looked, makes the probability flow at large t *expand* (dx/dt =
/// −½β(x + s), s = −F/σ), so a point that starts in the tails ends far out in the prior and gets a log p of
/// −|x_T|²/2. The default reading (EDM's x₀, [`Output::Denoised`]) has the prior's score −x/(α² + σ²)
/// built in and the network's part damped by α(t), which vanishes at large t. Here: the flow over the
/// large-t half [0.5, 1] of untrained networks made steep (every weight ×3: outputs ~27× their initial
/// size), from points 3 to 4 sd out. The ε reading sends them beyond 10⁵ sd; the default stays within
/// a couple of hundred nats of the Gaussian.
#[test]
fn a_network_that_extrapolates_steeply_cannot_blow_up_the_default_likelihood() {
    use stein_models::diffusion::likelihood::{log_likelihood, Divergence};
    use stein_models::diffusion::ode::Tolerance;
    let sde = Sde::vp(0.1, 20.0).unwrap();
    let x = Tensor::new(3, 2, vec![3.6, -2.4, -4.0, 1.0, 0.5, 3.8]).unwrap();
    let gaussian =
        |p: &[f64]| -0.5 * p.iter().map(|v| v * v).sum::<f64>() - (2.0 * std::f64::consts::PI).ln();
    for output in [Output::Noise, Output::Denoised] {
        let mut worst = f64::INFINITY;
        for seed in 0..4 {
            let mut m = TimeModel::new(
                2,
                &[32, 32],
                output,
                sde,
                &mut SmallRng::seed_from_u64(seed),
            )
            .unwrap()
            .with_t_min(0.5)
            .unwrap();
            m.net
                .params
                .iter_mut()
                .for_each(|w| w.data_mut().iter_mut().for_each(|v| *v *= 3.0));
            let ll = log_likelihood(&m, &sde, &x, Divergence::Exact, &Tolerance::default(), 0);
            let gap = match ll {
                Ok(ll) => (0..3)
                    .map(|i| ll.nats[i] - gaussian(x.row_slice(i)))
                    .fold(f64::INFINITY, f64::min),
                Err(_) => f64::NEG_INFINITY,
            };
            worst = worst.min(gap);
        }
        println!("{output:?}: the worst log p − log N(x; 0, I) over 4 steep networks: {worst:.3e}");
        if output == Output::Denoised {
            assert!(worst > -200.0, "{output:?}: {worst}");
        } else {
            // the failure the ε reading allows, kept in view: this test notices if it ever changes
            assert!(worst < -1e6, "{output:?}: {worst}");
        }
    }
}
