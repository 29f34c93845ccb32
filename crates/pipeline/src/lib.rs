//! saescale's pipeline as a library: spec → plan → runs → store → table → fit → report, each
//! stage a typed call that the `saescale` binary (a thin clap layer) and later tools use.
//!
//! A stage takes what the one before it returned:
//!
//! 1. **plan** — [`Sweep::load`] reads a sweep spec, expands it into runs and opens its data
//!    source once; [`Sweep::estimate`] says what the runs will cost here.
//! 2. **execute** — [`Overrides::choose`] resolves the executor (local processes or Slurm)
//!    over the spec's `[executor]` table; [`Sweep::prepare`] locks the sweep directory and
//!    records the plan; [`Driver::execute`] trains every unfinished run.
//! 3. **table** — the same call writes the results table ([`saescale_table`]) once a run is done.
//! 4. **fit** — [`Sweep::fit`] fits the joint law to the finished runs and writes `fit.json`;
//!    [`fit()`] fits any table with named columns.
//! 5. **report** — [`Sweep::report`] / [`report()`] draw the figures and the HTML page.
//!
//! Around them: [`Sweep::night`] puts a sweep's runs into a fresh directory per night,
//! [`compare::compare`] judges one night (or fit) against another, [`Sweep::next_stage`] grows
//! an adaptive isoflop design by its next budget, and [`design::simulate`] says before anything
//! runs how well a design is expected to pin down F*(C) and L*(C).
//!
//! Design decisions:
//! - The stages are plain functions over typed values, so a caller can loop: plan → execute →
//!   fit → plan again from the fit (an adaptive sweep design re-centres the next budget's runs
//!   on the fitted optimum; a nightly job compares one night's fit with another's). Nothing
//!   here parses a command line or prints; errors say whether they are the user's input to
//!   fix ([`Error::is_bad_input`]).
//! - The crate graph stays one-way: this crate links sweep, table, fit and report, but not burn
//!   (training runs are child processes), and fit still links neither sweep nor polars.
//!
//! ```no_run
//! use saescale_pipeline::{Overrides, Sweep, SweepFit, Trainer};
//! # async fn demo() -> saescale_pipeline::Result<()> {
//! let sweep = Sweep::load("sweeps/quickstart.toml".as_ref(), None)?;
//! let trainer = Trainer { program: "target/debug/saescale".into(), cuda_build: false, external: false };
//! let overrides = Overrides::default();
//! let driver = sweep.prepare(overrides.choose(sweep.name(), &sweep.spec.executor, &trainer)?)?;
//! let executed = driver.execute(overrides.options(&sweep.spec.executor), std::future::pending(), std::future::pending()).await?;
//! if executed.summary.all_done() {
//!     if let SweepFit::Fitted { result, .. } = sweep.fit()? {
//!         println!("{result}");
//!     }
//!     sweep.report()?;
//! }
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

pub mod compare;
pub mod design;
mod error;
mod estimate;
mod execute;
pub mod fit;
pub mod sparsity;
mod report;
mod sweep;

pub use error::{Error, Result};
pub use estimate::PlanEstimate;
pub use execute::{Driver, Executed, ExecutorChoice, Overrides, Trainer};
pub use fit::{fit, write_fit, Columns, FitRequest, LrRequest, SweepFit, YColumn};
pub use report::{default_dir as default_report_dir, report, ReportOptions, Written};
pub use sweep::{today, Sweep};
