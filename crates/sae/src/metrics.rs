//! The metrics a run logs (`metrics.jsonl`) and reports at the end (`final.json`).

use serde::{Deserialize, Serialize};

/// Metrics of one logged training step: one line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    /// Steps completed.
    pub step: u64,
    /// Training tokens consumed.
    pub tokens: u64,
    /// The training objective on this step's batch.
    pub loss: f64,
    /// Mean over rows of `‖x - x̂‖²` (normalised units).
    pub mse: f64,
    /// Fraction of variance unexplained.
    pub fvu: f64,
    /// Mean over rows of `Σ_i f_i·‖W_dec,i‖`.
    pub l1: f64,
    /// Mean active latents per row.
    pub l0: f64,
    /// Fraction of latents that have not fired within the dead window.
    pub dead_fraction: f64,
    /// Learning rate used by this step.
    pub lr: f64,
    /// L1 coefficient λ used by this step (relu only).
    pub l1_coefficient: Option<f64>,
    /// AuxK loss (topk only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auxk: Option<f64>,
    /// Training throughput since the previous log line.
    pub tokens_per_s: f64,
    /// Wall time spent training so far, over all resumptions.
    pub elapsed_s: f64,
}

/// The end-of-run report: metrics on the held-out split, and what the run cost (`final.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalMetrics {
    /// Training objective on held-out rows with the final λ (relu), or the FVU (topk).
    pub loss: f64,
    /// Mean over held-out rows of `‖x - x̂‖²` (normalised units).
    pub mse: f64,
    /// Fraction of variance unexplained on held-out rows.
    pub fvu: f64,
    /// Mean over held-out rows of `Σ_i f_i·‖W_dec,i‖`.
    pub l1: f64,
    /// Mean active latents per held-out row.
    pub l0: f64,
    /// Fraction of latents dead at the end of training.
    pub dead_fraction: f64,
    /// Final L1 coefficient (relu only).
    pub l1_coefficient: Option<f64>,
    /// Mean training throughput over the whole run.
    pub tokens_per_s: f64,
    /// Training steps.
    pub steps: u64,
    /// Training tokens.
    pub tokens: u64,
    /// Training compute, `12·d·F` per token (`saescale_spec::compute`).
    pub flops: f64,
    /// Wall time spent training, over all resumptions.
    pub wall_s: f64,
    /// Held-out rows evaluated.
    pub eval_rows: u64,
    /// The normalisation constant `s` (inputs were `s·x`; the export folds it in).
    pub scale: f64,
}
