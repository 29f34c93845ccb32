//! The data a law is fitted to: positive `(x, y, loss)` triples, kept in log space.
//!
//! `x` is the size variable (SAE features F, or LM parameters N) and `y` the duration
//! variable (SAE steps S, or LM tokens D); compute is `C = κ·x·y` with a caller-supplied κ
//! (docs/METHODS.md §1.6: 12·d·batch for SAE steps, 6 for LM tokens). Points carry an integer-valued
//! weight so that a bootstrap replicate is the original points weighted by how often each was
//! drawn, which is the same objective as the resampled table and cheaper to evaluate.

use crate::error::{Error, Result};

/// Fitting data in log space, with per-point weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Points {
    /// `ln x` per point.
    pub ln_x: Vec<f64>,
    /// `ln y` per point (zeros for single-variable data).
    pub ln_y: Vec<f64>,
    /// `ln loss` per point.
    pub ln_loss: Vec<f64>,
    /// Weight of each point in the summed objective (1 for a plain fit).
    pub weight: Vec<f64>,
    /// Row of the caller's table each point came from (for error messages and exclusions).
    pub row: Vec<usize>,
}

impl Points {
    /// Builds joint-law points from `x`, `y` and `loss` columns (rows numbered from 0).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if the columns differ in length and [`Error::InvalidValue`]
    /// naming the column and row of the first value that is not finite and positive.
    pub fn new(x: &[f64], y: &[f64], loss: &[f64]) -> Result<Self> {
        if x.len() != y.len() || x.len() != loss.len() {
            return Err(Error::LengthMismatch {
                what: format!("x {}, y {}, loss {}", x.len(), y.len(), loss.len()),
            });
        }
        Ok(Points {
            ln_x: ln_column("x", x)?,
            ln_y: ln_column("y", y)?,
            ln_loss: ln_column("loss", loss)?,
            weight: vec![1.0; x.len()],
            row: (0..x.len()).collect(),
        })
    }

    /// Builds single-variable points `(x, loss)` for a saturating law `E + A·x^-α`.
    ///
    /// # Errors
    /// As [`Points::new`].
    pub fn single(x: &[f64], loss: &[f64]) -> Result<Self> {
        Self::new(x, &vec![1.0; x.len()], loss)
    }

    /// Builds points from `x`, compute `C` and loss, deriving `y = C / (κ·x)`.
    ///
    /// # Errors
    /// As [`Points::new`], and [`Error::InvalidConfig`] for a κ that is not finite and positive.
    pub fn from_compute(x: &[f64], compute: &[f64], loss: &[f64], kappa: f64) -> Result<Self> {
        check_kappa(kappa)?;
        if x.len() != compute.len() {
            return Err(Error::LengthMismatch {
                what: format!("x {}, compute {}", x.len(), compute.len()),
            });
        }
        ln_column("compute", compute)?;
        ln_column("x", x)?;
        let y: Vec<f64> = x.iter().zip(compute).map(|(x, c)| c / (kappa * x)).collect();
        Self::new(x, &y, loss)
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.ln_x.len()
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.ln_x.is_empty()
    }

    /// Sum of the weights (the number of rows the objective stands for).
    pub fn total_weight(&self) -> f64 {
        self.weight.iter().sum()
    }

    /// The points with the given indices kept (in that order).
    pub fn select(&self, keep: &[usize]) -> Points {
        Points {
            ln_x: keep.iter().map(|&i| self.ln_x[i]).collect(),
            ln_y: keep.iter().map(|&i| self.ln_y[i]).collect(),
            ln_loss: keep.iter().map(|&i| self.ln_loss[i]).collect(),
            weight: keep.iter().map(|&i| self.weight[i]).collect(),
            row: keep.iter().map(|&i| self.row[i]).collect(),
        }
    }

    /// The points reweighted by `counts` (how often each point was drawn); points drawn zero
    /// times are dropped, so the objective sums over distinct points only.
    pub fn reweighted(&self, counts: &[u32]) -> Points {
        let keep: Vec<usize> = (0..self.len()).filter(|&i| counts[i] > 0).collect();
        let mut out = self.select(&keep);
        for (w, &i) in out.weight.iter_mut().zip(&keep) {
            *w *= f64::from(counts[i]);
        }
        out
    }

    /// Drops the `n` points with the highest loss (Epoch AI's main fit drops the five
    /// highest-loss rows, docs/METHODS.md §4). Returns the kept points and the rows dropped.
    pub fn drop_highest_loss(&self, n: usize) -> (Points, Vec<usize>) {
        let mut order: Vec<usize> = (0..self.len()).collect();
        // Highest loss first; ties keep table order.
        order.sort_by(|&i, &j| self.ln_loss[j].total_cmp(&self.ln_loss[i]));
        let n = n.min(self.len());
        let mut keep: Vec<usize> = order[n..].to_vec();
        keep.sort_unstable();
        let mut dropped: Vec<usize> = order[..n].iter().map(|&i| self.row[i]).collect();
        dropped.sort_unstable();
        (self.select(&keep), dropped)
    }

    /// `ln C = ln κ + ln x + ln y` per point.
    pub fn ln_compute(&self, kappa: f64) -> Vec<f64> {
        let ln_kappa = kappa.ln();
        self.ln_x.iter().zip(&self.ln_y).map(|(x, y)| ln_kappa + x + y).collect()
    }

    /// Smallest and largest compute `κ·x·y` over the points (`None` when empty).
    pub fn compute_range(&self, kappa: f64) -> Option<(f64, f64)> {
        let ln_c = self.ln_compute(kappa);
        let min = ln_c.iter().copied().reduce(f64::min)?;
        let max = ln_c.iter().copied().reduce(f64::max)?;
        Some((min.exp(), max.exp()))
    }
}

/// Checks that κ is finite and positive.
pub(crate) fn check_kappa(kappa: f64) -> Result<()> {
    if kappa.is_finite() && kappa > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidConfig { field: "kappa", reason: format!("{kappa} is not finite and positive") })
    }
}

/// Natural logs of a column, rejecting values that are not finite and positive.
pub(crate) fn ln_column(column: &'static str, values: &[f64]) -> Result<Vec<f64>> {
    values
        .iter()
        .enumerate()
        .map(|(row, &value)| {
            if value.is_finite() && value > 0.0 {
                Ok(value.ln())
            } else {
                Err(Error::InvalidValue { column, row, value })
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_positive_and_nan_with_row() {
        let err = Points::new(&[1.0, 2.0], &[1.0, 0.0], &[1.0, 1.0]).unwrap_err();
        assert!(matches!(err, Error::InvalidValue { column: "y", row: 1, .. }), "{err}");
        let err = Points::new(&[1.0, f64::NAN], &[1.0, 1.0], &[1.0, 1.0]).unwrap_err();
        assert!(matches!(err, Error::InvalidValue { column: "x", row: 1, .. }), "{err}");
        assert!(Points::new(&[1.0], &[1.0, 2.0], &[1.0]).is_err());
    }

    #[test]
    fn drop_highest_loss_removes_largest() {
        let p = Points::new(&[1.0; 4], &[1.0; 4], &[3.0, 1.0, 4.0, 2.0]).unwrap();
        let (kept, dropped) = p.drop_highest_loss(2);
        assert_eq!(dropped, vec![0, 2]);
        assert_eq!(kept.row, vec![1, 3]);
    }

    #[test]
    fn reweighting_drops_undrawn_points() {
        let p = Points::new(&[1.0, 2.0, 3.0], &[1.0; 3], &[1.0; 3]).unwrap();
        let r = p.reweighted(&[2, 0, 1]);
        assert_eq!(r.row, vec![0, 2]);
        assert_eq!(r.weight, vec![2.0, 1.0]);
        assert_eq!(r.total_weight(), 3.0);
    }

    #[test]
    fn from_compute_derives_y() {
        let p = Points::from_compute(&[10.0], &[600.0], &[2.0], 6.0).unwrap();
        assert!((p.ln_y[0] - 10f64.ln()).abs() < 1e-12);
        let (lo, hi) = p.compute_range(6.0).unwrap();
        assert!((lo - 600.0).abs() < 1e-9 && (hi - 600.0).abs() < 1e-9);
    }
}
