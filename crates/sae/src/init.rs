//! Initial weights.
//!
//! Decoder rows point in random directions with a fixed L2 norm (0.1 for Anthropic's ReLU
//! recipe; 1 for TopK, whose rows then move freely or stay unit-norm), the encoder is the decoder's
//! transpose, and both biases are zero.
//!
//! ## Reference
//! Anthropic, "Circuits Updates — April 2024" (docs/METHODS.md §1.3); Gao et al. 2024,
//! arXiv:2406.04093 §2.4 (tied initialisation). Gao et al. also rescale the encoder and set
//! b_pre to a geometric median of the data; saescale keeps the plain tied initialisation.
//!
//! The weights are drawn on the host from a ChaCha8 stream of the run's seed, so the same
//! seed gives the same SAE on every backend and device.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::model::{Activation, Sae};
use crate::precision::MatmulPrecision;

/// Row-major `[features, d_in]` decoder rows: random directions of L2 norm `norm`.
pub fn decoder_rows(features: usize, d_in: usize, norm: f64, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows = Vec::with_capacity(features * d_in);
    let mut row = vec![0f64; d_in];
    for _ in 0..features {
        row.iter_mut().for_each(|v| *v = StandardNormal.sample(&mut rng));
        let length = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        rows.extend(row.iter().map(|v| (v * norm / length) as f32));
    }
    rows
}

/// A freshly initialised SAE on `device`.
pub fn init_sae<B: Backend>(
    d_in: usize,
    features: usize,
    activation: Activation,
    decoder_norm: f64,
    seed: u64,
    device: &B::Device,
) -> Sae<B> {
    let rows = decoder_rows(features, d_in, decoder_norm, seed);
    let w_dec = Tensor::<B, 2>::from_data(TensorData::new(rows, [features, d_in]), device);
    Sae {
        w_enc: w_dec.clone().transpose(),
        b_enc: Tensor::zeros([features], device),
        w_dec,
        b_dec: Tensor::zeros([d_in], device),
        activation,
        // Gao et al.'s b_pre, kept by BatchTopK (and its JumpReLU inference form, which is
        // made from the trained SAE); JumpReLU trained as such has none, as Gemma Scope.
        apply_b_dec_to_input: matches!(activation, Activation::TopK { .. } | Activation::BatchTopK { .. }),
        matmul: MatmulPrecision::F32,
        rank_by_decoder_norm: false,
        threshold: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{device, to_vec, Cpu};

    #[test]
    fn decoder_rows_have_the_requested_norm_and_encoder_is_the_transpose() {
        let sae = init_sae::<Cpu>(16, 64, Activation::Relu, 0.1, 3, &device());
        for norm in to_vec(sae.decoder_norms()) {
            assert!((norm - 0.1).abs() < 1e-6, "norm {norm}");
        }
        assert_eq!(to_vec(sae.w_enc.clone()), to_vec(sae.w_dec.clone().transpose()));
        assert!(to_vec(sae.b_enc).iter().all(|&v| v == 0.0));
        assert!(to_vec(sae.b_dec).iter().all(|&v| v == 0.0));
        assert!(!sae.apply_b_dec_to_input);
    }

    #[test]
    fn directions_are_random_but_seeded() {
        let a = decoder_rows(8, 4, 1.0, 1);
        assert_eq!(a, decoder_rows(8, 4, 1.0, 1));
        assert_ne!(a, decoder_rows(8, 4, 1.0, 2));
        // Distinct rows: random directions, not copies.
        assert_ne!(a[0..4], a[4..8]);
    }

    #[test]
    fn topk_decoder_is_unit_norm_and_subtracts_b_dec() {
        let sae = init_sae::<Cpu>(8, 16, Activation::TopK { k: 2 }, 1.0, 0, &device());
        for norm in to_vec(sae.decoder_norms()) {
            assert!((norm - 1.0).abs() < 1e-6);
        }
        assert!(sae.apply_b_dec_to_input);
    }
}
