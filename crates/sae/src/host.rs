//! Whether a backend's tensors live in host memory, where a loop over their elements costs no
//! transfer.
//!
//! On burn's CPU backend (Flex) a few operations are faster written as one pass over host
//! slices than as a chain of tensor operations: a row-wise top-k ([`crate::select`]), whose
//! burn implementation sorts whole rows, and Adam's update ([`crate::optim`]), a dozen
//! elementwise operations that each read and write every parameter. Those host versions are
//! used only where this says so; elsewhere (a GPU) the generic tensor version runs, and it is
//! the reference the host version is tested against.

use std::any::TypeId;

use burn::tensor::backend::Backend;

/// True for burn's CPU backend, whose tensors are host memory already.
pub fn tensors_live_on_host<B: Backend>() -> bool {
    TypeId::of::<B>() == TypeId::of::<burn::backend::Flex>()
}
