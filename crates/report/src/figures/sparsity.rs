//! Sparsity against size: the held-out L0 (active features per token), the fraction of dead
//! features at the end of training and the fraction of near-dead ones (firing on fewer than
//! 1e-4 of the held-out rows), against F, one line per compute budget.

use saescale_fit::isoflop::group_by_budget;
use saescale_fit::IsoFlopConfig;

use super::Skipped;
use crate::dataset::{Dataset, Run};
use crate::plot::palette;
use crate::plot::{number, Axis, Coloring, Datum, Figure, Layer, Mark, Panel, Shape};

const NAME: &str = "sparsity";
const TITLE: &str = "L0, dead and near-dead features";

pub(super) fn figure(data: &Dataset) -> Result<Figure, Skipped> {
    let runs: Vec<&Run> = data.measured().filter(|r| r.l0.is_some() || r.dead_fraction.is_some()).collect();
    if runs.is_empty() {
        return Err(Skipped { name: NAME, title: TITLE, reason: "the runs have no L0 or dead-feature metrics (only SAE sweeps do)".into() });
    }
    let ln_c: Vec<f64> = runs.iter().map(|r| r.compute.ln()).collect();
    let groups = group_by_budget(&ln_c, IsoFlopConfig::default().budget_tolerance);
    let budget_of = |members: &[usize], mean: f64| super::group_budget(&members.iter().map(|&i| runs[i]).collect::<Vec<_>>(), mean);
    let budgets: Vec<f64> = groups.iter().map(|g| budget_of(&g.1, g.0)).collect();
    let coloring = Coloring::of(&budgets, "budget C (FLOP)", 8);
    let discrete = matches!(coloring, Coloring::Groups(_));
    let mut l0_layers = Vec::new();
    let mut dead_layers = Vec::new();
    let mut near_dead_layers = Vec::new();
    for ((_, members), budget) in groups.iter().zip(&budgets) {
        let mut members: Vec<&Run> = members.iter().map(|&i| runs[i]).collect();
        members.sort_by(|a, b| a.x.total_cmp(&b.x));
        let color = coloring.color(*budget);
        let label = format!("C = {}", number(*budget, 3));
        let series = |value: &dyn Fn(&Run) -> Option<f64>| -> Vec<Datum> {
            members.iter().filter_map(|r| Some(Datum::at(r.x, value(r)?).tagged(r.id.clone()))).collect()
        };
        for (layers, points) in [
            (&mut l0_layers, series(&|r| r.l0)),
            (&mut dead_layers, series(&|r| r.dead_fraction)),
            (&mut near_dead_layers, series(&|r| r.near_dead_fraction)),
        ] {
            if points.is_empty() {
                continue;
            }
            layers.push(Layer::new(label.clone(), color, Mark::line(1.4), points.clone()).unlisted());
            let markers = Layer::new(label.clone(), color, Mark::dots(Shape::Circle, 3.4), points);
            layers.push(if discrete { markers } else { markers.unlisted() });
        }
    }
    let positive_l0 = runs.iter().filter_map(|r| r.l0).all(|v| v > 0.0);
    let max_dead = runs.iter().filter_map(|r| r.dead_fraction).fold(0.0, f64::max);
    let max_near_dead = runs.iter().filter_map(|r| r.near_dead_fraction).fold(0.0, f64::max);
    let x_axis = || Axis::log(data.vars.x.clone(), data.vars.x_column.clone());
    let mut panels = Vec::new();
    if !l0_layers.is_empty() {
        let y = if positive_l0 { Axis::log("L0 (active features per token)", "l0") } else { Axis::linear("L0 (active features per token)", "l0").including(&[0.0]) };
        panels.push(Panel { title: Some("L0".into()), x: x_axis(), y, y2: None, layers: l0_layers });
    }
    if !dead_layers.is_empty() {
        let y = Axis::linear("dead-feature fraction", "dead_fraction").including(&[0.0, (max_dead * 1.1).max(0.05)]);
        panels.push(Panel { title: Some("dead features".into()), x: x_axis(), y, y2: None, layers: dead_layers });
    }
    if !near_dead_layers.is_empty() {
        let y = Axis::linear("near-dead fraction (fires on < 1e-4 of rows)", "near_dead_fraction")
            .including(&[0.0, (max_near_dead * 1.1).max(0.05)]);
        panels.push(Panel { title: Some("near-dead features".into()), x: x_axis(), y, y2: None, layers: near_dead_layers });
    }
    if !discrete {
        if let Some(first) = panels.first_mut() {
            first.layers.push(Layer::new("runs (colour: budget)", palette::GREY, Mark::dots(Shape::Circle, 3.4), Vec::new()));
        }
    }
    Ok(Figure {
        name: NAME.into(),
        title: format!("{TITLE}: {}", data.title),
        caption: format!(
            "Held-out L0 (mean number of active features per token), the fraction of dead features (not fired within the trainer's dead window) at the end of training, and the fraction of near-dead features (firing on fewer than 1e-4 of the held-out rows, which the dead window misses when they fire now and then), against {}, one line per compute budget.",
            data.vars.x
        ),
        panels,
        colorbar: coloring.colorbar(),
        notes: if max_dead == 0.0 && runs.iter().any(|r| r.dead_fraction.is_some()) {
            vec!["No run has dead features at the end of training (all lines lie on zero).".into()]
        } else {
            Vec::new()
        },
    })
}
