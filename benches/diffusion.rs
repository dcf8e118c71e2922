//! Criterion benches for the building blocks of T11 (BENCHMARKS.md): one sampler evaluation of the
//! time-conditional network over 5,000 points, and one 512-row loss gradient, each in f64 on the tape and in
//! f32 (`TimeModel32`). The `bench_report` example times the whole task beside the PyTorch peer.

use criterion::{criterion_group, criterion_main, Criterion};
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use std::hint::black_box;
use stein::autodiff::{with_tape, Tensor};
use stein::models::diffusion::net::{Output, TimeModel};
use stein::models::diffusion::single::TimeModel32;
use stein::models::diffusion::{Sde, TimeScore};
use stein::models::objective::diffusion::{loss as denoising_loss, Weighting};

/// T11's network: [x, Fourier(t)] → 128 → 128 → 2, SiLU, 16 frequencies ~ N(0, 16²).
fn model() -> TimeModel {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
    let sde = Sde::vp(0.1, 20.0).expect("valid");
    let mut m = TimeModel::new(2, &[128, 128], Output::Noise, sde, &mut rng).unwrap();
    m.frequencies = (0..16)
        .map(|_| 16.0 * rng.sample::<f64, _>(StandardNormal))
        .collect();
    m
}

fn t11(c: &mut Criterion) {
    let m = model();
    let single = TimeModel32::new(&m);
    let mut g = c.benchmark_group("T11-diffusion");
    let x = Tensor::from_fn(5000, 2, |i, j| 2.0 * ((i * 2 + j) as f64 * 0.37).sin());
    let mut out = Tensor::zeros(0, 0);
    g.bench_function("score-5000-f64", |b| {
        b.iter(|| m.score_at(black_box(&x), 0.5, &mut out))
    });
    g.bench_function("score-5000-f32", |b| {
        b.iter(|| single.score_at(black_box(&x), 0.5, &mut out))
    });
    let x0 = Tensor::from_fn(512, 2, |i, j| 2.0 * ((i + 7 * j) as f64).cos());
    let z = Tensor::from_fn(512, 2, |i, j| ((3 * i + j) as f64 * 0.9).sin());
    let t: Vec<f64> = (0..512)
        .map(|i| 1e-3 + 0.999 * (i as f64 / 512.0))
        .collect();
    g.bench_function("loss-grad-512-f64", |b| {
        b.iter(|| {
            with_tape(|tape| {
                let p = m.net.lift(tape);
                let l = denoising_loss(&m, tape, &p, &x0, &t, &z, Weighting::Simple);
                (l.value(), tape.grad_tensors(l, &p))
            })
        })
    });
    g.bench_function("loss-grad-512-f32", |b| {
        b.iter(|| single.denoising_loss_grad(&x0, &t, &z, Weighting::Simple))
    });
    g.finish();
}

criterion_group!(benches, t11);
criterion_main!(benches);
