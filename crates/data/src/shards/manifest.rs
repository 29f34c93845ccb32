//! `manifest.json`: what a shard directory holds and the statistics estimated from it once.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::format::{Dtype, ShardLayout};
use crate::{Error, Result};

/// File name of the manifest inside a shard directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Version of the manifest layout this crate reads and writes.
pub const MANIFEST_VERSION: u32 = 1;

/// The description of a shard directory, stored as `manifest.json` beside the shards.
///
/// ```json
/// {"version": 1, "d": 576, "dtype": "f16", "model": "SmolLM2-135M-Instruct", "layer": 15,
///  "hook": "resid_post", "heldout_shards": 1,
///  "shards": [{"file": "00000.npy", "tokens": 65536}, ...],
///  "outlier_filter": {"max_norm_over_median": 10.0},
///  "normalization": {"scale": 0.031, "mean_norm": 774.1, "median_norm": 80.2, "rows": 65536}}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Layout version ([`MANIFEST_VERSION`]).
    pub version: u32,
    /// Width of every row.
    pub d: usize,
    /// Element type of every shard.
    pub dtype: Dtype,
    /// The model the activations came from (a label).
    #[serde(default)]
    pub model: String,
    /// The layer whose output was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
    /// Which activation of that layer, e.g. `resid_post`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
    /// The last this-many shards form the held-out split; the others the training split.
    #[serde(default = "default_heldout_shards")]
    pub heldout_shards: usize,
    /// The shard files, relative to the directory, with their row counts.
    pub shards: Vec<ShardEntry>,
    /// Drop tokens whose norm is far above the median (e.g. BOS positions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier_filter: Option<OutlierFilter>,
    /// Norm statistics estimated once from the training split ([`super::prepare`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalization: Option<Normalization>,
}

fn default_heldout_shards() -> usize {
    1
}

/// One shard file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardEntry {
    /// File name relative to the shard directory (`.npy` or `.safetensors`).
    pub file: String,
    /// Rows in the file.
    pub tokens: u64,
    /// Row indices dropped by the outlier filter, ascending; written by [`super::prepare`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outliers: Vec<u64>,
}

/// The outlier-token filter setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutlierFilter {
    /// A token is dropped when `‖x‖ > max_norm_over_median · median‖x‖`.
    pub max_norm_over_median: f64,
}

/// Norm statistics of the training split, estimated once per dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalization {
    /// `s = √d / E‖x‖` over kept tokens, so that `E‖s·x‖ = √d` (Anthropic, April 2024).
    pub scale: f64,
    /// Mean norm `E‖x‖` of the kept sample tokens.
    pub mean_norm: f64,
    /// Median norm of the sample before filtering (the outlier filter's reference).
    pub median_norm: f64,
    /// Tokens in the sample.
    pub rows: u64,
}

impl Manifest {
    /// Reads and checks `dir/manifest.json` (not the shards themselves).
    ///
    /// # Errors
    /// [`Error::Io`] when unreadable; [`Error::Manifest`] naming the file when malformed.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(Error::io("read the manifest", &path))?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| Error::manifest(&path, e.to_string()))?;
        manifest.validate(&path)?;
        Ok(manifest)
    }

    /// Writes `dir/manifest.json` atomically (temporary file, fsync, rename).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST_FILE);
        let temp = dir.join(format!(".{MANIFEST_FILE}.tmp"));
        // A struct of numbers, strings and vectors always serialises.
        let text = serde_json::to_string_pretty(self).expect("a manifest serialises");
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut file = std::fs::File::create(&temp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temp, &path)
        };
        write().map_err(Error::io("write the manifest", &path))
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let fail = |reason: String| Err(Error::manifest(path, reason));
        if self.version != MANIFEST_VERSION {
            return fail(format!("version {} is not {MANIFEST_VERSION}", self.version));
        }
        if self.d == 0 {
            return fail("`d` must be a positive integer".into());
        }
        if self.heldout_shards == 0 || self.heldout_shards >= self.shards.len() {
            return fail(format!(
                "`heldout_shards` = {} must be at least 1 and leave a training shard ({} shards listed)",
                self.heldout_shards,
                self.shards.len()
            ));
        }
        for shard in &self.shards {
            if shard.tokens == 0 {
                return fail(format!("shard {} has no tokens", shard.file));
            }
            if !shard.outliers.windows(2).all(|w| w[0] < w[1]) || shard.outliers.last().is_some_and(|&i| i >= shard.tokens) {
                return fail(format!("shard {}: `outliers` must be ascending row indices below {}", shard.file, shard.tokens));
            }
        }
        if let Some(filter) = &self.outlier_filter {
            if !(filter.max_norm_over_median > 1.0 && filter.max_norm_over_median.is_finite()) {
                return fail(format!("`outlier_filter.max_norm_over_median` must be a number > 1, got {}", filter.max_norm_over_median));
            }
        }
        if let Some(n) = &self.normalization {
            if !(n.scale > 0.0 && n.scale.is_finite()) {
                return fail(format!("`normalization.scale` must be a positive number, got {}", n.scale));
            }
        }
        Ok(())
    }

    /// The shard entries of the training split, then of the held-out split.
    pub fn split_shards(&self) -> (&[ShardEntry], &[ShardEntry]) {
        self.shards.split_at(self.shards.len() - self.heldout_shards)
    }

    /// Opens the header of every listed shard and checks it against the manifest.
    ///
    /// # Errors
    /// [`Error::Shard`] naming the first file that does not match.
    pub fn open_layouts(&self, dir: &Path, entries: &[ShardEntry]) -> Result<Vec<ShardLayout>> {
        entries.iter().map(|entry| ShardLayout::open(&self.shard_path(dir, entry), entry.tokens, self.d, self.dtype)).collect()
    }

    /// Path of a shard file.
    pub fn shard_path(&self, dir: &Path, entry: &ShardEntry) -> PathBuf {
        dir.join(&entry.file)
    }
}
