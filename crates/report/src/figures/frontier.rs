//! The sparsity axis of a sweep with several k (topk, batchtopk) or λ (relu's L1, jumprelu's
//! L0 coefficient): held-out loss
//! against k at each F (k sweeps), and the sparsity–fidelity frontier, held-out FVU against
//! held-out L0, one curve per F (both). Each (F, k or λ) is drawn by its longest-trained run
//! (the largest budget's, or the most steps of a grid), the runs L(n, k) is fitted to
//! (saescale-pipeline's sparsity module).

use std::collections::BTreeMap;

use super::Skipped;
use crate::dataset::{Dataset, Run};
use crate::plot::palette;
use crate::plot::{number, Axis, Coloring, Datum, Figure, Layer, Mark, Panel, Shape};

const NAME: &str = "sparsity_frontier";
const TITLE: &str = "The sparsity–fidelity frontier";

/// A run's sparsity setting: k, else λ.
fn sparsity(run: &Run) -> Option<f64> {
    run.k.map(|k| k as f64).or(run.penalty_coefficient)
}

/// Whether the measured runs have more than one sparsity setting.
pub(super) fn varies_sparsity(data: &Dataset) -> bool {
    let mut values: Vec<f64> = data.measured().filter_map(sparsity).collect();
    values.sort_by(f64::total_cmp);
    values.dedup();
    values.len() > 1
}

pub(super) fn figure(data: &Dataset) -> Result<Figure, Skipped> {
    let longest = longest_per_size_and_sparsity(data);
    if !varies_sparsity(data) {
        return Err(Skipped {
            name: NAME,
            title: TITLE,
            reason: "the runs do not vary their sparsity (a sweep with `[sweep] k`, `l1_coefficients` or `l0_coefficients` does)".into(),
        });
    }
    let by_k = longest.values().all(|r| r.k.is_some());
    // One curve per feature count, ordered by the sparsity setting.
    let mut by_size: BTreeMap<u64, Vec<&Run>> = BTreeMap::new();
    for (&(size, _), &run) in &longest {
        by_size.entry(size).or_default().push(run);
    }
    let sizes: Vec<f64> = by_size.values().map(|runs| runs[0].x).collect();
    let coloring = Coloring::of(&sizes, &data.vars.x, 8);
    let discrete = matches!(coloring, Coloring::Groups(_));
    let (mut loss_layers, mut frontier_layers) = (Vec::new(), Vec::new());
    for runs in by_size.values() {
        let size = runs[0].x;
        let (color, label) = (coloring.color(size), format!("F = {}", number(size, 3)));
        let loss_vs_k: Vec<Datum> =
            runs.iter().filter(|_| by_k).filter_map(|r| Some(Datum::at(r.k? as f64, r.loss?).tagged(r.id.clone()))).collect();
        let mut frontier: Vec<Datum> = runs.iter().filter_map(|r| Some(Datum::at(r.l0?, r.fvu?).tagged(r.id.clone()))).collect();
        frontier.sort_by(|a, b| a.x.total_cmp(&b.x));
        for (layers, points) in [(&mut loss_layers, loss_vs_k), (&mut frontier_layers, frontier)] {
            if points.is_empty() {
                continue;
            }
            layers.push(Layer::new(label.clone(), color, Mark::line(1.4), points.clone()).unlisted());
            let markers = Layer::new(label.clone(), color, Mark::dots(Shape::Circle, 3.4), points);
            layers.push(if discrete { markers } else { markers.unlisted() });
        }
    }
    let mut panels = Vec::new();
    if !loss_layers.is_empty() {
        panels.push(Panel {
            title: Some("held-out loss against k".into()),
            x: Axis::log("k (active latents per token)", "k"),
            y: Axis::log("held-out loss", "loss"),
            y2: None,
            layers: loss_layers,
        });
    }
    if !frontier_layers.is_empty() {
        panels.push(Panel {
            title: Some("sparsity–fidelity frontier".into()),
            x: Axis::log("held-out L0 (active latents per token)", "l0"),
            y: Axis::log("held-out FVU", "fvu"),
            y2: None,
            layers: frontier_layers,
        });
    }
    let Some(first) = panels.first_mut() else {
        return Err(Skipped { name: NAME, title: TITLE, reason: "the runs have no held-out loss, L0 or FVU".into() });
    };
    if !discrete {
        first.layers.push(Layer::new("runs (colour: F)", palette::GREY, Mark::dots(Shape::Circle, 3.4), Vec::new()));
    }
    Ok(Figure {
        name: NAME.into(),
        title: format!("{TITLE}: {}", data.title),
        caption: format!(
            "{}Held-out FVU against held-out L0, one curve per F: lower and to the left is a better trade of sparsity for fidelity. Each (F, {}) is its longest-trained run{}.",
            if by_k { format!("Left: the held-out loss of each k at fixed {}, one line per F. Right: ", data.vars.x) } else { String::new() },
            if by_k { "k" } else { "λ" },
            if by_k { ", the runs Gao et al.'s L(n, k) is fitted to (sparsity-fit.json)" } else { "" },
        ),
        panels,
        colorbar: coloring.colorbar(),
        notes: Vec::new(),
    })
}

/// For each (F, k or λ) of the measured runs, the run with the most steps (the first of
/// equals, e.g. of several seeds). Keys are the values' bits, which order positive numbers.
fn longest_per_size_and_sparsity(data: &Dataset) -> BTreeMap<(u64, u64), &Run> {
    let mut longest: BTreeMap<(u64, u64), &Run> = BTreeMap::new();
    for run in data.measured() {
        let Some(value) = sparsity(run) else { continue };
        longest.entry((run.x.to_bits(), value.to_bits())).and_modify(|best| if run.y > best.y { *best = run }).or_insert(run);
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Variables;

    fn run(id: usize, features: f64, k: Option<usize>, steps: f64, loss: f64) -> Run {
        Run {
            y: steps,
            compute: 12.0 * 64.0 * 256.0 * features * steps,
            loss: Some(loss),
            l0: k.map(|k| k as f64 * 0.98),
            k,
            fvu: Some(loss),
            ..Run::done_for_tests(format!("r{id}"), features)
        }
    }

    fn dataset(runs: Vec<Run>) -> Dataset {
        let vars = Variables::sweep(256, 12.0 * 64.0 * 256.0);
        Dataset { title: "t".into(), description: None, input: String::new(), spec: None, vars, runs, fit: None, table: None, notes: Vec::new(), history: None }
    }

    #[test]
    fn each_size_and_k_is_drawn_by_its_longest_run_one_curve_per_size() {
        let mut runs = Vec::new();
        for (i, (f, k, steps)) in [(128.0, 8, 100.0), (128.0, 8, 400.0), (128.0, 32, 400.0), (256.0, 8, 200.0), (256.0, 32, 200.0)].into_iter().enumerate() {
            runs.push(run(i, f, Some(k), steps, 1.0 / (steps * k as f64).sqrt()));
        }
        let figure = figure(&dataset(runs)).unwrap();
        let loss_panel = &figure.panels[0];
        let markers: Vec<&Layer> = loss_panel.layers.iter().filter(|l| !l.data.is_empty() && matches!(l.mark, Mark::Markers { .. })).collect();
        assert_eq!(markers.len(), 2, "one curve per F");
        let ids: Vec<Vec<&str>> = markers.iter().map(|l| l.data.iter().map(|p| p.tag.as_deref().unwrap()).collect()).collect();
        assert_eq!(ids, [vec!["r1", "r2"], vec!["r3", "r4"]], "the 400-step run stands for F = 128, k = 8");
        assert_eq!(figure.panels[1].x.column, "l0");
    }

    #[test]
    fn a_relu_sweep_over_lambda_gets_the_frontier_alone() {
        let runs: Vec<Run> = [1.0, 5.0, 20.0]
            .into_iter()
            .enumerate()
            .map(|(i, lambda)| Run { penalty_coefficient: Some(lambda), l0: Some(40.0 / lambda), ..run(i, 128.0, None, 100.0, 0.1 * lambda.sqrt()) })
            .collect();
        let figure = figure(&dataset(runs)).unwrap();
        assert_eq!(figure.panels.len(), 1);
        assert_eq!((figure.panels[0].x.column.as_str(), figure.panels[0].y.column.as_str()), ("l0", "fvu"));
    }

    #[test]
    fn a_sweep_at_one_sparsity_has_no_frontier() {
        let data = dataset(vec![run(0, 128.0, Some(8), 100.0, 0.5), run(1, 256.0, Some(8), 100.0, 0.4), run(2, 512.0, None, 100.0, 0.3)]);
        assert!(!varies_sparsity(&data));
        assert!(figure(&data).unwrap_err().reason.contains("do not vary their sparsity"));
        assert!(super::super::all(&data).iter().all(|f| f.as_ref().map_or_else(|s| s.name, |f| f.name.as_str()) != NAME));
    }
}
