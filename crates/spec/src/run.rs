//! [`RunSpec`]: everything that defines one SAE training run.
//!
//! Defaults, with their sources:
//! - `relu`: Anthropic, "Circuits Updates — April 2024" (docs/METHODS.md §1.3): λ = 5, decoder
//!   columns of norm 0.1, Adam β = (0.9, 0.999), lr 5e-5, lr decayed linearly to 0 over the
//!   last 20% of steps, λ warmed up linearly over the first 5%, global grad-norm clip at 1,
//!   batch 4096.
//! - `topk`: Gao et al. 2024, arXiv:2406.04093, and its released code (docs/METHODS.md §1.7):
//!   AuxK coefficient 1/32, dead latent = not fired in 10M tokens;
//!   global grad-norm clip at 1 and Adam ε = 1e-8 as SAELens's trainer (sae-lens 6.54, which
//!   hard-codes the clip), on the gradient of the per-row squared error as for relu
//!   (crates/sae's loss module: the clip then binds as it does in SAELens, and held-out FVU
//!   improves, docs/benchmarks/topk-vs-saelens.md; Gao's own code does not clip, and its
//!   ε = 6.25e-10 was for a loss normalised by the variance); k_aux = d_in/2 and
//!   lr = 2e-4/√(F/2^14) follow EleutherAI's sparsify
//!   (HEAD 9d3b136c). The lr decay over the last 20% is kept for topk as well, so that every
//!   run's final loss is an annealed end point (docs/METHODS.md §6, pitfall 9). The step runs
//!   on the active latents only (`topk_kernel = "sparse"`); `"dense"` is the reference. The
//!   decoder is free and latents are ranked by pre-activation × decoder-row norm, as SAELens's
//!   `TopKTrainingSAE` trains (`topk_decoder = "free"`), from rows of norm 1
//!   (`decoder_init_norm`; SAELens starts at 0.1): on the same rows as SAELens this reaches
//!   SAELens's held-out FVU or a lower one and leaves a third of its near-dead latents; Gao's
//!   unit-norm rows (`"unit_norm"`) reach a lower FVU with twice SAELens's near-dead latents,
//!   docs/benchmarks/topk-vs-saelens.md.
//! - `batchtopk`: Bussmann et al. 2024, arXiv:2412.06410, as SAELens trains it
//!   (`BatchTopKTrainingSAE`): topk's defaults, with the `k·batch` largest latents of each
//!   batch kept, on the dense kernel; the inference threshold is an exponential moving average
//!   (rate 0.01, SAELens's) of the smallest kept activation of each batch, from 0.
//! - `jumprelu`: Rajamanoharan et al. 2024, arXiv:2407.14435, with Gemma Scope's settings
//!   (Lieberum et al. 2024, arXiv:2408.05147; docs/METHODS.md §1.7c): per-latent thresholds
//!   learned through straight-through estimators with a rectangle kernel, stepped by Adam
//!   as raw θ (clamped at 0; the paper and SAELens step `log θ`, whose Adam steps of at most
//!   lr nats leave θ near θ₀ in a sweep-sized run, METHODS.md §1.7c); bandwidth ε and initial thresholds θ₀ both 0.001 on activations of unit mean
//!   squared norm, i.e. `0.001·√d_in` on saescale's scale (E‖x‖ = √d_in); an L0 penalty whose
//!   coefficient rises linearly from 0 (over the first 5% of steps: Gemma Scope's 10,000 steps
//!   are all of a short sweep run); unit-norm decoder rows (gradient parallel to each row
//!   removed, rows renormalised after each step), no b_dec subtracted from the input. The
//!   loss is on TopK's FVU scale, `Σe²/V + λ·L0`, so λ is the FVU a latent must save per
//!   token to be worth firing, whatever the data's scale; Gemma Scope sweeps λ per layer and
//!   publishes no default, and saescale's `λ = 1e-3` is its own. The lr is topk's
//!   `2e-4/√(F/2^14)` (Gemma Scope: 7e-5 at F ≥ 2^14, in runs of hundreds of thousands of
//!   steps).

use serde::{Deserialize, Serialize};

use saescale_data::DataConfig;

use crate::{Error, Result};

/// One SAE training run, as written in a run file.
///
/// Optional fields whose default depends on the architecture are `None` as written and
/// `Some` after [`RunSpec::resolve`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// A label for humans (progress bars, reports); it does not affect training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Seed of the SAE's initial weights (the data has its own seed in `[data]`).
    #[serde(default)]
    pub seed: u64,
    /// Matmul precision; unset means f32 on the CPU and bf16 on CUDA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<Precision>,
    /// Where the activations come from.
    pub data: DataConfig,
    /// The autoencoder.
    pub sae: SaeSpec,
    /// Optimiser and schedule.
    pub train: TrainSpec,
    /// Final evaluation on the held-out split.
    #[serde(default)]
    pub eval: EvalSpec,
    /// Logging and checkpoint cadence; never changes the trained weights.
    #[serde(default)]
    pub log: LogSpec,
}

/// SAE architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// ReLU latents with a decoder-norm-weighted L1 penalty (Anthropic, April 2024).
    Relu,
    /// The k largest pre-activations kept, no penalty, AuxK loss (Gao et al. 2024).
    Topk,
    /// The `k·batch` largest pre-activations of the whole batch kept, otherwise as topk
    /// (Bussmann et al. 2024, arXiv:2412.06410); a threshold learned meanwhile replaces the
    /// batch's top-k after training (a JumpReLU SAE with one threshold).
    Batchtopk,
    /// JumpReLU latents `pre_i·H(pre_i - θ_i)` with per-latent thresholds learned through
    /// straight-through estimators, and an L0 penalty (Rajamanoharan et al. 2024,
    /// arXiv:2407.14435; Gemma Scope).
    Jumprelu,
}

impl Architecture {
    /// Every architecture, in the order the docs list them.
    pub const ALL: [Architecture; 4] = [Architecture::Relu, Architecture::Topk, Architecture::Batchtopk, Architecture::Jumprelu];

    /// The name a run file (and the results table) uses for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::Relu => "relu",
            Architecture::Topk => "topk",
            Architecture::Batchtopk => "batchtopk",
            Architecture::Jumprelu => "jumprelu",
        }
    }

    /// Whether it keeps a fixed number `k` of latents (per row or per batch): topk and
    /// batchtopk, whose `sae.k` is required and whose AuxK loss and decoder options apply.
    pub fn keeps_k(self) -> bool {
        matches!(self, Architecture::Topk | Architecture::Batchtopk)
    }
}

/// How a TopK step computes its decoder and its gradients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopkKernel {
    /// Full `[batch, features]` latents and five dense products (`12·d·F` FLOP per token).
    Dense,
    /// Only the `k` active latents of each row: the encoder product, then gathers and
    /// scatter-adds over the active decoder rows (about `2·d·F` FLOP per token).
    Sparse,
}

impl TopkKernel {
    /// The name a run file uses for it.
    pub fn as_str(self) -> &'static str {
        match self {
            TopkKernel::Dense => "dense",
            TopkKernel::Sparse => "sparse",
        }
    }
}

/// How a TopK SAE's decoder rows are held during training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopkDecoder {
    /// Unit-norm rows: the gradient component parallel to each row is removed before the
    /// update and the rows are renormalised after it (Gao et al. 2024, §2.4 and App. A).
    UnitNorm,
    /// Rows move freely from `sae.decoder_init_norm` (default 1) and latents are ranked by
    /// `pre_i·‖W_dec,i‖`, as SAELens's `TopKTrainingSAE` trains them
    /// (`rescale_acts_by_decoder_norm`).
    Free,
}

/// Precision of the matrix multiplications; weights and optimiser state stay f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// Full f32.
    F32,
    /// TensorFloat-32 matmuls (CUDA only).
    Tf32,
    /// bfloat16 matmul inputs, f32 accumulation (CUDA only).
    Bf16,
}

impl Precision {
    /// The name a run file uses for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Tf32 => "tf32",
            Precision::Bf16 => "bf16",
        }
    }
}

/// The `[sae]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaeSpec {
    /// `relu`, `topk`, `batchtopk` or `jumprelu`.
    pub architecture: Architecture,
    /// Number of latents F (`d_sae` in SAELens). Required in a run file; a sweep's `[run]`
    /// template leaves it out, as `[sweep]` sets it for each run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<usize>,
    /// Active latents per token (topk and batchtopk, where it is required; batchtopk keeps
    /// `k` per token on average over each batch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
    /// Final L1 coefficient λ (relu only; default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l1_coefficient: Option<f64>,
    /// Final L0 coefficient λ (jumprelu only; default 1e-3): the FVU a latent must save per
    /// token to be worth firing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l0_coefficient: Option<f64>,
    /// Every latent's threshold θ₀ at initialisation, on saescale's scale (jumprelu only;
    /// default `0.001·√d_in`, Gemma Scope's 0.001 at unit mean squared norm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jumprelu_init_threshold: Option<f64>,
    /// L2 norm of each decoder row at initialisation (default 0.1 for relu, 1 for topk; for
    /// topk only with `topk_decoder = "free"`, as unit-norm rows start at norm 1; not for
    /// jumprelu, whose rows are unit-norm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder_init_norm: Option<f64>,
    /// How a TopK or BatchTopK decoder's rows are held: `"free"` (the default) or
    /// `"unit_norm"` (Gao et al.).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topk_decoder: Option<TopkDecoder>,
}

/// The `[train]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// Optimiser steps. Required in a run file; a sweep's `[run]` template leaves it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u64>,
    /// Tokens per step.
    #[serde(default = "defaults::batch_size")]
    pub batch_size: usize,
    /// Peak learning rate (relu default 5e-5; topk default 2e-4/√(F/2^14)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Adam β1.
    #[serde(default = "defaults::adam_beta1")]
    pub adam_beta1: f64,
    /// Adam β2.
    #[serde(default = "defaults::adam_beta2")]
    pub adam_beta2: f64,
    /// Adam ε, on the scale of the per-row squared error for every architecture (default
    /// 1e-8, as PyTorch and SAELens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adam_epsilon: Option<f64>,
    /// Fraction of steps at the end over which the lr decays linearly to 0.
    #[serde(default = "defaults::lr_decay_fraction")]
    pub lr_decay_fraction: f64,
    /// Fraction of steps at the start over which λ rises linearly from 0 (relu only; 0.05).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l1_warmup_fraction: Option<f64>,
    /// Fraction of steps at the start over which the L0 coefficient rises linearly from 0
    /// (jumprelu only; 0.05).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l0_warmup_fraction: Option<f64>,
    /// Bandwidth ε of the straight-through estimators' rectangle kernel, on saescale's scale
    /// (jumprelu only; default `0.001·√d_in`, Gemma Scope's 0.001 at unit mean squared norm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jumprelu_bandwidth: Option<f64>,
    /// Clip the global norm of the gradient of the per-row squared error (TopK's normalised
    /// loss is rescaled to it) to this value; 0 disables (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_clip_norm: Option<f64>,
    /// Weight of the AuxK loss (topk only; 1/32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auxk_coefficient: Option<f64>,
    /// Dead latents used by the AuxK loss (topk only; d_in/2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auxk_k: Option<usize>,
    /// `sparse` (default) or `dense` (topk only): the two compute the same step, to float
    /// rounding; `dense` is the reference, and the faster on a CPU below about F = 64·k
    /// (docs/benchmarks/topk-cpu.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topk_kernel: Option<TopkKernel>,
    /// Rate η of BatchTopK's threshold, an exponential moving average of the smallest kept
    /// activation of each batch (batchtopk only; default 0.01, SAELens's `topk_threshold_lr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batchtopk_threshold_lr: Option<f64>,
    /// A latent is dead when it has not fired in this many training tokens.
    #[serde(default = "defaults::dead_window_tokens")]
    pub dead_window_tokens: u64,
    /// Training rows sampled to estimate the normalisation constant (E‖s·x‖ = √d_in).
    #[serde(default = "defaults::normalization_rows")]
    pub normalization_rows: usize,
}

/// The `[eval]` section: the final evaluation on the held-out split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSpec {
    /// Held-out rows evaluated at the end of training.
    #[serde(default = "defaults::eval_rows")]
    pub rows: usize,
}

/// The `[log]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSpec {
    /// Write a line to `metrics.jsonl` every this many steps (and at the last step).
    #[serde(default = "defaults::log_every")]
    pub every_steps: u64,
    /// Write the trainer state every this many steps (and on SIGTERM/SIGINT).
    #[serde(default = "defaults::checkpoint_every")]
    pub checkpoint_every_steps: u64,
}

impl Default for EvalSpec {
    fn default() -> Self {
        EvalSpec { rows: defaults::eval_rows() }
    }
}

impl Default for LogSpec {
    fn default() -> Self {
        LogSpec { every_steps: defaults::log_every(), checkpoint_every_steps: defaults::checkpoint_every() }
    }
}

mod defaults {
    pub fn batch_size() -> usize {
        4096
    }
    pub fn adam_beta1() -> f64 {
        0.9
    }
    pub fn adam_beta2() -> f64 {
        0.999
    }
    pub fn lr_decay_fraction() -> f64 {
        0.2
    }
    pub fn dead_window_tokens() -> u64 {
        10_000_000
    }
    pub fn normalization_rows() -> usize {
        65_536
    }
    pub fn eval_rows() -> usize {
        65_536
    }
    pub fn log_every() -> u64 {
        100
    }
    pub fn checkpoint_every() -> u64 {
        1000
    }
}

/// TopK's default peak lr, `2e-4/√(F/2^14)` (EleutherAI's sparsify), also jumprelu's.
fn topk_lr(features: usize) -> f64 {
    2e-4 / (features as f64 / 16384.0).sqrt()
}

impl RunSpec {
    /// Parses a run file.
    ///
    /// # Errors
    /// [`Error::Parse`] with line and column for syntax errors, unknown keys, missing keys
    /// and wrong types.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        Ok(toml::from_str(text)?)
    }

    /// The resolved spec as TOML, which [`RunSpec::from_toml_str`] reads back unchanged.
    pub fn to_toml_string(&self) -> String {
        // Serialising plain structs of numbers, strings and enums cannot fail.
        toml::to_string(self).expect("a RunSpec always serialises to TOML")
    }

    /// Width of the activations.
    pub fn d_in(&self) -> usize {
        self.data.d_in()
    }

    /// Number of latents F of a resolved spec ([`RunSpec::resolve`] requires it; 0 before, when unset).
    pub fn features(&self) -> usize {
        self.sae.features.unwrap_or(0)
    }

    /// Optimiser steps of a resolved spec ([`RunSpec::resolve`] requires them; 0 before, when unset).
    pub fn steps(&self) -> u64 {
        self.train.steps.unwrap_or(0)
    }

    /// Fills every architecture-dependent default and checks every value.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the first offending key: out of range, or set for an
    /// architecture it does not apply to.
    pub fn resolve(mut self) -> Result<Self> {
        self.data.validate()?;
        let d_in = self.d_in();
        let features = match self.sae.features {
            None => return Err(Error::invalid("sae.features", "is required: the number of latents F")),
            Some(0) => return Err(Error::invalid("sae.features", "must be a positive integer")),
            Some(features) => features,
        };
        if self.train.steps.is_none() {
            return Err(Error::invalid("train.steps", "is required: the number of optimiser steps"));
        }
        self.refuse_keys_of_other_architectures()?;
        let architecture = self.sae.architecture;
        match architecture {
            Architecture::Relu => {
                self.sae.l1_coefficient.get_or_insert(5.0);
                self.sae.decoder_init_norm.get_or_insert(0.1);
                self.train.lr.get_or_insert(5e-5);
                self.train.l1_warmup_fraction.get_or_insert(0.05);
            }
            Architecture::Topk | Architecture::Batchtopk => {
                let name = architecture.as_str();
                match self.sae.topk_decoder.get_or_insert(TopkDecoder::Free) {
                    TopkDecoder::Free => {
                        self.sae.decoder_init_norm.get_or_insert(1.0);
                    }
                    TopkDecoder::UnitNorm if self.sae.decoder_init_norm.is_some() => {
                        return Err(Error::invalid(
                            "sae.decoder_init_norm",
                            "applies to topk only with sae.topk_decoder = \"free\": unit-norm decoder rows start at norm 1",
                        ));
                    }
                    TopkDecoder::UnitNorm => {}
                }
                match self.sae.k {
                    None => return Err(Error::invalid("sae.k", format!("is required for architecture = \"{name}\""))),
                    Some(k) if k == 0 || k > features => {
                        return Err(Error::invalid("sae.k", format!("must be between 1 and sae.features ({features}), got {k}")))
                    }
                    Some(_) => {}
                }
                self.train.lr.get_or_insert(topk_lr(features));
                self.train.auxk_coefficient.get_or_insert(1.0 / 32.0);
                self.train.auxk_k.get_or_insert((d_in / 2).clamp(1, features));
                if architecture == Architecture::Topk {
                    self.train.topk_kernel.get_or_insert(TopkKernel::Sparse);
                } else {
                    // The sparse kernel keeps exactly k latents in every row; BatchTopK's
                    // count varies from row to row.
                    if self.train.topk_kernel == Some(TopkKernel::Sparse) {
                        return Err(Error::invalid(
                            "train.topk_kernel",
                            "must be \"dense\" for batchtopk: the sparse kernel keeps exactly k latents in every row",
                        ));
                    }
                    self.train.topk_kernel = Some(TopkKernel::Dense);
                    self.train.batchtopk_threshold_lr.get_or_insert(0.01);
                }
            }
            Architecture::Jumprelu => {
                // Gemma Scope's 0.001 at unit mean squared norm, on inputs √d_in times larger.
                let gemma_scope_unit = 0.001 * (d_in as f64).sqrt();
                self.sae.l0_coefficient.get_or_insert(1e-3);
                self.sae.jumprelu_init_threshold.get_or_insert(gemma_scope_unit);
                self.train.jumprelu_bandwidth.get_or_insert(gemma_scope_unit);
                self.train.l0_warmup_fraction.get_or_insert(0.05);
                self.train.lr.get_or_insert(topk_lr(features));
            }
        }
        // One scale for every architecture's gradient (the per-row squared error), so one
        // clip and one ε: SAELens's trainer's and PyTorch's.
        self.train.adam_epsilon.get_or_insert(1e-8);
        self.train.grad_clip_norm.get_or_insert(1.0);
        self.check_ranges()?;
        Ok(self)
    }

    /// Refuses a key written for an architecture it does not apply to, naming the key and
    /// the architectures it does apply to.
    fn refuse_keys_of_other_architectures(&self) -> Result<()> {
        use Architecture::{Batchtopk, Jumprelu, Relu, Topk};
        let (sae, train) = (&self.sae, &self.train);
        let keys: [(&str, bool, &[Architecture]); 13] = [
            ("sae.k", sae.k.is_some(), &[Topk, Batchtopk]),
            ("sae.l1_coefficient", sae.l1_coefficient.is_some(), &[Relu]),
            ("sae.l0_coefficient", sae.l0_coefficient.is_some(), &[Jumprelu]),
            ("sae.jumprelu_init_threshold", sae.jumprelu_init_threshold.is_some(), &[Jumprelu]),
            ("sae.topk_decoder", sae.topk_decoder.is_some(), &[Topk, Batchtopk]),
            ("sae.decoder_init_norm", sae.decoder_init_norm.is_some(), &[Relu, Topk, Batchtopk]),
            ("train.l1_warmup_fraction", train.l1_warmup_fraction.is_some(), &[Relu]),
            ("train.l0_warmup_fraction", train.l0_warmup_fraction.is_some(), &[Jumprelu]),
            ("train.jumprelu_bandwidth", train.jumprelu_bandwidth.is_some(), &[Jumprelu]),
            ("train.auxk_coefficient", train.auxk_coefficient.is_some(), &[Topk, Batchtopk]),
            ("train.auxk_k", train.auxk_k.is_some(), &[Topk, Batchtopk]),
            ("train.topk_kernel", train.topk_kernel.is_some(), &[Topk, Batchtopk]),
            ("train.batchtopk_threshold_lr", train.batchtopk_threshold_lr.is_some(), &[Batchtopk]),
        ];
        let architecture = self.sae.architecture;
        match keys.iter().find(|(_, set, applies)| *set && !applies.contains(&architecture)) {
            Some((key, _, applies)) => {
                let names: Vec<String> = applies.iter().map(|a| format!("\"{}\"", a.as_str())).collect();
                let unit_norm = if architecture == Jumprelu && *key == "sae.decoder_init_norm" {
                    ": jumprelu's decoder rows are unit-norm"
                } else {
                    ""
                };
                Err(Error::invalid(*key, format!("applies to architecture = {} only{unit_norm}", names.join(" or "))))
            }
            None => Ok(()),
        }
    }

    /// Range checks on a spec whose defaults are filled.
    fn check_ranges(&self) -> Result<()> {
        let (sae, train) = (&self.sae, &self.train);
        let positive = |key: &str, value: Option<f64>| match value {
            Some(v) if !(v > 0.0 && v.is_finite()) => Err(Error::invalid(key, format!("must be a positive number, got {v}"))),
            _ => Ok(()),
        };
        let non_negative = |key: &str, value: Option<f64>| match value {
            Some(v) if !(v >= 0.0 && v.is_finite()) => Err(Error::invalid(key, format!("must be a number >= 0, got {v}"))),
            _ => Ok(()),
        };
        let fraction = |key: &str, value: Option<f64>| match value {
            Some(v) if !(0.0..=1.0).contains(&v) => Err(Error::invalid(key, format!("must be between 0 and 1, got {v}"))),
            _ => Ok(()),
        };
        let beta = |key: &str, v: f64| {
            if (0.0..1.0).contains(&v) {
                Ok(())
            } else {
                Err(Error::invalid(key, format!("must be in [0, 1), got {v}")))
            }
        };
        let count = |key: &str, v: u64| if v == 0 { Err(Error::invalid(key, "must be a positive integer")) } else { Ok(()) };

        non_negative("sae.l1_coefficient", sae.l1_coefficient)?;
        non_negative("sae.l0_coefficient", sae.l0_coefficient)?;
        positive("sae.jumprelu_init_threshold", sae.jumprelu_init_threshold)?;
        positive("train.jumprelu_bandwidth", train.jumprelu_bandwidth)?;
        fraction("train.l0_warmup_fraction", train.l0_warmup_fraction)?;
        positive("sae.decoder_init_norm", sae.decoder_init_norm)?;
        count("train.steps", train.steps.unwrap_or(0))?;
        count("train.batch_size", train.batch_size as u64)?;
        positive("train.lr", train.lr)?;
        beta("train.adam_beta1", train.adam_beta1)?;
        beta("train.adam_beta2", train.adam_beta2)?;
        positive("train.adam_epsilon", train.adam_epsilon)?;
        fraction("train.lr_decay_fraction", Some(train.lr_decay_fraction))?;
        fraction("train.l1_warmup_fraction", train.l1_warmup_fraction)?;
        non_negative("train.grad_clip_norm", train.grad_clip_norm)?;
        non_negative("train.auxk_coefficient", train.auxk_coefficient)?;
        match train.batchtopk_threshold_lr {
            Some(v) if !(v > 0.0 && v <= 1.0) => {
                return Err(Error::invalid("train.batchtopk_threshold_lr", format!("must be in (0, 1], got {v}")))
            }
            _ => {}
        }
        if let Some(auxk_k) = train.auxk_k {
            count("train.auxk_k", auxk_k as u64)?;
        }
        count("train.dead_window_tokens", train.dead_window_tokens)?;
        count("train.normalization_rows", train.normalization_rows as u64)?;
        count("eval.rows", self.eval.rows as u64)?;
        count("log.every_steps", self.log.every_steps)?;
        count("log.checkpoint_every_steps", self.log.checkpoint_every_steps)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL_RELU: &str = r#"
        [data]
        source = "synthetic"
        d_in = 64
        [sae]
        architecture = "relu"
        features = 512
        [train]
        steps = 100
    "#;

    fn parse(text: &str) -> Result<RunSpec> {
        RunSpec::from_toml_str(text)?.resolve()
    }

    #[test]
    fn relu_defaults_follow_anthropic_april_2024() {
        let spec = parse(MINIMAL_RELU).unwrap();
        assert_eq!(spec.sae.l1_coefficient, Some(5.0));
        assert_eq!(spec.sae.decoder_init_norm, Some(0.1));
        assert_eq!(spec.train.lr, Some(5e-5));
        assert_eq!((spec.train.adam_beta1, spec.train.adam_beta2), (0.9, 0.999));
        assert_eq!(spec.train.lr_decay_fraction, 0.2);
        assert_eq!(spec.train.l1_warmup_fraction, Some(0.05));
        assert_eq!(spec.train.grad_clip_norm, Some(1.0));
        assert_eq!(spec.train.batch_size, 4096);
        assert_eq!(spec.train.dead_window_tokens, 10_000_000);
    }

    #[test]
    fn topk_defaults_follow_gao_sparsify_and_saelens() {
        let text = MINIMAL_RELU.replace("\"relu\"", "\"topk\"\nk = 16").replace("512", "16384");
        let spec = parse(&text).unwrap();
        assert_eq!(spec.train.auxk_coefficient, Some(1.0 / 32.0));
        assert_eq!(spec.train.auxk_k, Some(32));
        assert_eq!(spec.train.adam_epsilon, Some(1e-8));
        assert_eq!(spec.train.grad_clip_norm, Some(1.0));
        // 2e-4/√(F/2^14) = 2e-4 at F = 2^14.
        assert_eq!(spec.train.lr, Some(2e-4));
        assert_eq!(spec.train.topk_kernel, Some(TopkKernel::Sparse));
        let dense = parse(&text.replace("steps = 100", "steps = 100\ntopk_kernel = \"dense\"")).unwrap();
        assert_eq!(dense.train.topk_kernel, Some(TopkKernel::Dense));
        // A free decoder from rows of norm 1 by default; Gao's unit-norm rows on request.
        assert_eq!((spec.sae.topk_decoder, spec.sae.decoder_init_norm), (Some(TopkDecoder::Free), Some(1.0)));
        let unit = parse(&text.replace("k = 16", "k = 16\ntopk_decoder = \"unit_norm\"")).unwrap();
        assert_eq!((unit.sae.topk_decoder, unit.sae.decoder_init_norm), (Some(TopkDecoder::UnitNorm), None));
    }

    #[test]
    fn batchtopk_defaults_are_topks_on_the_dense_kernel_with_saelens_threshold_rate() {
        let text = MINIMAL_RELU.replace("\"relu\"", "\"batchtopk\"\nk = 16").replace("512", "16384");
        let spec = parse(&text).unwrap();
        let topk = parse(&text.replace("batchtopk", "topk")).unwrap();
        assert_eq!((spec.train.lr, spec.train.auxk_k, spec.train.auxk_coefficient), (topk.train.lr, topk.train.auxk_k, topk.train.auxk_coefficient));
        assert_eq!((spec.sae.topk_decoder, spec.sae.decoder_init_norm), (Some(TopkDecoder::Free), Some(1.0)));
        assert_eq!(spec.train.topk_kernel, Some(TopkKernel::Dense));
        assert_eq!((spec.train.batchtopk_threshold_lr, topk.train.batchtopk_threshold_lr), (Some(0.01), None));
        assert_eq!(spec.clone().resolve().unwrap(), spec);
        assert_eq!(RunSpec::from_toml_str(&spec.to_toml_string()).unwrap(), spec);
    }

    #[test]
    fn jumprelu_defaults_are_gemma_scopes_on_saescales_scale() {
        let text = MINIMAL_RELU.replace("\"relu\"", "\"jumprelu\"").replace("512", "16384");
        let spec = parse(&text).unwrap();
        // 0.001 at unit mean squared norm is 0.001·√64 on inputs of mean norm √64.
        assert_eq!((spec.sae.jumprelu_init_threshold, spec.train.jumprelu_bandwidth), (Some(0.008), Some(0.008)));
        assert_eq!((spec.sae.l0_coefficient, spec.train.l0_warmup_fraction), (Some(1e-3), Some(0.05)));
        assert_eq!(spec.train.lr, Some(2e-4));
        assert_eq!((spec.train.adam_epsilon, spec.train.grad_clip_norm), (Some(1e-8), Some(1.0)));
        // Nothing of the other architectures is filled in.
        assert_eq!((spec.sae.k, spec.sae.l1_coefficient, spec.sae.decoder_init_norm, spec.sae.topk_decoder), (None, None, None, None));
        assert_eq!((spec.train.auxk_k, spec.train.topk_kernel, spec.train.l1_warmup_fraction), (None, None, None));
        assert_eq!(spec.clone().resolve().unwrap(), spec);
        assert_eq!(RunSpec::from_toml_str(&spec.to_toml_string()).unwrap(), spec);
    }

    #[test]
    fn resolving_twice_changes_nothing_and_toml_round_trips() {
        let spec = parse(MINIMAL_RELU).unwrap();
        assert_eq!(spec.clone().resolve().unwrap(), spec);
        assert_eq!(RunSpec::from_toml_str(&spec.to_toml_string()).unwrap(), spec);
    }

    #[test]
    fn bad_run_files_name_the_key() {
        let cases = [
            (MINIMAL_RELU.replace("features = 512", "features = 0"), "sae.features"),
            (MINIMAL_RELU.replace("steps = 100", "steps = 0"), "train.steps"),
            (MINIMAL_RELU.replace("steps = 100", "steps = 100\nlr = -1.0"), "train.lr"),
            (MINIMAL_RELU.replace("steps = 100", "steps = 100\ntopk_kernel = \"sparse\""), "train.topk_kernel"),
            (MINIMAL_RELU.replace("features = 512", "features = 512\nk = 8"), "sae.k"),
            (MINIMAL_RELU.replace("\"relu\"", "\"topk\""), "sae.k"),
            (MINIMAL_RELU.replace("\"relu\"", "\"topk\"\nk = 600"), "sae.k"),
            (MINIMAL_RELU.replace("\"relu\"", "\"relu\"\ntopk_decoder = \"free\""), "sae.topk_decoder"),
            (MINIMAL_RELU.replace("\"relu\"", "\"topk\"\nk = 8\ntopk_decoder = \"unit_norm\"\ndecoder_init_norm = 0.1"), "sae.decoder_init_norm"),
            (MINIMAL_RELU.replace("d_in = 64", "d_in = 0"), "data.d_in"),
            (MINIMAL_RELU.replace("\"relu\"", "\"batchtopk\""), "sae.k"),
            (MINIMAL_RELU.replace("\"relu\"", "\"batchtopk\"\nk = 8").replace("steps = 100", "steps = 100\ntopk_kernel = \"sparse\""), "train.topk_kernel"),
            (MINIMAL_RELU.replace("\"relu\"", "\"batchtopk\"\nk = 8").replace("steps = 100", "steps = 100\nbatchtopk_threshold_lr = 0.0"), "train.batchtopk_threshold_lr"),
            (MINIMAL_RELU.replace("\"relu\"", "\"topk\"\nk = 8").replace("steps = 100", "steps = 100\nbatchtopk_threshold_lr = 0.1"), "train.batchtopk_threshold_lr"),
            (MINIMAL_RELU.replace("steps = 100", "steps = 100\nbatchtopk_threshold_lr = 0.1"), "train.batchtopk_threshold_lr"),
            (MINIMAL_RELU.replace("features = 512", "features = 512\nl0_coefficient = 0.1"), "sae.l0_coefficient"),
            (MINIMAL_RELU.replace("\"relu\"", "\"topk\"\nk = 8").replace("steps = 100", "steps = 100\njumprelu_bandwidth = 0.1"), "train.jumprelu_bandwidth"),
            (MINIMAL_RELU.replace("\"relu\"", "\"jumprelu\"\nk = 8"), "sae.k"),
            (MINIMAL_RELU.replace("\"relu\"", "\"jumprelu\"\nl1_coefficient = 1.0"), "sae.l1_coefficient"),
            (MINIMAL_RELU.replace("\"relu\"", "\"jumprelu\"\ndecoder_init_norm = 0.1"), "sae.decoder_init_norm"),
            (MINIMAL_RELU.replace("\"relu\"", "\"jumprelu\"").replace("steps = 100", "steps = 100\nauxk_k = 4"), "train.auxk_k"),
            (MINIMAL_RELU.replace("\"relu\"", "\"jumprelu\"\njumprelu_init_threshold = 0.0"), "sae.jumprelu_init_threshold"),
            (MINIMAL_RELU.replace("\"relu\"", "\"jumprelu\"").replace("steps = 100", "steps = 100\nl0_warmup_fraction = 1.5"), "train.l0_warmup_fraction"),
            (MINIMAL_RELU.replace("\"relu\"", "\"jumprelu\"\nl0_coefficient = -1.0"), "sae.l0_coefficient"),
        ];
        for (text, key) in cases {
            match parse(&text) {
                Err(Error::Invalid { field, .. }) => assert_eq!(field, key),
                other => panic!("expected an error naming {key}, got {other:?}"),
            }
        }
    }

    #[test]
    fn parse_errors_name_the_key_and_line() {
        let unknown = MINIMAL_RELU.replace("steps = 100", "steps = 100\nlearning_rate = 1e-3");
        let message = parse(&unknown).unwrap_err().to_string();
        assert!(message.contains("learning_rate") && message.contains("line"), "{message}");

        let wrong_type = MINIMAL_RELU.replace("features = 512", "features = \"many\"");
        let message = parse(&wrong_type).unwrap_err().to_string();
        assert!(message.contains("features") || message.contains("line 7"), "{message}");

        let missing = MINIMAL_RELU.replace("steps = 100", "");
        let message = parse(&missing).unwrap_err().to_string();
        assert!(message.contains("steps"), "{message}");

        let bad_arch = MINIMAL_RELU.replace("\"relu\"", "\"gated\"");
        let message = parse(&bad_arch).unwrap_err().to_string();
        assert!(message.contains("gated") && message.contains("relu"), "{message}");
    }
}
