//! Goodness-of-fit tests on the draws of a Markov chain: a correlated MALA chain on its exact target passes
//! the KSD test with the Markov-chain wild bootstrap, where the independent-sign bootstrap falsely rejects.

use rand::SeedableRng;
use stein_models::sample::adapt::WarmupOptions;
use stein_models::sample::{mala, sample, Config, Exact, Init};
use stein_scores::gof::{autocorrelation_time, Bootstrap, KsdTest};
use stein_scores::{MultivariateNormal, Sample};

#[test]
fn a_correlated_chain_passes_the_markov_bootstrap_and_fails_the_independent_one() {
    let target =
        MultivariateNormal::new(vec![0.0, 1.0], vec![vec![1.0, 0.5], vec![0.5, 1.0]]).unwrap();
    let (mut iid_rejects, mut markov_rejects, mut taus) = (0, 0, Vec::new());
    let runs = 20;
    for k in 0..runs {
        // a small fixed step: exact invariance, strong autocorrelation; the chain starts at an exact draw
        let start = target.sample_n(&mut rand::rngs::SmallRng::seed_from_u64(k), 1);
        let mut cfg = Config::new(mala::Params::new(0.15))
            .chains(1)
            .warmup(0)
            .draws(1000)
            .seed(k)
            .init(Init::Points(start));
        cfg.adapt = WarmupOptions::none();
        let draws = sample(&Exact(&target), &cfg)
            .unwrap()
            .chains
            .remove(0)
            .draws;
        taus.push(autocorrelation_time(&draws).unwrap());
        let iid = KsdTest::default()
            .replicates(300)
            .seed(k)
            .run(&target, &draws)
            .unwrap();
        let markov = KsdTest::default()
            .replicates(300)
            .seed(k)
            .bootstrap(Bootstrap::for_chain(&draws).unwrap())
            .run(&target, &draws)
            .unwrap();
        iid_rejects += usize::from(iid.rejects(0.05));
        markov_rejects += usize::from(markov.rejects(0.05));
    }
    let mean_tau = taus.iter().sum::<f64>() / taus.len() as f64;
    println!("τ ≈ {mean_tau:.1}; rejections at 0.05 of {runs} exact chains: independent signs {iid_rejects}, Markov signs {markov_rejects}");
    assert!(
        mean_tau > 5.0,
        "the chain should be strongly correlated (τ = {mean_tau:.1})"
    );
    assert!(
        iid_rejects >= runs as usize / 2,
        "independent bootstrap rejected only {iid_rejects} of {runs}"
    );
    assert!(
        markov_rejects <= 3,
        "Markov bootstrap rejected {markov_rejects} of {runs} exact chains"
    );
}
