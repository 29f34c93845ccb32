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
//! JumpReLU's thresholds are the fifth parameter, stored and stepped raw (what the forward
//! pass and SAELens's file use), then clamped at 0. Rajamanoharan et al. and SAELens step
//! `log θ` instead, but Adam moves a parameter by at most about lr per step, so from θ₀ =
//! 0.008 a 1500-step run could reach θ ≈ 0.04 at most and every λ gave the same L0 (139 of
//! 512 on examples/jumprelu.toml); raw steps move θ by up to lr in `pre`'s own units, which
//! saescale's data scaling keeps of order 1 (docs/METHODS.md §1.7c).
//!
//! Both are written on plain tensors so that the moments are ordinary tensors a checkpoint
//! stores and restores bit for bit, and so that the clip coefficient never leaves the device.
//! On the CPU backend the Adam update runs as one pass over host memory instead
//! ([`crate::host`]), with the same f32 arithmetic in the same order, bit for bit, and the
//! clip's norm is summed there too (in f64, so it agrees with the tensor norm to rounding).

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

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
            threshold: sae.threshold.as_ref().map(Tensor::zeros_like),
        }
    }

    /// `√(Σ g²)` over all tensors. `[1]`
    pub fn global_norm(&self) -> Tensor<B, 1> {
        let squares = self.w_enc.clone().square().sum()
            + self.b_enc.clone().square().sum()
            + self.w_dec.clone().square().sum()
            + self.b_dec.clone().square().sum();
        match &self.threshold {
            Some(g) => (squares + g.clone().square().sum()).sqrt(),
            None => squares.sqrt(),
        }
    }

    /// Scales all gradients so that their global norm is at most `max_norm`; returns the
    /// norm before clipping.
    pub fn clip_global_norm(self, max_norm: f64) -> (Self, Tensor<B, 1>) {
        let norm = self.global_norm();
        // clip_coefficient's formula, on the device.
        let coefficient = (norm.clone().add_scalar(1e-6)).recip().mul_scalar(max_norm).clamp_max(1.0);
        let clipped = Gradients {
            w_enc: self.w_enc * coefficient.clone().unsqueeze(),
            b_enc: self.b_enc * coefficient.clone(),
            w_dec: self.w_dec * coefficient.clone().unsqueeze(),
            threshold: self.threshold.map(|g| g * coefficient.clone()),
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

    /// Applies update number `t` (from 1) with learning rate `lr` to `sae`, the gradients first
    /// scaled to a global norm of at most `max_norm` when it is given (the module docs).
    pub fn step(&mut self, sae: &mut Sae<B>, gradients: Gradients<B>, lr: f64, t: u64, max_norm: Option<f64>) {
        let c = self.config;
        let correction1 = 1.0 - c.beta1.powi(t as i32);
        let correction2 = 1.0 - c.beta2.powi(t as i32);
        let update = Update { beta1: c.beta1, beta2: c.beta2, epsilon: c.epsilon, lr, correction1, correction2 };
        if crate::host::tensors_live_on_host::<B>() {
            self.step_on_host(sae, gradients, &update, max_norm);
        } else {
            let gradients = match max_norm {
                Some(max_norm) => gradients.clip_global_norm(max_norm).0,
                None => gradients,
            };
            update.apply(&mut sae.w_enc, gradients.w_enc, &mut self.m.w_enc, &mut self.v.w_enc);
            update.apply(&mut sae.b_enc, gradients.b_enc, &mut self.m.b_enc, &mut self.v.b_enc);
            update.apply(&mut sae.w_dec, gradients.w_dec, &mut self.m.w_dec, &mut self.v.w_dec);
            update.apply(&mut sae.b_dec, gradients.b_dec, &mut self.m.b_dec, &mut self.v.b_dec);
            if let (Some(g), Some(threshold), Some(m), Some(v)) =
                (gradients.threshold, &mut sae.threshold, &mut self.m.threshold, &mut self.v.threshold)
            {
                update.apply(threshold, g, m, v);
            }
        }
        if let Some(threshold) = &mut sae.threshold {
            // A negative threshold would let negative pre-activations through.
            *threshold = threshold.clone().clamp_min(0.0);
        }
    }

    /// [`Adam::step`] on the CPU backend: each gradient is read into host memory once, and
    /// the clip's norm and rescaling happen inside the passes that read it anyway, instead
    /// of as tensor operations that each read and write every gradient again (a square, a
    /// sum and a multiply per tensor, the encoder's through a transposed view).
    fn step_on_host(&mut self, sae: &mut Sae<B>, gradients: Gradients<B>, update: &Update, max_norm: Option<f64>) {
        let (w_enc, b_enc, w_dec, b_dec) =
            (f32_data(gradients.w_enc), f32_data(gradients.b_enc), f32_data(gradients.w_dec), f32_data(gradients.b_dec));
        let threshold = gradients.threshold.map(f32_data);
        let scale = match max_norm {
            Some(max_norm) => {
                let all = [Some(&w_enc), Some(&b_enc), Some(&w_dec), Some(&b_dec), threshold.as_ref()];
                let squares: f64 = all.into_iter().flatten().map(|g| sum_of_squares(f32_slice(g))).sum();
                clip_coefficient(squares.sqrt(), max_norm) as f32
            }
            None => 1.0,
        };
        update.apply_on_host(&mut sae.w_enc, &w_enc, scale, &mut self.m.w_enc, &mut self.v.w_enc);
        update.apply_on_host(&mut sae.b_enc, &b_enc, scale, &mut self.m.b_enc, &mut self.v.b_enc);
        update.apply_on_host(&mut sae.w_dec, &w_dec, scale, &mut self.m.w_dec, &mut self.v.w_dec);
        update.apply_on_host(&mut sae.b_dec, &b_dec, scale, &mut self.m.b_dec, &mut self.v.b_dec);
        if let (Some(g), Some(threshold), Some(m), Some(v)) = (threshold, &mut sae.threshold, &mut self.m.threshold, &mut self.v.threshold) {
            update.apply_on_host(threshold, &g, scale, m, v);
        }
    }
}

/// Elements per parallel chunk of the host passes.
const CHUNK: usize = 1 << 14;

/// `Σ x²` in f64, summed chunk by chunk in a fixed order, so that the result does not depend
/// on the number of threads (exact resume needs every step to repeat bit for bit).
fn sum_of_squares(values: &[f32]) -> f64 {
    let partial: Vec<f64> = values.par_chunks(CHUNK).map(|chunk| crate::host::widest_vectors(|| squares_in_lanes(chunk))).collect();
    partial.iter().sum()
}

/// `Σ x²` of a chunk in eight running sums (one long chain of dependent additions would
/// wait on each one), then their sum.
#[inline(always)]
fn squares_in_lanes(chunk: &[f32]) -> f64 {
    let mut lanes = [0f64; 8];
    let blocks = chunk.chunks_exact(8);
    let tail: f64 = blocks.remainder().iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    for block in blocks {
        for lane in 0..8 {
            lanes[lane] += f64::from(block[lane]) * f64::from(block[lane]);
        }
    }
    lanes.iter().sum::<f64>() + tail
}

/// torch's `clip_grad_norm_` factor for a global norm `norm`: `min(1, max_norm / (norm + 1e-6))`.
fn clip_coefficient(norm: f64, max_norm: f64) -> f64 {
    (max_norm / (norm + 1e-6)).min(1.0)
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
        // Each tensor is moved out of its slot (a cheap handle on the gradient holds the slot
        // meanwhile) so that it is the only handle on its buffer: a backend that updates
        // uniquely owned buffers in place then need not allocate a new one per operation.
        let (m_old, v_old, param_old) = (take(m, &gradient), take(v, &gradient), take(param, &gradient));
        let m_new = m_old.mul_scalar(self.beta1) + gradient.clone().mul_scalar(1.0 - self.beta1);
        let v_new = v_old.mul_scalar(self.beta2) + gradient.square().mul_scalar(1.0 - self.beta2);
        let denominator = v_new.clone().div_scalar(self.correction2).sqrt().add_scalar(self.epsilon);
        let step = m_new.clone().div_scalar(self.correction1) / denominator;
        *param = param_old - step.mul_scalar(self.lr);
        (*m, *v) = (m_new, v_new);
    }

    /// [`Update::apply`] in one pass over host memory (burn's CPU backend), in parallel over
    /// chunks, for the gradient `gradient` multiplied by `scale`: a CPU step is otherwise
    /// dominated by the dozen elementwise tensor operations of the update, each reading and
    /// writing every parameter. Each element goes through the same f32 operations in the same
    /// order as in the tensor version (whose gradient is already scaled).
    fn apply_on_host<B: Backend, const D: usize>(
        &self,
        param: &mut Tensor<B, D>,
        gradient: &TensorData,
        scale: f32,
        m: &mut Tensor<B, D>,
        v: &mut Tensor<B, D>,
    ) {
        let device = param.device();
        // Moving each tensor out (an empty tensor holds its slot) leaves its buffer with one
        // owner, so that the CPU backend hands the buffer over instead of copying it.
        let empty = || Tensor::<B, D>::empty([0; D], &device);
        let own = |slot: &mut Tensor<B, D>| f32_data(std::mem::replace(slot, empty()));
        let (mut p, mut m_data, mut v_data) = (own(param), own(m), own(v));
        let [beta1, beta2, epsilon, lr, correction1, correction2] =
            [self.beta1, self.beta2, self.epsilon, self.lr, self.correction1, self.correction2].map(|x| x as f32);
        let [one_minus_beta1, one_minus_beta2] = [1.0 - self.beta1, 1.0 - self.beta2].map(|x| x as f32);
        host_slice(&mut p)
            .par_chunks_mut(CHUNK)
            .zip(host_slice(&mut m_data).par_chunks_mut(CHUNK))
            .zip(host_slice(&mut v_data).par_chunks_mut(CHUNK))
            .zip(f32_slice(gradient).par_chunks(CHUNK))
            .for_each(|(((p, m), v), g)| {
                // Three divisions and a square root per element: the pass is bound by them
                // rather than by memory unless they run on wide vectors.
                crate::host::widest_vectors(|| {
                    for (((p, m), v), &g) in p.iter_mut().zip(m).zip(v).zip(g) {
                        let g = g * scale;
                        *m = *m * beta1 + g * one_minus_beta1;
                        *v = *v * beta2 + g * g * one_minus_beta2;
                        let denominator = (*v / correction2).sqrt() + epsilon;
                        *p -= (*m / correction1 / denominator) * lr;
                    }
                })
            });
        *param = Tensor::from_data(p, &device);
        *m = Tensor::from_data(m_data, &device);
        *v = Tensor::from_data(v_data, &device);
    }
}

/// The values of data converted to f32.
fn host_slice(data: &mut TensorData) -> &mut [f32] {
    data.as_mut_slice().expect("converted to f32")
}

/// A tensor's values as f32 host data (a contiguous copy where the tensor is a view).
fn f32_data<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> TensorData {
    tensor.into_data().convert::<f32>()
}

/// [`host_slice`], read only.
fn f32_slice(data: &TensorData) -> &[f32] {
    data.as_slice().expect("converted to f32")
}

/// Moves the tensor out of `slot`, leaving a handle on `placeholder` in its place.
fn take<B: Backend, const D: usize>(slot: &mut Tensor<B, D>, placeholder: &Tensor<B, D>) -> Tensor<B, D> {
    std::mem::replace(slot, placeholder.clone())
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
            threshold: None,
        }
    }

    /// A d = 1, F = 1 SAE with both weights 1 and zero biases, so one step's arithmetic can be
    /// checked by hand.
    fn one_weight_sae(activation: Activation, threshold: Option<&[f32]>) -> Sae<Cpu> {
        Sae {
            w_enc: tensor2(&[[1.0]]),
            b_enc: tensor1(&[0.0]),
            w_dec: tensor2(&[[1.0]]),
            b_dec: tensor1(&[0.0]),
            activation,
            apply_b_dec_to_input: false,
            matmul: crate::MatmulPrecision::F32,
            rank_by_decoder_norm: false,
            threshold: threshold.map(tensor1),
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
        let mut sae = one_weight_sae(Activation::Relu, None);
        let config = AdamConfig { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
        let mut adam = Adam::new(config, &sae);
        // Step 1 with g: m̂ = g, v̂ = g², so the step is lr·g/(|g| + ε) ≈ lr·sign(g).
        adam.step(&mut sae, grads(1.0), 0.1, 1, None);
        assert!((to_vec(sae.w_enc.clone())[0] - 0.9).abs() < 1e-6);
        // Step 2 with the same g: still m̂ = g and v̂ = g², so another lr.
        adam.step(&mut sae, grads(1.0), 0.1, 2, None);
        assert!((to_vec(sae.w_enc.clone())[0] - 0.8).abs() < 1e-6);
        // A zero gradient leaves a parameter with zero moments unchanged.
        assert_eq!(to_vec(sae.b_enc), vec![0.0]);
    }

    #[test]
    fn thresholds_step_raw_stay_non_negative_and_count_in_the_global_norm() {
        let mut sae = one_weight_sae(Activation::JumpRelu, Some(&[0.5, 2.0, 0.05]));
        let mut gradients = Gradients::zeros_like(&sae);
        gradients.threshold = Some(tensor1(&[0.0, -12.0, 0.0]));
        gradients.w_enc = tensor2(&[[5.0]]);
        assert_eq!(to_vec(gradients.global_norm()), vec![13.0]);
        let mut adam = Adam::new(AdamConfig { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }, &sae);
        adam.step(&mut sae, gradients, 0.1, 1, None);
        // The first step moves θ by lr against its gradient's sign: 2.1 for the second
        // threshold, the first (zero gradient) unchanged.
        let threshold = to_vec(sae.threshold.clone().unwrap());
        assert!((threshold[0] - 0.5).abs() < 1e-6 && (threshold[1] - 2.1).abs() < 1e-5, "{threshold:?}");
        // A step past 0 stops at 0.
        let mut gradients = Gradients::zeros_like(&sae);
        gradients.threshold = Some(tensor1(&[0.0, 0.0, 1.0]));
        adam.step(&mut sae, gradients, 0.1, 2, None);
        assert_eq!(to_vec(sae.threshold.unwrap())[2], 0.0);
    }

    /// The CPU backend's one-pass update gives the tensor update's bits, with and without a
    /// clip factor (Autodiff<Flex> is not host memory to [`crate::host`], so it runs the
    /// tensor version).
    #[test]
    fn the_host_update_is_the_tensor_update_bit_for_bit() {
        use burn::tensor::Distribution;
        type Generic = burn::backend::Autodiff<Cpu>;
        assert!(crate::host::tensors_live_on_host::<Cpu>() && !crate::host::tensors_live_on_host::<Generic>());
        let (t, device) = (3, Default::default());
        let update = Update {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            lr: 3e-4,
            correction1: 1.0 - 0.9f64.powi(t),
            correction2: 1.0 - 0.999f64.powi(t),
        };
        // More elements than one parallel chunk, and a length that does not divide into them.
        let shape = [70, 300];
        let random = |low, high| Tensor::<Cpu, 2>::random(shape, Distribution::Uniform(low, high), &device).into_data();
        let (param, gradient, m, v) = (random(-1.0, 1.0), random(-0.1, 0.1), random(-0.01, 0.01), random(0.0, 1e-4));

        for scale in [1.0f32, 0.37] {
            let on_host = {
                let [mut p, mut m, mut v] = [&param, &m, &v].map(|d| Tensor::<Cpu, 2>::from_data(d.clone(), &device));
                update.apply_on_host(&mut p, &gradient, scale, &mut m, &mut v);
                [p, m, v].map(|x| x.into_data())
            };
            let generic = {
                let [mut p, mut m, mut v] = [&param, &m, &v].map(|d| Tensor::<Generic, 2>::from_data(d.clone(), &device));
                let scaled = Tensor::<Generic, 2>::from_data(gradient.clone(), &device).mul_scalar(scale);
                update.apply(&mut p, scaled, &mut m, &mut v);
                [p, m, v].map(|x| x.into_data())
            };
            for (name, (host, tensor)) in ["param", "m", "v"].iter().zip(on_host.iter().zip(&generic)) {
                assert_eq!(host, tensor, "{name} at scale {scale}");
            }
            assert_ne!(on_host[0], param, "the update moved the parameters");
        }
    }

    /// A clipped step on the CPU backend (norm and factor on the host) lands where the tensor
    /// version's does, to f32 rounding, with the encoder's gradient handed over transposed as
    /// the sparse TopK step makes it.
    #[test]
    fn the_host_clip_is_the_tensor_clip() {
        use burn::tensor::Distribution;
        type Generic = burn::backend::Autodiff<Cpu>;
        let device = Default::default();
        let (d, features) = (24, 130);
        let random = |shape: [usize; 2], scale: f64| Tensor::<Cpu, 2>::random(shape, Distribution::Normal(0.0, scale), &device).into_data();
        let [w_enc_t, w_dec] = [random([features, d], 0.5), random([features, d], 0.5)];
        let [b_enc, b_dec] = [random([1, features], 0.5), random([1, d], 0.5)];
        let params = [random([d, features], 0.1), random([1, features], 0.1), random([features, d], 0.1), random([1, d], 0.1)];

        fn step<B: Backend>(params: &[TensorData; 4], grads: [&TensorData; 4], device: &B::Device) -> Vec<Vec<f32>> {
            let two = |data: &TensorData| Tensor::<B, 2>::from_data(data.clone(), device);
            let one = |data: &TensorData| two(data).flatten::<1>(0, 1);
            let mut sae = Sae {
                w_enc: two(&params[0]),
                b_enc: one(&params[1]),
                w_dec: two(&params[2]),
                b_dec: one(&params[3]),
                activation: Activation::TopK { k: 4 },
                apply_b_dec_to_input: false,
                matmul: crate::MatmulPrecision::F32,
                rank_by_decoder_norm: false,
                threshold: None,
            };
            let gradients = Gradients { w_enc: two(grads[0]).transpose(), b_enc: one(grads[1]), w_dec: two(grads[2]), b_dec: one(grads[3]), threshold: None };
            let mut adam = Adam::new(AdamConfig { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }, &sae);
            adam.step(&mut sae, gradients, 0.01, 1, Some(1.0));
            vec![to_vec(sae.w_enc), to_vec(sae.b_enc), to_vec(sae.w_dec), to_vec(sae.b_dec), to_vec(adam.m.w_enc)]
        }
        let grads = [&w_enc_t, &b_enc, &w_dec, &b_dec];
        let (host, generic) = (step::<Cpu>(&params, grads, &device), step::<Generic>(&params, grads, &device));
        for (name, (h, g)) in ["w_enc", "b_enc", "w_dec", "b_dec", "m.w_enc"].iter().zip(host.iter().zip(&generic)) {
            for (a, b) in h.iter().zip(g) {
                // Relative to the value plus one step of lr (0.01): a parameter near 0 moved by
                // lr carries lr's rounding.
                assert!((a - b).abs() <= 1e-6 * (b.abs() + 0.01), "{name}: host {a} vs tensor {b}");
            }
        }
        // The gradients' norm is about 0.5·√(2·130·24 + 154) ≈ 40, so the clip bound: the first
        // moment is (1 - β1)·g/40, not (1 - β1)·g.
        let largest_moment = host[4].iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(largest_moment < 0.1 * 0.1, "the first moments show no clip: {largest_moment}");
    }
}
