//! The throughput measurement `saescale bench` writes (`bench-<device>.json`) and the planner
//! and `recommend` read to estimate wall times and GPU-hours.
//!
//! Readers accept files from earlier versions: fields added later have defaults (a result
//! without a precision was measured in f32; a file without threads does not scale estimates).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{Architecture, Precision, TopkKernel};

/// What `saescale bench` prints with `--json` and saves for the planner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// The device measured, e.g. `cpu` or `cuda:0`.
    #[serde(default)]
    pub device: String,
    /// CPU threads used by the matmuls (unknown in some older files).
    #[serde(default)]
    pub threads: Option<usize>,
    /// Best square f32 matmul rate through the same backend, GFLOP/s.
    #[serde(default)]
    pub matmul_peak_gflops: Option<f64>,
    /// Memory of the GPU measured, bytes (GPUs only): how much of a large run one GPU holds.
    #[serde(default)]
    pub device_memory_bytes: Option<u64>,
    /// One entry per size and precision.
    pub results: Vec<StepThroughput>,
}

/// Throughput of the training step at one SAE size and precision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepThroughput {
    /// Input width.
    pub d_in: usize,
    /// Latents.
    pub features: usize,
    /// Tokens per step.
    pub batch_size: usize,
    /// Timed steps.
    #[serde(default)]
    pub steps: u64,
    /// Number format of the step's matmuls.
    #[serde(default = "f32_precision")]
    pub precision: Precision,
    /// The SAE trained (older files measured relu only).
    #[serde(default = "relu")]
    pub architecture: Architecture,
    /// Active latents per token (topk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
    /// How the topk step was computed (topk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<TopkKernel>,
    /// Training tokens per second.
    #[serde(default)]
    pub tokens_per_s: f64,
    /// Achieved FLOP/s counting `12·d·F` per token ([`crate::compute`]), in units of 1e9,
    /// whatever the architecture and kernel: the dense step's work, so that numbers compare.
    pub gflops: f64,
    /// Peak resident memory of the process while this size was set up and timed, bytes
    /// (Linux), where known.
    #[serde(default)]
    pub peak_rss_bytes: Option<u64>,
}

fn f32_precision() -> Precision {
    Precision::F32
}

fn relu() -> Architecture {
    Architecture::Relu
}

/// Where `saescale bench` saves its measurement of a device kind (`cpu` or `cuda`) by default,
/// and where `plan` looks for it: `$XDG_CACHE_HOME/saescale/bench-<kind>.json`, else
/// `~/.cache/saescale/…`; `None` without either variable.
pub fn default_path(kind: &str) -> Option<PathBuf> {
    let cache = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".cache"),
    };
    Some(cache.join("saescale").join(format!("bench-{kind}.json")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_files_read_with_defaults() {
        let text = r#"{"device":"cuda","results":[{"d_in":512,"features":16384,"batch_size":4096,"gflops":100.0}]}"#;
        let report: BenchReport = serde_json::from_str(text).unwrap();
        assert_eq!((report.threads, report.results[0].precision), (None, Precision::F32));
        assert_eq!((report.results[0].architecture, report.results[0].k, report.results[0].kernel), (Architecture::Relu, None, None));
    }
}
