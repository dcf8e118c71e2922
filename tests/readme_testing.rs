//! The README's examples, as they are written there.

#[test]
fn readme_test_your_sampler() {
    use rand::SeedableRng;
    use stein::models::sample::{mala, sample, Config, Exact};
    use stein::scores::gof::{Bootstrap, KsdTest};
    use stein::scores::testing::{assert_samples_from, assert_samples_from_with};
    use stein::scores::{MultivariateNormal, Sample};

    let target = MultivariateNormal::isotropic(vec![1.0, -1.0], 0.5).unwrap();
    // independent draws: the default KSD test (IMQ kernel, wild bootstrap with independent signs)
    let exact = target.sample_n(&mut rand::rngs::SmallRng::seed_from_u64(0), 500);
    assert_samples_from(&target, &exact, 0.01);
    // a Markov chain's draws, in order: the bootstrap's signs follow the chain's autocorrelation
    let run = sample(
        &Exact(&target),
        &Config::new(mala::Params::new(0.5)).chains(1).seed(3),
    )
    .unwrap();
    let draws = &run.chains[0].draws;
    let test = KsdTest::default().bootstrap(Bootstrap::for_chain(draws).unwrap());
    assert_samples_from_with(&test, &target, draws, 0.01);
}

#[test]
fn readme_the_command_lines_run_from_the_library() {
    use rand::{rngs::SmallRng, SeedableRng};
    use stein::models::{data::Toy, fit::FitOptions, recipe::Recipe};

    let data = Toy::TwoMoons.sample(4000, &mut SmallRng::seed_from_u64(0)); // stein train's data at seed 0
    let recipe = Recipe::ebm().steps(50); // the README runs the recipe's 4,000 steps
    let mut trainer = recipe.build(&data, 0).unwrap(); // standardisation, σ ladder, network, objective, settings
    let report = trainer
        .fit(&data, &FitOptions::steps(recipe.steps))
        .unwrap(); // `stein train`'s run, bit for bit
    println!("final loss {:?}", report.final_loss(10));
    assert!(report.final_loss(10).unwrap().is_finite());
}
