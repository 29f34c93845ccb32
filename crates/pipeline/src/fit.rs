//! Stage 4, fit: scaling laws fitted to a table of runs, a sweep's own results table or any
//! external one.
//!
//! For a sweep directory the mapping is automatic: X = features, Y = steps, loss = `loss`,
//! `C = κ·X·Y` with `κ = 12·d_in·batch_size` from saescale-spec's compute accounting, and only
//! rows whose `state` is `done`. For another table the caller names the columns
//! ([`Columns`]). The fitter itself (saescale-fit) knows only points; what makes a fit an SAE
//! fit is the typed [`SaeSetting`] this stage passes in.

use std::path::{Path, PathBuf};

use saescale_fit::lr::{bootstrap_lr_law, fit_lr_law, LrData};
use saescale_fit::{BootstrapConfig, ExcludedRow, FitConfig, FitResult, Interpolation, LrReport, Method, Points, SaeSetting, Source};
use saescale_spec::atomic::write_json_atomic;
use saescale_spec::Architecture;
use saescale_sweep::store::layout;
use saescale_table::{results, Table};

use crate::sparsity::{distinct_values, fit_sparsity_law, write_sparsity_fit, SparsityAxis, SPARSITY_FIT};
use crate::sweep::Sweep;
use crate::{Error, Result};

/// Defaults of a fit, shared by [`FitRequest::new`] and the command line.
pub mod defaults {
    /// Huber threshold δ on log-loss residuals (Hoffmann et al. 2022; Epoch AI).
    pub const DELTA: f64 = 1e-3;
    /// Runs whose compute is within this relative distance share a budget.
    pub const BUDGET_TOLERANCE: f64 = 0.1;
    /// The loss column of a sweep's results table.
    pub const LOSS_COLUMN: &str = "loss";
    /// Bootstrap replicates of the fit that ends `saescale run`.
    pub const SWEEP_BOOTSTRAP: usize = 400;
}

/// How a table's columns become points: X, Y read or derived from compute, and κ.
#[derive(Debug, Clone, PartialEq)]
pub struct Columns {
    /// Column of the size variable X (features, parameters).
    pub x: String,
    /// Where Y comes from.
    pub y: YColumn,
    /// FLOP per unit of X·Y: `C = κ·X·Y`.
    pub kappa: f64,
}

/// Where the duration variable Y comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YColumn {
    /// A column of Y (steps, tokens).
    Duration(String),
    /// A column of compute C; `Y = C/(κ·X)`.
    Compute(String),
}

/// A learning-rate law to fit next to the joint law.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LrRequest {
    /// Column of the learning rate.
    pub column: String,
    /// Table of the learning-rate sweep, when not the fit's input (same columns).
    pub table: Option<PathBuf>,
}

/// Everything a fit needs.
#[derive(Debug, Clone, PartialEq)]
pub struct FitRequest {
    /// A CSV or Parquet table, or a sweep directory.
    pub input: PathBuf,
    /// How a table's columns map to X, Y and C; `None` for a sweep directory (automatic).
    pub columns: Option<Columns>,
    /// Column of the loss.
    pub loss_column: String,
    /// Keep only rows whose column equals the value, each `COLUMN=VALUE`.
    pub filters: Vec<String>,
    /// Leave out the N rows with the highest loss.
    pub drop_highest_loss: usize,
    /// Estimator.
    pub method: Method,
    /// Huber threshold δ.
    pub delta: f64,
    /// How per-budget minima are located.
    pub interpolation: Interpolation,
    /// Relative compute distance within which runs share a budget.
    pub budget_tolerance: f64,
    /// Bootstrap replicates (0: none).
    pub bootstrap: usize,
    /// Seed of the bootstrap's resampling.
    pub seed: u64,
    /// A learning-rate law, if wanted.
    pub lr: Option<LrRequest>,
}

impl FitRequest {
    /// A summed-Huber joint-law fit of `input` with every default and no bootstrap.
    pub fn new(input: impl Into<PathBuf>, columns: Option<Columns>) -> Self {
        FitRequest {
            input: input.into(),
            columns,
            loss_column: defaults::LOSS_COLUMN.into(),
            filters: Vec::new(),
            drop_highest_loss: 0,
            method: Method::Huber,
            delta: defaults::DELTA,
            interpolation: Interpolation::Akima,
            budget_tolerance: defaults::BUDGET_TOLERANCE,
            bootstrap: 0,
            seed: 0,
            lr: None,
        }
    }

    /// The fit `saescale run` makes of a finished sweep: the defaults plus a seeded bootstrap
    /// of [`defaults::SWEEP_BOOTSTRAP`] replicates for error bars.
    pub fn for_sweep(dir: &Path) -> Self {
        FitRequest { bootstrap: defaults::SWEEP_BOOTSTRAP, ..FitRequest::new(dir, None) }
    }
}

/// Fits the request's input.
///
/// # Errors
/// [`Error::BadInput`] or [`Error::Table`] for a table, column, row or option that is wrong
/// (each names the file and the column); [`Error::Fit`] when the fit fails, bad input for
/// data it cannot fit (too few points, no usable budget).
pub fn fit(request: &FitRequest) -> Result<FitResult> {
    let (table, mapping) = load(&request.input, request)?;
    let kappa = mapping.kappa;
    let (points, source) = points_from(&table, mapping, &request.loss_column, request.drop_highest_loss)?;
    let mut config = FitConfig::new(request.method, kappa);
    config.delta = request.delta;
    config.isoflop.interpolation = request.interpolation;
    config.isoflop.budget_tolerance = request.budget_tolerance;
    if request.bootstrap > 0 {
        config.bootstrap = Some(BootstrapConfig::new(request.bootstrap, request.seed));
    }
    let mut result = saescale_fit::fit(&points, &config)?;
    result.source = source;
    if let Some(lr) = &request.lr {
        result.lr_law = Some(lr_law(request, lr, config.bootstrap.as_ref())?);
    }
    Ok(result)
}

/// Writes a fit as `fit.json` (pretty JSON, every number at full precision), atomically.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn write_fit(result: &FitResult, path: &Path) -> Result<()> {
    write_json_atomic(path, result).map_err(|source| Error::Io { action: "write", path: path.to_path_buf(), source })
}

/// What fitting a finished sweep gave.
#[derive(Debug, Clone, PartialEq)]
pub enum SweepFit {
    /// The fit, written to `path` (`<dir>/fit.json`).
    Fitted {
        /// The fit.
        result: Box<FitResult>,
        /// Where it was written.
        path: PathBuf,
    },
    /// The sweep cannot be fitted (too few runs, say); its runs and table stand, and no
    /// `fit.json` is left that could be mistaken for a fit of these runs.
    Unfittable {
        /// Why, from the fitter.
        reason: String,
    },
    /// The runs have several sparsities (`[sweep] k`, `l1_coefficients` or `l0_coefficients`): the joint law at
    /// each value (`fit-k<K>.json`…; no `fit.json`), and for k, L(n, k) across them.
    PerSparsity {
        /// Which axis varies.
        axis: SparsityAxis,
        /// Each value and its joint-law fit ([`SweepFit::Fitted`] or [`SweepFit::Unfittable`]).
        fits: Vec<(f64, SweepFit)>,
        /// L(n, k) and where it was written, or why it could not be fitted; `None` for λ.
        law: Option<std::result::Result<(Box<saescale_fit::sparsity::SparsityFit>, PathBuf), String>>,
    },
}

impl Sweep {
    /// Fits the joint law to the sweep's results table ([`FitRequest::for_sweep`]) and writes
    /// `<dir>/fit.json`. A sweep the law cannot be fitted to is not a failed sweep: the result
    /// says why, and a `fit.json` left from an earlier invocation is removed.
    ///
    /// # Errors
    /// Failures of the fit that are not about its data; [`Error::Io`] when `fit.json` cannot
    /// be written or the stale one removed.
    pub fn fit(&self) -> Result<SweepFit> {
        let fit_json = self.dir.join(layout::FIT);
        if let Some((axis, values, done)) = self.sparsities()? {
            // No fit.json: it would be a fit of one sparsity's runs mistaken for all of them.
            remove_stale(&fit_json)?;
            let mut fits = Vec::new();
            for value in values {
                let mut request = FitRequest::for_sweep(&self.dir);
                request.filters.push(axis.filter(value));
                fits.push((value, fit_to(&request, self.dir.join(axis.fit_file(value)))?));
            }
            let law = (axis == SparsityAxis::K).then(|| {
                let path = self.dir.join(SPARSITY_FIT);
                match fit_sparsity_law(&done, defaults::SWEEP_BOOTSTRAP, 0) {
                    Ok(law) => write_sparsity_fit(&law, &path).map(|path| Ok((Box::new(law), path))),
                    Err(error) if error.is_bad_input() => remove_stale(&path).map(|()| Err(saescale_sweep::error_chain(&error))),
                    Err(error) => Err(error),
                }
            });
            return Ok(SweepFit::PerSparsity { axis, fits, law: law.transpose()? });
        }
        fit_to(&FitRequest::for_sweep(&self.dir), fit_json)
    }

    /// The sparsity axis and its values when the sweep's done runs have more than one, with
    /// the table of those runs; `None` for a sweep at one sparsity (or without a table yet).
    fn sparsities(&self) -> Result<Option<(SparsityAxis, Vec<f64>, Table)>> {
        let Some(path) = results::find(&self.dir) else { return Ok(None) };
        let mut table = Table::read(&path)?;
        if table.has_column("state") {
            table = table.filter_eq("state", "done")?;
        }
        if table.height() == 0 {
            return Ok(None);
        }
        let axis = SparsityAxis::of(constant_architecture(&table)?);
        let values = distinct_values(&table, axis)?;
        Ok((values.len() > 1).then_some((axis, values, table)))
    }
}

/// Fits `request` and writes the result to `path`; a fit its data does not allow is
/// [`SweepFit::Unfittable`], and removes a `path` left from an earlier invocation.
fn fit_to(request: &FitRequest, path: PathBuf) -> Result<SweepFit> {
    match fit(request) {
        Ok(result) => {
            write_fit(&result, &path)?;
            Ok(SweepFit::Fitted { result: Box::new(result), path })
        }
        Err(error) if error.is_bad_input() => {
            remove_stale(&path)?;
            Ok(SweepFit::Unfittable { reason: saescale_sweep::error_chain(&error) })
        }
        Err(error) => Err(error),
    }
}

/// Removes a file an earlier fit left, if there is one.
fn remove_stale(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io { action: "remove the stale", path: path.to_path_buf(), source: e }),
        _ => Ok(()),
    }
}

/// How a table's rows become points, and where they came from.
struct Mapping {
    columns: Columns,
    kappa: f64,
    /// Provenance for fit.json.
    source: Source,
}

/// Reads a table or a sweep directory's results table, applies the filters and decides how
/// its columns map to points.
fn load(input: &Path, request: &FitRequest) -> Result<(Table, Mapping)> {
    if input.is_dir() {
        return load_sweep(input, request);
    }
    let columns = request.columns.clone().ok_or_else(|| {
        Error::bad_input(format!("{}: name the columns of a table (X, Y or compute, and kappa)", input.display()))
    })?;
    let table = filtered(Table::read(input)?, &request.filters)?;
    let (y_col, compute_col) = match &columns.y {
        YColumn::Duration(y) => (Some(y.clone()), None),
        YColumn::Compute(c) => (None, Some(c.clone())),
    };
    let source = Source {
        path: Some(input.display().to_string()),
        x_col: columns.x.clone(),
        y_col,
        compute_col,
        loss_col: request.loss_column.clone(),
        filters: request.filters.clone(),
        rows: table.height(),
        ..Source::default()
    };
    let kappa = columns.kappa;
    Ok((table, Mapping { columns, kappa, source }))
}

/// A sweep directory: its done runs, X = features, Y = steps, κ = 12·d·batch.
fn load_sweep(dir: &Path, request: &FitRequest) -> Result<(Table, Mapping)> {
    if request.columns.is_some() {
        return Err(Error::bad_input("for a sweep directory the columns and kappa are automatic; drop --x-col/--y-col/--compute-col/--kappa"));
    }
    let path = results::find(dir).ok_or_else(|| Error::bad_input(format!("{} has no results.parquet or results.csv", dir.display())))?;
    let mut table = Table::read(&path)?;
    if table.has_column("state") {
        table = table.filter_eq("state", "done")?;
    }
    let table = filtered(table, &request.filters)?;
    let d_in = constant_integer(&table, "d_in")?;
    let batch_size = constant_integer(&table, "batch_size")?;
    let architecture = constant_architecture(&table)?;
    let axis = SparsityAxis::of(architecture);
    let values = distinct_values(&table, axis)?;
    if values.len() > 1 {
        let listed: Vec<String> = values.iter().map(f64::to_string).collect();
        return Err(Error::bad_input(format!(
            "{}: the runs have several {} ({}): L(F, S) holds at one sparsity; fit one with --where {}",
            path.display(),
            axis.column(),
            listed.join(", "),
            axis.filter(values[0])
        )));
    }
    // FLOP per feature-step, from the one place compute is counted.
    let kappa = saescale_spec::compute::kappa(architecture, d_in, batch_size);
    let source = Source {
        path: Some(path.display().to_string()),
        x_col: "features".into(),
        y_col: Some("steps".into()),
        compute_col: None,
        loss_col: request.loss_column.clone(),
        filters: request.filters.clone(),
        rows: table.height(),
        tokens_per_y: batch_size as f64,
        sae: Some(SaeSetting { d_in, batch_size }),
        ..Source::default()
    };
    let columns = Columns { x: "features".into(), y: YColumn::Duration("steps".into()), kappa };
    Ok((table, Mapping { columns, kappa, source }))
}

/// Reads X, Y (or C) and loss; drops the highest losses if asked.
fn points_from(table: &Table, mapping: Mapping, loss_column: &str, drop_highest: usize) -> Result<(Points, Source)> {
    let x = table.positive_column(&mapping.columns.x)?;
    let loss = table.positive_column(loss_column)?;
    let points = match &mapping.columns.y {
        YColumn::Duration(y) => Points::new(&x, &table.positive_column(y)?, &loss),
        YColumn::Compute(c) => Points::from_compute(&x, &table.positive_column(c)?, &loss, mapping.kappa),
    }?;
    let mut source = mapping.source;
    if drop_highest == 0 {
        return Ok((points, source));
    }
    let (kept, dropped) = points.drop_highest_loss(drop_highest);
    source.excluded = dropped.into_iter().map(|i| ExcludedRow { row: table.file_rows()[i], reason: "drop-highest-loss".into() }).collect();
    Ok((kept, source))
}

/// The learning-rate law from a column of the input (or of its own table), compute = κ·X·Y.
fn lr_law(request: &FitRequest, lr: &LrRequest, bootstrap: Option<&BootstrapConfig>) -> Result<LrReport> {
    let path = lr.table.as_deref().unwrap_or(&request.input);
    let (table, mapping) = load(path, request)?;
    let kappa = mapping.kappa;
    let (points, _) = points_from(&table, mapping, &request.loss_column, 0)?;
    let compute: Vec<f64> = points.ln_compute(kappa).iter().map(|c| c.exp()).collect();
    let loss: Vec<f64> = points.ln_loss.iter().map(|l| l.exp()).collect();
    let rates = table.positive_column(&lr.column)?;
    let data = LrData::new(&compute, &rates, &loss)?;
    let fit = fit_lr_law(&data, request.budget_tolerance, request.interpolation)?;
    let samples = match bootstrap {
        Some(config) => bootstrap_lr_law(&data, request.budget_tolerance, request.interpolation, config)?.0,
        None => Vec::new(),
    };
    let table_path = lr.table.as_ref().map(|p| p.display().to_string());
    Ok(LrReport::new(lr.column.clone(), table_path, fit, samples))
}

/// Applies `COLUMN=VALUE` filters.
pub(crate) fn filtered(mut table: Table, filters: &[String]) -> Result<Table> {
    for filter in filters {
        let (column, value) = filter.split_once('=').ok_or_else(|| Error::bad_input(format!("--where {filter:?}: expected COLUMN=VALUE")))?;
        table = table.filter_eq(column, value)?;
    }
    if table.height() == 0 {
        return Err(Error::bad_input(format!("{}: no rows left after filtering", table.path().display())));
    }
    Ok(table)
}

/// The architecture all rows trained, which decides how their compute is counted (tables
/// written before the column existed held relu runs only).
fn constant_architecture(table: &Table) -> Result<Architecture> {
    if !table.has_column("architecture") {
        return Ok(Architecture::Relu);
    }
    for architecture in Architecture::ALL {
        if table.filter_eq("architecture", architecture.as_str())?.height() == table.height() {
            return Ok(architecture);
        }
    }
    Err(Error::bad_input(format!(
        "{}: column `architecture` differs between runs (or is not one of {}); fit one at a time with --where architecture=NAME",
        table.path().display(),
        Architecture::ALL.map(Architecture::as_str).join(", ")
    )))
}

/// A column that must hold one positive integer for every row (d_in, batch_size of a sweep).
fn constant_integer(table: &Table, column: &str) -> Result<usize> {
    let values = table.positive_column(column)?;
    let first = values[0];
    if values.iter().any(|&v| v != first) || first.fract() != 0.0 {
        return Err(Error::bad_input(format!(
            "{}: column `{column}` differs between runs; fit one setting at a time with --where {column}=VALUE",
            table.path().display()
        )));
    }
    Ok(first as usize)
}
