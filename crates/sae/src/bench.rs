//! Throughput of the SAE training step, and the matmul peak it should be compared with.
//!
//! Both are measured through the same burn backend, after warm-up steps that absorb
//! one-off costs (allocation, autotuning on GPUs). The step is the real [`Trainer`] step of a
//! relu SAE (Anthropic recipe) or a topk SAE (Gao et al., either kernel) fed from a small
//! pool of batches already on the device, so the number excludes data generation and
//! host-to-device copies, as the PyTorch baseline (`torch_sae_step.py`, the project's
//! PyTorch reference step) does. A topk bench is too short for any latent to die (the dead
//! window is 10M tokens), so it has no AuxK term, as the PyTorch TopK step has none.

use std::time::Instant;

use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, ElementConversion, Tensor};
use saescale_data::{DataConfig, SyntheticConfig};
use saescale_spec::bench::StepThroughput;
use saescale_spec::{compute, Architecture, EvalSpec, LogSpec, Precision, RunSpec, SaeSpec, TopkKernel, TrainSpec};

use crate::trainer::Trainer;
use crate::Result;

/// The step one benchmark times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchStep {
    /// Input width.
    pub d_in: usize,
    /// Latents.
    pub features: usize,
    /// Tokens per step.
    pub batch_size: usize,
    /// Number format of the matmuls.
    pub precision: Precision,
    /// What the SAE is.
    pub arch: BenchArch,
}

/// The SAE a benchmark trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchArch {
    /// ReLU with the L1 penalty (Anthropic, April 2024).
    Relu,
    /// TopK with `k` active latents, computed by `kernel`.
    TopK {
        /// Active latents per token.
        k: usize,
        /// Dense or sparse step.
        kernel: TopkKernel,
    },
    /// BatchTopK keeping `k` latents per token on average (the dense step, batch-wide selection).
    BatchTopK {
        /// Mean active latents per token.
        k: usize,
    },
    /// JumpReLU with its default L0 coefficient (the dense step, straight-through thresholds).
    JumpRelu,
}

/// Times `steps` training steps of `step` after `warmup` untimed ones.
///
/// # Errors
/// Training errors: an invalid size (k > features), or a diverging loss, which cannot happen
/// at these learning rates but is reported.
pub fn step_throughput<B: Backend>(step: &BenchStep, warmup: u64, steps: u64, device: &B::Device) -> Result<StepThroughput> {
    let BenchStep { d_in, features, batch_size, precision, .. } = *step;
    // The peak of this size alone (where the system can reset it), not of the sizes before.
    let peak_is_this_sizes = crate::memory::reset_peak_rss();
    let mut spec = bench_spec(step, warmup + steps);
    spec.precision = Some(precision);
    let mut trainer = Trainer::<B>::new(&spec, device)?;
    let pool: Vec<Tensor<B, 2>> =
        (0..4).map(|_| Tensor::random([batch_size, d_in], Distribution::Normal(0.0, 1.0), device)).collect();
    for i in 0..warmup {
        // Reading the last warm-up step waits for the device to finish all of them.
        trainer.step_on(pool[i as usize % 4].clone(), i + 1 == warmup)?;
    }
    let start = Instant::now();
    for i in 0..steps {
        trainer.step_on(pool[i as usize % 4].clone(), i + 1 == steps)?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let tokens_per_s = (steps * batch_size as u64) as f64 / seconds;
    Ok(StepThroughput {
        d_in,
        features,
        batch_size,
        steps,
        precision,
        architecture: spec.sae.architecture,
        k: spec.sae.k,
        // As resolved: batchtopk's is always dense.
        kernel: trainer.spec().train.topk_kernel,
        tokens_per_s,
        gflops: compute::dense_flops_per_token(d_in, features) * tokens_per_s / 1e9,
        peak_rss_bytes: crate::memory::peak_rss_bytes().filter(|_| peak_is_this_sizes),
    })
}

/// Best f32 matmul rate over square sizes `sizes`, in GFLOP/s (2·n³ FLOP per product).
pub fn matmul_peak_gflops<B: Backend>(sizes: &[usize], repeats: usize, device: &B::Device) -> f64 {
    let mut best = 0f64;
    for &n in sizes {
        let a = Tensor::<B, 2>::random([n, n], Distribution::Normal(0.0, 1.0), device);
        let b = Tensor::<B, 2>::random([n, n], Distribution::Normal(0.0, 1.0), device);
        // Warm-up, and a read to wait for the device.
        let _: f64 = a.clone().matmul(b.clone()).sum().into_scalar().elem();
        for _ in 0..repeats {
            let start = Instant::now();
            let _: f64 = a.clone().matmul(b.clone()).slice([0..1, 0..1]).sum().into_scalar().elem();
            let seconds = start.elapsed().as_secs_f64();
            best = best.max(2.0 * (n as f64).powi(3) / seconds / 1e9);
        }
    }
    best
}

/// A run spec of the benchmarked step, its architecture's defaults otherwise.
fn bench_spec(step: &BenchStep, steps: u64) -> RunSpec {
    let (architecture, k, kernel) = match step.arch {
        BenchArch::Relu => (Architecture::Relu, None, None),
        BenchArch::TopK { k, kernel } => (Architecture::Topk, Some(k), Some(kernel)),
        BenchArch::BatchTopK { k } => (Architecture::Batchtopk, Some(k), None),
        BenchArch::JumpRelu => (Architecture::Jumprelu, None, None),
    };
    RunSpec {
        name: Some(format!("bench-{}x{}", step.d_in, step.features)),
        seed: 0,
        precision: None,
        data: DataConfig::Synthetic(SyntheticConfig { d_in: step.d_in, ..SyntheticConfig::default() }),
        sae: SaeSpec {
            architecture,
            features: Some(step.features),
            k,
            l1_coefficient: None,
            l0_coefficient: None,
            jumprelu_init_threshold: None,
            decoder_init_norm: None,
            topk_decoder: None,
        },
        train: TrainSpec {
            steps: Some(steps),
            batch_size: step.batch_size,
            lr: None,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_epsilon: None,
            lr_decay_fraction: 0.2,
            l1_warmup_fraction: None,
            l0_warmup_fraction: None,
            jumprelu_bandwidth: None,
            grad_clip_norm: None,
            auxk_coefficient: None,
            auxk_k: None,
            topk_kernel: kernel,
            batchtopk_threshold_lr: None,
            dead_window_tokens: 10_000_000,
            normalization_rows: 1024,
        },
        eval: EvalSpec::default(),
        log: LogSpec::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{device, Cpu};

    fn small(arch: BenchArch) -> BenchStep {
        BenchStep { d_in: 16, features: 64, batch_size: 32, precision: Precision::F32, arch }
    }

    #[test]
    fn throughput_is_reported_consistently() {
        let result = step_throughput::<Cpu>(&small(BenchArch::Relu), 1, 3, &device()).unwrap();
        assert_eq!((result.d_in, result.features, result.batch_size, result.steps), (16, 64, 32, 3));
        assert_eq!((result.precision, result.architecture, result.k, result.kernel), (Precision::F32, Architecture::Relu, None, None));
        assert!(result.tokens_per_s > 0.0);
        let implied = 12.0 * 16.0 * 64.0 * result.tokens_per_s / 1e9;
        assert!((result.gflops - implied).abs() < 1e-9 * implied.max(1.0));
        assert!(matmul_peak_gflops::<Cpu>(&[32], 1, &device()) > 0.0);
        // The weights, Adam's moments and a batch are resident while the size is timed.
        if let Some(peak) = result.peak_rss_bytes {
            assert!(peak >= 4 * (2 * 16 * 64) as u64, "{peak}");
        }
    }

    #[test]
    fn a_sparse_bench_records_its_architecture_k_and_kernel() {
        for kernel in [TopkKernel::Dense, TopkKernel::Sparse] {
            let result = step_throughput::<Cpu>(&small(BenchArch::TopK { k: 4, kernel }), 1, 2, &device()).unwrap();
            assert_eq!((result.architecture, result.k, result.kernel), (Architecture::Topk, Some(4), Some(kernel)));
        }
        {
            let result = step_throughput::<Cpu>(&small(BenchArch::BatchTopK { k: 4 }), 1, 2, &device()).unwrap();
            assert_eq!((result.architecture, result.k, result.kernel), (Architecture::Batchtopk, Some(4), Some(TopkKernel::Dense)));
            assert!(result.tokens_per_s > 0.0);
        }
        {
            let result = step_throughput::<Cpu>(&small(BenchArch::JumpRelu), 1, 2, &device()).unwrap();
            assert_eq!((result.architecture, result.k, result.kernel), (Architecture::Jumprelu, None, None));
            assert!(result.tokens_per_s > 0.0);
        }
        // A size the architecture cannot have is an error, not a panic.
        assert!(step_throughput::<Cpu>(&small(BenchArch::TopK { k: 65, kernel: TopkKernel::Sparse }), 1, 2, &device()).is_err());
    }
}
