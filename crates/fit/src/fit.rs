//! The entry point: [`fit`] a table's points with one method and, optionally, bootstrap it.
//!
//! Methods (SCALING.md §3):
//! - [`Method::Huber`]: M1 with the summed Huber objective (δ = 10⁻³), multi-start L-BFGS from
//!   the 4,500-point Chinchilla grid (or given starts), keeping the best converged run.
//! - [`Method::Mle`]: Epoch AI's Huber likelihood with free scale σ. With the grid, the Huber
//!   grid fit runs first and the likelihood is minimised from its optimum (with `ln σ = 0` and
//!   with the moment estimate `ln(δ·mean|r|)`); with given starts, from each start with `ln σ = 0`
//!   (Epoch AI's protocol from Hoffmann et al.'s values).
//! - [`Method::Lsq`]: M1 with half the summed squared log residuals.
//! - [`Method::Isoflop`]: M3, no parametric surface.
//!
//! Every method yields the compute-optimal [`Frontier`] (M2) that `recommend` uses.

use serde::{Deserialize, Serialize};

use crate::allocation::Frontier;
use crate::bootstrap::{bootstrap_isoflop, bootstrap_law, BootstrapConfig};
use crate::error::{Error, Result};
use crate::grid::{chinchilla_grid, saturating_starts};
use crate::isoflop::{isoflop, IsoFlopConfig};
use crate::law::{JointLaw, JointParams, Law, SaturatingLaw, SaturatingParams};
use crate::objective::{Objective, CHINCHILLA_DELTA};
use crate::points::{check_kappa, Points};
use crate::result::{BootstrapReport, Derived, FitResult, ObjectiveReport, OptimizerReport, Source, StartsReport};
use crate::solver::{multistart, MultiStart, SolverSettings};

/// Which estimator to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Summed Huber loss on log residuals (Chinchilla Approach 3).
    #[default]
    Huber,
    /// Huber likelihood with free scale (Epoch AI).
    Mle,
    /// Least squares on log residuals.
    Lsq,
    /// IsoFLOP profiles and power laws through their optima (Approach 2).
    Isoflop,
}

impl Method {
    /// The name used on the command line and in fit.json.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Huber => "huber",
            Method::Mle => "mle",
            Method::Lsq => "lsq",
            Method::Isoflop => "isoflop",
        }
    }
}

/// Where the optimiser starts.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Starts {
    /// The 4,500-point Chinchilla grid ([`chinchilla_grid`]).
    #[default]
    ChinchillaGrid,
    /// Given log-form starts `(a, b, e, α, β)`.
    Given(Vec<Vec<f64>>),
}

/// Everything [`fit`] needs besides the points.
#[derive(Debug, Clone, PartialEq)]
pub struct FitConfig {
    /// Estimator.
    pub method: Method,
    /// Compute per unit of `x·y`: `C = κ·x·y`.
    pub kappa: f64,
    /// Huber threshold δ (objective and likelihood).
    pub delta: f64,
    /// Optimiser starts (parametric methods).
    pub starts: Starts,
    /// L-BFGS settings.
    pub solver: SolverSettings,
    /// Starts within this (absolute) distance of the best objective count as reaching it.
    pub best_tolerance: f64,
    /// IsoFLOP settings ([`Method::Isoflop`]).
    pub isoflop: IsoFlopConfig,
    /// Bootstrap, if wanted.
    pub bootstrap: Option<BootstrapConfig>,
}

impl FitConfig {
    /// Defaults for `method` with compute `C = κ·x·y`: δ = 10⁻³, the Chinchilla grid, no
    /// bootstrap, starts within 10⁻⁹ of the best objective counted as reaching it.
    pub fn new(method: Method, kappa: f64) -> Self {
        FitConfig {
            method,
            kappa,
            delta: CHINCHILLA_DELTA,
            starts: Starts::ChinchillaGrid,
            solver: SolverSettings::default(),
            best_tolerance: 1e-9,
            isoflop: IsoFlopConfig::default(),
            bootstrap: None,
        }
    }

    fn objective(&self) -> Objective {
        match self.method {
            Method::Mle => Objective::HuberLikelihood { delta: self.delta },
            Method::Lsq => Objective::LeastSquares,
            Method::Huber | Method::Isoflop => Objective::Huber { delta: self.delta },
        }
    }

    fn validate(&self) -> Result<()> {
        check_kappa(self.kappa)?;
        if !(self.delta > 0.0 && self.delta.is_finite()) {
            return Err(Error::InvalidConfig { field: "delta", reason: format!("{} is not positive", self.delta) });
        }
        if let Starts::Given(starts) = &self.starts {
            if starts.is_empty() || starts.iter().any(|s| s.len() != JointLaw::N_PARAMS) {
                return Err(Error::InvalidConfig { field: "starts", reason: "need at least one start of 5 values (a, b, e, alpha, beta)".into() });
            }
        }
        self.solver.validate()
    }
}

/// Fits `points` as `config` says.
///
/// # Errors
/// [`Error::TooFewPoints`] with fewer points than parameters, [`Error::InvalidConfig`],
/// [`Error::NoConvergence`] when no start converges, [`Error::Profile`] when an IsoFLOP
/// analysis has fewer than two usable budgets.
pub fn fit(points: &Points, config: &FitConfig) -> Result<FitResult> {
    config.validate()?;
    let needed = match config.method {
        Method::Mle => JointLaw::N_PARAMS + 1,
        Method::Isoflop => 6,
        _ => JointLaw::N_PARAMS,
    };
    if points.len() < needed {
        return Err(Error::TooFewPoints { points: points.len(), needed, what: config.method.as_str() });
    }
    let (min, max) = points.compute_range(config.kappa).unwrap_or((f64::NAN, f64::NAN));
    let mut result = match config.method {
        Method::Isoflop => fit_isoflop(points, config)?,
        _ => fit_parametric(points, config)?,
    };
    result.n_points = points.len();
    result.compute_range = [min, max];
    Ok(result)
}

fn empty_result(config: &FitConfig, frontier: Frontier) -> FitResult {
    FitResult {
        schema_version: crate::result::SCHEMA_VERSION,
        method: config.method,
        source: Source::default(),
        kappa: config.kappa,
        n_points: 0,
        compute_range: [f64::NAN; 2],
        objective: None,
        optimizer: None,
        starts: None,
        params: None,
        log_sigma: None,
        derived: Derived::of(&frontier),
        frontier,
        isoflop: None,
        bootstrap: None,
        lr_law: None,
    }
}

fn fit_isoflop(points: &Points, config: &FitConfig) -> Result<FitResult> {
    let iso = isoflop(points, config.kappa, &config.isoflop)?;
    let mut result = empty_result(config, iso.frontier);
    if let Some(boot) = &config.bootstrap {
        let (frontiers, failed) = bootstrap_isoflop(points, config.kappa, &config.isoflop, boot)?;
        result.bootstrap = Some(BootstrapReport::from_frontiers(boot.clone(), frontiers, failed)?);
    }
    result.isoflop = Some(iso);
    Ok(result)
}

fn fit_parametric(points: &Points, config: &FitConfig) -> Result<FitResult> {
    let objective = config.objective();
    let law_starts: Vec<Vec<f64>> = match &config.starts {
        Starts::ChinchillaGrid => chinchilla_grid(),
        Starts::Given(starts) => starts.clone(),
    };
    let grid_name = match &config.starts {
        Starts::ChinchillaGrid => "chinchilla-4500".to_string(),
        Starts::Given(s) => format!("given ({} starts)", s.len()),
    };
    let run: MultiStart = match config.method {
        Method::Mle => mle_multistart(points, config, &law_starts)?,
        _ => multistart(&JointLaw, objective, points, &law_starts, &config.solver, config.best_tolerance)?,
    };
    let theta = run.best.theta.clone();
    let params = JointParams::from_log(&theta);
    let frontier = Frontier::from_joint(&params);
    let mut result = empty_result(config, frontier);
    result.objective = Some(ObjectiveReport { objective, value: run.best.objective });
    result.optimizer = Some(OptimizerReport::lbfgs(config.solver, grid_name));
    result.starts = Some(StartsReport {
        total: run.starts,
        converged: run.converged,
        at_best: run.at_best,
        tolerance: config.best_tolerance,
    });
    result.params = Some(params);
    result.log_sigma = (objective.extra_params() == 1).then(|| theta[JointLaw::N_PARAMS]);
    if let Some(boot) = &config.bootstrap {
        let replicates = bootstrap_law(&JointLaw, objective, points, &config.solver, boot, &theta)?;
        result.bootstrap = Some(BootstrapReport::from_law_replicates(boot.clone(), &replicates)?);
    }
    Ok(result)
}

/// The likelihood from the Huber grid optimum (grid starts) or from each given start.
fn mle_multistart(points: &Points, config: &FitConfig, law_starts: &[Vec<f64>]) -> Result<MultiStart> {
    let likelihood = Objective::HuberLikelihood { delta: config.delta };
    let starts: Vec<Vec<f64>> = match config.starts {
        Starts::ChinchillaGrid => {
            let huber = Objective::Huber { delta: config.delta };
            let grid = multistart(&JointLaw, huber, points, law_starts, &config.solver, config.best_tolerance)?;
            let theta = grid.best.theta;
            let mean_abs = (0..points.len())
                .map(|i| (JointLaw.ln_predict(&theta, points.ln_x[i], points.ln_y[i]) - points.ln_loss[i]).abs() * points.weight[i])
                .sum::<f64>()
                / points.total_weight();
            let moment = (config.delta * mean_abs).max(1e-300).ln();
            [0.0, moment].iter().map(|&s| theta.iter().copied().chain([s]).collect()).collect()
        }
        Starts::Given(_) => law_starts.iter().map(|t| t.iter().copied().chain([0.0]).collect()).collect(),
    };
    multistart(&JointLaw, likelihood, points, &starts, &config.solver, config.best_tolerance)
}

/// Fits the single-variable saturating law `y = E + A·x^−α` (M5) to `points` (their `y` is
/// ignored) from Porian et al.'s 120-point grid plus 18 starts anchored on the data
/// ([`crate::grid::saturating_starts`]), keeping the best converged start.
///
/// # Errors
/// [`Error::TooFewPoints`] with fewer than three points, [`Error::NoConvergence`].
pub fn fit_saturating(
    points: &Points,
    objective: Objective,
    settings: &SolverSettings,
    best_tolerance: f64,
) -> Result<(SaturatingParams, MultiStart)> {
    let needed = SaturatingLaw::N_PARAMS + objective.extra_params();
    if points.len() < needed {
        return Err(Error::TooFewPoints { points: points.len(), needed, what: "saturating law" });
    }
    let extra = vec![0.0; objective.extra_params()];
    let starts: Vec<Vec<f64>> = saturating_starts(points).into_iter().map(|s| s.into_iter().chain(extra.iter().copied()).collect()).collect();
    let run = multistart(&SaturatingLaw, objective, points, &starts, settings, best_tolerance)?;
    Ok((SaturatingParams::from_log(&run.best.theta), run))
}

/// Refits the likelihood's scale alone at fixed law parameters (SCALING.md T7, "scale refit
/// only"): returns `(ln σ, −log-likelihood)`.
///
/// # Errors
/// [`Error::NoConvergence`] if the one-parameter fit does not converge.
pub fn likelihood_at(points: &Points, params: &JointParams, delta: f64) -> Result<(f64, f64)> {
    // Fix the law by moving its prediction into the data: the residuals become ln Lᵢ − ln L̂ᵢ
    // against a law that predicts ln L̂ = 0, and only ln σ is free.
    let theta = params.to_log();
    let mut residuals = points.clone();
    for i in 0..residuals.len() {
        residuals.ln_loss[i] = points.ln_loss[i] - JointLaw.ln_predict(&theta, points.ln_x[i], points.ln_y[i]);
    }
    let likelihood = Objective::HuberLikelihood { delta };
    let starts: Vec<Vec<f64>> = [0.0, -5.0, -10.0, -15.0].iter().map(|&s| vec![s]).collect();
    let run = multistart(&ZeroLaw, likelihood, &residuals, &starts, &SolverSettings::default(), 0.0)?;
    Ok((run.best.theta[0], run.best.objective))
}

/// A law without parameters predicting `ln L̂ = 0` (used to profile the likelihood's scale).
struct ZeroLaw;

impl Law for ZeroLaw {
    const N_PARAMS: usize = 0;
    const NAMES: &'static [&'static str] = &[];

    fn ln_predict(&self, _theta: &[f64], _ln_x: f64, _ln_y: f64) -> f64 {
        0.0
    }

    fn ln_predict_grad(&self, _theta: &[f64], _ln_x: f64, _ln_y: f64, _grad: &mut [f64]) -> f64 {
        0.0
    }
}
