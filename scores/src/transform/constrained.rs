//! A density written on constrained parameters, turned into a [`LogDensity`] on ℝⁿ.

use super::Transform;
use crate::density::LogDensity;
use crate::error::ScoreError;
use stein_autodiff::Real;

/// A named block of parameters and the transform that constrains it.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// The name (used in summaries: `tau`, `theta[3]`, `L[2,1]`).
    pub name: String,
    /// The constraint.
    pub transform: Transform,
}

impl Param {
    /// A block named `name` constrained by `transform`.
    pub fn new(name: &str, transform: Transform) -> Self {
        Param {
            name: name.to_string(),
            transform,
        }
    }
}

/// A model's log-density on constrained parameters: declare the blocks once, write `log_prob` generic over
/// [`Real`] reading each block's constrained values.
pub trait ConstrainedDensity: Sync {
    /// The parameter blocks, in order.
    fn parameters(&self) -> Vec<Param>;
    /// log p(x) on the constrained values (up to a constant).
    fn log_prob<S: Real>(&self, p: &Blocks<'_, S>) -> S;
}

/// The constrained values of every block: `p[i]` is block i's slice, [`Blocks::get`] finds one by name.
pub struct Blocks<'a, S> {
    values: &'a [S],
    offsets: &'a [usize],
    params: &'a [Param],
}

impl<S> Blocks<'_, S> {
    /// The block named `name`.
    ///
    /// # Panics
    /// When there is no such block (naming it).
    pub fn get(&self, name: &str) -> &[S] {
        let i = self
            .params
            .iter()
            .position(|p| p.name == name)
            .unwrap_or_else(|| panic!("no parameter block named `{name}`"));
        &self[i]
    }
}

impl<S> std::ops::Index<usize> for Blocks<'_, S> {
    type Output = [S];
    fn index(&self, i: usize) -> &[S] {
        &self.values[self.offsets[i]..self.offsets[i + 1]]
    }
}

/// A [`ConstrainedDensity`] as a [`LogDensity`] on the unconstrained coordinates u:
/// log p(u) = log p(x(u)) + Σ log|det J(u)| over the blocks. Sample it, then map draws back with
/// [`Constrained::constrain`] and name them with [`Constrained::names`].
///
/// ```
/// use stein_autodiff::Real;
/// use stein_scores::transform::{Blocks, Constrained, ConstrainedDensity, Param, Transform};
/// use stein_scores::{lpdf, LogDensity};
///
/// /// An exponential(2) on a positive parameter.
/// struct Rate;
/// impl ConstrainedDensity for Rate {
///     fn parameters(&self) -> Vec<Param> {
///         vec![Param::new("lambda", Transform::positive(1).unwrap())]
///     }
///     fn log_prob<S: Real>(&self, p: &Blocks<'_, S>) -> S {
///         lpdf::exponential(p[0][0], S::cst(2.0))
///     }
/// }
/// let m = Constrained::new(Rate).unwrap();
/// // at u = 0: x = 1, log p = log 2 − 2, plus the log-Jacobian u = 0
/// assert!((m.log_prob(&[0.0]) - (2f64.ln() - 2.0)).abs() < 1e-12);
/// assert_eq!(m.constrain(&[0.0]), vec![1.0]);
/// ```
pub struct Constrained<M> {
    model: M,
    params: Vec<Param>,
    u_offsets: Vec<usize>,
    x_offsets: Vec<usize>,
}

impl<M: ConstrainedDensity> Constrained<M> {
    /// Wrap `model`; an error when it declares no parameter or two blocks with one name.
    pub fn new(model: M) -> Result<Self, ScoreError> {
        let params = model.parameters();
        if params.is_empty() {
            return Err(ScoreError::Dimension {
                param: "parameters",
                expected: "at least one block".into(),
                got: "none".into(),
            });
        }
        for (i, p) in params.iter().enumerate() {
            if params[..i].iter().any(|q| q.name == p.name) {
                return Err(ScoreError::Dimension {
                    param: "parameters",
                    expected: "distinct names".into(),
                    got: format!("`{}` twice", p.name),
                });
            }
        }
        let offsets = |len: fn(&Transform) -> usize| {
            let mut o = vec![0];
            for p in &params {
                o.push(o[o.len() - 1] + len(&p.transform));
            }
            o
        };
        let (u_offsets, x_offsets) = (
            offsets(Transform::unconstrained_len),
            offsets(Transform::constrained_len),
        );
        Ok(Constrained {
            model,
            params,
            u_offsets,
            x_offsets,
        })
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The blocks.
    pub fn parameters(&self) -> &[Param] {
        &self.params
    }

    /// The number of constrained values (all blocks).
    pub fn constrained_len(&self) -> usize {
        self.x_offsets[self.params.len()]
    }

    /// Constrained values and the summed log|det J|, generic.
    fn forward<S: Real>(&self, u: &[S]) -> (Vec<S>, S) {
        let mut x = Vec::with_capacity(self.constrained_len());
        let mut log_det = S::cst(0.0);
        for (i, p) in self.params.iter().enumerate() {
            let block = &u[self.u_offsets[i]..self.u_offsets[i + 1]];
            log_det += p.transform.constrain(block, &mut x);
        }
        (x, log_det)
    }

    /// The constrained values of unconstrained coordinates `u` (every block, concatenated).
    ///
    /// # Panics
    /// When `u` has the wrong length (naming both).
    pub fn constrain(&self, u: &[f64]) -> Vec<f64> {
        assert_eq!(
            u.len(),
            self.dim(),
            "Constrained::constrain: {} values for dimension {}",
            u.len(),
            self.dim()
        );
        self.forward(u).0
    }

    /// The unconstrained coordinates of constrained values (every block, concatenated): to give starting
    /// points. An error names the block whose value is outside its set.
    pub fn unconstrain(&self, x: &[f64]) -> Result<Vec<f64>, ScoreError> {
        if x.len() != self.constrained_len() {
            return Err(ScoreError::Dimension {
                param: "x",
                expected: format!("{} constrained values", self.constrained_len()),
                got: x.len().to_string(),
            });
        }
        let mut u = Vec::with_capacity(self.dim());
        for (i, p) in self.params.iter().enumerate() {
            let block = &x[self.x_offsets[i]..self.x_offsets[i + 1]];
            match p.transform.unconstrain(block) {
                Ok(v) => u.extend(v),
                Err(ScoreError::OutOfSupport {
                    transform, reason, ..
                }) => {
                    return Err(ScoreError::OutOfSupport {
                        what: p.name.clone(),
                        transform,
                        reason,
                    })
                }
                Err(e) => return Err(e),
            }
        }
        Ok(u)
    }

    /// A name for every constrained value: `mu`, `theta[0]`, …, `L[1,0]` (row, column for correlation
    /// factors), in the order of [`Constrained::constrain`].
    pub fn names(&self) -> Vec<String> {
        self.names_from(0)
    }

    /// [`Constrained::names`] counted from 1, as Stan, posteriordb and R name them: `theta[1]`, …, `L[2,1]`.
    pub fn names_one_based(&self) -> Vec<String> {
        self.names_from(1)
    }

    fn names_from(&self, first: usize) -> Vec<String> {
        let mut out = Vec::with_capacity(self.constrained_len());
        for p in &self.params {
            match p.transform {
                Transform::CorrCholesky { k } => {
                    for i in first..k + first {
                        for j in first..k + first {
                            out.push(format!("{}[{i},{j}]", p.name));
                        }
                    }
                }
                _ if p.transform.constrained_len() == 1 => out.push(p.name.clone()),
                _ => (first..p.transform.constrained_len() + first)
                    .for_each(|i| out.push(format!("{}[{i}]", p.name))),
            }
        }
        out
    }
}

impl<M: ConstrainedDensity> LogDensity for Constrained<M> {
    fn dim(&self) -> usize {
        self.u_offsets[self.params.len()]
    }
    /// log p(x(u)) + log|det J(u)|.
    ///
    /// # Panics
    /// When `u` does not have [`LogDensity::dim`] values (a programmer error, as for every density; the
    /// message names both lengths).
    fn log_prob<S: Real>(&self, u: &[S]) -> S {
        crate::density::check_len("Constrained::log_prob", u.len(), self.dim());
        let (x, log_det) = self.forward(u);
        let blocks = Blocks {
            values: &x,
            offsets: &self.x_offsets,
            params: &self.params,
        };
        self.model.log_prob(&blocks) + log_det
    }
}
