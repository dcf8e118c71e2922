//! Operations grouped by family; each op's forward and its vector-Jacobian product sit side by side.

pub(crate) mod accumulate;
pub(crate) mod binary;
pub(crate) mod kernels;
pub(crate) mod tensor;
pub(crate) mod tensor_vjp;
pub(crate) mod unary;
pub(crate) mod vmath;
