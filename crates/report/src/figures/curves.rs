//! Training curves: the training loss logged by every run against the tokens it had seen,
//! coloured by the run's size. The logged loss is noisy from batch to batch, so each curve is
//! drawn (and written to the CSV) smoothed: at 100 points evenly spaced in log(tokens), the mean
//! of the logged losses over the trailing window [t/√2, t] (a constant width in log tokens, so
//! early points stay close to what was logged and late ones average over many batches).

use super::{size_coloring, size_label, Skipped};
use crate::dataset::{CurvePoint, Dataset, Run};
use crate::plot::{Axis, Datum, Figure, Layer, Mark, Panel};

const NAME: &str = "training_curves";
const TITLE: &str = "Training curves";
/// Points per drawn curve.
const POINTS: usize = 100;

/// The curve smoothed over trailing windows [t/√2, t] at `POINTS` log-spaced tokens t
/// (only where a logged point falls between the previous t and this one).
fn smoothed(curve: &[CurvePoint]) -> Vec<CurvePoint> {
    let mut sorted = curve.to_vec();
    sorted.sort_by(|a, b| a.tokens.total_cmp(&b.tokens));
    let (Some(first), Some(last)) = (sorted.first(), sorted.last()) else { return Vec::new() };
    let (lo, hi) = (first.tokens.ln(), last.tokens.ln());
    if hi <= lo {
        return sorted;
    }
    // prefix[i] = Σ loss of the first i points.
    let mut prefix = vec![0.0];
    for p in &sorted {
        prefix.push(prefix[prefix.len() - 1] + p.loss);
    }
    let index = |t: f64| sorted.partition_point(|p| p.tokens <= t * (1.0 + 1e-12));
    let mut out = Vec::new();
    let mut previous = 0;
    for k in 0..POINTS {
        let t = (lo + (hi - lo) * k as f64 / (POINTS - 1) as f64).exp();
        let end = index(t);
        if end == previous {
            continue;
        }
        previous = end;
        let start = index(t / std::f64::consts::SQRT_2).min(end - 1);
        out.push(CurvePoint { tokens: sorted[end - 1].tokens, loss: (prefix[end] - prefix[start]) / (end - start) as f64 });
    }
    out
}

pub(super) fn figure(data: &Dataset) -> Result<Figure, Skipped> {
    let runs: Vec<&Run> = data.runs.iter().filter(|r| r.curve.len() >= 2).collect();
    if runs.is_empty() {
        return Err(Skipped { name: NAME, title: TITLE, reason: "no run has a logged training curve (metrics.jsonl)".into() });
    }
    let coloring = size_coloring(data, &runs);
    // Legend entries (no data) in increasing size; then the curves, largest runs first so that
    // the short curves of small runs are drawn on top.
    let mut layers: Vec<Layer> = match &coloring {
        crate::plot::Coloring::Groups(groups) => {
            groups.iter().map(|&(x, color)| Layer::new(size_label(data, x), color, Mark::line(1.1), Vec::new())).collect()
        }
        crate::plot::Coloring::Continuous(_) => Vec::new(),
    };
    let mut order = runs.clone();
    order.sort_by(|a, b| b.x.total_cmp(&a.x).then(b.compute.total_cmp(&a.compute)));
    for r in order {
        let points = smoothed(&r.curve).into_iter().map(|p| Datum::at(p.tokens, p.loss).tagged(r.id.clone())).collect();
        layers.push(Layer::new(size_label(data, r.x), coloring.color(r.x), Mark::line(1.1), points).unlisted());
    }
    Ok(Figure {
        name: NAME.into(),
        title: format!("{TITLE}: {}", data.title),
        caption: format!(
            "Training loss (logged on training batches) against tokens seen, one line per run, coloured by {}; each curve is smoothed by the mean over the trailing window [t/√2, t] of tokens (raw values: each run's metrics.jsonl). The held-out losses in the other figures are measured after training, on a separate split.",
            data.vars.x
        ),
        panels: vec![Panel {
            title: None,
            x: Axis::log("tokens seen", "tokens"),
            y: Axis::log("training loss", "training_loss"),
            y2: None,
            layers,
        }],
        colorbar: coloring.colorbar(),
        notes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_keeps_early_points_and_averages_late_ones() {
        let curve: Vec<CurvePoint> = (1..=10_000).map(|i| CurvePoint { tokens: f64::from(i) * 256.0, loss: if i % 2 == 0 { 1.0 } else { 3.0 } }).collect();
        let smooth = smoothed(&curve);
        assert!(smooth.len() <= 100 && smooth.len() > 50, "{}", smooth.len());
        assert_eq!(smooth[0], curve[0]);
        let last = smooth.last().unwrap();
        assert_eq!(last.tokens, curve[9_999].tokens);
        assert!((last.loss - 2.0).abs() < 0.01, "{last:?}");
        assert_eq!(super::smoothed(&curve[..1]).len(), 1);
    }
}
