//! Laws to simulate a sweep design on: `L = E + A/F^α + B/S^β` (F features, S steps, compute
//! C = κ·F·S) shaped like SAE sweeps, built from where their optimum lies.
//!
//! [`sae_like_law`] builds the one law with given exponents whose compute-optimal feature count
//! at compute C₀ is F₀, scaled so that L*(C₀) = 1 (the simulated noise is relative, so the
//! scale does not matter) with a fraction `irreducible` of it irreducible. At the optimum of a
//! budget the two reducible terms stand in the ratio α·A/F^α = β·B/S^β, which fixes A and B.
//!
//! [`LawFamily`] draws such laws around a prior: exponents and irreducible fraction uniform in
//! ranges, the optimum's exponent a = β/(α+β) near the prior's and its feature count at the
//! anchor off the prior's by up to a factor (a prior is a guess). The ranges are documented in
//! docs/METHODS.md and are what the design benchmark (`benches/sweep_designs.rs`) draws.

use rand::Rng;
use saescale_fit::law::JointParams;

/// The law whose optimum at compute `compute` is `features`, with size exponent `alpha`, an
/// optimum growing as F*(C) ∝ C^`exponent` (so β = α·a/(1 − a)), and `irreducible` of
/// L*(`compute`) = 1 irreducible. `kappa` is compute per feature-step (12·d·batch).
pub fn sae_like_law(compute: f64, features: f64, exponent: f64, alpha: f64, irreducible: f64, kappa: f64) -> JointParams {
    let beta = alpha * exponent / (1.0 - exponent);
    let steps = compute / (kappa * features);
    let reducible = 1.0 - irreducible;
    JointParams {
        E: irreducible,
        A: reducible * beta / (alpha + beta) * features.powf(alpha),
        B: reducible * alpha / (alpha + beta) * steps.powf(beta),
        alpha,
        beta,
    }
}

/// Random SAE-like laws around a prior optimum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LawFamily {
    /// Range of the size exponent α.
    pub alpha: [f64; 2],
    /// Largest difference of the optimum's exponent a from the prior's.
    pub exponent_jitter: f64,
    /// Largest factor between the true F*(C₀) and the prior's.
    pub anchor_error: f64,
    /// Range of the irreducible fraction of L*(C₀).
    pub irreducible: [f64; 2],
}

impl Default for LawFamily {
    /// α in [0.2, 0.6], a within 0.05 of the prior's, F*(C₀) within a factor 2 of the prior's,
    /// 30–70% of the loss irreducible.
    fn default() -> Self {
        LawFamily { alpha: [0.2, 0.6], exponent_jitter: 0.05, anchor_error: 2.0, irreducible: [0.3, 0.7] }
    }
}

impl LawFamily {
    /// A law whose optimum is near F*(`compute`) = `features` growing as C^`exponent`.
    pub fn draw(&self, compute: f64, features: f64, exponent: f64, kappa: f64, rng: &mut impl Rng) -> JointParams {
        let uniform = |rng: &mut dyn rand::RngCore, [lo, hi]: [f64; 2]| lo + (hi - lo) * rng.random::<f64>();
        let alpha = uniform(rng, self.alpha);
        let exponent = (exponent + uniform(rng, [-self.exponent_jitter, self.exponent_jitter])).clamp(0.05, 0.95);
        let ln_error = self.anchor_error.ln();
        let features = features * uniform(rng, [-ln_error, ln_error]).exp();
        let irreducible = uniform(rng, self.irreducible);
        sae_like_law(compute, features, exponent, alpha, irreducible, kappa)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use saescale_fit::Frontier;

    #[test]
    fn the_law_has_its_optimum_where_it_was_asked_for() {
        let kappa = 12.0 * 64.0 * 256.0;
        let law = sae_like_law(1e11, 300.0, 0.55, 0.4, 0.5, kappa);
        let frontier = Frontier::from_joint(&law);
        assert!((frontier.x_opt(1e11, kappa) / 300.0 - 1.0).abs() < 1e-9);
        assert!((frontier.x_opt(1e13, kappa) / (300.0 * 100f64.powf(0.55)) - 1.0).abs() < 1e-9);
        assert!((frontier.loss_opt(1e11, kappa) - 1.0).abs() < 1e-9);
        assert_eq!(law.E, 0.5);
    }

    #[test]
    fn drawn_laws_stay_in_the_family() {
        let kappa = 12.0 * 64.0 * 256.0;
        let family = LawFamily::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..50 {
            let law = family.draw(1e11, 256.0, 0.5, kappa, &mut rng);
            let frontier = Frontier::from_joint(&law);
            let ratio = frontier.x_opt(1e11, kappa) / 256.0;
            assert!((0.5 - 1e-9..=2.0 + 1e-9).contains(&ratio) && (0.45..=0.55).contains(&frontier.a), "{ratio} {}", frontier.a);
            assert!((0.2..=0.6).contains(&law.alpha) && (0.3..=0.7).contains(&law.E));
        }
    }
}
