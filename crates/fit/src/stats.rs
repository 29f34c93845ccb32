//! Small statistics helpers: percentiles, spreads and weighted least-squares lines.

use serde::{Deserialize, Serialize};

/// Spread of a bootstrap distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Sample standard deviation (n − 1 in the denominator).
    pub sd: f64,
    /// 2.5th and 97.5th percentiles.
    pub ci95: [f64; 2],
    /// Median (50th percentile).
    pub median: f64,
}

impl Spread {
    /// The spread of `values` (non-finite values are ignored); `None` if fewer than two remain.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Spread> {
        let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        if v.len() < 2 {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        Some(Spread { sd, ci95: [percentile(&v, 2.5), percentile(&v, 97.5)], median: percentile(&v, 50.0) })
    }
}

/// The `q`-th percentile (0–100) of sorted values, interpolating linearly between order
/// statistics at rank `q/100·(n − 1)` (Hyndman & Fan 1996, definition 7; numpy's default).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let rank = (q / 100.0).clamp(0.0, 1.0) * (n - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let frac = rank - lo as f64;
    sorted[lo] + frac * (sorted[hi] - sorted[lo])
}

/// A straight line `y = slope·x + intercept`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// Slope.
    pub slope: f64,
    /// Intercept.
    pub intercept: f64,
}

/// Weighted least-squares line through `(x, y)`; `None` with fewer than two distinct `x`.
///
/// ```text
/// slope = Σw(x − x̄)(y − ȳ) / Σw(x − x̄)²,   intercept = ȳ − slope·x̄   (weighted means)
/// ```
pub fn fit_line(x: &[f64], y: &[f64], w: &[f64]) -> Option<Line> {
    let sw: f64 = w.iter().sum();
    if sw <= 0.0 {
        return None;
    }
    let xm = x.iter().zip(w).map(|(x, w)| x * w).sum::<f64>() / sw;
    let ym = y.iter().zip(w).map(|(y, w)| y * w).sum::<f64>() / sw;
    let sxx: f64 = x.iter().zip(w).map(|(x, w)| w * (x - xm).powi(2)).sum();
    let sxy: f64 = x.iter().zip(y).zip(w).map(|((x, y), w)| w * (x - xm) * (y - ym)).sum();
    let spread = x.iter().map(|v| (v - xm).abs()).fold(0.0, f64::max);
    if spread <= 1e-12 * (1.0 + xm.abs()) {
        return None;
    }
    let slope = sxy / sxx;
    Some(Line { slope, intercept: ym - slope * xm })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_numpy_linear() {
        // numpy 2.4: np.percentile([1, 2, 3, 4], [2.5, 50, 97.5]) = [1.075, 2.5, 3.925].
        let v = [1.0, 2.0, 3.0, 4.0];
        assert!((percentile(&v, 2.5) - 1.075).abs() < 1e-12);
        assert!((percentile(&v, 50.0) - 2.5).abs() < 1e-12);
        assert!((percentile(&v, 97.5) - 3.925).abs() < 1e-12);
    }

    #[test]
    fn spread_of_small_sample() {
        let s = Spread::of([1.0, 2.0, 3.0, f64::NAN]).unwrap();
        assert!((s.sd - 1.0).abs() < 1e-12 && s.median == 2.0);
        assert!(Spread::of([1.0]).is_none());
    }

    #[test]
    fn line_through_exact_points() {
        let l = fit_line(&[0.0, 1.0, 2.0], &[1.0, 3.0, 5.0], &[1.0, 2.0, 1.0]).unwrap();
        assert!((l.slope - 2.0).abs() < 1e-12 && (l.intercept - 1.0).abs() < 1e-12);
        assert!(fit_line(&[1.0, 1.0], &[1.0, 2.0], &[1.0, 1.0]).is_none());
    }
}
