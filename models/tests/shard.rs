//! Sharded gradients: the same loss and gradient as one tape over the whole batch (to rounding), the same bits
//! on any number of threads.

use rand::rngs::SmallRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use stein_autodiff::{with_tape, Tensor};
use stein_models::nn::{Activation, Model};
use stein_models::objective::{dsm, implicit, sliced};
use stein_models::shard::{rows_of, shard_rows, sharded, SHARD_ROWS};

fn setup(rows: usize) -> (Model, Tensor, Tensor, Tensor) {
    let mut rng = SmallRng::seed_from_u64(3);
    let model = Model::energy(2, &[32, 32], Activation::Softplus, &mut rng);
    let x = Tensor::from_fn(rows, 2, |_, _| StandardNormal.sample(&mut rng));
    let z = Tensor::from_fn(rows, 2, |_, _| StandardNormal.sample(&mut rng));
    let sigma = Tensor::full(rows, 1, 0.3);
    (model, x, z, sigma)
}

/// DSM, ISM and SSM losses over 3.5 shards (a short last shard: equal weights would be wrong): sharded and
/// whole-batch values and gradients agree to 1e-12.
#[test]
fn shards_give_the_whole_batch_gradient() {
    let rows = 3 * SHARD_ROWS + SHARD_ROWS / 2;
    let (model, x, z, sigma) = setup(rows);
    for which in ["dsm", "ism", "ssm"] {
        let eval = |x: &Tensor, z: &Tensor, s: &Tensor| {
            with_tape(|tape| {
                let p = model.net.lift(tape);
                let l = match which {
                    "dsm" => dsm::loss(&model, tape, &p, x, z, s),
                    "ism" => implicit::loss(&model, tape, &p, x),
                    _ => sliced::loss(&model, tape, &p, x, z, false),
                };
                (l.value(), tape.grad_tensors(l, &p))
            })
        };
        let (whole, gw) = eval(&x, &z, &sigma);
        let (parts, gs) = sharded(rows, |lo, hi| {
            eval(
                &rows_of(&x, lo, hi),
                &rows_of(&z, lo, hi),
                &rows_of(&sigma, lo, hi),
            )
        });
        assert!(
            (whole - parts).abs() <= 1e-12 * whole.abs().max(1.0),
            "{which}: {whole} vs {parts}"
        );
        for (a, b) in gw.iter().zip(&gs) {
            for (u, v) in a.data().iter().zip(b.data()) {
                assert!(
                    (u - v).abs() <= 1e-12 * u.abs().max(1.0),
                    "{which}: {u} vs {v}"
                );
            }
        }
    }
}

#[test]
fn shard_sizes_cover_the_batch_in_equal_parts() {
    for rows in [1usize, 63, 64, 100, 128, 129, 512, 1000] {
        let s = shard_rows(rows);
        assert!((1..=SHARD_ROWS).contains(&s), "{rows}: {s}");
        let shards = rows.div_ceil(s);
        assert!(rows < 64 || shards >= 2, "{rows}: one shard");
        // equal parts: the last shard is short by less than one row per shard
        assert!(shards * s - rows < shards, "{rows}: {shards} × {s}");
    }
}

#[test]
fn shards_give_the_same_bits_on_one_or_two_threads() {
    let rows = 4 * SHARD_ROWS + 7;
    let (model, x, z, sigma) = setup(rows);
    let run = || {
        sharded(rows, |lo, hi| {
            let (x, z, s) = (
                rows_of(&x, lo, hi),
                rows_of(&z, lo, hi),
                rows_of(&sigma, lo, hi),
            );
            with_tape(|tape| {
                let p = model.net.lift(tape);
                let l = dsm::loss(&model, tape, &p, &x, &z, &s);
                (l.value(), tape.grad_tensors(l, &p))
            })
        })
    };
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    };
    let (l1, g1) = pool(1).install(run);
    let (l2, g2) = pool(2).install(run);
    assert_eq!(l1.to_bits(), l2.to_bits());
    assert_eq!(g1, g2);
}
