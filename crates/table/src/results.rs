//! The results table of a sweep: one row per planned run, with its config columns, its final
//! held-out metrics and its training FLOP, written with polars as `results.parquet` and
//! `results.csv` in the sweep directory. This is what the fitter reads.
//!
//! Columns, in order:
//! - identity: `id`, `name`, `state` (done, failed, pending, running), `attempts`, `reason`;
//! - config: `architecture`, `d_in`, `features`, `k`, `l1_coefficient`, `l0_coefficient`, `steps`,
//!   `batch_size`, `tokens`, `lr`, `lr_multiplier`, `seed`, `budget` (FLOP the run was
//!   planned from, empty for grid points), `placed_by` (what centred an isoflop design's run:
//!   `prior` or a stage's fit; empty for grids), `flops` (12·d·F·steps·batch, from
//!   `saescale_spec::compute`, the one place FLOP are counted);
//! - final metrics from `final.json` (empty until the run is done): `loss`, `mse`, `fvu`,
//!   `l1`, `l0`, `dead_fraction`, `near_dead_fraction`, `wall_s`, `tokens_per_s`;
//! - provenance from `final.json` (empty for runs that do not record it): `peak_rss_bytes`,
//!   `peak_device_bytes`, `saescale_version`, `git_commit`, `device`, `precision`,
//!   `threads`, `host`.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use saescale_spec::{FinalMetrics, Provenance};
use saescale_sweep::store::{layout, RunRecord, RunState};
use saescale_sweep::{Plan, RunStore};

/// What can go wrong while building or writing the results table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResultsError {
    /// The run store could not be read.
    #[error(transparent)]
    Store(#[from] saescale_sweep::Error),
    /// polars could not build or encode the table.
    #[error("cannot build the results table")]
    Polars(#[from] PolarsError),
}

/// Where [`write_results`] put the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultsPaths {
    /// `results.parquet`.
    pub parquet: PathBuf,
    /// `results.csv`.
    pub csv: PathBuf,
}

/// Builds the table from the store's records of every planned run.
///
/// # Errors
/// [`PolarsError`] if the columns cannot form a frame (they always have one row per record).
pub fn results_frame(records: &[RunRecord]) -> PolarsResult<DataFrame> {
    let text = |f: &dyn Fn(&RunRecord) -> String| records.iter().map(f).collect::<Vec<String>>();
    let uint = |f: &dyn Fn(&RunRecord) -> u64| records.iter().map(f).collect::<Vec<u64>>();
    let float = |f: &dyn Fn(&RunRecord) -> f64| records.iter().map(f).collect::<Vec<f64>>();
    let opt_float = |f: &dyn Fn(&RunRecord) -> Option<f64>| records.iter().map(f).collect::<Vec<Option<f64>>>();
    let metric = |f: &dyn Fn(&FinalMetrics) -> Option<f64>| {
        records.iter().map(|r| r.final_metrics.as_ref().and_then(f)).collect::<Vec<Option<f64>>>()
    };
    let mut columns = vec![
        Column::new("id".into(), text(&|r| r.run.id.to_string())),
        Column::new("name".into(), text(&|r| r.run.spec.name.clone().unwrap_or_default())),
        Column::new("state".into(), text(&|r| r.state().as_str().to_string())),
        Column::new("attempts".into(), uint(&|r| r.status.as_ref().map_or(0, |s| u64::from(s.attempts)))),
        Column::new(
            "reason".into(),
            records.iter().map(|r| r.status.as_ref().and_then(|s| s.reason.clone()).filter(|_| r.state() != RunState::Done)).collect::<Vec<Option<String>>>(),
        ),
        Column::new(
            "architecture".into(),
            text(&|r| r.run.spec.sae.architecture.as_str().into()),
        ),
        Column::new("d_in".into(), uint(&|r| r.run.spec.d_in() as u64)),
        Column::new("features".into(), uint(&|r| r.run.features as u64)),
        Column::new("k".into(), records.iter().map(|r| r.run.spec.sae.k.map(|k| k as u64)).collect::<Vec<Option<u64>>>()),
        Column::new("l1_coefficient".into(), opt_float(&|r| r.run.spec.sae.l1_coefficient)),
        Column::new("l0_coefficient".into(), opt_float(&|r| r.run.spec.sae.l0_coefficient)),
        Column::new("steps".into(), uint(&|r| r.run.steps)),
        Column::new("batch_size".into(), uint(&|r| r.run.spec.train.batch_size as u64)),
        Column::new("tokens".into(), uint(&|r| r.run.tokens)),
        Column::new("lr".into(), opt_float(&|r| r.run.spec.train.lr)),
        Column::new("lr_multiplier".into(), float(&|r| r.run.lr_multiplier)),
        Column::new("seed".into(), uint(&|r| r.run.spec.seed)),
        Column::new("budget".into(), opt_float(&|r| r.run.budget)),
        Column::new("placed_by".into(), records.iter().map(|r| r.run.placed_by.map(|p| p.to_string())).collect::<Vec<Option<String>>>()),
        Column::new("flops".into(), float(&|r| r.run.flops)),
        Column::new("loss".into(), metric(&|m| m.loss)),
        Column::new("mse".into(), metric(&|m| m.mse)),
        Column::new("fvu".into(), metric(&|m| m.fvu)),
        Column::new("l1".into(), metric(&|m| m.l1)),
        Column::new("l0".into(), metric(&|m| m.l0)),
        Column::new("dead_fraction".into(), metric(&|m| m.dead_fraction)),
        Column::new("near_dead_fraction".into(), metric(&|m| m.near_dead_fraction)),
        Column::new("wall_s".into(), metric(&|m| m.wall_s)),
        Column::new("tokens_per_s".into(), metric(&|m| m.tokens_per_s)),
    ];
    columns.extend(provenance_columns(records));
    DataFrame::new(records.len(), columns)
}

/// The provenance columns: which build trained each run, where and how, and its peak memory.
fn provenance_columns(records: &[RunRecord]) -> Vec<Column> {
    fn of(r: &RunRecord) -> Option<&Provenance> {
        r.final_metrics.as_ref().and_then(|m| m.provenance.as_ref())
    }
    let bytes = |f: fn(&Provenance) -> Option<u64>| records.iter().map(|r| of(r).and_then(f)).collect::<Vec<Option<u64>>>();
    let text = |f: fn(&Provenance) -> String| records.iter().map(|r| of(r).map(f)).collect::<Vec<Option<String>>>();
    vec![
        Column::new("peak_rss_bytes".into(), bytes(|p| p.peak_rss_bytes)),
        Column::new("peak_device_bytes".into(), bytes(|p| p.peak_device_bytes)),
        Column::new("saescale_version".into(), text(|p| p.version.clone())),
        Column::new("git_commit".into(), text(|p| p.commit.clone())),
        Column::new("device".into(), text(|p| p.device.clone())),
        Column::new("precision".into(), text(|p| p.precision.as_str().to_string())),
        Column::new("threads".into(), records.iter().map(|r| of(r).map(|p| p.threads as u64)).collect::<Vec<Option<u64>>>()),
        Column::new("host".into(), text(|p| p.host.clone())),
    ]
}

/// Reads every run of `plan` from `store` (opened locked, by the manager that drives it) and
/// writes `results.parquet` and `results.csv` into the sweep directory, each atomically.
///
/// # Errors
/// [`ResultsError::Store`] when the store cannot be read or a file cannot be written;
/// [`ResultsError::Polars`] when encoding fails.
pub fn write_results(store: &RunStore, plan: &Plan) -> Result<ResultsPaths, ResultsError> {
    let records = store.records(plan)?;
    let mut frame = results_frame(&records)?;
    let mut parquet = Vec::new();
    ParquetWriter::new(&mut parquet).finish(&mut frame)?;
    let mut csv = Vec::new();
    CsvWriter::new(&mut csv).finish(&mut frame)?;
    Ok(ResultsPaths { parquet: store.write(layout::RESULTS_PARQUET, &parquet)?, csv: store.write(layout::RESULTS_CSV, &csv)? })
}

/// The results table of a sweep directory: `results.parquet`, else `results.csv`, if either exists.
pub fn find(dir: &Path) -> Option<PathBuf> {
    [layout::RESULTS_PARQUET, layout::RESULTS_CSV].iter().map(|name| dir.join(name)).find(|p| p.is_file())
}

/// The sweep directory whose results table `table` is, if it is one.
pub fn sweep_of(table: &Path) -> Option<PathBuf> {
    let name = table.file_name()?.to_str()?;
    let dir = table.parent()?;
    let is_results = name == layout::RESULTS_PARQUET || name == layout::RESULTS_CSV;
    (is_results && dir.join(layout::PLAN).is_file()).then(|| dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use saescale_sweep::{Plan, SweepSpec};

    const SPEC: &str = r#"name = "table"
[run.data]
source = "synthetic"
d_in = 64
[run.sae]
architecture = "relu"
[run.train]
batch_size = 256
[sweep]
budgets = [1e11]
features = [128, 256]
"#;

    #[test]
    fn one_row_per_run_with_metrics_once_done() {
        let dir = tempfile::tempdir().unwrap();
        let plan = Plan::new(&SweepSpec::parse(SPEC, "table.toml").unwrap()).unwrap();
        let store = RunStore::open_locked(dir.path()).unwrap();
        store.write_plan(&plan, SPEC).unwrap();
        for run in &plan.runs {
            store.prepare(run).unwrap();
        }
        let done = &plan.runs[0];
        std::fs::write(store.run(&done.id).final_metrics(), r#"{"loss":0.25,"fvu":0.1,"l0":7.5,"flops":1e11}"#).unwrap();

        let paths = write_results(&store, &plan).unwrap();
        let frame = results_frame(&store.records(&plan).unwrap()).unwrap();
        assert_eq!(frame.height(), 2);
        let loss = frame.column("loss").unwrap().f64().unwrap();
        assert_eq!((loss.get(0), loss.get(1)), (Some(0.25), None));
        let state = frame.column("state").unwrap().str().unwrap();
        assert_eq!((state.get(0), state.get(1)), (Some("done"), Some("pending")));
        let flops = frame.column("flops").unwrap().f64().unwrap();
        assert_eq!(flops.get(0), Some(12.0 * 64.0 * 128.0 * done.steps as f64 * 256.0));

        let csv = std::fs::read_to_string(&paths.csv).unwrap();
        assert!(csv.starts_with("id,name,state,attempts,reason,architecture,d_in,features,"), "{csv}");
        assert_eq!(csv.lines().count(), 3);
        assert!(std::fs::metadata(&paths.parquet).unwrap().len() > 0);
    }
}
