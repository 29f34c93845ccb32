//! Whether a backend's tensors live in host memory, where a loop over their elements costs no
//! transfer, and the two ways the host loops reach that memory.
//!
//! On burn's CPU backend (Flex) a few operations are faster written as one pass over host
//! slices than as a chain of tensor operations: a row-wise top-k ([`crate::select`]), whose
//! burn implementation sorts whole rows, Adam's update ([`crate::optim`]), a dozen
//! elementwise operations that each read and write every parameter, and the sparse step's
//! gathers and scatter-adds ([`crate::sparse`]). Those host versions are used only where this
//! says so; elsewhere (a GPU) the generic tensor version runs, and it is the reference the
//! host version is tested against.

use std::any::Any;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use burn_flex::FlexTensor;

/// True for burn's CPU backend, whose tensors are host memory already.
pub fn tensors_live_on_host<B: Backend>() -> bool {
    std::any::TypeId::of::<B>() == std::any::TypeId::of::<burn::backend::Flex>()
}

/// Calls `read` with the tensor's values as f32, read where they are when the tensor is a
/// contiguous f32 Flex tensor (a model weight the step only reads), and from a copy otherwise.
///
/// `to_data` would copy a tensor that something else also holds, as the model holds its
/// weights: 256 MiB for a 1024 × 65536 decoder, on every read.
pub fn read_f32<B: Backend, const D: usize, R>(tensor: &Tensor<B, D>, read: impl FnOnce(&[f32]) -> R) -> R {
    // A clone of a tensor shares its buffer; only the handle is copied.
    let primitive = tensor.clone().into_primitive().tensor();
    let in_place = (&primitive as &dyn Any).downcast_ref::<FlexTensor>().and_then(|flex| flex.as_slice::<f32>());
    match in_place {
        Some(values) => read(values),
        None => read(tensor.to_data().convert::<f32>().as_slice().expect("converted to f32")),
    }
}

/// A float tensor of zeros whose pages the system zeroes lazily, when first written.
///
/// Flex makes its zeros (and every new tensor) by zeroing one buffer and copying it into an
/// aligned one, which touches every page twice; a gradient that a scatter-add writes only
/// in part then costs its full size in page faults. From a zeroed `Vec` the pages stay
/// untouched until written. Other backends make their own zeros.
pub fn zeros<B: Backend, const D: usize>(shape: [usize; D], device: &B::Device) -> Tensor<B, D> {
    if tensors_live_on_host::<B>() {
        Tensor::from_data(TensorData::new(vec![0f32; shape.iter().product()], shape), device)
    } else {
        Tensor::zeros(shape, device)
    }
}

/// A dot product in eight running sums, which the compiler can keep in one vector register
/// (a single sum is a chain of dependent additions, one at a time).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..8 {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    lanes.iter().sum::<f32>() + tail
}
