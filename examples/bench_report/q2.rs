//! Q2: the command line's default recipes on the seven built-in sets, scored against each set's exact
//! density, in the protocol of `peers/toy2d_torch.py`: 20,000 training points (the command line's draw),
//! 1,000 fresh test points for KL = E[log p − log q] (log q by the probability-flow ODE for the diffusion
//! model, with log Z by AIS for the energy model), 5,000 samples for `outside` (the fraction below the 1st
//! percentile of the data's exact density over 5,000 fresh reference points) and MMD² (bandwidth 0.2,
//! V-statistic as the peer), and the wall times.

use super::emit;
use rand::SeedableRng;
use std::path::Path;
use std::time::Instant;
use stein::autodiff::Tensor;
use stein::models::data::Toy;
use stein::models::fit::{FitOptions, Trainer};
use stein::models::network::Network;
use stein::models::nn::Precision;
use stein::models::quality::{kl_readout, Outside};
use stein::models::recipe::{Recipe, SdeKind};
use stein::run::diffusion::{likelihood, sample_diffusion, ReverseKind};
use stein::run::quality::energy_log_likelihood;
use stein::run::{sample_model, uniform_init, SamplerKind};
use stein::scores::plot::{padded_range, scatter_panels, Bounds, Panel};
use stein::scores::{mmd_with, Statistic};

/// Points of a set's training draw: the command line's (`stein train --data <set>`).
pub(crate) const TRAIN_POINTS: usize = 20_000;

pub(crate) fn draw(toy: Toy, n: usize, seed: u64) -> Tensor {
    toy.sample(n, &mut rand::rngs::SmallRng::seed_from_u64(seed))
}

/// KL, its standard error, whether a few points decide it, outside and MMD² of one model's figures; returns
/// the KL (NaN when it cannot be read), for the picture's titles.
pub(crate) fn scores(
    toy: Toy,
    param: &str,
    model_name: &str,
    log_q: &[f64],
    test: &Tensor,
    samples: &Tensor,
    reference: &Tensor,
) -> f64 {
    let p = toy.density();
    let tag = |m: &str| format!("{model_name}_{m}");
    let kl = match kl_readout(&p.log_pdf_rows(test), log_q) {
        Ok(kl) => {
            emit("Q2", param, &tag("kl"), kl.mean, "nats");
            emit("Q2", param, &tag("kl_se"), kl.se, "nats");
            emit("Q2", param, &tag("kl_median"), kl.median, "nats");
            emit(
                "Q2",
                param,
                &tag("kl_dominated"),
                kl.dominated() as u8 as f64,
                "",
            );
            kl.mean
        }
        Err(e) => {
            eprintln!("Q2 {param} {model_name}: {e}");
            f64::NAN
        }
    };
    if let Ok(o) = Outside::of(&p.log_pdf_rows(reference), &p.log_pdf_rows(samples)) {
        emit("Q2", param, &tag("outside"), o.fraction, "");
    }
    let m = mmd_with(
        &samples.to_rows(),
        &reference.to_rows(),
        Some(0.2),
        Statistic::V,
    )
    .unwrap_or(f64::NAN);
    emit("Q2", param, &tag("mmd2"), m, "");
    kl
}

/// `recipe` trained on `data` (200 steps when `quick`), its wall time emitted as `<kind>_train_s`.
pub(crate) fn train(
    recipe: &Recipe,
    data: &Tensor,
    quick: bool,
    param: &str,
    kind: &str,
) -> (Trainer, usize) {
    let steps = if quick { 200 } else { recipe.steps };
    let mut trainer = recipe.build(data, 0).expect("the recipe builds");
    let t0 = Instant::now();
    trainer
        .fit(data, &FitOptions::steps(steps))
        .expect("training runs");
    emit(
        "Q2",
        param,
        &format!("{kind}_train_s"),
        t0.elapsed().as_secs_f64(),
        "s",
    );
    (trainer, steps)
}

/// Points of each panel of the picture.
const PICTURE_POINTS: usize = 2000;

/// Q2 for every set (`quick`: 200 steps and small draws, a smoke run); with `picture`, the seven sets' data,
/// diffusion samples and energy-model samples side by side in one PNG there.
pub(crate) fn q2(quick: bool, picture: Option<&Path>) {
    let (n_test, n_samples) = if quick { (100, 300) } else { (1000, 5000) };
    let mut panels: Vec<(String, Vec<Vec<f64>>, Bounds)> = Vec::new();
    for (k, toy) in Toy::ALL.into_iter().enumerate() {
        let param = format!("\"{}\"", toy.name());
        let data = draw(toy, TRAIN_POINTS, 0);
        let test = draw(toy, n_test, 100 + k as u64);
        let reference = draw(toy, n_samples, 200 + k as u64);

        // the diffusion recipe at its default budget
        let (trainer, steps) = train(
            &Recipe::diffusion(SdeKind::Vp),
            &data,
            quick,
            &param,
            "diffusion",
        );
        emit("Q2", &param, "diffusion_steps", steps as f64, "");
        let model = trainer.averaged();
        let Network::Diffusion(model) = &model else {
            unreachable!("a diffusion recipe")
        };
        let t0 = Instant::now();
        let ll = likelihood(model, &test, 0, Precision::F32).expect("the likelihood runs");
        emit(
            "Q2",
            &param,
            "diffusion_nll_s",
            t0.elapsed().as_secs_f64(),
            "s",
        );
        emit(
            "Q2",
            &param,
            "diffusion_nll_evaluations",
            ll.stats.evaluations as f64,
            "",
        );
        let t0 = Instant::now();
        let (samples, _) = sample_diffusion(
            model,
            &ReverseKind::Sde.method(),
            n_samples,
            1,
            0,
            Precision::F32,
        )
        .expect("sampling runs");
        emit(
            "Q2",
            &param,
            "diffusion_sample_s",
            t0.elapsed().as_secs_f64(),
            "s",
        );
        let kl = scores(
            toy,
            &param,
            "diffusion",
            &ll.nats,
            &test,
            &samples,
            &reference,
        );
        let shown = |x: &Tensor| {
            x.to_rows()
                .into_iter()
                .take(PICTURE_POINTS)
                .collect::<Vec<_>>()
        };
        let range = |j: usize| {
            padded_range((0..reference.rows()).map(|i| reference.get(i, j))).expect("finite data")
        };
        let view = Bounds {
            x: range(0),
            y: range(1),
        };
        panels.push((format!("{} data", toy.name()), shown(&reference), view));
        panels.push((format!("diffusion, KL {kl:.3}"), shown(&samples), view));

        // the energy recipe (the main job's) at its default budget
        let (trainer, _) = train(&Recipe::ebm(), &data, quick, &param, "energy");
        let model = trainer.averaged();
        let Network::Model(model) = &model else {
            unreachable!("an energy recipe")
        };
        // chains start uniformly over the data's range in model coordinates, as the command line's
        let mut z = data.clone();
        let st = model.standardization.as_ref().expect("standardised");
        st.to_model(&mut z);
        let frame: Vec<(f64, f64)> = (0..2)
            .map(|j| padded_range((0..z.rows()).map(|i| z.get(i, j))).expect("finite"))
            .collect();
        let mut init = uniform_init(&frame, n_samples, 0x5EED);
        st.to_data(&mut init);
        let (samples, _) =
            sample_model(model, SamplerKind::default_for(model), &init, 0).expect("sampling runs");
        let t0 = Instant::now();
        match energy_log_likelihood(model, &test, &samples, 0) {
            Ok((lq, z)) => {
                emit(
                    "Q2",
                    &param,
                    "energy_ais_s",
                    t0.elapsed().as_secs_f64(),
                    "s",
                );
                emit("Q2", &param, "energy_log_z_se", z.se, "");
                emit("Q2", &param, "energy_log_z_ess", z.ess, "");
                let kl = scores(toy, &param, "energy", &lq, &test, &samples, &reference);
                panels.push((format!("energy model, KL {kl:.3}"), shown(&samples), view));
            }
            Err(e) => {
                eprintln!("Q2 {param} energy: {e}");
                panels.push(("energy model: no log Z".into(), shown(&samples), view));
            }
        }
    }
    if let Some(path) = picture {
        let panels: Vec<Panel> = panels
            .iter()
            .map(|(title, points, bounds)| Panel {
                title,
                points,
                bounds: *bounds,
            })
            .collect();
        let rows = panels.len().div_ceil(3) as u32;
        scatter_panels(
            path,
            "Q2: data | diffusion recipe | energy recipe (KL to the exact density, nats)",
            &panels,
            3,
            (900, 40 + 280 * rows),
        )
        .expect("the picture is written");
    }
}
