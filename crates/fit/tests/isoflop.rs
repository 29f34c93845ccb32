//! T9 and T10 of docs/METHODS.md §5: IsoFLOP analyses on real and on noise-free synthetic data.

mod common;

use saescale_fit::law::JointParams;
use saescale_fit::{fit, FitConfig, Frontier, Interpolation, IsoFlopConfig, Method, Points, Starts};

/// T9: an IsoFLOP analysis of the epochai_chinchilla rows of Open-Athena's compiled table
/// (outlier = False; 85 rows, 7 budgets 6e18..1e21): docs/METHODS.md expects a near 0.49..0.51 and
/// accepts 0.46..0.54. The default Akima minimisers give a = 0.4746 (0.4747 when only equal
/// sizes are merged, as before issue 18; the 5% rule merges a few digitised sizes). Least-squares parabolas
/// on the same rows give a = 0.5414 (the digitised losses are quantised in ~0.01 steps and the
/// profiles are flat, so the vertices move a lot); that value is checked against a regression
/// band, not the acceptance band, and is why Akima is the default (pitfall 7).
#[test]
fn t9_chinchilla_isoflops() {
    let table = common::Table::read("isoflops_open_athena.csv").filter("source", "epochai_chinchilla").filter("outlier", "False");
    assert_eq!(table.rows.len(), 85);
    let points = Points::from_compute(&table.f64s("params"), &table.f64s("budget"), &table.f64s("loss"), 6.0).unwrap();
    let result = fit(&points, &FitConfig::new(Method::Isoflop, 6.0)).unwrap();
    let a = result.derived.a;
    assert!((0.46..=0.54).contains(&a), "a = {a}");
    let iso = result.isoflop.as_ref().unwrap();
    assert_eq!(iso.budgets.iter().filter(|b| b.interior).count(), 7, "{:?}", iso.budgets);
    let mut config = FitConfig::new(Method::Isoflop, 6.0);
    config.isoflop.interpolation = Interpolation::Parabola;
    let parabola = fit(&points, &config).unwrap().derived.a;
    assert!((0.53..=0.55).contains(&parabola), "parabola a = {parabola}");
}

/// Noise-free Chinchilla surface (rounded published values) sampled on IsoFLOP grids centred
/// on the true optimum, spanning ±`width` in size, at budgets 1e17..1e21.
fn synthetic(width: f64) -> (Points, Frontier, JointParams) {
    let law = JointParams::hoffmann_rounded();
    let truth = Frontier::from_joint(&law);
    let (mut x, mut c) = (Vec::new(), Vec::new());
    for k in 0..9 {
        let budget = 10f64.powf(17.0 + 0.5 * k as f64);
        for j in -7..=7 {
            x.push(truth.x_opt(budget, 6.0) * width.powf(j as f64 / 7.0));
            c.push(budget);
        }
    }
    let loss: Vec<f64> = x.iter().zip(&c).map(|(&x, &c)| law.predict(x, c / (6.0 * x))).collect();
    (Points::from_compute(&x, &c, &loss, 6.0).unwrap(), truth, law)
}

/// T10, Approach 2: the parabola recovers the exponent exactly (the profile's shape in
/// ln X − ln X* is the same at every budget) and the intercept with a bias that grows with the
/// grid width: Open-Athena report +0.3% at ±2x and about 4% at ±16x.
#[test]
fn t10_parabola_exponent_exact_intercept_biased() {
    for (width, max_bias) in [(2.0, 0.005), (16.0, 0.06)] {
        let (points, truth, _) = synthetic(width);
        let config = FitConfig { isoflop: IsoFlopConfig { interpolation: Interpolation::Parabola, ..Default::default() }, ..FitConfig::new(Method::Isoflop, 6.0) };
        let result = fit(&points, &config).unwrap();
        let f = result.frontier;
        assert!((f.a - truth.a).abs() < 1e-9, "width {width}: a {} vs {}", f.a, truth.a);
        let bias = (f.G / truth.G - 1.0).abs();
        assert!(bias < max_bias, "width {width}: intercept off by {bias}");
        if width == 16.0 {
            assert!(bias > 0.005, "a ±16x grid should show the parabola's bias, got {bias}");
            let warned = result.isoflop.unwrap().warnings.iter().any(|w| matches!(w, saescale_fit::isoflop::Warning::WideGrid { .. }));
            assert!(warned);
        }
    }
}

/// T10, Approach 3: the parametric fit recovers all five parameters from the noise-free
/// surface.
#[test]
fn t10_parametric_recovers_all_parameters() {
    let (points, _, law) = synthetic(16.0);
    let result = fit(&points, &FitConfig::new(Method::Huber, 6.0)).unwrap();
    let p = result.params.unwrap();
    for (name, got, want) in [("E", p.E, law.E), ("A", p.A, law.A), ("B", p.B, law.B), ("alpha", p.alpha, law.alpha), ("beta", p.beta, law.beta)] {
        assert!((got / want - 1.0).abs() < 1e-5, "{name}: {got} vs {want}");
    }
    assert!(result.objective.unwrap().value < 1e-15);
}

/// Issue 18: a parametric fit records the very profile the isoflop method computes (same
/// budgets, optima, points and curves), so fit.json and the figures agree whatever the method.
#[test]
fn parametric_profile_is_the_isoflop_analysis() {
    let table = common::Table::read("isoflops_open_athena.csv").filter("source", "epochai_chinchilla").filter("outlier", "False");
    let points = Points::from_compute(&table.f64s("params"), &table.f64s("budget"), &table.f64s("loss"), 6.0).unwrap();
    let iso = fit(&points, &FitConfig::new(Method::Isoflop, 6.0)).unwrap().isoflop.unwrap();
    let mut config = FitConfig::new(Method::Huber, 6.0);
    config.starts = Starts::Given(vec![JointParams::hoffmann_tex().to_log()]);
    let profile = fit(&points, &config).unwrap().isoflop.unwrap();
    assert!(profile.diagnostic && !iso.diagnostic);
    assert_eq!(profile.budgets, iso.budgets);
    assert_eq!(profile.skipped, iso.skipped);
    assert_eq!(profile.frontier, iso.frontier);
    assert!(profile.warnings.is_empty());
    let mut seen: Vec<usize> = iso.budgets.iter().flat_map(|b| b.indices.clone()).chain(iso.skipped.iter().flat_map(|s| s.indices.clone())).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..points.len()).collect::<Vec<_>>(), "every point belongs to one budget");
}

/// On Epoch AI's digitised Chinchilla points (V1, 240 points) the recorded curves obey the
/// fit's own rule: no curve leaves its budget's loss band by more than half the span, and
/// every minimum lies within the sizes sampled.
#[test]
fn digitised_profiles_are_steady() {
    let points = common::chinchilla_240();
    let mut config = FitConfig::new(Method::Huber, 6.0);
    config.starts = Starts::Given(vec![JointParams::hoffmann_tex().to_log()]);
    let iso = fit(&points, &config).unwrap().isoflop.unwrap();
    assert!(iso.budgets.len() >= 30, "{} budgets", iso.budgets.len());
    for b in &iso.budgets {
        let loss: Vec<f64> = b.indices.iter().map(|&i| points.ln_loss[i].exp()).collect();
        let (lo, hi) = loss.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, z), &l| (a.min(l), z.max(l)));
        let slack = 0.5 * (hi - lo) + 1e-12;
        assert!(b.curve.iter().all(|s| s[1] >= lo - slack && s[1] <= hi + slack), "C = {:e}", b.compute);
        assert!(b.x_opt >= b.x_range[0] * (1.0 - 1e-12) && b.x_opt <= b.x_range[1] * (1.0 + 1e-12));
    }
}
