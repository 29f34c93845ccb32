//! Property tests: data generated from random laws with 1% noise recover the exponents.
//!
//! Tolerance, and why: with Gaussian noise of standard deviation σ on ln L, the least-squares
//! estimate is asymptotically normal with covariance σ²·(JᵀJ)⁻¹, J the Jacobian of ln L̂ with
//! respect to the log-form parameters at the truth. We require |α̂ − α| ≤ 5·SE(α) (and the same
//! for β), which a correct fitter fails with probability ~6e-7 per exponent under the
//! asymptotic approximation. The summed Huber objective with δ = 10⁻³ ≪ σ behaves like median
//! regression, whose asymptotic variance for Gaussian noise is π/2 times larger, so its bound
//! is 5·√(π/2)·SE.

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use saescale_fit::grid::chinchilla_grid;
use saescale_fit::law::{JointLaw, JointParams, Law, SaturatingParams};
use saescale_fit::objective::Objective;
use saescale_fit::solver::SolverSettings;
use saescale_fit::{fit, fit_saturating, FitConfig, Method, Points, Starts};

const NOISE: f64 = 0.01;

/// A 7×7 grid X = 1e6·4^i, Y = 1e8·4^j; the law is set so that each reducible term equals
/// `ratio_a·E` (resp. `ratio_b·E`) at the grid's geometric centre.
fn law(e: f64, alpha: f64, beta: f64, ratio_a: f64, ratio_b: f64, x0: f64, y0: f64) -> (JointParams, Vec<f64>, Vec<f64>) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..7 {
        for j in 0..7 {
            x.push(x0 * 4f64.powi(i));
            y.push(y0 * 4f64.powi(j));
        }
    }
    let (xc, yc) = (x0 * 4f64.powi(3), y0 * 4f64.powi(3));
    let p = JointParams { E: e, A: ratio_a * e * xc.powf(alpha), B: ratio_b * e * yc.powf(beta), alpha, beta };
    (p, x, y)
}

/// Asymptotic standard errors of (α, β) for least squares with noise σ on ln L.
fn standard_errors(p: &JointParams, x: &[f64], y: &[f64]) -> (f64, f64) {
    let theta = p.to_log();
    let mut jtj = [[0.0; 5]; 5];
    let mut g = [0.0; 5];
    for (xi, yi) in x.iter().zip(y) {
        JointLaw.ln_predict_grad(&theta, xi.ln(), yi.ln(), &mut g);
        for r in 0..5 {
            for c in 0..5 {
                jtj[r][c] += g[r] * g[c];
            }
        }
    }
    let inv = invert(jtj);
    (NOISE * inv[3][3].sqrt(), NOISE * inv[4][4].sqrt())
}

/// Gauss–Jordan inverse with partial pivoting.
fn invert(mut m: [[f64; 5]; 5]) -> [[f64; 5]; 5] {
    let mut inv = [[0.0; 5]; 5];
    for (i, row) in inv.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for col in 0..5 {
        let pivot = (col..5).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs())).unwrap();
        m.swap(col, pivot);
        inv.swap(col, pivot);
        let d = m[col][col];
        for k in 0..5 {
            m[col][k] /= d;
            inv[col][k] /= d;
        }
        for r in 0..5 {
            if r != col {
                let f = m[r][col];
                for k in 0..5 {
                    m[r][k] -= f * m[col][k];
                    inv[r][k] -= f * inv[col][k];
                }
            }
        }
    }
    inv
}

fn noisy(values: impl Iterator<Item = f64>, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(0.0, NOISE).unwrap();
    values.map(|v| v * normal.sample(&mut rng).exp()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn noisy_joint_laws_recover_exponents(
        e in 0.02..3.0f64, alpha in 0.2..0.6f64, beta in 0.2..0.6f64,
        ratio_a in 0.3..3.0f64, ratio_b in 0.3..3.0f64, sae_scale in any::<bool>(), seed in any::<u64>(),
    ) {
        // LM scale (X 1e6.., Y 1e8..) or SAE scale (features 1e3.., steps 1e2..).
        let (x0, y0) = if sae_scale { (1e3, 1e2) } else { (1e6, 1e8) };
        let (truth, x, y) = law(e, alpha, beta, ratio_a, ratio_b, x0, y0);
        let loss = noisy(x.iter().zip(&y).map(|(&x, &y)| truth.predict(x, y)), seed);
        let points = Points::new(&x, &y, &loss).unwrap();
        let (se_alpha, se_beta) = standard_errors(&truth, &x, &y);
        // A tenth of the Chinchilla grid keeps the test fast; the problem is small and smooth.
        let starts: Vec<Vec<f64>> = chinchilla_grid().into_iter().step_by(10).collect();
        for (method, inflation) in [(Method::Lsq, 1.0), (Method::Huber, (std::f64::consts::PI / 2.0).sqrt())] {
            let mut config = FitConfig::new(method, 6.0);
            config.starts = Starts::Given(starts.clone());
            let p = fit(&points, &config).unwrap().params.unwrap();
            prop_assert!((p.alpha - alpha).abs() <= 5.0 * inflation * se_alpha + 1e-6,
                "{method:?}: alpha {} vs {alpha} (SE {se_alpha})", p.alpha);
            prop_assert!((p.beta - beta).abs() <= 5.0 * inflation * se_beta + 1e-6,
                "{method:?}: beta {} vs {beta} (SE {se_beta})", p.beta);
        }
    }

    /// M5: noise-free saturating laws are recovered from Porian et al.'s grid, here in the
    /// range of Gao et al.'s L(C) = 0.09 + 0.056·C^−0.084 (arXiv:2406.04093 Figure 1).
    #[test]
    fn saturating_laws_are_recovered(e in 0.05..0.5f64, a in 0.01..0.5f64, alpha in 0.05..0.5f64) {
        let truth = SaturatingParams { E: e, A: a, alpha };
        let x: Vec<f64> = (0..12).map(|i| 1e-9 * 3f64.powi(i)).collect();
        let y: Vec<f64> = x.iter().map(|&x| truth.predict(x)).collect();
        let points = Points::single(&x, &y).unwrap();
        let (p, _) = fit_saturating(&points, Objective::LeastSquares, &SolverSettings::default(), 1e-12).unwrap();
        prop_assert!((p.alpha / alpha - 1.0).abs() < 1e-5 && (p.E / e - 1.0).abs() < 1e-5 && (p.A / a - 1.0).abs() < 1e-5, "{p:?}");
    }
}
