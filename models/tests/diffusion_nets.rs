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
