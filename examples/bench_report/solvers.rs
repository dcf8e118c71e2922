//! Q2's solver curve (`--task Q2-solvers`, not in the default run: it trains the seven models): each set's
//! diffusion model (the recipe at its default budget) sampled by every deterministic solver at 5 to 100
//! network evaluations, all from the same prior draws, scored by `outside` (against the set's exact density)
//! and MMD² (bandwidth 0.2) against fresh data, beside the adaptive probability-flow ODE. Emits JSON lines
//! (metric `<solver>_<evaluations>_outside` / `_mmd2`) and prints a table per set to standard error.

use super::emit;
use super::q2::{draw, train, TRAIN_POINTS};
use stein::autodiff::Tensor;
use stein::models::data::Toy;
use stein::models::diffusion::ode::{Fixed, Tolerance};
use stein::models::diffusion::reverse::Method;
use stein::models::network::Network;
use stein::models::nn::Precision;
use stein::models::quality::Outside;
use stein::models::recipe::{Recipe, SdeKind};
use stein::run::diffusion::sample_diffusion;
use stein::scores::{mmd_with, Statistic};

/// A solver and the method that spends about `evaluations` network evaluations.
type Budgeted = (&'static str, fn(usize) -> Method);

const SOLVERS: [Budgeted; 5] = [
    ("ddim", |e| Method::Ddim { steps: e, eta: 0.0 }),
    ("ode-heun", |e| Method::ProbabilityFlow {
        steps: (e / 2).max(1),
        solver: Fixed::Heun,
    }),
    ("edm-heun", |e| Method::EdmHeun {
        steps: e.div_ceil(2),
    }),
    ("dpmpp", |e| Method::DpmSolverPp { steps: e }),
    ("unipc", |e| Method::UniPc { steps: e }),
];

const EVALUATIONS: [usize; 5] = [5, 10, 20, 50, 100];

/// Q2's solver curve; with `picture`, a line chart there of each solver's `outside` against its network
/// evaluations, averaged over the seven sets, beside the adaptive ODE's average.
pub(crate) fn q2_solvers(quick: bool, picture: Option<&std::path::Path>) {
    let n_samples = if quick { 300 } else { 5000 };
    // per solver, per evaluation count: the sum over sets of `outside`; and the ODE's sum
    let mut curves = vec![vec![0.0; EVALUATIONS.len()]; SOLVERS.len()];
    let mut ode_sum = 0.0;
    for (k, toy) in Toy::ALL.into_iter().enumerate() {
        let param = format!("\"{}\"", toy.name());
        let data = draw(toy, TRAIN_POINTS, 0);
        let reference = draw(toy, n_samples, 200 + k as u64);
        let (trainer, _) = train(
            &Recipe::diffusion(SdeKind::Vp),
            &data,
            quick,
            &param,
            "diffusion",
        );
        let model = trainer.averaged();
        let Network::Diffusion(model) = &model else {
            unreachable!("a diffusion recipe")
        };
        let p = toy.density();
        let p_ref = p.log_pdf_rows(&reference);
        let score = |x: &Tensor| -> (f64, f64) {
            let outside = Outside::of(&p_ref, &p.log_pdf_rows(x)).map_or(f64::NAN, |o| o.fraction);
            let m = mmd_with(&x.to_rows(), &reference.to_rows(), Some(0.2), Statistic::V)
                .unwrap_or(f64::NAN);
            (outside, m)
        };
        let run = |method: &Method| {
            sample_diffusion(model, method, n_samples, 1, 0, Precision::F32)
                .map(|(x, _)| score(&x))
                .unwrap_or((f64::NAN, f64::NAN))
        };
        let (ode_out, ode_mmd) = run(&Method::ProbabilityFlowAdaptive(Tolerance::default()));
        emit("Q2-solvers", &param, "ode_outside", ode_out, "");
        ode_sum += ode_out;
        emit("Q2-solvers", &param, "ode_mmd2", ode_mmd, "");
        eprintln!(
            "\n{}: adaptive ODE outside {ode_out:.3}, MMD² {ode_mmd:.4}\n| solver | {} |\n|---|{}",
            toy.name(),
            EVALUATIONS.map(|e| format!("{e} evaluations")).join(" | "),
            "---|".repeat(EVALUATIONS.len())
        );
        for (k, (name, make)) in SOLVERS.into_iter().enumerate() {
            let cells: Vec<String> = EVALUATIONS
                .iter()
                .enumerate()
                .map(|(j, &e)| {
                    let (o, m) = run(&make(e));
                    curves[k][j] += o;
                    emit("Q2-solvers", &param, &format!("{name}_{e}_outside"), o, "");
                    emit("Q2-solvers", &param, &format!("{name}_{e}_mmd2"), m, "");
                    format!("{o:.3} / {m:.4}")
                })
                .collect();
            eprintln!("| {name} (outside / MMD²) | {} |", cells.join(" | "));
        }
    }
    if let Some(path) = picture {
        let sets = Toy::ALL.len() as f64;
        let points: Vec<Vec<(f64, f64)>> = curves
            .iter()
            .map(|c| {
                EVALUATIONS
                    .iter()
                    .zip(c)
                    .map(|(&e, o)| (e as f64, o / sets))
                    .collect()
            })
            .collect();
        let ode: Vec<(f64, f64)> = [5.0, 100.0].map(|e| (e, ode_sum / sets)).to_vec();
        let mut series: Vec<(&str, &[(f64, f64)])> = SOLVERS
            .iter()
            .zip(&points)
            .map(|((name, _), p)| (*name, p.as_slice()))
            .collect();
        series.push(("adaptive ODE", &ode));
        stein::scores::plot::line_chart(
            path,
            "Q2: samples outside the data's density, mean of the seven sets",
            ("network evaluations", "outside (ideal 0.01)"),
            &series,
            (900, 560),
        )
        .expect("the picture is written");
    }
}
