//! Compute and memory accounting for SAE training: the single place that counts them.
//!
//! The planner, the run store, the trainer's `final.json` and the fitter's κ all use these
//! functions, so that "compute" means one thing everywhere (docs/METHODS.md §1.6, pitfall 3).
//!
//! A dense SAE step on one token costs `12·d·F` FLOP ([`dense_flops_per_token`]): the forward
//! pass is two matmuls of `2·d·F` each (encoder, decoder), the backward pass twice that
//! (gradients with respect to the inputs and the weights of both). Biases, the activation
//! function, the L1 term and the optimiser are lower-order and not counted.
//!
//! What a run's compute is *counted as* ([`flops_per_token`], the convention budgets, steps
//! and fits use) is decided per architecture, and today it is `12·d·F` for every one.
//! BatchTopK's and JumpReLU's steps are the dense one, so that is also what they execute. TopK
//! is counted as the dense step even though its sparse kernel (`train.topk_kernel =
//! "sparse"`) executes only the encoder product densely, about `2·d·F + O(k·d)` FLOP per
//! token. Keeping the dense count puts relu and topk sweeps on one compute axis, and keeps the
//! steps of topk sweeps planned before the sparse kernel existed what they were. With `d`
//! fixed, any constant factor leaves the fitted exponents unchanged; it moves only the
//! prefactors of `F*(C)` and `S*(C)`.

use crate::Architecture;

/// FLOP per token of the dense SAE step (`12·d·F`), whatever trains it: the work
/// `saescale bench` counts in its GFLOP/s, so that kernels compare.
pub fn dense_flops_per_token(d_in: usize, features: usize) -> f64 {
    12.0 * d_in as f64 * features as f64
}

/// FLOP per training token that a run of `architecture` is counted as: what budgets buy, what
/// `final.json` and the results table record, and what the fits' compute axis is.
pub fn flops_per_token(architecture: Architecture, d_in: usize, features: usize) -> f64 {
    match architecture {
        // Anthropic's setting: the step is dense.
        Architecture::Relu => dense_flops_per_token(d_in, features),
        // Counted as dense whichever kernel trains it (module docs): one compute axis with
        // relu, and unchanged steps for existing topk sweeps.
        Architecture::Topk => dense_flops_per_token(d_in, features),
        // Its step is dense (train.topk_kernel = "dense"), as its sweeps are counted.
        Architecture::Batchtopk => dense_flops_per_token(d_in, features),
        // Its step is dense too: every latent above its threshold is kept, with the
        // straight-through terms elementwise.
        Architecture::Jumprelu => dense_flops_per_token(d_in, features),
    }
}

/// Total training FLOP of `steps` steps of `batch_size` tokens.
pub fn run_flops(architecture: Architecture, d_in: usize, features: usize, steps: u64, batch_size: usize) -> f64 {
    flops_per_token(architecture, d_in, features) * steps as f64 * batch_size as f64
}

/// Compute per feature-step, κ, of runs of this architecture, width and batch: `C = κ·F·S`
/// (`12·d·batch`).
pub fn kappa(architecture: Architecture, d_in: usize, batch_size: usize) -> f64 {
    run_flops(architecture, d_in, 1, 1, batch_size)
}

/// Steps that spend `budget` FLOP at this size: `S = C / (12·d·F·batch)`, rounded down.
pub fn steps_for_budget(architecture: Architecture, budget: f64, d_in: usize, features: usize, batch_size: usize) -> u64 {
    (budget / (flops_per_token(architecture, d_in, features) * batch_size as f64)).floor() as u64
}

/// Bytes of device memory one training step needs, estimated.
///
/// Counts f32 parameters (`2·d·F + F + d`), their gradients and Adam's two moments (4× the
/// parameters in all), and the step's activations: the input, reconstruction and error
/// `[batch, d]`, and the pre-activations, latents and their gradient `[batch, F]`. Allocator
/// slack and framework workspace are not included; treat it as a lower bound.
pub fn training_memory_bytes(d_in: usize, features: usize, batch_size: usize) -> u64 {
    sharded_memory_bytes(d_in, features, batch_size, 1)
}

/// Bytes of device memory one training step needs on each of `shards` GPUs when the latents
/// are split across them (as Gao et al. and Gemma Scope train their widest SAEs): every
/// F-sized tensor (encoder and decoder weights, the encoder bias, the `[batch, F]`
/// activations) is divided, the d-sized ones (decoder bias, the `[batch, d]` input,
/// reconstruction and error) are on every GPU. Counted as [`training_memory_bytes`].
pub fn sharded_memory_bytes(d_in: usize, features: usize, batch_size: usize, shards: usize) -> u64 {
    let (d, f, b, n) = (d_in as u64, features as u64, batch_size as u64, shards.max(1) as u64);
    let parameters = (2 * d * f + f).div_ceil(n) + d;
    let activations = 3 * b * d + (3 * b * f).div_ceil(n);
    4 * (4 * parameters + activations)
}

/// The fewest GPUs of `gpu_bytes` each that hold a training step with the latents sharded
/// ([`sharded_memory_bytes`]), and the bytes each then needs; `None` when not even one latent
/// per GPU fits (the replicated d-sized part alone is too large).
pub fn gpus_needed(d_in: usize, features: usize, batch_size: usize, gpu_bytes: u64) -> Option<(usize, u64)> {
    let fits = |n: usize| sharded_memory_bytes(d_in, features, batch_size, n) <= gpu_bytes;
    if !fits(features.max(1)) {
        return None;
    }
    // The per-GPU bytes fall as the shards grow: bisect for the first that fits.
    let (mut lo, mut hi) = (1usize, features.max(1));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some((lo, sharded_memory_bytes(d_in, features, batch_size, lo)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_architecture_counts_the_dense_step() {
        assert_eq!(dense_flops_per_token(256, 4096), 12.0 * 256.0 * 4096.0);
        for architecture in Architecture::ALL {
            // A change here changes the steps of existing sweeps: see the module docs.
            assert_eq!(flops_per_token(architecture, 256, 4096), 12.0 * 256.0 * 4096.0, "{architecture:?}");
            assert_eq!(run_flops(architecture, 2, 3, 5, 7), 12.0 * 2.0 * 3.0 * 5.0 * 7.0);
            assert_eq!(kappa(architecture, 64, 256), 12.0 * 64.0 * 256.0);
        }
    }

    #[test]
    fn steps_for_budget_inverts_run_flops() {
        for architecture in Architecture::ALL {
            let budget = run_flops(architecture, 64, 1024, 1000, 256);
            assert_eq!(steps_for_budget(architecture, budget, 64, 1024, 256), 1000);
            assert_eq!(steps_for_budget(architecture, budget - 1.0, 64, 1024, 256), 999);
        }
    }

    #[test]
    fn sharding_divides_what_grows_with_the_latents() {
        assert_eq!(sharded_memory_bytes(64, 1024, 256, 1), training_memory_bytes(64, 1024, 256));
        // d = 1, F = 4, batch 1, 2 shards: (2·4 + 4)/2 + 1 = 7 parameters ×4 = 28 floats, plus
        // 3·1·1 + 3·4/2 = 9 activations: 37 floats.
        assert_eq!(sharded_memory_bytes(1, 4, 1, 2), 37 * 4);
        // 2^25 latents at d = 4096, batch 4096 on 80 GiB GPUs.
        let gpu = 80u64 << 30;
        let (gpus, each) = gpus_needed(4096, 1 << 25, 4096, gpu).unwrap();
        assert!(each <= gpu && sharded_memory_bytes(4096, 1 << 25, 4096, gpus - 1) > gpu, "{gpus} GPUs, {each} bytes each");
        assert_eq!(gpus_needed(64, 1024, 256, 1 << 40), Some((1, training_memory_bytes(64, 1024, 256))));
        assert_eq!(gpus_needed(4096, 8, 4096, 1 << 20), None);
    }

    #[test]
    fn memory_counts_parameters_adam_and_activations() {
        // d = 1, F = 1, batch 1: 2·d·F + F + d = 4 parameters, ×4 (weights, gradients,
        // two Adam moments) = 16 floats, plus 3·b·d + 3·b·F = 6 activations: 22 floats.
        assert_eq!(training_memory_bytes(1, 1, 1), 22 * 4);
        // Activations grow with the batch, parameters do not.
        assert_eq!(
            training_memory_bytes(1, 1, 2) - training_memory_bytes(1, 1, 1),
            6 * 4
        );
    }
}
