//! Sparsity against size: the held-out L0 (active features per token), the fraction of dead
//! features at the end of training and the fraction of near-dead ones (firing on fewer than
//! 1e-4 of the held-out rows), against F, one line per compute budget (and per sparsity value
//! in a sparsity sweep).

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
        // A sparsity sweep has one run per (F, k or λ) at each budget: one line per sparsity
        // value, so that no line zigzags between sparsities.
        let mut sparsities: Vec<(Option<usize>, Option<u64>)> = members.iter().map(|r| sparsity_key(r)).collect();
        sparsities.sort();
        sparsities.dedup();
        let series = |runs: &[&Run], value: &dyn Fn(&Run) -> Option<f64>| -> Vec<Datum> {
            runs.iter().filter_map(|r| Some(Datum::at(r.x, value(r)?).tagged(r.id.clone()))).collect()
        };
        let values: [(&mut Vec<Layer>, &dyn Fn(&Run) -> Option<f64>); 3] = [
            (&mut l0_layers, &|r| r.l0),
            (&mut dead_layers, &|r| r.dead_fraction),
            (&mut near_dead_layers, &|r| r.near_dead_fraction),
        ];
        for (layers, value) in values {
            let points = series(&members, value);
            if points.is_empty() {
                continue;
            }
            for sparsity in &sparsities {
                let line: Vec<&Run> = members.iter().copied().filter(|r| sparsity_key(r) == *sparsity).collect();
                layers.push(Layer::new(label.clone(), color, Mark::line(1.4), series(&line, value)).unlisted());
            }
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
            "Held-out L0 (mean number of active features per token), the fraction of dead features (not fired within the trainer's dead window) at the end of training, and the fraction of near-dead features (firing on fewer than 1e-4 of the held-out rows, which the dead window misses when they fire now and then), against {}, one line per compute budget (and per k or penalty coefficient in a sparsity sweep).",
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

/// The sparsity a run was trained at, comparable for grouping: its k and the bits of its
/// penalty coefficient.
fn sparsity_key(run: &Run) -> (Option<usize>, Option<u64>) {
    (run.k, run.penalty_coefficient.map(f64::to_bits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Variables;
    use crate::plot::Mark;

    /// A jumprelu run at F `features`, penalty λ `lambda`, with L0 falling as λ rises.
    fn run(id: usize, features: f64, lambda: f64) -> Run {
        Run {
            compute: 1e10,
            budget: Some(1e10),
            loss: Some(0.1),
            l0: Some(0.1 / lambda),
            dead_fraction: Some(0.0),
            penalty_coefficient: Some(lambda),
            ..Run::done_for_tests(format!("r{id}"), features)
        }
    }

    #[test]
    fn a_sparsity_sweep_gets_one_line_per_penalty_at_each_budget() {
        let runs = vec![run(0, 64.0, 1e-3), run(1, 64.0, 1e-2), run(2, 128.0, 1e-3), run(3, 128.0, 1e-2)];
        let vars = Variables::sweep(256, 12.0 * 32.0 * 256.0);
        let data = Dataset { title: "t".into(), description: None, input: String::new(), spec: None, vars, runs, fit: None, table: None, notes: Vec::new(), history: None };
        let figure = figure(&data).unwrap();
        let lines: Vec<Vec<&str>> = figure.panels[0]
            .layers
            .iter()
            .filter(|l| matches!(l.mark, Mark::Line { .. }))
            .map(|l| l.data.iter().map(|p| p.tag.as_deref().unwrap()).collect())
            .collect();
        // Sorted by λ's bits: 1e-3 before 1e-2; each line joins the two sizes at one λ.
        assert_eq!(lines, [vec!["r0", "r2"], vec!["r1", "r3"]]);
    }
}
