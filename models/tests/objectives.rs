//! Every objective draws what its documentation says, in the order it says, from the step's random stream:
//! its gradient equals the gradient of its loss formula at inputs drawn here independently, in that order.
//! A planted change in a draw (another order, another law, a level always the first of the ladder) fails this.

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use stein_autodiff::{with_tape, TVar, Tape, Tensor, Var};
use stein_models::data::Toy;
use stein_models::diffusion::net::{Output, TimeModel};
use stein_models::diffusion::{time_span, Sde};
use stein_models::network::Network;
use stein_models::nn::{Activation, Conditioning, Kind, Model, Precision};
use stein_models::objective::diffusion::{DiffusionDsm, Weighting};
use stein_models::objective::{self, dsm, implicit, ncsn::Ncsn, sliced, Objective, Step};
use stein_models::objective::{Gradient, Projection};

fn normals(r: usize, c: usize, rng: &mut SmallRng) -> Tensor {
    Tensor::from_fn(r, c, |_, _| StandardNormal.sample(rng))
}

/// The gradient of `loss` over the whole batch on one tape, in the network's parameters.
fn reference(net: &Network, loss: impl for<'t> Fn(&'t Tape, &[TVar<'t>]) -> Var<'t>) -> Gradient {
    with_tape(|tape| {
        let p: Vec<TVar> = net.params().iter().map(|w| tape.tensor(w)).collect();
        let l = loss(tape, &p);
        Gradient {
            loss: l.value(),
            grads: tape.grad_tensors(l, &p),
        }
    })
}

fn same(a: &Gradient, b: &Gradient, name: &str) {
    assert!(
        (a.loss - b.loss).abs() <= 1e-12 * (1.0 + b.loss.abs()),
        "{name}: loss {} vs {}",
        a.loss,
        b.loss
    );
    for (g, h) in a.grads.iter().zip(&b.grads) {
        for (u, v) in g.data().iter().zip(h.data()) {
            assert!(
                (u - v).abs() <= 1e-10 * (1.0 + v.abs()),
                "{name}: {u} vs {v}"
            );
        }
    }
}

fn step_of(o: &mut dyn Objective, net: &mut Network, batch: &Tensor, seed: u64) -> Gradient {
    o.prepare(net, batch).unwrap();
    let mut rng = SmallRng::seed_from_u64(seed);
    o.gradient(Step {
        net,
        batch,
        rng: &mut rng,
        precision: Precision::F64,
        single: None,
    })
    .unwrap()
}

#[test]
fn the_field_objectives_draw_as_documented() {
    let mut rng = SmallRng::seed_from_u64(1);
    let x = Toy::TwoMoons.sample(96, &mut rng);
    let (b, d) = x.shape();
    let energy = Model::energy(2, &[12], Activation::Silu, &mut rng);
    let seed = 42;
    // dsm: z ~ N(0, I) row by row, σ fixed
    let mut net = Network::Model(energy.clone());
    let got = step_of(&mut dsm::Dsm::new(0.3).unwrap(), &mut net, &x, seed);
    let mut r = SmallRng::seed_from_u64(seed);
    let z = normals(b, d, &mut r);
    let s = Tensor::full(b, 1, 0.3);
    same(
        &got,
        &reference(&net, |t, p| dsm::loss(&energy, t, p, &x, &z, &s)),
        "dsm",
    );
    // ssm-vr with 3 projections: the batch tiled, then Gaussian projections
    let got = step_of(
        &mut sliced::Sliced::ssm_vr().projections(3).unwrap(),
        &mut net,
        &x,
        seed,
    );
    let mut r = SmallRng::seed_from_u64(seed);
    let xt = objective::tile_rows(&x, 3);
    let v = Projection::Gaussian.draw(xt.rows(), d, &mut r);
    same(
        &got,
        &reference(&net, |t, p| sliced::loss(&energy, t, p, &xt, &v, true)),
        "ssm-vr",
    );
    // ism-hutchinson with 2: Rademacher projections of the tiled batch
    let got = step_of(
        &mut implicit::Implicit::hutchinson(2).unwrap(),
        &mut net,
        &x,
        seed,
    );
    let mut r = SmallRng::seed_from_u64(seed);
    let xt = objective::tile_rows(&x, 2);
    let v = Projection::Rademacher.draw(xt.rows(), d, &mut r);
    same(
        &got,
        &reference(&net, |t, p| implicit::hutchinson(&energy, t, p, &xt, &v)),
        "ism-hutchinson",
    );
    // ncsn: z first, then each row's level uniformly from the ladder
    let cond = Model::build(
        Kind::Energy,
        Conditioning::InputAndScale,
        2,
        &[12],
        Activation::Silu,
        &mut rng,
    );
    let ladder = vec![1.0, 0.5, 0.2, 0.05];
    let mut net = Network::Model(cond);
    let got = step_of(&mut Ncsn::new(ladder.clone()).unwrap(), &mut net, &x, seed);
    let m = net.model("test").unwrap().clone();
    let mut r = SmallRng::seed_from_u64(seed);
    let z = normals(b, d, &mut r);
    let s = Tensor::from_fn(b, 1, |_, _| ladder[r.random_range(0..ladder.len())]);
    same(
        &got,
        &reference(&net, |t, p| dsm::loss(&m, t, p, &x, &z, &s)),
        "ncsn",
    );
}

#[test]
fn the_diffusion_objective_draws_as_documented() {
    let mut rng = SmallRng::seed_from_u64(2);
    let x = Toy::TwoMoons.sample(64, &mut rng);
    let (b, d) = x.shape();
    let sde = Sde::vp(0.1, 20.0).unwrap();
    let model = TimeModel::new(2, &[12], Output::Noise, sde, &mut rng).unwrap();
    let mut net = Network::Diffusion(model.clone());
    let seed = 7;
    for w in [Weighting::Simple, Weighting::Likelihood] {
        let got = step_of(&mut DiffusionDsm::new(w), &mut net, &x, seed);
        // t uniform on [ε, T] for every row, then z
        let mut r = SmallRng::seed_from_u64(seed);
        let (eps, big_t) = time_span(&model, &sde);
        let t: Vec<f64> = (0..b)
            .map(|_| eps + (big_t - eps) * r.random::<f64>())
            .collect();
        let z = normals(b, d, &mut r);
        let want = reference(&net, |tape, p| {
            objective::diffusion::loss(&model, tape, p, &x, &t, &z, w)
        });
        same(&got, &want, w.name());
    }
}

#[test]
fn flow_matching_regresses_the_velocity_of_each_pair_as_documented() {
    // on the straight path: ‖v_θ(x_t, t) − (z − x₀)‖², t uniform on [ε, T] then z, with the OT coupling z
    // reordered by the optimal assignment; v_θ read from the network's score, v = a x − ½ g² s
    use stein_models::objective::flow::{ot_pairing, Coupling, FlowMatching};
    let mut rng = SmallRng::seed_from_u64(3);
    let x = Toy::TwoMoons.sample(64, &mut rng);
    let (b, d) = x.shape();
    let sde = Sde::linear();
    let model = TimeModel::new(2, &[12], Output::Velocity, sde, &mut rng).unwrap();
    let mut net = Network::Diffusion(model.clone());
    let seed = 9;
    for coupling in [Coupling::Independent, Coupling::OptimalTransport] {
        let got = step_of(&mut FlowMatching::new(coupling), &mut net, &x, seed);
        let mut r = SmallRng::seed_from_u64(seed);
        let (eps, big_t) = time_span(&model, &sde);
        let t: Vec<f64> = (0..b)
            .map(|_| eps + (big_t - eps) * r.random::<f64>())
            .collect();
        let mut z = normals(b, d, &mut r);
        if coupling == Coupling::OptimalTransport {
            z = ot_pairing(&x, &z);
        }
        let xt = Tensor::from_fn(b, d, |i, j| (1.0 - t[i]) * x.get(i, j) + t[i] * z.get(i, j));
        let target = Tensor::from_fn(b, d, |i, j| z.get(i, j) - x.get(i, j));
        let want = reference(&net, |tape, p| {
            let s = model.score(tape, p, tape.tensor_const(&xt), &t);
            let col =
                |f: &dyn Fn(f64) -> f64| tape.tensor_const(&Tensor::from_fn(b, 1, |i, _| f(t[i])));
            let v = tape.tensor_const(&xt) * col(&|t| sde.drift(t))
                - s * col(&|t| 0.5 * sde.diffusion(t).powi(2));
            (v - tape.tensor_const(&target)).square().sum() / b as f64
        });
        same(&got, &want, coupling.name());
    }
}

/// Every score-matching objective's f32 path (the network's streams in f32, the loss's head on the tape) gives
/// the f64 gradient to f32 accuracy: score and energy networks, noise-conditional ones for the denoising
/// objectives, every projection form, with the same draws. A wrong stream, adjoint or σ column fails this.
#[test]
fn the_f32_paths_give_the_f64_gradients() {
    use stein_models::objective::{cd::Cd, explicit::Explicit, nce::Nce, Single};
    use stein_scores::MultivariateNormal;
    let mut rng = SmallRng::seed_from_u64(7);
    let x = Toy::TwoMoons.sample(300, &mut rng);
    let objectives = |kind: Kind, conditioned: bool| -> Vec<Box<dyn Objective>> {
        let mut all: Vec<Box<dyn Objective>> = vec![
            Box::new(dsm::Dsm::new(0.3).unwrap()),
            Box::new(Ncsn::new(vec![1.0, 0.3, 0.05]).unwrap()),
        ];
        if !conditioned {
            all.extend::<[Box<dyn Objective>; 6]>([
                Box::new(implicit::Implicit::exact()),
                Box::new(implicit::Implicit::hutchinson(2).unwrap()),
                Box::new(sliced::Sliced::ssm()),
                Box::new(sliced::Sliced::ssm_vr().projections(2).unwrap()),
                Box::new(Explicit::new(
                    MultivariateNormal::isotropic(vec![0.5, 0.0], 0.7).unwrap(),
                )),
                Box::new(sliced::Sliced::ssm().projections(3).unwrap()),
            ]);
        }
        if kind == Kind::Energy && !conditioned {
            all.push(Box::new(Nce::new()));
            all.push(Box::new(Cd::new(3, 1e-3, 0.1, 0.2, 300).unwrap()));
        }
        all
    };
    for kind in [Kind::Energy, Kind::Score] {
        for conditioning in [Conditioning::None, Conditioning::InputAndScale] {
            let m = Model::build(kind, conditioning, 2, &[32, 24], Activation::Silu, &mut rng);
            let conditioned = conditioning == Conditioning::InputAndScale;
            for mut o in objectives(kind, conditioned) {
                let mut net = Network::Model(m.clone());
                let name = format!("{} on a {kind:?} network, {conditioning:?}", o.name());
                o.prepare(&mut net, &x).unwrap();
                o.check(&net).unwrap();
                let run = |precision, single: Option<&Single>, o: &mut Box<dyn Objective>| {
                    o.gradient(Step {
                        net: &net,
                        batch: &x,
                        rng: &mut SmallRng::seed_from_u64(11),
                        precision,
                        single,
                    })
                    .unwrap()
                };
                // each from the same state (contrastive divergence moves its chains)
                let mut o32 = o.clone();
                let want = run(Precision::F64, None, &mut o);
                let single = Single::new(&net);
                let got = run(Precision::F32, Some(&single), &mut o32);
                assert!(
                    (got.loss - want.loss).abs() <= 1e-4 * (1.0 + want.loss.abs()),
                    "{name}: loss {} vs {}",
                    got.loss,
                    want.loss
                );
                for (l, (g, h)) in got.grads.iter().zip(&want.grads).enumerate() {
                    let scale = h.data().iter().fold(1e-3f64, |a, v| a.max(v.abs()));
                    for (u, v) in g.data().iter().zip(h.data()) {
                        assert!(
                            (u - v).abs() <= 2e-4 * scale,
                            "{name}, parameter {l}: {u} vs {v} (scale {scale})"
                        );
                    }
                }
            }
        }
    }
}
