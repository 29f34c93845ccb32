//! Loss against compute: every run, the empirical compute-optimal frontier (runs with no
//! cheaper run below them), and the fitted `L*(C) = E + K·(C/κ)^(−γ)` with its 95%
//! bootstrap band.

use saescale_fit::isoflop::group_by_budget;

use super::{band, curve_range, fitted_curve, log_grid, run_markers, size_coloring, Skipped};
use crate::dataset::{Dataset, Run};
use crate::plot::palette;
use crate::plot::{number, Axis, Datum, Figure, Layer, Mark, Panel, Shape};

const NAME: &str = "loss_vs_compute";
const TITLE: &str = "Loss vs compute";

/// The empirical frontier: the best run of each compute budget (runs within 10% of compute,
/// as the IsoFLOP analysis groups them), kept when its loss is lower than every cheaper one's.
pub(crate) fn frontier<'a>(runs: &[&'a Run]) -> Vec<&'a Run> {
    let runs: Vec<&Run> = runs.iter().copied().filter(|r| r.loss.is_some()).collect();
    let ln_c: Vec<f64> = runs.iter().map(|r| r.compute.ln()).collect();
    let best = |group: &[usize]| {
        group.iter().map(|&i| runs[i]).min_by(|a, b| a.loss.unwrap_or(f64::INFINITY).total_cmp(&b.loss.unwrap_or(f64::INFINITY)))
    };
    let tolerance = saescale_fit::IsoFlopConfig::default().budget_tolerance;
    let mut sorted: Vec<&Run> = group_by_budget(&ln_c, tolerance).iter().filter_map(|(_, g)| best(g)).collect();
    sorted.sort_by(|a, b| a.compute.total_cmp(&b.compute));
    let mut best = f64::INFINITY;
    let mut out = Vec::new();
    for run in sorted {
        let loss = run.loss.unwrap_or(f64::INFINITY);
        if loss < best {
            best = loss;
            out.push(run);
        }
    }
    out
}

pub(super) fn figure(data: &Dataset) -> Result<Figure, Skipped> {
    let runs: Vec<&Run> = data.measured().collect();
    if runs.is_empty() && data.fit.is_none() {
        return Err(Skipped { name: NAME, title: TITLE, reason: "no finished runs and no fit".into() });
    }
    let mut layers = Vec::new();
    let mut caption = format!(
        "{} of every finished run against its training compute C = κ·{}·{} (κ = {}), filled where the fit used the run.",
        capitalise(&data.vars.loss),
        data.vars.x_symbol,
        data.vars.y_symbol,
        number(data.vars.kappa, 4)
    );
    if let (Some(fit), Some((lo, hi))) = (&data.fit, curve_range(data)) {
        let kappa = fit.kappa;
        let grid = log_grid(lo, hi, 160);
        let f = &fit.frontier;
        if let Some(boot) = &fit.bootstrap {
            let samples = &boot.frontier_samples;
            if let Some(b) = band("fitted L*(C), 95% CI", palette::VERMILLION, &grid, |c| f.loss_opt(c, kappa), |c| {
                samples.iter().map(|s| s.loss_opt(c, kappa)).collect()
            }) {
                layers.push(b);
                caption.push_str(&format!(" The band is the 2.5–97.5 percentile range over {} bootstrap replicates.", samples.len()));
            }
        }
        let curve: Vec<(f64, f64)> = grid.iter().map(|&c| (c, f.loss_opt(c, kappa))).collect();
        let name = format!("fitted L*(C), γ = {}", number(f.gamma, 3));
        layers.extend(fitted_curve(&name, palette::VERMILLION, &curve, (fit.compute_range[0], fit.compute_range[1])));
        caption.push_str(&format!(
            " Fitted frontier L*(C) = {} + {}·(C/κ)^−{} ({} fit), dashed outside the fitted compute range.",
            number(f.E, 4),
            number(f.K, 4),
            number(f.gamma, 4),
            fit.method.as_str()
        ));
    }
    let coloring = size_coloring(data, &runs);
    layers.extend(run_markers(data, &runs, &coloring, Shape::Circle, |r| Some((r.compute, r.loss?))));
    let fitted: Vec<&Run> = runs.iter().copied().filter(|r| r.in_fit).collect();
    let envelope: Vec<Datum> =
        frontier(&fitted).iter().filter_map(|r| Some(Datum::at(r.compute, r.loss?).tagged(r.id.clone()))).collect();
    if envelope.len() >= 2 {
        layers.push(Layer::new("lowest loss so far (runs)", palette::BLACK, Mark::line(1.2), envelope));
        caption.push_str(" The black line joins the runs with a lower loss than every cheaper run (the empirical frontier).");
    }
    Ok(Figure {
        name: NAME.into(),
        title: format!("{TITLE}: {}", data.title),
        caption,
        panels: vec![Panel {
            title: None,
            x: Axis::log("compute C (FLOP)", "compute_flop"),
            y: Axis::log(data.vars.loss.clone(), "loss"),
            y2: None,
            layers,
        }],
        colorbar: coloring.colorbar(),
        notes: Vec::new(),
    })
}

pub(crate) fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |c| c.to_uppercase().collect::<String>() + chars.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(compute: f64, loss: f64) -> Run {
        Run { compute, loss: Some(loss), ..Run::done_for_tests(format!("{compute}"), 1.0) }
    }

    #[test]
    fn frontier_keeps_runs_better_than_every_cheaper_one() {
        let runs = [run(1.0, 5.0), run(2.0, 6.0), run(3.0, 4.0), run(4.0, 4.5), run(5.0, 3.0)];
        let refs: Vec<&Run> = runs.iter().collect();
        let kept: Vec<f64> = frontier(&refs).iter().map(|r| r.compute).collect();
        assert_eq!(kept, vec![1.0, 3.0, 5.0]);
        // Runs of one budget (within 10%) count once, by their best.
        let runs = [run(100.0, 5.0), run(99.0, 4.0), run(200.0, 3.5), run(195.0, 3.9)];
        let refs: Vec<&Run> = runs.iter().collect();
        let kept: Vec<f64> = frontier(&refs).iter().map(|r| r.compute).collect();
        assert_eq!(kept, vec![99.0, 200.0]);
    }
}
