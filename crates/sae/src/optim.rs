//! Adam without weight decay, and clipping of the global gradient norm.
//!
//! Adam (Kingma & Ba 2015, Algorithm 1; the same update as `torch.optim.Adam`):
//! `m ← β1·m + (1-β1)·g`, `v ← β2·v + (1-β2)·g²`,
//! `p ← p - lr · (m / (1-β1^t)) / (√(v / (1-β2^t)) + ε)`, with `t` counted from 1.
//!
//! Global clipping (`torch.nn.utils.clip_grad_norm_`): with `N = √(Σ over all parameters of
//! Σ g²)`, every gradient is multiplied by `min(1, max_norm / (N + 1e-6))`. burn's own
//! `GradientClipping::Norm` clips each tensor separately, which is not the recipe.
//!
//! Both are written on plain tensors so that the moments are ordinary tensors a checkpoint
//! stores and restores bit for bit, and so that the clip coefficient never leaves the device.

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::loss::Gradients;
use crate::model::Sae;

/// Adam's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    /// β1.
    pub beta1: f64,
    /// β2.
    pub beta2: f64,
    /// ε, added to the bias-corrected root mean square.
    pub epsilon: f64,
}

/// Adam's state: first and second moments of every parameter.
#[derive(Debug, Clone)]
pub struct Adam<B: Backend> {
    /// Hyperparameters.
    pub config: AdamConfig,
    /// First moments.
    pub m: Gradients<B>,
    /// Second moments.
    pub v: Gradients<B>,
}

impl<B: Backend> Gradients<B> {
    /// Zeros shaped like the SAE's parameters.
    pub fn zeros_like(sae: &Sae<B>) -> Self {
        Gradients {
            w_enc: sae.w_enc.zeros_like(),
            b_enc: sae.b_enc.zeros_like(),
            w_dec: sae.w_dec.zeros_like(),
            b_dec: sae.b_dec.zeros_like(),
        }
    }

    /// `√(Σ g²)` over all four tensors. `[1]`
    pub fn global_norm(&self) -> Tensor<B, 1> {
        (self.w_enc.clone().square().sum()
            + self.b_enc.clone().square().sum()
            + self.w_dec.clone().square().sum()
            + self.b_dec.clone().square().sum())
        .sqrt()
    }

    /// Scales all gradients so that their global norm is at most `max_norm`; returns the
    /// norm before clipping.
    pub fn clip_global_norm(self, max_norm: f64) -> (Self, Tensor<B, 1>) {
        let norm = self.global_norm();
        let coefficient = (norm.clone().add_scalar(1e-6)).recip().mul_scalar(max_norm).clamp_max(1.0);
        let clipped = Gradients {
            w_enc: self.w_enc * coefficient.clone().unsqueeze(),
            b_enc: self.b_enc * coefficient.clone(),
            w_dec: self.w_dec * coefficient.clone().unsqueeze(),
            b_dec: self.b_dec * coefficient,
        };
        (clipped, norm)
    }
}

impl<B: Backend> Adam<B> {
    /// Fresh state (zero moments) for `sae`.
    pub fn new(config: AdamConfig, sae: &Sae<B>) -> Self {
        Adam { config, m: Gradients::zeros_like(sae), v: Gradients::zeros_like(sae) }
    }

    /// Applies update number `t` (from 1) with learning rate `lr` to `sae`.
    pub fn step(&mut self, sae: &mut Sae<B>, gradients: Gradients<B>, lr: f64, t: u64) {
        let c = self.config;
        let correction1 = 1.0 - c.beta1.powi(t as i32);
        let correction2 = 1.0 - c.beta2.powi(t as i32);
        let update = Update { beta1: c.beta1, beta2: c.beta2, epsilon: c.epsilon, lr, correction1, correction2 };
        update.apply(&mut sae.w_enc, gradients.w_enc, &mut self.m.w_enc, &mut self.v.w_enc);
        update.apply(&mut sae.b_enc, gradients.b_enc, &mut self.m.b_enc, &mut self.v.b_enc);
        update.apply(&mut sae.w_dec, gradients.w_dec, &mut self.m.w_dec, &mut self.v.w_dec);
        update.apply(&mut sae.b_dec, gradients.b_dec, &mut self.m.b_dec, &mut self.v.b_dec);
    }
}

/// One Adam update's scalars, applied to each parameter in turn.
struct Update {
    beta1: f64,
    beta2: f64,
    epsilon: f64,
    lr: f64,
    correction1: f64,
    correction2: f64,
}

impl Update {
    fn apply<B: Backend, const D: usize>(
        &self,
        param: &mut Tensor<B, D>,
        gradient: Tensor<B, D>,
        m: &mut Tensor<B, D>,
        v: &mut Tensor<B, D>,
    ) {
        *m = m.clone().mul_scalar(self.beta1) + gradient.clone().mul_scalar(1.0 - self.beta1);
        *v = v.clone().mul_scalar(self.beta2) + gradient.square().mul_scalar(1.0 - self.beta2);
        let denominator = v.clone().div_scalar(self.correction2).sqrt().add_scalar(self.epsilon);
        let step = m.clone().div_scalar(self.correction1) / denominator;
        *param = param.clone() - step.mul_scalar(self.lr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Activation;
    use crate::test_util::{tensor1, tensor2, to_vec, Cpu};

    fn grads(scale: f32) -> Gradients<Cpu> {
        Gradients {
            w_enc: tensor2(&[[3.0 * scale]]),
            b_enc: tensor1(&[0.0]),
            w_dec: tensor2(&[[4.0 * scale]]),
            b_dec: tensor1(&[0.0]),
        }
    }

    #[test]
    fn clipping_uses_the_global_norm_across_tensors() {
        // Norm over both tensors is 5 (3-4-5), so each is scaled by 1/5, not clipped alone.
        let (clipped, norm) = grads(1.0).clip_global_norm(1.0);
        assert_eq!(to_vec(norm), vec![5.0]);
        assert!((to_vec(clipped.w_enc)[0] - 0.6).abs() < 1e-6);
        assert!((to_vec(clipped.w_dec)[0] - 0.8).abs() < 1e-6);
    }

    #[test]
    fn small_gradients_are_not_clipped() {
        let (clipped, _) = grads(0.1).clip_global_norm(1.0);
        assert!((to_vec(clipped.w_enc)[0] - 0.3).abs() < 1e-7);
        assert!((to_vec(clipped.w_dec)[0] - 0.4).abs() < 1e-7);
    }

    #[test]
    fn adam_matches_the_closed_form_of_its_first_two_steps() {
        let mut sae = Sae::<Cpu> {
            w_enc: tensor2(&[[1.0]]),
            b_enc: tensor1(&[0.0]),
            w_dec: tensor2(&[[1.0]]),
            b_dec: tensor1(&[0.0]),
            activation: Activation::Relu,
            apply_b_dec_to_input: false,
            matmul: crate::MatmulPrecision::F32,
        };
        let config = AdamConfig { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
        let mut adam = Adam::new(config, &sae);
        // Step 1 with g: m̂ = g, v̂ = g², so the step is lr·g/(|g| + ε) ≈ lr·sign(g).
        adam.step(&mut sae, grads(1.0), 0.1, 1);
        assert!((to_vec(sae.w_enc.clone())[0] - 0.9).abs() < 1e-6);
        // Step 2 with the same g: still m̂ = g and v̂ = g², so another lr.
        adam.step(&mut sae, grads(1.0), 0.1, 2);
        assert!((to_vec(sae.w_enc.clone())[0] - 0.8).abs() < 1e-6);
        // A zero gradient leaves a parameter with zero moments unchanged.
        assert_eq!(to_vec(sae.b_enc), vec![0.0]);
    }
}
