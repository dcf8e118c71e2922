//! Q2 for flows (`--task Q2-flows`, not in the default run: it trains 21 models, ~15 minutes): on each
//! built-in set, the diffusion recipe, the flow recipe (conditional flow matching, independent coupling) and
//! the flow recipe with the OT coupling, each 20,000 steps from the same data: KL to the exact density (by
//! the probability-flow ODE's likelihood), `outside` and MMD² of adaptive-ODE samples, the training time, the
//! straightness of the ODE's paths (mean path length over the distance between its ends, 1 for straight
//! lines; Heun, 50 steps) and `outside` with 5 and 10 evaluations (DDIM η = 0 and DPM-Solver++). Emits JSON
//! lines and prints one table per set to standard error.

use super::emit;
use super::q2::{draw, scores, train, TRAIN_POINTS};
use stein::autodiff::Tensor;
use stein::models::data::Toy;
use stein::models::diffusion::net::TimeModel;
use stein::models::diffusion::ode::{Fixed, Tolerance};
use stein::models::diffusion::reverse::Method;
use stein::models::network::Network;
use stein::models::nn::Precision;
use stein::models::quality::Outside;
use stein::models::recipe::{Recipe, SdeKind};
use stein::run::diffusion::{likelihood, sample_diffusion};

/// Mean over particles of the ODE path's length over the distance between its ends, in model coordinates.
fn straightness(model: &TimeModel, n: usize) -> f64 {
    use rand::SeedableRng;
    use stein::models::diffusion::reverse::{sample_with, Start};
    let d = model.dim;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
    let start = Tensor::new(n, d, model.sde.prior_sample(&mut rng, n, d).concat()).expect("n × d");
    let method = Method::ProbabilityFlow {
        steps: 50,
        solver: Fixed::Heun,
    };
    let mut length = vec![0.0; n];
    let mut last = start.clone();
    let observed = sample_with(
        model,
        &model.sde,
        &method,
        Start::Points(start.clone()),
        0,
        &mut |_, _, x| {
            for (i, l) in length.iter_mut().enumerate() {
                *l += (0..d)
                    .map(|j| (x.get(i, j) - last.get(i, j)).powi(2))
                    .sum::<f64>()
                    .sqrt();
            }
            last = x.clone();
        },
    );
    let Ok((end, _)) = observed else {
        return f64::NAN;
    };
    (0..n)
        .map(|i| {
            let span = (0..d)
                .map(|j| (end.get(i, j) - start.get(i, j)).powi(2))
                .sum::<f64>()
                .sqrt();
            length[i] / span.max(1e-12)
        })
        .sum::<f64>()
        / n as f64
}

pub(crate) fn q2_flows(quick: bool) {
    let (n_test, n_samples) = if quick { (100, 300) } else { (1000, 5000) };
    for (k, toy) in Toy::ALL.into_iter().enumerate() {
        let param = format!("\"{}\"", toy.name());
        let data = draw(toy, TRAIN_POINTS, 0);
        let test = draw(toy, n_test, 100 + k as u64);
        let reference = draw(toy, n_samples, 200 + k as u64);
        let p = toy.density();
        let p_ref = p.log_pdf_rows(&reference);
        eprintln!(
            "\n{}\n| model | train s | KL (nats) | outside, ODE | straightness | outside, 5 / 10 evaluations: DDIM | DPM-Solver++ |\n|---|---|---|---|---|---|---|",
            toy.name()
        );
        for (name, recipe) in [
            ("diffusion", Recipe::diffusion(SdeKind::Vp)),
            ("flow", Recipe::flow()),
            ("flow_ot", Recipe::flow().objective("flow-matching-ot")),
        ] {
            let t0 = std::time::Instant::now();
            let (trainer, _) = train(&recipe, &data, quick, &param, name);
            let secs = t0.elapsed().as_secs_f64();
            let model = trainer.averaged();
            let Network::Diffusion(model) = &model else {
                unreachable!("a diffusion network")
            };
            let ll = likelihood(model, &test, 0, Precision::F32).expect("the likelihood runs");
            let ode = Method::ProbabilityFlowAdaptive(Tolerance::default());
            let (samples, _) = sample_diffusion(model, &ode, n_samples, 1, 0, Precision::F32)
                .expect("sampling runs");
            let kl = scores(toy, &param, name, &ll.nats, &test, &samples, &reference);
            let outside = |x: &Tensor| {
                Outside::of(&p_ref, &p.log_pdf_rows(x)).map_or(f64::NAN, |o| o.fraction)
            };
            let straight = straightness(model, 500);
            emit(
                "Q2-flows",
                &param,
                &format!("{name}_straightness"),
                straight,
                "",
            );
            let mut few = Vec::new();
            for (solver, make) in [
                (
                    "ddim",
                    (|e| Method::Ddim { steps: e, eta: 0.0 }) as fn(usize) -> Method,
                ),
                ("dpmpp", |e| Method::DpmSolverPp { steps: e }),
            ] {
                let cells: Vec<String> = [5, 10]
                    .iter()
                    .map(|&e| {
                        let o = sample_diffusion(model, &make(e), n_samples, 1, 0, Precision::F32)
                            .map_or(f64::NAN, |(x, _)| outside(&x));
                        emit(
                            "Q2-flows",
                            &param,
                            &format!("{name}_{solver}_{e}_outside"),
                            o,
                            "",
                        );
                        format!("{o:.3}")
                    })
                    .collect();
                few.push(cells.join(" / "));
            }
            eprintln!(
                "| {name} | {secs:.1} | {kl:.3} | {:.3} | {straight:.3} | {} | {} |",
                outside(&samples),
                few[0],
                few[1]
            );
        }
    }
}
