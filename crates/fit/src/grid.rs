//! Grids of optimiser starts.
//!
//! Chinchilla joint-law grid (docs/METHODS.md §2; Hoffmann et al. 2022 App. D.2, as re-run by
//! Besiroglu et al. 2024): α ∈ {0, 0.5, …, 2}, β ∈ {0, 0.5, …, 2}, e ∈ {−1, −0.5, …, 1},
//! a ∈ {0, 5, …, 25}, b ∈ {0, 5, …, 25} — 5·5·5·6·6 = 4,500 starts in log form (a, b, e, α, β).
//!
//! Saturating-law grid (M5; Porian et al. 2024 `fit_loss_with_saturation`): α ∈ {0, 0.1, 0.2, 0.3},
//! e ∈ {−1, −0.5, …, 1}, a ∈ {0, 5, …, 25} — 120 starts in log form (a, e, α). That grid
//! assumes language-model losses of order one; [`saturating_starts`] adds 18 starts anchored
//! on the data (E a fraction of the smallest loss, the curve through the largest loss at the
//! smallest x), which SAE metrics such as Gao et al.'s normalised MSE (E ≈ 0.09) need.

use crate::points::Points;

/// `count` evenly spaced values `first, first + step, …`.
fn steps(first: f64, step: f64, count: usize) -> impl Iterator<Item = f64> + Clone {
    (0..count).map(move |i| first + step * i as f64)
}

/// The 4,500 Chinchilla starts for the joint law, each `(a, b, e, α, β)`.
pub fn chinchilla_grid() -> Vec<Vec<f64>> {
    let mut grid = Vec::with_capacity(4500);
    for alpha in steps(0.0, 0.5, 5) {
        for beta in steps(0.0, 0.5, 5) {
            for e in steps(-1.0, 0.5, 5) {
                for a in steps(0.0, 5.0, 6) {
                    for b in steps(0.0, 5.0, 6) {
                        grid.push(vec![a, b, e, alpha, beta]);
                    }
                }
            }
        }
    }
    grid
}

/// The 120 starts for the saturating law, each `(a, e, α)`.
pub fn saturating_grid() -> Vec<Vec<f64>> {
    let mut grid = Vec::with_capacity(120);
    for alpha in steps(0.0, 0.1, 4) {
        for e in steps(-1.0, 0.5, 5) {
            for a in steps(0.0, 5.0, 6) {
                grid.push(vec![a, e, alpha]);
            }
        }
    }
    grid
}

/// [`saturating_grid`] plus starts anchored on the data: for α ∈ {0.05, 0.1, 0.2, 0.3, 0.5, 1}
/// and E₀ = f·min y with f ∈ {0.1, 0.5, 0.9}, A₀ = (max y − E₀)·x_min^α.
pub fn saturating_starts(points: &Points) -> Vec<Vec<f64>> {
    let mut starts = saturating_grid();
    let min_ln_x = points.ln_x.iter().copied().fold(f64::INFINITY, f64::min);
    let min_y = points.ln_loss.iter().copied().fold(f64::INFINITY, f64::min).exp();
    let max_y = points.ln_loss.iter().copied().fold(f64::NEG_INFINITY, f64::max).exp();
    if !(min_ln_x.is_finite() && min_y.is_finite() && max_y.is_finite()) {
        return starts;
    }
    for alpha in [0.05, 0.1, 0.2, 0.3, 0.5, 1.0] {
        for fraction in [0.1, 0.5, 0.9] {
            let e0 = fraction * min_y;
            let a0 = (max_y - e0).max(1e-3 * min_y).ln() + alpha * min_ln_x;
            starts.push(vec![a0, e0.ln(), alpha]);
        }
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_sizes_and_corners() {
        let g = chinchilla_grid();
        assert_eq!(g.len(), 4500);
        assert_eq!(g[0], vec![0.0, 0.0, -1.0, 0.0, 0.0]);
        assert_eq!(g[4499], vec![25.0, 25.0, 1.0, 2.0, 2.0]);
        let s = saturating_grid();
        assert_eq!(s.len(), 120);
        assert!((s[119][2] - 0.3).abs() < 1e-12);
        let points = Points::single(&[1.0, 10.0], &[0.5, 0.2]).unwrap();
        let anchored = saturating_starts(&points);
        assert_eq!(anchored.len(), 138);
        // E₀ = 0.1·0.2, A₀ = 0.5 − E₀ at x = 1.
        assert!((anchored[120][1] - 0.02f64.ln()).abs() < 1e-12 && (anchored[120][0] - 0.48f64.ln()).abs() < 1e-12);
    }
}
