//! The analytic catalogue, one family per file.

pub(crate) mod laplace;
pub(crate) mod logistic;
pub(crate) mod mixture;
pub(crate) mod mixture_batch;
pub(crate) mod mvn;
pub(crate) mod normal;
pub(crate) mod shapes;
pub(crate) mod student_t;
pub(crate) mod transform;
