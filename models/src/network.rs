//! The networks Stein trains, as one value: a score or energy model over x ([`Model`], optionally
//! noise-conditional) or a time-conditional diffusion model over (x, t) ([`TimeModel`]). The training loop,
//! model files and recipes handle both through [`Network`]; an objective says which it needs.

use crate::data::Standardization;
use crate::diffusion::net::TimeModel;
use crate::error::ModelError;
use crate::nn::{Conditioning, Kind, Model};
use stein_autodiff::Tensor;

/// A trainable network of either family.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(untagged)] // written as the model it holds: a model file's `kind` says which
pub enum Network {
    /// A score or energy network over x, optionally conditioned on a noise level σ.
    Model(Model),
    /// A time-conditional network over (x, t) for an SDE (a diffusion model).
    Diffusion(TimeModel),
}

/// What a network is, in the words a user and a model file use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetworkKind {
    /// A scalar energy E(x); score = −∇E (noise-conditional or not).
    Energy,
    /// The score itself (noise-conditional or not).
    Score,
    /// A time-conditional diffusion model.
    Diffusion,
}

impl NetworkKind {
    /// `energy`, `score` or `diffusion`.
    pub fn name(self) -> &'static str {
        match self {
            NetworkKind::Energy => "energy",
            NetworkKind::Score => "score",
            NetworkKind::Diffusion => "diffusion",
        }
    }

    /// The kind named `name` ([`NetworkKind::name`]).
    pub fn parse(name: &str) -> Option<Self> {
        [
            NetworkKind::Energy,
            NetworkKind::Score,
            NetworkKind::Diffusion,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

impl From<Model> for Network {
    fn from(m: Model) -> Self {
        Network::Model(m)
    }
}

impl From<TimeModel> for Network {
    fn from(m: TimeModel) -> Self {
        Network::Diffusion(m)
    }
}

impl Network {
    /// Energy, score or diffusion.
    pub fn kind(&self) -> NetworkKind {
        match self {
            Network::Model(m) if m.kind == Kind::Energy => NetworkKind::Energy,
            Network::Model(_) => NetworkKind::Score,
            Network::Diffusion(_) => NetworkKind::Diffusion,
        }
    }

    /// The data dimension.
    pub fn dim(&self) -> usize {
        match self {
            Network::Model(m) => m.dim,
            Network::Diffusion(m) => m.dim,
        }
    }

    /// The trained parameters, `[W₀, b₀, W₁, b₁, …]`.
    pub fn params(&self) -> &[Tensor] {
        match self {
            Network::Model(m) => &m.net.params,
            Network::Diffusion(m) => &m.net.params,
        }
    }

    /// The trained parameters, to update.
    pub fn params_mut(&mut self) -> &mut [Tensor] {
        match self {
            Network::Model(m) => &mut m.net.params,
            Network::Diffusion(m) => &mut m.net.params,
        }
    }

    /// The map from data to model coordinates.
    pub fn standardization(&self) -> Option<&Standardization> {
        match self {
            Network::Model(m) => m.standardization.as_ref(),
            Network::Diffusion(m) => m.standardization.as_ref(),
        }
    }

    /// Set the map from data to model coordinates.
    pub fn set_standardization(&mut self, st: Option<Standardization>) {
        match self {
            Network::Model(m) => m.standardization = st,
            Network::Diffusion(m) => m.standardization = st,
        }
    }

    /// Check every invariant the samplers and the loop rely on ([`Model::validate`], [`TimeModel::validate`]).
    pub fn validate(&self) -> Result<(), ModelError> {
        match self {
            Network::Model(m) => m.validate(),
            Network::Diffusion(m) => m.validate(),
        }
    }

    /// The score or energy model, or an error naming `what` needs it.
    pub fn model(&self, what: &str) -> Result<&Model, ModelError> {
        match self {
            Network::Model(m) => Ok(m),
            Network::Diffusion(_) => Err(not_a_diffusion_model(what)),
        }
    }

    /// The score or energy model, to change.
    pub fn model_mut(&mut self, what: &str) -> Result<&mut Model, ModelError> {
        match self {
            Network::Model(m) => Ok(m),
            Network::Diffusion(_) => Err(not_a_diffusion_model(what)),
        }
    }

    /// The diffusion model, or an error naming `what` needs it.
    pub fn diffusion(&self, what: &str) -> Result<&TimeModel, ModelError> {
        match self {
            Network::Diffusion(m) => Ok(m),
            Network::Model(m) => Err(ModelError::BadParameter {
                param: "model",
                value: NetworkKind::from_model(m).name().into(),
                reason: format!("{what} trains diffusion models (time-conditional networks)"),
            }),
        }
    }

    /// Whether the network takes a noise level σ (a noise-conditional score or energy model).
    pub fn noise_conditional(&self) -> bool {
        matches!(self, Network::Model(m) if m.conditioning != Conditioning::None)
    }
}

impl NetworkKind {
    fn from_model(m: &Model) -> Self {
        if m.kind == Kind::Energy {
            NetworkKind::Energy
        } else {
            NetworkKind::Score
        }
    }
}

/// The error of `what`, which trains score and energy models, given a diffusion model.
fn not_a_diffusion_model(what: &str) -> ModelError {
    ModelError::BadParameter {
        param: "model",
        value: "diffusion".into(),
        reason: format!("{what} trains score and energy models, not diffusion models"),
    }
}
