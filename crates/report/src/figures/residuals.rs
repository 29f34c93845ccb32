//! Fit residuals: `observed / fitted − 1` (in percent) of every run's loss under the joint law
//! `L̂(X, Y) = E + A/X^α + B/Y^β`, against compute. Runs the fit left out are outlined.

use super::{run_markers, size_coloring, Skipped};
use crate::dataset::{Dataset, Run};
use crate::plot::palette;
use crate::plot::{number, Axis, Datum, Figure, Layer, Mark, Panel, Shape};

const NAME: &str = "residuals";
const TITLE: &str = "Fit residuals";

pub(super) fn figure(data: &Dataset) -> Result<Figure, Skipped> {
    let Some(fit) = &data.fit else {
        return Err(Skipped { name: NAME, title: TITLE, reason: "no fit".into() });
    };
    let Some(params) = fit.params else {
        return Err(Skipped { name: NAME, title: TITLE, reason: format!("the {} fit has no joint law L(X, Y) to take residuals from", fit.method.as_str()) });
    };
    let runs: Vec<&Run> = data.measured().collect();
    if runs.is_empty() {
        return Err(Skipped { name: NAME, title: TITLE, reason: "no runs".into() });
    }
    let residual = |r: &Run| Some((r.compute, 100.0 * (r.loss? / params.predict(r.x, r.y) - 1.0)));
    let coloring = size_coloring(data, &runs);
    let (lo, hi) = runs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| (lo.min(r.compute), hi.max(r.compute)));
    let mut layers = vec![Layer::new("fit (zero residual)", palette::GREY, Mark::dashed(1.2), vec![Datum::at(lo, 0.0), Datum::at(hi, 0.0)])];
    layers.extend(run_markers(data, &runs, &coloring, Shape::Circle, residual));
    let mut fitted: Vec<f64> = runs.iter().filter(|r| r.in_fit).filter_map(|r| residual(r)).map(|(_, v)| v.abs()).collect();
    fitted.sort_by(f64::total_cmp);
    let median = if fitted.is_empty() { f64::NAN } else { saescale_fit::stats::percentile(&fitted, 50.0) };
    Ok(Figure {
        name: NAME.into(),
        title: format!("{TITLE}: {}", data.title),
        caption: format!(
            "Relative residual of each run's {} under the fitted joint law L̂({x}, {y}) = E + A/{x}^α + B/{y}^β ({} fit): observed / fitted − 1, in percent. Median absolute residual of the fitted runs: {}%.",
            data.vars.loss,
            fit.method.as_str(),
            number(median, 3),
            x = data.vars.x_symbol,
            y = data.vars.y_symbol,
        ),
        panels: vec![Panel {
            title: None,
            x: Axis::log("compute C (FLOP)", "compute_flop"),
            y: Axis::linear("residual: observed / fitted − 1 (%)", "residual_percent").including(&[0.0]),
            y2: None,
            layers,
        }],
        colorbar: coloring.colorbar(),
        notes: Vec::new(),
    })
}
