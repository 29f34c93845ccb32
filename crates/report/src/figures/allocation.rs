//! Compute-optimal allocation: `X*(C) = G·(C/κ)^a` and `Y*(C) = G⁻¹·(C/κ)^b` from the fit,
//! each with its 95% bootstrap band and the exponent (with its interval) in the legend, the
//! per-budget IsoFLOP minima of the fit for comparison, and tokens = Y·batch on the right axis
//! of the Y* panel for SAE sweeps.
//!
//! The minima are the fit's own ([`saescale_fit::IsoFlopFit::budgets`]: `x_opt` and `y_opt`
//! at the budget's `compute`), exactly the values of fit.json and of the IsoFLOP figure.
//! Interior minima are filled diamonds. A minimum at the edge of a budget's sampled sizes is
//! drawn outlined rather than left out: it is where the curve is lowest within those sizes, so
//! it bounds the optimum from one side and shows where the sweep should sample further, but
//! the isoflop method's frontier does not use it.

use super::{band, curve_range, fitted_curve, log_grid, with_ci, Skipped};
use saescale_fit::{BudgetOptimum, FitResult};

use crate::dataset::Dataset;
use crate::plot::palette::{self, Rgb};
use crate::plot::{Axis, Datum, Figure, Layer, Mark, Panel, Secondary, Shape};

/// Legend entry (and CSV series) of the fit's interior IsoFLOP minima.
const MINIMUM: &str = "IsoFLOP minimum (fit)";
/// Legend entry (and CSV series) of the fit's minima at the edge of the sampled sizes.
const EDGE_MINIMUM: &str = "IsoFLOP minimum at the edge of the sizes";

const NAME: &str = "allocation";
const TITLE: &str = "Compute-optimal allocation";

pub(super) fn figure(data: &Dataset) -> Result<Figure, Skipped> {
    let Some(fit) = &data.fit else {
        return Err(Skipped { name: NAME, title: TITLE, reason: "no fit".into() });
    };
    let Some((lo, hi)) = curve_range(data) else {
        return Err(Skipped { name: NAME, title: TITLE, reason: "no compute range".into() });
    };
    let kappa = fit.kappa;
    let grid = log_grid(lo, hi, 120);
    let f = fit.frontier;
    let samples = fit.bootstrap.as_ref().map_or(&[][..], |b| &b.frontier_samples[..]);
    let derived = fit.bootstrap.as_ref().map(|b| b.derived);
    let fitted = (fit.compute_range[0], fit.compute_range[1]);
    let optima = fit.isoflop.as_ref().map_or(&[][..], |iso| &iso.budgets[..]);
    let vars = &data.vars;

    let panel = |symbol: &str, label: &str, column: &str, exponent: (&str, f64, Option<[f64; 2]>), color: Rgb, value: &dyn Fn(&saescale_fit::Frontier, f64) -> f64, optimum: fn(&BudgetOptimum) -> f64| {
        let mut layers = Vec::new();
        let name = format!("{symbol}* ∝ C^{}, {}", exponent.0, with_ci(exponent.0, exponent.1, exponent.2));
        if let Some(b) = band(&format!("{symbol}*, 95% CI"), color, &grid, |c| value(&f, c), |c| samples.iter().map(|s| value(s, c)).collect()) {
            layers.push(b);
        }
        let curve: Vec<(f64, f64)> = grid.iter().map(|&c| (c, value(&f, c))).collect();
        layers.extend(fitted_curve(&name, color, &curve, fitted));
        layers.extend(minima_layers(optima, optimum));
        Panel {
            title: Some(format!("{symbol}*(C)")),
            x: Axis::log("compute C (FLOP)", "compute_flop"),
            y: Axis::log(label.to_string(), column.to_string()),
            y2: None,
            layers,
        }
    };
    let x_panel = panel(
        &vars.x_symbol,
        &format!("optimal {}", vars.x),
        &format!("optimal_{}", vars.x_column),
        ("a", f.a, derived.map(|d| d.a.ci95)),
        palette::BLUE,
        &|fr, c| fr.x_opt(c, kappa),
        |b| b.x_opt,
    );
    let mut y_panel = panel(
        &vars.y_symbol,
        &format!("optimal {}", vars.y),
        &format!("optimal_{}", vars.y_column),
        ("b", f.b, derived.map(|d| d.b.ci95)),
        palette::BLUISH_GREEN,
        &|fr, c| fr.y_opt(c, kappa),
        |b| b.y_opt,
    );
    if (vars.tokens_per_y - 1.0).abs() > 1e-12 {
        y_panel.y2 = Some(Secondary { label: "optimal tokens".into(), column: "optimal_tokens".into(), factor: vars.tokens_per_y });
    }
    Ok(Figure {
        name: NAME.into(),
        title: format!("{TITLE}: {}", data.title),
        caption: caption(data, fit, y_panel.y2.is_some()),
        panels: vec![x_panel, y_panel],
        colorbar: None,
        notes: Vec::new(),
    })
}

/// The fit's per-budget IsoFLOP minima at their budgets, `optimum` picking X* or Y*: interior
/// ones filled, those at the edge of the sampled sizes outlined.
fn minima_layers(optima: &[BudgetOptimum], optimum: fn(&BudgetOptimum) -> f64) -> Vec<Layer> {
    let point = |b: &BudgetOptimum| Datum::at(b.compute, optimum(b)).tagged(format!("budget {:e}", b.compute));
    let interior: Vec<Datum> = optima.iter().filter(|b| b.interior).map(point).collect();
    let edge: Vec<Datum> = optima.iter().filter(|b| !b.interior).map(point).collect();
    let mut layers = Vec::new();
    if !interior.is_empty() {
        layers.push(Layer::new(MINIMUM, palette::BLACK, Mark::dots(Shape::Diamond, 4.5), interior));
    }
    if !edge.is_empty() {
        layers.push(Layer::new(EDGE_MINIMUM, palette::BLACK, Mark::rings(Shape::Diamond, 4.5), edge));
    }
    layers
}

fn caption(data: &Dataset, fit: &FitResult, tokens_axis: bool) -> String {
    let vars = &data.vars;
    let bootstrapped = fit.bootstrap.as_ref().is_some_and(|b| !b.frontier_samples.is_empty());
    let minima = fit.isoflop.as_ref().is_some_and(|iso| !iso.budgets.is_empty());
    format!(
        "The compute-optimal {} and {} implied by the {} fit, {}*(C) = G·(C/κ)^a and {}*(C) = (C/κ)^b / G with G = {}, solid over the fitted compute range and dashed beyond it; bands are 95% bootstrap intervals{}.{}{}",
        vars.x,
        vars.y,
        fit.method.as_str(),
        vars.x_symbol,
        vars.y_symbol,
        crate::plot::number(fit.frontier.G, 4),
        if bootstrapped { "" } else { " (none: the fit was not bootstrapped)" },
        if minima {
            " Diamonds: the per-budget minima of the fit's IsoFLOP profile (outlined at the edge of a budget's sampled sizes, where the optimum may lie beyond)."
        } else {
            ""
        },
        if tokens_axis {
            format!(" The right axis of the {}* panel counts tokens ({}·{}).", vars.y_symbol, vars.y_symbol, crate::plot::number(vars.tokens_per_y, 6))
        } else {
            String::new()
        },
    )
}
