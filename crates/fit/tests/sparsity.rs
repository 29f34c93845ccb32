//! Gao et al.'s L(n, k) (docs/METHODS.md §1.8 item 4, M6): the fit recovers a known law from
//! noisy points with intervals that cover it, and reproduces the published curve from points on it.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use saescale_fit::sparsity::{fit_sparsity, SparsityFitConfig, SparsityParams};
use saescale_fit::{BootstrapConfig, Points};

/// n = 2¹¹ … 2¹⁹ × k ∈ {32, …, 512}: the grid of Gao et al.'s Figure 1 (right).
fn gao_grid() -> (Vec<f64>, Vec<f64>) {
    let (mut n, mut k) = (Vec::new(), Vec::new());
    for log_n in 11..=19 {
        for log_k in 5..=9 {
            n.push(2f64.powi(log_n));
            k.push(2f64.powi(log_k));
        }
    }
    (n, k)
}

/// Points of `law` on the grid with multiplicative noise of relative size `noise`.
fn points_of(law: &SparsityParams, noise: f64, seed: u64) -> Points {
    let (n, k) = gao_grid();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(0.0, noise).unwrap();
    let loss: Vec<f64> = n.iter().zip(&k).map(|(&n, &k)| law.predict(n, k) * normal.sample(&mut rng).exp()).collect();
    Points::new(&n, &k, &loss).unwrap()
}

#[test]
fn recovers_a_synthetic_law_from_noisy_points_within_its_intervals() {
    // A law unlike the published one, so that the grid of starts has to find it.
    let truth = SparsityParams { alpha: -0.2, beta_k: 0.35, beta_n: -0.05, gamma: -0.03, zeta: -1.8, eta: -0.15 };
    let points = points_of(&truth, 0.005, 7);
    let config = SparsityFitConfig { bootstrap: Some(BootstrapConfig::new(200, 11)), ..SparsityFitConfig::default() };
    let fit = fit_sparsity(&points, &config).unwrap();
    assert!(fit.starts[1] > fit.starts[0] / 2, "most starts converge: {:?}", fit.starts);
    assert_eq!(fit.replicates.len() + fit.failed_replicates, 200);
    assert!(fit.failed_replicates <= 2, "{} replicates failed", fit.failed_replicates);
    let spreads = fit.param_spreads().unwrap();
    for ((name, got), (want, spread)) in SparsityParams::NAMES.iter().zip(fit.params.values()).zip(truth.values().iter().zip(&spreads)) {
        // The 95% interval of each parameter holds the truth, with a margin of one SD for the
        // 1-in-20 miss that six parameters make likely.
        let [lo, hi] = spread.ci95;
        assert!(lo - spread.sd <= *want && *want <= hi + spread.sd, "{name}: {got} in [{lo}, {hi}], truth {want}");
    }
    // What the law is for: the loss at a size beyond the grid, here 4x the largest n.
    for k in [32.0, 128.0, 512.0] {
        let (predicted, spread) = fit.predict(2f64.powi(21), k);
        let want = truth.predict(2f64.powi(21), k);
        assert!((predicted / want - 1.0).abs() < 0.02, "k = {k}: {predicted} vs {want}");
        let [lo, hi] = spread.unwrap().ci95;
        assert!(lo < hi && lo <= want && want <= hi, "k = {k}: {want} outside [{lo}, {hi}] (fit {predicted})");
    }
    // The exponent on n at fixed k gets steeper with k, as γ < 0 says.
    assert!(fit.params.n_exponent(512.0) < fit.params.n_exponent(32.0));
}

#[test]
fn reproduces_gaos_curve_from_points_on_it() {
    let published = SparsityParams::gao_2024_recalled();
    let fit = fit_sparsity(&points_of(&published, 0.0, 0), &SparsityFitConfig::default()).unwrap();
    for (name, (got, want)) in SparsityParams::NAMES.iter().zip(fit.params.values().iter().zip(published.values())) {
        assert!((got - want).abs() < 1e-4, "{name}: {got} vs {want}");
    }
    // Their reading at n = 32768: 0.475 at k = 32 and 0.326 at k = 512.
    assert!((fit.params.predict(32768.0, 32.0) - 0.475).abs() < 1e-3);
    assert!((fit.params.predict(32768.0, 512.0) - 0.326).abs() < 1e-3);
}
