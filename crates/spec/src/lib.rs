//! The run file: the typed contract between saescale's sweep manager and one training run.
//!
//! In saescale's flow (spec → plan → runs → store → table → fit → report) a sweep is expanded
//! into many runs, each described by one [`RunSpec`], written into its run directory and
//! handed to a `saescale train <run file> --out <run dir>` child process. This crate holds
//! that type and nothing that links burn, so the sweep manager, which never links burn, and
//! the trainer share one definition instead of two copies that drift apart.
//!
//! Principal items:
//! - [`RunSpec`]: data source, SAE architecture, optimiser and schedule, logging cadence;
//!   every field has a default from the papers (SCALING.md §1.3 and §1.7) except the data
//!   width, the feature count and the step count.
//! - [`RunSpec::resolve`]: fills every architecture-dependent default and validates, so that
//!   the `config.json` a run writes holds the complete configuration it trained with.
//! - [`compute`]: the one place that counts training FLOP and memory.
//!
//! ```
//! let spec = saescale_spec::RunSpec::from_toml_str(r#"
//!     [data]
//!     source = "synthetic"
//!     d_in = 64
//!     [sae]
//!     architecture = "relu"
//!     features = 512
//!     [train]
//!     steps = 100
//! "#)?.resolve()?;
//! assert_eq!(spec.sae.l1_coefficient, Some(5.0));
//! Ok::<(), saescale_spec::Error>(())
//! ```

pub mod compute;
mod error;
mod run;

pub use error::{Error, Result};
pub use run::{Architecture, EvalSpec, LogSpec, Precision, RunSpec, SaeSpec, TrainSpec};
