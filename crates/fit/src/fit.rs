//! The entry point: [`fit`] a table's points with one method and, optionally, bootstrap it.
//!
//! Methods (docs/METHODS.md §3):
//! - [`Method::Huber`]: M1 with the summed Huber objective (δ = 10⁻³), multi-start L-BFGS from
//!   the 4,500-point Chinchilla grid (or given starts), keeping the best converged run.
//! - [`Method::Mle`]: Epoch AI's Huber likelihood with free scale σ. With the grid, the Huber
//!   grid fit runs first and the likelihood is minimised from its optimum (with `ln σ = 0` and
//!   with the moment estimate `ln(δ·mean|r|)`); with given starts, from each start with `ln σ = 0`
//!   (Epoch AI's protocol from Hoffmann et al.'s values).
//! - [`Method::Lsq`]: M1 with half the summed squared log residuals.
//! - [`Method::Isoflop`]: M3, no parametric surface.
//!
//! Every method yields the compute-optimal [`Frontier`] (M2) that `recommend` uses, and every
//! method records the per-budget IsoFLOP profile it computed in [`FitResult::isoflop`]: for
//! the isoflop method the analysis itself, for the parametric methods the same profile as a
//! diagnostic ([`crate::isoflop::profile`]), which never makes the fit fail — a sweep with too
//! few budgets or sizes simply records none.

use serde::{Deserialize, Serialize};

use crate::allocation::Frontier;
use crate::bootstrap::{bootstrap_isoflop, bootstrap_law, BootstrapConfig};
use crate::error::{Error, Result};
use crate::grid::{chinchilla_grid, saturating_starts};
use crate::isoflop::{isoflop, profile, IsoFlopConfig};
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
    /// IsoFLOP settings: the analysis of [`Method::Isoflop`] and the diagnostic profile every
    /// other method records.
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
        self.isoflop.validate()?;
        self.solver.validate()
    }
}

/// Fits `points` as `config` says.
///
/// # Errors
/// [`Error::TooFewPoints`] with fewer points than parameters, [`Error::InvalidConfig`],
/// [`Error::NoConvergence`] when no start converges, [`Error::Profile`] when an IsoFLOP
/// analysis ([`Method::Isoflop`]) has fewer than two usable budgets (the parametric methods'
/// diagnostic profile never fails).
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
    let frontier = iso.frontier.ok_or_else(|| Error::Profile { what: "IsoFLOP analysis", reason: "fewer than two budgets have an interior minimum".into() })?;
    let mut result = empty_result(config, frontier);
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
    result.isoflop = Some(profile(points, config.kappa, &config.isoflop)?);
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

/// Refits the likelihood's scale alone at fixed law parameters (docs/METHODS.md T7, "scale refit
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Noise-free points of `truth` on IsoFLOP grids: five budgets 1e17 … 1e21 (C = 6·X·Y), nine
    /// sizes from X*(C)/4 to 4·X*(C) at ratios of √2, centred on the analytic optimum.
    fn isoflop_grid(truth: &JointParams) -> (Points, Vec<f64>) {
        let frontier = Frontier::from_joint(truth);
        let (mut x, mut c) = (Vec::new(), Vec::new());
        for k in 0..5 {
            let budget = 10f64.powi(17 + k);
            for j in -4..=4 {
                x.push(frontier.x_opt(budget, 6.0) * 2f64.powf(f64::from(j) / 2.0));
                c.push(budget);
            }
        }
        let loss: Vec<f64> = x.iter().zip(&c).map(|(&x, &c)| truth.predict(x, c / (6.0 * x))).collect();
        (Points::from_compute(&x, &c, &loss, 6.0).unwrap(), c)
    }

    /// A parametric fit records one budget per compute level, with the analytic optimum of
    /// the true law `X*(C) = G·(C/6)^a` inside 1.5% (an Akima spline through nine sizes √2
    /// apart locates the minimum of a smooth profile to about 1%) and the loss there within
    /// 10⁻⁴.
    #[test]
    fn parametric_fits_record_the_isoflop_profile() {
        let truth = JointParams { E: 1.7, A: 400.0, B: 2000.0, alpha: 0.34, beta: 0.37 };
        let frontier = Frontier::from_joint(&truth);
        let (points, compute) = isoflop_grid(&truth);
        for method in [Method::Huber, Method::Lsq] {
            let mut config = FitConfig::new(method, 6.0);
            config.starts = Starts::Given(vec![JointParams::hoffmann_tex().to_log()]);
            let result = fit(&points, &config).unwrap();
            let iso = result.isoflop.as_ref().unwrap();
            assert!(iso.diagnostic && iso.skipped.is_empty(), "{method:?}");
            assert_eq!(iso.budgets.len(), 5, "{method:?}");
            for (k, b) in iso.budgets.iter().enumerate() {
                let c = 10f64.powi(17 + k as i32);
                assert!((b.compute / c - 1.0).abs() < 1e-9);
                assert_eq!(b.indices, (9 * k..9 * k + 9).collect::<Vec<_>>());
                assert!(b.indices.iter().all(|&i| compute[i] == c));
                assert!(b.interior);
                let x_true = frontier.x_opt(c, 6.0);
                assert!((b.x_opt / x_true - 1.0).abs() < 0.015, "{method:?} C = {c:e}: X* {} vs {x_true}", b.x_opt);
                let loss_true = frontier.loss_opt(c, 6.0);
                assert!((b.loss_opt / loss_true - 1.0).abs() < 1e-4, "{method:?} C = {c:e}: L* {} vs {loss_true}", b.loss_opt);
                assert_eq!(b.curve.len(), crate::isoflop::CURVE_SAMPLES);
            }
            // The diagnostic frontier through the optima is close to the law's.
            let a = iso.frontier.unwrap().a;
            assert!((a - frontier.a).abs() < 0.01, "{method:?}: a {a} vs {}", frontier.a);
            // The fit's own frontier is the joint law's, not the profile's.
            assert!((result.frontier.a - frontier.a).abs() < 1e-6, "{method:?}");
        }
        // The likelihood needs residuals (its scale goes to zero on exact data): ±0.1% wiggle.
        let mut noisy = points.clone();
        for (i, l) in noisy.ln_loss.iter_mut().enumerate() {
            *l += 1e-3 * ((i * 7 % 5) as f64 - 2.0) / 2.0;
        }
        let mut config = FitConfig::new(Method::Mle, 6.0);
        config.starts = Starts::Given(vec![truth.to_log()]);
        let result = fit(&noisy, &config).unwrap();
        let iso = result.isoflop.as_ref().unwrap();
        assert!(iso.diagnostic && iso.budgets.len() + iso.skipped.len() == 5, "{iso:?}");
    }

    /// A sweep that is not IsoFLOP-shaped (every point at its own compute) fits
    /// parametrically and records no budgets; the isoflop method still refuses it.
    #[test]
    fn too_few_budgets_do_not_fail_a_parametric_fit() {
        let truth = JointParams { E: 1.7, A: 400.0, B: 2000.0, alpha: 0.34, beta: 0.37 };
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for i in 0..8 {
            // Compute grows by 8× per point: no two points share a budget.
            x.push(1e7 * 2f64.powi(i));
            y.push(1e9 * 4f64.powi(i) * if i % 2 == 0 { 1.0 } else { 1.3 });
        }
        let loss: Vec<f64> = x.iter().zip(&y).map(|(&x, &y)| truth.predict(x, y)).collect();
        let points = Points::new(&x, &y, &loss).unwrap();
        let mut config = FitConfig::new(Method::Huber, 6.0);
        config.starts = Starts::Given(vec![truth.to_log()]);
        let result = fit(&points, &config).unwrap();
        let iso = result.isoflop.as_ref().unwrap();
        assert!(iso.budgets.is_empty() && iso.frontier.is_none() && iso.warnings.is_empty());
        assert_eq!(iso.skipped.len(), 8);
        assert!(result.to_string().contains("0 budget(s) with a minimum (0 interior), 8 without"), "{result}");
        config.method = Method::Isoflop;
        assert!(matches!(fit(&points, &config), Err(Error::Profile { .. })));
    }
}
