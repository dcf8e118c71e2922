//! The README's "Test your sampler" example, as it is written there.

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
