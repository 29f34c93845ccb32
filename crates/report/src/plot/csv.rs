//! The numbers behind a figure as CSV: one row per drawn point, in drawing order.
//!
//! Columns: `panel` (multi-panel figures only), `series` (the layer's legend label), then the
//! panels' axis columns (union over panels; a row fills its own panel's columns), `<y>_lo` and
//! `<y>_hi` for bands, secondary-axis columns (e.g. `tokens`), and `tag` (the run id or the
//! budget a point stands for). Numbers are written at full precision (shortest round-trip
//! form); empty cells mean "not applicable".

use super::{Figure, Panel};

/// Quotes a CSV field when it holds a comma, quote or line break (RFC 4180).
pub fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// A number as CSV text at full precision (shortest form that reads back to the same f64;
/// exponent form for very large or small magnitudes); empty for non-finite values.
pub fn num(value: f64) -> String {
    if !value.is_finite() {
        String::new()
    } else if value != 0.0 && !(1e-4..1e6).contains(&value.abs()) {
        format!("{value:e}")
    } else {
        format!("{value}")
    }
}

/// Column names in order, without duplicates.
fn columns(figure: &Figure) -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>) {
    let mut axes: Vec<String> = Vec::new();
    let mut bands: Vec<String> = Vec::new();
    let mut secondary: Vec<String> = Vec::new();
    let add = |list: &mut Vec<String>, name: &str| {
        if !list.iter().any(|c| c == name) {
            list.push(name.to_string());
        }
    };
    for panel in &figure.panels {
        add(&mut axes, &panel.x.column);
        add(&mut axes, &panel.y.column);
        if panel.layers.iter().any(|l| l.data.iter().any(|d| d.band.is_some())) {
            add(&mut bands, &format!("{}_lo", panel.y.column));
            add(&mut bands, &format!("{}_hi", panel.y.column));
        }
        if let Some(y2) = &panel.y2 {
            add(&mut secondary, &y2.column);
        }
    }
    let tags = if figure.panels.iter().any(|p| p.layers.iter().any(|l| l.data.iter().any(|d| d.tag.is_some()))) {
        vec!["tag".to_string()]
    } else {
        Vec::new()
    };
    (axes, bands, secondary, tags)
}

/// The figure's data as CSV text.
pub fn figure_csv(figure: &Figure) -> String {
    let (axes, bands, secondary, tags) = columns(figure);
    let multi = figure.panels.len() > 1;
    let mut header: Vec<String> = Vec::new();
    if multi {
        header.push("panel".into());
    }
    header.push("series".into());
    header.extend(axes.iter().cloned());
    header.extend(bands.iter().cloned());
    header.extend(secondary.iter().cloned());
    header.extend(tags.iter().cloned());
    let mut out = header.iter().map(|h| field(h)).collect::<Vec<_>>().join(",");
    out.push('\n');
    for (index, panel) in figure.panels.iter().enumerate() {
        for layer in &panel.layers {
            for datum in &layer.data {
                let mut row: Vec<String> = Vec::with_capacity(header.len());
                if multi {
                    row.push(field(&panel_name(panel, index)));
                }
                row.push(field(&layer.name));
                for column in &axes {
                    row.push(if *column == panel.x.column {
                        num(datum.x)
                    } else if *column == panel.y.column {
                        num(datum.y)
                    } else {
                        String::new()
                    });
                }
                for column in &bands {
                    let value = datum.band.and_then(|(lo, hi)| {
                        if *column == format!("{}_lo", panel.y.column) {
                            Some(lo)
                        } else if *column == format!("{}_hi", panel.y.column) {
                            Some(hi)
                        } else {
                            None
                        }
                    });
                    row.push(value.map_or(String::new(), num));
                }
                for column in &secondary {
                    let value = panel.y2.as_ref().filter(|y2| y2.column == *column).map(|y2| datum.y * y2.factor);
                    row.push(value.map_or(String::new(), num));
                }
                if !tags.is_empty() {
                    row.push(datum.tag.as_deref().map_or(String::new(), field));
                }
                out.push_str(&row.join(","));
                out.push('\n');
            }
        }
    }
    out
}

fn panel_name(panel: &Panel, index: usize) -> String {
    panel.title.clone().unwrap_or_else(|| format!("{}", index + 1))
}

#[cfg(test)]
mod tests {
    use super::super::{Axis, Datum, Layer, Mark, Secondary};
    use super::*;

    #[test]
    fn rows_fill_their_panels_columns() {
        let panel = |y: &str, y2: Option<Secondary>| Panel {
            title: Some(format!("{y}*(C)")),
            x: Axis::log("compute C (FLOP)", "compute_flop"),
            y: Axis::log(y, y),
            y2,
            layers: vec![
                Layer::new("fit, a = 0.5", (0, 0, 0), Mark::line(1.0), vec![Datum::band(1e18, 2.0, 1.5, 2.5)]),
                Layer::new("optima", (0, 0, 0), Mark::dots(super::super::Shape::Circle, 3.0), vec![Datum::at(2e18, 3.0).tagged("C=2e18")]),
            ],
        };
        let figure = Figure {
            name: "alloc".into(),
            title: "t".into(),
            caption: "c".into(),
            panels: vec![
                panel("features", None),
                panel("steps", Some(Secondary { label: "tokens".into(), column: "tokens".into(), factor: 256.0 })),
            ],
            colorbar: None,
            notes: vec![],
        };
        let csv = figure_csv(&figure);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "panel,series,compute_flop,features,steps,features_lo,features_hi,steps_lo,steps_hi,tokens,tag");
        assert_eq!(lines[1], "features*(C),\"fit, a = 0.5\",1e18,2,,1.5,2.5,,,,");
        assert_eq!(lines[4], "steps*(C),optima,2e18,,3,,,,,768,C=2e18");
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn fields_are_quoted_only_when_needed() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
