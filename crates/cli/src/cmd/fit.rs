//! `saescale fit <table|sweep dir> --out fit.json`: fit scaling laws to a table of runs.

use std::path::PathBuf;

use saescale_fit::{Interpolation, Method};
use saescale_pipeline::fit::defaults;
use saescale_pipeline::sparsity::{fit_sparsity_input, write_sparsity_fit};
use saescale_pipeline::{fit, write_fit, Columns, FitRequest, LrRequest, YColumn};
use saescale_spec::Exit;

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
///
/// With --sparsity, Gao et al.'s L(n, k) = exp(α + β_k ln k + β_n ln n + γ ln k ln n) +
/// exp(ζ + η ln k) is fitted instead, to columns `features`, `k`, `steps` and `loss` (a sweep
/// with a `[sweep] k` axis has them): the longest-trained runs of each (features, k) are its
/// points (summed Huber on log loss, 972-start L-BFGS grid, --bootstrap for intervals).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Table (.csv, .parquet) or sweep directory.
    pub input: PathBuf,
    /// Fit L(n, k) across sparsities instead of L(F, S) (columns features, k, steps, loss).
    #[arg(long, conflicts_with_all = ["x_col", "y_col", "compute_col", "kappa", "lr_col", "method"])]
    pub sparsity: bool,
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
    #[arg(long, default_value = defaults::LOSS_COLUMN)]
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
    #[arg(long, default_value_t = defaults::DELTA)]
    pub delta: f64,
    /// How per-budget minima are located (isoflop and the lr law).
    #[arg(long, value_enum, default_value_t = InterpArg::Akima)]
    pub interp: InterpArg,
    /// Runs whose compute is within this relative distance share a budget (isoflop, lr law).
    #[arg(long, default_value_t = defaults::BUDGET_TOLERANCE)]
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

/// Runs the command; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    if args.sparsity {
        let law = fit_sparsity_input(&args.input, &args.filters, args.bootstrap, args.seed)?;
        println!("L(n, k) = exp(alpha + beta_k ln k + beta_n ln n + gamma ln k ln n) + exp(zeta + eta ln k)");
        print!("{law}");
        write_sparsity_fit(&law, &args.out)?;
        println!("\nwrote {}", args.out.display());
        return Ok(Exit::Ok);
    }
    let request = request(&args)?;
    let result = fit(&request)?;
    print!("{result}");
    write_fit(&result, &args.out)?;
    println!("\nwrote {}", args.out.display());
    Ok(Exit::Ok)
}

/// The fit the arguments ask for.
fn request(args: &Args) -> anyhow::Result<FitRequest> {
    let columns = if args.input.is_dir() {
        if args.x_col.is_some() || args.y_col.is_some() || args.compute_col.is_some() || args.kappa.is_some() {
            return Err(exit::bad_input("for a sweep directory the columns and kappa are automatic; drop --x-col/--y-col/--compute-col/--kappa"));
        }
        None
    } else {
        Some(columns(args)?)
    };
    Ok(FitRequest {
        loss_column: args.loss_col.clone(),
        filters: args.filters.clone(),
        drop_highest_loss: args.drop_highest_loss,
        method: match args.method {
            MethodArg::Huber => Method::Huber,
            MethodArg::Mle => Method::Mle,
            MethodArg::Lsq => Method::Lsq,
            MethodArg::Isoflop => Method::Isoflop,
        },
        delta: args.delta,
        interpolation: match args.interp {
            InterpArg::Akima => Interpolation::Akima,
            InterpArg::Parabola => Interpolation::Parabola,
        },
        budget_tolerance: args.budget_tolerance,
        bootstrap: args.bootstrap,
        seed: args.seed,
        lr: args.lr_col.clone().map(|column| LrRequest { column, table: args.lr_table.clone() }),
        ..FitRequest::new(&args.input, columns)
    })
}

/// How a table's columns map to points: `--x-col`, `--y-col` or `--compute-col`, `--kappa`.
fn columns(args: &Args) -> anyhow::Result<Columns> {
    let x = args.x_col.clone().ok_or_else(|| exit::bad_input("--x-col is required for a table (the size column)"))?;
    let kappa = args.kappa.ok_or_else(|| {
        exit::bad_input("--kappa is required for a table: C = kappa·X·Y (6 when Y counts LM tokens, 12·d·batch when Y counts SAE steps)")
    })?;
    let y = match (&args.y_col, &args.compute_col) {
        (Some(y), _) => YColumn::Duration(y.clone()),
        (None, Some(c)) => YColumn::Compute(c.clone()),
        (None, None) => return Err(exit::bad_input("name the duration column with --y-col, or compute with --compute-col")),
    };
    Ok(Columns { x, y, kappa })
}
