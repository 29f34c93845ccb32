//! HTML building blocks: escaping (every string from a spec, a table or a fit goes through
//! [`esc`]), base64 for inlined figures, SHA-256 hashes for the page's Content-Security-Policy,
//! and tables rendered from polars frames.

use polars::prelude::{AnyValue, DataFrame};
use sha2::{Digest, Sha256};

/// Escapes text for HTML and XML (SVG) element content and quoted attribute values:
/// `& < > " '`. Control characters other than tab and line breaks are dropped (XML 1.0
/// forbids most of them).
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// Standard base64 with padding (RFC 4648 §4), for figures inlined as data URIs.
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The CSP source expression allowing exactly this inline script or style: `'sha256-…'`.
pub fn csp_hash(content: &str) -> String {
    format!("'sha256-{}'", base64(&Sha256::digest(content.as_bytes())))
}

/// A table cell: display text, and the number to sort by (for numeric cells).
pub struct Cell {
    /// Text shown (unescaped).
    pub text: String,
    /// Numeric value, for sorting.
    pub value: Option<f64>,
}

impl Cell {
    /// A text cell.
    pub fn text(text: impl Into<String>) -> Cell {
        Cell { text: text.into(), value: None }
    }

    /// A numeric cell shown as `text`.
    pub fn number(value: f64, text: impl Into<String>) -> Cell {
        Cell { text: text.into(), value: value.is_finite().then_some(value) }
    }
}

/// A `<table>` with a header row; `sortable` adds the class the page's script sorts by.
pub fn table(header: &[String], rows: &[Vec<Cell>], sortable: bool) -> String {
    let mut out = String::new();
    out.push_str(if sortable { "<table class=\"sortable\"><thead><tr>" } else { "<table><thead><tr>" });
    for h in header {
        out.push_str(&format!("<th scope=\"col\">{}</th>", esc(h)));
    }
    out.push_str("</tr></thead><tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            match cell.value {
                Some(v) => out.push_str(&format!("<td class=\"num\" data-v=\"{v:e}\">{}</td>", esc(&cell.text))),
                None => out.push_str(&format!("<td>{}</td>", esc(&cell.text))),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>");
    out
}

/// A polars cell as a table cell: numbers keep full precision, nulls are empty.
fn any_cell(value: AnyValue<'_>) -> Cell {
    match value {
        AnyValue::Null => Cell::text(""),
        AnyValue::String(s) => Cell::text(s),
        AnyValue::StringOwned(s) => Cell::text(s.as_str()),
        AnyValue::Boolean(b) => Cell::text(b.to_string()),
        AnyValue::Float64(v) => Cell::number(v, crate::plot::csv::num(v)),
        AnyValue::Float32(v) => Cell::number(f64::from(v), crate::plot::csv::num(f64::from(v))),
        AnyValue::Int8(v) => Cell::number(f64::from(v), v.to_string()),
        AnyValue::Int16(v) => Cell::number(f64::from(v), v.to_string()),
        AnyValue::Int32(v) => Cell::number(f64::from(v), v.to_string()),
        AnyValue::Int64(v) => Cell::number(v as f64, v.to_string()),
        AnyValue::UInt8(v) => Cell::number(f64::from(v), v.to_string()),
        AnyValue::UInt16(v) => Cell::number(f64::from(v), v.to_string()),
        AnyValue::UInt32(v) => Cell::number(f64::from(v), v.to_string()),
        AnyValue::UInt64(v) => Cell::number(v as f64, v.to_string()),
        other => Cell::text(other.to_string()),
    }
}

/// A frame as a sortable table (every column, every row).
pub fn frame_table(frame: &DataFrame) -> String {
    let header: Vec<String> = frame.get_column_names().iter().map(|n| n.to_string()).collect();
    let columns = frame.columns();
    let rows: Vec<Vec<Cell>> = (0..frame.height())
        .map(|i| columns.iter().map(|c| c.get(i).map_or_else(|_| Cell::text(""), any_cell)).collect())
        .collect();
    table(&header, &rows, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_neutralises_markup() {
        assert_eq!(esc("<script>alert('x')</script> & \"q\""), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;");
        assert_eq!(esc("a\u{0}b\nc"), "ab\nc");
    }

    /// RFC 4648 §10 test vectors.
    #[test]
    fn base64_matches_rfc_4648() {
        for (input, expected) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    /// SHA-256 of "abc" (FIPS 180-2 App. B.1), base64 of ba7816bf…f20015ad.
    #[test]
    fn csp_hash_is_sha256_base64() {
        assert_eq!(csp_hash("abc"), "'sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0='");
    }

    #[test]
    fn frames_become_escaped_sortable_tables() {
        use polars::prelude::*;
        let frame = DataFrame::new(
            2,
            vec![
                Column::new("name".into(), ["<b>x</b>", "y"]),
                Column::new("loss".into(), [Some(1.5f64), None]),
            ],
        )
        .unwrap();
        let html = frame_table(&frame);
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;") && !html.contains("<b>"));
        assert!(html.contains("data-v=\"1.5e0\">1.5</td>"));
        assert!(html.starts_with("<table class=\"sortable\">"));
    }
}
