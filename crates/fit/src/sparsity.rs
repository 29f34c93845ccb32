//! Gao et al.'s joint law of loss in latents `n` and sparsity `k` (M6), fitted with bootstrap
//! intervals.
//!
//! ```text
//! L̂(n, k) = exp(α + β_k·ln k + β_n·ln n + γ·ln k·ln n) + exp(ζ + η·ln k)
//! ln L̂    = LSE(α + β_k·ln k + β_n·ln n + γ·ln k·ln n,  ζ + η·ln k)
//! ```
//!
//! The first term is the part more latents can remove (its exponent on `n` at fixed `k` is
//! `β_n + γ·ln k`, steeper for larger `k` when `γ < 0`); the second is the loss left at any
//! `n` for that `k`. The law is for runs trained to convergence at each `(n, k)`.
//!
//! With `p₁ = exp(t₁ − ln L̂)` the softmax weight of the first term and `p₂ = 1 − p₁`:
//! `∂ ln L̂/∂(α, β_k, β_n, γ) = p₁·(1, ln k, ln n, ln k·ln n)` and
//! `∂ ln L̂/∂(ζ, η) = p₂·(1, ln k)`.
//!
//! ## Reference
//! Gao et al. 2024, "Scaling and evaluating sparse autoencoders", arXiv:2406.04093, §3.1.2
//! and Figure 1 (right); docs/METHODS.md §1.8 (item 4) and §3 (M6).

use serde::{Deserialize, Serialize};

use crate::bootstrap::{bootstrap_law, BootstrapConfig};
use crate::error::{Error, Result};
use crate::law::Law;
use crate::objective::Objective;
use crate::points::Points;
use crate::solver::{multistart, SolverSettings};
use crate::stats::Spread;

/// `L̂(n, k)` in log form over `(ln x, ln y) = (ln n, ln k)`; parameters
/// `(α, β_k, β_n, γ, ζ, η)`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SparsityLaw;

impl Law for SparsityLaw {
    const N_PARAMS: usize = 6;
    const NAMES: &'static [&'static str] = &SparsityParams::NAMES;

    #[inline]
    fn ln_predict(&self, theta: &[f64], ln_n: f64, ln_k: f64) -> f64 {
        let (t1, t2) = terms(theta, ln_n, ln_k);
        lse2(t1, t2)
    }

    #[inline]
    fn ln_predict_grad(&self, theta: &[f64], ln_n: f64, ln_k: f64, grad: &mut [f64]) -> f64 {
        let (t1, t2) = terms(theta, ln_n, ln_k);
        let value = lse2(t1, t2);
        let p1 = (t1 - value).exp();
        let p2 = (t2 - value).exp();
        grad[0] = p1;
        grad[1] = p1 * ln_k;
        grad[2] = p1 * ln_n;
        grad[3] = p1 * ln_k * ln_n;
        grad[4] = p2;
        grad[5] = p2 * ln_k;
        value
    }
}

/// The two exponents of the law.
#[inline]
fn terms(theta: &[f64], ln_n: f64, ln_k: f64) -> (f64, f64) {
    let t1 = theta[0] + theta[1] * ln_k + theta[2] * ln_n + theta[3] * ln_k * ln_n;
    let t2 = theta[4] + theta[5] * ln_k;
    (t1, t2)
}

/// `ln(eᵘ + eᵛ)` without overflow.
#[inline]
fn lse2(u: f64, v: f64) -> f64 {
    let m = u.max(v);
    m + ((u - m).exp() + (v - m).exp()).ln()
}

/// Parameters of [`SparsityLaw`]. The law is already linear in them inside its exponentials,
/// so the log form the optimiser sees is these values in [`SparsityParams::NAMES`] order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SparsityParams {
    /// Constant of the reducible term.
    pub alpha: f64,
    /// Its exponent on k.
    pub beta_k: f64,
    /// Its exponent on n.
    pub beta_n: f64,
    /// Its interaction `ln k·ln n`.
    pub gamma: f64,
    /// Constant of the irreducible term.
    pub zeta: f64,
    /// Its exponent on k.
    pub eta: f64,
}

impl SparsityParams {
    /// Names in the optimiser's order.
    pub const NAMES: [&'static str; 6] = ["alpha", "beta_k", "beta_n", "gamma", "zeta", "eta"];

    /// From the optimiser's vector.
    pub fn from_theta(theta: &[f64]) -> Self {
        SparsityParams { alpha: theta[0], beta_k: theta[1], beta_n: theta[2], gamma: theta[3], zeta: theta[4], eta: theta[5] }
    }

    /// To the optimiser's vector.
    pub fn to_theta(&self) -> Vec<f64> {
        self.values().to_vec()
    }

    /// Values in [`SparsityParams::NAMES`] order.
    pub fn values(&self) -> [f64; 6] {
        [self.alpha, self.beta_k, self.beta_n, self.gamma, self.zeta, self.eta]
    }

    /// `L̂(n, k)`.
    pub fn predict(&self, n: f64, k: f64) -> f64 {
        SparsityLaw.ln_predict(&self.to_theta(), n.ln(), k.ln()).exp()
    }

    /// The exponent of the reducible term on `n` at fixed `k`: `β_n + γ·ln k`.
    pub fn n_exponent(&self, k: f64) -> f64 {
        self.beta_n + self.gamma * k.ln()
    }

    /// Gao et al.'s GPT-4 fit as docs/METHODS.md §1.8 records it: α = −0.50, β_k = 0.26,
    /// β_n = −0.017, γ = −0.042, ζ = −1.32, η = −0.085 (k = 32 … 512). Recalled values, not
    /// checked against the paper's text: a reference curve, not an oracle.
    pub fn gao_2024_recalled() -> Self {
        SparsityParams { alpha: -0.50, beta_k: 0.26, beta_n: -0.017, gamma: -0.042, zeta: -1.32, eta: -0.085 }
    }
}

/// Optimiser starts for [`SparsityLaw`]: a grid over the sign patterns seen in practice
/// (reducible term shrinking in n, irreducible part falling slowly in k), 3·3·3·3·4·3 = 972
/// starts in [`SparsityParams::NAMES`] order.
pub fn sparsity_starts() -> Vec<Vec<f64>> {
    let mut starts = Vec::with_capacity(972);
    for alpha in [-2.0, -1.0, 0.0] {
        for beta_k in [0.0, 0.25, 0.5] {
            for beta_n in [-0.3, -0.1, 0.0] {
                for gamma in [-0.1, -0.04, 0.0] {
                    for zeta in [-3.0, -2.0, -1.0, 0.0] {
                        for eta in [-0.2, -0.1, 0.0] {
                            starts.push(vec![alpha, beta_k, beta_n, gamma, zeta, eta]);
                        }
                    }
                }
            }
        }
    }
    starts
}

/// What [`fit_sparsity`] needs besides the points.
#[derive(Debug, Clone, PartialEq)]
pub struct SparsityFitConfig {
    /// The objective on log residuals (Huber δ = 10⁻³ by default, as the other laws).
    pub objective: Objective,
    /// Optimiser starts; [`sparsity_starts`] by default.
    pub starts: Vec<Vec<f64>>,
    /// L-BFGS settings.
    pub solver: SolverSettings,
    /// Bootstrap over points, if wanted.
    pub bootstrap: Option<BootstrapConfig>,
}

impl Default for SparsityFitConfig {
    fn default() -> Self {
        SparsityFitConfig {
            objective: Objective::Huber { delta: crate::objective::CHINCHILLA_DELTA },
            starts: sparsity_starts(),
            solver: SolverSettings::default(),
            bootstrap: None,
        }
    }
}

/// The fitted law and, when bootstrapped, the spread of each parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SparsityFit {
    /// Best converged parameters.
    pub params: SparsityParams,
    /// Objective at `params`.
    pub objective: f64,
    /// Starts tried, converged, and converged within 10⁻⁹ of the best.
    pub starts: [usize; 3],
    /// Points fitted.
    pub n_points: usize,
    /// The parameters of every bootstrap replicate that converged (empty without a bootstrap).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicates: Vec<SparsityParams>,
    /// Replicates that did not converge from either start.
    #[serde(default)]
    pub failed_replicates: usize,
}

impl SparsityFit {
    /// Spread of each parameter over the replicates, in [`SparsityParams::NAMES`] order;
    /// `None` without a bootstrap.
    pub fn param_spreads(&self) -> Option<Vec<Spread>> {
        (0..6).map(|i| Spread::of(self.replicates.iter().map(|p| p.values()[i]))).collect()
    }

    /// `L̂(n, k)` and, when bootstrapped, its spread over the replicates (each replicate's own
    /// prediction, not a propagation of the parameters' intervals).
    pub fn predict(&self, n: f64, k: f64) -> (f64, Option<Spread>) {
        (self.params.predict(n, k), Spread::of(self.replicates.iter().map(|p| p.predict(n, k))))
    }
}

impl std::fmt::Display for SparsityFit {
    /// One line per parameter with its 95% bootstrap interval when there is one, then the
    /// exponent on n at the k values of a typical sweep.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let spreads = self.param_spreads();
        for (i, (name, value)) in SparsityParams::NAMES.iter().zip(self.params.values()).enumerate() {
            write!(f, "  {name:<7} = {value:>9.4}")?;
            if let Some(spread) = spreads.as_ref().map(|s| &s[i]) {
                write!(f, "   95% [{:.4}, {:.4}]", spread.ci95[0], spread.ci95[1])?;
            }
            writeln!(f)?;
        }
        let exponents: Vec<String> = [8.0, 32.0, 128.0].iter().map(|&k| format!("{:.3} at k = {k}", self.params.n_exponent(k))).collect();
        writeln!(f, "  exponent on n (β_n + γ ln k): {}", exponents.join(", "))?;
        writeln!(f, "  {} points; {} of {} starts converged", self.n_points, self.starts[1], self.starts[0])
    }
}

/// Fits `points` (x = latents n, y = k, loss) with [`SparsityLaw`].
///
/// # Errors
/// [`Error::TooFewPoints`] with fewer than 7 points, [`Error::InvalidConfig`] for empty or
/// ill-sized starts, [`Error::NoConvergence`] when no start converges.
pub fn fit_sparsity(points: &Points, config: &SparsityFitConfig) -> Result<SparsityFit> {
    let needed = SparsityLaw::N_PARAMS + config.objective.extra_params() + 1;
    if points.len() < needed {
        return Err(Error::TooFewPoints { points: points.len(), needed, what: "the L(n, k) law" });
    }
    let width = SparsityLaw::N_PARAMS + config.objective.extra_params();
    if config.starts.is_empty() || config.starts.iter().any(|s| s.len() != width) {
        return Err(Error::InvalidConfig { field: "starts", reason: format!("need at least one start of {width} values") });
    }
    config.solver.validate()?;
    let run = multistart(&SparsityLaw, config.objective, points, &config.starts, &config.solver, 1e-9)?;
    let mut fit = SparsityFit {
        params: SparsityParams::from_theta(&run.best.theta),
        objective: run.best.objective,
        starts: [run.starts, run.converged, run.at_best],
        n_points: points.len(),
        replicates: Vec::new(),
        failed_replicates: 0,
    };
    if let Some(boot) = &config.bootstrap {
        let reps = bootstrap_law(&SparsityLaw, config.objective, points, &config.solver, boot, &run.best.theta)?;
        fit.replicates = reps.thetas.iter().map(|theta| SparsityParams::from_theta(theta)).collect();
        fit.failed_replicates = reps.failed;
    }
    Ok(fit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn gradient_matches_finite_differences(
            alpha in -2.0..1.0f64, beta_k in -0.5..0.5f64, beta_n in -0.5..0.2f64, gamma in -0.2..0.1f64,
            zeta in -3.0..0.5f64, eta in -0.5..0.2f64, ln_n in 5.0..18.0f64, ln_k in 1.0..7.0f64,
        ) {
            let theta = [alpha, beta_k, beta_n, gamma, zeta, eta];
            let mut grad = [0.0; 6];
            let value = SparsityLaw.ln_predict_grad(&theta, ln_n, ln_k, &mut grad);
            prop_assert!((value - SparsityLaw.ln_predict(&theta, ln_n, ln_k)).abs() < 1e-12);
            for i in 0..6 {
                let h = 1e-6;
                let (mut up, mut down) = (theta, theta);
                up[i] += h;
                down[i] -= h;
                let fd = (SparsityLaw.ln_predict(&up, ln_n, ln_k) - SparsityLaw.ln_predict(&down, ln_n, ln_k)) / (2.0 * h);
                prop_assert!((grad[i] - fd).abs() < 1e-6 * (1.0 + fd.abs()), "{}: {} vs {}", SparsityParams::NAMES[i], grad[i], fd);
            }
        }
    }

    #[test]
    fn level_form_by_hand() {
        // n = 32768, k = 32 on the recalled GPT-4 values: e^(−0.5 + 0.26·ln 32 − 0.017·ln 32768
        // − 0.042·ln 32·ln 32768) + e^(−1.32 − 0.085·ln 32) = 0.2755 + 0.1990.
        let p = SparsityParams::gao_2024_recalled();
        let (ln_n, ln_k) = (32768f64.ln(), 32f64.ln());
        let first = (p.alpha + p.beta_k * ln_k + p.beta_n * ln_n + p.gamma * ln_k * ln_n).exp();
        let second = (p.zeta + p.eta * ln_k).exp();
        assert!((first - 0.2755).abs() < 5e-4 && (second - 0.1990).abs() < 5e-4, "{first} {second}");
        assert!((p.predict(32768.0, 32.0) - (first + second)).abs() < 1e-12);
        assert!((p.n_exponent(32.0) - (-0.017 - 0.042 * ln_k)).abs() < 1e-15);
    }

    #[test]
    fn too_few_points_is_an_error() {
        let points = Points::new(&[1e3; 6], &[8.0; 6], &[0.3; 6]).unwrap();
        assert!(matches!(fit_sparsity(&points, &SparsityFitConfig::default()), Err(Error::TooFewPoints { needed: 7, .. })));
    }
}
