//! One L-BFGS run (argmin, More–Thuente line search) and the parallel multi-start around it.
//!
//! The objective is minimised in a rescaled form `f/s` with a fixed scale per objective
//! ([`objective_scale`]): `s = W·δ₀²` for the Huber and least-squares objectives (W the total
//! weight, δ₀ = 10⁻³ the nominal log-residual) and `s = W` for the likelihood. A good fit
//! then has a scaled objective of order one, so the tolerances below are meaningful whatever
//! the number of points; without this, the Chinchilla objective (≈10⁻³) makes absolute
//! tolerances stop the optimiser early (docs/METHODS.md §2.1, T8, pitfall 1).
//!
//! Stopping and convergence: argmin's L-BFGS stops when `‖∇(f/s)‖₂ < tol_grad` or when one
//! iteration changes `f/s` by less than `tol_cost`; both count as converged. If the line search
//! cannot find a descent step any more (the iterate is at the optimum to machine precision)
//! the run counts as converged when `‖∇(f/s)‖₂ ≤ stall_grad`. Runs that hit `max_iters` or end
//! at a non-finite objective do not count.
//!
//! ## Reference
//! Nocedal & Wright (2006), Numerical Optimization, 2nd ed., Alg. 7.4 (L-BFGS) and
//! Moré & Thuente (1994), ACM TOMS 20(3) (line search), as implemented by argmin.

use std::cell::RefCell;

use argmin::core::{CostFunction, Executor, Gradient, IterState, LineSearch, Problem, Solver, State, TerminationReason, KV};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::law::Law;
use crate::objective::Objective;
use crate::points::Points;

/// Settings of one L-BFGS run. Tolerances apply to the rescaled objective `f/s`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SolverSettings {
    /// L-BFGS history length m.
    pub memory: usize,
    /// Iteration limit over all restarts; a run that reaches it is not converged.
    pub max_iters: u64,
    /// Stop when `‖∇(f/s)‖₂` falls below this.
    pub tol_grad: f64,
    /// Stop when one iteration changes `f/s` by less than this.
    pub tol_cost: f64,
    /// A run whose line search fails counts as converged if `‖∇(f/s)‖₂` is at most this.
    pub stall_grad: f64,
    /// Restarts (with an empty history) after a failed line search, while progress is made.
    pub restarts: u32,
    /// Iteration limit of each line search (argmin sets none; a search that reaches it ends
    /// the run as a failed line search).
    pub line_search_iters: u64,
}

impl Default for SolverSettings {
    fn default() -> Self {
        SolverSettings { memory: 10, max_iters: 2000, tol_grad: 1e-10, tol_cost: 1e-14, stall_grad: 1e-6, restarts: 20, line_search_iters: 50 }
    }
}

impl SolverSettings {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a zero history or iteration limit or a negative tolerance.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: &str| Err(Error::InvalidConfig { field, reason: reason.to_string() });
        if self.memory == 0 {
            return bad("solver.memory", "must be at least 1");
        }
        if self.max_iters == 0 || self.line_search_iters == 0 {
            return bad("solver.max_iters", "iteration limits must be at least 1");
        }
        if !(self.tol_grad >= 0.0 && self.tol_cost >= 0.0 && self.stall_grad >= 0.0) {
            return bad("solver tolerances", "must be non-negative");
        }
        Ok(())
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The gradient or the cost-change criterion was met.
    Converged,
    /// The line search found no descent step and the gradient was small: converged.
    Stalled,
    /// The line search failed with a gradient that is not small.
    LineSearchFailed,
    /// The iteration limit was reached.
    MaxIters,
    /// The objective was not finite at the end.
    NonFinite,
}

impl Status {
    /// Whether the run counts as converged.
    pub fn converged(self) -> bool {
        matches!(self, Status::Converged | Status::Stalled)
    }
}

/// Outcome of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    /// Best parameters found (law parameters, then the objective's extra ones).
    pub theta: Vec<f64>,
    /// Objective value at `theta` (unscaled).
    pub objective: f64,
    /// Euclidean norm of the scaled gradient `∇(f/s)` at `theta`.
    pub grad_norm: f64,
    /// L-BFGS iterations.
    pub iterations: u64,
    /// How the run ended.
    pub status: Status,
}

/// The fixed scale `s` the optimiser divides the objective by (see the module docs).
pub fn objective_scale(objective: &Objective, total_weight: f64) -> f64 {
    const NOMINAL_RESIDUAL: f64 = 1e-3;
    match objective {
        Objective::Huber { .. } | Objective::LeastSquares => total_weight * NOMINAL_RESIDUAL * NOMINAL_RESIDUAL,
        Objective::HuberLikelihood { .. } => total_weight,
    }
}

/// The argmin problem: a law, an objective and the points, evaluated with value and gradient
/// together and cached, because argmin asks for the cost and then the gradient at each point.
struct LawProblem<'a, L: Law> {
    law: &'a L,
    objective: Objective,
    points: &'a Points,
    inv_scale: f64,
    /// Last `(θ, f/s, ∇(f/s))` evaluated.
    cache: RefCell<(Vec<f64>, f64, Vec<f64>)>,
}

impl<L: Law> LawProblem<'_, L> {
    /// Scaled value and gradient; a non-finite value is an error, which ends a line search
    /// (argmin's More–Thuente search would otherwise iterate on NaN forever).
    fn evaluate(&self, theta: &[f64]) -> std::result::Result<(f64, Vec<f64>), argmin::core::Error> {
        let mut cache = self.cache.borrow_mut();
        if cache.0.as_slice() != theta {
            let mut grad = vec![0.0; theta.len()];
            let value = self.objective.value_grad(self.law, self.points, theta, &mut grad);
            grad.iter_mut().for_each(|g| *g *= self.inv_scale);
            *cache = (theta.to_vec(), value * self.inv_scale, grad);
        }
        if cache.1.is_finite() && cache.2.iter().all(|g| g.is_finite()) {
            Ok((cache.1, cache.2.clone()))
        } else {
            Err(argmin::core::ArgminError::InvalidParameter { text: "objective or gradient is not finite".into() }.into())
        }
    }
}

impl<L: Law> CostFunction for LawProblem<'_, L> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, theta: &Vec<f64>) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.evaluate(theta)?.0)
    }
}

impl<L: Law> Gradient for LawProblem<'_, L> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, theta: &Vec<f64>) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        Ok(self.evaluate(theta)?.1)
    }
}

type LbfgsState = IterState<Vec<f64>, Vec<f64>, (), (), (), f64>;

/// argmin's More–Thuente line search with an iteration limit.
#[derive(Clone)]
struct BoundedLineSearch {
    inner: MoreThuenteLineSearch<Vec<f64>, Vec<f64>, f64>,
    max_iters: u64,
}

impl LineSearch<Vec<f64>, f64> for BoundedLineSearch {
    fn search_direction(&mut self, direction: Vec<f64>) {
        self.inner.search_direction(direction);
    }

    fn initial_step_length(&mut self, step: f64) -> std::result::Result<(), argmin::core::Error> {
        self.inner.initial_step_length(step)
    }
}

impl<O> Solver<O, LbfgsState> for BoundedLineSearch
where
    MoreThuenteLineSearch<Vec<f64>, Vec<f64>, f64>: Solver<O, LbfgsState>,
{
    fn name(&self) -> &str {
        "bounded More-Thuente line search"
    }

    fn init(
        &mut self,
        problem: &mut Problem<O>,
        state: LbfgsState,
    ) -> std::result::Result<(LbfgsState, Option<KV>), argmin::core::Error> {
        self.inner.init(problem, state)
    }

    fn next_iter(
        &mut self,
        problem: &mut Problem<O>,
        state: LbfgsState,
    ) -> std::result::Result<(LbfgsState, Option<KV>), argmin::core::Error> {
        if state.get_iter() >= self.max_iters {
            return Err(argmin::core::ArgminError::ConditionViolated { text: "line search iteration limit".into() }.into());
        }
        self.inner.next_iter(problem, state)
    }
}

/// Minimises `objective` of `law` on `points` by L-BFGS from `start`.
///
/// `start` holds the law's log-form parameters followed by the objective's extra ones
/// (for the likelihood, `ln σ`). argmin's L-BFGS keeps every curvature pair, so after a step
/// with `yᵀs ≤ 0` its direction may not descend and the line search refuses it; the run is then
/// restarted from its best point with an empty history, up to `settings.restarts` times while it
/// still makes progress (restarting is the standard remedy, Nocedal & Wright §7.2).
///
/// # Errors
/// [`Error::InvalidConfig`] if `start` has the wrong length, [`Error::Solver`] if argmin
/// rejects the settings.
pub fn minimise<L: Law>(
    law: &L,
    objective: Objective,
    points: &Points,
    start: &[f64],
    settings: &SolverSettings,
) -> Result<Solution> {
    let n = L::N_PARAMS + objective.extra_params();
    if start.len() != n {
        return Err(Error::InvalidConfig {
            field: "start",
            reason: format!("has {} values, the law and objective need {n}", start.len()),
        });
    }
    let scale = objective_scale(&objective, points.total_weight());
    let mut theta = start.to_vec();
    let mut iterations = 0;
    let mut restarts = 0;
    let (theta, reason) = loop {
        let before = objective.value(law, points, &theta);
        let Some((best, iters, reason)) = run_lbfgs(law, objective, points, &theta, scale, settings, settings.max_iters - iterations)? else {
            return Ok(Solution { objective: before, theta, grad_norm: f64::NAN, iterations, status: Status::NonFinite });
        };
        iterations += iters;
        let after = objective.value(law, points, &best);
        let progressed = after < before - 1e-15 * before.abs();
        theta = best;
        let line_search_failed = matches!(reason, Some(TerminationReason::SolverExit(_)));
        if !line_search_failed || !progressed || restarts >= settings.restarts || iterations >= settings.max_iters {
            break (theta, reason);
        }
        restarts += 1;
    };
    let mut grad = vec![0.0; n];
    let objective_value = objective.value_grad(law, points, &theta, &mut grad);
    let grad_norm = grad.iter().map(|g| (g / scale).powi(2)).sum::<f64>().sqrt();
    let status = if !objective_value.is_finite() || !grad_norm.is_finite() {
        Status::NonFinite
    } else {
        match reason {
            Some(TerminationReason::SolverConverged) => Status::Converged,
            Some(TerminationReason::SolverExit(_)) if grad_norm <= settings.stall_grad => Status::Stalled,
            Some(TerminationReason::SolverExit(_)) => Status::LineSearchFailed,
            _ => Status::MaxIters,
        }
    };
    Ok(Solution { theta, objective: objective_value, grad_norm, iterations, status })
}

/// One argmin L-BFGS run of at most `max_iters` iterations: the best parameters, the
/// iterations used and why it stopped; `None` when argmin fails the run because the objective
/// is not finite at the start (that start has failed, the fit has not).
fn run_lbfgs<L: Law>(
    law: &L,
    objective: Objective,
    points: &Points,
    start: &[f64],
    scale: f64,
    settings: &SolverSettings,
    max_iters: u64,
) -> Result<Option<(Vec<f64>, u64, Option<TerminationReason>)>> {
    let problem = LawProblem {
        law,
        objective,
        points,
        inv_scale: 1.0 / scale,
        cache: RefCell::new((Vec::new(), f64::NAN, Vec::new())),
    };
    let linesearch = BoundedLineSearch { inner: MoreThuenteLineSearch::new(), max_iters: settings.line_search_iters };
    let solver = LBFGS::new(linesearch, settings.memory)
        .with_tolerance_grad(settings.tol_grad)?
        .with_tolerance_cost(settings.tol_cost)?;
    let run = Executor::new(problem, solver)
        .configure(|state| state.param(start.to_vec()).max_iters(max_iters))
        .timer(false)
        .run();
    let Ok(result) = run else {
        return Ok(None);
    };
    let state = result.state();
    let best = state.get_best_param().cloned().unwrap_or_else(|| start.to_vec());
    Ok(Some((best, state.get_iter(), state.get_termination_reason().cloned())))
}

/// Outcome of a multi-start fit.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiStart {
    /// The converged run with the lowest objective.
    pub best: Solution,
    /// Starts tried.
    pub starts: usize,
    /// Starts whose run converged.
    pub converged: usize,
    /// Converged starts whose objective is within `best_tolerance` of the best.
    pub at_best: usize,
}

/// Runs [`minimise`] from every start in parallel (rayon) and keeps the best converged run.
///
/// A run counts towards [`MultiStart::at_best`] when its objective is within `best_tolerance`
/// (absolute, in the unscaled objective) of the best.
///
/// # Errors
/// [`Error::NoConvergence`] if no run converged; errors of [`minimise`].
pub fn multistart<L: Law>(
    law: &L,
    objective: Objective,
    points: &Points,
    starts: &[Vec<f64>],
    settings: &SolverSettings,
    best_tolerance: f64,
) -> Result<MultiStart> {
    let runs: Vec<Solution> = starts
        .par_iter()
        .map(|start| minimise(law, objective, points, start, settings))
        .collect::<Result<_>>()?;
    let converged: Vec<&Solution> = runs.iter().filter(|r| r.status.converged()).collect();
    let best = converged
        .iter()
        .min_by(|a, b| a.objective.total_cmp(&b.objective))
        .ok_or(Error::NoConvergence { starts: starts.len() })?;
    let at_best = converged
        .iter()
        .filter(|r| (r.objective - best.objective).abs() <= best_tolerance)
        .count();
    Ok(MultiStart { best: (*best).clone(), starts: starts.len(), converged: converged.len(), at_best })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::law::{JointLaw, JointParams};

    #[test]
    fn recovers_noise_free_joint_law() {
        let truth = JointParams { E: 1.5, A: 300.0, B: 900.0, alpha: 0.3, beta: 0.35 };
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..8 {
            for j in 0..8 {
                x.push(1e6 * 3f64.powi(i));
                y.push(1e8 * 3f64.powi(j));
            }
        }
        let loss: Vec<f64> = x.iter().zip(&y).map(|(&x, &y)| truth.predict(x, y)).collect();
        let points = Points::new(&x, &y, &loss).unwrap();
        let start = JointParams { E: 1.0, A: 100.0, B: 100.0, alpha: 0.2, beta: 0.2 }.to_log();
        let solution = minimise(&JointLaw, Objective::Huber { delta: 1e-3 }, &points, &start, &SolverSettings::default()).unwrap();
        assert!(solution.status.converged(), "{solution:?}");
        let fitted = JointParams::from_log(&solution.theta);
        for (got, want) in fitted.values().iter().zip(truth.values()) {
            assert!((got / want - 1.0).abs() < 1e-6, "{fitted:?}");
        }
    }

    #[test]
    fn wrong_start_length_is_an_error() {
        let points = Points::new(&[1.0; 6], &[1.0; 6], &[1.0; 6]).unwrap();
        let err = minimise(&JointLaw, Objective::LeastSquares, &points, &[0.0; 4], &SolverSettings::default());
        assert!(matches!(err, Err(Error::InvalidConfig { .. })));
    }
}
