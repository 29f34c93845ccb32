//! The interval `saescale plan --target-compute` promises is the one a design gives: on a
//! known law, the simulator's expected 95% widths of F*(C) and L*(C) are within a factor 1.5
//! of the spread of fits of independently noised sweeps of the same design.

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rand_distr::{Distribution, Normal};
use saescale_fit::law::JointParams;
use saescale_fit::stats::percentile;
use saescale_fit::{fit, FitConfig, Frontier, Method, Points, Starts};
use saescale_pipeline::design::laws::sae_like_law;
use saescale_pipeline::design::simulate::{Request, Simulator};
use saescale_sweep::{Plan, SweepSpec};

const SPEC: &str = r#"
name = "known-law"
[run.data]
source = "synthetic"
d_in = 64
[run.sae]
architecture = "relu"
[run.train]
batch_size = 256
[sweep]
budgets = [1e11, 2e11, 4e11, 8e11]
features = [128, 256, 512, 1024, 2048]
"#;
const KAPPA: f64 = 12.0 * 64.0 * 256.0;
const TARGET: f64 = 8e12;
const NOISE: f64 = 0.01;
const DRAWS: usize = 200;

/// The fits start from the true law: a single start keeps 2 × 200 fits fast, and both sides
/// use the same one, so it does not favour either.
fn starts(law: &JointParams) -> Starts {
    Starts::Given(vec![vec![law.A.ln(), law.B.ln(), law.E.ln(), law.alpha, law.beta]])
}

/// Upper over lower end of the central 95% of `values`.
fn width_95(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    percentile(&values, 97.5) - percentile(&values, 2.5)
}

#[test]
fn the_simulated_interval_matches_the_spread_of_independent_sweeps() {
    let spec = SweepSpec::parse(SPEC, "known-law.toml").unwrap();
    let law = sae_like_law(1e11, 300.0, 0.5, 0.4, 0.5, KAPPA);
    let truth = Frontier::from_joint(&law);
    let (true_f, true_l) = (truth.x_opt(TARGET, KAPPA), truth.loss_opt(TARGET, KAPPA));

    let simulator = Simulator::new(&spec).unwrap();
    let request = Request { target_compute: TARGET, draws: DRAWS, seed: 11, starts: starts(&law) };
    let expected = simulator.expected_on(&[law], NOISE, "the known law".into(), &request, |_| {}).unwrap();
    assert_eq!((expected.draws, expected.failed, expected.runs), (DRAWS, 0, 20));

    // The same design, noised with another generator and fitted here, not by the simulator.
    let plan = Plan::new(&spec).unwrap();
    let features: Vec<f64> = plan.runs.iter().map(|r| r.features as f64).collect();
    let steps: Vec<f64> = plan.runs.iter().map(|r| r.steps as f64).collect();
    let normal = Normal::new(0.0, NOISE).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(2027);
    let mut config = FitConfig::new(Method::Huber, KAPPA);
    config.starts = starts(&law);
    let (mut log_ratios, mut loss_errors) = (Vec::new(), Vec::new());
    for _ in 0..DRAWS {
        let losses: Vec<f64> = features.iter().zip(&steps).map(|(&f, &s)| law.predict(f, s) * (1.0 + normal.sample(&mut rng))).collect();
        let result = fit(&Points::new(&features, &steps, &losses).unwrap(), &config).unwrap();
        log_ratios.push((result.frontier.x_opt(TARGET, KAPPA) / true_f).ln());
        loss_errors.push(result.frontier.loss_opt(TARGET, KAPPA) / true_l - 1.0);
    }

    let empirical_f = width_95(log_ratios);
    let simulated_f = expected.features_width().ln();
    let empirical_l = width_95(loss_errors);
    eprintln!("95% widths: F* simulated ×{:.3}, independent ×{:.3}; L* simulated {:.4}, independent {empirical_l:.4}", simulated_f.exp(), empirical_f.exp(), expected.loss_width());
    assert!(
        (simulated_f / empirical_f - 1.0).abs() < 0.5,
        "F*(C) interval: simulated ×{:.3}, independent sweeps ×{:.3}",
        simulated_f.exp(),
        empirical_f.exp()
    );
    assert!(
        (expected.loss_width() / empirical_l - 1.0).abs() < 0.5,
        "L*(C) interval: simulated {:.4}, independent sweeps {empirical_l:.4}",
        expected.loss_width()
    );
    // And the interval is one worth comparing: 1% noise on 20 runs does not pin F*(10×) exactly.
    assert!(empirical_f > 0.01 && expected.loss_width() > 1e-4, "{empirical_f} {}", expected.loss_width());
}
