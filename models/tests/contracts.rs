//! The diffusion surfaces' contracts on bad input (ARCHITECTURE.md, "Errors, NaN and panics"): times outside
//! [0, 1], step counts of every reverse sampler, extra coordinates, non-finite points and results, model
//! sizes — each an error naming the parameter, or a documented panic naming both sides, never a number.

use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use stein_autodiff::Tensor;
use stein_models::diffusion::likelihood::{log_likelihood, Divergence};
use stein_models::diffusion::net::{Output, TimeModel};
use stein_models::diffusion::ode::{self, Fixed, Tolerance};
use stein_models::diffusion::reverse::{self, Method};
use stein_models::diffusion::{PerturbedMixture, Sde, TimeScore};
use stein_models::ModelError;
use stein_scores::{GaussianMixture, MultivariateNormal};

fn truth(sde: Sde) -> PerturbedMixture {
    let c = |m: f64| MultivariateNormal::isotropic(vec![m, 0.5], 0.4).unwrap();
    PerturbedMixture::new(
        GaussianMixture::new(vec![0.4, 0.6], vec![c(-1.5), c(1.5)]).unwrap(),
        sde,
    )
}

fn sdes() -> Vec<Sde> {
    vec![
        Sde::ve(0.01, 10.0).unwrap(),
        Sde::vp(0.1, 20.0).unwrap(),
        Sde::vp_cosine(0.008).unwrap(),
        Sde::sub_vp(0.1, 20.0).unwrap(),
    ]
}

fn any_time() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1e6..-1e-300f64,
        1.0000001..1e6f64,
        0.0..=1.0f64,
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(1.0),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Inside [0, 1] every coefficient of every SDE is a number (∞ only for the cosine schedule's β at 1);
    /// outside it, and at NaN, every one is NaN and `check_time` is an error.
    #[test]
    fn sde_coefficients_are_nan_outside_their_times(t in any_time()) {
        for sde in sdes() {
            let values = [sde.drift(t), sde.diffusion(t), sde.alpha(t), sde.sigma(t)];
            if (0.0..=1.0).contains(&t) {
                prop_assert!(Sde::check_time(t).is_ok());
                prop_assert!(values.iter().all(|v| !v.is_nan()), "{sde:?} at {t}: {values:?}");
                prop_assert!(sde.alpha(t).is_finite() && sde.sigma(t).is_finite());
            } else {
                prop_assert!(Sde::check_time(t).is_err());
                prop_assert!(values.iter().all(|v| v.is_nan()), "{sde:?} at {t}: {values:?}");
            }
        }
    }

    /// The exact truth's marginal at t exists exactly for t in [0, 1].
    #[test]
    fn perturbed_mixtures_exist_only_at_times_of_the_sde(t in any_time()) {
        for sde in sdes() {
            let p = truth(sde);
            prop_assert_eq!(p.at(t).is_ok(), (0.0..=1.0).contains(&t), "{:?} at {}", sde, t);
            prop_assert_eq!(p.log_prob_at(&[0.1, 0.2], t).is_ok(), (0.0..=1.0).contains(&t));
        }
    }

    /// Every reverse sampler takes 1 to a million steps: anything else is an error before any allocation
    /// (so `usize::MAX` neither overflows a capacity nor runs unbounded), and η outside [0, 1] is refused.
    #[test]
    fn every_reverse_sampler_bounds_its_steps(steps in prop_oneof![Just(0usize), Just(1usize), Just(2usize), 1_000_001..usize::MAX, Just(usize::MAX), Just(1usize << 40)],
                                              eta in prop_oneof![Just(0.0), Just(1.0), Just(0.5), Just(f64::NAN), Just(-0.1), Just(1.1), Just(f64::INFINITY)]) {
        let p = truth(Sde::vp(0.1, 20.0).unwrap());
        let methods = [
            Method::EulerMaruyama { steps },
            Method::PredictorCorrector { steps, corrector_steps: 1, snr: 0.16 },
            Method::ProbabilityFlow { steps, solver: Fixed::Heun },
            Method::Ddim { steps, eta },
            Method::EdmHeun { steps },
            Method::DpmSolverPp { steps },
            Method::UniPc { steps },
        ];
        for m in methods {
            let ok_steps = (1..=reverse::MAX_STEPS).contains(&steps);
            let ok_eta = !matches!(m, Method::Ddim { .. }) || (0.0..=1.0).contains(&eta);
            let r = reverse::sample(&p, p.sde(), &m, 3, 1);
            if ok_steps && ok_eta {
                let x = r.unwrap();
                prop_assert!(x.data().iter().all(|v| v.is_finite()));
            } else {
                prop_assert!(matches!(r, Err(ModelError::BadParameter { .. })), "{m:?}: {r:?}");
            }
        }
    }
}

#[test]
fn the_issue_cases_of_sde_times() {
    let vp = Sde::vp(0.1, 20.0).unwrap();
    assert!(vp.sigma(-0.2).is_nan());
    assert!(vp.sigma(-0.01).is_nan());
    assert!(truth(vp).at(-0.2).is_err());
    // parameters whose coefficients leave f64 are refused
    assert!(Sde::vp(0.1, 1e300).is_err());
    assert!(Sde::sub_vp(0.1, 1e4).is_err());
    assert!(Sde::ve(1e-300, 1.0).is_err());
    assert!(Sde::ve(0.01, 1e300).is_err());
}

#[test]
fn zero_steps_never_return_the_prior_as_samples() {
    let p = truth(Sde::vp(0.1, 20.0).unwrap());
    for m in [
        Method::Ddim { steps: 0, eta: 0.0 },
        Method::EdmHeun { steps: 0 },
        Method::Ddim {
            steps: 10,
            eta: f64::NAN,
        },
        Method::Ddim {
            steps: 10,
            eta: 1.5,
        },
        Method::Ddim {
            steps: 1_000_000_000,
            eta: 0.0,
        },
        Method::EdmHeun { steps: 1 << 40 },
        Method::EdmHeun { steps: usize::MAX },
        Method::DpmSolverPp { steps: 0 },
        Method::UniPc { steps: 0 },
    ] {
        assert!(reverse::sample(&p, p.sde(), &m, 4, 0).is_err(), "{m:?}");
    }
    // one noise level is a real (crude) sampler, not two in disguise
    let one = reverse::sample(&p, p.sde(), &Method::EdmHeun { steps: 1 }, 50, 0).unwrap();
    let two = reverse::sample(&p, p.sde(), &Method::EdmHeun { steps: 2 }, 50, 0).unwrap();
    assert_ne!(one, two);
    // bad tolerances
    let bad = Tolerance {
        rtol: f64::NAN,
        ..Default::default()
    };
    assert!(reverse::sample(&p, p.sde(), &Method::ProbabilityFlowAdaptive(bad), 4, 0).is_err());
    let no_steps = Tolerance {
        max_steps: 0,
        ..Default::default()
    };
    assert!(reverse::sample(
        &p,
        p.sde(),
        &Method::ProbabilityFlowAdaptive(no_steps),
        4,
        0
    )
    .is_err());
}

#[test]
fn the_fixed_step_solver_refuses_zero_steps_and_non_finite_states() {
    let mut y = vec![1.0];
    let mut decay = |_: f64, y: &[f64], out: &mut [f64]| out[0] = -y[0];
    assert!(ode::fixed(
        &mut decay,
        &mut y,
        (0.0, 1.0),
        0,
        Fixed::Rk4,
        &mut |_, _, _| {}
    )
    .is_err());
    assert!(ode::fixed(
        &mut decay,
        &mut y,
        (0.0, f64::NAN),
        10,
        Fixed::Rk4,
        &mut |_, _, _| {}
    )
    .is_err());
    let mut blow_up = |_: f64, y: &[f64], out: &mut [f64]| out[0] = y[0] * 1e300;
    let r = ode::fixed(
        &mut blow_up,
        &mut y,
        (0.0, 1.0),
        5,
        Fixed::Heun,
        &mut |_, _, _| {},
    );
    assert!(r.is_err(), "{r:?}");
}

#[test]
#[should_panic(expected = "the points have 3 columns, the score's dimension is 2")]
fn a_truth_refuses_extra_columns() {
    let p = truth(Sde::vp(0.1, 20.0).unwrap());
    let mut out = Tensor::zeros(0, 0);
    p.score_at(&Tensor::zeros(4, 3), 0.5, &mut out);
}

#[test]
#[should_panic(expected = "t = -0.2 is outside [0, 1]")]
fn a_truth_refuses_negative_times_naming_them() {
    let p = truth(Sde::vp(0.1, 20.0).unwrap());
    let mut out = Tensor::zeros(0, 0);
    p.score_at(&Tensor::zeros(4, 2), -0.2, &mut out);
}

#[test]
#[should_panic(expected = "t = NaN is outside [0, 1]")]
fn a_truth_refuses_nan_times_naming_them() {
    let p = truth(Sde::vp(0.1, 20.0).unwrap());
    let mut out = Tensor::zeros(0, 0);
    p.score_at(&Tensor::zeros(4, 2), f64::NAN, &mut out);
}

fn net(output: Output) -> TimeModel {
    TimeModel::new(
        2,
        &[8],
        output,
        Sde::vp(0.1, 20.0).unwrap(),
        &mut SmallRng::seed_from_u64(0),
    )
    .unwrap()
}

#[test]
#[should_panic(expected = "has σ(t) = 0")]
fn a_noise_network_has_no_score_at_time_zero() {
    let mut out = Tensor::zeros(0, 0);
    net(Output::Noise).score_at(&Tensor::zeros(3, 2), 0.0, &mut out);
}

#[test]
fn a_network_is_finite_wherever_it_answers() {
    for output in [Output::Noise, Output::Denoised, Output::Score] {
        let m = net(output);
        let mut out = Tensor::zeros(0, 0);
        for t in [1e-7, 1e-5, 0.5, 1.0] {
            m.score_at(&Tensor::from_fn(5, 2, |i, j| (i + j) as f64), t, &mut out);
            assert!(
                out.data().iter().all(|v| v.is_finite()),
                "{output:?} at {t}"
            );
        }
    }
    // a score network is defined at t = 0 too
    let mut out = Tensor::zeros(0, 0);
    net(Output::Score).score_at(&Tensor::zeros(3, 2), 0.0, &mut out);
}

#[test]
fn time_models_of_impossible_sizes_are_errors() {
    let sde = Sde::vp(0.1, 20.0).unwrap();
    let mut rng = SmallRng::seed_from_u64(0);
    for (dim, hidden) in [
        (0, vec![8]),
        (2, vec![0]),
        (2, vec![8, 0, 8]),
        (1 << 20, vec![8]),
        (2, vec![1 << 17]),
        (2, vec![60_000, 60_000]),
    ] {
        let r = TimeModel::new(dim, &hidden, Output::Noise, sde, &mut rng);
        assert!(
            matches!(r, Err(ModelError::BadParameter { .. })),
            "{dim} {hidden:?}"
        );
    }
    // a file's frequencies beyond the bound are refused on validation
    let mut m = net(Output::Noise);
    m.frequencies[0] = 1e300;
    assert!(m.validate().is_err());
}

#[test]
fn likelihoods_are_finite_or_an_error() {
    let p = truth(Sde::vp(0.1, 20.0).unwrap());
    let tol = Tolerance::default();
    let ok = log_likelihood(
        &p,
        p.sde(),
        &Tensor::new(2, 2, vec![0.1, 0.2, -1.0, 0.5]).unwrap(),
        Divergence::Exact,
        &tol,
        0,
    )
    .unwrap();
    assert!(ok.nats.iter().all(|v| v.is_finite()));
    for bad in [f64::NAN, f64::INFINITY, 1e300, f64::MAX] {
        let x = Tensor::new(2, 2, vec![0.1, 0.2, bad, 0.5]).unwrap();
        let r = log_likelihood(&p, p.sde(), &x, Divergence::Exact, &tol, 0);
        assert!(r.is_err(), "{bad}: {r:?}");
    }
    let wrong = Tensor::zeros(2, 3);
    assert!(log_likelihood(&p, p.sde(), &wrong, Divergence::Exact, &tol, 0).is_err());
}
