//! Activation sources for saescale: where the vectors an SAE learns to reconstruct come from.
//!
//! In saescale's flow (spec → plan → runs → store → table → fit → report) this crate sits
//! under every training run: a run's `[data]` section is a [`DataConfig`], [`open`] turns it
//! into a [`Source`], and the trainer pulls plain row-major `f32` batches `[rows, d_in]` from
//! it. Nothing here knows about burn, tensors or devices.
//!
//! Principal types:
//! - [`Source`]: a stream of rows with a *cursor* (rows consumed so far). A source seeks to
//!   any cursor, so a killed run that stored its cursor resumes on exactly the same data.
//! - [`SyntheticSource`]: a superposition generator with known ground-truth features
//!   ([`SyntheticConfig`]), deterministic from its seed and endless.
//! - [`ShardSource`]: activations recorded from a model, streamed from `.npy`/`.safetensors`
//!   shards with a bounded shuffle buffer ([`ShardsConfig`], [`shards::Manifest`]).
//! - [`saelens_cache::import_saelens_cache`]: activations cached by SAELens, converted into
//!   such a shard directory.
//! - [`Split`]: the training stream and a disjoint held-out stream for evaluation.
//! - [`scale_to_sqrt_d`]: the single normalisation constant of Anthropic's recipe;
//!   [`scale_for`] prefers the constant a dataset stores.
//!
//! Design decision: a source is addressed by row, not by batch, so that a resumed run, an
//! evaluation with another batch size and a planner estimating throughput all see the same rows.
//!
//! ```
//! use saescale_data::{open, DataConfig, Split, SyntheticConfig};
//! let config = DataConfig::Synthetic(SyntheticConfig { d_in: 16, ..SyntheticConfig::default() });
//! let mut source = open(&config, Split::Train)?;
//! let mut batch = vec![0.0; 8 * 16];
//! source.fill(&mut batch)?;
//! assert_eq!(source.cursor(), 8);
//! Ok::<(), saescale_data::Error>(())
//! ```

mod config;
mod error;
mod normalize;
pub mod saelens_cache;
pub mod shards;
mod source;
mod synthetic;

pub use config::DataConfig;
pub use error::{Error, Result};
pub use normalize::{mean_norm, scale_for, scale_to_sqrt_d};
pub use shards::{ShardSource, ShardsConfig};
pub use source::{open, Source, Split};
pub use synthetic::{SyntheticConfig, SyntheticSource};
