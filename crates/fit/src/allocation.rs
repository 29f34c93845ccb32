//! Compute-optimal allocation (M2): the frontier `X*(C)`, `Y*(C)`, `L*(C)` with `C = κ·X·Y`.
//!
//! From the joint law, minimising `E + A/X^α + B/Y^β` subject to `κ·X·Y = C` gives the
//! first-order condition `α·A/X^α = β·B/Y^β` and
//!
//! ```text
//! X*(C) = G·(C/κ)^a,   Y*(C) = G⁻¹·(C/κ)^b,   a = β/(α+β),  b = α/(α+β),
//! G     = (α·A/(β·B))^(1/(α+β)),
//! L*(C) = E + K·(C/κ)^(−γ),   K = A·G^(−α) + B·G^β,   γ = α·β/(α+β).
//! ```
//!
//! An IsoFLOP analysis (M3) produces the same shape directly from power laws through the
//! per-budget optima, so both methods hand the same [`Frontier`] to `recommend`.
//!
//! ## Reference
//! Hoffmann et al. 2022, arXiv:2203.15556 App. D.2 (eq. for N_opt, D_opt with C = 6ND);
//! docs/METHODS.md §2 and M2.

use serde::{Deserialize, Serialize};

use crate::law::JointParams;

/// The compute-optimal frontier `X*(C) = G·(C/κ)^a`, `Y*(C) = G⁻¹·(C/κ)^b`,
/// `L*(C) = E + K·(C/κ)^(−γ)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[allow(non_snake_case)]
pub struct Frontier {
    /// Exponent of the optimal size, `X* ∝ C^a`.
    pub a: f64,
    /// Exponent of the optimal duration, `Y* ∝ C^b` (`a + b = 1`).
    pub b: f64,
    /// Prefactor `G` of `X*(C) = G·(C/κ)^a`.
    pub G: f64,
    /// Irreducible loss on the frontier.
    pub E: f64,
    /// Prefactor of the reducible loss on the frontier.
    pub K: f64,
    /// Exponent of the reducible loss on the frontier, `L* − E ∝ C^(−γ)`.
    pub gamma: f64,
}

impl Frontier {
    /// The frontier implied by a joint law.
    pub fn from_joint(p: &JointParams) -> Self {
        let sum = p.alpha + p.beta;
        let g = (p.alpha * p.A / (p.beta * p.B)).powf(1.0 / sum);
        Frontier {
            a: p.beta / sum,
            b: p.alpha / sum,
            G: g,
            E: p.E,
            K: p.A * g.powf(-p.alpha) + p.B * g.powf(p.beta),
            gamma: p.alpha * p.beta / sum,
        }
    }

    /// Optimal size `X*(C)`.
    pub fn x_opt(&self, compute: f64, kappa: f64) -> f64 {
        self.G * (compute / kappa).powf(self.a)
    }

    /// Optimal duration `Y*(C) = C/(κ·X*(C))` (equal to `G⁻¹·(C/κ)^b`).
    pub fn y_opt(&self, compute: f64, kappa: f64) -> f64 {
        compute / (kappa * self.x_opt(compute, kappa))
    }

    /// Loss on the frontier `L*(C)`.
    pub fn loss_opt(&self, compute: f64, kappa: f64) -> f64 {
        self.E + self.K * (compute / kappa).powf(-self.gamma)
    }

    /// The compute at which `x` is the optimal size: `C = κ·(x/G)^(1/a)`.
    pub fn compute_for_x(&self, x: f64, kappa: f64) -> f64 {
        kappa * (x / self.G).powf(1.0 / self.a)
    }

    /// The compute at which the frontier reaches `loss` (`None` at or below `E`):
    /// `C = κ·((L − E)/K)^(−1/γ)`.
    pub fn compute_for_loss(&self, loss: f64, kappa: f64) -> Option<f64> {
        (loss > self.E).then(|| kappa * ((loss - self.E) / self.K).powf(-1.0 / self.gamma))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f64, b: f64) -> f64 {
        (a / b - 1.0).abs()
    }

    /// T4 (docs/METHODS.md §5): Epoch AI's MLE parameters (Besiroglu et al. 2024, arXiv:2404.10102
    /// Table 1: A 482.01, B 2085.43, E 1.82, α 0.3478, β 0.3658), C = 6ND.
    #[test]
    fn t4_epoch_frontier() {
        let p = JointParams { E: 1.82, A: 482.01, B: 2085.43, alpha: 0.3478, beta: 0.3658 };
        let f = Frontier::from_joint(&p);
        assert!((f.a - 0.5126).abs() < 5e-5 && (f.b - 0.4874).abs() < 5e-5);
        assert!(rel(f.G, 0.1196) < 5e-3, "G {}", f.G);
        let n = f.x_opt(5.88e23, 6.0);
        let d = f.y_opt(5.88e23, 6.0);
        assert!(rel(n, 7.30e10) < 5e-3 && rel(d, 1.342e12) < 5e-3 && rel(d / n, 18.4) < 5e-3, "{n} {d}");
        let n21 = f.x_opt(1e21, 6.0);
        assert!(rel(n21, 2.78e9) < 5e-3 && rel(f.y_opt(1e21, 6.0) / n21, 21.6) < 5e-3);
        let n24 = f.x_opt(1e24, 6.0);
        assert!(rel(n24, 9.59e10) < 5e-3 && rel(f.y_opt(1e24, 6.0) / n24, 18.1) < 5e-3);
    }

    /// T5 (docs/METHODS.md §5): Hoffmann et al.'s TeX and rounded values.
    #[test]
    fn t5_hoffmann_frontier() {
        let f = Frontier::from_joint(&JointParams::hoffmann_tex());
        let n = f.x_opt(5.88e23, 6.0);
        assert!((f.a - 0.4565).abs() < 5e-5 && rel(f.G, 1.300) < 5e-3);
        assert!(rel(n, 4.07e10) < 5e-3 && rel(f.y_opt(5.88e23, 6.0) / n, 59.0) < 5e-3);
        let f = Frontier::from_joint(&JointParams::hoffmann_rounded());
        let n = f.x_opt(5.88e23, 6.0);
        assert!((f.a - 0.4516).abs() < 5e-5 && rel(f.G, 1.345) < 5e-3);
        assert!(rel(n, 3.25e10) < 5e-3 && rel(f.y_opt(5.88e23, 6.0) / n, 92.8) < 5e-3);
    }

    #[test]
    fn frontier_is_the_constrained_minimum() {
        let p = JointParams::hoffmann_tex();
        let f = Frontier::from_joint(&p);
        let c = 1e22;
        let (x, y) = (f.x_opt(c, 6.0), f.y_opt(c, 6.0));
        assert!(rel(p.predict(x, y), f.loss_opt(c, 6.0)) < 1e-12);
        for factor in [0.9, 1.1] {
            assert!(p.predict(x * factor, y / factor) > p.predict(x, y));
        }
        assert!(rel(f.compute_for_x(x, 6.0), c) < 1e-10);
        assert!(rel(f.compute_for_loss(f.loss_opt(c, 6.0), 6.0).unwrap(), c) < 1e-8);
    }
}
