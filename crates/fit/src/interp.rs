//! Minimum of a one-dimensional profile (loss against ln X or ln lr): a least-squares parabola
//! (Chinchilla Approach 2) or an Akima spline through the points (Porian et al. 2024).
//!
//! Parabola: minimise `Σ wᵢ (yᵢ − c₀ − c₁u − c₂u²)²` with `u = x − x̄`; the vertex
//! `x̄ − c₁/(2c₂)` is the minimiser when `c₂ > 0`.
//!
//! Akima spline: slopes `mᵢ = (yᵢ₊₁ − yᵢ)/(xᵢ₊₁ − xᵢ)`, extended by `m₋₁ = 2m₀ − m₁`,
//! `m₋₂ = 2m₋₁ − m₀` (and symmetrically at the right end); node derivatives
//!
//! ```text
//! tᵢ = (|mᵢ₊₁ − mᵢ|·mᵢ₋₁ + |mᵢ₋₁ − mᵢ₋₂|·mᵢ) / (|mᵢ₊₁ − mᵢ| + |mᵢ₋₁ − mᵢ₋₂|)
//! ```
//!
//! (`(mᵢ₋₁ + mᵢ)/2` when both weights vanish), cubic Hermite pieces between nodes. Its minimum
//! is found exactly: at the nodes and at the real roots of each piece's quadratic derivative.
//!
//! [`Interpolant`] wraps either curve with what a profile needs besides its minimum: its value
//! anywhere, its exact extremes over the sampled range, and evenly spaced samples for drawing.
//! [`merge_nearby`] averages points whose `x` nearly coincide, which an interpolating spline
//! needs on digitised data (see [`crate::isoflop`]).
//!
//! A minimiser at the edge of the sampled range is flagged as not interior: the true optimum
//! may lie outside it (docs/METHODS.md M3, pitfall 7).
//!
//! ## Reference
//! Akima (1970), J. ACM 17(4), "A new method of interpolation and smooth curve fitting based
//! on local procedures", eqs. (1)–(4) and the end-point extension; Hoffmann et al. 2022 §3.2.

use serde::{Deserialize, Serialize};

/// How the minimum of a profile is located.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    /// Least-squares parabola (Chinchilla Approach 2); smooths noise, biased on wide grids.
    Parabola,
    /// Akima spline through the (duplicate-averaged) points (Porian et al. 2024); the default,
    /// as docs/METHODS.md pitfall 7 advises.
    #[default]
    Akima,
}

/// Where a profile is lowest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Minimum {
    /// Minimiser.
    pub x: f64,
    /// Interpolated value at the minimiser.
    pub y: f64,
    /// Whether the minimiser lies strictly inside the sampled range.
    pub interior: bool,
}

/// The minimum of the profile `(x, y)` with the chosen interpolation; `None` when there are
/// fewer than three distinct `x` or (parabola) the fitted curvature is not positive.
pub fn minimum(interpolation: Interpolation, x: &[f64], y: &[f64]) -> Option<Minimum> {
    match interpolation {
        Interpolation::Parabola => parabola_minimum(x, y),
        Interpolation::Akima => Akima::new(x, y).map(|a| a.minimum()),
    }
}

/// Sorts by `x` and averages `y` over equal `x` (within 1e-12 relative).
fn distinct_sorted(x: &[f64], y: &[f64]) -> (Vec<f64>, Vec<f64>) {
    merge_nearby(x, y, 0.0)
}

/// Sorts `(x, y)` by `x` and merges runs of nearby `x` into one point: a point joins the
/// current cluster when its `x` is less than `gap` above the cluster's mean `x` (or equal to
/// it within 1e-12 relative, so that `gap = 0` merges exact duplicates only). A cluster is
/// the mean of its `x` and the mean of its `y`.
///
/// An IsoFLOP profile calls this on `ln X` with `gap = ln 1.05`, so that sizes within 5% of
/// each other are one node of the spline ([`crate::IsoFlopConfig::same_size`]).
pub fn merge_nearby(x: &[f64], y: &[f64], gap: f64) -> (Vec<f64>, Vec<f64>) {
    let mut order: Vec<usize> = (0..x.len().min(y.len())).collect();
    order.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
    // (Σ x, Σ y, count) per cluster.
    let mut clusters: Vec<(f64, f64, f64)> = Vec::new();
    for i in order {
        match clusters.last_mut() {
            Some(c) if {
                let mean = c.0 / c.2;
                x[i] - mean < gap || (x[i] - mean).abs() <= 1e-12 * (1.0 + mean.abs())
            } =>
            {
                c.0 += x[i];
                c.1 += y[i];
                c.2 += 1.0;
            }
            _ => clusters.push((x[i], y[i], 1.0)),
        }
    }
    clusters.iter().map(|c| (c.0 / c.2, c.1 / c.2)).unzip()
}

/// Least-squares parabola through all points, and its vertex.
pub fn parabola_minimum(x: &[f64], y: &[f64]) -> Option<Minimum> {
    Parabola::fit(x, y)?.minimum()
}

/// A least-squares parabola `c₀ + c₁u + c₂u²` in `u = x − x̄` (Chinchilla Approach 2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Parabola {
    /// x̄, the mean of the fitted `x`.
    center: f64,
    /// `(c₀, c₁, c₂)`.
    c: [f64; 3],
    /// Smallest and largest fitted `x`.
    range: (f64, f64),
}

impl Parabola {
    /// The parabola minimising `Σ (yᵢ − c₀ − c₁uᵢ − c₂uᵢ²)²` over every point (duplicates
    /// count as often as they occur); `None` with fewer than three distinct `x`.
    pub fn fit(x: &[f64], y: &[f64]) -> Option<Parabola> {
        let (distinct, _) = distinct_sorted(x, y);
        if distinct.len() < 3 {
            return None;
        }
        let n = x.len() as f64;
        let xm = x.iter().sum::<f64>() / n;
        // Normal equations for (c0, c1, c2) in u = x − x̄.
        let mut s = [0.0; 5];
        let mut t = [0.0; 3];
        for (&xi, &yi) in x.iter().zip(y) {
            let u = xi - xm;
            let mut p = 1.0;
            for (k, sk) in s.iter_mut().enumerate() {
                *sk += p;
                if k < 3 {
                    t[k] += p * yi;
                }
                p *= u;
            }
        }
        let m = [[s[0], s[1], s[2]], [s[1], s[2], s[3]], [s[2], s[3], s[4]]];
        let c = solve3(m, t)?;
        Some(Parabola { center: xm, c, range: (distinct[0], distinct[distinct.len() - 1]) })
    }

    /// The parabola at `x`.
    pub fn eval(&self, x: f64) -> f64 {
        let u = x - self.center;
        self.c[0] + u * (self.c[1] + u * self.c[2])
    }

    /// Its vertex when it opens upwards (`c₂ > 0`), interior when strictly inside the fitted
    /// range; `None` otherwise.
    pub fn minimum(&self) -> Option<Minimum> {
        let [c0, c1, c2] = self.c;
        if c2.is_nan() || c2 <= 0.0 {
            return None;
        }
        let u = -c1 / (2.0 * c2);
        let vertex = self.center + u;
        let interior = vertex > self.range.0 && vertex < self.range.1;
        Some(Minimum { x: vertex, y: c0 + c1 * u + c2 * u * u, interior })
    }

    /// Smallest and largest fitted `x`.
    pub fn range(&self) -> (f64, f64) {
        self.range
    }

    /// Lowest and highest value over [`Parabola::range`]: at the ends and at the vertex if it
    /// lies inside.
    pub fn extremes(&self) -> (f64, f64) {
        let (lo, hi) = self.range;
        let mut values = vec![self.eval(lo), self.eval(hi)];
        let [_, c1, c2] = self.c;
        if c2 != 0.0 {
            let vertex = self.center - c1 / (2.0 * c2);
            if vertex > lo && vertex < hi {
                values.push(self.eval(vertex));
            }
        }
        values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)))
    }
}

/// Solves a 3×3 system by Gaussian elimination with partial pivoting.
fn solve3(mut m: [[f64; 3]; 3], mut b: [f64; 3]) -> Option<[f64; 3]> {
    for col in 0..3 {
        let pivot = (col..3).max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))?;
        if m[pivot][col].abs() < 1e-300 {
            return None;
        }
        m.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..3 {
            let f = m[row][col] / m[col][col];
            let pivot_row = m[col];
            for (v, p) in m[row].iter_mut().zip(pivot_row).skip(col) {
                *v -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; 3];
    for row in (0..3).rev() {
        let rest: f64 = (row + 1..3).map(|k| m[row][k] * x[k]).sum();
        x[row] = (b[row] - rest) / m[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Real roots of `a·s² + b·s + c` (a linear equation when `a = 0`).
fn quadratic_roots(a: f64, b: f64, c: f64) -> Vec<f64> {
    let disc = b * b - 4.0 * a * c;
    if disc < 0.0 {
        return vec![];
    }
    let q = -0.5 * (b + b.signum() * disc.sqrt());
    let mut roots = Vec::with_capacity(2);
    if a != 0.0 {
        roots.push(q / a);
    }
    if q != 0.0 {
        roots.push(c / q);
    }
    roots
}

/// An Akima spline through distinct, sorted nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct Akima {
    x: Vec<f64>,
    y: Vec<f64>,
    /// Node derivatives `tᵢ`.
    t: Vec<f64>,
}

impl Akima {
    /// The spline through `(x, y)` (sorted, duplicates averaged); `None` with fewer than three
    /// distinct `x`.
    pub fn new(x: &[f64], y: &[f64]) -> Option<Akima> {
        let (x, y) = distinct_sorted(x, y);
        let n = x.len();
        if n < 3 {
            return None;
        }
        // Extended slopes: index k of `m` holds m_{k−2}.
        let mut m = vec![0.0; n + 3];
        for i in 0..n - 1 {
            m[i + 2] = (y[i + 1] - y[i]) / (x[i + 1] - x[i]);
        }
        m[1] = 2.0 * m[2] - m[3];
        m[0] = 2.0 * m[1] - m[2];
        m[n + 1] = 2.0 * m[n] - m[n - 1];
        m[n + 2] = 2.0 * m[n + 1] - m[n];
        let t = (0..n)
            .map(|i| {
                // m_{i−2}, m_{i−1}, m_i, m_{i+1} are m[i], m[i+1], m[i+2], m[i+3].
                let (w1, w2) = ((m[i + 3] - m[i + 2]).abs(), (m[i + 1] - m[i]).abs());
                if w1 + w2 > 1e-300 {
                    (w1 * m[i + 1] + w2 * m[i + 2]) / (w1 + w2)
                } else {
                    0.5 * (m[i + 1] + m[i + 2])
                }
            })
            .collect();
        Some(Akima { x, y, t })
    }

    /// Polynomial coefficients `(y₀, t₀, c₂, c₃)` of piece `i` in `s = x − xᵢ`.
    fn piece(&self, i: usize) -> (f64, f64, f64, f64) {
        let h = self.x[i + 1] - self.x[i];
        let slope = (self.y[i + 1] - self.y[i]) / h;
        let (t0, t1) = (self.t[i], self.t[i + 1]);
        (self.y[i], t0, (3.0 * slope - 2.0 * t0 - t1) / h, (t0 + t1 - 2.0 * slope) / (h * h))
    }

    /// The spline at `x` (cubic extrapolation of the end pieces outside the nodes).
    pub fn eval(&self, x: f64) -> f64 {
        let n = self.x.len();
        let i = self.x[1..n - 1].iter().take_while(|&&node| node <= x).count();
        let (c0, c1, c2, c3) = self.piece(i);
        let s = x - self.x[i];
        c0 + s * (c1 + s * (c2 + s * c3))
    }

    /// The nodes `(x, y)`: sorted, distinct, duplicates averaged.
    pub fn nodes(&self) -> (&[f64], &[f64]) {
        (&self.x, &self.y)
    }

    /// Smallest and largest node.
    pub fn range(&self) -> (f64, f64) {
        (self.x[0], self.x[self.x.len() - 1])
    }

    /// Every point where the spline can take its lowest or highest value over the nodes'
    /// range, in increasing `x`: the nodes and the stationary points inside each piece.
    fn critical_points(&self) -> Vec<(f64, f64)> {
        let n = self.x.len();
        let mut points = vec![(self.x[0], self.y[0])];
        for i in 0..n - 1 {
            let (c0, c1, c2, c3) = self.piece(i);
            let h = self.x[i + 1] - self.x[i];
            // Roots of c1 + 2c2·s + 3c3·s² in (0, h), by the cancellation-free form
            // q = −(b + sign(b)·√disc)/2, roots q/a and c/q (Press et al., Numerical Recipes §5.6).
            let mut roots: Vec<f64> = quadratic_roots(3.0 * c3, 2.0 * c2, c1).into_iter().filter(|&s| s > 0.0 && s < h).collect();
            roots.sort_by(f64::total_cmp);
            points.extend(roots.into_iter().map(|s| (self.x[i] + s, c0 + s * (c1 + s * (c2 + s * c3)))));
            points.push((self.x[i + 1], self.y[i + 1]));
        }
        points
    }

    /// The spline's minimum over the sampled range.
    pub fn minimum(&self) -> Minimum {
        let n = self.x.len();
        // The first of equal lowest values, nodes before the stationary points of the piece
        // that follows them.
        let best = self.critical_points().into_iter().fold((self.x[0], self.y[0]), |best, p| if p.1 < best.1 { p } else { best });
        let interior = best.0 > self.x[0] && best.0 < self.x[n - 1];
        Minimum { x: best.0, y: best.1, interior }
    }

    /// Lowest and highest value of the spline over the nodes' range, found exactly (at the
    /// nodes and at the stationary points of the pieces).
    pub fn extremes(&self) -> (f64, f64) {
        self.critical_points().iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)))
    }
}

/// A curve through one profile: what [`Interpolation`] builds from the points.
#[derive(Debug, Clone, PartialEq)]
pub enum Interpolant {
    /// A least-squares parabola.
    Parabola(Parabola),
    /// An Akima spline.
    Akima(Akima),
}

impl Interpolant {
    /// The curve of kind `interpolation` through `(x, y)`; `None` with fewer than three
    /// distinct `x` (or, for the parabola, a singular system).
    pub fn new(interpolation: Interpolation, x: &[f64], y: &[f64]) -> Option<Interpolant> {
        match interpolation {
            Interpolation::Parabola => Parabola::fit(x, y).map(Interpolant::Parabola),
            Interpolation::Akima => Akima::new(x, y).map(Interpolant::Akima),
        }
    }

    /// The curve at `x`.
    pub fn eval(&self, x: f64) -> f64 {
        match self {
            Interpolant::Parabola(p) => p.eval(x),
            Interpolant::Akima(a) => a.eval(x),
        }
    }

    /// Its minimum over [`Interpolant::range`]; `None` for a parabola that does not open
    /// upwards.
    pub fn minimum(&self) -> Option<Minimum> {
        match self {
            Interpolant::Parabola(p) => p.minimum(),
            Interpolant::Akima(a) => Some(a.minimum()),
        }
    }

    /// Smallest and largest `x` it was built from.
    pub fn range(&self) -> (f64, f64) {
        match self {
            Interpolant::Parabola(p) => p.range(),
            Interpolant::Akima(a) => a.range(),
        }
    }

    /// Lowest and highest value over [`Interpolant::range`].
    pub fn extremes(&self) -> (f64, f64) {
        match self {
            Interpolant::Parabola(p) => p.extremes(),
            Interpolant::Akima(a) => a.extremes(),
        }
    }

    /// `n ≥ 2` points `(x, curve(x))` evenly spaced over [`Interpolant::range`], both ends
    /// included.
    pub fn sample(&self, n: usize) -> Vec<(f64, f64)> {
        let (lo, hi) = self.range();
        let steps = n.max(2) - 1;
        (0..=steps)
            .map(|i| {
                // The last sample is exactly `hi`, not `lo + (hi − lo)` rounded.
                let x = if i == steps { hi } else { lo + (hi - lo) * i as f64 / steps as f64 };
                (x, self.eval(x))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parabola_recovers_exact_vertex() {
        let x = [0.0, 1.0, 2.0, 3.0, 4.0];
        let y: Vec<f64> = x.iter().map(|x| 2.0 * (x - 1.7f64).powi(2) + 0.5).collect();
        let m = parabola_minimum(&x, &y).unwrap();
        assert!((m.x - 1.7).abs() < 1e-12 && (m.y - 0.5).abs() < 1e-12 && m.interior);
        // Monotone data: vertex outside the range or no positive curvature.
        let y: Vec<f64> = x.iter().map(|x| (x + 1.0f64).powi(2)).collect();
        assert!(!parabola_minimum(&x, &y).unwrap().interior);
        assert!(parabola_minimum(&[1.0, 1.0, 2.0], &[1.0, 2.0, 3.0]).is_none());
    }

    #[test]
    fn akima_interpolates_and_reproduces_quadratics_in_the_middle() {
        let x: Vec<f64> = (0..9).map(|i| i as f64 * 0.5).collect();
        let y: Vec<f64> = x.iter().map(|x| (x - 2.2f64).powi(2)).collect();
        let a = Akima::new(&x, &y).unwrap();
        for (xi, yi) in x.iter().zip(&y) {
            assert!((a.eval(*xi) - yi).abs() < 1e-12);
        }
        let m = a.minimum();
        // Uniform nodes on a quadratic: Akima's weights are equal, node slopes are exact
        // central differences and the Hermite pieces reproduce the quadratic.
        assert!(m.interior && (m.x - 2.2).abs() < 1e-9 && m.y.abs() < 1e-12, "{m:?}");
    }

    #[test]
    fn akima_minimum_on_a_line_is_at_the_edge() {
        let m = Akima::new(&[0.0, 1.0, 2.0, 3.0], &[3.0, 2.0, 1.0, 0.0]).unwrap().minimum();
        assert!(!m.interior && m.x == 3.0);
    }

    #[test]
    fn duplicates_are_averaged() {
        let (x, y) = distinct_sorted(&[2.0, 1.0, 2.0], &[4.0, 1.0, 6.0]);
        assert_eq!(x, vec![1.0, 2.0]);
        assert_eq!(y, vec![1.0, 5.0]);
    }
}
