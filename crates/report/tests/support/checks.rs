//! Checks of a written report directory, shared by the report crate's tests and the CLI's
//! (`crates/cli/tests/report_cli.rs` includes this file by path).

#![allow(dead_code)]

use std::collections::HashSet;
use std::path::Path;

/// What an SVG holds.
pub struct SvgFacts {
    /// `width` and `height` attributes.
    pub size: (f64, f64),
    /// Texts drawn (the `aria-label`s of the glyph groups).
    pub texts: Vec<String>,
}

/// Parses an SVG with an XML parser and checks its structure: an `<svg>` root with a size, no
/// `<text>` (text is outlines, so no font is needed), every `<use>` pointing at a glyph that is
/// defined, and something drawn.
pub fn check_svg(path: &Path) -> SvgFacts {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{} does not parse as XML: {e}", path.display()));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg", "{}", path.display());
    let number = |name: &str| root.attribute(name).and_then(|v| v.parse::<f64>().ok()).unwrap_or_else(|| panic!("{}: no numeric {name}", path.display()));
    let size = (number("width"), number("height"));
    assert!(size.0 > 100.0 && size.1 > 100.0, "{}: {size:?}", path.display());
    assert!(!doc.descendants().any(|n| n.has_tag_name("text")), "{}: has <text>, which needs a font", path.display());
    let defined: HashSet<&str> = doc.descendants().filter(|n| n.has_tag_name("path")).filter_map(|n| n.attribute("id")).collect();
    assert!(!defined.is_empty(), "{}: no glyph outlines", path.display());
    let xlink = "http://www.w3.org/1999/xlink";
    for node in doc.descendants().filter(|n| n.has_tag_name("use")) {
        let href = node.attribute((xlink, "href")).unwrap_or_else(|| panic!("{}: <use> without xlink:href", path.display()));
        assert!(defined.contains(href.trim_start_matches('#')), "{}: {href} is not defined", path.display());
    }
    let shapes = doc.descendants().filter(|n| ["polyline", "polygon", "circle", "rect", "line", "path"].contains(&n.tag_name().name())).count();
    assert!(shapes > 20, "{}: only {shapes} shapes", path.display());
    let texts = doc.descendants().filter_map(|n| n.attribute("aria-label")).map(str::to_string).collect();
    SvgFacts { size, texts }
}

/// A decoded PNG: size, DPI from its pHYs chunk, RGB pixels.
pub struct Png {
    /// Width and height in pixels.
    pub size: (u32, u32),
    /// Dots per inch, if recorded.
    pub dpi: Option<f64>,
    /// RGB bytes.
    pub rgb: Vec<u8>,
}

/// Decodes an 8-bit RGB or RGBA PNG.
pub fn decode_png(bytes: &[u8], what: &str) -> Png {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap_or_else(|e| panic!("{what}: not a PNG: {e}"));
    let mut buf = vec![0; reader.output_buffer_size().expect("PNG size fits in memory")];
    let info = reader.next_frame(&mut buf).unwrap_or_else(|e| panic!("{what}: {e}"));
    let dpi = reader.info().pixel_dims.filter(|d| d.unit == png::Unit::Meter).map(|d| f64::from(d.xppu) * 0.0254);
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("{what}: unexpected colour type {other:?}"),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "{what}");
    let rgb = buf[..info.buffer_size()].chunks(channels).flat_map(|p| [p[0], p[1], p[2]]).collect();
    Png { size: (info.width, info.height), dpi, rgb }
}

/// Checks that an image is not blank: enough non-white pixels, not all dark, several colours.
pub fn check_not_blank(image: &Png, what: &str) {
    let pixels = image.rgb.len() / 3;
    let non_white = image.rgb.chunks(3).filter(|p| p.iter().any(|&c| c < 235)).count();
    let fraction = non_white as f64 / pixels as f64;
    assert!(fraction > 0.01 && fraction < 0.95, "{what}: {:.1}% of the pixels are not white", 100.0 * fraction);
    let colours: HashSet<[u8; 3]> = image.rgb.chunks(3).map(|p| [p[0] / 16, p[1] / 16, p[2] / 16]).collect();
    assert!(colours.len() >= 8, "{what}: only {} distinct colours", colours.len());
}

/// Reads a PNG file and checks its size, DPI and content.
pub fn check_png(path: &Path, size: (u32, u32), dpi: u32) -> Png {
    let what = path.display().to_string();
    let image = decode_png(&std::fs::read(path).unwrap_or_else(|e| panic!("{what}: {e}")), &what);
    assert_eq!(image.size, size, "{what}: pixel size");
    let recorded = image.dpi.unwrap_or_else(|| panic!("{what}: no pHYs chunk"));
    assert!((recorded - f64::from(dpi)).abs() < 0.5, "{what}: {recorded} dpi, wanted {dpi}");
    check_not_blank(&image, &what);
    image
}

/// Splits one CSV line into fields (RFC 4180 quoting; no line breaks inside fields).
pub fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// Reads a CSV: header and rows, every row as wide as the header, at least one row.
pub fn check_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header = csv_fields(lines.next().unwrap_or_else(|| panic!("{}: empty", path.display())));
    let rows: Vec<Vec<String>> = lines.map(csv_fields).collect();
    assert!(!rows.is_empty(), "{}: no rows", path.display());
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), header.len(), "{}: row {} has {} fields, the header {}", path.display(), i + 1, row.len(), header.len());
    }
    (header, rows)
}

/// Checks that a page loads nothing from elsewhere: images are data URIs, no external
/// scripts, styles or fonts, and a Content-Security-Policy that forbids loads.
pub fn check_self_contained(html: &str) {
    // The policy is an attribute value, so its quotes may be written as &#39;.
    let policy = html.replace("&#39;", "'");
    assert!(policy.contains("http-equiv=\"Content-Security-Policy\"") && policy.contains("default-src 'none'"), "no CSP");
    for needle in ["src=\"http", "src='http", "href=\"http", "url(", "@import", "<link", "<iframe", "<object"] {
        assert!(!html.contains(needle), "the page references {needle}");
    }
    let images = html.matches("<img ").count();
    assert_eq!(images, html.matches("<img src=\"data:image/svg+xml;base64,").count(), "an image is not an inline SVG");
    assert_eq!(html.matches("<script").count(), 1, "only the page's own sorting script may be a script");
}
