//! The TopK training step on the active latents only (`train.topk_kernel = "sparse"`).
//!
//! A TopK SAE keeps `k` of its `F` latents per token, yet the dense step
//! ([`crate::loss::loss_and_gradients`]) multiplies full `[batch, F]` matrices four more
//! times after the encoder: the decoder, the decoder-weight gradient, the latents' gradient
//! and the encoder-weight gradient. Here the latents stay as `k` indices and values per row,
//! and those four become gathers and scatter-adds over the `k` active decoder rows:
//!
//! - decode: `x̂_b = Σ_j v_bj · W_dec[i_bj] + b_dec`, a `[1, k] × [k, d]` product per row over
//!   the gathered rows;
//! - `∂L/∂v_bj = (∂L/∂x̂_b) · W_dec[i_bj]`, zero where `v_bj = 0` (the ReLU after the top-k);
//! - `∂L/∂W_dec[i] += v_bj · ∂L/∂x̂_b` and `∂L/∂W_encᵀ[i] += (∂L/∂v_bj) · u_b` for every
//!   `(b, j)` with `i_bj = i`, as scatter-adds of `[batch·k, d]` rows;
//! - AuxK the same way on the top `k_aux` of the dead latents' columns only.
//!
//! The only dense product left is the encoder's, about `2·d·F + O(k·d)` FLOP per token
//! instead of `12·d·F`. Everything is burn's generic tensor operations, so the same code runs
//! on Flex and CUDA; the dense step is the reference it is tested against, and the two agree
//! to float rounding (the sums run in another order). On the CPU the gathers, the two
//! products over the gathered rows and the scatter-adds run as loops over host memory
//! instead ([`on_host`]), which read the decoder rows where they are and write the encoder
//! gradient in its `[d, F]` layout, and the encoder's bias, ranking and selection are one
//! pass over its product ([`crate::select::add_bias_and_select`]); the generic versions are
//! their tested reference.

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor, TensorData};

use crate::loss::{total_variance, BatchStats, Gradients, StepResult};
use crate::model::Sae;
use crate::select::top_k_indices;

mod on_host;

/// The active part of a batch of TopK latents: for each row, the chosen latents and their
/// values after the ReLU.
#[derive(Debug, Clone)]
pub struct SparseCodes<B: Backend> {
    /// Latent indices, highest ranked first. `[batch, k]`
    pub indices: Tensor<B, 2, Int>,
    /// Latent values, `max(pre, 0)` at those indices. `[batch, k]`
    pub values: Tensor<B, 2>,
    /// The indices as one list, row after row, which every gather and scatter reads.
    /// `[batch·k]`
    flat_indices: Tensor<B, 1, Int>,
    /// The same list in host memory, for the host loops ([`on_host`]); `None` on other
    /// backends.
    host_indices: Option<Vec<usize>>,
}

/// The decoder rows that codes point at, as [`SparseCodes::combine`] and
/// [`SparseCodes::code_gradient`] read them: gathered into a `[batch, k, d]` tensor by the
/// generic kernel, read in place by the host loops.
struct ActiveRows<B: Backend> {
    /// The whole `[F, d]` matrix.
    matrix: Tensor<B, 2>,
    /// Its rows at the codes, `[batch, k, d]`; `None` on the host.
    gathered: Option<Tensor<B, 3>>,
}

impl<B: Backend> SparseCodes<B> {
    /// The `k` entries of each row of `pre` (`[batch, n]`) that rank highest in `ranking`
    /// (`pre` or a positive per-latent rescaling of it, [`Sae::ranking`]), ReLU applied.
    pub fn top_k(pre: &Tensor<B, 2>, ranking: Tensor<B, 2>, k: usize) -> Self {
        let indices = top_k_indices(ranking, k);
        let values = pre.clone().gather(1, indices.clone()).clamp_min(0.0);
        Self::new(indices, values)
    }

    fn new(indices: Tensor<B, 2, Int>, values: Tensor<B, 2>) -> Self {
        let flat_indices = indices.clone().flatten(0, 1);
        let host_indices = crate::host::tensors_live_on_host::<B>()
            .then(|| flat_indices.to_data().convert::<i64>().iter::<i64>().map(|i| i as usize).collect());
        SparseCodes { indices, values, flat_indices, host_indices }
    }

    /// The codes of `sae` for encoder input `input` (`[batch, d]`), with the pre-activations
    /// (`[batch, F]`) when `keep_pre` asks for them (AuxK reads them; otherwise, on the CPU,
    /// they are dropped as soon as the codes are chosen).
    fn encode(sae: &Sae<B>, input: Tensor<B, 2>, decoder_norms: &Tensor<B, 1>, k: usize, keep_pre: bool) -> (Self, Option<Tensor<B, 2>>) {
        if !crate::host::tensors_live_on_host::<B>() {
            let pre = sae.pre_activations(input);
            let codes = Self::top_k(&pre, sae.ranking_given_norms(&pre, decoder_norms), k);
            return (codes, keep_pre.then_some(pre));
        }
        // On the CPU the bias, the ranking and the selection are one pass over the product
        // (crate::select::add_bias_and_select), which takes the product's buffer without a copy.
        let device = input.device();
        let product = sae.encoder_product(input);
        let rows = product.dims()[0];
        let mut pre = product.into_data().convert::<f32>();
        let bias = sae.b_enc.to_data().convert::<f32>();
        let norms = sae.rank_by_decoder_norm.then(|| decoder_norms.to_data().convert::<f32>());
        let (indices, values) = crate::select::add_bias_and_select(
            pre.as_mut_slice().expect("converted to f32"),
            bias.as_slice().expect("converted to f32"),
            norms.as_ref().map(|norms| norms.as_slice().expect("converted to f32")),
            k,
        );
        let codes = Self::new(
            Tensor::from_data(TensorData::new(indices, [rows, k]), &device),
            Tensor::from_data(TensorData::new(values, [rows, k]), &device),
        );
        (codes, keep_pre.then(|| Tensor::from_data(pre, &device)))
    }

    fn k(&self) -> usize {
        self.indices.dims()[1]
    }

    /// Where a code is nonzero (the ReLU's derivative is 1 there). `[batch, k]`
    fn active(&self) -> Tensor<B, 2, Bool> {
        self.values.clone().greater_elem(0.0)
    }

    /// The rows of `matrix` (`[F, d]`) that the codes point at.
    fn active_rows(&self, matrix: &Tensor<B, 2>) -> ActiveRows<B> {
        let gathered = self.host_indices.is_none().then(|| {
            let [batch, k] = self.indices.dims();
            matrix.clone().select(0, self.flat_indices.clone()).reshape([batch, k, matrix.dims()[1]])
        });
        ActiveRows { matrix: matrix.clone(), gathered }
    }

    /// `Σ_j v_bj · rows_bj` for each row. `[batch, d]`
    fn combine(&self, rows: &ActiveRows<B>) -> Tensor<B, 2> {
        match (&rows.gathered, &self.host_indices) {
            (Some(gathered), _) => self.values.clone().unsqueeze_dim::<3>(1).matmul(gathered.clone()).squeeze_dim(1),
            (None, Some(indices)) => {
                let [batch, d] = [self.values.dims()[0], rows.matrix.dims()[1]];
                let values = self.values.to_data().convert::<f32>();
                let combined = crate::host::read_f32(&rows.matrix, |matrix| {
                    on_host::combine_rows(matrix, d, indices, values.as_slice().expect("converted to f32"), self.k())
                });
                Tensor::from_data(TensorData::new(combined, [batch, d]), &self.values.device())
            }
            (None, None) => unreachable!("rows are gathered wherever the codes are not on the host"),
        }
    }

    /// The gradient of the codes from the gradient `d_out` (`[batch, d]`) of [`Self::combine`]'s
    /// output, zeroed where a code is 0. `[batch, k]`
    fn code_gradient(&self, rows: &ActiveRows<B>, d_out: &Tensor<B, 2>) -> Tensor<B, 2> {
        match (&rows.gathered, &self.host_indices) {
            (Some(gathered), _) => {
                let d_values: Tensor<B, 2> = gathered.clone().matmul(d_out.clone().unsqueeze_dim(2)).squeeze_dim(2);
                d_values.mask_fill(self.active().bool_not(), 0.0)
            }
            (None, Some(indices)) => {
                let d = rows.matrix.dims()[1];
                let [values, d_out] = [self.values.to_data(), d_out.to_data()].map(|data| data.convert::<f32>());
                let dots = crate::host::read_f32(&rows.matrix, |matrix| {
                    let [values, d_out] = [&values, &d_out].map(|data| data.as_slice().expect("converted to f32"));
                    on_host::row_dots(matrix, d, indices, values, d_out, self.k())
                });
                Tensor::from_data(TensorData::new(dots, self.values.dims()), &self.values.device())
            }
            (None, None) => unreachable!("rows are gathered wherever the codes are not on the host"),
        }
    }

    /// Adds `weights_bj · vectors_b` to row `i_bj` of `into` (`[F, d]`), for every `(b, j)`.
    /// `weights`: `[batch, k]`, `vectors`: `[batch, d]`.
    fn scatter_outer(&self, into: Tensor<B, 2>, weights: Tensor<B, 2>, vectors: &Tensor<B, 2>) -> Tensor<B, 2> {
        match &self.host_indices {
            Some(indices) => {
                let d = into.dims()[1];
                self.on_host_buffer(into, weights, vectors, |into, weights, vectors| {
                    on_host::add_outer_rows(into, d, indices, weights, vectors, self.k())
                })
            }
            None => self.scatter_outer_generic(into, weights, vectors),
        }
    }

    /// Adds `weights_bj · vectors_b` to column `i_bj` of `into` (`[d, F]`): [`Self::scatter_outer`]
    /// into the transposed matrix, for a gradient in the layout of the encoder weight.
    fn scatter_outer_columns(&self, into: Tensor<B, 2>, weights: Tensor<B, 2>, vectors: &Tensor<B, 2>) -> Tensor<B, 2> {
        match &self.host_indices {
            Some(indices) => {
                let features = into.dims()[1];
                self.on_host_buffer(into, weights, vectors, |into, weights, vectors| {
                    on_host::add_outer_columns(into, features, indices, weights, vectors, self.k())
                })
            }
            None => self.scatter_outer_generic(into.transpose(), weights, vectors).transpose(),
        }
    }

    /// Runs a host scatter-add `add(into, weights, vectors)` on the tensors' values.
    fn on_host_buffer(
        &self,
        into: Tensor<B, 2>,
        weights: Tensor<B, 2>,
        vectors: &Tensor<B, 2>,
        add: impl FnOnce(&mut [f32], &[f32], &[f32]),
    ) -> Tensor<B, 2> {
        let device = into.device();
        // `into` is the step's own gradient, so this takes its buffer without a copy.
        let mut sums = into.into_data().convert::<f32>();
        let [weights, vectors] = [weights.into_data(), vectors.to_data()].map(|data| data.convert::<f32>());
        add(
            sums.as_mut_slice().expect("converted to f32"),
            weights.as_slice().expect("converted to f32"),
            vectors.as_slice().expect("converted to f32"),
        );
        Tensor::from_data(sums, &device)
    }

    /// [`Self::scatter_outer`] in burn's tensor operations (every other backend), and the
    /// reference of the host version.
    fn scatter_outer_generic(&self, into: Tensor<B, 2>, weights: Tensor<B, 2>, vectors: &Tensor<B, 2>) -> Tensor<B, 2> {
        // A batched [k, 1] x [1, d] product rather than a broadcast multiply: Flex runs
        // broadcasts through a strided iterator, at a fraction of gemm's speed.
        let outer: Tensor<B, 3> = weights.unsqueeze_dim::<3>(2).matmul(vectors.clone().unsqueeze_dim(1));
        into.select_assign(0, self.flat_indices.clone(), outer.flatten(0, 1), burn::tensor::IndexingUpdateOp::Add)
    }

    /// Adds `weights_bj` to entry `i_bj` of `into` (`[F]`), for every `(b, j)`.
    fn scatter(&self, into: Tensor<B, 1>, weights: Tensor<B, 2>) -> Tensor<B, 1> {
        into.select_assign(0, self.flat_indices.clone(), weights.flatten(0, 1), burn::tensor::IndexingUpdateOp::Add)
    }
}

/// Gradient accumulators of the encoder, which both the main loss and AuxK reach through
/// the pre-activations.
struct EncoderGradient<B: Backend> {
    /// `∂L/∂W_enc`, `[d, F]`.
    w_enc: Tensor<B, 2>,
    /// `∂L/∂b_enc`, `[F]`.
    b_enc: Tensor<B, 1>,
}

impl<B: Backend> EncoderGradient<B> {
    fn zeros(features: usize, d: usize, device: &B::Device) -> Self {
        EncoderGradient { w_enc: crate::host::zeros([d, features], device), b_enc: Tensor::zeros([features], device) }
    }

    /// Adds the contribution of the codes' gradient `d_codes` (`[batch, k]`) for encoder input
    /// `input` (`[batch, d]`).
    fn add(self, codes: &SparseCodes<B>, d_codes: Tensor<B, 2>, input: &Tensor<B, 2>) -> Self {
        EncoderGradient {
            w_enc: codes.scatter_outer_columns(self.w_enc, d_codes.clone(), input),
            b_enc: codes.scatter(self.b_enc, d_codes),
        }
    }
}

/// Loss, metrics and gradients of one TopK batch `x` (`[batch, d_in]`), the same quantities
/// as the dense [`crate::loss::loss_and_gradients`] with [`crate::loss::Objective::TopK`].
/// `dead` marks the latents AuxK may use, `None` when none is dead.
pub fn topk_loss_and_gradients<B: Backend>(
    sae: &Sae<B>,
    x: Tensor<B, 2>,
    k: usize,
    auxk_coefficient: f64,
    auxk_k: usize,
    dead: Option<&Tensor<B, 1, Bool>>,
) -> StepResult<B> {
    let device = x.device();
    let [rows, d] = x.dims();
    let features = sae.features();
    let input = sae.encoder_input(x.clone());
    let decoder_norms = sae.decoder_norms();
    let (codes, pre) = SparseCodes::encode(sae, input.clone(), &decoder_norms, k, dead.is_some());

    let decoder_rows = codes.active_rows(&sae.w_dec);
    let reconstruction = codes.combine(&decoder_rows) + sae.b_dec.clone().unsqueeze();
    let error = reconstruction - x.clone();
    let squared_error = error.clone().square().sum();
    let variance = total_variance(x);
    let fvu = squared_error.clone() / variance.clone();

    // The gradients carry r = V/B (crate::loss's module docs): r·∂(Σe²/V)/∂x̂ = 2e/B.
    let gradient_scale = variance.div_scalar(rows as f64);
    let d_recon = error.clone().mul_scalar(2.0 / rows as f64);
    let d_codes = codes.code_gradient(&decoder_rows, &d_recon);
    let mut w_dec_grad = codes.scatter_outer(crate::host::zeros([features, d], &device), codes.values.clone(), &d_recon);
    let mut encoder = EncoderGradient::zeros(features, d, &device).add(&codes, d_codes, &input);

    let aux = dead.zip(pre.as_ref()).and_then(|(dead, pre)| AuxK::of(sae, pre, &decoder_norms, dead, auxk_k, error.clone().neg().detach()));
    let (loss, auxk) = match aux {
        Some(aux) => {
            let d_aux = aux.residual.mul_scalar(2.0 * auxk_coefficient) * (gradient_scale.unsqueeze() / aux.variance.unsqueeze());
            let d_aux_codes = aux.codes.code_gradient(&aux.decoder_rows, &d_aux);
            w_dec_grad = aux.codes.scatter_outer(w_dec_grad, aux.codes.values.clone(), &d_aux);
            encoder = encoder.add(&aux.codes, d_aux_codes, &input);
            (fvu.clone() + aux.loss.clone().mul_scalar(auxk_coefficient), aux.loss)
        }
        None => (fvu.clone(), Tensor::zeros([1], &device)),
    };

    let b_dec_grad = d_recon.sum_dim(0).squeeze_dim(0);
    // When the encoder's input is x - b_dec, b_dec also reaches the loss through it.
    let b_dec_grad = if sae.apply_b_dec_to_input {
        b_dec_grad - sae.w_enc.clone().matmul(encoder.b_enc.clone().unsqueeze_dim(1)).squeeze_dim(1)
    } else {
        b_dec_grad
    };

    let active = codes.active().float();
    let fired = codes.scatter(Tensor::zeros([features], &device), active.clone()).greater_elem(0.0);
    let code_norms = decoder_norms.select(0, codes.flat_indices.clone()).reshape([rows, k]);
    let stats = BatchStats {
        loss,
        mse: squared_error.div_scalar(rows as f64),
        fvu,
        l1: (codes.values.clone() * code_norms).sum().div_scalar(rows as f64),
        l0: active.sum().div_scalar(rows as f64),
        auxk: Some(auxk),
    };
    StepResult {
        stats,
        gradients: Gradients { w_enc: encoder.w_enc, b_enc: encoder.b_enc, w_dec: w_dec_grad, b_dec: b_dec_grad, threshold: None },
        fired,
        min_active_ranking: None,
    }
}

/// The AuxK term on sparse codes: the residual `target = x - x̂` (detached) reconstructed
/// from the `k_aux` highest-ranked dead latents.
struct AuxK<B: Backend> {
    codes: SparseCodes<B>,
    decoder_rows: ActiveRows<B>,
    /// `ê - target`. `[batch, d]`
    residual: Tensor<B, 2>,
    /// Total variance of the target. `[1]`
    variance: Tensor<B, 1>,
    /// `Σ residual² / variance`. `[1]`
    loss: Tensor<B, 1>,
}

impl<B: Backend> AuxK<B> {
    /// Picks among the columns of the dead latents only, so the selection's cost follows
    /// the number of dead latents rather than F; `None` when no latent is dead (the term is
    /// then 0).
    fn of(
        sae: &Sae<B>,
        pre: &Tensor<B, 2>,
        decoder_norms: &Tensor<B, 1>,
        dead: &Tensor<B, 1, Bool>,
        auxk_k: usize,
        target: Tensor<B, 2>,
    ) -> Option<Self> {
        let dead_indices: Tensor<B, 1, Int> = dead.clone().argwhere().squeeze_dim(1);
        let dead_count = dead_indices.dims()[0];
        if dead_count == 0 {
            return None;
        }
        let dead_pre = pre.clone().select(1, dead_indices.clone());
        // The main selection's ranking, on the dead latents' columns.
        let dead_ranking = sae.ranking_given_norms(&dead_pre, &decoder_norms.clone().select(0, dead_indices.clone()));
        let local = SparseCodes::top_k(&dead_pre, dead_ranking, auxk_k.min(dead_count));
        let [rows, chosen] = local.indices.dims();
        let global = dead_indices.select(0, local.flat_indices).reshape([rows, chosen]);
        let codes = SparseCodes::new(global, local.values);

        let decoder_rows = codes.active_rows(&sae.w_dec);
        let residual = codes.combine(&decoder_rows) - target.clone();
        let variance = total_variance(target);
        let loss = residual.clone().square().sum() / variance.clone();
        Some(AuxK { codes, decoder_rows, residual, variance, loss })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::init_sae;
    use crate::loss::{loss_and_gradients, Objective};
    use crate::model::Activation;
    use crate::test_util::{device, to_vec, Cpu};
    use burn::tensor::{Distribution, TensorData};
    use saescale_spec::TopkKernel;

    fn sae(d: usize, features: usize, k: usize) -> Sae<Cpu> {
        let mut sae = init_sae::<Cpu>(d, features, Activation::TopK { k }, 1.0, 5, &device());
        sae.b_enc = Tensor::random([features], Distribution::Uniform(-0.2, 0.2), &device());
        sae.b_dec = Tensor::random([d], Distribution::Uniform(-0.2, 0.2), &device());
        sae.apply_b_dec_to_input = true;
        sae
    }

    /// [`sae`] with decoder rows of unequal norms, ranked by them (`topk_decoder = "free"`).
    fn free_decoder_sae(d: usize, features: usize, k: usize) -> Sae<Cpu> {
        let mut sae = sae(d, features, k);
        let norms = Tensor::<Cpu, 1>::random([features], Distribution::Uniform(0.3, 3.0), &device());
        sae.w_dec = sae.w_dec * norms.unsqueeze_dim(1);
        sae.rank_by_decoder_norm = true;
        sae
    }

    fn dead_mask(features: usize, every: usize) -> Tensor<Cpu, 1, Bool> {
        Tensor::from_data(TensorData::new((0..features).map(|i| i % every == 0).collect::<Vec<_>>(), [features]), &device())
    }

    fn assert_close<const D: usize>(name: &str, sparse: Tensor<Cpu, D>, dense: Tensor<Cpu, D>) {
        let (s, d) = (to_vec(sparse), to_vec(dense));
        assert_eq!(s.len(), d.len(), "{name}: lengths");
        let scale = d.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in s.iter().zip(&d).enumerate() {
            assert!((a - b).abs() <= 1e-5 * scale, "{name}[{i}]: sparse {a} vs dense {b} (scale {scale})");
        }
    }

    /// The sparse step computes the dense step's loss, metrics and gradients, with and
    /// without dead latents (and with fewer dead latents than k_aux).
    fn agrees_with_dense(dead_every: Option<usize>, auxk_k: usize, free_decoder: bool) {
        let (d, features, k, rows) = (8, 48, 5, 33);
        let sae = if free_decoder { free_decoder_sae(d, features, k) } else { sae(d, features, k) };
        let x = Tensor::<Cpu, 2>::random([rows, d], Distribution::Normal(0.0, 1.0), &device());
        let dead = dead_every.map(|every| dead_mask(features, every));
        let objective = |kernel| Objective::TopK { auxk_coefficient: 0.25, auxk_k, dead: dead.clone(), kernel };
        let dense = loss_and_gradients(&sae, x.clone(), &objective(TopkKernel::Dense));
        let sparse = loss_and_gradients(&sae, x, &objective(TopkKernel::Sparse));
        for (name, s, t) in [
            ("loss", sparse.stats.loss, dense.stats.loss),
            ("mse", sparse.stats.mse, dense.stats.mse),
            ("fvu", sparse.stats.fvu, dense.stats.fvu),
            ("l1", sparse.stats.l1, dense.stats.l1),
            ("l0", sparse.stats.l0, dense.stats.l0),
            ("auxk", sparse.stats.auxk.unwrap(), dense.stats.auxk.unwrap()),
        ] {
            assert_close(name, s, t);
        }
        assert_close("w_enc", sparse.gradients.w_enc, dense.gradients.w_enc);
        assert_close("b_enc", sparse.gradients.b_enc, dense.gradients.b_enc);
        assert_close("w_dec", sparse.gradients.w_dec, dense.gradients.w_dec);
        assert_close("b_dec", sparse.gradients.b_dec, dense.gradients.b_dec);
        assert_eq!(sparse.fired.into_data(), dense.fired.into_data());
    }

    /// Codes, a matrix to gather from and scatter into, and vectors, as host data, for
    /// comparing the host loops with the generic kernel. Many codes land on the same latents;
    /// latents 256..512 get none, so the column scatter skips a whole block of 256 of them;
    /// d = 70 makes two bands of rows, one of them short.
    struct HostCase {
        shape: [usize; 2],
        indices: Vec<i64>,
        values: TensorData,
        rows_matrix: TensorData,
        columns_matrix: TensorData,
        vectors: TensorData,
    }

    impl HostCase {
        fn new() -> Self {
            let (rows, k, features, d) = (37, 5, 600, 70);
            let latent = |p: usize| ((p * 7 + p / 3) % 300) as i64;
            let indices = (0..rows * k).map(|p| if latent(p) < 256 { latent(p) } else { latent(p) + 256 }).collect();
            let random = |shape: [usize; 2]| Tensor::<Cpu, 2>::random(shape, Distribution::Normal(0.0, 1.0), &device()).into_data();
            HostCase {
                shape: [rows, k],
                indices,
                values: random([rows, k]),
                rows_matrix: random([features, d]),
                columns_matrix: random([d, features]),
                vectors: random([rows, d]),
            }
        }

        /// The four host loops' results on backend `B`: the two scatter-adds, the combination
        /// and the code gradient.
        fn run<B: Backend>(&self) -> [TensorData; 4] {
            let device = Default::default();
            let float = |data: &TensorData| Tensor::<B, 2>::from_data(data.clone(), &device);
            let indices = Tensor::<B, 2, Int>::from_data(TensorData::new(self.indices.clone(), self.shape), &device);
            let codes = SparseCodes::new(indices, float(&self.values));
            let (values, vectors) = (float(&self.values), float(&self.vectors));
            let rows = codes.active_rows(&float(&self.rows_matrix));
            [
                codes.scatter_outer(float(&self.rows_matrix), values.clone(), &vectors),
                codes.scatter_outer_columns(float(&self.columns_matrix), values, &vectors),
                codes.combine(&rows),
                codes.code_gradient(&rows, &vectors),
            ]
            .map(Tensor::into_data)
        }
    }

    /// Autodiff<Flex> is not host memory to [`crate::host`], so it runs the generic kernel.
    type Generic = burn::backend::Autodiff<Cpu>;

    /// The host scatter-adds give the generic ones' bits, in both layouts.
    #[test]
    fn the_host_scatter_adds_are_the_generic_ones_bit_for_bit() {
        assert!(crate::host::tensors_live_on_host::<Cpu>() && !crate::host::tensors_live_on_host::<Generic>());
        let case = HostCase::new();
        let ([host_rows, host_columns, ..], [generic_rows, generic_columns, ..]) = (case.run::<Cpu>(), case.run::<Generic>());
        assert_eq!(host_rows, generic_rows);
        assert_eq!(host_columns, generic_columns);
        assert_ne!(host_rows, case.rows_matrix, "the scatter-add changed the rows");
        assert_ne!(host_columns, case.columns_matrix, "the scatter-add changed the columns");
        // Columns 256..512 have no codes and keep their values.
        let [d, features] = [case.columns_matrix.shape[0], case.columns_matrix.shape[1]];
        let (before, after) = (case.columns_matrix.to_vec::<f32>().unwrap(), host_columns.to_vec::<f32>().unwrap());
        for entry in (0..d).flat_map(|r| (256..512).map(move |c| r * features + c)) {
            assert_eq!(before[entry], after[entry], "entry {entry} of an untouched block");
        }
    }

    /// The host encoder pass (bias, ranking and selection in one pass) gives the generic
    /// path's pre-activations, indices and values bit for bit, ranked by the pre-activations
    /// or by their product with the decoder norms; choosing every latent makes some codes 0.
    #[test]
    fn the_host_encoder_pass_is_the_generic_one_bit_for_bit() {
        let (d, features, rows) = (24, 300, 19);
        let cases = [(sae(d, features, 7), 7), (free_decoder_sae(d, features, 7), 7), (free_decoder_sae(d, features, 7), features)];
        for (sae, k) in cases {
            let input = Tensor::<Cpu, 2>::random([rows, d], Distribution::Normal(0.0, 1.0), &device());
            let norms = sae.decoder_norms();
            let (codes, pre) = SparseCodes::encode(&sae, input.clone(), &norms, k, true);

            let expected_pre = sae.pre_activations(input);
            let ranking = sae.ranking_given_norms(&expected_pre, &norms);
            let expected_indices = crate::select::top_k_indices_by(ranking, k, crate::select::Selection::Sort);
            let expected_values = expected_pre.clone().gather(1, expected_indices.clone()).clamp_min(0.0);
            assert_eq!(pre.unwrap().into_data(), expected_pre.into_data());
            assert_eq!(codes.indices.into_data().convert::<i64>(), expected_indices.into_data().convert::<i64>());
            assert_eq!(codes.values.clone().into_data(), expected_values.into_data());
            if k == features {
                assert!(to_vec(codes.values).contains(&0.0), "the ReLU cut some of every latent's codes");
            }
        }
    }

    /// The host combination and code gradient, which read the decoder in place, agree with
    /// the generic gather and batched products to float rounding, and the code gradient is 0
    /// where a code is not positive.
    #[test]
    fn the_host_decoder_products_match_the_generic_ones() {
        let case = HostCase::new();
        let ([.., host_combined, host_dots], [.., generic_combined, generic_dots]) = (case.run::<Cpu>(), case.run::<Generic>());
        let to_tensor = |data: TensorData| Tensor::<Cpu, 2>::from_data(data, &device());
        assert_close("combine", to_tensor(host_combined), to_tensor(generic_combined));
        assert_close("code gradient", to_tensor(host_dots.clone()), to_tensor(generic_dots));
        let (values, dots) = (case.values.to_vec::<f32>().unwrap(), host_dots.to_vec::<f32>().unwrap());
        assert!(values.iter().any(|&v| v <= 0.0) && values.iter().any(|&v| v > 0.0));
        for (value, dot) in values.iter().zip(&dots) {
            assert_eq!(*value > 0.0, *dot != 0.0, "value {value}, code gradient {dot}");
        }
    }

    #[test]
    fn agrees_with_the_dense_step_without_dead_latents() {
        agrees_with_dense(None, 4, false);
    }

    #[test]
    fn agrees_with_the_dense_step_with_auxk() {
        agrees_with_dense(Some(3), 4, false);
    }

    #[test]
    fn agrees_with_the_dense_step_when_ranking_by_decoder_norm() {
        agrees_with_dense(Some(3), 4, true);
        agrees_with_dense(Some(16), 6, true);
    }

    #[test]
    fn agrees_with_the_dense_step_when_fewer_latents_are_dead_than_k_aux() {
        // 48 / 16 = 3 dead latents, k_aux = 6.
        agrees_with_dense(Some(16), 6, false);
    }
}
