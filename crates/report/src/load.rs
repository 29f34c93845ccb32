//! Builds a [`Dataset`] from a sweep directory or from a fit.
//!
//! - A sweep directory: the plan, every run's status, final metrics and training curve from
//!   the run store, the results table, the spec's text and `fit.json` when present.
//! - A `fit.json`: the fit plus the table it was fitted on (its `source.path`, looked up as
//!   written, then next to the fit). When that table is a sweep's results table, the sweep
//!   directory is loaded as above; otherwise the table's rows become the runs, with X, Y,
//!   compute and loss taken from the columns the fit names, after the fit's row filters.
//!   Without the table the report shows the fit alone.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use saescale_fit::FitResult;
use saescale_spec::StepMetrics;
use saescale_sweep::store::{layout, RunState};
use saescale_sweep::RunStore;
use saescale_table::{results, results_frame, Table};

use crate::dataset::{CurvePoint, Dataset, Kind, Run, Variables};
use crate::error::{Error, Result};

/// Loads a sweep directory or a fit.
///
/// # Errors
/// [`Error::Input`] for anything else; [`Error::Fit`] for a fit that does not parse; store,
/// table and I/O errors naming the file.
pub fn load(input: &Path) -> Result<Dataset> {
    if input.is_dir() {
        let fit_path = input.join(layout::FIT);
        let fit = if fit_path.is_file() { Some(read_fit(&fit_path)?) } else { None };
        return load_sweep(input, fit);
    }
    if !input.is_file() || input.extension().and_then(|e| e.to_str()) != Some("json") {
        return Err(Error::Input { path: input.to_path_buf() });
    }
    let fit = read_fit(input)?;
    match locate_source(&fit, input) {
        Some(table) => match results::sweep_of(&table) {
            Some(dir) => load_sweep(&dir, Some(fit)),
            None => load_table(fit, &table, input),
        },
        None => Ok(fit_only(fit, input)),
    }
}

/// Reads a fit written by `saescale fit`.
///
/// # Errors
/// [`Error::Read`] or [`Error::Fit`].
pub fn read_fit(path: &Path) -> Result<FitResult> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|source| Error::Fit { path: path.to_path_buf(), source })
}

/// The table a fit was made from: its path as written (relative to the working directory),
/// relative to the fit's directory, or its file name next to the fit.
fn locate_source(fit: &FitResult, fit_path: &Path) -> Option<PathBuf> {
    let written = PathBuf::from(fit.source.path.as_ref()?);
    let dir = fit_path.parent().unwrap_or(Path::new("."));
    let mut candidates = vec![written.clone(), dir.join(&written)];
    if let Some(name) = written.file_name() {
        candidates.push(dir.join(name));
    }
    candidates.into_iter().find(|p| p.is_file())
}

/// Reads a file that may not exist.
fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read { path: path.to_path_buf(), source }),
    }
}

/// A sweep directory, with its fit if any.
fn load_sweep(dir: &Path, fit: Option<FitResult>) -> Result<Dataset> {
    let store = RunStore::open(dir)?;
    let plan = store.read_plan()?;
    let records = store.records(&plan)?;
    let frame = results_frame(&records)?;
    let spec = read_optional(&store.spec_path())?;
    let batch = plan.runs.first().map_or(1, |r| r.spec.train.batch_size);
    let kappa = match (&fit, plan.runs.first()) {
        (Some(fit), _) => fit.kappa,
        (None, Some(run)) => saescale_spec::compute::kappa(run.spec.sae.architecture, run.spec.d_in(), run.spec.train.batch_size),
        (None, None) => saescale_spec::compute::kappa(saescale_spec::Architecture::Relu, 1, 1),
    };
    let eligible = fit.as_ref().map(|f| fitted_rows(&frame, &dir.join(layout::RESULTS_PARQUET), &f.source.filters)).transpose()?;
    let excluded: HashMap<usize, String> =
        fit.as_ref().map(|f| f.source.excluded.iter().map(|e| (e.row, e.reason.clone())).collect()).unwrap_or_default();

    let mut runs = Vec::with_capacity(records.len());
    for (row, record) in records.iter().enumerate() {
        let state = record.state();
        let metrics = record.final_metrics.as_ref();
        let loss = metrics.and_then(|m| m.loss);
        let reason = match (state, record.status.as_ref().and_then(|s| s.reason.clone())) {
            (RunState::Failed, None) => store.failure_reason(&record.run.id)?,
            (RunState::Done, _) => None,
            (_, reason) => reason,
        };
        let measured = state == RunState::Done && loss.is_some_and(|l| l > 0.0 && l.is_finite());
        let eligible = measured && eligible.as_ref().is_none_or(|rows| rows.contains(&row));
        let excluded = excluded.get(&row).cloned().filter(|_| eligible);
        runs.push(Run {
            id: record.run.id.to_string(),
            name: record.run.spec.name.clone().unwrap_or_default(),
            state: state.as_str().to_string(),
            reason,
            x: record.run.features as f64,
            y: record.run.steps as f64,
            compute: record.run.flops,
            budget: record.run.budget,
            placed_by: record.run.placed_by.map(|p| p.to_string()),
            loss,
            l0: metrics.and_then(|m| m.l0),
            dead_fraction: metrics.and_then(|m| m.dead_fraction),
            near_dead_fraction: metrics.and_then(|m| m.near_dead_fraction),
            k: record.run.spec.sae.k,
            penalty_coefficient: record.run.spec.sae.l1_coefficient.or(record.run.spec.sae.l0_coefficient),
            fvu: metrics.and_then(|m| m.fvu),
            lr: record.run.spec.train.lr,
            in_fit: eligible && excluded.is_none(),
            excluded,
            curve: read_curve(&store.run(&record.run.id).metrics(), batch as f64)?,
        });
    }
    Ok(Dataset {
        title: plan.name.clone(),
        description: plan.description.clone(),
        input: dir.display().to_string(),
        spec,
        vars: Variables::sweep(batch, kappa),
        runs,
        fit,
        table: Some(frame),
        notes: Vec::new(),
        history: None,
    })
}

/// Rows of the results table the fit could use: done, and passing the fit's filters.
fn fitted_rows(frame: &DataFrame, path: &Path, filters: &[String]) -> Result<Vec<usize>> {
    let mut table = Table::from_frame(path, frame.clone());
    if table.has_column("state") {
        table = table.filter_eq("state", "done")?;
    }
    let table = apply_filters(table, filters)?;
    Ok(table.file_rows().to_vec())
}

fn apply_filters(mut table: Table, filters: &[String]) -> Result<Table> {
    for filter in filters {
        let (column, value) = filter
            .split_once('=')
            .ok_or_else(|| Error::Source { path: table.path().to_path_buf(), reason: format!("filter {filter:?} is not COLUMN=VALUE") })?;
        table = table.filter_eq(column, value)?;
    }
    Ok(table)
}

/// A run's training curve: loss against tokens from `metrics.jsonl` (empty if absent). Lines
/// that do not parse are skipped: the trainer may be writing the last one.
fn read_curve(path: &Path, batch: f64) -> Result<Vec<CurvePoint>> {
    let Some(text) = read_optional(path)? else { return Ok(Vec::new()) };
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str::<StepMetrics>(line).ok())
        .filter_map(|m| {
            let tokens = m.tokens.map_or(m.step as f64 * batch, |t| t as f64);
            Some(CurvePoint { tokens, loss: m.loss? })
        })
        .filter(|p| p.tokens > 0.0 && p.loss.is_finite() && p.loss > 0.0)
        .collect())
}

/// An external table named by a fit.
fn load_table(fit: FitResult, path: &Path, fit_path: &Path) -> Result<Dataset> {
    let source = fit.source.clone();
    let table = apply_filters(Table::read(path)?, &source.filters)?;
    let kappa = fit.kappa;
    let x = table.positive_column(&source.x_col)?;
    let loss = table.positive_column(&source.loss_col)?;
    let (y, compute, y_label): (Vec<f64>, Vec<f64>, String) = match (&source.y_col, &source.compute_col) {
        (Some(y_col), _) => {
            let y = table.positive_column(y_col)?;
            let c = x.iter().zip(&y).map(|(x, y)| kappa * x * y).collect();
            (y, c, y_col.clone())
        }
        (None, Some(c_col)) => {
            let c = table.positive_column(c_col)?;
            let y = x.iter().zip(&c).map(|(x, c)| c / (kappa * x)).collect();
            (y, c, format!("Y = {c_col} / ({} · {})", crate::plot::number(kappa, 4), source.x_col))
        }
        (None, None) => return Err(Error::Source { path: path.to_path_buf(), reason: "the fit names neither a Y nor a compute column".into() }),
    };
    let excluded: HashMap<usize, String> = source.excluded.iter().map(|e| (e.row, e.reason.clone())).collect();
    let rows = table.file_rows().to_vec();
    let runs = rows
        .iter()
        .enumerate()
        .map(|(i, &row)| {
            let excluded = excluded.get(&row).cloned();
            Run {
                id: format!("row {row}"),
                name: String::new(),
                state: "done".into(),
                reason: None,
                x: x[i],
                y: y[i],
                compute: compute[i],
                budget: None,
                placed_by: None,
                loss: Some(loss[i]),
                l0: None,
                dead_fraction: None,
                near_dead_fraction: None,
                k: None,
                penalty_coefficient: None,
                fvu: None,
                lr: None,
                in_fit: excluded.is_none(),
                excluded,
                curve: Vec::new(),
            }
        })
        .collect();
    let mut frame = table.frame().clone();
    let in_fit: Vec<bool> = rows.iter().map(|r| !excluded.contains_key(r)).collect();
    let reasons: Vec<Option<String>> = rows.iter().map(|r| excluded.get(r).cloned()).collect();
    frame.with_column(Column::new("file_row".into(), rows.iter().map(|&r| r as u64).collect::<Vec<u64>>()))?;
    frame.with_column(Column::new("in_fit".into(), in_fit))?;
    frame.with_column(Column::new("excluded".into(), reasons))?;
    Ok(Dataset {
        title: path.file_stem().map_or_else(|| "table".into(), |s| s.to_string_lossy().into_owned()),
        description: None,
        input: fit_path.display().to_string(),
        spec: None,
        vars: table_variables(&fit, y_label),
        runs,
        fit: Some(fit),
        table: Some(frame),
        notes: Vec::new(),
        history: None,
    })
}

fn table_variables(fit: &FitResult, y_label: String) -> Variables {
    let source = &fit.source;
    Variables {
        kind: Kind::Table,
        x: source.x_col.clone(),
        x_symbol: "X".into(),
        x_column: column_name(&source.x_col),
        y: y_label,
        y_symbol: "Y".into(),
        y_column: source.y_col.as_deref().map_or_else(|| "y".into(), column_name),
        loss: source.loss_col.clone(),
        tokens_per_y: source.tokens_per_y,
        kappa: fit.kappa,
    }
}

/// A CSV column name from a table's column name: lower case, `_` for anything else.
fn column_name(text: &str) -> String {
    let name: String = text.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    name.trim_matches('_').to_string()
}

/// A fit whose table cannot be found: the report shows the fit alone.
fn fit_only(fit: FitResult, fit_path: &Path) -> Dataset {
    let note = match &fit.source.path {
        Some(p) => format!("The table this fit was made from ({p}) was not found; figures that need the runs are left out."),
        None => "The fit does not name its table; figures that need the runs are left out.".to_string(),
    };
    let y_label = fit.source.y_col.clone().unwrap_or_else(|| "Y".into());
    Dataset {
        title: fit_path.file_stem().map_or_else(|| "fit".into(), |s| s.to_string_lossy().into_owned()),
        description: None,
        input: fit_path.display().to_string(),
        spec: None,
        vars: table_variables(&fit, y_label),
        runs: Vec::new(),
        fit: Some(fit),
        table: None,
        notes: vec![note],
        history: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_plain() {
        assert_eq!(column_name("Model Size"), "model_size");
        assert_eq!(column_name("Training FLOP"), "training_flop");
    }

    #[test]
    fn other_inputs_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(load(dir.path()), Err(Error::Store(_))));
        let csv = dir.path().join("t.csv");
        std::fs::write(&csv, "a\n1\n").unwrap();
        assert!(matches!(load(&csv), Err(Error::Input { .. })));
        let bad = dir.path().join("fit.json");
        std::fs::write(&bad, "{}").unwrap();
        assert!(matches!(load(&bad), Err(Error::Fit { .. })));
    }

    #[test]
    fn curves_skip_torn_lines_and_use_steps_when_tokens_are_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        std::fs::write(&path, "{\"step\":10,\"loss\":2.0}\n{\"step\":20,\"tokens\":5120,\"loss\":1.5}\n{\"step\":30,\"lo").unwrap();
        let curve = read_curve(&path, 256.0).unwrap();
        assert_eq!(curve, vec![CurvePoint { tokens: 2560.0, loss: 2.0 }, CurvePoint { tokens: 5120.0, loss: 1.5 }]);
        assert!(read_curve(&dir.path().join("none"), 1.0).unwrap().is_empty());
    }
}
