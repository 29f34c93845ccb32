//! The records a run writes into its directory, read back by the manager, the results table
//! and the report: one line of `metrics.jsonl` per logged step ([`StepMetrics`]) and the
//! end-of-run `final.json` ([`FinalMetrics`]).
//!
//! Readers take these files from any trainer that follows the contract (saescale's own, a
//! newer or older version, the stand-in trainers of the tests), so every field but `step` is
//! optional when read: a missing number reads as `None` instead of failing the whole results
//! table. saescale's trainer writes every field it knows. A field added here is written by
//! the trainer and read by every consumer through this one definition.

use serde::{Deserialize, Serialize};

use crate::Precision;

/// saescale's version, as built.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit saescale was built from (12 hex digits), or `unknown` outside a git checkout.
pub const GIT_COMMIT: &str = env!("SAESCALE_GIT_COMMIT");

/// Metrics of one logged training step: one line of `metrics.jsonl`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    /// Steps completed.
    pub step: u64,
    /// Training tokens consumed.
    #[serde(default)]
    pub tokens: Option<u64>,
    /// The training objective on this step's batch.
    #[serde(default)]
    pub loss: Option<f64>,
    /// Mean over rows of `‖x - x̂‖²` (normalised units).
    #[serde(default)]
    pub mse: Option<f64>,
    /// Fraction of variance unexplained.
    #[serde(default)]
    pub fvu: Option<f64>,
    /// Mean over rows of `Σ_i f_i·‖W_dec,i‖`.
    #[serde(default)]
    pub l1: Option<f64>,
    /// Mean active latents per row.
    #[serde(default)]
    pub l0: Option<f64>,
    /// Fraction of latents that have not fired within the dead window.
    #[serde(default)]
    pub dead_fraction: Option<f64>,
    /// Learning rate used by this step.
    #[serde(default)]
    pub lr: Option<f64>,
    /// L1 coefficient λ used by this step (relu only; `null` for topk).
    #[serde(default)]
    pub l1_coefficient: Option<f64>,
    /// AuxK loss (topk only; left out for relu).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auxk: Option<f64>,
    /// Training throughput since the previous log line.
    #[serde(default)]
    pub tokens_per_s: Option<f64>,
    /// Wall time spent training so far, over all resumptions.
    #[serde(default)]
    pub elapsed_s: Option<f64>,
}

/// The end-of-run report (`final.json`): metrics on the held-out split and what the run cost.
/// The trainer writes it last, so its presence marks a finished run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FinalMetrics {
    /// Training objective on held-out rows with the final λ (relu), or the FVU (topk).
    #[serde(default)]
    pub loss: Option<f64>,
    /// Mean over held-out rows of `‖x - x̂‖²` (normalised units).
    #[serde(default)]
    pub mse: Option<f64>,
    /// Fraction of variance unexplained on held-out rows.
    #[serde(default)]
    pub fvu: Option<f64>,
    /// Mean over held-out rows of `Σ_i f_i·‖W_dec,i‖`.
    #[serde(default)]
    pub l1: Option<f64>,
    /// Mean active latents per held-out row.
    #[serde(default)]
    pub l0: Option<f64>,
    /// Fraction of latents dead at the end of training.
    #[serde(default)]
    pub dead_fraction: Option<f64>,
    /// Final L1 coefficient (relu only; `null` for topk).
    #[serde(default)]
    pub l1_coefficient: Option<f64>,
    /// Mean training throughput over the whole run.
    #[serde(default)]
    pub tokens_per_s: Option<f64>,
    /// Training steps.
    #[serde(default)]
    pub steps: Option<u64>,
    /// Training tokens.
    #[serde(default)]
    pub tokens: Option<u64>,
    /// Training compute, `12·d·F` per token ([`crate::compute`]).
    #[serde(default)]
    pub flops: Option<f64>,
    /// Wall time spent training, over all resumptions.
    #[serde(default)]
    pub wall_s: Option<f64>,
    /// Held-out rows evaluated.
    #[serde(default)]
    pub eval_rows: Option<u64>,
    /// The normalisation constant `s` (inputs were `s·x`; the export folds it in).
    #[serde(default)]
    pub scale: Option<f64>,
    /// Which build trained it, where and how, and its peak memory: what a comparison of two
    /// nights needs to tell a regression of the code from a change of the machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

/// Where and how a run trained, recorded in its `final.json`. A resumed run records its last
/// session: the build, machine and peak memory of the process that finished it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// saescale's version ([`VERSION`]).
    pub version: String,
    /// The git commit of the build ([`GIT_COMMIT`]), `unknown` outside a git checkout.
    pub commit: String,
    /// The device, with its model: `cpu (AMD EPYC 7B13)` or `cuda:0 (NVIDIA H200)`.
    pub device: String,
    /// Precision of the matmuls.
    pub precision: Precision,
    /// CPU threads of the matmuls.
    pub threads: usize,
    /// Host name.
    pub host: String,
    /// Peak resident memory of the trainer process, bytes (Linux's `VmHWM`), where known.
    #[serde(default)]
    pub peak_rss_bytes: Option<u64>,
    /// Peak device memory, bytes, where the backend reports it.
    #[serde(default)]
    pub peak_device_bytes: Option<u64>,
}

impl Provenance {
    /// This build's provenance on `device` (peak memory still unknown).
    pub fn of_this_build(device: String, precision: Precision, threads: usize, host: String) -> Self {
        Provenance { version: VERSION.into(), commit: GIT_COMMIT.into(), device, precision, threads, host, peak_rss_bytes: None, peak_device_bytes: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_records_read_with_missing_fields_as_none() {
        let line: StepMetrics = serde_json::from_str(r#"{"step":3,"loss":0.5}"#).unwrap();
        assert_eq!((line.step, line.loss, line.tokens), (3, Some(0.5), None));
        let done: FinalMetrics = serde_json::from_str("{}").unwrap();
        assert_eq!(done, FinalMetrics::default());
        assert!(!serde_json::to_string(&done).unwrap().contains("provenance"));
    }

    #[test]
    fn a_written_record_reads_back_unchanged() {
        let line = StepMetrics { step: 10, tokens: Some(2560), loss: Some(1.5), l1_coefficient: None, auxk: Some(0.25), ..StepMetrics::default() };
        let text = serde_json::to_string(&line).unwrap();
        // relu's λ is written as null for topk runs, so the column exists for every run.
        assert!(text.contains("\"l1_coefficient\":null") && text.contains("\"auxk\":0.25"), "{text}");
        assert_eq!(serde_json::from_str::<StepMetrics>(&text).unwrap(), line);
        let relu = StepMetrics { step: 1, ..StepMetrics::default() };
        assert!(!serde_json::to_string(&relu).unwrap().contains("auxk"));
    }
}

#[cfg(test)]
mod build_tests {
    use super::*;

    #[test]
    fn the_build_knows_its_commit_or_says_it_does_not() {
        assert!(GIT_COMMIT == "unknown" || (GIT_COMMIT.len() == 12 && GIT_COMMIT.bytes().all(|b| b.is_ascii_hexdigit())), "{GIT_COMMIT}");
        let here = Provenance::of_this_build("cpu".into(), Precision::F32, 2, "host".into());
        assert_eq!((here.version.as_str(), here.peak_rss_bytes), (env!("CARGO_PKG_VERSION"), None));
    }
}
