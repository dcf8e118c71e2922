//! Every loss against an independent computation: parameter gradients against finite differences, the ISM
//! trace against a Hessian computed by the scalar tape, and the identities between losses.

use rand::rngs::SmallRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use stein_autodiff::{hessian, value_and_grad, with_tape, Real, TVar, Tape, Tensor, Var};
use stein_models::nn::{Activation, Conditioning, Kind, Model};
use stein_models::objective::{self, cd, dsm, explicit, implicit, nce, sliced, Projection};

fn rng(s: u64) -> SmallRng {
    SmallRng::seed_from_u64(s)
}

fn normal(r: usize, c: usize, g: &mut SmallRng) -> Tensor {
    Tensor::from_fn(r, c, |_, _| StandardNormal.sample(g))
}

type LossFn<'a> = dyn for<'t> Fn(&Model, &'t Tape, &[TVar<'t>]) -> Var<'t> + 'a;

/// The loss value with the model's parameters replaced by `params`.
fn value(model: &Model, params: &[Tensor], f: &LossFn<'_>) -> f64 {
    let mut m = model.clone();
    m.net.params = params.to_vec();
    with_tape(|t| {
        let p = m.net.lift(t);
        f(&m, t, &p).value()
    })
}

/// Tape gradient of the loss w.r.t. every parameter entry vs central differences (Richardson).
fn check_param_gradient(model: &Model, f: &LossFn<'_>, rtol: f64) {
    let grads = with_tape(|t| {
        let p = model.net.lift(t);
        t.grad_tensors(f(model, t, &p), &p)
    });
    let base = model.net.params.clone();
    let mut checked = 0;
    for (k, w) in base.iter().enumerate() {
        for e in (0..w.len()).step_by((w.len() / 6).max(1)) {
            let at = |s: f64| {
                let mut q = base.clone();
                q[k].data_mut()[e] = s;
                value(model, &q, f)
            };
            let x0 = w.data()[e];
            let h = 1e-3 * (1.0 + x0.abs());
            let d = |h: f64| (at(x0 + h) - at(x0 - h)) / (2.0 * h);
            let fd = (4.0 * d(h / 2.0) - d(h)) / 3.0;
            let ad = grads[k].data()[e];
            assert!(
                (ad - fd).abs() <= rtol * (1.0 + fd.abs()),
                "param {k}[{e}]: tape {ad} vs fd {fd}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 8);
}

fn small(kind: Kind, cond: Conditioning, act: Activation, seed: u64) -> Model {
    Model::build(kind, cond, 2, &[5, 4], act, &mut rng(seed))
}

#[test]
fn every_loss_has_the_right_parameter_gradient() {
    let mut g = rng(1);
    let x = normal(6, 2, &mut g);
    let z = normal(6, 2, &mut g);
    let v = normal(6, 2, &mut g);
    let target = normal(6, 2, &mut g);
    let sig = Tensor::from_fn(6, 1, |i, _| 0.2 + 0.1 * i as f64);
    for kind in [Kind::Score, Kind::Energy] {
        let m = small(kind, Conditioning::None, Activation::Softplus, 2);
        check_param_gradient(&m, &|m, t, p| explicit::loss(m, t, p, &x, &target), 1e-6);
        check_param_gradient(&m, &|m, t, p| implicit::loss(m, t, p, &x), 1e-6);
        check_param_gradient(&m, &|m, t, p| implicit::hutchinson(m, t, p, &x, &v), 1e-6);
        check_param_gradient(&m, &|m, t, p| sliced::loss(m, t, p, &x, &v, false), 1e-6);
        check_param_gradient(&m, &|m, t, p| sliced::loss(m, t, p, &x, &v, true), 1e-6);
        check_param_gradient(&m, &|m, t, p| dsm::loss(m, t, p, &x, &z, &sig), 1e-6);
        let mc = small(kind, Conditioning::InputAndScale, Activation::Silu, 3);
        check_param_gradient(&mc, &|m, t, p| dsm::loss(m, t, p, &x, &z, &sig), 1e-6);
    }
    let e = small(Kind::Energy, Conditioning::None, Activation::Tanh, 4);
    let xn = normal(6, 2, &mut g);
    let lq = |t: &Tensor| {
        Tensor::from_fn(t.rows(), 1, |i, _| {
            -0.5 * t.row_slice(i).iter().map(|v| v * v).sum::<f64>()
        })
    };
    let (lqd, lqn) = (lq(&x), lq(&xn));
    check_param_gradient(
        &e,
        &|m, t, p| {
            let lz = t.tensor(&Tensor::full(1, 1, 0.3));
            nce::loss(m, t, p, lz, &x, &xn, &lqd, &lqn)
        },
        1e-6,
    );
    check_param_gradient(&e, &|m, t, p| cd::loss(m, t, p, &x, &xn, 0.1), 1e-6);
}

/// The same energy network as `Model` computes, written with scalar ops for one point.
fn scalar_energy<S: Real>(m: &Model, x: &[S]) -> S {
    let mut h: Vec<S> = x.to_vec();
    let layers = m.net.params.len() / 2;
    for l in 0..layers {
        let (w, b) = (&m.net.params[2 * l], &m.net.params[2 * l + 1]);
        let mut next = Vec::with_capacity(w.cols());
        for j in 0..w.cols() {
            let mut a = S::cst(b.get(0, j));
            for (i, hi) in h.iter().enumerate() {
                a += *hi * w.get(i, j);
            }
            next.push(if l + 1 < layers { a.tanh() } else { a });
        }
        h = next;
    }
    h[0]
}

#[test]
fn ism_exact_trace_matches_a_hand_computed_hessian_trace() {
    let m = small(Kind::Energy, Conditioning::None, Activation::Tanh, 5);
    let x = normal(7, 2, &mut rng(6));
    let ism = with_tape(|t| {
        let p = m.net.lift(t);
        implicit::loss(&m, t, &p, &x).value()
    });
    // s = −∇E, tr ∇s = −tr ∇²E, by the scalar tape on the scalar network
    let mut reference = 0.0;
    for i in 0..x.rows() {
        let xi = x.row_slice(i);
        let (_, g) = value_and_grad(|v| scalar_energy(&m, v), xi);
        let h = hessian(|v| scalar_energy(&m, v), xi);
        reference += -(h[0][0] + h[1][1]) + 0.5 * (g[0] * g[0] + g[1] * g[1]);
    }
    reference /= x.rows() as f64;
    assert!(
        (ism - reference).abs() < 1e-12 * (1.0 + reference.abs()),
        "{ism} vs {reference}"
    );
}

/// Gradient of a loss w.r.t. all parameters, flattened.
fn flat_grad(m: &Model, f: &LossFn<'_>) -> Vec<f64> {
    with_tape(|t| {
        let p = m.net.lift(t);
        t.grad_tensors(f(m, t, &p), &p)
            .into_iter()
            .flat_map(|g| g.into_vec())
            .collect()
    })
}

fn cosine_and_ratio(a: &[f64], b: &[f64]) -> (f64, f64) {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let (na, nb) = (
        a.iter().map(|x| x * x).sum::<f64>().sqrt(),
        b.iter().map(|x| x * x).sum::<f64>().sqrt(),
    );
    (dot / (na * nb), na / nb)
}

#[test]
fn ism_and_esm_have_the_same_parameter_gradient_on_a_gaussian() {
    // ISM = ESM − ½ E‖∇log p‖² + (terms that vanish in expectation): the θ-gradients agree up to Monte Carlo
    // noise. Data from N(0, Σ), the ESM target its exact score.
    let n = 40_000;
    let mut g = rng(7);
    let (a, b, c): (f64, f64, f64) = (1.0, 0.4, 0.6); // Σ = [[1, .4], [.4, .6]]
    let chol = [a.sqrt(), b / a.sqrt(), (c - b * b / a).sqrt()];
    let x = Tensor::from_fn(n, 2, |_, _| 0.0);
    let mut x = x;
    for i in 0..n {
        let (z0, z1): (f64, f64) = (StandardNormal.sample(&mut g), StandardNormal.sample(&mut g));
        x.data_mut()[2 * i] = chol[0] * z0;
        x.data_mut()[2 * i + 1] = chol[1] * z0 + chol[2] * z1;
    }
    let det = a * c - b * b;
    let target = Tensor::from_fn(n, 2, |i, j| {
        let (u, v) = (x.get(i, 0), x.get(i, 1));
        // −Σ⁻¹ x
        if j == 0 {
            -(c * u - b * v) / det
        } else {
            -(-b * u + a * v) / det
        }
    });
    for kind in [Kind::Score, Kind::Energy] {
        let m = small(kind, Conditioning::None, Activation::Softplus, 8);
        let ge = flat_grad(&m, &|m, t, p| explicit::loss(m, t, p, &x, &target));
        let gi = flat_grad(&m, &|m, t, p| implicit::loss(m, t, p, &x));
        let (cos, ratio) = cosine_and_ratio(&gi, &ge);
        assert!(
            cos > 0.995 && (ratio - 1.0).abs() < 0.05,
            "{kind:?}: cosine {cos}, norm ratio {ratio}"
        );
    }
}

#[test]
fn sliced_score_matching_with_many_projections_tends_to_ism() {
    let m = small(Kind::Energy, Conditioning::None, Activation::Tanh, 9);
    let mut g = rng(10);
    let x = normal(8, 2, &mut g);
    let ism = with_tape(|t| {
        let p = m.net.lift(t);
        implicit::loss(&m, t, &p, &x).value()
    });
    let reps = 4000;
    let xt = objective::tile_rows(&x, reps);
    for (vr, tol) in [(true, 0.02), (false, 0.05)] {
        let v = Projection::Gaussian.draw(xt.rows(), 2, &mut g);
        let ssm = with_tape(|t| {
            let p = m.net.lift(t);
            sliced::loss(&m, t, &p, &xt, &v, vr).value()
        });
        assert!(
            (ssm - ism).abs() < tol * (1.0 + ism.abs()),
            "variance reduced {vr}: {ssm} vs ISM {ism}"
        );
    }
    // Rademacher projections: the same expectation
    let v = Projection::Rademacher.draw(xt.rows(), 2, &mut g);
    let ssm = with_tape(|t| {
        let p = m.net.lift(t);
        sliced::loss(&m, t, &p, &xt, &v, true).value()
    });
    assert!((ssm - ism).abs() < 0.02 * (1.0 + ism.abs()));
}

#[test]
fn geometric_ladder() {
    let s = objective::geometric_sigmas(10.0, 0.01, 4).unwrap();
    assert_eq!(s.len(), 4);
    assert!(
        (s[0] - 10.0).abs() < 1e-12
            && (s[3] - 0.01).abs() < 1e-12
            && (s[1] / s[0] - s[2] / s[1]).abs() < 1e-12
    );
}

#[test]
fn dsm_has_the_gradient_of_esm_against_the_noise_perturbed_score() {
    // Vincent (2011): E ½σ²‖s(x̃) + z/σ‖² = σ² · ESM(s, ∇log p_σ) + const. Data N(0, I) in 2-D, so
    // p_σ = N(0, (1 + σ²) I) and its score is −x̃/(1 + σ²).
    let (n, sigma) = (40_000, 0.5);
    let mut g = rng(11);
    let x = normal(n, 2, &mut g);
    let z = normal(n, 2, &mut g);
    let noisy = Tensor::from_fn(n, 2, |i, j| x.get(i, j) + sigma * z.get(i, j));
    let target = Tensor::from_fn(n, 2, |i, j| -noisy.get(i, j) / (1.0 + sigma * sigma));
    let sig = Tensor::full(n, 1, sigma);
    for kind in [Kind::Score, Kind::Energy] {
        let m = small(kind, Conditioning::None, Activation::Softplus, 12);
        let gd = flat_grad(&m, &|m, t, p| dsm::loss(m, t, p, &x, &z, &sig));
        let ge: Vec<f64> = flat_grad(&m, &|m, t, p| explicit::loss(m, t, p, &noisy, &target))
            .into_iter()
            .map(|v| v * sigma * sigma)
            .collect();
        let (cos, ratio) = cosine_and_ratio(&gd, &ge);
        assert!(
            cos > 0.99 && (ratio - 1.0).abs() < 0.05,
            "{kind:?}: cosine {cos}, norm ratio {ratio}"
        );
    }
}
