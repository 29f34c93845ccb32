//! [`FitResult`]: what a fit found, written as `fit.json` and printed as a table.
//!
//! Every number is kept at full precision (serde_json writes the shortest representation that
//! round-trips an f64): rounding fitted parameters before deriving G, a, b changed
//! Chinchilla's implied tokens per parameter from ~59 to ~93 (docs/METHODS.md M9, pitfall 2).

use serde::{Deserialize, Serialize};

use crate::allocation::Frontier;
use crate::bootstrap::{BootstrapConfig, LawReplicates};
use crate::error::{Error, Result};
use crate::fit::Method;
use crate::isoflop::IsoFlopFit;
use crate::law::{JointLaw, JointParams, Law};
use crate::lr::{LrFit, LrLaw};
use crate::objective::Objective;
use crate::solver::SolverSettings;
use crate::stats::Spread;

/// Version of the fit.json layout.
///
/// - 1: `isoflop` only for the isoflop method.
/// - 2: `isoflop` for every method (the parametric methods' profile is marked `diagnostic`);
///   `isoflop.frontier` may be `null`; new `isoflop.skipped`, `isoflop.diagnostic`,
///   `isoflop.config.same_size` and `isoflop.config.max_swing`, and per budget `indices` and
///   `curve`. Files of version 1 still deserialize: the new fields read as what those
///   analyses did (no indices, no curve, nothing skipped, not diagnostic, `same_size` 1:
///   equal sizes merged only, `max_swing` `f64::MAX`: no swing rule).
pub const SCHEMA_VERSION: u32 = 2;

/// Where the points came from; filled in by the caller (the library knows only points).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// Table or sweep directory read.
    pub path: Option<String>,
    /// Column holding the size variable X.
    pub x_col: String,
    /// Column holding the duration variable Y, if Y was read directly.
    pub y_col: Option<String>,
    /// Column holding compute C, if Y was derived as `C/(κ·X)`.
    pub compute_col: Option<String>,
    /// Column holding the loss.
    pub loss_col: String,
    /// Row filters applied (`column=value`).
    pub filters: Vec<String>,
    /// Rows in the table after filtering.
    pub rows: usize,
    /// Rows left out of the fit, with the reason.
    pub excluded: Vec<ExcludedRow>,
    /// Tokens per unit of Y (the batch size when Y counts SAE steps; 1 when Y counts tokens).
    pub tokens_per_y: f64,
    /// The SAE setting, when the table is an SAE sweep.
    pub sae: Option<SaeSetting>,
}

impl Default for Source {
    fn default() -> Self {
        Source {
            path: None,
            x_col: "x".into(),
            y_col: Some("y".into()),
            compute_col: None,
            loss_col: "loss".into(),
            filters: Vec::new(),
            rows: 0,
            excluded: Vec::new(),
            tokens_per_y: 1.0,
            sae: None,
        }
    }
}

/// A row left out of the fit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExcludedRow {
    /// Row of the table file (0-based, header excluded), as an error about it would name it;
    /// filters do not renumber rows.
    pub row: usize,
    /// Why.
    pub reason: String,
}

/// The fixed part of an SAE sweep that turns steps into tokens and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaeSetting {
    /// Input width d.
    pub d_in: usize,
    /// Tokens per step.
    pub batch_size: usize,
}

/// The objective and its value at the optimum.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ObjectiveReport {
    /// What was minimised.
    #[serde(flatten)]
    pub objective: Objective,
    /// Its value at the reported parameters (for the likelihood, −log-likelihood).
    pub value: f64,
}

/// The optimiser and its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerReport {
    /// Algorithm.
    pub solver: String,
    /// Settings (tolerances on the rescaled objective, see [`crate::solver`]).
    pub settings: SolverSettings,
    /// Starting grid.
    pub grid: String,
}

impl OptimizerReport {
    /// argmin's L-BFGS with `settings` from `grid`.
    pub fn lbfgs(settings: SolverSettings, grid: String) -> Self {
        OptimizerReport { solver: "L-BFGS with More-Thuente line search (argmin 0.11), analytic gradients".into(), settings, grid }
    }
}

/// How the starts fared.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StartsReport {
    /// Starts tried.
    pub total: usize,
    /// Starts that converged.
    pub converged: usize,
    /// Converged starts within `tolerance` of the best objective.
    pub at_best: usize,
    /// Absolute tolerance on the objective for `at_best`.
    pub tolerance: f64,
}

/// Allocation exponents and prefactor: `X* = G·(C/κ)^a`, `Y* = G⁻¹·(C/κ)^b`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[allow(non_snake_case)]
pub struct Derived {
    /// Exponent of X*.
    pub a: f64,
    /// Exponent of Y*.
    pub b: f64,
    /// Prefactor G.
    pub G: f64,
}

impl Derived {
    /// From a frontier.
    pub fn of(f: &Frontier) -> Self {
        Derived { a: f.a, b: f.b, G: f.G }
    }
}

/// Bootstrap spreads of the joint-law parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[allow(non_snake_case)]
pub struct ParamSpreads {
    /// E.
    pub E: Spread,
    /// A.
    pub A: Spread,
    /// B.
    pub B: Spread,
    /// α.
    pub alpha: Spread,
    /// β.
    pub beta: Spread,
}

/// Bootstrap spreads of the derived quantities.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[allow(non_snake_case)]
pub struct DerivedSpreads {
    /// a.
    pub a: Spread,
    /// b.
    pub b: Spread,
    /// G.
    pub G: Spread,
}

/// What the bootstrap found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootstrapReport {
    /// Settings.
    pub config: BootstrapConfig,
    /// Replicates used (converged).
    pub converged: usize,
    /// Replicates that converged only after a restart from the full-data optimum.
    pub retried: usize,
    /// Replicates left out (did not converge / no usable budgets).
    pub failed: usize,
    /// Spreads of the law parameters (parametric methods).
    pub params: Option<ParamSpreads>,
    /// Spread of ln σ (likelihood).
    pub log_sigma: Option<Spread>,
    /// Spreads of a, b, G.
    pub derived: DerivedSpreads,
    /// The frontier of every used replicate (intervals of X*(C), Y*(C), L*(C) at any C).
    pub frontier_samples: Vec<Frontier>,
    /// The law parameters of every used replicate (parametric methods).
    pub param_samples: Vec<JointParams>,
}

fn spread(values: impl IntoIterator<Item = f64>) -> Result<Spread> {
    Spread::of(values).ok_or_else(|| Error::Profile { what: "bootstrap", reason: "fewer than two replicates converged".into() })
}

impl BootstrapReport {
    /// From the replicates of a law fit.
    ///
    /// # Errors
    /// [`Error::Profile`] with fewer than two converged replicates.
    pub fn from_law_replicates(config: BootstrapConfig, reps: &LawReplicates) -> Result<Self> {
        let params: Vec<JointParams> = reps.thetas.iter().map(|t| JointParams::from_log(t)).collect();
        let frontiers: Vec<Frontier> = params.iter().map(Frontier::from_joint).collect();
        let pick = |f: fn(&JointParams) -> f64| spread(params.iter().map(f));
        let spreads = ParamSpreads {
            E: pick(|p| p.E)?,
            A: pick(|p| p.A)?,
            B: pick(|p| p.B)?,
            alpha: pick(|p| p.alpha)?,
            beta: pick(|p| p.beta)?,
        };
        let log_sigma = reps
            .thetas
            .first()
            .filter(|t| t.len() > JointLaw::N_PARAMS)
            .map(|_| spread(reps.thetas.iter().map(|t| t[JointLaw::N_PARAMS])))
            .transpose()?;
        let mut report = Self::from_frontiers(config, frontiers, reps.failed)?;
        report.retried = reps.retried;
        report.params = Some(spreads);
        report.log_sigma = log_sigma;
        report.param_samples = params;
        Ok(report)
    }

    /// From replicate frontiers only (IsoFLOP).
    ///
    /// # Errors
    /// [`Error::Profile`] with fewer than two replicates.
    pub fn from_frontiers(config: BootstrapConfig, frontiers: Vec<Frontier>, failed: usize) -> Result<Self> {
        let derived = DerivedSpreads {
            a: spread(frontiers.iter().map(|f| f.a))?,
            b: spread(frontiers.iter().map(|f| f.b))?,
            G: spread(frontiers.iter().map(|f| f.G))?,
        };
        Ok(BootstrapReport {
            config,
            converged: frontiers.len(),
            retried: 0,
            failed,
            params: None,
            log_sigma: None,
            derived,
            frontier_samples: frontiers,
            param_samples: Vec::new(),
        })
    }
}

/// A learning-rate law with its bootstrap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrReport {
    /// Column of the learning rate.
    pub lr_col: String,
    /// Table the law was fitted on (when not the main input).
    pub path: Option<String>,
    /// The fit.
    pub fit: LrFit,
    /// Bootstrap laws, if bootstrapped.
    pub samples: Vec<LrLaw>,
    /// Spread of c, if bootstrapped.
    pub c: Option<Spread>,
    /// Spread of p, if bootstrapped.
    pub p: Option<Spread>,
}

impl LrReport {
    /// From a fit and (possibly empty) bootstrap laws.
    pub fn new(lr_col: String, path: Option<String>, fit: LrFit, samples: Vec<LrLaw>) -> Self {
        let c = Spread::of(samples.iter().map(|l| l.c));
        let p = Spread::of(samples.iter().map(|l| l.p));
        LrReport { lr_col, path, fit, samples, c, p }
    }
}

/// Everything a fit found: the content of fit.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitResult {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Estimator.
    pub method: Method,
    /// Where the points came from.
    pub source: Source,
    /// Compute per unit of X·Y: `C = κ·X·Y`.
    pub kappa: f64,
    /// Points fitted.
    pub n_points: usize,
    /// Smallest and largest compute among the fitted points.
    pub compute_range: [f64; 2],
    /// Objective and its value (parametric methods).
    pub objective: Option<ObjectiveReport>,
    /// Optimiser (parametric methods).
    pub optimizer: Option<OptimizerReport>,
    /// Starts reaching the best (parametric methods).
    pub starts: Option<StartsReport>,
    /// Joint-law parameters (parametric methods).
    pub params: Option<JointParams>,
    /// ln σ of the Huber likelihood (method mle).
    pub log_sigma: Option<f64>,
    /// a, b, G.
    pub derived: Derived,
    /// The compute-optimal frontier.
    pub frontier: Frontier,
    /// The per-budget IsoFLOP profile the fit computed: for method isoflop the analysis
    /// behind `frontier`, for the parametric methods a diagnostic computed with the same rules
    /// ([`IsoFlopFit::diagnostic`]). `None` only in fit.json of schema 1 from a parametric fit.
    pub isoflop: Option<IsoFlopFit>,
    /// Bootstrap, if run.
    pub bootstrap: Option<BootstrapReport>,
    /// Learning-rate law, if fitted.
    pub lr_law: Option<LrReport>,
}

impl FitResult {
    /// Extrapolation factor of compute `c` beyond the fitted range (1 inside it).
    pub fn extrapolation(&self, compute: f64) -> f64 {
        let [lo, hi] = self.compute_range;
        if compute > hi {
            compute / hi
        } else if compute < lo {
            lo / compute
        } else {
            1.0
        }
    }
}

fn fmt_spread(s: Option<&Spread>) -> String {
    s.map_or_else(String::new, |s| format!("{:>14.6e}  [{:.6e}, {:.6e}]", s.sd, s.ci95[0], s.ci95[1]))
}

impl std::fmt::Display for FitResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.fmt_settings(f)?;
        self.fmt_estimates(f)?;
        if let Some(iso) = &self.isoflop {
            fmt_isoflop(iso, f)?;
        }
        if let Some(lr) = &self.lr_law {
            writeln!(f, "\nlr*(C) = {:.6e} * C^-{:.6}  (from {} budgets of column {})", lr.fit.law.c, lr.fit.law.p, lr.fit.budgets.iter().filter(|b| b.interior).count(), lr.lr_col)?;
            if let (Some(c), Some(p)) = (&lr.c, &lr.p) {
                writeln!(f, "  c 95% CI [{:.4e}, {:.4e}], p 95% CI [{:.4}, {:.4}]", c.ci95[0], c.ci95[1], p.ci95[0], p.ci95[1])?;
            }
        }
        Ok(())
    }
}

impl FitResult {
    /// Method, input, points, compute range, objective, starts and bootstrap settings.
    fn fmt_settings(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "method         {}", self.method.as_str())?;
        if let Some(path) = &self.source.path {
            writeln!(f, "input          {path}")?;
        }
        let excluded: Vec<String> = self.source.excluded.iter().map(|e| e.row.to_string()).collect();
        write!(f, "points         {}", self.n_points)?;
        if !excluded.is_empty() {
            write!(f, " ({} excluded: rows {})", excluded.len(), excluded.join(", "))?;
        }
        writeln!(f)?;
        writeln!(f, "compute        {:.4e} .. {:.4e} FLOP (C = {} * X * Y)", self.compute_range[0], self.compute_range[1], self.kappa)?;
        if let Some(o) = &self.objective {
            let name = match o.objective {
                Objective::Huber { delta } => format!("sum of Huber (delta = {delta:e}) on ln loss"),
                Objective::HuberLikelihood { delta } => format!("-log-likelihood, Huber density (delta = {delta:e})"),
                Objective::LeastSquares => "half sum of squared ln-loss residuals".into(),
            };
            writeln!(f, "objective      {:.10e}  ({name})", o.value)?;
        }
        if let (Some(s), Some(opt)) = (&self.starts, &self.optimizer) {
            writeln!(
                f,
                "starts         {} from {} ({} converged, {} within {:e} of the best)",
                s.total, opt.grid, s.converged, s.at_best, s.tolerance
            )?;
        }
        if let Some(b) = &self.bootstrap {
            writeln!(
                f,
                "bootstrap      {} replicates, seed {} ({} used, {} restarted, {} failed)",
                b.config.replicates, b.config.seed, b.converged, b.retried, b.failed
            )?;
        }
        Ok(())
    }

    /// The law's parameters and the derived a, b, G at full precision, with their spreads,
    /// and the frontier.
    fn fmt_estimates(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let boot = self.bootstrap.as_ref();
        writeln!(f)?;
        writeln!(f, "{:<8} {:>24} {:>14}  {}", "", "estimate", "sd", if boot.is_some() { "95% CI" } else { "" })?;
        if let Some(p) = &self.params {
            let spreads = boot.and_then(|b| b.params.as_ref());
            let rows = [
                ("E", p.E, spreads.map(|s| &s.E)),
                ("A", p.A, spreads.map(|s| &s.A)),
                ("B", p.B, spreads.map(|s| &s.B)),
                ("alpha", p.alpha, spreads.map(|s| &s.alpha)),
                ("beta", p.beta, spreads.map(|s| &s.beta)),
            ];
            for (name, value, s) in rows {
                writeln!(f, "{name:<8} {value:>24} {}", fmt_spread(s))?;
            }
            if let Some(ls) = self.log_sigma {
                writeln!(f, "{:<8} {ls:>24} {}", "ln sigma", fmt_spread(boot.and_then(|b| b.log_sigma.as_ref())))?;
            }
        }
        let d = boot.map(|b| &b.derived);
        writeln!(f, "{:<8} {:>24} {}", "a", self.derived.a, fmt_spread(d.map(|d| &d.a)))?;
        writeln!(f, "{:<8} {:>24} {}", "b", self.derived.b, fmt_spread(d.map(|d| &d.b)))?;
        writeln!(f, "{:<8} {:>24} {}", "G", self.derived.G, fmt_spread(d.map(|d| &d.G)))?;
        writeln!(f, "\nX*(C) = G (C/kappa)^a;  Y*(C) = (C/kappa)^b / G;  L*(C) = {:.6} + {:.6e} (C/kappa)^-{:.6}", self.frontier.E, self.frontier.K, self.frontier.gamma)
    }
}

/// The IsoFLOP analysis: a one-line summary of a parametric fit's diagnostic profile (fit.json
/// has every budget), or the isoflop method's per-budget table and warnings.
fn fmt_isoflop(iso: &IsoFlopFit, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    if iso.diagnostic {
        let interior = iso.budgets.iter().filter(|b| b.interior).count();
        return writeln!(
            f,
            "\nIsoFLOP profile (diagnostic): {} budget(s) with a minimum ({interior} interior), {} without (fewer than three sizes, or too noisy)",
            iso.budgets.len(),
            iso.skipped.len()
        );
    }
    writeln!(f, "\n{:>12} {:>6} {:>12} {:>12} {:>10}  interior", "budget C", "points", "X*", "Y*", "L*")?;
    for b in &iso.budgets {
        writeln!(f, "{:>12.4e} {:>6} {:>12.4e} {:>12.4e} {:>10.5}  {}", b.compute, b.points, b.x_opt, b.y_opt, b.loss_opt, if b.interior { "yes" } else { "no (rejected)" })?;
    }
    for w in &iso.warnings {
        writeln!(f, "warning: {w}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{fit, FitConfig, Points, Starts};

    fn grid_fit(method: Method) -> FitResult {
        let truth = JointParams { E: 1.7, A: 400.0, B: 2000.0, alpha: 0.34, beta: 0.37 };
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for i in 0..6 {
            for j in 0..6 {
                x.push(1e7 * 4f64.powi(i));
                y.push(1e9 * 4f64.powi(j));
            }
        }
        let loss: Vec<f64> = x.iter().zip(&y).map(|(&x, &y)| truth.predict(x, y)).collect();
        let mut config = FitConfig::new(method, 6.0);
        config.starts = Starts::Given(vec![truth.to_log()]);
        fit(&Points::new(&x, &y, &loss).unwrap(), &config).unwrap()
    }

    /// What a fit.json of schema 1 held: no profile for parametric methods, and none of the
    /// profile's new fields.
    fn as_schema_1(result: &FitResult) -> serde_json::Value {
        let mut json = serde_json::to_value(result).unwrap();
        json["schema_version"] = 1.into();
        if result.method == Method::Isoflop {
            let iso = json["isoflop"].as_object_mut().unwrap();
            for key in ["skipped", "diagnostic"] {
                iso.remove(key);
            }
            for key in ["same_size", "max_swing"] {
                iso["config"].as_object_mut().unwrap().remove(key);
            }
            for budget in iso["budgets"].as_array_mut().unwrap() {
                let budget = budget.as_object_mut().unwrap();
                budget.remove("indices");
                budget.remove("curve");
            }
        } else {
            json["isoflop"] = serde_json::Value::Null;
        }
        json
    }

    #[test]
    fn schema_1_fit_json_still_reads() {
        for method in [Method::Huber, Method::Isoflop] {
            let result = grid_fit(method);
            assert_eq!(result.schema_version, SCHEMA_VERSION);
            assert!(result.isoflop.is_some(), "{method:?}: every fit records its profile");
            let old: FitResult = serde_json::from_value(as_schema_1(&result)).unwrap();
            assert_eq!((old.params, old.frontier, old.derived), (result.params, result.frontier, result.derived));
            if let Some(iso) = &old.isoflop {
                assert!(iso.budgets.iter().all(|b| b.indices.is_empty() && b.curve.is_empty()));
                assert_eq!(iso.frontier, result.isoflop.as_ref().unwrap().frontier);
            }
            // A current file reads back with the same layout (values can differ in the last
            // bit: serde_json parses floats exactly only with its `float_roundtrip` feature).
            let text = serde_json::to_string(&result).unwrap();
            let back: FitResult = serde_json::from_str(&text).unwrap();
            let (iso, back_iso) = (result.isoflop.as_ref().unwrap(), back.isoflop.as_ref().unwrap());
            let shape = |fit: &IsoFlopFit| fit.budgets.iter().map(|b| (b.indices.clone(), b.curve.len())).collect::<Vec<_>>();
            assert_eq!(shape(back_iso), shape(iso));
            assert_eq!((back_iso.skipped.len(), back_iso.diagnostic), (iso.skipped.len(), iso.diagnostic));
        }
    }
}
