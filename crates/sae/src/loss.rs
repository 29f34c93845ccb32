//! Training losses, their metrics, and their gradients written out by hand.
//!
//! Why by hand: an SAE has four parameter tensors and a two-matmul forward pass, so its
//! backward pass is four matmuls that can be written down; doing so skips the autodiff graph
//! on the hot path, lets the global gradient norm be clipped across all parameters, and keeps
//! the optimiser state plain tensors that checkpoint exactly. The `autodiff_agrees` tests
//! check every gradient here against burn's `Autodiff` backend on the same forward pass.
//!
//! With `e = x̂ - x` over a batch of `B` rows, `n_i = ‖W_dec,i‖` and total variance
//! `V = Σ_b ‖x_b - x̄‖²`:
//! - ReLU (Anthropic, April 2024): `L = Σ e² / B + λ · Σ_b Σ_i f_bi·n_i / B`.
//! - TopK (Gao et al. 2024): `L = Σ e² / V + α · L_aux`, where `L_aux = Σ (ê - t)² / V_t`
//!   reconstructs the detached residual `t = x - x̂` from the top `k_aux` pre-activations
//!   among dead latents (`ê = z_aux·W_dec`), and is 0 when no latent is dead.
//!
//! - JumpReLU (Rajamanoharan et al. 2024): `L = Σ e² / V + λ · Σ_b L0_b / B`, on TopK's
//!   scale, with `L0_b = Σ_i H(pre_bi - θ_i)`. `f = pre·H(pre - θ)` has its true derivative
//!   `H(pre - θ)` in `pre`; in `θ`, where the true one is 0 almost everywhere, the
//!   straight-through pseudo-derivatives `∂f/∂θ := -(θ/ε)·K((pre - θ)/ε)` and
//!   `∂H/∂θ := -(1/ε)·K((pre - θ)/ε)` with the rectangle kernel `K(u) = 1{|u| < 1/2}` and
//!   bandwidth ε (their eq. 11–12; the L0 term gives `pre` no gradient). The gradient is in
//!   raw θ, which Adam steps ([`crate::optim`] says why not `log θ`).
//!
//! TopK's and JumpReLU's gradients are those of `r·L` with `r = V / B` held constant (the batch's variance
//! per row), so that their reconstruction part is the gradient of the per-row squared error
//! `Σ e² / B`: the scale of the ReLU objective and of SAELens's TopK loss. Adam is blind to
//! a constant factor except through ε, and clipping is not: with the factor, `grad_clip_norm`
//! and `adam_epsilon` mean the same for both architectures and the same as in SAELens and
//! PyTorch code, whatever the data's variance. (`L` itself, Gao's normalised scale, is what
//! the metrics report.)
//!
//! ## Reference
//! docs/METHODS.md §1.3 (ReLU recipe), §1.7 (TopK, AuxK with α = 1/32) and §1.7c (JumpReLU);
//! Gao et al. 2024, arXiv:2406.04093 §2.3 and App. A.2; Rajamanoharan et al. 2024,
//! arXiv:2407.14435 §3–4.

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor};

use saescale_spec::TopkKernel;

use crate::model::{top_k_relu, Activation, Sae};

/// Which loss to take the gradient of.
#[derive(Debug, Clone)]
pub enum Objective<B: Backend> {
    /// MSE plus the decoder-norm-weighted L1 penalty with coefficient `l1_coefficient`
    /// (the warmed-up value at this step).
    Relu {
        /// λ at this step.
        l1_coefficient: f64,
    },
    /// Normalised MSE plus the AuxK loss on dead latents.
    TopK {
        /// Weight α of the AuxK loss.
        auxk_coefficient: f64,
        /// Dead latents the AuxK loss may use.
        auxk_k: usize,
        /// Which latents are dead, `None` when none is (the AuxK loss is then 0 and skipped).
        /// `[features]`
        dead: Option<Tensor<B, 1, Bool>>,
        /// Full-width latents here, or the k active ones in [`crate::sparse`].
        kernel: TopkKernel,
    },
    /// Normalised MSE plus the L0 penalty, with straight-through gradients for the thresholds.
    JumpRelu {
        /// λ at this step (the warmed-up value).
        l0_coefficient: f64,
        /// Bandwidth ε of the rectangle kernel, on the pre-activations' scale.
        bandwidth: f64,
    },
}

/// Gradients of the loss with respect to each parameter (same shapes as [`Sae`]'s fields).
/// The same struct holds Adam's moments.
#[derive(Debug, Clone)]
pub struct Gradients<B: Backend> {
    /// `[d_in, features]`
    pub w_enc: Tensor<B, 2>,
    /// `[features]`
    pub b_enc: Tensor<B, 1>,
    /// `[features, d_in]`
    pub w_dec: Tensor<B, 2>,
    /// `[d_in]`
    pub b_dec: Tensor<B, 1>,
    /// JumpReLU's thresholds θ (`None` for the other activations). `[features]`
    pub threshold: Option<Tensor<B, 1>>,
}

/// Scalar results of one batch, as one-element tensors so that nothing waits on the device
/// until a caller reads them.
#[derive(Debug, Clone)]
pub struct BatchStats<B: Backend> {
    /// The training objective.
    pub loss: Tensor<B, 1>,
    /// Mean over rows of `‖x - x̂‖²`.
    pub mse: Tensor<B, 1>,
    /// Fraction of variance unexplained `Σ e² / V`.
    pub fvu: Tensor<B, 1>,
    /// Mean over rows of `Σ_i f_i·‖W_dec,i‖`.
    pub l1: Tensor<B, 1>,
    /// Mean number of active latents per row.
    pub l0: Tensor<B, 1>,
    /// The AuxK loss (TopK only).
    pub auxk: Option<Tensor<B, 1>>,
}

/// Everything one training step needs from a batch.
#[derive(Debug, Clone)]
pub struct StepResult<B: Backend> {
    /// Loss and metrics of the batch.
    pub stats: BatchStats<B>,
    /// Gradients of `stats.loss`.
    pub gradients: Gradients<B>,
    /// Latents that were active on at least one row. `[features]`
    pub fired: Tensor<B, 1, Bool>,
    /// BatchTopK: the smallest ranking value among the active latents (`f32::MAX` when none
    /// is active), which its inference threshold tracks; `None` for other activations. `[1]`
    pub min_active_ranking: Option<Tensor<B, 1>>,
}

/// Metrics of a batch without gradients, for evaluation, and the number of rows each latent
/// is active on (`[features]`); `x` is `[batch, d_in]`.
pub fn batch_stats<B: Backend>(sae: &Sae<B>, x: Tensor<B, 2>, l1_coefficient: f64) -> (BatchStats<B>, Tensor<B, 1>) {
    let forward = sae.forward(x.clone());
    let parts = Parts::new(sae, &x, &forward.latents, &forward.reconstruction);
    let loss = parts.mse.clone() + parts.l1.clone().mul_scalar(l1_coefficient);
    let firing_rows = forward.active.clone().float().sum_dim(0).squeeze_dim(0);
    (parts.into_stats(loss, forward.active, None), firing_rows)
}

/// Loss, metrics and gradients of one batch `x` (`[batch, d_in]`).
pub fn loss_and_gradients<B: Backend>(sae: &Sae<B>, x: Tensor<B, 2>, objective: &Objective<B>) -> StepResult<B> {
    if let (Objective::TopK { auxk_coefficient, auxk_k, dead, kernel: TopkKernel::Sparse }, Activation::TopK { k }) =
        (objective, sae.activation)
    {
        return crate::sparse::topk_loss_and_gradients(sae, x, k, *auxk_coefficient, *auxk_k, dead.as_ref());
    }
    let forward = sae.forward(x.clone());
    let parts = Parts::new(sae, &x, &forward.latents, &forward.reconstruction);
    let fired = forward.active.clone().any_dim(0).squeeze_dim(0);
    let min_active_ranking = matches!(sae.activation, Activation::BatchTopK { .. })
        .then(|| sae.ranking(&forward.pre).mask_fill(forward.active.clone().bool_not(), f32::MAX).min());
    let rows = x.dims()[0] as f64;
    let error = forward.reconstruction.clone() - x.clone();

    let (loss, auxk, d_pre, w_dec_grad, b_dec_grad, threshold_grad) = match objective {
        Objective::Relu { l1_coefficient } => {
            let lambda = *l1_coefficient;
            let d_recon = error.mul_scalar(2.0 / rows);
            let norms = parts.norms.clone();
            // ∂/∂W_dec of the penalty: λ/B · (Σ_b f_bi) · W_dec,i / n_i.
            let latent_mass = forward.latents.clone().sum_dim(0).transpose(); // [features, 1]
            let penalty_grad = sae.w_dec.clone() / norms.clone().unsqueeze_dim(1) * latent_mass.mul_scalar(lambda / rows);
            let w_dec_grad = sae.matmul.matmul(forward.latents.clone().transpose(), d_recon.clone()) + penalty_grad;
            let d_latents = sae.matmul.matmul(d_recon.clone(), sae.w_dec.clone().transpose()) + norms.mul_scalar(lambda / rows).unsqueeze();
            let d_pre = d_latents.mask_fill(forward.active.clone().bool_not(), 0.0);
            let loss = parts.mse.clone() + parts.l1.clone().mul_scalar(lambda);
            (loss, None, d_pre, w_dec_grad, d_recon.sum_dim(0).squeeze_dim(0), None)
        }
        Objective::TopK { auxk_coefficient, auxk_k, dead, .. } => {
            // r·∂(Σe²/V)/∂x̂ = 2e/B (module docs).
            let d_recon = error.clone().mul_scalar(2.0 / rows);
            let gradient_scale = parts.variance.clone().div_scalar(rows);
            let mut w_dec_grad = sae.matmul.matmul(forward.latents.clone().transpose(), d_recon.clone());
            let mut d_pre =
                sae.matmul.matmul(d_recon.clone(), sae.w_dec.clone().transpose()).mask_fill(forward.active.clone().bool_not(), 0.0);

            let (loss, auxk) = match dead {
                Some(dead) => {
                    let aux = auxk_terms(sae, &forward.pre, error.neg().detach(), dead, *auxk_k, *auxk_coefficient, gradient_scale);
                    w_dec_grad = w_dec_grad + aux.w_dec_grad;
                    d_pre = d_pre + aux.d_pre;
                    (parts.fvu.clone() + aux.loss.clone().mul_scalar(*auxk_coefficient), aux.loss)
                }
                None => (parts.fvu.clone(), Tensor::zeros([1], &sae.w_dec.device())),
            };
            (loss, Some(auxk), d_pre, w_dec_grad, d_recon.sum_dim(0).squeeze_dim(0), None)
        }
        Objective::JumpRelu { l0_coefficient, bandwidth } => {
            let threshold = sae.threshold.clone().expect("a JumpReLU SAE in training has its thresholds");
            // The thresholds compare with `pre` itself: its decoder rows are unit-norm.
            debug_assert!(!sae.rank_by_decoder_norm, "JumpReLU trains with rank_by_decoder_norm = false");
            // r·∂(Σe²/V)/∂x̂ = 2e/B and r·λ·∂(Σ L0 / B) (module docs).
            let d_recon = error.mul_scalar(2.0 / rows);
            let l0_scale = parts.variance.clone().mul_scalar(*l0_coefficient / (rows * rows));
            let w_dec_grad = sae.matmul.matmul(forward.latents.clone().transpose(), d_recon.clone());
            let d_latents = sae.matmul.matmul(d_recon.clone(), sae.w_dec.clone().transpose());
            let d_pre = d_latents.clone().mask_fill(forward.active.clone().bool_not(), 0.0);
            let threshold_grad = straight_through_threshold_grad(&forward.pre, &threshold, d_latents, l0_scale, *bandwidth);
            let l0 = forward.active.clone().float().sum().div_scalar(rows);
            let loss = parts.fvu.clone() + l0.mul_scalar(*l0_coefficient);
            (loss, None, d_pre, w_dec_grad, d_recon.sum_dim(0).squeeze_dim(0), Some(threshold_grad))
        }
    };

    let b_enc_grad: Tensor<B, 1> = d_pre.clone().sum_dim(0).squeeze_dim(0);
    let w_enc_grad = sae.matmul.matmul(forward.input.clone().transpose(), d_pre);
    // When the encoder's input is x - b_dec, b_dec also reaches the loss through it.
    let b_dec_grad = if sae.apply_b_dec_to_input {
        b_dec_grad - sae.w_enc.clone().matmul(b_enc_grad.clone().unsqueeze_dim(1)).squeeze_dim(1)
    } else {
        b_dec_grad
    };
    StepResult {
        stats: parts.into_stats(loss, forward.active, auxk),
        gradients: Gradients { w_enc: w_enc_grad, b_enc: b_enc_grad, w_dec: w_dec_grad, b_dec: b_dec_grad, threshold: threshold_grad },
        fired,
        min_active_ranking,
    }
}

/// Loss terms every objective reports.
struct Parts<B: Backend> {
    mse: Tensor<B, 1>,
    fvu: Tensor<B, 1>,
    l1: Tensor<B, 1>,
    variance: Tensor<B, 1>,
    norms: Tensor<B, 1>,
}

impl<B: Backend> Parts<B> {
    fn new(sae: &Sae<B>, x: &Tensor<B, 2>, latents: &Tensor<B, 2>, reconstruction: &Tensor<B, 2>) -> Self {
        let rows = x.dims()[0] as f64;
        let squared_error = (reconstruction.clone() - x.clone()).square().sum();
        let variance = total_variance(x.clone());
        let norms = sae.decoder_norms();
        let l1 = latents.clone().matmul(norms.clone().unsqueeze_dim(1)).sum().div_scalar(rows);
        Parts { mse: squared_error.clone().div_scalar(rows), fvu: squared_error / variance.clone(), l1, variance, norms }
    }

    fn into_stats(self, loss: Tensor<B, 1>, active: Tensor<B, 2, Bool>, auxk: Option<Tensor<B, 1>>) -> BatchStats<B> {
        let rows = active.dims()[0] as f64;
        let l0 = active.float().sum().div_scalar(rows);
        BatchStats { loss, mse: self.mse, fvu: self.fvu, l1: self.l1, l0, auxk }
    }
}

/// `Σ_b ‖x_b - x̄‖²` over the rows of `x`. `[batch, d] -> [1]`
pub fn total_variance<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 1> {
    let mean = x.clone().mean_dim(0);
    (x - mean).square().sum()
}

/// JumpReLU's straight-through gradient in the thresholds θ (module docs): over the entries
/// whose pre-activation is within ε/2 of its threshold, `-(θ_i/ε)·Σ_b d_latents_bi` from the
/// reconstruction and `-(l0_scale/ε)·count_i` from the L0 penalty (`l0_scale = r·λ/B`, `[1]`).
///
/// # Shapes
/// `pre`, `d_latents`: `[batch, features]`; `threshold`: `[features]` → `[features]`.
fn straight_through_threshold_grad<B: Backend>(
    pre: &Tensor<B, 2>,
    threshold: &Tensor<B, 1>,
    d_latents: Tensor<B, 2>,
    l0_scale: Tensor<B, 1>,
    bandwidth: f64,
) -> Tensor<B, 1> {
    let near = (pre.clone() - threshold.clone().unsqueeze()).abs().lower_elem(bandwidth / 2.0).float();
    let reconstruction = (d_latents * near.clone()).sum_dim(0).squeeze_dim(0) * threshold.clone();
    let penalty = near.sum_dim(0).squeeze_dim(0) * l0_scale;
    (reconstruction + penalty).div_scalar(-bandwidth)
}

/// The AuxK loss and its gradient contributions.
struct AuxK<B: Backend> {
    loss: Tensor<B, 1>,
    d_pre: Tensor<B, 2>,
    w_dec_grad: Tensor<B, 2>,
}

/// AuxK: reconstruct the residual `target = x - x̂` (detached) from the `k_aux` dead latents
/// that rank highest ([`Sae::ranking`]). Live latents are masked to -∞ before the top-k and so
/// contribute nothing; with no dead latent at all, the loss and its gradients are zero. The
/// gradients carry the factor `gradient_scale` (`r` of the module docs, `[1]`).
fn auxk_terms<B: Backend>(
    sae: &Sae<B>,
    pre: &Tensor<B, 2>,
    target: Tensor<B, 2>,
    dead: &Tensor<B, 1, Bool>,
    auxk_k: usize,
    coefficient: f64,
    gradient_scale: Tensor<B, 1>,
) -> AuxK<B> {
    let features = pre.dims()[1];
    let live = dead.clone().bool_not().unsqueeze::<2>().expand(pre.shape());
    // Both masked: where fewer latents are dead than k_aux, the -∞ of live ones is what is
    // kept, and the ReLU makes it 0.
    let (latents, active) = top_k_relu(
        pre.clone().mask_fill(live.clone(), f32::NEG_INFINITY),
        sae.ranking(pre).mask_fill(live, f32::NEG_INFINITY),
        auxk_k.min(features),
    );
    let any_dead = dead.clone().any().float();
    let reconstruction = sae.matmul.matmul(latents.clone(), sae.w_dec.clone());
    let residual = reconstruction - target.clone();
    let variance = total_variance(target).unsqueeze();
    let loss = residual.clone().square().sum().unsqueeze() / variance.clone();
    let d_recon = residual.mul_scalar(2.0 * coefficient) * (gradient_scale.unsqueeze() / variance);
    let w_dec_grad = sae.matmul.matmul(latents.transpose(), d_recon.clone());
    let d_pre = sae.matmul.matmul(d_recon, sae.w_dec.clone().transpose()).mask_fill(active.bool_not(), 0.0);
    AuxK { loss: loss.squeeze_dim(0) * any_dead, d_pre, w_dec_grad }
}

/// Removes from each decoder-row gradient its component along that row, so that a step keeps
/// unit-norm rows at unit norm to first order (Gao et al. 2024, §2.4).
///
/// # Shapes
/// `w_dec`, `gradient`: `[features, d_in]`, rows of `w_dec` of unit norm.
pub fn project_out_parallel<B: Backend>(w_dec: &Tensor<B, 2>, gradient: Tensor<B, 2>) -> Tensor<B, 2> {
    let along = (gradient.clone() * w_dec.clone()).sum_dim(1);
    gradient - w_dec.clone() * along
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::init_sae;
    use crate::test_util::{device, tensor2, to_vec, Cpu};
    use burn::backend::Autodiff;
    use burn::tensor::{Distribution, TensorData};

    type Ad = Autodiff<Cpu>;

    fn random_input<B: Backend>(rows: usize, d: usize) -> Tensor<B, 2> {
        let data: Vec<f32> = (0..rows * d).map(|i| ((i * 7919 % 113) as f32 / 113.0 - 0.4) * 2.0).collect();
        Tensor::from_data(TensorData::new(data, [rows, d]), &Default::default())
    }

    /// A small SAE with non-trivial biases, on the autodiff backend, tracking gradients.
    fn tracked_sae(activation: Activation, apply_b_dec: bool) -> Sae<Ad> {
        let mut sae = init_sae::<Ad>(6, 12, activation, 0.5, 11, &Default::default());
        sae.b_enc = Tensor::random([12], Distribution::Uniform(-0.2, 0.2), &Default::default());
        sae.b_dec = Tensor::random([6], Distribution::Uniform(-0.2, 0.2), &Default::default());
        sae.apply_b_dec_to_input = apply_b_dec;
        Sae {
            w_enc: sae.w_enc.require_grad(),
            b_enc: sae.b_enc.require_grad(),
            w_dec: sae.w_dec.require_grad(),
            b_dec: sae.b_dec.require_grad(),
            ..sae
        }
    }

    /// [`tracked_sae`] with a free decoder whose row `i` has norm `norm(i)`, ranked by the norms.
    fn ranked_by_norms(activation: Activation, norm: impl Fn(usize) -> f32) -> Sae<Ad> {
        let mut sae = tracked_sae(activation, true);
        let norms = Tensor::<Cpu, 1>::from_data(TensorData::new((0..12).map(norm).collect::<Vec<_>>(), [12]), &device());
        sae.w_dec = Tensor::from_inner(sae.w_dec.inner() * norms.unsqueeze_dim(1)).require_grad();
        sae.rank_by_decoder_norm = true;
        sae
    }

    /// The dead mask of the 12 latents of [`tracked_sae`]: latent `i` is dead where `dead(i)`.
    fn dead_where(dead: impl Fn(usize) -> bool) -> Tensor<Ad, 1, Bool> {
        Tensor::from_data(TensorData::new((0..12).map(dead).collect::<Vec<_>>(), [12]), &Default::default())
    }

    /// `manual` against `factor · auto`.
    fn assert_close<const D: usize>(name: &str, manual: Tensor<Cpu, D>, auto: Tensor<Cpu, D>, factor: f32) {
        let m = to_vec(manual);
        let a: Vec<f32> = to_vec(auto).into_iter().map(|v| v * factor).collect();
        let scale = a.iter().fold(1e-6f32, |s, v| s.max(v.abs()));
        for (i, (x, y)) in m.iter().zip(&a).enumerate() {
            assert!((x - y).abs() <= 2e-4 * scale, "{name}[{i}]: manual {x} vs autodiff {y}");
        }
    }

    /// The hand-written gradients are those of the reported loss, times `r = V/B` for TopK
    /// (module docs).
    fn check_against_autodiff(sae: Sae<Ad>, objective: Objective<Ad>) {
        let x = random_input::<Ad>(9, 6);
        let factor = match objective {
            Objective::Relu { .. } => 1.0,
            Objective::TopK { .. } | Objective::JumpRelu { .. } => to_vec(total_variance(x.clone().inner()))[0] / 9.0,
        };
        let result = loss_and_gradients(&sae, x, &objective);
        let grads = result.stats.loss.backward();
        assert_close("w_enc", result.gradients.w_enc.inner(), sae.w_enc.grad(&grads).unwrap(), factor);
        assert_close("b_enc", result.gradients.b_enc.inner(), sae.b_enc.grad(&grads).unwrap(), factor);
        assert_close("w_dec", result.gradients.w_dec.inner(), sae.w_dec.grad(&grads).unwrap(), factor);
        assert_close("b_dec", result.gradients.b_dec.inner(), sae.b_dec.grad(&grads).unwrap(), factor);
    }

    #[test]
    fn autodiff_agrees_relu() {
        check_against_autodiff(tracked_sae(Activation::Relu, false), Objective::Relu { l1_coefficient: 0.7 });
    }

    #[test]
    fn autodiff_agrees_relu_with_b_dec_subtracted() {
        check_against_autodiff(tracked_sae(Activation::Relu, true), Objective::Relu { l1_coefficient: 0.3 });
    }

    #[test]
    fn autodiff_agrees_topk_with_auxk() {
        let objective = Objective::TopK { auxk_coefficient: 1.0 / 32.0, auxk_k: 3, dead: Some(dead_where(|i| i % 3 == 0)), kernel: TopkKernel::Dense };
        check_against_autodiff(tracked_sae(Activation::TopK { k: 4 }, true), objective);
    }

    #[test]
    fn autodiff_agrees_topk_ranked_by_decoder_norm() {
        // A free decoder with rows of unequal norms, ranked by them: the selection changes,
        // the gradients are still those of the kept latents' loss.
        let sae = ranked_by_norms(Activation::TopK { k: 4 }, |i| 0.2 + 0.3 * i as f32);
        let objective = Objective::TopK { auxk_coefficient: 1.0 / 32.0, auxk_k: 3, dead: Some(dead_where(|i| i % 3 == 0)), kernel: TopkKernel::Dense };
        check_against_autodiff(sae, objective);
    }

    #[test]
    fn autodiff_agrees_batch_topk_with_auxk() {
        let sae = ranked_by_norms(Activation::BatchTopK { k: 3 }, |i| 1.5 - 0.1 * i as f32);
        let objective = Objective::TopK { auxk_coefficient: 1.0 / 32.0, auxk_k: 2, dead: Some(dead_where(|i| i % 4 == 1)), kernel: TopkKernel::Dense };
        check_against_autodiff(sae, objective);
    }

    /// Autodiff cannot see a straight-through estimator, so it differentiates a surrogate
    /// with the same value whose derivative in θ is the pseudo-derivative: the ramp
    /// `clamp((pre - θ)/ε + 1/2, 0, 1)` has slope `-(1/ε)·K((pre - θ)/ε)` in θ, and
    /// `ramp - detach(ramp)` adds it at no value.
    #[test]
    fn autodiff_agrees_jumprelu_through_a_ramp_surrogate() {
        let (bandwidth, lambda, rows) = (0.6, 0.05, 9);
        let mut sae = tracked_sae(Activation::JumpRelu, false);
        let thresholds: Vec<f32> = (0..12).map(|i| 0.05 + 0.04 * i as f32).collect();
        let tracked_threshold = Tensor::<Ad, 1>::from_data(TensorData::new(thresholds, [12]), &Default::default()).require_grad();
        sae.threshold = Some(tracked_threshold.clone());
        let x = random_input::<Ad>(rows, 6);
        let result = loss_and_gradients(&sae, x.clone(), &Objective::JumpRelu { l0_coefficient: lambda, bandwidth });

        let threshold = sae.threshold.clone().unwrap().unsqueeze::<2>();
        let pre = sae.pre_activations(sae.encoder_input(x.clone()));
        let mask = pre.clone().greater(threshold.clone()).float();
        let ramp = (pre.clone().detach() - threshold.clone()).div_scalar(bandwidth).add_scalar(0.5).clamp(0.0, 1.0);
        let jump = ramp.clone() - ramp.detach();
        let latents = pre * mask.clone() + jump.clone() * threshold.detach();
        let l0 = (mask.clone() + jump).sum().div_scalar(rows as f64);
        let variance = total_variance(x.clone());
        let loss = (sae.decode(latents) - x.clone()).square().sum() / variance.clone() + l0.mul_scalar(lambda);
        assert_close("loss", result.stats.loss.clone().inner(), loss.clone().inner(), 1.0);

        let factor = to_vec(variance.inner())[0] / rows as f32;
        let grads = loss.backward();
        let threshold_grad = tracked_threshold.grad(&grads).unwrap();
        assert!(to_vec(threshold_grad.clone()).iter().filter(|g| g.abs() > 0.0).count() >= 6, "most thresholds have pre-activations within ε/2");
        assert_close("threshold", result.gradients.threshold.unwrap().inner(), threshold_grad, factor);
        assert_close("w_enc", result.gradients.w_enc.inner(), sae.w_enc.grad(&grads).unwrap(), factor);
        assert_close("b_enc", result.gradients.b_enc.inner(), sae.b_enc.grad(&grads).unwrap(), factor);
        assert_close("w_dec", result.gradients.w_dec.inner(), sae.w_dec.grad(&grads).unwrap(), factor);
        assert_close("b_dec", result.gradients.b_dec.inner(), sae.b_dec.grad(&grads).unwrap(), factor);
    }

    #[test]
    fn batch_topk_reports_the_smallest_active_ranking() {
        let mut sae = init_sae::<Cpu>(6, 12, Activation::BatchTopK { k: 3 }, 1.0, 2, &device());
        sae.rank_by_decoder_norm = true;
        sae.w_dec = sae.w_dec.clone() * Tensor::<Cpu, 1>::from_data(TensorData::new((0..12).map(|i| 0.5 + 0.1 * i as f32).collect::<Vec<_>>(), [12]), &device()).unsqueeze_dim(1);
        let x = random_input::<Cpu>(9, 6);
        let objective = Objective::TopK { auxk_coefficient: 1.0 / 32.0, auxk_k: 3, dead: None, kernel: TopkKernel::Dense };
        let result = loss_and_gradients(&sae, x.clone(), &objective);
        let forward = sae.forward(x);
        let (ranking, latents) = (to_vec(sae.ranking(&forward.pre)), to_vec(forward.latents));
        let expected = ranking.iter().zip(&latents).filter(|(_, &f)| f > 0.0).map(|(&r, _)| r).fold(f32::MAX, f32::min);
        assert!(expected < f32::MAX, "some latent is active");
        assert_eq!(to_vec(result.min_active_ranking.unwrap()), vec![expected]);
        // 27 of the 9·12 entries are kept before the ReLU.
        assert!(latents.iter().filter(|&&f| f > 0.0).count() <= 27);
    }

    #[test]
    fn auxk_is_zero_without_dead_latents() {
        let sae = init_sae::<Cpu>(6, 12, Activation::TopK { k: 4 }, 1.0, 1, &device());
        let dead = Tensor::<Cpu, 1, Bool>::from_data(TensorData::new(vec![false; 12], [12]), &device());
        let objective = Objective::TopK { auxk_coefficient: 1.0 / 32.0, auxk_k: 3, dead: Some(dead), kernel: TopkKernel::Dense };
        let result = loss_and_gradients(&sae, random_input::<Cpu>(9, 6), &objective);
        assert_eq!(to_vec(result.stats.auxk.clone().unwrap()), vec![0.0]);
        assert_eq!(to_vec(result.stats.loss.clone()), to_vec(result.stats.fvu.clone()));
        // Skipping the AuxK terms when no latent is dead changes nothing.
        let skipped = loss_and_gradients(&sae, random_input::<Cpu>(9, 6), &Objective::TopK { auxk_coefficient: 1.0 / 32.0, auxk_k: 3, dead: None, kernel: TopkKernel::Dense });
        assert_eq!(to_vec(skipped.stats.auxk.unwrap()), vec![0.0]);
        assert_eq!(to_vec(skipped.stats.loss), to_vec(result.stats.loss));
        let (a, b) = (&result.gradients, &skipped.gradients);
        assert_eq!(a.w_enc.to_data(), b.w_enc.to_data());
        assert_eq!(a.b_enc.to_data(), b.b_enc.to_data());
        assert_eq!(a.w_dec.to_data(), b.w_dec.to_data());
        assert_eq!(a.b_dec.to_data(), b.b_dec.to_data());
    }

    #[test]
    fn perfect_reconstruction_has_zero_fvu_and_mse() {
        // Identity SAE on non-negative inputs: x̂ = x exactly.
        let sae = Sae::<Cpu> {
            w_enc: tensor2(&[[1.0, 0.0], [0.0, 1.0]]),
            b_enc: Tensor::zeros([2], &device()),
            w_dec: tensor2(&[[1.0, 0.0], [0.0, 1.0]]),
            b_dec: Tensor::zeros([2], &device()),
            activation: Activation::Relu,
            apply_b_dec_to_input: false,
            matmul: crate::MatmulPrecision::F32,
            rank_by_decoder_norm: false,
            threshold: None,
        };
        let (stats, firing_rows) = batch_stats(&sae, tensor2(&[[1.0, 2.0], [3.0, 0.0]]), 5.0);
        assert_eq!(to_vec(stats.mse), vec![0.0]);
        assert_eq!(to_vec(stats.fvu), vec![0.0]);
        // L1 = mean over rows of Σ f_i·‖W_dec,i‖ = (3 + 3) / 2; loss = 0 + 5·3.
        assert_eq!(to_vec(stats.l1), vec![3.0]);
        assert_eq!(to_vec(stats.loss), vec![15.0]);
        // Latent 0 is active on both rows, latent 1 on the first only.
        assert_eq!(to_vec(firing_rows), vec![2.0, 1.0]);
        assert_eq!(to_vec(stats.l0), vec![1.5]);
    }

    #[test]
    fn projection_removes_the_parallel_component() {
        let w = tensor2(&[[1.0, 0.0], [0.0, 1.0]]);
        let g = tensor2(&[[3.0, 4.0], [5.0, 6.0]]);
        assert_eq!(to_vec(project_out_parallel(&w, g)), vec![0.0, 4.0, 5.0, 0.0]);
    }
}
