//! [`Trainer`]: one SAE, its optimiser, its data stream, and the step that moves them.
//!
//! A training step (Anthropic April-2024 recipe for relu, Gao et al. 2024 for topk):
//! 1. read the next `batch_size` rows at the data cursor and scale them by `s` (E‖s·x‖ = √d);
//! 2. loss and gradients ([`crate::loss`]) with λ warmed up (relu) or the dead mask (topk);
//! 3. update the dead-latent counters;
//! 4. topk with unit-norm decoder rows (`sae.topk_decoder = "unit_norm"`): remove the
//!    gradient component parallel to each decoder row;
//! 5. clip the global gradient norm (when `grad_clip_norm > 0`; TopK's gradients are on the
//!    scale of the per-row squared error, as ReLU's, see [`crate::loss`]);
//! 6. Adam with the scheduled learning rate;
//! 7. topk with unit-norm decoder rows: renormalise them. (The default free decoder skips 4
//!    and 7 and ranks latents by `pre_i·‖W_dec,i‖` instead, as SAELens does.)
//! 8. batchtopk: move the inference threshold θ towards the smallest ranking value kept in
//!    this batch, `θ ← θ + η·(min − θ)` (SAELens's `topk_threshold`, η =
//!    `train.batchtopk_threshold_lr`); evaluation and export use the JumpReLU form with θ.
//!
//! JumpReLU steps with the L0 coefficient warmed up as relu's λ, straight-through gradients
//! for its per-latent thresholds (a fifth parameter, stepped by Adam as raw θ, clipped with
//! the others), and unit-norm decoder rows (steps 4 and 7), as Gemma Scope trains it.
//!
//! BatchTopK steps as TopK (same loss, AuxK and decoder handling) with the whole batch's
//! `k·batch` largest latents kept ([`Activation::BatchTopK`]), on the dense kernel: the sparse
//! one keeps exactly `k` latents in every row.
//!
//! Everything that determines the next step lives in the trainer state — weights, Adam
//! moments, step, data cursor, dead-latent counters, normalisation constant — and the
//! initial weights and the data are functions of seeds, so a run restored from its state
//! continues exactly as if it had never stopped.

use std::path::Path;

use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Tensor, TensorData};
use saescale_data::{open, scale_for, Source, Split};
use saescale_spec::{Architecture, RunSpec, TopkDecoder, TopkKernel};

use crate::dead::DeadLatents;
use crate::init::init_sae;
use crate::loss::{batch_stats, loss_and_gradients, project_out_parallel, Objective};
use crate::model::{Activation, Sae};
use crate::optim::{Adam, AdamConfig};
use crate::precision::MatmulPrecision;
use crate::schedule::{lr_factor, warmup_factor};
use crate::tensors::{HostTensor, TensorFile};
use crate::{Error, Result};

/// Metadata key of the trainer-state file.
const STATE_KEY: &str = "saescale.trainer_state";
/// Version of the trainer-state layout; bump when it changes.
const STATE_VERSION: u32 = 1;
/// Tensor of BatchTopK's threshold in the trainer-state file (batchtopk runs only).
const THRESHOLD_KEY: &str = "batchtopk.threshold";
/// Tensor of JumpReLU's per-latent thresholds (raw θ) in the trainer-state file; Adam's
/// moments are `adam.m.threshold` and `adam.v.threshold`.
const JUMPRELU_THRESHOLD_KEY: &str = "sae.threshold";

/// Values read back from the device after a step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReading {
    /// Training objective.
    pub loss: f64,
    /// Mean squared reconstruction error per row.
    pub mse: f64,
    /// Fraction of variance unexplained.
    pub fvu: f64,
    /// Decoder-norm-weighted L1 per row.
    pub l1: f64,
    /// Active latents per row.
    pub l0: f64,
    /// Dead fraction after the step.
    pub dead_fraction: f64,
    /// AuxK loss (topk).
    pub auxk: Option<f64>,
    /// Learning rate of the step.
    pub lr: f64,
    /// λ of the step (relu).
    pub l1_coefficient: Option<f64>,
    /// L0 coefficient of the step (jumprelu).
    pub l0_coefficient: Option<f64>,
}

/// Held-out evaluation results.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Objective with the final λ (relu, jumprelu) or the FVU (topk, batchtopk).
    pub loss: f64,
    /// Mean squared reconstruction error per row.
    pub mse: f64,
    /// Fraction of variance unexplained over all evaluated rows.
    pub fvu: f64,
    /// Decoder-norm-weighted L1 per row.
    pub l1: f64,
    /// Active latents per row.
    pub l0: f64,
    /// Rows evaluated.
    pub rows: u64,
    /// Rows each latent was active on. `[features]`
    pub firing_rows: Vec<u64>,
}

/// The scalar part of the trainer state, stored as JSON in the state file's metadata.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct StateHeader {
    version: u32,
    step: u64,
    cursor: u64,
    scale: f64,
    elapsed_s: f64,
}

/// Trains one SAE, step by step.
pub struct Trainer<B: Backend> {
    spec: RunSpec,
    device: B::Device,
    sae: Sae<B>,
    adam: Adam<B>,
    dead: DeadLatents<B>,
    source: Box<dyn Source>,
    /// Steps completed.
    step: u64,
    /// Normalisation constant `s`.
    scale: f64,
    /// Training wall time accumulated by earlier sessions of this run.
    elapsed_before_s: f64,
    /// Reused host buffer for one batch, `[batch_size, d_in]`.
    batch: Vec<f32>,
    /// BatchTopK's inference threshold θ on the ranking's scale, from 0 (as SAELens); `None`
    /// for other architectures (JumpReLU's thresholds are the SAE's own). `[1]`
    batchtopk_threshold: Option<Tensor<B, 1>>,
}

impl<B: Backend> Trainer<B> {
    /// A trainer at step 0: fresh weights, and the normalisation constant stored with the
    /// dataset or, when it has none, estimated from the training split.
    ///
    /// # Errors
    /// [`Error::Spec`] for an invalid spec; [`Error::Data`] when the data cannot be read.
    pub fn new(spec: &RunSpec, device: &B::Device) -> Result<Self> {
        let spec = spec.clone().resolve()?;
        let mut sample = open(&spec.data, Split::Train)?;
        let scale = scale_for(sample.as_mut(), spec.train.normalization_rows)?;
        let mut sae = init_sae::<B>(spec.d_in(), spec.features(), activation(&spec), decoder_init_norm(&spec), spec.seed, device);
        if let Some(initial) = spec.sae.jumprelu_init_threshold {
            sae.threshold = Some(Tensor::full([spec.features()], initial, device));
        }
        Self::assemble(spec, device, sae, scale)
    }

    fn assemble(spec: RunSpec, device: &B::Device, mut sae: Sae<B>, scale: f64) -> Result<Self> {
        sae.matmul = MatmulPrecision::of(spec.precision)?;
        // A free TopK decoder is ranked by its row norms, as SAELens trains it.
        sae.rank_by_decoder_norm = spec.sae.topk_decoder == Some(TopkDecoder::Free);
        let train = &spec.train;
        // resolve() filled adam_epsilon for every architecture.
        let config = AdamConfig { beta1: train.adam_beta1, beta2: train.adam_beta2, epsilon: train.adam_epsilon.unwrap_or(1e-8) };
        let adam = Adam::new(config, &sae);
        let dead = DeadLatents::new(spec.features(), train.dead_window_tokens, device);
        let source = open(&spec.data, Split::Train)?;
        let batch = vec![0f32; train.batch_size * spec.d_in()];
        let batchtopk_threshold = (spec.sae.architecture == Architecture::Batchtopk).then(|| Tensor::zeros([1], device));
        Ok(Trainer { device: device.clone(), sae, adam, dead, source, step: 0, scale, elapsed_before_s: 0.0, batch, batchtopk_threshold, spec })
    }

    /// Restores the trainer saved by [`Trainer::save`] at `path`.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the file is unreadable, of another version, or shaped for
    /// another run; [`Error::Spec`]/[`Error::Data`] as [`Trainer::new`].
    pub fn restore(spec: &RunSpec, device: &B::Device, path: &Path) -> Result<Self> {
        let spec = spec.clone().resolve()?;
        let file = TensorFile::read(path)?;
        let header: StateHeader = file
            .metadata
            .get(STATE_KEY)
            .and_then(|json| serde_json::from_str(json).ok())
            .ok_or_else(|| Error::checkpoint(path, "not a saescale trainer state (no readable header)"))?;
        if header.version != STATE_VERSION {
            return Err(Error::checkpoint(path, format!("trainer state version {} is not {STATE_VERSION}", header.version)));
        }
        let (d, f) = (spec.d_in(), spec.features());
        if header.cursor != header.step * spec.train.batch_size as u64 || header.step > spec.steps() {
            return Err(Error::checkpoint(path, format!("step {} and data cursor {} do not fit this run", header.step, header.cursor)));
        }
        let sae = Sae {
            w_enc: file.float(path, "sae.w_enc", [d, f], device)?,
            b_enc: file.float(path, "sae.b_enc", [f], device)?,
            w_dec: file.float(path, "sae.w_dec", [f, d], device)?,
            b_dec: file.float(path, "sae.b_dec", [d], device)?,
            activation: activation(&spec),
            // As init_sae: Gao et al.'s b_pre for the architectures that keep k.
            apply_b_dec_to_input: spec.sae.architecture.keeps_k(),
            matmul: MatmulPrecision::F32,
            rank_by_decoder_norm: false,
            threshold: match spec.sae.architecture {
                Architecture::Jumprelu => Some(file.float(path, JUMPRELU_THRESHOLD_KEY, [f], device)?),
                _ => None,
            },
        };
        let mut trainer = Self::assemble(spec, device, sae, header.scale)?;
        for (prefix, moments) in [("adam.m", &mut trainer.adam.m), ("adam.v", &mut trainer.adam.v)] {
            moments.w_enc = file.float(path, &format!("{prefix}.w_enc"), [d, f], device)?;
            moments.b_enc = file.float(path, &format!("{prefix}.b_enc"), [f], device)?;
            moments.w_dec = file.float(path, &format!("{prefix}.w_dec"), [f, d], device)?;
            moments.b_dec = file.float(path, &format!("{prefix}.b_dec"), [d], device)?;
            if moments.threshold.is_some() {
                moments.threshold = Some(file.float(path, &format!("{prefix}.threshold"), [f], device)?);
            }
        }
        trainer.dead = DeadLatents::restore(file.int(path, "dead.since_fired", [f], device)?, trainer.dead.window);
        if trainer.batchtopk_threshold.is_some() {
            trainer.batchtopk_threshold = Some(file.float(path, THRESHOLD_KEY, [1], device)?);
        }
        trainer.source.seek(header.cursor)?;
        trainer.step = header.step;
        trainer.elapsed_before_s = header.elapsed_s;
        Ok(trainer)
    }

    /// Writes the complete trainer state to `path`, atomically. `elapsed_s` is the training
    /// wall time of the run so far, over all sessions.
    ///
    /// # Errors
    /// [`Error::Io`]/[`Error::Checkpoint`] naming `path`.
    pub fn save(&self, path: &Path, elapsed_s: f64) -> Result<()> {
        let mut file = TensorFile::default();
        let sae = &self.sae;
        file.insert_float("sae.w_enc", sae.w_enc.clone());
        file.insert_float("sae.b_enc", sae.b_enc.clone());
        file.insert_float("sae.w_dec", sae.w_dec.clone());
        file.insert_float("sae.b_dec", sae.b_dec.clone());
        for (prefix, moments) in [("adam.m", &self.adam.m), ("adam.v", &self.adam.v)] {
            file.insert_float(&format!("{prefix}.w_enc"), moments.w_enc.clone());
            file.insert_float(&format!("{prefix}.b_enc"), moments.b_enc.clone());
            file.insert_float(&format!("{prefix}.w_dec"), moments.w_dec.clone());
            file.insert_float(&format!("{prefix}.b_dec"), moments.b_dec.clone());
            if let Some(threshold) = &moments.threshold {
                file.insert_float(&format!("{prefix}.threshold"), threshold.clone());
            }
        }
        if let Some(threshold) = &sae.threshold {
            file.insert_float(JUMPRELU_THRESHOLD_KEY, threshold.clone());
        }
        file.tensors.insert("dead.since_fired".into(), HostTensor::from_int(self.dead.since_fired.clone()));
        if let Some(threshold) = &self.batchtopk_threshold {
            file.insert_float(THRESHOLD_KEY, threshold.clone());
        }
        let header = StateHeader {
            version: STATE_VERSION,
            step: self.step,
            cursor: self.source.cursor(),
            scale: self.scale,
            elapsed_s,
        };
        // A struct of numbers always serialises.
        file.metadata.insert(STATE_KEY.into(), serde_json::to_string(&header).expect("header serialises"));
        file.write(path)
    }

    /// Runs one training step on the next batch of the training stream; when `read` is set,
    /// waits for the device and returns the step's metrics.
    ///
    /// # Errors
    /// [`Error::Data`] when the batch cannot be read; [`Error::Diverged`] when a read loss
    /// is not finite.
    pub fn step(&mut self, read: bool) -> Result<Option<StepReading>> {
        let x = self.next_batch()?;
        self.step_on(x, read)
    }

    /// Runs one training step on the batch `x` (`[batch_size, d_in]`, already scaled).
    /// [`Trainer::step`] feeds it from the data stream; benchmarks feed it batches that are
    /// already on the device.
    ///
    /// # Errors
    /// [`Error::Diverged`] when `read` is set and the loss is not finite.
    pub fn step_on(&mut self, x: Tensor<B, 2>, read: bool) -> Result<Option<StepReading>> {
        let train = &self.spec.train;
        let (total, rows) = (self.spec.steps(), x.dims()[0]);
        let lr = train.lr.unwrap_or_default() * lr_factor(self.step, total, train.lr_decay_fraction);
        let l1_coefficient = self
            .spec
            .sae
            .l1_coefficient
            .map(|l1| l1 * warmup_factor(self.step, total, train.l1_warmup_fraction.unwrap_or_default()));
        let l0_coefficient = self
            .spec
            .sae
            .l0_coefficient
            .map(|l0| l0 * warmup_factor(self.step, total, train.l0_warmup_fraction.unwrap_or_default()));
        let unit_decoder = keeps_unit_decoder(&self.spec);
        let clip = train.grad_clip_norm.unwrap_or_default();
        let objective = match self.spec.sae.architecture {
            Architecture::Relu => Objective::Relu { l1_coefficient: l1_coefficient.unwrap_or_default() },
            Architecture::Topk | Architecture::Batchtopk => Objective::TopK {
                auxk_coefficient: train.auxk_coefficient.unwrap_or_default(),
                auxk_k: train.auxk_k.unwrap_or(1),
                dead: self.dead.dead_if_any(),
                // resolve() sets batchtopk's to dense.
                kernel: train.topk_kernel.unwrap_or(TopkKernel::Sparse),
            },
            Architecture::Jumprelu => Objective::JumpRelu {
                l0_coefficient: l0_coefficient.unwrap_or_default(),
                bandwidth: train.jumprelu_bandwidth.unwrap_or_default(),
            },
        };

        let result = loss_and_gradients(&self.sae, x, &objective);
        if let (Some(threshold), Some(min_active)) = (&mut self.batchtopk_threshold, result.min_active_ranking) {
            // No latent active in the whole batch leaves θ where it was (min is then f32::MAX).
            let any_active = result.fired.clone().any().float();
            let rate = train.batchtopk_threshold_lr.unwrap_or_default();
            *threshold = threshold.clone() + (min_active - threshold.clone()) * any_active.mul_scalar(rate);
        }
        self.dead.update(result.fired, rows);
        let mut gradients = result.gradients;
        if unit_decoder {
            gradients.w_dec = project_out_parallel(&self.sae.w_dec, gradients.w_dec);
        }
        let max_norm = (clip > 0.0).then_some(clip);
        self.adam.step(&mut self.sae, gradients, lr, self.step + 1, max_norm);
        if unit_decoder {
            self.sae.w_dec = self.sae.w_dec.clone() / self.sae.decoder_norms().unsqueeze_dim(1);
        }
        self.step += 1;

        if !read {
            return Ok(None);
        }
        let stats = result.stats;
        let reading = StepReading {
            loss: scalar(stats.loss),
            mse: scalar(stats.mse),
            fvu: scalar(stats.fvu),
            l1: scalar(stats.l1),
            l0: scalar(stats.l0),
            dead_fraction: scalar(self.dead.fraction()),
            auxk: stats.auxk.map(scalar),
            lr,
            l1_coefficient,
            l0_coefficient,
        };
        if !reading.loss.is_finite() {
            return Err(Error::Diverged { step: self.step, loss: reading.loss });
        }
        Ok(Some(reading))
    }

    /// Evaluates the current SAE on the first `eval.rows` rows of the held-out split.
    ///
    /// # Errors
    /// [`Error::Data`] when the held-out data cannot be read.
    pub fn evaluate(&self) -> Result<Evaluation> {
        let sae = self.inference_sae();
        let d = self.spec.d_in();
        let rows = self.spec.eval.rows;
        let chunk = self.spec.train.batch_size;
        let l1_coefficient = self.spec.sae.l1_coefficient.unwrap_or(0.0);
        let mut source = open(&self.spec.data, Split::Heldout)?;
        let (mut squared_error, mut l1, mut l0) = (0f64, 0f64, 0f64);
        let mut firing_rows = vec![0u64; sae.features()];
        // Σx per coordinate and Σ‖x‖², to get the variance over all evaluated rows.
        let (mut sum, mut sum_squares) = (vec![0f64; d], 0f64);
        let mut buffer = vec![0f32; chunk * d];
        let mut done = 0;
        while done < rows {
            let take = chunk.min(rows - done);
            let values = &mut buffer[..take * d];
            source.fill(values)?;
            scale_in_place(values, self.scale);
            for row in values.chunks_exact(d) {
                for (s, &v) in sum.iter_mut().zip(row) {
                    *s += v as f64;
                    sum_squares += (v as f64) * (v as f64);
                }
            }
            let x = Tensor::<B, 2>::from_data(TensorData::new(values.to_vec(), [take, d]), &self.device);
            let (stats, fired) = batch_stats(&sae, x, l1_coefficient);
            // Counts of at most `chunk` rows, exact in f32.
            for (total, count) in firing_rows.iter_mut().zip(fired.into_data().convert::<f32>().iter::<f32>()) {
                *total += count as u64;
            }
            squared_error += scalar(stats.mse) * take as f64;
            l1 += scalar(stats.l1) * take as f64;
            l0 += scalar(stats.l0) * take as f64;
            done += take;
        }
        let n = rows as f64;
        let variance = sum_squares - sum.iter().map(|s| s * s).sum::<f64>() / n;
        let mse = squared_error / n;
        let fvu = squared_error / variance;
        let loss = match self.spec.sae.architecture {
            Architecture::Relu => mse + l1_coefficient * l1 / n,
            Architecture::Topk | Architecture::Batchtopk => fvu,
            Architecture::Jumprelu => fvu + self.spec.sae.l0_coefficient.unwrap_or(0.0) * l0 / n,
        };
        Ok(Evaluation { loss, mse, fvu, l1: l1 / n, l0: l0 / n, rows: rows as u64, firing_rows })
    }

    /// The next training batch, scaled by `s`, on the device.
    pub fn next_batch(&mut self) -> Result<Tensor<B, 2>> {
        self.source.fill(&mut self.batch)?;
        let mut values = self.batch.clone();
        scale_in_place(&mut values, self.scale);
        let rows = self.spec.train.batch_size;
        Ok(Tensor::from_data(TensorData::new(values, [rows, self.spec.d_in()]), &self.device))
    }

    /// The resolved run spec.
    pub fn spec(&self) -> &RunSpec {
        &self.spec
    }

    /// The SAE as trained (on inputs scaled by [`Trainer::scale`]).
    pub fn sae(&self) -> &Sae<B> {
        &self.sae
    }

    /// The SAE as used after training, on inputs scaled by [`Trainer::scale`]: BatchTopK's
    /// becomes JumpReLU with every latent's threshold at θ (a batch's top-k depends on the
    /// rest of the batch; the threshold does not), as SAELens saves it; the others are as
    /// trained.
    pub fn inference_sae(&self) -> Sae<B> {
        let mut sae = self.sae.clone();
        if let Some(threshold) = &self.batchtopk_threshold {
            sae.activation = Activation::JumpRelu;
            sae.threshold = Some(threshold.clone().expand([sae.features()]));
        }
        sae
    }

    /// Steps completed.
    pub fn steps_done(&self) -> u64 {
        self.step
    }

    /// Whether all of the run's steps are done.
    pub fn is_finished(&self) -> bool {
        self.step >= self.spec.steps()
    }

    /// The normalisation constant `s`.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Training wall time spent by earlier sessions of this run (0 for a fresh run).
    pub fn elapsed_before_s(&self) -> f64 {
        self.elapsed_before_s
    }

    /// Fraction of latents currently dead.
    pub fn dead_fraction(&self) -> f64 {
        scalar(self.dead.fraction())
    }
}

/// The latent nonlinearity a spec asks for.
fn activation(spec: &RunSpec) -> Activation {
    match spec.sae.architecture {
        Architecture::Relu => Activation::Relu,
        Architecture::Topk => Activation::TopK { k: spec.sae.k.unwrap_or(1) },
        Architecture::Batchtopk => Activation::BatchTopK { k: spec.sae.k.unwrap_or(1) },
        Architecture::Jumprelu => Activation::JumpRelu,
    }
}

/// Whether the decoder rows are held at unit norm: jumprelu's, and topk's or batchtopk's with
/// `topk_decoder = "unit_norm"` (resolve() refuses the key for the others).
fn keeps_unit_decoder(spec: &RunSpec) -> bool {
    spec.sae.architecture == Architecture::Jumprelu || spec.sae.topk_decoder == Some(TopkDecoder::UnitNorm)
}

/// Initial decoder row norm: 1 for unit-norm rows, else the spec's.
fn decoder_init_norm(spec: &RunSpec) -> f64 {
    if keeps_unit_decoder(spec) {
        1.0
    } else {
        spec.sae.decoder_init_norm.unwrap_or(0.1)
    }
}

fn scale_in_place(values: &mut [f32], scale: f64) {
    let s = scale as f32;
    values.iter_mut().for_each(|v| *v *= s);
}

/// Reads a one-element tensor, waiting for the device.
fn scalar<B: Backend>(tensor: Tensor<B, 1>) -> f64 {
    tensor.into_scalar().elem::<f64>()
}
