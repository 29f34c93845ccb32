//! The sweep directory's own files (a run directory's files are saescale-spec's
//! [`saescale_spec::layout`]).
//!
//! ```text
//! <sweep dir>/
//!   manager.lock          lock held by the live manager; holds "pid N on HOST since TIME"
//!   sweep.toml            the spec as last run
//!   plan.json             the resolved plan (ids, F, steps, FLOP, run specs)
//!   last-invocation.json  timing of the last `saescale run` / `sweep resume`
//!   results.parquet       one row per run (saescale-table)
//!   results.csv
//!   fit.json              the fit of the finished runs (`saescale run`)
//!   slurm/                the Slurm executor's ledger, job scripts and logs
//!   runs/<id>/            one run directory per planned run
//! ```
//!
//! A nightly sweep keeps one such directory per night, `<dir>/nights/<YYYY-MM-DD>/`, so that each
//! night is measured afresh and earlier nights stay as they were.

/// The manager's lock.
pub const LOCK: &str = "manager.lock";
/// The spec as last run.
pub const SPEC: &str = "sweep.toml";
/// The resolved plan.
pub const PLAN: &str = "plan.json";
/// The directory of run directories.
pub const RUNS: &str = "runs";
/// Timing of the last invocation that drove the sweep.
pub const LAST_INVOCATION: &str = "last-invocation.json";
/// The results table as Parquet.
pub const RESULTS_PARQUET: &str = "results.parquet";
/// The results table as CSV.
pub const RESULTS_CSV: &str = "results.csv";
/// The fit of the finished runs.
pub const FIT: &str = "fit.json";
/// The directory of a nightly sweep's nights, one sweep directory each.
pub const NIGHTS: &str = "nights";
