//! The `[data]` section of a run file.

use serde::{Deserialize, Serialize};

use crate::{ShardsConfig, SyntheticConfig};

/// Which activation source a run trains on, with that source's settings.
///
/// Written in a run file as a table whose `source` key names the variant:
///
/// ```toml
/// [data]
/// source = "synthetic"
/// d_in = 64
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum DataConfig {
    /// Superposition data generated on the fly from known ground-truth features.
    Synthetic(SyntheticConfig),
    /// Activation shards on disk (`.npy` or `.safetensors` files and a `manifest.json`).
    Shards(ShardsConfig),
}

impl DataConfig {
    /// Width of the activation vectors this source yields.
    pub fn d_in(&self) -> usize {
        match self {
            DataConfig::Synthetic(config) => config.d_in,
            DataConfig::Shards(config) => config.d_in,
        }
    }

    /// Checks every setting against its valid range.
    ///
    /// # Errors
    /// [`crate::Error::InvalidConfig`] naming the first setting out of range.
    pub fn validate(&self) -> crate::Result<()> {
        match self {
            DataConfig::Synthetic(config) => config.validate(),
            DataConfig::Shards(config) => config.validate(),
        }
    }
}
