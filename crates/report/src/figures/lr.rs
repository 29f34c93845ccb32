//! The learning-rate law `lr*(C) = c·C^(−p)`: each budget's optimal learning rate (outlined
//! when it lies at the edge of the swept rates, where it is not used), the fitted law and its
//! 95% bootstrap band.

use super::{band, fitted_curve, log_grid, with_ci, Skipped};
use crate::dataset::Dataset;
use crate::plot::palette;
use crate::plot::{number, Axis, Datum, Figure, Layer, Mark, Panel, Shape};

const NAME: &str = "lr_law";
const TITLE: &str = "Learning-rate law";

pub(super) fn figure(data: &Dataset) -> Result<Figure, Skipped> {
    let Some(report) = data.fit.as_ref().and_then(|f| f.lr_law.as_ref()) else {
        return Err(Skipped { name: NAME, title: TITLE, reason: "the fit has no learning-rate law (fit with --lr-col on a sweep over learning rates)".into() });
    };
    let budgets = &report.fit.budgets;
    let (lo, hi) = budgets.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), b| (lo.min(b.compute), hi.max(b.compute)));
    if !lo.is_finite() {
        return Err(Skipped { name: NAME, title: TITLE, reason: "the learning-rate law has no budgets".into() });
    }
    let law = report.fit.law;
    let grid = log_grid(lo / 2.0, hi * 2.0, 100);
    let mut layers = Vec::new();
    if let Some(b) = band("lr*(C), 95% CI", palette::REDDISH_PURPLE, &grid, |c| law.lr(c), |c| report.samples.iter().map(|l| l.lr(c)).collect()) {
        layers.push(b);
    }
    let curve: Vec<(f64, f64)> = grid.iter().map(|&c| (c, law.lr(c))).collect();
    let used: Vec<f64> = budgets.iter().filter(|b| b.interior).map(|b| b.compute).collect();
    let span = (used.iter().copied().fold(f64::INFINITY, f64::min), used.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    let name = format!("fitted lr*(C) = c·C^−p, {}", with_ci("p", law.p, report.p.map(|s| s.ci95)));
    layers.extend(fitted_curve(&name, palette::REDDISH_PURPLE, &curve, if span.0.is_finite() { span } else { (lo, hi) }));
    let point = |b: &saescale_fit::lr::LrBudget| Datum::at(b.compute, b.lr_opt).tagged(format!("{} rows", b.points));
    let interior: Vec<Datum> = budgets.iter().filter(|b| b.interior).map(point).collect();
    let edge: Vec<Datum> = budgets.iter().filter(|b| !b.interior).map(point).collect();
    layers.push(Layer::new("optimal lr of a budget", palette::BLACK, Mark::dots(Shape::Circle, 4.0), interior));
    if !edge.is_empty() {
        layers.push(Layer::new("at the edge of the swept rates (not used)", palette::BLACK, Mark::rings(Shape::Circle, 4.0), edge));
    }
    Ok(Figure {
        name: NAME.into(),
        title: format!("{TITLE}: {}", data.title),
        caption: format!(
            "Optimal learning rate of each compute budget (minimum of loss against ln lr, column {}) and the fitted law lr*(C) = {}·C^−{}{}.",
            report.lr_col,
            number(law.c, 4),
            number(law.p, 4),
            if report.samples.is_empty() { String::new() } else { format!(", with the 95% band of {} bootstrap replicates", report.samples.len()) }
        ),
        panels: vec![Panel {
            title: None,
            x: Axis::log("compute C (FLOP)", "compute_flop"),
            y: Axis::log("learning rate", "lr"),
            y2: None,
            layers,
        }],
        colorbar: None,
        notes: Vec::new(),
    })
}
