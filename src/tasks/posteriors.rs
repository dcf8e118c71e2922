//! Posteriors: T3 (Bayesian logistic regression over fixed data) and T10a (a 100-dimensional Gaussian).

use crate::autodiff::{Real, TVar, Tape, Tensor, Var};

/// T3: Bayesian logistic regression, n = 1000 rows, d = 25 features.
#[derive(Clone, Debug)]
pub struct LogReg {
    /// Design matrix, n × d.
    pub x: Tensor,
    /// Labels as an n × 1 column of 0/1.
    pub y: Tensor,
}

impl LogReg {
    /// The T3 data set.
    pub fn t3() -> Self {
        let (n, d) = (1000, 25);
        LogReg {
            x: Tensor::from_fn(n, d, |i, j| (0.37 * i as f64 + 1.3 * j as f64).sin()),
            y: Tensor::from_fn(n, 1, |i, _| {
                if (0.11 * i as f64).sin() > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }),
        }
    }

    /// log p(β) written as a scalar loop, generic over [`Real`].
    pub fn log_prob<S: Real>(&self, beta: &[S]) -> S {
        let d = self.x.cols();
        let mut lp = S::cst(0.0);
        for i in 0..self.x.rows() {
            let row = self.x.row_slice(i);
            let mut eta = beta[0] * row[0];
            for j in 1..d {
                eta += beta[j] * row[j];
            }
            lp += eta * self.y.data()[i] - eta.softplus();
        }
        let prior: S = beta.iter().map(|&b| b * b).sum();
        lp - prior * 0.5
    }

    /// log p(β) with tensor ops; `beta` is d × 1, `x` and `y` are the data placed on the tape as constants.
    pub fn log_prob_tensor<'t>(beta: TVar<'t>, x: TVar<'t>, y: TVar<'t>) -> Var<'t> {
        let eta = x.matmul(beta);
        (y * eta - eta.softplus()).sum() - beta.dot(beta) * 0.5
    }

    /// Value and gradient with the tensor form on `tape` (cleared first).
    pub fn value_and_grad_tensor(&self, tape: &mut Tape, beta: &Tensor, grad: &mut Tensor) -> f64 {
        tape.clear();
        let b = tape.tensor(beta);
        let (x, y) = (tape.tensor_const(&self.x), tape.tensor_const(&self.y));
        let lp = Self::log_prob_tensor(b, x, y);
        tape.grad_tensors_into(lp, &[b], std::slice::from_mut(grad));
        lp.value()
    }
}

/// T3's point βⱼ = 0.01 j.
pub fn logreg_point() -> Vec<f64> {
    (0..25).map(|j| 0.01 * j as f64).collect()
}

/// The T3 posterior as a log-density written in scalar code (the autodiff route of any user posterior).
impl crate::scores::LogDensity for LogReg {
    fn dim(&self) -> usize {
        self.x.cols()
    }
    fn log_prob<S: Real>(&self, beta: &[S]) -> S {
        LogReg::log_prob(self, beta)
    }
}

impl LogReg {
    /// The T3 posterior as a sampling target through its tensor form, with the data kept on each thread's
    /// tape (T10b).
    pub fn target(&self) -> impl crate::models::sample::Target {
        let data = vec![self.x.clone(), self.y.clone()];
        crate::models::sample::TensorDensity::new(self.x.cols(), data, |beta, d| {
            Self::log_prob_tensor(beta, d[0], d[1])
        })
    }
}

/// T10a: a 100-d Gaussian with independent coordinates, standard deviations log-spaced from 0.01 to 10,
/// written as a user would (generic code, score by autodiff).
#[derive(Clone, Debug)]
pub struct Gauss100 {
    /// The standard deviations.
    pub sd: Vec<f64>,
    /// −1/(2 sdᵢ²), the weights of xᵢ² in log p.
    w: Vec<f64>,
}

impl Gauss100 {
    /// The T10a target.
    pub fn t10a() -> Self {
        let sd: Vec<f64> = (0..100)
            .map(|i| 10f64.powf(-2.0 + 3.0 * i as f64 / 99.0))
            .collect();
        let w = sd.iter().map(|s| -0.5 / (s * s)).collect();
        Gauss100 { sd, w }
    }
}

impl crate::scores::LogDensity for Gauss100 {
    fn dim(&self) -> usize {
        self.sd.len()
    }
    fn log_prob<S: Real>(&self, x: &[S]) -> S {
        // log p = Σ wᵢ xᵢ²: one square and one weighted sum (a single n-ary node on the tape)
        let sq: Vec<S> = x.iter().map(|&v| v * v).collect();
        S::dot_add(S::cst(0.0), &self.w, &sq)
    }
}
