//! Acceptance tests T1, T2, T6, T7 and T8 of docs/METHODS.md §5 on Epoch AI's digitised Chinchilla
//! points (V1, 240 points after dropping the five highest losses).
//!
//! Golden values: docs/METHODS.md §5, recomputed [R] with numpy 2.4.6 / scipy 1.17.1 following
//! Epoch AI's notebook (epoch-research/analyzing-chinchilla, data_analysis.ipynb), and
//! Besiroglu et al. 2024, arXiv:2404.10102 Table 1 for the MLE.

mod common;

use saescale_fit::law::{JointLaw, JointParams};
use saescale_fit::objective::{Objective, CHINCHILLA_DELTA};
use saescale_fit::solver::{minimise, SolverSettings};
use saescale_fit::{fit, likelihood_at, FitConfig, Method, Starts};

const HUBER: Objective = Objective::Huber { delta: CHINCHILLA_DELTA };

fn rel(a: f64, b: f64) -> f64 {
    (a / b - 1.0).abs()
}

/// docs/METHODS.md §4 loader checksums over all 245 rows.
#[test]
fn loader_checksums() {
    let t = common::Table::read("chinchilla_epoch_svg_extracted.csv");
    assert_eq!(t.rows.len(), 245);
    let loss: f64 = t.f64s("loss").iter().sum();
    let n: f64 = t.f64s("Model Size").iter().map(|v| v.log10()).sum();
    let c: f64 = t.f64s("Training FLOP").iter().map(|v| v.log10()).sum();
    assert!((loss - 655.0320929324).abs() < 1e-8, "{loss}");
    assert!((n - 2190.29661295).abs() < 1e-7, "{n}");
    assert!((c - 4879.56066092).abs() < 1e-7, "{c}");
}

/// T6: objective values at fixed parameters (sum Huber, δ = 1e-3, 240 points).
#[test]
fn t6_objective_at_fixed_parameters() {
    let points = common::chinchilla_240();
    let tex = HUBER.value(&JointLaw, &points, &JointParams::hoffmann_tex().to_log());
    let rounded = HUBER.value(&JointLaw, &points, &JointParams::hoffmann_rounded().to_log());
    assert!(rel(tex, 0.00123116) < 1e-5, "{tex}");
    assert!(rel(rounded, 0.00412101) < 1e-5, "{rounded}");
}

/// T1: the 4,500-start grid fit.
#[test]
fn t1_grid_fit() {
    let points = common::chinchilla_240();
    let result = fit(&points, &FitConfig::new(Method::Huber, 6.0)).unwrap();
    let objective = result.objective.unwrap().value;
    assert!(rel(objective, 1.01827402e-3) < 1e-6, "objective {objective:.10e}");
    let p = result.params.unwrap();
    assert!((p.E - 1.81722).abs() < 5e-4, "{p:?}");
    assert!((p.alpha - 0.34731).abs() < 5e-4, "{p:?}");
    assert!((p.beta - 0.36717).abs() < 5e-4, "{p:?}");
    assert!(rel(p.A, 477.8) < 0.01, "{p:?}");
    assert!(rel(p.B, 2143.0) < 0.02, "{p:?}");
    let starts = result.starts.unwrap();
    assert_eq!(starts.total, 4500);
    assert!(starts.at_best >= 10, "{starts:?}");
    assert_eq!(result.n_points, 240);
}

/// T8: from Hoffmann et al.'s TeX values the optimiser must not stop early on the tiny
/// objective (scipy L-BFGS-B with numeric gradients stops at 1.1633e-3 on the sum).
#[test]
fn t8_no_early_stop_from_hoffmann_start() {
    let points = common::chinchilla_240();
    let start = JointParams::hoffmann_tex().to_log();
    let solution = minimise(&JointLaw, HUBER, &points, &start, &SolverSettings::default()).unwrap();
    assert!(solution.status.converged(), "{solution:?}");
    assert!(solution.objective <= 1.0183e-3, "{:.8e}", solution.objective);
}

/// T2: the Huber-likelihood MLE from Hoffmann et al.'s TeX values with ln σ = 0.
#[test]
fn t2_huber_likelihood_mle() {
    let points = common::chinchilla_240();
    let mut config = FitConfig::new(Method::Mle, 6.0);
    config.starts = Starts::Given(vec![JointParams::hoffmann_tex().to_log()]);
    let result = fit(&points, &config).unwrap();
    let p = result.params.unwrap();
    let nll = result.objective.unwrap().value;
    assert!((p.alpha - 0.3478).abs() < 1e-3 && (p.beta - 0.3658).abs() < 1e-3, "{p:?}");
    assert!((p.E - 1.8169).abs() < 2e-3, "{p:?}");
    assert!(rel(p.A, 482.01) < 0.02 && rel(p.B, 2085.43) < 0.05, "{p:?}");
    assert!((nll - -879.77).abs() < 0.05, "-loglik {nll}");
    let log_sigma = result.log_sigma.unwrap();
    assert!((log_sigma - -12.267).abs() < 0.01, "ln sigma {log_sigma}");
    // From the grid (Huber grid optimum, then the likelihood) the same optimum.
    let grid = fit(&points, &FitConfig::new(Method::Mle, 6.0)).unwrap();
    assert!(grid.objective.unwrap().value <= nll + 1e-6, "{}", grid.objective.unwrap().value);
}

/// T7: log-likelihood with only the scale refitted — Hoffmann rounded, Hoffmann TeX, MLE —
/// on 240 points (562.25 / 837.78 / 879.77) and 245 points (531.89 / 714.43 / 757.80).
#[test]
fn t7_likelihood_table() {
    let delta = CHINCHILLA_DELTA;
    let p240 = common::chinchilla_240();
    let (_, rounded) = likelihood_at(&p240, &JointParams::hoffmann_rounded(), delta).unwrap();
    let (_, tex) = likelihood_at(&p240, &JointParams::hoffmann_tex(), delta).unwrap();
    assert!((-rounded - 562.25).abs() < 0.05, "{rounded}");
    assert!((-tex - 837.78).abs() < 0.05, "{tex}");
    let p245 = common::chinchilla_all();
    let (_, rounded) = likelihood_at(&p245, &JointParams::hoffmann_rounded(), delta).unwrap();
    let (_, tex) = likelihood_at(&p245, &JointParams::hoffmann_tex(), delta).unwrap();
    assert!((-rounded - 531.89).abs() < 0.05, "{rounded}");
    assert!((-tex - 714.43).abs() < 0.05, "{tex}");
}
