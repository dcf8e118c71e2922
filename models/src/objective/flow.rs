//! Conditional flow matching (Lipman et al. 2023; Liu et al. 2023; Tong et al. 2024): t ~ U(ε, T),
//! x_t = α(t) x₀ + σ(t) z, and the network's velocity regressed on the pair's, ‖v_θ(x_t, t) − (α′ x₀ + σ′ z)‖²
//! — on the straight path ([`Sde::Linear`](crate::diffusion::Sde::Linear)) the target is z − x₀. It is the
//! denoising loss with the weighting λ = g⁴/4 ([`Weighting::Flow`]: v − v_θ = −½ g² (s − s_θ)), so it shares
//! that loss's tape and f32 passes, and the trained model samples and scores through the same ODE solvers and
//! likelihood as a diffusion model.
//!
//! The coupling pairs the minibatch's data rows with its noise rows: independently (I-CFM), or by the exact
//! optimal-transport assignment minimising Σ‖x₀ᵢ − z_π(i)‖² within blocks of rows (OT-CFM, an assignment by
//! the `lsap` crate's Jonker–Volgenant solver), whose straighter paths need fewer solver steps. A model
//! trained with the OT coupling has the velocity of its own path, not of the Gaussian perturbation of the
//! data, so only the deterministic samplers apply to it: the OT coupling trains on the straight path only,
//! whose stochastic samplers are refused.
//!
//! ```
//! use rand::SeedableRng;
//! use stein_models::objective::flow::{Coupling, FlowMatching};
//! use stein_models::recipe::Recipe;
//! use stein_models::fit::FitOptions;
//! let data = stein_models::data::Toy::TwoMoons.sample(512, &mut rand::rngs::SmallRng::seed_from_u64(0));
//! let mut trainer = Recipe::flow().steps(20).build(&data, 0).unwrap();
//! trainer.fit(&data, &FitOptions::steps(20)).unwrap();
//! assert_eq!(FlowMatching::new(Coupling::Independent).coupling(), Coupling::Independent);
//! ```

use super::diffusion::{weighted_gradient, Weighting};
use super::{Gradient, Objective, Record, Registration, Step};
use crate::error::ModelError;
use crate::network::Network;
use rand::RngExt;
use stein_autodiff::Tensor;

/// How a minibatch's data rows are paired with its noise rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coupling {
    /// Row i with noise row i (I-CFM; rectified flow's first stage).
    Independent,
    /// The assignment minimising the summed squared distances, within blocks of [`OT_BLOCK`] rows (OT-CFM).
    OptimalTransport,
}

/// Rows per exact assignment of the OT coupling. The Jonker–Volgenant solver's cost grows as about n³ (one
/// run on this 2-core machine, 2-D points: 0.11 / 0.56 / 3.0 / 20 / 154 ms per block of 32 / 64 / 128 / 256 /
/// 512), so a minibatch of 512 is assigned as eight blocks of 64, in parallel: about 2–4 ms a step, against
/// ~1.5 ms for the f32 step itself.
pub const OT_BLOCK: usize = 64;

impl Coupling {
    /// `independent` or `ot`.
    pub fn name(self) -> &'static str {
        match self {
            Coupling::Independent => "independent",
            Coupling::OptimalTransport => "ot",
        }
    }

    /// The coupling named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [Coupling::Independent, Coupling::OptimalTransport]
            .into_iter()
            .find(|c| c.name() == name)
    }
}

/// Conditional flow matching with a coupling.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowMatching {
    coupling: Coupling,
}

impl FlowMatching {
    /// With this coupling.
    pub fn new(coupling: Coupling) -> Self {
        FlowMatching { coupling }
    }

    /// The coupling.
    pub fn coupling(&self) -> Coupling {
        self.coupling
    }
}

/// `flow-matching`.
pub const REGISTRATION: Registration = Registration {
    name: "flow-matching",
    help: "conditional flow matching, independent coupling (flow models: diffusion networks on any path)",
    trains: super::DIFFUSION,
    fresh: |_| Ok(Box::new(FlowMatching::new(Coupling::Independent))),
    from_record: |r| {
        Ok(Box::new(FlowMatching::new(
            r.get_choice("coupling", Coupling::parse)?,
        )))
    },
};

/// `flow-matching-ot`.
pub const REGISTRATION_OT: Registration = Registration {
    name: "flow-matching-ot",
    help: "conditional flow matching with minibatch optimal-transport coupling (OT-CFM)",
    trains: super::DIFFUSION,
    fresh: |_| Ok(Box::new(FlowMatching::new(Coupling::OptimalTransport))),
    from_record: REGISTRATION.from_record,
};

/// The noise rows reordered so that row i of the result pairs with data row i by the optimal assignment
/// within each block of [`OT_BLOCK`] rows.
pub fn ot_pairing(x0: &Tensor, z: &Tensor) -> Tensor {
    use rayon::prelude::*;
    let (b, d) = x0.shape();
    let mut out = z.clone();
    out.data_mut()
        .par_chunks_mut(OT_BLOCK * d.max(1))
        .enumerate()
        .for_each(|(k, block)| {
            let lo = k * OT_BLOCK;
            let n = (b - lo).min(OT_BLOCK);
            let cost: Vec<f64> = (0..n * n)
                .map(|ij| {
                    let (a, c) = (x0.row_slice(lo + ij / n), z.row_slice(lo + ij % n));
                    a.iter().zip(c).map(|(u, v)| (u - v) * (u - v)).sum()
                })
                .collect();
            // a square finite cost always has an assignment; keep the identity should the solver refuse
            if let Ok((rows, cols)) = lsap::solve(n, n, &cost, false) {
                for (r, c) in rows.into_iter().zip(cols) {
                    block[r * d..(r + 1) * d].copy_from_slice(z.row_slice(lo + c));
                }
            }
        });
    out
}

impl Objective for FlowMatching {
    fn name(&self) -> &'static str {
        match self.coupling {
            Coupling::Independent => REGISTRATION.name,
            Coupling::OptimalTransport => REGISTRATION_OT.name,
        }
    }

    fn check(&self, net: &Network) -> Result<(), ModelError> {
        super::needs(self.name(), super::DIFFUSION, net)?;
        let m = net.diffusion(self.name())?;
        // with the OT coupling the learned velocity is not a Gaussian path's probability flow, so its score
        // reading would mislead the stochastic samplers: the straight path refuses them
        if self.coupling == Coupling::OptimalTransport && m.sde.stochastic_sampling() {
            return Err(ModelError::BadParameter {
                param: "objective",
                value: self.name().into(),
                reason: "the OT coupling trains on the straight path only (Sde::Linear, --sde linear): \
                         its velocity is not the probability flow of a Gaussian path, so on another SDE its \
                         score would mislead the stochastic samplers"
                    .into(),
            });
        }
        Ok(())
    }

    fn gradient(&mut self, step: Step<'_>) -> Result<Gradient, ModelError> {
        let m = step.net.diffusion(self.name())?;
        let (eps, big_t) = crate::diffusion::time_span(m, &m.sde);
        let (b, d) = step.batch.shape();
        let t: Vec<f64> = (0..b)
            .map(|_| eps + (big_t - eps) * step.rng.random::<f64>())
            .collect();
        let mut z = super::normals(b, d, step.rng);
        if self.coupling == Coupling::OptimalTransport {
            z = ot_pairing(step.batch, &z);
        }
        weighted_gradient(&step, m, &t, &z, Weighting::Flow)
    }

    fn record(&self) -> Record {
        Record::new(self.name()).choice("coupling", self.coupling.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_ot_pairing_is_a_permutation_that_shortens_the_pairs() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let n = 150; // three blocks, the last short
        let x0 = Tensor::from_fn(
            n,
            2,
            |i, j| if j == 0 { 3.0 + (i % 7) as f64 } else { -2.0 },
        );
        let z = super::super::normals(n, 2, &mut rng);
        let paired = ot_pairing(&x0, &z);
        let total = |zz: &Tensor| -> f64 {
            (0..n)
                .map(|i| {
                    let (a, c) = (x0.row_slice(i), zz.row_slice(i));
                    (a[0] - c[0]).powi(2) + (a[1] - c[1]).powi(2)
                })
                .sum()
        };
        assert!(
            total(&paired) < total(&z),
            "{} vs {}",
            total(&paired),
            total(&z)
        );
        // the same rows, reordered within each block
        for lo in [0, 64, 128] {
            let hi = (lo + OT_BLOCK).min(n);
            let mut a: Vec<Vec<f64>> = (lo..hi).map(|i| z.row_slice(i).to_vec()).collect();
            let mut b: Vec<Vec<f64>> = (lo..hi).map(|i| paired.row_slice(i).to_vec()).collect();
            a.sort_by(|u, v| u[0].total_cmp(&v[0]));
            b.sort_by(|u, v| u[0].total_cmp(&v[0]));
            assert_eq!(a, b);
        }
        // no swap of two rows of a block shortens it (optimal against every transposition)
        let d2 = |i: usize, zr: &[f64]| {
            let a = x0.row_slice(i);
            (a[0] - zr[0]).powi(2) + (a[1] - zr[1]).powi(2)
        };
        for i in 0..OT_BLOCK {
            for j in 0..i {
                let now = d2(i, paired.row_slice(i)) + d2(j, paired.row_slice(j));
                let swapped = d2(i, paired.row_slice(j)) + d2(j, paired.row_slice(i));
                assert!(now <= swapped + 1e-9, "rows {i}, {j}");
            }
        }
    }

    #[test]
    fn the_ot_pairing_is_optimal_against_brute_force() {
        // every permutation of random problems of 2 to 7 rows (up to 5,040)
        fn permutations(n: usize) -> Vec<Vec<usize>> {
            if n == 0 {
                return vec![vec![]];
            }
            let mut out = Vec::new();
            for p in permutations(n - 1) {
                for k in 0..n {
                    let mut q = p.clone();
                    q.insert(k, n - 1);
                    out.push(q);
                }
            }
            out
        }
        let mut rng = rand::rngs::SmallRng::seed_from_u64(4);
        for n in 2..=7 {
            for _ in 0..5 {
                let x0 = super::super::normals(n, 3, &mut rng);
                let z = super::super::normals(n, 3, &mut rng);
                let cost = |i: usize, zr: &[f64]| -> f64 {
                    x0.row_slice(i)
                        .iter()
                        .zip(zr)
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum()
                };
                let paired = ot_pairing(&x0, &z);
                let got: f64 = (0..n).map(|i| cost(i, paired.row_slice(i))).sum();
                let best = permutations(n)
                    .iter()
                    .map(|p| (0..n).map(|i| cost(i, z.row_slice(p[i]))).sum::<f64>())
                    .fold(f64::INFINITY, f64::min);
                assert!((got - best).abs() < 1e-9, "n {n}: {got} vs the best {best}");
            }
        }
    }

    #[test]
    fn an_ot_block_costs_milliseconds() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(2);
        let x0 = super::super::normals(512, 2, &mut rng);
        let z = super::super::normals(512, 2, &mut rng);
        let t0 = std::time::Instant::now();
        let _ = ot_pairing(&x0, &z);
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        println!("OT pairing of 512 rows in blocks of {OT_BLOCK}: {ms:.2} ms");
        assert!(ms < 200.0, "{ms} ms");
    }
}
