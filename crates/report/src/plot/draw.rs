//! Draws a [`Figure`] with plotters: a title, the panels side by side, and the legend (with
//! the colour bar, if any) in a column on the right, outside every panel so that it never
//! covers data.
//!
//! Log axes are drawn as linear axes over log10 of the values, with ticks and labels from
//! [`super::ticks`]; bands are clamped to the panel's range (the CSV keeps the true values).

use std::fmt::Display;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontTransform;
use plotters_backend::DrawingBackend;

use super::palette::{self, Rgb};
use super::ticks::{format_tick, linear_ticks, log_ticks, Ticks};
use super::{Axis, ColorBar, Datum, Figure, Layer, Mark, Panel, Shape, POINTS_PER_INCH};
use crate::canvas::{DrawError, Picture};
use crate::font::{self, FAMILY};

/// Text sizes and lengths, in points.
mod size {
    pub const TITLE: f64 = 17.0;
    pub const PANEL_TITLE: f64 = 15.0;
    pub const AXIS_LABEL: f64 = 15.0;
    pub const TICK: f64 = 13.5;
    pub const LEGEND: f64 = 13.5;
    pub const TITLE_BAND: f64 = 34.0;
    pub const PANEL_WIDTH: f64 = 430.0;
    pub const PANEL_HEIGHT: f64 = 350.0;
    pub const LEGEND_TEXT_MAX: f64 = 220.0;
    pub const LEGEND_SAMPLE: f64 = 28.0;
    pub const LEGEND_PAD: f64 = 12.0;
    pub const LEGEND_ROW_GAP: f64 = 5.0;
    pub const TICK_MARK: f64 = 5.0;
    pub const COLORBAR_WIDTH: f64 = 14.0;
    pub const COLORBAR_HEIGHT: f64 = 150.0;
}

fn fail(error: impl Display) -> DrawError {
    DrawError::from_display(error)
}

fn rgb(c: Rgb) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

fn text_style(points: f64, scale: f64) -> TextStyle<'static> {
    TextStyle::from((FAMILY, points * scale).into_font()).color(&BLACK)
}

/// Width of `text` at `points` in points.
fn text_width(text: &str, points: f64) -> f64 {
    font::layout(text, points).width
}

/// Height of a line of text at `points`, in points.
fn line_height(points: f64) -> f64 {
    font::layout("Hg", points).height
}

/// Breaks `text` into lines no wider than `max` points at `points`.
fn wrap(text: &str, points: f64, max: f64) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        let candidate = if current.is_empty() { word.to_string() } else { format!("{current} {word}") };
        if text_width(&candidate, points) <= max || current.is_empty() {
            current = candidate;
        } else {
            lines.push(std::mem::take(&mut current));
            current = word.to_string();
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// A legend entry: a name and the marks of every listed layer that carries it.
struct Entry {
    lines: Vec<String>,
    samples: Vec<(Mark, Rgb)>,
}

fn legend_entries(figure: &Figure) -> Vec<Entry> {
    let mut entries: Vec<(String, Vec<(Mark, Rgb)>)> = Vec::new();
    for layer in figure.panels.iter().flat_map(|p| &p.layers).filter(|l| l.legend && !l.name.is_empty()) {
        match entries.iter_mut().find(|(name, _)| *name == layer.name) {
            Some((_, samples)) => {
                if !samples.iter().any(|s| s.0 == layer.mark && s.1 == layer.color) {
                    samples.push((layer.mark, layer.color));
                }
            }
            None => entries.push((layer.name.clone(), vec![(layer.mark, layer.color)])),
        }
    }
    entries
        .into_iter()
        .map(|(name, samples)| Entry { lines: wrap(&name, size::LEGEND, size::LEGEND_TEXT_MAX), samples })
        .collect()
}

/// Width of the legend column in points (0 without a legend).
fn legend_width(figure: &Figure) -> f64 {
    let entries = legend_entries(figure);
    let mut text = entries.iter().flat_map(|e| &e.lines).map(|l| text_width(l, size::LEGEND) + size::LEGEND_SAMPLE + 8.0).fold(0.0, f64::max);
    if let Some(bar) = &figure.colorbar {
        let labels = wrap(&bar.label, size::LEGEND, size::LEGEND_TEXT_MAX);
        text = labels.iter().map(|l| text_width(l, size::LEGEND)).fold(text, f64::max);
        let ticks = colorbar_ticks(bar);
        let widest = ticks.iter().map(|(_, label)| text_width(label, size::TICK)).fold(0.0, f64::max);
        text = text.max(size::COLORBAR_WIDTH + 8.0 + widest);
    }
    if text == 0.0 {
        0.0
    } else {
        text + 2.0 * size::LEGEND_PAD
    }
}

impl Figure {
    /// Size in points (100 per inch), whole numbers so that the SVG's size is exact.
    pub fn size(&self) -> (f64, f64) {
        let panels = self.panels.len().max(1) as f64;
        ((panels * size::PANEL_WIDTH + legend_width(self)).ceil(), (size::TITLE_BAND + size::PANEL_HEIGHT).ceil())
    }

    /// Size in inches.
    pub fn inches(&self) -> (f64, f64) {
        let (w, h) = self.size();
        (w / POINTS_PER_INCH, h / POINTS_PER_INCH)
    }
}

impl Picture for Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, scale: f64) -> Result<(), DrawError> {
        root.fill(&WHITE).map_err(fail)?;
        let px = |points: f64| (points * scale).round() as i32;
        let (width, _) = self.size();
        let title = text_style(size::TITLE, scale).pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ));
        root.draw_text(&self.title, &title, (px(width / 2.0), px(size::TITLE_BAND / 2.0))).map_err(fail)?;
        let (_, body) = root.split_vertically(px(size::TITLE_BAND));
        let panels_width = self.panels.len().max(1) as f64 * size::PANEL_WIDTH;
        let (main, legend) = body.split_horizontally(px(panels_width));
        for (panel, area) in self.panels.iter().zip(main.split_evenly((1, self.panels.len().max(1)))) {
            draw_panel(&area, panel, scale)?;
        }
        draw_legend(&legend, self, scale)
    }
}

/// A value in axis space (log10 on log axes); `None` where the axis cannot show it.
fn to_axis(axis: &Axis, value: f64) -> Option<f64> {
    if !value.is_finite() {
        None
    } else if axis.log {
        (value > 0.0).then(|| value.log10())
    } else {
        Some(value)
    }
}

/// Axis-space range covering `values`, padded by 4% on each side.
fn axis_range(axis: &Axis, values: impl Iterator<Item = f64>) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in values.chain(axis.include.iter().copied()).filter_map(|v| to_axis(axis, v)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        // Nothing to show: any unit range will do (a decade on a log axis).
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        let pad = if axis.log { 0.3 } else { (lo.abs() * 0.1).max(1e-3) };
        return (lo - pad, hi + pad);
    }
    let pad = 0.04 * (hi - lo);
    (lo - pad, hi + pad)
}

fn axis_ticks(axis: &Axis, lo: f64, hi: f64) -> Ticks {
    if axis.log {
        log_ticks(lo, hi)
    } else {
        linear_ticks(lo, hi)
    }
}

fn tick_label(log: bool, v: f64) -> String {
    format_tick(if log { 10f64.powf(v) } else { v })
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &Panel, scale: f64) -> Result<(), DrawError> {
    let px = |points: f64| (points * scale).round() as i32;
    let ranging = || panel.layers.iter().filter(|l| l.bounds);
    let (x_lo, x_hi) = axis_range(&panel.x, ranging().flat_map(|l| l.data.iter().map(|d| d.x)));
    let (y_lo, y_hi) = axis_range(
        &panel.y,
        ranging().flat_map(|l| l.data.iter().flat_map(|d| [Some(d.y), d.band.map(|b| b.0), d.band.map(|b| b.1)].into_iter().flatten())),
    );
    let x_ticks = axis_ticks(&panel.x, x_lo, x_hi);
    let y_ticks = axis_ticks(&panel.y, y_lo, y_hi);
    let y_label_width = y_ticks.major.iter().map(|&v| text_width(&tick_label(panel.y.log, v), size::TICK)).fold(0.0, f64::max);
    let label_height = line_height(size::AXIS_LABEL);
    let tick_height = line_height(size::TICK);

    let y2 = panel.y2.as_ref().map(|y2| {
        let shift = |v: f64| if panel.y.log { v + y2.factor.log10() } else { v * y2.factor };
        let ticks = axis_ticks(&panel.y, shift(y_lo), shift(y_hi));
        let width = ticks.major.iter().map(|&v| text_width(&tick_label(panel.y.log, v), size::TICK)).fold(0.0, f64::max);
        (y2, ticks, width)
    });

    // The secondary labels go into the right margin (drawn by hand below): a right label area
    // would make plotters repeat the primary labels there.
    let right = y2.as_ref().map_or(14.0, |(_, _, width)| size::TICK_MARK + 4.0 + width + 8.0 + label_height + 8.0);
    let mut builder = ChartBuilder::on(area);
    builder
        .margin_top(px(8.0))
        .margin_left(px(6.0))
        .margin_right(px(right))
        .margin_bottom(px(4.0))
        .x_label_area_size(px(size::TICK_MARK + 6.0 + tick_height + 8.0 + label_height + 4.0))
        .y_label_area_size(px(size::TICK_MARK + 6.0 + y_label_width + 10.0 + label_height + 4.0));
    if let Some(title) = &panel.title {
        builder.caption(title, text_style(size::PANEL_TITLE, scale));
    }
    let mut chart = builder
        .build_cartesian_2d(Ticked { lo: x_lo, hi: x_hi, ticks: x_ticks }, Ticked { lo: y_lo, hi: y_hi, ticks: y_ticks.clone() })
        .map_err(fail)?;
    draw_mesh(&mut chart, panel, scale)?;
    let stroke = px(1.0).max(1) as u32;
    let bounds = Bounds { x: (x_lo, x_hi), y: (y_lo, y_hi) };
    for layer in &panel.layers {
        draw_layer(&mut chart, panel, layer, &bounds, scale)?;
    }
    // A frame around the plotting area.
    chart
        .plotting_area()
        .draw(&Rectangle::new([(x_lo, y_lo), (x_hi, y_hi)], BLACK.stroke_width(stroke)))
        .map_err(fail)?;

    if let Some((y2, ticks, _)) = y2 {
        draw_secondary_axis(area, &chart, panel, y2, &ticks, &bounds, scale)?;
    }
    Ok(())
}

/// The grid, the axes, their tick labels and their descriptions.
fn draw_mesh<DB: DrawingBackend>(chart: &mut Chart<'_, DB>, panel: &Panel, scale: f64) -> Result<(), DrawError> {
    let px = |points: f64| (points * scale).round() as i32;
    let (x_log, y_log) = (panel.x.log, panel.y.log);
    let x_format = move |v: &f64| tick_label(x_log, *v);
    let y_format = move |v: &f64| tick_label(y_log, *v);
    let stroke = px(1.0).max(1) as u32;
    chart
        .configure_mesh()
        .x_desc(panel.x.label.as_str())
        .y_desc(panel.y.label.as_str())
        .x_label_formatter(&x_format)
        .y_label_formatter(&y_format)
        .label_style(text_style(size::TICK, scale))
        .axis_desc_style(text_style(size::AXIS_LABEL, scale))
        .axis_style(BLACK.stroke_width(stroke))
        .bold_line_style(RGBColor(0, 0, 0).mix(0.14).stroke_width(stroke))
        .light_line_style(RGBColor(0, 0, 0).mix(0.05).stroke_width(stroke))
        .set_all_tick_mark_size(px(size::TICK_MARK))
        .draw()
        .map_err(fail)
}

/// The secondary y axis in the right margin, by hand: its ticks are the primary axis's values
/// times `y2.factor`.
fn draw_secondary_axis<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart<'_, DB>,
    panel: &Panel,
    y2: &super::Secondary,
    ticks: &Ticks,
    bounds: &Bounds,
    scale: f64,
) -> Result<(), DrawError> {
    let px = |points: f64| (points * scale).round() as i32;
    let stroke = px(1.0).max(1) as u32;
    let ((_, x_hi), (y_lo, y_hi)) = (bounds.x, bounds.y);
    let unshift = |v: f64| if panel.y.log { v - y2.factor.log10() } else { v / y2.factor };
    let base = area.get_base_pixel();
    let style = text_style(size::TICK, scale).pos(plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Left,
        plotters::style::text_anchor::VPos::Center,
    ));
    let edge = chart.backend_coord(&(x_hi, y_lo)).0 - base.0;
    for &t in ticks.major.iter().filter(|&&t| (y_lo..=y_hi).contains(&unshift(t))) {
        let (_, y) = chart.backend_coord(&(x_hi, unshift(t)));
        let y = y - base.1;
        area.draw(&PathElement::new(vec![(edge, y), (edge + px(size::TICK_MARK), y)], BLACK.stroke_width(stroke))).map_err(fail)?;
        area.draw_text(&tick_label(panel.y.log, t), &style, (edge + px(size::TICK_MARK + 4.0), y)).map_err(fail)?;
    }
    let (_, top) = chart.backend_coord(&(x_hi, y_hi));
    let (_, bottom) = chart.backend_coord(&(x_hi, y_lo));
    let widest = ticks.major.iter().map(|&v| text_width(&tick_label(panel.y.log, v), size::TICK)).fold(0.0, f64::max);
    // Rotated a quarter turn clockwise, reading top to bottom; its top edge faces the labels.
    let desc = text_style(size::AXIS_LABEL, scale)
        .transform(FontTransform::Rotate90)
        .pos(plotters::style::text_anchor::Pos::new(plotters::style::text_anchor::HPos::Center, plotters::style::text_anchor::VPos::Bottom));
    let x = edge + px(size::TICK_MARK + 4.0 + widest + 8.0);
    area.draw_text(&y2.label, &desc, (x, (top + bottom) / 2 - base.1)).map_err(fail)?;
    Ok(())
}

/// A linear axis over `lo..hi` (axis space: log10 of values on log axes) whose ticks are
/// exactly ours: `major` labelled, `minor` as light grid lines.
#[derive(Debug, Clone)]
struct Ticked {
    lo: f64,
    hi: f64,
    ticks: Ticks,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    /// Same mapping as plotters' `RangedCoordf64` (plotters 0.3.7, `coord/ranged1d/types/numeric.rs`).
    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        if self.hi == self.lo {
            return (limit.1 - limit.0) / 2;
        }
        let t = (value - self.lo) / (self.hi - self.lo);
        let length = limit.1 - limit.0;
        if length == 0 {
            return limit.1;
        }
        if length > 0 {
            limit.0 + (f64::from(length) * t + 1e-3).floor() as i32
        } else {
            limit.0 + (f64::from(length) * t - 1e-3).ceil() as i32
        }
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.ticks.minor.clone()
        } else {
            self.ticks.major.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// A panel's range in axis space.
struct Bounds {
    x: (f64, f64),
    y: (f64, f64),
}

impl Bounds {
    fn contains(&self, p: (f64, f64)) -> bool {
        p.0 >= self.x.0 && p.0 <= self.x.1 && p.1 >= self.y.0 && p.1 <= self.y.1
    }

    /// The part of segment `a`–`b` inside the range (Liang–Barsky), if any.
    fn clip(&self, a: (f64, f64), b: (f64, f64)) -> Option<((f64, f64), (f64, f64))> {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        for (p, q) in [(-dx, a.0 - self.x.0), (dx, self.x.1 - a.0), (-dy, a.1 - self.y.0), (dy, self.y.1 - a.1)] {
            if p == 0.0 {
                if q < 0.0 {
                    return None;
                }
            } else {
                let t = q / p;
                if p < 0.0 {
                    t0 = t0.max(t);
                } else {
                    t1 = t1.min(t);
                }
            }
        }
        (t0 <= t1).then(|| ((a.0 + t0 * dx, a.1 + t0 * dy), (a.0 + t1 * dx, a.1 + t1 * dy)))
    }

    /// A polyline cut into the pieces that lie inside the range.
    fn clip_polyline(&self, points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
        let mut pieces: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut current: Vec<(f64, f64)> = Vec::new();
        for pair in points.windows(2) {
            match self.clip(pair[0], pair[1]) {
                Some((a, b)) => {
                    if current.last() != Some(&a) {
                        if current.len() >= 2 {
                            pieces.push(std::mem::take(&mut current));
                        }
                        current = vec![a];
                    }
                    current.push(b);
                    if !self.contains(pair[1]) {
                        pieces.push(std::mem::take(&mut current));
                    }
                }
                None => {
                    if current.len() >= 2 {
                        pieces.push(std::mem::take(&mut current));
                    }
                    current.clear();
                }
            }
        }
        if current.len() >= 2 {
            pieces.push(current);
        }
        pieces
    }
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<Ticked, Ticked>>;

fn draw_layer<DB: DrawingBackend>(chart: &mut Chart<'_, DB>, panel: &Panel, layer: &Layer, bounds: &Bounds, scale: f64) -> Result<(), DrawError> {
    let point = |d: &Datum| Some((to_axis(&panel.x, d.x)?, to_axis(&panel.y, d.y)?));
    let color = rgb(layer.color);
    match layer.mark {
        Mark::Band { opacity } => {
            let clamp = |v: f64| to_axis(&panel.y, v).map(|v| v.clamp(bounds.y.0, bounds.y.1));
            let pts: Vec<(f64, f64, f64)> = layer
                .data
                .iter()
                .filter_map(|d| {
                    let (lo, hi) = d.band?;
                    Some((to_axis(&panel.x, d.x)?, clamp(lo)?, clamp(hi)?))
                })
                .collect();
            if pts.len() < 2 {
                return Ok(());
            }
            let mut outline: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.2)).collect();
            outline.extend(pts.iter().rev().map(|p| (p.0, p.1)));
            chart.draw_series(std::iter::once(Polygon::new(outline, color.mix(opacity).filled()))).map_err(fail)?;
        }
        Mark::Line { width, dashed } => {
            let style = ShapeStyle { color: color.to_rgba(), filled: false, stroke_width: ((width * scale).round() as u32).max(1) };
            // Break the line where a point cannot be shown (e.g. ≤ 0 on a log axis).
            let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
            for d in &layer.data {
                match point(d) {
                    Some(p) => runs.last_mut().map_or((), |r| r.push(p)),
                    None => runs.push(Vec::new()),
                }
            }
            for run in runs.iter().flat_map(|r| bounds.clip_polyline(r)) {
                if dashed {
                    let dash = ((5.0 * scale).round() as u32).max(2);
                    let gap = ((3.5 * scale).round() as u32).max(2);
                    chart.draw_series(DashedLineSeries::new(run, dash, gap, style)).map_err(fail)?;
                } else {
                    chart.draw_series(LineSeries::new(run, style)).map_err(fail)?;
                }
            }
        }
        Mark::Markers { shape, filled, size } => {
            let r = ((size * scale).round() as i32).max(2);
            let stroke = ((1.1 * scale).round() as u32).max(1);
            for d in &layer.data {
                let Some(at) = point(d).filter(|&p| bounds.contains(p)) else { continue };
                let c = rgb(d.color.unwrap_or(layer.color));
                draw_marker(chart.plotting_area(), at, shape, filled, r, c, stroke)?;
            }
        }
    }
    Ok(())
}

/// Corner offsets of a polygonal marker of radius `r`.
fn outline_of(shape: Shape, r: i32) -> Vec<(i32, i32)> {
    match shape {
        Shape::Square => {
            let s = (f64::from(r) * 0.85).round() as i32;
            vec![(-s, -s), (s, -s), (s, s), (-s, s)]
        }
        Shape::Triangle => {
            let h = (f64::from(r) * 1.15).round() as i32;
            vec![(0, -h), (h, (f64::from(h) * 0.75) as i32), (-h, (f64::from(h) * 0.75) as i32)]
        }
        Shape::Diamond => {
            let d = (f64::from(r) * 1.25).round() as i32;
            vec![(0, -d), (d, 0), (0, d), (-d, 0)]
        }
        Shape::Circle => Vec::new(),
    }
}

/// A marker at `at` on any drawing area whose coordinates `C` it understands.
fn draw_marker<DB: DrawingBackend, C: Clone, CT: plotters::coord::CoordTranslate<From = C>>(
    area: &DrawingArea<DB, CT>,
    at: C,
    shape: Shape,
    filled: bool,
    r: i32,
    color: RGBColor,
    stroke: u32,
) -> Result<(), DrawError> {
    let fill = if filled { color.filled() } else { WHITE.filled() };
    let line = color.stroke_width(stroke);
    match shape {
        Shape::Circle => {
            let element = EmptyElement::at(at) + Circle::new((0, 0), r, fill) + Circle::new((0, 0), r, line);
            area.draw(&element).map_err(fail)
        }
        other => {
            let corners = outline_of(other, r);
            let mut closed = corners.clone();
            closed.push(corners[0]);
            let element = EmptyElement::at(at) + Polygon::new(corners, fill) + PathElement::new(closed, line);
            area.draw(&element).map_err(fail)
        }
    }
}

fn draw_sample<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, mark: Mark, color: Rgb, x: i32, y: i32, scale: f64) -> Result<(), DrawError> {
    let px = |points: f64| (points * scale).round() as i32;
    let w = px(size::LEGEND_SAMPLE);
    let c = rgb(color);
    match mark {
        Mark::Band { opacity } => area
            .draw(&Rectangle::new([(x, y - px(5.5)), (x + w, y + px(5.5))], c.mix(opacity).filled()))
            .map_err(fail),
        Mark::Line { width, dashed } => {
            let style = ShapeStyle { color: c.to_rgba(), filled: false, stroke_width: ((width * scale).round() as u32).max(1) };
            if dashed {
                let (dash, gap) = (px(5.0).max(2), px(3.5).max(2));
                let mut x0 = x;
                while x0 < x + w {
                    area.draw(&PathElement::new(vec![(x0, y), ((x0 + dash).min(x + w), y)], style)).map_err(fail)?;
                    x0 += dash + gap;
                }
                Ok(())
            } else {
                area.draw(&PathElement::new(vec![(x, y), (x + w, y)], style)).map_err(fail)
            }
        }
        Mark::Markers { shape, filled, size } => {
            draw_marker(area, (x + w / 2, y), shape, filled, ((size * scale).round() as i32).max(2), c, ((1.1 * scale).round() as u32).max(1))
        }
    }
}

fn colorbar_ticks(bar: &ColorBar) -> Vec<(f64, String)> {
    let (lo, hi) = bar.range;
    let ticks = if bar.log { log_ticks(lo.log10(), hi.log10()) } else { linear_ticks(lo, hi) };
    ticks
        .major
        .iter()
        .map(|&t| if bar.log { 10f64.powf(t) } else { t })
        .map(|v| (v, format_tick(v)))
        .collect()
}

fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, figure: &Figure, scale: f64) -> Result<(), DrawError> {
    let px = |points: f64| (points * scale).round() as i32;
    let style = text_style(size::LEGEND, scale).pos(plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Left,
        plotters::style::text_anchor::VPos::Center,
    ));
    let row = line_height(size::LEGEND) + 2.0;
    let x = size::LEGEND_PAD;
    let mut y = 20.0;
    for entry in legend_entries(figure) {
        let height = row * entry.lines.len() as f64;
        for (mark, color) in &entry.samples {
            draw_sample(area, *mark, *color, px(x), px(y + row / 2.0), scale)?;
        }
        for (i, line) in entry.lines.iter().enumerate() {
            area.draw_text(line, &style, (px(x + size::LEGEND_SAMPLE + 8.0), px(y + row * (i as f64 + 0.5)))).map_err(fail)?;
        }
        y += height + size::LEGEND_ROW_GAP;
    }
    let Some(bar) = &figure.colorbar else { return Ok(()) };
    y += 10.0;
    for line in wrap(&bar.label, size::LEGEND, size::LEGEND_TEXT_MAX) {
        area.draw_text(&line, &style, (px(x), px(y + row / 2.0))).map_err(fail)?;
        y += row;
    }
    y += 6.0;
    let (top, height) = (y, size::COLORBAR_HEIGHT);
    let steps = 60;
    for i in 0..steps {
        // Top of the bar is the high end.
        let t = 1.0 - (f64::from(i) + 0.5) / f64::from(steps);
        let y0 = top + height * f64::from(i) / f64::from(steps);
        let y1 = top + height * f64::from(i + 1) / f64::from(steps);
        let color = rgb(palette::viridis(palette::VIRIDIS_MAX * t));
        area.draw(&Rectangle::new([(px(x), px(y0)), (px(x + size::COLORBAR_WIDTH), px(y1) + 1)], color.filled())).map_err(fail)?;
    }
    let stroke = px(1.0).max(1) as u32;
    area.draw(&Rectangle::new([(px(x), px(top)), (px(x + size::COLORBAR_WIDTH), px(top + height))], BLACK.stroke_width(stroke))).map_err(fail)?;
    let tick_style = text_style(size::TICK, scale).pos(plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Left,
        plotters::style::text_anchor::VPos::Center,
    ));
    for (value, label) in colorbar_ticks(bar) {
        let ty = top + height * (1.0 - bar.position(value));
        let x1 = x + size::COLORBAR_WIDTH;
        area.draw(&PathElement::new(vec![(px(x1), px(ty)), (px(x1 + 4.0), px(ty))], BLACK.stroke_width(stroke))).map_err(fail)?;
        area.draw_text(&label, &tick_style, (px(x1 + 7.0), px(ty))).map_err(fail)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_respects_the_width() {
        let lines = wrap("fitted F*(C) = G (C/kappa)^a with a = 0.523 [0.49, 0.55]", size::LEGEND, 120.0);
        assert!(lines.len() >= 3, "{lines:?}");
        assert!(lines.iter().all(|l| text_width(l, size::LEGEND) <= 120.0 || !l.contains(' ')));
        assert_eq!(lines.join(" "), "fitted F*(C) = G (C/kappa)^a with a = 0.523 [0.49, 0.55]");
    }

    #[test]
    fn polylines_are_clipped_to_the_range() {
        let b = Bounds { x: (0.0, 10.0), y: (0.0, 10.0) };
        assert_eq!(b.clip((-5.0, 5.0), (5.0, 5.0)), Some(((0.0, 5.0), (5.0, 5.0))));
        assert_eq!(b.clip((-5.0, -5.0), (-1.0, 20.0)), None);
        // In, out through the top, back in: two pieces.
        let pieces = b.clip_polyline(&[(1.0, 1.0), (2.0, 20.0), (3.0, 1.0), (4.0, 2.0)]);
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0][0], (1.0, 1.0));
        assert!((pieces[0][1].1 - 10.0).abs() < 1e-12);
        assert_eq!(pieces[1].last(), Some(&(4.0, 2.0)));
        assert_eq!(b.clip_polyline(&[(1.0, 1.0), (2.0, 2.0), (3.0, 3.0)]), vec![vec![(1.0, 1.0), (2.0, 2.0), (3.0, 3.0)]]);
    }

    #[test]
    fn ranges_pad_and_skip_what_the_axis_cannot_show() {
        let axis = Axis::log("x", "x");
        let (lo, hi) = axis_range(&axis, [0.0, 10.0, 1000.0, f64::NAN].into_iter());
        assert!((lo - (1.0 - 0.08)).abs() < 1e-12 && (hi - (3.0 + 0.08)).abs() < 1e-12);
        let fraction = Axis::linear("dead", "dead").including(&[0.0]);
        let (lo, _) = axis_range(&fraction, [0.5, 0.6].into_iter());
        assert!(lo < 0.0);
    }
}
