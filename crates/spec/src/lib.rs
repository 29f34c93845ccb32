//! The contract between saescale's sweep manager and one training run.
//!
//! In saescale's flow (spec → plan → runs → store → table → fit → report) a sweep is expanded
//! into many runs, each described by one [`RunSpec`], written into its run directory and
//! handed to a `saescale train <run file> --out <run dir>` child process. Everything the two
//! sides exchange is defined here, in a crate that links neither burn nor tokio, so the
//! manager (which never links burn) and the trainer share one definition instead of copies
//! that drift apart: a field added to `final.json` is written in one place.
//!
//! Principal items:
//! - [`RunSpec`]: data source, SAE architecture, optimiser and schedule, logging cadence;
//!   every field has a default from the papers (docs/METHODS.md §1.3 and §1.7) except the data
//!   width, the feature count and the step count.
//! - [`RunSpec::resolve`]: fills every architecture-dependent default and validates, so that
//!   the `config.json` a run writes holds the complete configuration it trained with.
//! - [`layout::RunDir`]: the file names of a run directory.
//! - [`records`]: `metrics.jsonl` lines and `final.json` ([`StepMetrics`], [`FinalMetrics`]).
//! - [`Exit`]: the trainer's exit codes and what they mean to a manager.
//! - [`bench`]: the throughput file `saescale bench` writes and the planner reads.
//! - [`atomic`]: the one atomic file write (temporary file, fsync, rename, fsync of the directory).
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

pub mod atomic;
pub mod bench;
pub mod compute;
mod error;
mod exit;
pub mod layout;
pub mod records;
mod run;

pub use error::{error_chain, Error, Result};
pub use exit::Exit;
pub use records::{near_dead_fraction, FinalMetrics, FiringHistogram, Provenance, StepMetrics, NEAR_DEAD_FREQUENCY};
pub use run::{Architecture, EvalSpec, LogSpec, Precision, RunSpec, SaeSpec, TopkDecoder, TopkKernel, TrainSpec};
