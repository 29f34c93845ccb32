//! The SAE's parameters and its forward pass.

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor, TensorData};
use rayon::prelude::*;

use crate::precision::MatmulPrecision;
use crate::select::top_k_indices;

/// How pre-activations become latents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `f = max(pre, 0)`.
    Relu,
    /// Keep the `k` largest pre-activations of each row, then ReLU; zero the rest.
    TopK {
        /// Latents kept per row.
        k: usize,
    },
    /// BatchTopK (Bussmann et al. 2024): keep the `k·batch` largest pre-activations of the
    /// whole batch, then ReLU, so rows share a budget of `k` per row on average. Training only;
    /// its inference form is [`Activation::JumpRelu`] with the threshold learned meanwhile.
    BatchTopK {
        /// Mean latents kept per row.
        k: usize,
    },
    /// JumpReLU: `f_i = pre_i` where the ranking ([`Sae::ranking`]) exceeds [`Sae::threshold`]`_i`,
    /// 0 elsewhere (thresholds are ≥ 0, so what passes is positive).
    JumpRelu,
}

/// A sparse autoencoder `x̂ = f(W_encᵀ-style encode(x))·W_dec + b_dec`, in SAELens's layout.
///
/// # Shapes
/// - `w_enc`: `[d_in, features]`
/// - `b_enc`: `[features]`
/// - `w_dec`: `[features, d_in]` (row `i` is latent `i`'s decoder direction)
/// - `b_dec`: `[d_in]`
#[derive(Debug, Clone)]
pub struct Sae<B: Backend> {
    /// Encoder weights.
    pub w_enc: Tensor<B, 2>,
    /// Encoder bias.
    pub b_enc: Tensor<B, 1>,
    /// Decoder weights.
    pub w_dec: Tensor<B, 2>,
    /// Decoder bias.
    pub b_dec: Tensor<B, 1>,
    /// The latent nonlinearity.
    pub activation: Activation,
    /// Whether `b_dec` is subtracted from the input before encoding. Anthropic's April-2024
    /// recipe does not (false); Gao et al.'s TopK SAE does (b_pre, true).
    pub apply_b_dec_to_input: bool,
    /// Number format of the encoder and decoder products (and of the backward pass's).
    pub matmul: MatmulPrecision,
    /// TopK with a free decoder: latents are ranked by their contribution `pre_i·‖W_dec,i‖`
    /// rather than by `pre_i` (SAELens's `rescale_acts_by_decoder_norm`), so a row's norm
    /// drifting does not change which latents win. The kept value is still `max(pre_i, 0)`.
    pub rank_by_decoder_norm: bool,
    /// Per-latent thresholds of [`Activation::JumpRelu`], on the ranking's scale; `None` for
    /// the other activations (and read as all-zero thresholds, i.e. ReLU, by JumpReLU).
    /// `[features]`
    pub threshold: Option<Tensor<B, 1>>,
}

/// Everything the forward pass computed, kept for the backward pass and for metrics.
#[derive(Debug, Clone)]
pub struct ForwardOutput<B: Backend> {
    /// The encoder's input: `x`, or `x - b_dec` when `apply_b_dec_to_input`. `[batch, d_in]`
    pub input: Tensor<B, 2>,
    /// Pre-activations `input·W_enc + b_enc`. `[batch, features]`
    pub pre: Tensor<B, 2>,
    /// Latents. `[batch, features]`
    pub latents: Tensor<B, 2>,
    /// Where a latent is active (nonzero); the activation's derivative is 1 there, 0 elsewhere. `[batch, features]`
    pub active: Tensor<B, 2, Bool>,
    /// Reconstruction `latents·W_dec + b_dec`. `[batch, d_in]`
    pub reconstruction: Tensor<B, 2>,
}

impl<B: Backend> Sae<B> {
    /// Number of latents.
    pub fn features(&self) -> usize {
        self.w_dec.dims()[0]
    }

    /// Input width.
    pub fn d_in(&self) -> usize {
        self.w_dec.dims()[1]
    }

    /// The encoder's input for `x`. `[batch, d_in] -> [batch, d_in]`
    pub fn encoder_input(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        if self.apply_b_dec_to_input {
            x - self.b_dec.clone().unsqueeze()
        } else {
            x
        }
    }

    /// Pre-activations of an encoder input. `[batch, d_in] -> [batch, features]`
    pub fn pre_activations(&self, input: Tensor<B, 2>) -> Tensor<B, 2> {
        self.encoder_product(input) + self.b_enc.clone().unsqueeze()
    }

    /// The pre-activations before the encoder bias. `[batch, d_in] -> [batch, features]`
    pub fn encoder_product(&self, input: Tensor<B, 2>) -> Tensor<B, 2> {
        self.matmul.matmul(input, self.w_enc.clone())
    }

    /// Latents from pre-activations, and the mask of active latents.
    /// `[batch, features] -> ([batch, features], [batch, features])`
    pub fn activate(&self, pre: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 2, Bool>) {
        match self.activation {
            Activation::Relu => {
                let active = pre.clone().greater_elem(0.0);
                (pre.mask_fill(active.clone().bool_not(), 0.0), active)
            }
            Activation::TopK { k } => top_k_relu(pre.clone(), self.ranking(&pre), k),
            Activation::BatchTopK { k } => batch_top_k_relu(pre.clone(), self.ranking(&pre), k),
            Activation::JumpRelu => {
                let ranking = self.ranking(&pre);
                let active = match &self.threshold {
                    Some(threshold) => ranking.greater(threshold.clone().unsqueeze()),
                    None => ranking.greater_elem(0.0),
                };
                (pre.mask_fill(active.clone().bool_not(), 0.0), active)
            }
        }
    }

    /// What TopK and BatchTopK rank latents by (and JumpReLU compares with its thresholds): `pre`, or `pre_i·‖W_dec,i‖` with
    /// [`Sae::rank_by_decoder_norm`]. `[batch, features] -> [batch, features]`
    pub fn ranking(&self, pre: &Tensor<B, 2>) -> Tensor<B, 2> {
        if self.rank_by_decoder_norm {
            self.ranking_given_norms(pre, &self.decoder_norms())
        } else {
            pre.clone()
        }
    }

    /// [`Sae::ranking`] with the decoder norms already at hand (`[features]`).
    pub fn ranking_given_norms(&self, pre: &Tensor<B, 2>, decoder_norms: &Tensor<B, 1>) -> Tensor<B, 2> {
        if self.rank_by_decoder_norm {
            pre.clone() * decoder_norms.clone().unsqueeze()
        } else {
            pre.clone()
        }
    }

    /// Reconstruction from latents. `[batch, features] -> [batch, d_in]`
    pub fn decode(&self, latents: Tensor<B, 2>) -> Tensor<B, 2> {
        self.matmul.matmul(latents, self.w_dec.clone()) + self.b_dec.clone().unsqueeze()
    }

    /// The whole forward pass. `[batch, d_in] -> ForwardOutput`
    pub fn forward(&self, x: Tensor<B, 2>) -> ForwardOutput<B> {
        let input = self.encoder_input(x);
        let pre = self.pre_activations(input.clone());
        let (latents, active) = self.activate(pre.clone());
        let reconstruction = self.decode(latents.clone());
        ForwardOutput { input, pre, latents, active, reconstruction }
    }

    /// L2 norm of each decoder row. `[features]`
    pub fn decoder_norms(&self) -> Tensor<B, 1> {
        if crate::host::tensors_live_on_host::<B>() {
            // One pass over the decoder where it is, instead of a squared copy of it.
            let [features, d] = self.w_dec.dims();
            let norms: Vec<f32> =
                crate::host::read_f32(&self.w_dec, |w_dec| {
                    w_dec.par_chunks(d).map(|row| crate::host::widest_vectors(|| crate::host::dot(row, row)).sqrt()).collect()
                });
            Tensor::from_data(TensorData::new(norms, [features]), &self.w_dec.device())
        } else {
            self.w_dec.clone().square().sum_dim(1).sqrt().squeeze_dim(1)
        }
    }
}

/// `relu(pre)` at the `k` entries of each row that rank highest in `ranking`, zero
/// elsewhere (so exactly `k` entries survive the selection, and those that are not positive
/// are then zeroed by the ReLU). `ranking` is `pre` itself, or a positive per-latent rescaling
/// of it ([`Sae::ranking`]), which keeps the signs. The entries are chosen by
/// [`top_k_indices`], without sorting whole rows on the CPU.
///
/// # Shapes
/// `pre`, `ranking`: `[batch, features]` → latents and active mask, both `[batch, features]`.
pub fn top_k_relu<B: Backend>(pre: Tensor<B, 2>, ranking: Tensor<B, 2>, k: usize) -> (Tensor<B, 2>, Tensor<B, 2, Bool>) {
    let indices = top_k_indices(ranking, k);
    let values = pre.clone().gather(1, indices.clone()).clamp_min(0.0);
    let latents = pre.zeros_like().scatter(1, indices, values, burn::tensor::IndexingUpdateOp::Add);
    let active = latents.clone().greater_elem(0.0);
    (latents, active)
}

/// BatchTopK: `relu(pre)` at the `k·batch` entries of the whole batch that rank highest in
/// `ranking`, zero elsewhere; otherwise as [`top_k_relu`], whose selection it runs over the
/// batch flattened into one row.
///
/// # Shapes
/// `pre`, `ranking`: `[batch, features]` → latents and active mask, both `[batch, features]`.
pub fn batch_top_k_relu<B: Backend>(pre: Tensor<B, 2>, ranking: Tensor<B, 2>, k: usize) -> (Tensor<B, 2>, Tensor<B, 2, Bool>) {
    let [rows, features] = pre.dims();
    let flat = |t: Tensor<B, 2>| t.reshape([1, rows * features]);
    let (latents, active) = top_k_relu(flat(pre), flat(ranking), k * rows);
    (latents.reshape([rows, features]), active.reshape([rows, features]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{tensor1, tensor2, to_vec, Cpu};

    fn two_by_two() -> Sae<Cpu> {
        // d_in = 2, features = 2: encoder and decoder are the identity.
        Sae {
            w_enc: tensor2(&[[1.0, 0.0], [0.0, 1.0]]),
            b_enc: tensor1(&[0.0, -1.0]),
            w_dec: tensor2(&[[1.0, 0.0], [0.0, 2.0]]),
            b_dec: tensor1(&[0.5, 0.5]),
            activation: Activation::Relu,
            apply_b_dec_to_input: false,
            matmul: MatmulPrecision::F32,
            rank_by_decoder_norm: false,
            threshold: None,
        }
    }

    #[test]
    fn relu_forward_by_hand() {
        let sae = two_by_two();
        let out = sae.forward(tensor2(&[[3.0, 0.5], [-1.0, 4.0]]));
        // pre = x + b_enc = [[3, -0.5], [-1, 3]] → f = [[3, 0], [0, 3]]
        assert_eq!(to_vec(out.pre), vec![3.0, -0.5, -1.0, 3.0]);
        assert_eq!(to_vec(out.latents), vec![3.0, 0.0, 0.0, 3.0]);
        // x̂ = f·W_dec + b_dec = [[3.5, 0.5], [0.5, 6.5]]
        assert_eq!(to_vec(out.reconstruction), vec![3.5, 0.5, 0.5, 6.5]);
    }

    #[test]
    fn b_dec_is_subtracted_only_when_asked() {
        let mut sae = two_by_two();
        sae.apply_b_dec_to_input = true;
        let out = sae.forward(tensor2(&[[3.0, 0.5]]));
        // input = x - b_dec = [2.5, 0]; pre = [2.5, -1]
        assert_eq!(to_vec(out.pre), vec![2.5, -1.0]);
    }

    #[test]
    fn top_k_keeps_the_k_largest_positive_entries() {
        // 2×4 example: row 0 keeps 5 and 3; row 1 keeps 2 and zeroes -1 (ReLU).
        let pre = tensor2(&[[1.0, 5.0, -2.0, 3.0], [-4.0, -1.0, 2.0, -3.0]]);
        let (latents, active) = top_k_relu(pre.clone(), pre.clone(), 2);
        assert_eq!(to_vec(latents), vec![0.0, 5.0, 0.0, 3.0, 0.0, 0.0, 2.0, 0.0]);
        let active: Vec<bool> = active.into_data().to_vec().unwrap();
        assert_eq!(active, vec![false, true, false, true, false, false, true, false]);
    }

    #[test]
    fn ranking_by_decoder_norm_picks_by_contribution_and_keeps_pre() {
        // Latent 1's decoder row is twice as long: 0.75·2 beats 1·1 for the single slot.
        let mut sae = two_by_two();
        sae.activation = Activation::TopK { k: 1 };
        sae.b_enc = tensor1(&[0.0, 0.0]);
        let x = tensor2(&[[1.0, 0.75]]);
        assert_eq!(to_vec(sae.forward(x.clone()).latents), vec![1.0, 0.0]);
        sae.rank_by_decoder_norm = true;
        let out = sae.forward(x);
        assert_eq!(to_vec(out.latents), vec![0.0, 0.75]);
        // x̂ = 0.75·[0, 2] + b_dec
        assert_eq!(to_vec(out.reconstruction), vec![0.5, 2.0]);
    }

    #[test]
    fn batch_top_k_shares_the_budget_across_rows() {
        // k = 2 over 2 rows: the batch's 4 largest (5, 3, 2.5, 2) win, 3 from row 0 and 1 from row 1.
        let pre = tensor2(&[[1.0, 5.0, 2.5, 3.0], [-4.0, -1.0, 2.0, -3.0]]);
        let (latents, active) = batch_top_k_relu(pre.clone(), pre.clone(), 2);
        assert_eq!(to_vec(latents), vec![0.0, 5.0, 2.5, 3.0, 0.0, 0.0, 2.0, 0.0]);
        assert_eq!(active.int().sum().into_scalar(), 4);
    }

    #[test]
    fn jump_relu_keeps_what_ranks_above_its_threshold() {
        let mut sae = two_by_two();
        sae.activation = Activation::JumpRelu;
        sae.b_enc = tensor1(&[0.0, 0.0]);
        sae.threshold = Some(tensor1(&[0.5, 1.0]));
        // pre = x; latent 1 is ranked by 2·pre with the norm: 2·0.75 > 1 passes, 0.4 ≤ 0.5 does not.
        sae.rank_by_decoder_norm = true;
        let out = sae.forward(tensor2(&[[0.4, 0.75], [2.0, 0.25]]));
        assert_eq!(to_vec(out.latents), vec![0.0, 0.75, 2.0, 0.0]);
        sae.rank_by_decoder_norm = false;
        assert_eq!(to_vec(sae.forward(tensor2(&[[0.4, 0.75]])).latents), vec![0.0, 0.0]);
    }

    #[test]
    fn decoder_norms_by_hand() {
        assert_eq!(to_vec(two_by_two().decoder_norms()), vec![1.0, 2.0]);
    }

    /// The host norms (one pass over Flex's memory) are the tensor ones to float rounding;
    /// Autodiff<Flex> is not host memory to `crate::host`, so it computes them with tensor ops.
    #[test]
    fn the_host_decoder_norms_are_the_tensor_ones() {
        type Generic = burn::backend::Autodiff<Cpu>;
        let (features, d) = (37, 21);
        let w_dec = Tensor::<Cpu, 2>::random([features, d], burn::tensor::Distribution::Normal(0.0, 1.5), &Default::default());
        let mut host = two_by_two();
        host.w_dec = w_dec.clone();
        let generic: Tensor<Generic, 2> = Tensor::from_data(w_dec.into_data(), &Default::default());
        let expected = generic.square().sum_dim(1).sqrt().squeeze_dim::<1>(1).into_data().to_vec::<f32>().unwrap();
        let norms = to_vec(host.decoder_norms());
        assert_eq!(norms.len(), features);
        for (i, (norm, expected)) in norms.iter().zip(&expected).enumerate() {
            assert!((norm - expected).abs() <= 1e-6 * expected, "row {i}: {norm} vs {expected}");
        }
    }
}
