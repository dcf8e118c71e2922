//! Multi-noise denoising score matching (NCSN, Song & Ermon 2019): each row of a batch is noised at a level
//! drawn uniformly from a σ ladder, with the weighting λ(σ) = σ²; a noise-conditional model learns s(x, σ)
//! at every level, which annealed Langevin walks down.

use super::{Gradient, Objective, Record, Registration, Step};
use crate::error::ModelError;
use crate::network::Network;
use rand::RngExt;
use stein_autodiff::Tensor;

/// Denoising score matching over a σ ladder.
#[derive(Clone, Debug, PartialEq)]
pub struct Ncsn {
    sigmas: Vec<f64>,
}

impl Ncsn {
    /// Over `sigmas`, largest first ([`crate::nn::validate_ladder`]: 1 to
    /// [`crate::nn::limits::MAX_SIGMAS`] positive finite levels).
    pub fn new(sigmas: Vec<f64>) -> Result<Self, ModelError> {
        crate::nn::validate_ladder(&sigmas)?;
        Ok(Ncsn { sigmas })
    }

    /// The ladder.
    pub fn sigmas(&self) -> &[f64] {
        &self.sigmas
    }
}

/// `ncsn`.
pub const REGISTRATION: Registration = Registration {
    name: "ncsn",
    help: "multi-noise denoising over a σ ladder, for noise-conditional models (Song & Ermon 2019)",
    trains: super::FIELDS,
    fresh: |z| Ok(Box::new(Ncsn::new(super::dsm::default_ladder(z)?)?)),
    from_record: |r| Ok(Box::new(Ncsn::new(r.get_list("sigmas")?.to_vec())?)),
};

impl Objective for Ncsn {
    fn name(&self) -> &'static str {
        REGISTRATION.name
    }

    fn check(&self, net: &Network) -> Result<(), ModelError> {
        super::needs(self.name(), super::FIELDS, net)
    }

    fn prepare(&mut self, net: &mut Network, _data: &Tensor) -> Result<(), ModelError> {
        super::dsm::keep_ladder(net, &self.sigmas, self.name())
    }

    fn gradient(&mut self, step: Step<'_>) -> Result<Gradient, ModelError> {
        let m = step.net.model(self.name())?;
        let (b, d) = step.batch.shape();
        let z = super::normals(b, d, step.rng);
        let ladder = &self.sigmas;
        let sigma = Tensor::from_fn(b, 1, |_, _| ladder[step.rng.random_range(0..ladder.len())]);
        Ok(super::dsm::gradient(&step, m, &z, &sigma))
    }

    fn record(&self) -> Record {
        Record::new(self.name()).list("sigmas", &self.sigmas)
    }
}
