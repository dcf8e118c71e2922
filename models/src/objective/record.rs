//! An objective's settings and state as they travel in files: numbers (and lists of numbers), named choices
//! and tensors, each read back by name with an error that names the field and what was wrong.

use crate::error::ModelError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use stein_autodiff::Tensor;

/// Settings and state of an objective, by name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The objective's registered name.
    pub name: String,
    /// Numbers and lists of numbers (σ, a σ ladder, counts, step sizes).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub numbers: BTreeMap<String, Vec<f64>>,
    /// Named choices (a projection law, a weighting).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub choices: BTreeMap<String, String>,
    /// Learned tensors and state (NCE's log Z, contrastive divergence's chains and replay buffer).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tensors: BTreeMap<String, Tensor>,
}

impl Record {
    /// An empty record of the objective `name`.
    pub fn new(name: &str) -> Self {
        Record {
            name: name.into(),
            ..Default::default()
        }
    }

    /// With a number.
    pub fn number(mut self, key: &str, v: f64) -> Self {
        self.numbers.insert(key.into(), vec![v]);
        self
    }

    /// With a list of numbers.
    pub fn list(mut self, key: &str, v: &[f64]) -> Self {
        self.numbers.insert(key.into(), v.to_vec());
        self
    }

    /// With a choice.
    pub fn choice(mut self, key: &str, v: &str) -> Self {
        self.choices.insert(key.into(), v.into());
        self
    }

    /// With a tensor (when there is one).
    pub fn tensor(mut self, key: &str, t: Option<&Tensor>) -> Self {
        if let Some(t) = t {
            self.tensors.insert(key.into(), t.clone());
        }
        self
    }

    fn bad(&self, key: &str, value: String, reason: &str) -> ModelError {
        ModelError::BadParameter {
            param: "objective",
            value,
            reason: format!("{}: field `{key}` {reason}", self.name),
        }
    }

    /// The list `key`.
    pub fn get_list(&self, key: &str) -> Result<&[f64], ModelError> {
        self.numbers
            .get(key)
            .map(Vec::as_slice)
            .ok_or_else(|| self.bad(key, "missing".into(), "is missing"))
    }

    /// The single number `key`, finite.
    pub fn get_number(&self, key: &str) -> Result<f64, ModelError> {
        match self.get_list(key)? {
            [v] if v.is_finite() => Ok(*v),
            other => Err(self.bad(key, format!("{other:?}"), "must be one finite number")),
        }
    }

    /// The whole number `key` (at most 2⁴⁰).
    pub fn get_count(&self, key: &str) -> Result<usize, ModelError> {
        let v = self.get_number(key)?;
        if v >= 0.0 && v.fract() == 0.0 && v <= (1u64 << 40) as f64 {
            Ok(v as usize)
        } else {
            Err(self.bad(key, v.to_string(), "must be a whole number from 0 to 2⁴⁰"))
        }
    }

    /// The flag `key` (0 or 1).
    pub fn get_flag(&self, key: &str) -> Result<bool, ModelError> {
        let v = self.get_number(key)?;
        if v == 0.0 || v == 1.0 {
            Ok(v == 1.0)
        } else {
            Err(self.bad(key, v.to_string(), "must be 0 or 1"))
        }
    }

    /// The choice `key`, read by `parse`.
    pub fn get_choice<T>(&self, key: &str, parse: fn(&str) -> Option<T>) -> Result<T, ModelError> {
        let s = self
            .choices
            .get(key)
            .ok_or_else(|| self.bad(key, "missing".into(), "is missing"))?;
        parse(s).ok_or_else(|| self.bad(key, s.clone(), "is not one of its choices"))
    }

    /// The tensor `key`, if present, with every entry finite and `cols` columns.
    pub fn get_tensor(&self, key: &str, cols: Option<usize>) -> Result<Option<Tensor>, ModelError> {
        let Some(t) = self.tensors.get(key) else {
            return Ok(None);
        };
        if t.data().iter().any(|v| !v.is_finite()) {
            return Err(self.bad(key, "a non-finite entry".into(), "must be finite"));
        }
        if let Some(c) = cols.filter(|&c| c != t.cols()) {
            return Err(self.bad(
                key,
                format!("{} columns", t.cols()),
                &format!("must have {c} columns"),
            ));
        }
        Ok(Some(t.clone()))
    }
}
