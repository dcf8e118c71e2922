//! Criterion benches for the scores crate: T2 analytic vs autodiff score, and a parallel batch of scores.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use stein::scores::{autodiff, score_batch, Score};
use stein::tasks::{gmm_point, t2_mixture};

fn t2_scores(c: &mut Criterion) {
    let mix = t2_mixture();
    let x = gmm_point();
    let mut s = vec![0.0; 10];
    let mut g = c.benchmark_group("T2-scores");
    g.bench_function("analytic", |b| {
        b.iter(|| mix.score_into(black_box(&x), &mut s))
    });
    let ad = autodiff(&mix);
    g.bench_function("autodiff", |b| {
        b.iter(|| ad.score_into(black_box(&x), &mut s))
    });
    let pts: Vec<f64> = (0..10_000 * 10)
        .map(|i| ((i * 7919) % 1000) as f64 / 125.0 - 4.0)
        .collect();
    g.sample_size(10);
    g.bench_function("score_batch-10k-autodiff", |b| {
        b.iter(|| score_batch(&ad, &pts).unwrap())
    });
    g.finish();
}

criterion_group!(benches, t2_scores);
criterion_main!(benches);
