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

/// Runs `work` compiled for the widest vectors the CPU has: AVX-512 or AVX2 on x86-64.
///
/// saescale is built for baseline x86-64, whose SSE2 vectors hold 4 f32, so a host loop's
/// products, divisions and square roots run 4 at a time (square roots one at a time);
/// compiled for AVX2 they run 8 at a time, for AVX-512 16. Only the width changes: every
/// element goes through the same IEEE operations in the same order (Rust never fuses a
/// product and a sum into an FMA on its own), so a loop gives the same bits whichever width
/// ran it, and the host loops' bit-for-bit tests against the tensor versions hold on every
/// CPU. (gemm picks its kernel by CPU too, and sums in another order on each, so a run's
/// bits can still differ between machines.) `work`'s loops are
/// recompiled only where they are inlined into it: call this around a loop, not around a
/// call to a function that is not inlined (rayon's threads, for one).
#[inline(always)]
pub fn widest_vectors<R>(work: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, checked just above.
            return unsafe { on_avx512(work) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { on_avx2(work) };
        }
    }
    work()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn on_avx512<R>(work: impl FnOnce() -> R) -> R {
    work()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn on_avx2<R>(work: impl FnOnce() -> R) -> R {
    work()
}

/// A dot product in eight running sums, which the compiler can keep in one vector register
/// (a single sum is a chain of dependent additions, one at a time).
#[inline(always)]
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
