//! Sweeps of SAE trainings: in saescale's flow (spec → plan → runs → store → table → fit →
//! report) this crate owns the first four steps. A TOML [`SweepSpec`] (a fixed run template
//! plus swept budgets × feature counts, lr multipliers and seeds) is expanded into a [`Plan`]
//! of fully resolved [`saescale_spec::RunSpec`]s with content-hash [`RunId`]s; a
//! [`RunStore`] keeps each run's files under `<sweep dir>/runs/<id>/`; an [`Executor`]
//! carries out attempts (the [`LocalExecutor`] starts `saescale train` child processes), and
//! [`supervise::run`] drives every unfinished run to done or failed; on a cluster,
//! [`executor::slurm::run`] does the same with sbatch job arrays.
//!
//! Principal types: [`SweepSpec`], [`Plan`] / [`PlannedRun`] / [`RunId`], [`RunStore`] /
//! [`RunStatus`], [`Executor`] / [`LocalExecutor`], [`supervise::run`] / [`Summary`],
//! [`progress::progress`], [`estimate::Throughput`]. The run lifecycle (what a manager makes
//! of the files when it takes a sweep over, and how an attempt's outcome changes a run's
//! status) is written once, in `lifecycle`, for both the supervisor and the Slurm engine.
//!
//! Design decisions:
//! - The crate never links burn: a run is a child process with a run file, so a crash, OOM or
//!   NaN in one training never touches the manager, and tests use a fake trainer.
//! - The store is the source of truth: every status write is atomic, `final.json` (written
//!   last by the trainer) decides that a run is done, and the manager's `flock` tells a stale
//!   `running` from a live one, so re-running a sweep after any crash (kill -9 included)
//!   skips finished runs and resumes the rest from their checkpoints.
//! - Run ids hash the training config only (not the name or log cadence), so finished runs
//!   are found again whatever the sweep is called.
//!
//! ```
//! use saescale_sweep::{Plan, SweepSpec};
//! let spec = SweepSpec::parse(r#"
//!     name = "demo"
//!     [run.data]
//!     source = "synthetic"
//!     d_in = 64
//!     [run.sae]
//!     architecture = "relu"
//!     [run.train]
//!     batch_size = 256
//!     [sweep]
//!     budgets = [1e11, 2e11]
//!     features = [128, 256]
//! "#, "demo.toml")?;
//! let plan = Plan::new(&spec)?;
//! assert_eq!(plan.runs.len(), 4);
//! // S = ⌊C / (12·d·F·batch)⌋ = ⌊1e11 / (12·64·128·256)⌋
//! assert_eq!(plan.runs[0].steps, 3973);
//! Ok::<(), saescale_sweep::Error>(())
//! ```

#![deny(missing_docs)]

mod error;
pub mod estimate;
pub mod events;
pub mod executor;
mod lifecycle;
pub mod machine;
pub mod plan;
pub mod progress;
pub mod spec;
pub mod store;
pub mod supervise;

pub use error::{Error, Result, SpecError};
pub use saescale_spec::error_chain;
pub use events::{Event, Options, Summary};
pub use executor::{Executor, LocalConfig, LocalExecutor, SlurmConfig};
pub use plan::{Plan, PlannedRun, RunId};
pub use spec::SweepSpec;
pub use store::{RunState, RunStatus, RunStore};
