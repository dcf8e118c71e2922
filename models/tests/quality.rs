//! The readouts cannot be fooled: the verdict never says "match" for samples the aggregated test tells
//! apart from the data (an inverted checkerboard, a Gaussian blob with a spiral's mean and covariance, the
//! same at a scale of 10⁻¹⁷⁰), for a KL above 0.25 nats, or from too few points; a mean decided by a few
//! points says so; the `outside` fraction of exact draws is about 0.01.

use rand::rngs::SmallRng;
use rand::SeedableRng;
use stein_autodiff::Tensor;
use stein_models::data::Toy;
use stein_models::quality::{kl_readout, sample_test, Outside, PointMean, Verdict, KL_MATCH};
use stein_scores::{MultivariateNormal, Sample};

fn draw(toy: Toy, n: usize, seed: u64) -> Tensor {
    toy.sample(n, &mut SmallRng::seed_from_u64(seed))
}

/// The checkerboard moved one square to the right (wrapping round): every point in an empty square.
fn inverted(x: &Tensor) -> Tensor {
    Tensor::from_fn(x.rows(), 2, |i, j| {
        let v = x.get(i, j);
        if j == 0 {
            if v < 2.0 {
                v + 2.0
            } else {
                v - 6.0
            }
        } else {
            v
        }
    })
}

fn scaled(x: &Tensor, s: f64) -> Tensor {
    Tensor::from_fn(x.rows(), x.cols(), |i, j| x.get(i, j) * s)
}

fn verdict_of(samples: &Tensor, reference: &Tensor) -> Verdict {
    let test = sample_test(samples, reference, 0).unwrap();
    Verdict::new(test.as_ref(), reference.rows(), None)
}

#[test]
fn an_inverted_checkerboard_and_a_blob_are_told_apart_at_any_scale() {
    let data = draw(Toy::Checkerboard, 1000, 1);
    let wrong = inverted(&draw(Toy::Checkerboard, 1000, 2));
    let density = Toy::Checkerboard.density();
    assert!(density
        .log_pdf_rows(&wrong)
        .iter()
        .all(|l| *l == f64::NEG_INFINITY));
    for s in [1.0, 1e-170, 1e150] {
        let v = verdict_of(&scaled(&wrong, s), &scaled(&data, s));
        assert!(
            !v.matched && v.words.starts_with("samples differ"),
            "scale {s}: {}",
            v.words
        );
    }
    let spiral = draw(Toy::Spirals, 1000, 3);
    let rows = spiral.to_rows();
    let mean: Vec<f64> = (0..2)
        .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / 1000.0)
        .collect();
    let cov: Vec<Vec<f64>> = (0..2)
        .map(|a| {
            (0..2)
                .map(|b| {
                    rows.iter()
                        .map(|r| (r[a] - mean[a]) * (r[b] - mean[b]))
                        .sum::<f64>()
                        / 999.0
                })
                .collect()
        })
        .collect();
    let blob = MultivariateNormal::new(mean, cov)
        .unwrap()
        .sample_n(&mut SmallRng::seed_from_u64(4), 1000);
    let blob = Tensor::new(1000, 2, blob.concat()).unwrap();
    let v = verdict_of(&blob, &spiral);
    assert!(
        !v.matched && v.words.starts_with("samples differ"),
        "{}",
        v.words
    );
}

#[test]
fn fresh_draws_match_and_two_points_give_no_verdict() {
    for (k, toy) in Toy::ALL.into_iter().enumerate() {
        let v = verdict_of(
            &draw(toy, 1000, 10 + k as u64),
            &draw(toy, 1000, 20 + k as u64),
        );
        assert!(v.matched, "{}: {}", toy.name(), v.words);
    }
    let two = draw(Toy::TwoMoons, 2, 5);
    let v = verdict_of(&draw(Toy::TwoMoons, 1000, 6), &two);
    assert!(
        !v.matched && v.words.starts_with("no verdict"),
        "{}",
        v.words
    );
    let v = verdict_of(&two, &draw(Toy::TwoMoons, 1000, 6));
    assert!(!v.matched, "{}", v.words);
}

#[test]
fn a_kl_above_a_quarter_nat_is_never_a_match() {
    let data = draw(Toy::TwoMoons, 1000, 7);
    let same = draw(Toy::TwoMoons, 1000, 8);
    let test = sample_test(&same, &data, 0).unwrap();
    // the samples pass the test, but the model's density is off by 0.3 nats on average
    let lp = Toy::TwoMoons.density().log_pdf_rows(&data);
    let lq: Vec<f64> = lp.iter().map(|l| l - (KL_MATCH + 0.05)).collect();
    let kl = kl_readout(&lp, &lq).unwrap();
    let v = Verdict::new(test.as_ref(), 1000, Some(&kl));
    assert!(
        !v.matched && v.words.contains("do not match"),
        "{}",
        v.words
    );
    // and a small KL decided by one point is no match either
    let mut lq: Vec<f64> = lp.iter().map(|l| l - 0.01).collect();
    lq[3] -= 1e6;
    let kl = kl_readout(&lp, &lq).unwrap();
    assert!(kl.dominated() && kl.trimmed_mean < 0.02);
    let v = Verdict::new(test.as_ref(), 1000, Some(&kl));
    assert!(
        !v.matched && v.words.contains("decided by a few"),
        "{}",
        v.words
    );
    let kl = kl_readout(&lp, &lp.iter().map(|l| l - 0.01).collect::<Vec<_>>()).unwrap();
    assert!(Verdict::new(test.as_ref(), 1000, Some(&kl)).matched);
}

#[test]
fn point_means_refuse_non_finite_values_and_say_when_a_few_points_decide() {
    assert!(PointMean::of("NLL", &[1.0, f64::NAN]).is_err());
    assert!(PointMean::of("NLL", &[1.0, f64::INFINITY]).is_err());
    assert!(PointMean::of("NLL", &[]).is_err());
    let spread: Vec<f64> = (0..1000).map(|i| (i % 17) as f64 * 0.1).collect();
    let m = PointMean::of("NLL", &spread).unwrap();
    assert!(!m.dominated(), "{m:?}");
    assert!(m.words("nats").contains('±'));
    let mut heavy = spread.clone();
    heavy[10] = 3.5e6;
    let m = PointMean::of("NLL", &heavy).unwrap();
    assert!(m.dominated() && m.extremes[0] == (10, 3.5e6));
    assert!(m.words("nats").contains("3.5000e6"), "{}", m.words("nats"));
}

#[test]
fn exact_draws_are_outside_about_one_percent_of_the_time() {
    for toy in Toy::ALL {
        let p = toy.density();
        let reference = p.log_pdf_rows(&draw(toy, 5000, 30));
        let samples = p.log_pdf_rows(&draw(toy, 5000, 31));
        let o = Outside::of(&reference, &samples).unwrap();
        if toy == Toy::Checkerboard {
            assert_eq!(o.fraction, 0.0);
            let off = p.log_pdf_rows(&inverted(&draw(toy, 1000, 32)));
            assert_eq!(Outside::of(&reference, &off).unwrap().fraction, 1.0);
        } else {
            assert!(
                (o.fraction - 0.01).abs() < 4.0 * 0.0014 + 0.002,
                "{}: {o:?}",
                toy.name()
            );
        }
    }
    assert!(Outside::of(&[0.0; 50], &[0.0]).is_err());
}
