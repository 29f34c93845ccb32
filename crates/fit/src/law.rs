//! Scaling laws in log form: values and exact gradients of `ln L̂`.
//!
//! Joint law (Chinchilla Approach 3, docs/METHODS.md §2 and M1), with X the size and Y the duration:
//!
//! ```text
//! L̂(X, Y) = E + A/X^α + B/Y^β
//! ln L̂    = LSE(a − α·ln X, b − β·ln Y, e),   A = eᵃ, B = eᵇ, E = eᵉ
//! ```
//!
//! Single-variable saturating law (M5, Henighan et al. 2020 form as used by Gao et al. 2024):
//!
//! ```text
//! L̂(X) = E + A·X^−α,   ln L̂ = LSE(a − α·ln X, e)
//! ```
//!
//! With `t_k` the LSE arguments and `p_k = exp(t_k − LSE)` their softmax weights,
//! `∂ ln L̂/∂a = p₁`, `∂/∂α = −p₁·ln X`, `∂/∂b = p₂`, `∂/∂β = −p₂·ln Y`, `∂/∂e = p₃`.
//!
//! ## Reference
//! Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", arXiv:2203.15556,
//! §3.3 and App. D.2 (the LSE form); Besiroglu et al. 2024 (Epoch AI), arXiv:2404.10102.

use serde::{Deserialize, Serialize};

/// A law whose log prediction is an LSE of linear terms in log space.
pub trait Law: Sync {
    /// Number of parameters in log form.
    const N_PARAMS: usize;
    /// Parameter names in log form, in order.
    const NAMES: &'static [&'static str];

    /// `ln L̂` at `(ln x, ln y)` for log-form parameters `theta`.
    fn ln_predict(&self, theta: &[f64], ln_x: f64, ln_y: f64) -> f64;

    /// `ln L̂` and its gradient with respect to `theta` (written to `grad[..N_PARAMS]`).
    fn ln_predict_grad(&self, theta: &[f64], ln_x: f64, ln_y: f64, grad: &mut [f64]) -> f64;
}

/// `L̂(X, Y) = E + A/X^α + B/Y^β`; log-form parameters `(a, b, e, α, β)` (Epoch AI's order).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JointLaw;

/// `L̂(X) = E + A·X^−α`; log-form parameters `(a, e, α)`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SaturatingLaw;

impl Law for JointLaw {
    const N_PARAMS: usize = 5;
    const NAMES: &'static [&'static str] = &["a", "b", "e", "alpha", "beta"];

    #[inline]
    fn ln_predict(&self, theta: &[f64], ln_x: f64, ln_y: f64) -> f64 {
        let t1 = theta[0] - theta[3] * ln_x;
        let t2 = theta[1] - theta[4] * ln_y;
        let m = t1.max(t2).max(theta[2]);
        m + ((t1 - m).exp() + (t2 - m).exp() + (theta[2] - m).exp()).ln()
    }

    #[inline]
    fn ln_predict_grad(&self, theta: &[f64], ln_x: f64, ln_y: f64, grad: &mut [f64]) -> f64 {
        let t1 = theta[0] - theta[3] * ln_x;
        let t2 = theta[1] - theta[4] * ln_y;
        let m = t1.max(t2).max(theta[2]);
        let (w1, w2, w3) = ((t1 - m).exp(), (t2 - m).exp(), (theta[2] - m).exp());
        let s = w1 + w2 + w3;
        let (p1, p2) = (w1 / s, w2 / s);
        grad[0] = p1;
        grad[1] = p2;
        grad[2] = w3 / s;
        grad[3] = -p1 * ln_x;
        grad[4] = -p2 * ln_y;
        m + s.ln()
    }
}

impl Law for SaturatingLaw {
    const N_PARAMS: usize = 3;
    const NAMES: &'static [&'static str] = &["a", "e", "alpha"];

    #[inline]
    fn ln_predict(&self, theta: &[f64], ln_x: f64, _ln_y: f64) -> f64 {
        lse2(theta[0] - theta[2] * ln_x, theta[1])
    }

    #[inline]
    fn ln_predict_grad(&self, theta: &[f64], ln_x: f64, _ln_y: f64, grad: &mut [f64]) -> f64 {
        let t1 = theta[0] - theta[2] * ln_x;
        let value = lse2(t1, theta[1]);
        let p1 = (t1 - value).exp();
        grad[0] = p1;
        grad[1] = 1.0 - p1;
        grad[2] = -p1 * ln_x;
        value
    }
}

/// `ln(eᵘ + eᵛ)` without overflow.
#[inline]
fn lse2(u: f64, v: f64) -> f64 {
    let m = u.max(v);
    m + ((u - m).exp() + (v - m).exp()).ln()
}

/// Joint-law parameters in level form, as papers print them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[allow(non_snake_case)]
pub struct JointParams {
    /// Irreducible loss E.
    pub E: f64,
    /// Size coefficient A (term `A/X^α`).
    pub A: f64,
    /// Duration coefficient B (term `B/Y^β`).
    pub B: f64,
    /// Size exponent α.
    pub alpha: f64,
    /// Duration exponent β.
    pub beta: f64,
}

impl JointParams {
    /// From log form `(a, b, e, α, β)`.
    pub fn from_log(theta: &[f64]) -> Self {
        JointParams { E: theta[2].exp(), A: theta[0].exp(), B: theta[1].exp(), alpha: theta[3], beta: theta[4] }
    }

    /// To log form `(a, b, e, α, β)`.
    pub fn to_log(&self) -> Vec<f64> {
        vec![self.A.ln(), self.B.ln(), self.E.ln(), self.alpha, self.beta]
    }

    /// `L̂(x, y)`.
    pub fn predict(&self, x: f64, y: f64) -> f64 {
        self.E + self.A * x.powf(-self.alpha) + self.B * y.powf(-self.beta)
    }

    /// Values in the order `E, A, B, alpha, beta` (the order of [`JointParams::NAMES`]).
    pub fn values(&self) -> [f64; 5] {
        [self.E, self.A, self.B, self.alpha, self.beta]
    }

    /// Level-form names, in the order of [`JointParams::values`].
    pub const NAMES: [&'static str; 5] = ["E", "A", "B", "alpha", "beta"];

    /// Hoffmann et al.'s unrounded estimates from the TeX source of arXiv:2203.15556, as used by
    /// Epoch AI as the start of their MLE and bootstrap fits (docs/METHODS.md §2):
    /// a = 6.0073404, b = 6.0179186, e = 0.5267228, α = 0.33917084, β = 0.2849083.
    pub fn hoffmann_tex() -> Self {
        Self::from_log(&[6.0073404, 6.0179186, 0.5267228, 0.33917084, 0.2849083])
    }

    /// Hoffmann et al.'s rounded published estimates (arXiv:2203.15556 §3.3, eq. 10):
    /// E = 1.69, A = 406.4, B = 410.7, α = 0.34, β = 0.28.
    pub fn hoffmann_rounded() -> Self {
        JointParams { E: 1.69, A: 406.4, B: 410.7, alpha: 0.34, beta: 0.28 }
    }
}

/// Saturating-law parameters in level form.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[allow(non_snake_case)]
pub struct SaturatingParams {
    /// Irreducible part E.
    pub E: f64,
    /// Coefficient A.
    pub A: f64,
    /// Exponent α.
    pub alpha: f64,
}

impl SaturatingParams {
    /// From log form `(a, e, α)`.
    pub fn from_log(theta: &[f64]) -> Self {
        SaturatingParams { E: theta[1].exp(), A: theta[0].exp(), alpha: theta[2] }
    }

    /// To log form `(a, e, α)`.
    pub fn to_log(&self) -> Vec<f64> {
        vec![self.A.ln(), self.E.ln(), self.alpha]
    }

    /// `L̂(x)`.
    pub fn predict(&self, x: f64) -> f64 {
        self.E + self.A * x.powf(-self.alpha)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn finite_difference<L: Law>(law: &L, theta: &[f64], ln_x: f64, ln_y: f64) -> Vec<f64> {
        (0..L::N_PARAMS)
            .map(|k| {
                let h = 1e-6;
                let (mut up, mut down) = (theta.to_vec(), theta.to_vec());
                up[k] += h;
                down[k] -= h;
                (law.ln_predict(&up, ln_x, ln_y) - law.ln_predict(&down, ln_x, ln_y)) / (2.0 * h)
            })
            .collect()
    }

    #[test]
    fn joint_law_matches_level_form() {
        let p = JointParams::hoffmann_tex();
        let (x, y) = (7.0e10_f64, 1.4e12_f64);
        let ln = JointLaw.ln_predict(&p.to_log(), x.ln(), y.ln());
        assert!((ln.exp() - p.predict(x, y)).abs() < 1e-12);
        // Round trip through log form.
        let q = JointParams::from_log(&p.to_log());
        assert!((q.A - p.A).abs() < 1e-9 && (q.E - p.E).abs() < 1e-12);
    }

    #[test]
    fn saturating_law_matches_level_form() {
        // Gao et al. 2024 L(C) = 0.09 + 0.056·C^−0.084 (arXiv:2406.04093, Figure 1).
        let p = SaturatingParams { E: 0.09, A: 0.056, alpha: 0.084 };
        let x = 1e-7_f64;
        let ln = SaturatingLaw.ln_predict(&p.to_log(), x.ln(), 0.0);
        assert!((ln.exp() - p.predict(x)).abs() < 1e-14);
    }

    proptest! {
        #[test]
        fn joint_gradient_matches_finite_differences(
            a in -2.0..12.0f64, b in -2.0..12.0f64, e in -1.0..1.5f64,
            alpha in 0.0..1.5f64, beta in 0.0..1.5f64,
            ln_x in 0.0..25.0f64, ln_y in 0.0..30.0f64,
        ) {
            let theta = [a, b, e, alpha, beta];
            let mut grad = [0.0; 5];
            let value = JointLaw.ln_predict_grad(&theta, ln_x, ln_y, &mut grad);
            prop_assert!((value - JointLaw.ln_predict(&theta, ln_x, ln_y)).abs() < 1e-12);
            let fd = finite_difference(&JointLaw, &theta, ln_x, ln_y);
            for k in 0..5 {
                prop_assert!((grad[k] - fd[k]).abs() < 1e-6 * (1.0 + fd[k].abs()), "k={} {} vs {}", k, grad[k], fd[k]);
            }
        }

        #[test]
        fn saturating_gradient_matches_finite_differences(
            a in -5.0..12.0f64, e in -3.0..1.5f64, alpha in 0.0..1.0f64, ln_x in -20.0..25.0f64,
        ) {
            let theta = [a, e, alpha];
            let mut grad = [0.0; 3];
            SaturatingLaw.ln_predict_grad(&theta, ln_x, 0.0, &mut grad);
            let fd = finite_difference(&SaturatingLaw, &theta, ln_x, 0.0);
            for k in 0..3 {
                prop_assert!((grad[k] - fd[k]).abs() < 1e-6 * (1.0 + fd[k].abs()));
            }
        }
    }
}
