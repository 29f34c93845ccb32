//! Objectives on log-space residuals `rᵢ = ln L̂ᵢ − ln Lᵢ`, always summed over points.
//!
//! ```text
//! Huber:       f(θ)    = Σ wᵢ·H_δ(rᵢ),   H_δ(r) = r²/2 if |r| ≤ δ, else δ·(|r| − δ/2)
//! Likelihood:  f(θ, s) = Σ wᵢ·[H_δ(rᵢ/σ) + ln σ + ln Z_δ],   σ = eˢ,
//!              Z_δ = √(2π)·erf(δ/√2) + 2·e^(−δ²/2)/δ   (normaliser of the density e^(−H_δ(z)))
//! Least sq.:   f(θ)    = Σ wᵢ·rᵢ²/2
//! ```
//!
//! Gradients use `ψ_δ(r) = H_δ'(r) = clamp(r, −δ, δ)` and the law's `∂ ln L̂/∂θ`; for the
//! likelihood `∂/∂s = Σ wᵢ·(1 − ψ_δ(zᵢ)·zᵢ)` with `zᵢ = rᵢ/σ`.
//!
//! Summing (never averaging) is one of the two fixes of Besiroglu et al. 2024: Hoffmann et al.
//! averaged, so the objective's scale made L-BFGS-B stop early (docs/METHODS.md §2.1, pitfall 1).
//!
//! ## Reference
//! Huber (1964), Ann. Math. Statist. 35(1); Hoffmann et al. 2022, arXiv:2203.15556 App. D.2
//! (δ = 10⁻³); Besiroglu et al. 2024, arXiv:2404.10102 §2 and App. (the Huber likelihood).
//! `erf` is the `libm` crate's (a port of musl's, itself from FreeBSD's msun `s_erf.c`).

use serde::{Deserialize, Serialize};

use crate::law::Law;
use crate::points::Points;

/// Chinchilla's Huber threshold δ = 10⁻³ (Hoffmann et al. 2022, App. D.2).
pub const CHINCHILLA_DELTA: f64 = 1e-3;

/// What is minimised.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Objective {
    /// Summed Huber loss of the log residuals (Chinchilla Approach 3).
    Huber {
        /// Threshold between the quadratic and linear branches.
        delta: f64,
    },
    /// Negative log-likelihood of a Huber-shaped density with free scale σ (Epoch AI's MLE);
    /// adds one parameter, `ln σ`, after the law's parameters.
    HuberLikelihood {
        /// Threshold of the standardised residual `r/σ`.
        delta: f64,
    },
    /// Half the summed squared log residuals.
    LeastSquares,
}

impl Objective {
    /// Extra parameters this objective adds to the law's (the likelihood's `ln σ`).
    pub fn extra_params(&self) -> usize {
        match self {
            Objective::HuberLikelihood { .. } => 1,
            _ => 0,
        }
    }

    /// Objective value at `theta` (law parameters, then any extra ones).
    pub fn value<L: Law>(&self, law: &L, points: &Points, theta: &[f64]) -> f64 {
        let residual = |i: usize| law.ln_predict(theta, points.ln_x[i], points.ln_y[i]) - points.ln_loss[i];
        match *self {
            Objective::Huber { delta } => (0..points.len()).map(|i| points.weight[i] * huber(residual(i), delta)).sum(),
            Objective::LeastSquares => (0..points.len()).map(|i| points.weight[i] * 0.5 * residual(i).powi(2)).sum(),
            Objective::HuberLikelihood { delta } => {
                let s = theta[L::N_PARAMS];
                let inv_sigma = (-s).exp();
                let per_point = s + huber_normaliser(delta).ln();
                (0..points.len())
                    .map(|i| points.weight[i] * (huber(residual(i) * inv_sigma, delta) + per_point))
                    .sum()
            }
        }
    }

    /// Objective value at `theta`, writing its gradient to `grad` (same length as `theta`).
    pub fn value_grad<L: Law>(&self, law: &L, points: &Points, theta: &[f64], grad: &mut [f64]) -> f64 {
        let n = L::N_PARAMS;
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut dpred = [0.0; 8];
        let mut total = 0.0;
        match *self {
            Objective::Huber { delta } => {
                for i in 0..points.len() {
                    let r = law.ln_predict_grad(theta, points.ln_x[i], points.ln_y[i], &mut dpred) - points.ln_loss[i];
                    let w = points.weight[i];
                    total += w * huber(r, delta);
                    let coef = w * r.clamp(-delta, delta);
                    for k in 0..n {
                        grad[k] += coef * dpred[k];
                    }
                }
            }
            Objective::LeastSquares => {
                for i in 0..points.len() {
                    let r = law.ln_predict_grad(theta, points.ln_x[i], points.ln_y[i], &mut dpred) - points.ln_loss[i];
                    let w = points.weight[i];
                    total += w * 0.5 * r * r;
                    for k in 0..n {
                        grad[k] += w * r * dpred[k];
                    }
                }
            }
            Objective::HuberLikelihood { delta } => {
                let s = theta[n];
                let inv_sigma = (-s).exp();
                let per_point = s + huber_normaliser(delta).ln();
                for i in 0..points.len() {
                    let r = law.ln_predict_grad(theta, points.ln_x[i], points.ln_y[i], &mut dpred) - points.ln_loss[i];
                    let w = points.weight[i];
                    let z = r * inv_sigma;
                    let psi = z.clamp(-delta, delta);
                    total += w * (huber(z, delta) + per_point);
                    let coef = w * psi * inv_sigma;
                    for k in 0..n {
                        grad[k] += coef * dpred[k];
                    }
                    grad[n] += w * (1.0 - psi * z);
                }
            }
        }
        total
    }
}

/// Huber loss `H_δ(r)`.
#[inline]
pub fn huber(r: f64, delta: f64) -> f64 {
    let a = r.abs();
    if a <= delta {
        0.5 * r * r
    } else {
        delta * (a - 0.5 * delta)
    }
}

/// `Z_δ = ∫ e^(−H_δ(z)) dz = √(2π)·erf(δ/√2) + 2·e^(−δ²/2)/δ`.
pub fn huber_normaliser(delta: f64) -> f64 {
    (2.0 * std::f64::consts::PI).sqrt() * libm::erf(delta / std::f64::consts::SQRT_2) + 2.0 * (-0.5 * delta * delta).exp() / delta
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::law::{JointLaw, SaturatingLaw};
    use proptest::prelude::*;

    #[test]
    fn huber_branches() {
        assert_eq!(huber(0.5e-3, 1e-3), 0.5 * 0.25e-6);
        assert!((huber(-3e-3, 1e-3) - 1e-3 * (3e-3 - 0.5e-3)).abs() < 1e-18);
        // Continuous at the threshold.
        assert!((huber(1e-3, 1e-3) - 0.5e-6).abs() < 1e-20);
    }

    #[test]
    fn erf_matches_reference_values() {
        // mpmath 1.3.0 `erf` at 30 significant digits (`mp.dps = 30`), rounded to the nearest
        // f64 and written as its shortest decimal; for x ≤ 2 they agree with Abramowitz &
        // Stegun (1964) Table 7.1. The last x is δ/√2 for Chinchilla's δ = 10⁻³, the argument
        // the likelihood's normaliser uses.
        let table = [
            (0.0, 0.0),
            (0.1, 0.112_462_916_018_284_9),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (3.0, 0.999_977_909_503_001_4),
            (5.0, 0.999_999_999_998_462_6),
            (0.000_707_106_781_186_547_6, 0.000_797_884_427_822_125_3),
        ];
        for (x, want) in table {
            let got = libm::erf(x);
            assert!((got - want).abs() <= 1e-15 * want.max(1e-300) + 1e-300, "erf({x}) = {got}, want {want}");
            assert_eq!(libm::erf(-x), -got, "erf is odd");
        }
    }

    #[test]
    fn normaliser_integrates_density() {
        // Midpoint rule over [−60, 60] for δ = 1 (tails beyond decay as e^(−59)).
        let delta = 1.0;
        let h = 1e-4;
        let integral: f64 = (0..1_200_000).map(|k| (-huber(-60.0 + (k as f64 + 0.5) * h, delta)).exp() * h).sum();
        assert!((integral / huber_normaliser(delta) - 1.0).abs() < 1e-8);
    }

    fn toy_points() -> Points {
        let x = [1e6, 3e6, 1e7, 3e7, 1e8, 3e8, 1e9];
        let y = [5e9, 1e9, 2e10, 4e9, 8e10, 1e10, 3e11];
        let loss = [3.1, 3.3, 2.7, 2.9, 2.4, 2.6, 2.2];
        let mut p = Points::new(&x, &y, &loss).unwrap();
        p.weight = vec![1.0, 2.0, 1.0, 3.0, 1.0, 1.0, 2.0];
        p
    }

    fn check_gradient<L: Law>(law: &L, objective: Objective, points: &Points, theta: &[f64]) {
        let mut grad = vec![0.0; theta.len()];
        let value = objective.value_grad(law, points, theta, &mut grad);
        assert!((value - objective.value(law, points, theta)).abs() <= 1e-12 * value.abs().max(1e-12));
        let scale = grad.iter().map(|g| g.abs()).fold(1e-8, f64::max);
        for k in 0..theta.len() {
            let central = |h: f64| {
                let (mut up, mut down) = (theta.to_vec(), theta.to_vec());
                up[k] += h;
                down[k] -= h;
                (objective.value(law, points, &up) - objective.value(law, points, &down)) / (2.0 * h)
            };
            let h = 1e-7 * (1.0 + theta[k].abs());
            // A residual within h of the Huber kink (|r| = δ, where the second derivative jumps)
            // makes the central difference O(h) wrong; a 100× smaller step then agrees.
            let fd = [central(h), central(h / 100.0)];
            assert!(fd.iter().any(|f| (grad[k] - f).abs() < 1e-5 * scale), "{objective:?} k={k}: {} vs {fd:?}", grad[k]);
        }
    }

    proptest! {
        #[test]
        fn objective_gradients_match_finite_differences(
            a in 2.0..10.0f64, b in 2.0..10.0f64, e in 0.3..1.2f64,
            alpha in 0.1..0.8f64, beta in 0.1..0.8f64, s in -8.0..0.0f64, delta in 1e-3..0.3f64,
        ) {
            let points = toy_points();
            let theta = [a, b, e, alpha, beta];
            check_gradient(&JointLaw, Objective::Huber { delta }, &points, &theta);
            check_gradient(&JointLaw, Objective::LeastSquares, &points, &theta);
            check_gradient(&JointLaw, Objective::HuberLikelihood { delta }, &points, &[a, b, e, alpha, beta, s]);
            check_gradient(&SaturatingLaw, Objective::Huber { delta }, &points, &[a, e, alpha]);
        }
    }
}
