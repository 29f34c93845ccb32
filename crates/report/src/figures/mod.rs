//! The report's figures, one module each, built from a [`Dataset`] as [`Figure`] values:
//!
//! | file stem | what it shows | needs |
//! |---|---|---|
//! | `loss_vs_compute` | loss vs C of every run, the empirical frontier, fitted L*(C) with CI band | runs or fit |
//! | `isoflop` | loss vs X per compute budget: the fit's curve and minimum, its runs, joint law overlaid | fit with an IsoFLOP profile (without a fit: the runs only, ≥ 3 sizes in a budget) |
//! | `allocation` | X*(C) and Y*(C) (tokens on the right axis) with power laws, CI bands, exponents, the fit's IsoFLOP minima | fit |
//! | `sparsity` | L0 and dead-feature fraction vs F, per budget | sweep metrics |
//! | `sparsity_frontier` | loss vs k at fixed F (k sweeps), and FVU vs L0 per F | a sweep with several k or λ |
//! | `training_curves` | training loss vs tokens of every run, coloured by F | metrics.jsonl |
//! | `residuals` | observed / fitted − 1 vs compute | parametric fit and runs |
//! | `lr_law` | per-budget optimal learning rates and lr*(C) with CI band | fit with an lr law |
//! | `history_loss`, `history_throughput` | each run's loss, tokens/s across nights as a ratio to the baseline night | a nightly sweep |
//! | `history_exponents` | α, β, a, b of each night's fit with CI bands | a nightly sweep with fits |
//!
//! A figure that cannot be drawn from the data says why ([`Skipped`]); the page lists it.
//! Figures draw what the fit computed (its frontier, its IsoFLOP minima and curves) and
//! recompute none of it, so that a figure cannot disagree with fit.json.

mod allocation;
mod compute;
mod curves;
mod frontier;
mod history;
mod isoflop;
mod lr;
mod residuals;
mod sparsity;

use saescale_fit::stats::percentile;

use crate::dataset::{Dataset, Run};
use crate::plot::palette::{self, Rgb};
use crate::plot::{number, Coloring, Datum, Figure, Layer, Mark, Shape};

/// Why a figure was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The figure's file stem.
    pub name: &'static str,
    /// Its title.
    pub title: &'static str,
    /// Why.
    pub reason: String,
}

/// Every figure, in page order: drawn, or why not (the history's only for a nightly sweep, the
/// sparsity frontier only for a sweep over k or λ).
pub fn all(data: &Dataset) -> Vec<Result<Figure, Skipped>> {
    let mut figures = vec![compute::figure(data), isoflop::figure(data), allocation::figure(data), sparsity::figure(data)];
    // Only a sweep over sparsity has a frontier; the others do not list it as skipped.
    if frontier::varies_sparsity(data) {
        figures.push(frontier::figure(data));
    }
    figures.extend([curves::figure(data), residuals::figure(data), lr::figure(data)]);
    figures.extend(history::figures(data));
    figures
}

/// The budget a group of runs stands for: the planned budget they all share, else the group's
/// (geometric-mean) compute `mean`.
pub(crate) fn group_budget(members: &[&Run], mean: f64) -> f64 {
    match members.first().and_then(|r| r.budget) {
        Some(b) if members.iter().all(|r| r.budget == Some(b)) => b,
        _ => mean,
    }
}

/// `n` log-spaced values from `lo` to `hi`.
pub(crate) fn log_grid(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let (a, b) = (lo.ln(), hi.ln());
    (0..n).map(|i| (a + (b - a) * i as f64 / (n - 1).max(1) as f64).exp()).collect()
}

/// The 2.5th and 97.5th percentiles of `values` (finite ones), if at least two.
pub(crate) fn ci95(mut values: Vec<f64>) -> Option<(f64, f64)> {
    values.retain(|v| v.is_finite());
    if values.len() < 2 {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some((percentile(&values, 2.5), percentile(&values, 97.5)))
}

/// Compute range to draw fitted curves over: the data's, widened by a factor of 2 each way.
pub(crate) fn curve_range(data: &Dataset) -> Option<(f64, f64)> {
    data.compute_range().map(|(lo, hi)| (lo / 2.0, hi * 2.0))
}

/// Colours runs by their size X: a few distinct sizes get viridis groups and legend entries,
/// many get a colour bar.
pub(crate) fn size_coloring(data: &Dataset, runs: &[&Run]) -> Coloring {
    let values: Vec<f64> = runs.iter().map(|r| r.x).collect();
    size_coloring_of(data, &values)
}

/// Colours for these sizes X, as [`size_coloring`].
pub(crate) fn size_coloring_of(data: &Dataset, sizes: &[f64]) -> Coloring {
    Coloring::of(sizes, &data.vars.x, 8)
}

/// Legend label of a size group.
pub(crate) fn size_label(data: &Dataset, x: f64) -> String {
    format!("{} = {}", data.vars.x_symbol, number(x, 4))
}

/// Markers for runs coloured by size: one layer per group (or one coloured point by point),
/// fitted runs filled and others outlined. `value` picks the point.
pub(crate) fn run_markers(
    data: &Dataset,
    runs: &[&Run],
    coloring: &Coloring,
    shape: Shape,
    value: impl Fn(&Run) -> Option<(f64, f64)>,
) -> Vec<Layer> {
    let mut layers = Vec::new();
    let mut excluded = Vec::new();
    let point = |r: &Run| value(r).map(|(x, y)| Datum::at(x, y).tagged(r.id.clone()).colored(coloring.color(r.x)));
    match coloring {
        Coloring::Groups(groups) => {
            for &(x, color) in groups {
                let data_points: Vec<Datum> =
                    runs.iter().filter(|r| r.in_fit && (r.x - x).abs() <= 1e-9 * x.abs()).filter_map(|r| point(r)).collect();
                if !data_points.is_empty() {
                    layers.push(Layer::new(size_label(data, x), color, Mark::dots(shape, 3.6), data_points));
                }
            }
        }
        Coloring::Continuous(_) => {
            let points: Vec<Datum> = runs.iter().filter(|r| r.in_fit).filter_map(|r| point(r)).collect();
            layers.push(Layer::new("runs (colour: size)", palette::GREY, Mark::dots(shape, 3.2), points));
        }
    }
    excluded.extend(runs.iter().filter(|r| !r.in_fit).filter_map(|r| point(r)));
    if !excluded.is_empty() {
        layers.push(Layer::new("not in the fit", palette::GREY, Mark::rings(shape, 3.6), excluded));
    }
    layers
}

/// Legend entry of the dashed parts of fitted curves.
pub(crate) const EXTRAPOLATED: &str = "dashed: beyond the fitted compute range";

/// A fitted curve: solid over the fitted compute range, dashed beyond it (extrapolation).
pub(crate) fn fitted_curve(name: &str, color: Rgb, grid: &[(f64, f64)], fitted: (f64, f64)) -> Vec<Layer> {
    let inside: Vec<Datum> =
        grid.iter().filter(|(c, _)| *c >= fitted.0 * (1.0 - 1e-9) && *c <= fitted.1 * (1.0 + 1e-9)).map(|&(c, y)| Datum::at(c, y)).collect();
    let below: Vec<Datum> = grid.iter().filter(|(c, _)| *c <= fitted.0).map(|&(c, y)| Datum::at(c, y)).collect();
    let above: Vec<Datum> = grid.iter().filter(|(c, _)| *c >= fitted.1).map(|&(c, y)| Datum::at(c, y)).collect();
    let mut layers = vec![Layer::new(name, color, Mark::line(2.0), inside)];
    let mut extrapolated = false;
    for part in [below, above] {
        if part.len() >= 2 {
            layers.push(Layer::new(format!("{name}, extrapolated"), color, Mark::dashed(2.0), part).unlisted());
            extrapolated = true;
        }
    }
    if extrapolated {
        layers.push(Layer::new(EXTRAPOLATED, palette::GREY, Mark::dashed(2.0), Vec::new()));
    }
    layers
}

/// A 95% band layer from per-grid-point replicate values.
pub(crate) fn band(name: &str, color: Rgb, grid: &[f64], center: impl Fn(f64) -> f64, samples: impl Fn(f64) -> Vec<f64>) -> Option<Layer> {
    let data: Vec<Datum> = grid.iter().filter_map(|&c| ci95(samples(c)).map(|(lo, hi)| Datum::band(c, center(c), lo, hi))).collect();
    (data.len() >= 2).then(|| Layer::new(name, color, Mark::band(), data))
}

/// "a = 0.523 [0.49, 0.55]" with the bootstrap interval when there is one.
pub(crate) fn with_ci(symbol: &str, value: f64, ci: Option<[f64; 2]>) -> String {
    match ci {
        Some([lo, hi]) => format!("{symbol} = {} [{}, {}]", number(value, 3), number(lo, 3), number(hi, 3)),
        None => format!("{symbol} = {}", number(value, 3)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_and_intervals() {
        let g = log_grid(1e10, 1e12, 3);
        assert!((g[1] / 1e11 - 1.0).abs() < 1e-12 && (g[2] / 1e12 - 1.0).abs() < 1e-12);
        let (lo, hi) = ci95((1..=101).map(f64::from).collect()).unwrap();
        assert!((lo - 3.5).abs() < 1e-12 && (hi - 98.5).abs() < 1e-12);
        assert!(ci95(vec![1.0]).is_none());
    }

    #[test]
    fn fitted_curves_dash_outside_the_fitted_range() {
        let grid: Vec<(f64, f64)> = log_grid(1.0, 1000.0, 7).into_iter().map(|c| (c, 1.0)).collect();
        let layers = fitted_curve("L*", palette::VERMILLION, &grid, (10.0, 100.0));
        assert_eq!(layers.len(), 4);
        assert_eq!(layers[0].mark, Mark::line(2.0));
        assert!(layers[1..3].iter().all(|l| l.mark == Mark::dashed(2.0) && l.name == "L*, extrapolated" && !l.legend));
        assert!(layers[3].legend && layers[3].data.is_empty() && layers[3].name == EXTRAPOLATED);
    }
}
