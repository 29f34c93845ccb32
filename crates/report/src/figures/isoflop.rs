//! IsoFLOP curves: loss against size X for each compute budget, an Akima spline through each
//! budget's fitted runs with its minimum marked (outlined when it sits at the edge of the
//! sampled sizes, where the true minimum may lie beyond), and the joint law `L(X, C/(κX))`
//! along each budget when the fit is parametric.

use saescale_fit::interp::{Akima, Interpolation, Minimum};
use saescale_fit::isoflop::group_by_budget;
use saescale_fit::IsoFlopConfig;

use super::{log_grid, Skipped};
use crate::dataset::{Dataset, Run};
use crate::plot::palette;
use crate::plot::{number, Axis, Coloring, Datum, Figure, Layer, Mark, Panel, Shape};

const NAME: &str = "isoflop";
const TITLE: &str = "IsoFLOP curves";

/// The runs of one compute budget.
pub(crate) struct Group<'a> {
    /// The budget shown: the planned one, else the mean compute.
    pub budget: f64,
    /// Geometric-mean compute of the runs.
    pub compute: f64,
    /// The runs, by increasing size.
    pub members: Vec<&'a Run>,
}

/// Budgets with at least three distinct sizes, and how many others there were.
pub(crate) fn budgets<'a>(runs: &[&'a Run], tolerance: f64) -> (Vec<Group<'a>>, usize) {
    let ln_c: Vec<f64> = runs.iter().map(|r| r.compute.ln()).collect();
    let mut kept = Vec::new();
    let mut dropped = 0;
    for (compute, group) in group_by_budget(&ln_c, tolerance) {
        let mut members: Vec<&Run> = group.iter().map(|&i| runs[i]).collect();
        members.sort_by(|a, b| a.x.total_cmp(&b.x));
        let mut sizes: Vec<f64> = members.iter().map(|r| r.x).collect();
        sizes.dedup();
        if sizes.len() >= 3 {
            kept.push(Group { budget: super::group_budget(&members, compute), compute, members });
        } else {
            dropped += 1;
        }
    }
    (kept, dropped)
}

/// Sizes closer than this factor are one size for the spline (digitised tables scatter them).
const SAME_SIZE: f64 = 1.05;

/// The Akima spline through a budget's fitted runs (loss against ln X), its minimum and its
/// ln X range. Sizes within 5% of each other are averaged first; a spline that swings further
/// than half the budget's loss span beyond its points (noisy, tightly spaced points) is not
/// used.
pub(crate) fn spline(members: &[&Run]) -> Option<(Akima, Minimum, (f64, f64))> {
    let mut points: Vec<(f64, f64)> = members.iter().filter(|r| r.in_fit).filter_map(|r| Some((r.x.ln(), r.loss?))).collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Merge runs of nearby sizes: (Σ ln x, Σ loss, count) per cluster.
    let mut merged: Vec<(f64, f64, f64)> = Vec::new();
    for (lx, loss) in points {
        match merged.last_mut() {
            Some(c) if lx - c.0 / c.2 < SAME_SIZE.ln() => {
                c.0 += lx;
                c.1 += loss;
                c.2 += 1.0;
            }
            _ => merged.push((lx, loss, 1.0)),
        }
    }
    let lx: Vec<f64> = merged.iter().map(|c| c.0 / c.2).collect();
    let loss: Vec<f64> = merged.iter().map(|c| c.1 / c.2).collect();
    let spline = Akima::new(&lx, &loss)?;
    let (lo, hi) = (lx[0], lx[lx.len() - 1]);
    let (min_loss, max_loss) = loss.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &l| (a.min(l), b.max(l)));
    let slack = 0.5 * (max_loss - min_loss);
    let steady = (0..=100).map(|i| spline.eval(lo + (hi - lo) * f64::from(i) / 100.0)).all(|v| v >= min_loss - slack && v <= max_loss + slack);
    if !steady {
        return None;
    }
    let min = spline.minimum();
    Some((spline, min, (lo, hi)))
}

/// Per budget with a spline: (budget, optimal X, loss there, whether the minimum is interior).
pub(crate) fn optima(data: &Dataset) -> Vec<(f64, f64, f64, bool)> {
    let runs: Vec<&Run> = data.measured().collect();
    budgets(&runs, tolerance(data))
        .0
        .iter()
        .filter_map(|g| spline(&g.members).map(|(_, min, _)| (g.compute, min.x.exp(), min.y, min.interior)))
        .collect()
}

fn tolerance(data: &Dataset) -> f64 {
    data.fit.as_ref().and_then(|f| f.isoflop.as_ref()).map_or(IsoFlopConfig::default().budget_tolerance, |i| i.config.budget_tolerance)
}

pub(super) fn figure(data: &Dataset) -> Result<Figure, Skipped> {
    let runs: Vec<&Run> = data.measured().collect();
    let tolerance = tolerance(data);
    let (groups, dropped) = budgets(&runs, tolerance);
    if groups.is_empty() {
        return Err(Skipped {
            name: NAME,
            title: TITLE,
            reason: format!("no compute budget (runs within {}% of each other's compute) has runs at three or more sizes", number(100.0 * tolerance, 3)),
        });
    }
    let budget_values: Vec<f64> = groups.iter().map(|g| g.budget).collect();
    let coloring = Coloring::of(&budget_values, "budget C (FLOP)", 8);
    let discrete = matches!(coloring, Coloring::Groups(_));
    let params = data.fit.as_ref().and_then(|f| f.params);
    let kappa = data.vars.kappa;
    let mut layers = Vec::new();
    let mut minima = Vec::new();
    let mut edge_minima = Vec::new();
    let mut excluded = Vec::new();
    let mut without_spline = 0;
    for Group { budget, compute, members } in &groups {
        let color = coloring.color(*budget);
        let label = format!("C = {}", number(*budget, 3));
        let fitted: Vec<&&Run> = members.iter().filter(|r| r.in_fit).collect();
        if let Some((spline, min, (lo, hi))) = spline(members) {
            let curve: Vec<Datum> =
                (0..=60).map(|i| lo + (hi - lo) * f64::from(i) / 60.0).map(|u| Datum::at(u.exp(), spline.eval(u)).tagged(label.clone())).collect();
            layers.push(Layer::new(format!("Akima spline, {label}"), color, Mark::line(1.5), curve).unlisted().overlay());
            let point = Datum::at(min.x.exp(), min.y).tagged(label.clone()).colored(color);
            if min.interior {
                minima.push(point);
            } else {
                edge_minima.push(point);
            }
        } else {
            without_spline += 1;
        }
        if let Some(p) = params {
            let (lo, hi) = (members[0].x / 1.5, members[members.len() - 1].x * 1.5);
            let curve: Vec<Datum> = log_grid(lo, hi, 60).into_iter().map(|x| Datum::at(x, p.predict(x, compute / (kappa * x))).tagged(label.clone())).collect();
            layers.push(Layer::new(format!("joint law, {label}"), color, Mark::dashed(1.2), curve).unlisted().overlay());
        }
        let points: Vec<Datum> = fitted.iter().filter_map(|r| Some(Datum::at(r.x, r.loss?).tagged(r.id.clone()))).collect();
        let mut layer = Layer::new(label.clone(), color, Mark::dots(Shape::Circle, 3.6), points);
        if !discrete {
            layer = layer.unlisted();
        }
        layers.push(layer);
        excluded.extend(members.iter().filter(|r| !r.in_fit).filter_map(|r| Some(Datum::at(r.x, r.loss?).tagged(r.id.clone()).colored(color))));
    }
    if !discrete {
        layers.push(Layer::new("runs (colour: budget)", palette::GREY, Mark::dots(Shape::Circle, 3.6), Vec::new()));
    }
    layers.push(Layer::new("Akima spline per budget", palette::GREY, Mark::line(1.5), Vec::new()));
    if params.is_some() {
        layers.push(Layer::new("fitted joint law per budget", palette::GREY, Mark::dashed(1.2), Vec::new()));
    }
    if !excluded.is_empty() {
        layers.push(Layer::new("not in the fit", palette::GREY, Mark::rings(Shape::Circle, 3.6), excluded));
    }
    layers.push(Layer::new("minimum (spline)", palette::BLACK, Mark::dots(Shape::Diamond, 5.0), minima));
    if !edge_minima.is_empty() {
        layers.push(Layer::new("minimum at the edge of the sizes", palette::BLACK, Mark::rings(Shape::Diamond, 5.0), edge_minima));
    }
    let mut notes = Vec::new();
    if dropped > 0 {
        notes.push(format!("{dropped} budget(s) with fewer than three sizes are not drawn."));
    }
    if without_spline > 0 {
        notes.push(format!(
            "{without_spline} budget(s) are drawn without a spline: fewer than three sizes at least 5% apart, or points too noisy for an interpolating spline."
        ));
    }
    if let Some(iso) = data.fit.as_ref().and_then(|f| f.isoflop.as_ref()) {
        notes.extend(iso.warnings.iter().map(|w| w.to_string()));
    }
    let interp = data.fit.as_ref().and_then(|f| f.isoflop.as_ref()).map_or(Interpolation::Akima, |i| i.config.interpolation);
    Ok(Figure {
        name: NAME.into(),
        title: format!("{TITLE}: {}", data.title),
        caption: format!(
            "{} against {} for each compute budget (runs within {}% of a budget's first run share it). Solid: an Akima spline through the budget's fitted runs, its minimum marked with a diamond (outlined when the minimum is at the edge of the sampled sizes, so the true optimum may lie beyond).{}{}",
            super::compute::capitalise(&data.vars.loss),
            data.vars.x,
            number(100.0 * tolerance, 3),
            if params.is_some() { " Dashed: the fitted joint law L(X, C/(κX)) along each budget." } else { "" },
            if interp == Interpolation::Parabola { " (The fit itself located minima with a parabola.)" } else { "" }
        ),
        panels: vec![Panel {
            title: None,
            x: Axis::log(data.vars.x.clone(), data.vars.x_column.clone()),
            y: Axis::log(data.vars.loss.clone(), "loss"),
            y2: None,
            layers,
        }],
        colorbar: coloring.colorbar(),
        notes,
    })
}
