//! Compute-optimal allocation: `X*(C) = G·(C/κ)^a` and `Y*(C) = G⁻¹·(C/κ)^b` from the fit,
//! each with its 95% bootstrap band and the exponent (with its interval) in the legend, the
//! per-budget minima of the runs' IsoFLOP splines for comparison, and tokens = Y·batch on the
//! right axis of the Y* panel for SAE sweeps.

use super::{band, curve_range, fitted_curve, isoflop, log_grid, with_ci, Skipped};
use crate::dataset::Dataset;
use crate::plot::palette::{self, Rgb};
use crate::plot::{Axis, Datum, Figure, Layer, Mark, Panel, Secondary, Shape};

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
    let optima = isoflop::optima(data);
    let vars = &data.vars;

    let panel = |symbol: &str, label: &str, column: &str, exponent: (&str, f64, Option<[f64; 2]>), color: Rgb, value: &dyn Fn(&saescale_fit::Frontier, f64) -> f64, optimum: &dyn Fn(f64, f64) -> f64| {
        let mut layers = Vec::new();
        let name = format!("{symbol}* ∝ C^{}, {}", exponent.0, with_ci(exponent.0, exponent.1, exponent.2));
        if let Some(b) = band(&format!("{symbol}*, 95% CI"), color, &grid, |c| value(&f, c), |c| samples.iter().map(|s| value(s, c)).collect()) {
            layers.push(b);
        }
        let curve: Vec<(f64, f64)> = grid.iter().map(|&c| (c, value(&f, c))).collect();
        layers.extend(fitted_curve(&name, color, &curve, fitted));
        let interior: Vec<Datum> = optima.iter().filter(|o| o.3).map(|o| Datum::at(o.0, optimum(o.0, o.1)).tagged(format!("budget {:e}", o.0))).collect();
        let edge: Vec<Datum> = optima.iter().filter(|o| !o.3).map(|o| Datum::at(o.0, optimum(o.0, o.1)).tagged(format!("budget {:e}", o.0))).collect();
        if !interior.is_empty() {
            layers.push(Layer::new("IsoFLOP minimum of the runs", palette::BLACK, Mark::dots(Shape::Diamond, 4.5), interior));
        }
        if !edge.is_empty() {
            layers.push(Layer::new("IsoFLOP minimum at the edge of the sizes", palette::BLACK, Mark::rings(Shape::Diamond, 4.5), edge));
        }
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
        &|_, x| x,
    );
    let mut y_panel = panel(
        &vars.y_symbol,
        &format!("optimal {}", vars.y),
        &format!("optimal_{}", vars.y_column),
        ("b", f.b, derived.map(|d| d.b.ci95)),
        palette::BLUISH_GREEN,
        &|fr, c| fr.y_opt(c, kappa),
        &|c, x| c / (kappa * x),
    );
    if (vars.tokens_per_y - 1.0).abs() > 1e-12 {
        y_panel.y2 = Some(Secondary { label: "optimal tokens".into(), column: "optimal_tokens".into(), factor: vars.tokens_per_y });
    }
    let tokens = if y_panel.y2.is_some() {
        format!(" The right axis of the {}* panel counts tokens ({}·{}).", vars.y_symbol, vars.y_symbol, crate::plot::number(vars.tokens_per_y, 6))
    } else {
        String::new()
    };
    Ok(Figure {
        name: NAME.into(),
        title: format!("{TITLE}: {}", data.title),
        caption: format!(
            "The compute-optimal {} and {} implied by the {} fit, {}*(C) = G·(C/κ)^a and {}*(C) = (C/κ)^b / G with G = {}, solid over the fitted compute range and dashed beyond it; bands are 95% bootstrap intervals{}. Diamonds: the minimum of each budget's IsoFLOP spline through the runs.{tokens}",
            vars.x,
            vars.y,
            fit.method.as_str(),
            vars.x_symbol,
            vars.y_symbol,
            crate::plot::number(f.G, 4),
            if samples.is_empty() { " (none: the fit was not bootstrapped)" } else { "" },
        ),
        panels: vec![x_panel, y_panel],
        colorbar: None,
        notes: Vec::new(),
    })
}
