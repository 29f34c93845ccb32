//! The one font every figure uses, embedded in the binary: DejaVu Sans 2.37 (Bitstream Vera
//! licence; see `assets/fonts/LICENSE-DejaVu.txt`). No system font is ever looked up.
//!
//! plotters measures text with it (it is registered under [`FAMILY`] and `sans-serif`), and the
//! report's backends ([`crate::canvas`]) draw text from its glyph outlines: as SVG paths, so an
//! SVG renders the same everywhere, and rasterised with coverage anti-aliasing in PNGs.
//!
//! Layout (one line, left to right, no shaping beyond pair kerning): glyph `i` starts at
//! `xᵢ = Σⱼ<ᵢ advance(j) + kern(j, j+1)` at the pixel scale `size` (ab_glyph's
//! `PxScale`: ascent − descent = `size` pixels). The layout box is `width × size/1.24` high,
//! the box plotters' own ab_glyph font code reports, so that plotters' label areas and ours
//! agree; the baseline sits where capital letters are centred in that box.

use std::sync::{Once, OnceLock};

use ab_glyph::{Font, FontRef, GlyphId, OutlineCurve, ScaleFont};
use plotters::style::FontStyle;

/// Name the font is registered under with plotters; use it in every `TextStyle`.
pub const FAMILY: &str = "saescale-sans";

/// DejaVu Sans 2.37 from Debian's fonts-dejavu-core 2.37-6 (sha256 abdc775b…8582322).
static FONT_BYTES: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

/// Ratio of plotters' text size to its layout-box height (plotters 0.3.7, `style/font/ab_glyph.rs`).
const BOX_RATIO: f64 = 1.24;

/// The parsed font.
pub fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    // The bytes are a fixed, valid TrueType file compiled into the binary; the unit test
    // `embedded_font_parses` checks it, so this cannot fail at run time.
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).expect("the embedded DejaVu Sans parses"))
}

/// Registers the font with plotters (once per process) under [`FAMILY`] and `sans-serif`, so
/// that plotters' own text measurements (legend boxes, label areas) use it.
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for family in [FAMILY, "sans-serif"] {
            // Same bytes as `font()`, which is tested to parse.
            let _ = plotters::style::register_font(family, FontStyle::Normal, FONT_BYTES);
        }
    });
}

/// One glyph of a laid-out line: its id and where its origin (on the baseline) lies, in pixels
/// from the left end of the baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlacedGlyph {
    /// Glyph id in the font.
    pub id: GlyphId,
    /// Horizontal offset of the glyph's origin.
    pub x: f64,
}

/// A line of text laid out at a size.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The glyphs, in order.
    pub glyphs: Vec<PlacedGlyph>,
    /// Advance width in pixels.
    pub width: f64,
    /// Height of the layout box in pixels (`size / 1.24`).
    pub height: f64,
    /// Distance from the top of the layout box down to the baseline.
    pub baseline: f64,
    /// Pixels per font unit.
    pub scale: f64,
}

/// Lays out `text` at pixel size `size`.
pub fn layout(text: &str, size: f64) -> Line {
    let font = font();
    let scaled = font.as_scaled(size as f32);
    let mut glyphs = Vec::with_capacity(text.len());
    let mut x = 0.0f64;
    let mut previous: Option<GlyphId> = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = previous {
            x += f64::from(scaled.kern(p, id));
        }
        glyphs.push(PlacedGlyph { id, x });
        x += f64::from(scaled.h_advance(id));
        previous = Some(id);
    }
    let scale = f64::from(scaled.h_scale_factor());
    let height = size / BOX_RATIO;
    Line { glyphs, width: x, height, baseline: height / 2.0 + cap_height() * scale / 2.0, scale }
}

/// Height of a capital letter in font units (the top of `H`).
fn cap_height() -> f64 {
    static CAP: OnceLock<f64> = OnceLock::new();
    *CAP.get_or_init(|| {
        let font = font();
        // ab_glyph keeps the top of the outline (largest y, font units point up) in `min.y`.
        font.outline(font.glyph_id('H')).map_or(f64::from(font.ascent_unscaled()) * 0.75, |o| f64::from(o.bounds.min.y.max(o.bounds.max.y)))
    })
}

/// A glyph's outline as SVG path data in font units, y pointing up (as in the font).
pub fn outline_path(id: GlyphId) -> Option<String> {
    use std::fmt::Write as _;
    let outline = font().outline(id)?;
    let mut d = String::new();
    let mut pen: Option<ab_glyph::Point> = None;
    // `write!` into a String cannot fail.
    let go = |d: &mut String, start: ab_glyph::Point, pen: &mut Option<ab_glyph::Point>| {
        if *pen != Some(start) {
            if pen.is_some() {
                d.push('Z');
            }
            let _ = write!(d, "M{} {}", start.x, start.y);
        }
    };
    for curve in &outline.curves {
        match *curve {
            OutlineCurve::Line(a, b) => {
                go(&mut d, a, &mut pen);
                let _ = write!(d, "L{} {}", b.x, b.y);
                pen = Some(b);
            }
            OutlineCurve::Quad(a, c, b) => {
                go(&mut d, a, &mut pen);
                let _ = write!(d, "Q{} {} {} {}", c.x, c.y, b.x, b.y);
                pen = Some(b);
            }
            OutlineCurve::Cubic(a, c1, c2, b) => {
                go(&mut d, a, &mut pen);
                let _ = write!(d, "C{} {} {} {} {} {}", c1.x, c1.y, c2.x, c2.y, b.x, b.y);
                pen = Some(b);
            }
        }
    }
    if pen.is_some() {
        d.push('Z');
    }
    (!d.is_empty()).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_font_parses_and_has_the_glyphs_figures_use() {
        let font = font();
        for c in "0123456789eE+-.,()[]% αβγ·×≈∝*/FSCLκ".chars() {
            assert_ne!(font.glyph_id(c).0, 0, "no glyph for {c:?}");
        }
    }

    #[test]
    fn layout_widths_add_up_and_scale_with_size() {
        let a = layout("10", 20.0);
        let b = layout("1", 20.0);
        assert_eq!(a.glyphs.len(), 2);
        assert!((a.glyphs[1].x - b.width).abs() < 1e-9);
        let big = layout("10", 40.0);
        assert!((big.width / a.width - 2.0).abs() < 1e-6);
        assert!((a.height - 20.0 / 1.24).abs() < 1e-12);
        // The baseline lies inside the box, below its middle.
        assert!(a.baseline > a.height / 2.0 && a.baseline < a.height);
    }

    #[test]
    fn outlines_are_closed_svg_paths() {
        let id = font().glyph_id('o');
        let d = outline_path(id).unwrap();
        assert!(d.starts_with('M') && d.ends_with('Z'));
        // 'o' has an outer and an inner contour.
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert!(outline_path(font().glyph_id(' ')).is_none());
    }
}
