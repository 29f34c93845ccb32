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
//! A minimiser at the edge of the sampled range is flagged as not interior: the true optimum
//! may lie outside it (SCALING.md M3, pitfall 7).
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
    /// as SCALING.md pitfall 7 advises.
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
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
    let (mut xs, mut ys, mut counts) = (Vec::<f64>::new(), Vec::<f64>::new(), Vec::<f64>::new());
    for i in order {
        match xs.last() {
            Some(&last) if (x[i] - last).abs() <= 1e-12 * (1.0 + last.abs()) => {
                let k = ys.len() - 1;
                ys[k] += y[i];
                counts[k] += 1.0;
            }
            _ => {
                xs.push(x[i]);
                ys.push(y[i]);
                counts.push(1.0);
            }
        }
    }
    ys.iter_mut().zip(&counts).for_each(|(y, c)| *y /= c);
    (xs, ys)
}

/// Least-squares parabola through all points, and its vertex.
pub fn parabola_minimum(x: &[f64], y: &[f64]) -> Option<Minimum> {
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
    if !(c[2] > 0.0) {
        return None;
    }
    let u = -c[1] / (2.0 * c[2]);
    let vertex = xm + u;
    let interior = vertex > distinct[0] && vertex < distinct[distinct.len() - 1];
    Some(Minimum { x: vertex, y: c[0] + c[1] * u + c[2] * u * u, interior })
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
            for k in col..3 {
                m[row][k] -= f * m[col][k];
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

    /// The spline's minimum over the sampled range.
    pub fn minimum(&self) -> Minimum {
        let n = self.x.len();
        let mut best = (self.x[0], self.y[0]);
        let mut consider = |x: f64, y: f64| {
            if y < best.1 {
                best = (x, y);
            }
        };
        for i in 0..n - 1 {
            consider(self.x[i + 1], self.y[i + 1]);
            let (c0, c1, c2, c3) = self.piece(i);
            let h = self.x[i + 1] - self.x[i];
            // Roots of c1 + 2c2·s + 3c3·s² in (0, h), by the cancellation-free form
            // q = −(b + sign(b)·√disc)/2, roots q/a and c/q (Press et al., Numerical Recipes §5.6).
            let roots = quadratic_roots(3.0 * c3, 2.0 * c2, c1);
            for s in roots.into_iter().filter(|&s| s > 0.0 && s < h) {
                consider(self.x[i] + s, c0 + s * (c1 + s * (c2 + s * c3)));
            }
        }
        let interior = best.0 > self.x[0] && best.0 < self.x[n - 1];
        Minimum { x: best.0, y: best.1, interior }
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
