//! `saescale fit <table|sweep dir> --out fit.json`: fit scaling laws to a table of runs.

use std::path::{Path, PathBuf};

use anyhow::Context;
use saescale_fit::lr::{bootstrap_lr_law, fit_lr_law, LrData};
use saescale_fit::{fit, BootstrapConfig, ExcludedRow, FitConfig, Interpolation, LrReport, Method, Points, SaeSetting, Source};
use saescale_report::table::{Table, TableError};

use crate::exit;

/// Fit scaling laws to a table of runs and write fit.json.
///
/// INPUT is a CSV or Parquet table, or a sweep directory (its results.parquet or results.csv;
/// rows whose `state` is not `done` are skipped). For a sweep directory the mapping is
/// automatic: X = features, Y = steps, loss = `loss`, C = 12·d_in·batch_size·X·Y (FLOP, from
/// saescale-spec's compute accounting). For other tables name the columns: `--x-col` and
/// either `--y-col` or `--compute-col` (Y = C/(κ·X)), with `--kappa` (6 when Y counts LM
/// tokens, 12·d·batch when Y counts SAE steps).
///
/// Methods: `huber` (summed Huber on log loss, δ = 1e-3, 4,500-start L-BFGS grid; Chinchilla
/// Approach 3 as re-run by Epoch AI), `mle` (Epoch AI's Huber likelihood with free scale),
/// `lsq` (least squares on log loss), `isoflop` (per-budget minima and power laws through them).
/// The fit is printed as a table and written to `--out` with every number at full precision.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Table (.csv, .parquet) or sweep directory.
    pub input: PathBuf,
    /// Where to write the fit (JSON).
    #[arg(long)]
    pub out: PathBuf,
    /// Column of the size variable X (features, parameters).
    #[arg(long)]
    pub x_col: Option<String>,
    /// Column of the duration variable Y (steps, tokens).
    #[arg(long, conflicts_with = "compute_col")]
    pub y_col: Option<String>,
    /// Column of compute C in FLOP; Y is derived as C/(κ·X).
    #[arg(long)]
    pub compute_col: Option<String>,
    /// FLOP per unit of X·Y: C = κ·X·Y (required for tables; automatic for sweeps).
    #[arg(long)]
    pub kappa: Option<f64>,
    /// Column of the loss.
    #[arg(long, default_value = "loss")]
    pub loss_col: String,
    /// Keep only rows whose COLUMN equals VALUE (repeatable), e.g. --where outlier=False.
    #[arg(long = "where", value_name = "COLUMN=VALUE")]
    pub filters: Vec<String>,
    /// Leave out the N rows with the highest loss (Epoch AI's main fit drops 5).
    #[arg(long, default_value_t = 0)]
    pub drop_highest_loss: usize,
    /// Estimator.
    #[arg(long, value_enum, default_value_t = MethodArg::Huber)]
    pub method: MethodArg,
    /// Huber threshold δ on log-loss residuals.
    #[arg(long, default_value_t = 1e-3)]
    pub delta: f64,
    /// How per-budget minima are located (isoflop and the lr law).
    #[arg(long, value_enum, default_value_t = InterpArg::Akima)]
    pub interp: InterpArg,
    /// Runs whose compute is within this relative distance share a budget (isoflop, lr law).
    #[arg(long, default_value_t = 0.1)]
    pub budget_tolerance: f64,
    /// Bootstrap replicates (0: no bootstrap; Epoch AI used 4000).
    #[arg(long, default_value_t = 0)]
    pub bootstrap: usize,
    /// Seed of the bootstrap's resampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also fit a learning-rate law lr*(C) = c·C^-p from the per-budget optimal values of this column.
    #[arg(long)]
    pub lr_col: Option<String>,
    /// Table of the learning-rate sweep, if not INPUT (same column flags).
    #[arg(long, requires = "lr_col")]
    pub lr_table: Option<PathBuf>,
}

impl Args {
    /// The fit `saescale run` makes of a finished sweep directory: the command line's
    /// defaults (summed-Huber joint law; sweep columns are automatic) plus a small seeded
    /// bootstrap for error bars. Parsed through clap so the defaults live in one place.
    pub fn for_sweep(dir: &Path, out: &Path) -> anyhow::Result<Args> {
        use clap::{Args as _, FromArgMatches};
        let command = Args::augment_args(clap::Command::new("fit"));
        let argv: [&std::ffi::OsStr; 6] =
            ["fit".as_ref(), dir.as_os_str(), "--out".as_ref(), out.as_os_str(), "--bootstrap".as_ref(), SWEEP_BOOTSTRAP.as_ref()];
        let matches = command.try_get_matches_from(argv).context("internal: the sweep's fit arguments do not parse")?;
        Ok(Args::from_arg_matches(&matches)?)
    }
}

/// Bootstrap replicates of the fit that ends `saescale run`.
const SWEEP_BOOTSTRAP: &str = "400";

/// Estimators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    /// Summed Huber loss on log residuals.
    Huber,
    /// Huber likelihood with free scale.
    Mle,
    /// Least squares on log residuals.
    Lsq,
    /// IsoFLOP profiles.
    Isoflop,
}

/// Minimum location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InterpArg {
    /// Akima spline through the points.
    Akima,
    /// Least-squares parabola.
    Parabola,
}

/// How a table's columns become points.
struct Mapping {
    /// Column of X.
    x_col: String,
    /// Y read directly, or derived from compute.
    y: Duration,
    /// C = κ·X·Y.
    kappa: f64,
    /// Provenance for fit.json.
    source: Source,
}

/// Where Y comes from.
enum Duration {
    /// A column of Y.
    Column(String),
    /// A column of compute C; Y = C/(κ·X).
    Compute(String),
}

/// Runs the command; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let (table, mapping) = load(&args.input, &args)?;
    let kappa = mapping.kappa;
    let (points, source) = points_from(&table, mapping, &args.loss_col, args.drop_highest_loss)?;
    let mut config = FitConfig::new(
        match args.method {
            MethodArg::Huber => Method::Huber,
            MethodArg::Mle => Method::Mle,
            MethodArg::Lsq => Method::Lsq,
            MethodArg::Isoflop => Method::Isoflop,
        },
        kappa,
    );
    config.delta = args.delta;
    config.isoflop.interpolation = interpolation(args.interp);
    config.isoflop.budget_tolerance = args.budget_tolerance;
    if args.bootstrap > 0 {
        config.bootstrap = Some(BootstrapConfig::new(args.bootstrap, args.seed));
    }
    let mut result = fit(&points, &config).map_err(fit_error)?;
    result.source = source;
    if let Some(lr_col) = &args.lr_col {
        result.lr_law = Some(lr_law(&args, lr_col, config.bootstrap.as_ref())?);
    }
    print!("{result}");
    let json = serde_json::to_string_pretty(&result).context("cannot encode the fit")?;
    write_atomic(&args.out, &json)?;
    println!("\nwrote {}", args.out.display());
    Ok(exit::OK)
}

fn interpolation(arg: InterpArg) -> Interpolation {
    match arg {
        InterpArg::Akima => Interpolation::Akima,
        InterpArg::Parabola => Interpolation::Parabola,
    }
}

/// Fit errors caused by the data or the flags are bad input (exit 2); others are failures.
fn fit_error(error: saescale_fit::Error) -> anyhow::Error {
    use saescale_fit::Error as E;
    match error {
        E::InvalidValue { .. } | E::LengthMismatch { .. } | E::TooFewPoints { .. } | E::InvalidConfig { .. } | E::Profile { .. } => {
            exit::bad_input(error.to_string())
        }
        other => anyhow::Error::new(other).context("fit failed"),
    }
}

/// Table errors are bad input: the file, column or row is named in the message.
fn table_error(error: TableError) -> anyhow::Error {
    exit::bad_input(format!("{:#}", anyhow::Error::new(error)))
}

/// Reads a table or a sweep directory's results table, applies the filters and decides how
/// its columns map to points.
fn load(input: &Path, args: &Args) -> anyhow::Result<(Table, Mapping)> {
    if input.is_dir() {
        return load_sweep(input, args);
    }
    let table = filtered(read_table(input)?, &args.filters)?;
    let x_col = args.x_col.clone().ok_or_else(|| exit::bad_input("--x-col is required for a table (the size column)"))?;
    let kappa = args.kappa.ok_or_else(|| {
        exit::bad_input("--kappa is required for a table: C = kappa·X·Y (6 when Y counts LM tokens, 12·d·batch when Y counts SAE steps)")
    })?;
    let y = match (&args.y_col, &args.compute_col) {
        (Some(y), _) => Duration::Column(y.clone()),
        (None, Some(c)) => Duration::Compute(c.clone()),
        (None, None) => return Err(exit::bad_input("name the duration column with --y-col, or compute with --compute-col")),
    };
    let source = Source {
        path: Some(input.display().to_string()),
        x_col: x_col.clone(),
        y_col: args.y_col.clone(),
        compute_col: args.compute_col.clone(),
        loss_col: args.loss_col.clone(),
        filters: args.filters.clone(),
        rows: table.height(),
        ..Source::default()
    };
    Ok((table, Mapping { x_col, y, kappa, source }))
}

/// A sweep directory: its done runs, X = features, Y = steps, κ = 12·d·batch.
fn load_sweep(dir: &Path, args: &Args) -> anyhow::Result<(Table, Mapping)> {
    if args.x_col.is_some() || args.y_col.is_some() || args.compute_col.is_some() || args.kappa.is_some() {
        return Err(exit::bad_input("for a sweep directory the columns and kappa are automatic; drop --x-col/--y-col/--compute-col/--kappa"));
    }
    let path = ["results.parquet", "results.csv"]
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| exit::bad_input(format!("{} has no results.parquet or results.csv", dir.display())))?;
    let mut table = read_table(&path)?;
    if table.has_column("state") {
        table = table.filter_eq("state", "done").map_err(table_error)?;
    }
    let table = filtered(table, &args.filters)?;
    let d_in = constant_integer(&table, "d_in")?;
    let batch_size = constant_integer(&table, "batch_size")?;
    // FLOP per feature-step, from the one place compute is counted.
    let kappa = saescale_spec::compute::run_flops(d_in, 1, 1, batch_size);
    let source = Source {
        path: Some(path.display().to_string()),
        x_col: "features".into(),
        y_col: Some("steps".into()),
        compute_col: None,
        loss_col: args.loss_col.clone(),
        filters: args.filters.clone(),
        rows: table.height(),
        tokens_per_y: batch_size as f64,
        sae: Some(SaeSetting { d_in, batch_size }),
        ..Source::default()
    };
    let mapping = Mapping { x_col: "features".into(), y: Duration::Column("steps".into()), kappa, source };
    Ok((table, mapping))
}

/// Reads X, Y (or C) and loss; drops the highest losses if asked.
fn points_from(table: &Table, mapping: Mapping, loss_col: &str, drop_highest: usize) -> anyhow::Result<(Points, Source)> {
    let x = table.positive_column(&mapping.x_col).map_err(table_error)?;
    let loss = table.positive_column(loss_col).map_err(table_error)?;
    let points = match &mapping.y {
        Duration::Column(y) => Points::new(&x, &table.positive_column(y).map_err(table_error)?, &loss),
        Duration::Compute(c) => Points::from_compute(&x, &table.positive_column(c).map_err(table_error)?, &loss, mapping.kappa),
    }
    .map_err(fit_error)?;
    let mut source = mapping.source;
    if drop_highest == 0 {
        return Ok((points, source));
    }
    let (kept, dropped) = points.drop_highest_loss(drop_highest);
    source.excluded = dropped
        .into_iter()
        .map(|i| ExcludedRow { row: table.file_rows()[i], reason: "drop-highest-loss".into() })
        .collect();
    Ok((kept, source))
}

/// The learning-rate law from `lr_col` of the input (or `--lr-table`), compute = κ·X·Y.
fn lr_law(args: &Args, lr_col: &str, bootstrap: Option<&BootstrapConfig>) -> anyhow::Result<LrReport> {
    let path = args.lr_table.as_deref().unwrap_or(&args.input);
    let (table, mapping) = load(path, args)?;
    let kappa = mapping.kappa;
    let (points, _) = points_from(&table, mapping, &args.loss_col, 0)?;
    let compute: Vec<f64> = points.ln_compute(kappa).iter().map(|c| c.exp()).collect();
    let loss: Vec<f64> = points.ln_loss.iter().map(|l| l.exp()).collect();
    let lr = table.positive_column(lr_col).map_err(table_error)?;
    let data = LrData::new(&compute, &lr, &loss).map_err(fit_error)?;
    let interp = interpolation(args.interp);
    let fit = fit_lr_law(&data, args.budget_tolerance, interp).map_err(fit_error)?;
    let samples = match bootstrap {
        Some(config) => bootstrap_lr_law(&data, args.budget_tolerance, interp, config).map_err(fit_error)?.0,
        None => Vec::new(),
    };
    let table_path = args.lr_table.as_ref().map(|p| p.display().to_string());
    Ok(LrReport::new(lr_col.to_string(), table_path, fit, samples))
}

fn read_table(path: &Path) -> anyhow::Result<Table> {
    Table::read(path).map_err(table_error)
}

/// Applies `COLUMN=VALUE` filters.
fn filtered(mut table: Table, filters: &[String]) -> anyhow::Result<Table> {
    for filter in filters {
        let (column, value) = filter
            .split_once('=')
            .ok_or_else(|| exit::bad_input(format!("--where {filter:?}: expected COLUMN=VALUE")))?;
        table = table.filter_eq(column, value).map_err(table_error)?;
    }
    if table.height() == 0 {
        return Err(exit::bad_input(format!("{}: no rows left after filtering", table.path().display())));
    }
    Ok(table)
}

/// A column that must hold one positive integer for every row (d_in, batch_size of a sweep).
fn constant_integer(table: &Table, column: &str) -> anyhow::Result<usize> {
    let values = table.positive_column(column).map_err(table_error)?;
    let first = values[0];
    if values.iter().any(|&v| v != first) || first.fract() != 0.0 {
        return Err(exit::bad_input(format!(
            "{}: column `{column}` differs between runs; fit one setting at a time with --where {column}=VALUE",
            table.path().display()
        )));
    }
    Ok(first as usize)
}

/// Writes `text` to `path` through a temporary file and a rename.
fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
}
