//! A nightly sweep's history across nights ([`History`]): each run's held-out loss and
//! throughput as a ratio to the baseline night (the tolerance drawn as a band around 1), and the
//! fitted exponents with their 95% intervals. The x axis counts nights, 1 the oldest; the
//! caption lists their dates.

use super::{size_coloring_of, Skipped};
use crate::dataset::{Dataset, History, RunHistory};
use crate::plot::palette;
use crate::plot::{number, Axis, Datum, Figure, Layer, Mark, Panel, Shape};

/// The history's figures, or why there are none.
pub(super) fn figures(data: &Dataset) -> Vec<Result<Figure, Skipped>> {
    let Some(history) = &data.history else { return Vec::new() };
    vec![
        ratio_figure(data, history, Ratio::Loss),
        ratio_figure(data, history, Ratio::Throughput),
        exponents_figure(data, history),
    ]
}

/// Which figure of a run is drawn as a ratio to its baseline night.
#[derive(Clone, Copy)]
enum Ratio {
    Loss,
    Throughput,
}

impl Ratio {
    fn name(self) -> &'static str {
        match self {
            Ratio::Loss => "history_loss",
            Ratio::Throughput => "history_throughput",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Ratio::Loss => "Held-out loss across nights",
            Ratio::Throughput => "Throughput across nights",
        }
    }

    fn values(self, run: &RunHistory) -> &[Option<f64>] {
        match self {
            Ratio::Loss => &run.loss,
            Ratio::Throughput => &run.tokens_per_s,
        }
    }

    /// The band of values that keep the tolerance, as ratios.
    fn tolerated(self, history: &History) -> (f64, f64) {
        match self {
            Ratio::Loss => (1.0 - history.loss_tolerance, 1.0 + history.loss_tolerance),
            Ratio::Throughput => (1.0 - history.throughput_drop, 1.0 + history.throughput_drop),
        }
    }
}

/// The dates of the nights, numbered as on the x axis.
fn night_list(history: &History) -> String {
    history.nights.iter().enumerate().map(|(i, n)| format!("{} = {n}", i + 1)).collect::<Vec<_>>().join(", ")
}

fn night_axis() -> Axis {
    Axis::linear("night", "night")
}

fn ratio_figure(data: &Dataset, history: &History, ratio: Ratio) -> Result<Figure, Skipped> {
    let base = history.baseline;
    let values = |run: &RunHistory| -> Vec<Datum> {
        let values = ratio.values(run);
        let Some(reference) = values.get(base).copied().flatten().filter(|v| *v > 0.0) else { return Vec::new() };
        values.iter().enumerate().filter_map(|(i, v)| v.map(|v| Datum::at((i + 1) as f64, v / reference).tagged(run.id.clone()))).collect()
    };
    let drawn: Vec<(&RunHistory, Vec<Datum>)> = history.runs.iter().map(|r| (r, values(r))).filter(|(_, d)| !d.is_empty()).collect();
    if drawn.is_empty() {
        return Err(Skipped { name: ratio.name(), title: ratio.title(), reason: format!("no run has the figure on the baseline night {}", history.nights[base]) });
    }
    let coloring = size_coloring_of(data, &drawn.iter().map(|(r, _)| r.features).collect::<Vec<_>>());
    let (lo, hi) = ratio.tolerated(history);
    let nights = history.nights.len();
    let band: Vec<Datum> = [1.0, nights.max(2) as f64].iter().map(|&x| Datum::band(x, 1.0, lo, hi)).collect();
    let mut layers = vec![Layer::new(format!("within tolerance ({}–{})", number(lo, 3), number(hi, 3)), palette::GREY, Mark::band(), band)];
    for (run, points) in drawn {
        let color = coloring.color(run.features);
        layers.push(Layer::new(format!("run {}", run.id), color, Mark::line(1.2), points.clone()).unlisted());
        layers.push(Layer::new(format!("F = {}", number(run.features, 4)), color, Mark::dots(Shape::Circle, 3.0), points));
    }
    let what = match ratio {
        Ratio::Loss => "held-out loss",
        Ratio::Throughput => "training tokens/s",
    };
    Ok(Figure {
        name: ratio.name().into(),
        title: format!("{}: {}", ratio.title(), data.title),
        caption: format!(
            "Each run's {what} divided by its value on the baseline night {} (night {}), one line per run (matched by training config), coloured by F; the grey band is the comparison's tolerance. Nights: {}.",
            history.nights[base],
            base + 1,
            night_list(history)
        ),
        panels: vec![Panel { title: None, x: night_axis(), y: Axis::linear(format!("{what} / baseline night"), "ratio").including(&[1.0]), y2: None, layers }],
        colorbar: coloring.colorbar(),
        notes: Vec::new(),
    })
}

fn exponents_figure(data: &Dataset, history: &History) -> Result<Figure, Skipped> {
    const NAME: &str = "history_exponents";
    const TITLE: &str = "Fitted exponents across nights";
    let colors = [palette::BLUE, palette::VERMILLION, palette::BLUISH_GREEN, palette::REDDISH_PURPLE];
    let mut layers = Vec::new();
    for (exponent, &color) in history.exponents.iter().zip(colors.iter().cycle()) {
        let at = |i: usize| (i + 1) as f64;
        let bands: Vec<Datum> =
            exponent.values.iter().enumerate().filter_map(|(i, v)| v.and_then(|(value, ci)| ci.map(|[lo, hi]| Datum::band(at(i), value, lo, hi)))).collect();
        let points: Vec<Datum> = exponent.values.iter().enumerate().filter_map(|(i, v)| v.map(|(value, _)| Datum::at(at(i), value))).collect();
        if points.is_empty() {
            continue;
        }
        if bands.len() >= 2 {
            layers.push(Layer::new(format!("{}, 95% CI", exponent.name), color, Mark::band(), bands).unlisted());
        }
        layers.push(Layer::new(exponent.name.clone(), color, Mark::line(1.5), points.clone()).unlisted());
        layers.push(Layer::new(exponent.name.clone(), color, Mark::dots(Shape::Diamond, 4.0), points));
    }
    if layers.is_empty() {
        return Err(Skipped { name: NAME, title: TITLE, reason: "no night has a fit".into() });
    }
    Ok(Figure {
        name: NAME.into(),
        title: format!("{TITLE}: {}", data.title),
        caption: format!(
            "The fitted law's exponents (α, β) and the allocation exponents (a, b) of each night's fit, with their 95% bootstrap intervals where the fit has them; an exponent regresses when its interval stops overlapping the baseline's. Nights: {}.",
            night_list(history)
        ),
        panels: vec![Panel { title: None, x: night_axis(), y: Axis::linear("exponent", "exponent"), y2: None, layers }],
        colorbar: None,
        notes: Vec::new(),
    })
}
