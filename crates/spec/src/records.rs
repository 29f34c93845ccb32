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
    /// L0 coefficient used by this step (jumprelu only; left out for the others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l0_coefficient: Option<f64>,
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
    /// Training objective on held-out rows with the final λ (relu, jumprelu), or the FVU (topk).
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
    /// Final L0 coefficient (jumprelu only; left out for the others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l0_coefficient: Option<f64>,
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
    /// Fraction of latents that fire on fewer than [`NEAR_DEAD_FREQUENCY`] of the held-out
    /// rows: latents the dead counter (no firing for a whole window of training tokens)
    /// misses because they fire now and then. With fewer than 1/[`NEAR_DEAD_FREQUENCY`] rows
    /// evaluated, that is the latents that never fired on them.
    #[serde(default)]
    pub near_dead_fraction: Option<f64>,
    /// How often each latent fires on the held-out rows, as a histogram.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firing_histogram: Option<FiringHistogram>,
    /// Which build trained it, where and how, and its peak memory: what a comparison of two
    /// nights needs to tell a regression of the code from a change of the machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

/// Latents firing on fewer than this fraction of held-out rows are near-dead.
pub const NEAR_DEAD_FREQUENCY: f64 = 1e-4;

/// Firing frequencies of the latents (the fraction of held-out rows on which each is
/// active), binned on a log scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FiringHistogram {
    /// Held-out rows the frequencies are counted over.
    pub rows: u64,
    /// Latents that fired on none of them.
    pub never: u64,
    /// Bin edges, log10 of the frequency, ascending: bin `i` holds the latents whose
    /// frequency `f` has `edges[i] <= log10 f < edges[i + 1]`; frequencies below the first
    /// edge count in the first bin, a frequency of 1 in the last.
    pub log10_edges: Vec<f64>,
    /// Latents per bin (one fewer entry than `log10_edges`).
    pub counts: Vec<u64>,
}

impl FiringHistogram {
    /// Half-decade bins from 10⁻⁷ to 1.
    pub fn of(firing_rows: &[u64], rows: u64) -> Self {
        let log10_edges: Vec<f64> = (0..=14).map(|i| -7.0 + 0.5 * i as f64).collect();
        let mut counts = vec![0u64; log10_edges.len() - 1];
        let mut never = 0;
        for &fired in firing_rows {
            if fired == 0 {
                never += 1;
                continue;
            }
            let log10 = (fired as f64 / rows.max(1) as f64).log10();
            let last = counts.len() - 1;
            let bin = log10_edges.iter().take_while(|&&edge| edge <= log10).count().saturating_sub(1);
            counts[bin.min(last)] += 1;
        }
        FiringHistogram { rows, never, log10_edges, counts }
    }
}

/// The fraction of latents that fired on fewer than [`NEAR_DEAD_FREQUENCY`] of `rows`, from
/// the number of rows each fired on.
pub fn near_dead_fraction(firing_rows: &[u64], rows: u64) -> f64 {
    let threshold = NEAR_DEAD_FREQUENCY * rows as f64;
    let near_dead = firing_rows.iter().filter(|&&fired| (fired as f64) < threshold).count();
    near_dead as f64 / firing_rows.len().max(1) as f64
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

    #[test]
    fn firing_frequencies_fall_in_half_decade_bins() {
        // 10⁶ rows: frequencies 0, 2e-6, 5e-5, 1.5e-4, 0.02, 1 (none on an edge but 1).
        let fired = [0, 2, 50, 150, 20_000, 1_000_000];
        let histogram = FiringHistogram::of(&fired, 1_000_000);
        assert_eq!((histogram.never, histogram.counts.len(), histogram.log10_edges.len()), (1, 14, 15));
        let bin_of = |log10: f64| histogram.log10_edges.iter().position(|&e| e == log10).unwrap();
        let mut expected = vec![0u64; 14];
        // 2e-6 → [-6, -5.5); 5e-5 → [-4.5, -4); 1.5e-4 → [-4, -3.5); 0.02 → [-2, -1.5); 1 → last.
        for log10 in [-6.0, -4.5, -4.0, -2.0] {
            expected[bin_of(log10)] += 1;
        }
        expected[13] += 1;
        assert_eq!(histogram.counts, expected);
        assert_eq!(histogram.counts.iter().sum::<u64>() + histogram.never, fired.len() as u64);
        // Below 1e-4 of the rows: the silent one, 2e-6 and 5e-5.
        assert_eq!(near_dead_fraction(&fired, 1_000_000), 3.0 / 6.0);
        // Too few rows to see 1e-4: near-dead means never fired.
        assert_eq!(near_dead_fraction(&[0, 1, 7], 4096), 1.0 / 3.0);
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
