//! Figures as data: a [`Figure`] is panels of layers of points, built by [`crate::figures`]
//! from the sweep and the fit, then drawn by [`draw`] (plotters, via [`crate::canvas`]) and
//! written as CSV by [`csv`] from the very same numbers, so the CSV next to a figure is exactly
//! what it shows.
//!
//! Lengths are in points of a 100-per-inch grid: a figure of 640 × 400 points is 6.4 × 4 inches,
//! drawn as 640 × 400 SVG user units or `6.4·dpi × 4·dpi` PNG pixels.

pub mod csv;
pub mod draw;
pub mod palette;
pub mod ticks;

use palette::Rgb;

/// Points per inch of the layout grid.
pub const POINTS_PER_INCH: f64 = 100.0;

/// A figure: a title, one or more panels side by side, and a legend on the right.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// File stem of its SVG, PNG and CSV.
    pub name: String,
    /// Title drawn above the panels.
    pub title: String,
    /// What it shows, for the HTML page.
    pub caption: String,
    /// Panels, left to right.
    pub panels: Vec<Panel>,
    /// A colour scale shown under the legend, for layers coloured point by point.
    pub colorbar: Option<ColorBar>,
    /// Remarks shown under the figure in the HTML page (e.g. budgets left out).
    pub notes: Vec<String>,
}

/// One set of axes.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Title above the panel (multi-panel figures).
    pub title: Option<String>,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    /// A second labelling of the vertical axis on the right: `value × factor`.
    pub y2: Option<Secondary>,
    /// What is drawn, in drawing order.
    pub layers: Vec<Layer>,
}

/// An axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Label with unit, e.g. `compute C (FLOP)`.
    pub label: String,
    /// Column name in the figure's CSV, e.g. `compute_flop`.
    pub column: String,
    /// Logarithmic scale.
    pub log: bool,
    /// Values the range must include (e.g. 0 for a fraction).
    pub include: Vec<f64>,
}

impl Axis {
    /// A log axis.
    pub fn log(label: impl Into<String>, column: impl Into<String>) -> Axis {
        Axis { label: label.into(), column: column.into(), log: true, include: Vec::new() }
    }

    /// A linear axis.
    pub fn linear(label: impl Into<String>, column: impl Into<String>) -> Axis {
        Axis { label: label.into(), column: column.into(), log: false, include: Vec::new() }
    }

    /// The same axis, its range also covering `values`.
    pub fn including(mut self, values: &[f64]) -> Axis {
        self.include.extend_from_slice(values);
        self
    }
}

/// A second labelling of a panel's vertical axis (e.g. tokens = steps × batch).
#[derive(Debug, Clone, PartialEq)]
pub struct Secondary {
    /// Label with unit.
    pub label: String,
    /// CSV column.
    pub column: String,
    /// Secondary value = primary value × factor.
    pub factor: f64,
}

/// A series: points drawn one way, in one colour, with one legend entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Legend label and CSV `series` value.
    pub name: String,
    /// Whether it appears in the legend (once per name across panels).
    pub legend: bool,
    /// Whether its points set the axis ranges; overlays (e.g. interpolating curves) do not,
    /// and are clipped to the range the other layers set.
    pub bounds: bool,
    /// Colour (unless a point has its own).
    pub color: Rgb,
    /// How the points are drawn.
    pub mark: Mark,
    /// The points, in drawing order.
    pub data: Vec<Datum>,
}

impl Layer {
    /// A layer shown in the legend.
    pub fn new(name: impl Into<String>, color: Rgb, mark: Mark, data: Vec<Datum>) -> Layer {
        Layer { name: name.into(), legend: true, bounds: true, color, mark, data }
    }

    /// The same layer as an overlay: clipped to the axes, not widening them.
    pub fn overlay(mut self) -> Layer {
        self.bounds = false;
        self
    }

    /// The same layer, left out of the legend.
    pub fn unlisted(mut self) -> Layer {
        self.legend = false;
        self
    }
}

/// One point.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    /// Horizontal value.
    pub x: f64,
    /// Vertical value.
    pub y: f64,
    /// Lower and upper end of an interval (bands).
    pub band: Option<(f64, f64)>,
    /// Colour of this point, overriding the layer's (continuous colour scales).
    pub color: Option<Rgb>,
    /// What the point is (a run id, a budget), for the CSV.
    pub tag: Option<String>,
}

impl Datum {
    /// A plain point.
    pub fn at(x: f64, y: f64) -> Datum {
        Datum { x, y, band: None, color: None, tag: None }
    }

    /// A point of a band.
    pub fn band(x: f64, y: f64, lo: f64, hi: f64) -> Datum {
        Datum { band: Some((lo, hi)), ..Datum::at(x, y) }
    }

    /// The same point with a tag.
    pub fn tagged(mut self, tag: impl Into<String>) -> Datum {
        self.tag = Some(tag.into());
        self
    }

    /// The same point with its own colour.
    pub fn colored(mut self, color: Rgb) -> Datum {
        self.color = Some(color);
        self
    }
}

/// Marker shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// ●
    Circle,
    /// ■
    Square,
    /// ▲
    Triangle,
    /// ◆
    Diamond,
}

/// How a layer is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mark {
    /// A polyline through the points, in order.
    Line {
        /// Width in points.
        width: f64,
        /// Dashed.
        dashed: bool,
    },
    /// A marker at each point.
    Markers {
        /// Shape.
        shape: Shape,
        /// Filled, or an outline on white.
        filled: bool,
        /// Radius in points.
        size: f64,
    },
    /// The area between each point's band ends, shaded.
    Band {
        /// Fill opacity.
        opacity: f64,
    },
}

impl Mark {
    /// A solid line of `width` points.
    pub fn line(width: f64) -> Mark {
        Mark::Line { width, dashed: false }
    }

    /// A dashed line of `width` points.
    pub fn dashed(width: f64) -> Mark {
        Mark::Line { width, dashed: true }
    }

    /// Filled markers.
    pub fn dots(shape: Shape, size: f64) -> Mark {
        Mark::Markers { shape, filled: true, size }
    }

    /// Outlined markers.
    pub fn rings(shape: Shape, size: f64) -> Mark {
        Mark::Markers { shape, filled: false, size }
    }

    /// A shaded band.
    pub fn band() -> Mark {
        Mark::Band { opacity: 0.22 }
    }
}

/// A continuous colour scale (viridis) shown as a bar next to the legend.
#[derive(Debug, Clone, PartialEq)]
pub struct ColorBar {
    /// Label with unit.
    pub label: String,
    /// Smallest and largest value.
    pub range: (f64, f64),
    /// Logarithmic.
    pub log: bool,
}

impl ColorBar {
    /// Position of `value` on the scale, 0 to 1.
    pub fn position(&self, value: f64) -> f64 {
        let (lo, hi) = self.range;
        let t = if self.log { (value.ln() - lo.ln()) / (hi.ln() - lo.ln()) } else { (value - lo) / (hi - lo) };
        if t.is_finite() {
            t.clamp(0.0, 1.0)
        } else {
            0.5
        }
    }

    /// The colour of `value`.
    pub fn color(&self, value: f64) -> Rgb {
        palette::viridis(palette::VIRIDIS_MAX * self.position(value))
    }
}

/// Colours for a grouping variable: distinct viridis colours for up to `max_groups` values,
/// else a continuous scale with a colour bar.
#[derive(Debug, Clone, PartialEq)]
pub enum Coloring {
    /// One colour per distinct value (sorted ascending).
    Groups(Vec<(f64, Rgb)>),
    /// A continuous scale.
    Continuous(ColorBar),
}

impl Coloring {
    /// Chooses a colouring for `values` (log scale when all are positive).
    pub fn of(values: &[f64], label: &str, max_groups: usize) -> Coloring {
        let mut distinct: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup_by(|a, b| (*a - *b).abs() <= 1e-9 * b.abs().max(1e-300));
        if distinct.len() <= max_groups {
            let n = distinct.len();
            return Coloring::Groups(distinct.into_iter().enumerate().map(|(i, v)| (v, palette::ordered(i, n))).collect());
        }
        let lo = distinct.first().copied().unwrap_or(1.0);
        let hi = distinct.last().copied().unwrap_or(1.0);
        Coloring::Continuous(ColorBar { label: label.into(), range: (lo, hi), log: lo > 0.0 })
    }

    /// The colour of `value`.
    pub fn color(&self, value: f64) -> Rgb {
        match self {
            Coloring::Groups(groups) => groups
                .iter()
                .min_by(|a, b| (a.0 - value).abs().total_cmp(&(b.0 - value).abs()))
                .map_or(palette::BLACK, |g| g.1),
            Coloring::Continuous(bar) => bar.color(value),
        }
    }

    /// The colour bar, for a continuous scale.
    pub fn colorbar(&self) -> Option<ColorBar> {
        match self {
            Coloring::Continuous(bar) => Some(bar.clone()),
            Coloring::Groups(_) => None,
        }
    }
}

/// A number with at most `digits` significant digits for legends and captions, trailing
/// zeros dropped (`0.523`, `128`, `1.2e18`, `1e11`).
pub fn number(value: f64, digits: usize) -> String {
    let text = number_padded(value, digits);
    match text.split_once('e') {
        Some((mantissa, exponent)) => format!("{}e{exponent}", trim_zeros(mantissa)),
        None => trim_zeros(&text),
    }
}

fn trim_zeros(text: &str) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text.to_string()
    }
}

fn number_padded(value: f64, digits: usize) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let exponent = value.abs().log10().floor() as i32;
    if !(-3..5).contains(&exponent) {
        let mantissa = value / 10f64.powi(exponent);
        let text = format!("{:.*}", digits.saturating_sub(1), mantissa);
        // Rounding may carry into the next power of ten (9.99 → 10.0).
        if text.trim_start_matches('-').starts_with("10") {
            return format!("{:.*}e{}", digits.saturating_sub(1), mantissa / 10.0, exponent + 1);
        }
        return format!("{text}e{exponent}");
    }
    let decimals = (digits as i32 - 1 - exponent).max(0) as usize;
    format!("{value:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_values_get_groups_many_get_a_scale() {
        match Coloring::of(&[128.0, 256.0, 128.0, 512.0], "F", 8) {
            Coloring::Groups(g) => assert_eq!(g.iter().map(|x| x.0).collect::<Vec<_>>(), vec![128.0, 256.0, 512.0]),
            other => panic!("{other:?}"),
        }
        let many: Vec<f64> = (1..50).map(|i| 1e6 * f64::from(i)).collect();
        let coloring = Coloring::of(&many, "N", 8);
        let bar = coloring.colorbar().unwrap();
        assert!(bar.log && bar.range == (1e6, 4.9e7));
        assert_eq!(bar.position(1e6), 0.0);
        assert_eq!(bar.position(4.9e7), 1.0);
    }

    #[test]
    fn numbers_keep_significant_digits() {
        assert_eq!(number(0.52345, 3), "0.523");
        assert_eq!(number(1.234e18, 3), "1.23e18");
        assert_eq!(number(9.996e18, 3), "1e19");
        assert_eq!(number(128.0, 4), "128");
        assert_eq!(number(1.0e11, 3), "1e11");
        assert_eq!(number(406.4, 4), "406.4");
        assert_eq!(number(2048.0, 3), "2048");
    }
}
