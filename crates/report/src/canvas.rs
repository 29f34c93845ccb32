//! Drawing backends for the figures: plotters' SVG and bitmap backends with text drawn from
//! the embedded font's glyph outlines ([`crate::font`]) instead of a system font.
//!
//! - [`render_svg`]: every primitive goes to plotters' `SVGBackend`; text becomes `<path>`
//!   outlines (one `<defs>` entry per glyph, `<use>`d at each occurrence) so the SVG looks
//!   the same in any viewer, with or without fonts. Each text run is a `<g>` whose
//!   `aria-label` holds the text, so it stays searchable. Text is painted after everything
//!   else (figures never draw over text).
//! - [`render_png`]: plotters' `BitMapBackend` at `supersample`× the pixel size; text is
//!   rasterised from the outlines with coverage anti-aliasing; the frame is then box-filtered
//!   down, which also anti-aliases lines and markers (the bitmap backend alone does not).
//!
//! Text placement follows plotters' own rules (`plotters-backend` 0.3.7 `draw_text`): the
//! anchor picks a corner/centre of the layout box, the box is then rotated by the style's
//! `FontTransform` about the anchor point.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

use plotters::prelude::{BitMapBackend, DrawingArea, IntoDrawingArea, SVGBackend};
use plotters::coord::Shift;
use plotters::style::FontTransform;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind};

use crate::font;

/// A drawing failure, as text (plotters' error types differ per backend).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("drawing failed: {0}")]
pub struct DrawError(pub String);

impl DrawError {
    /// Wraps any displayable plotters error.
    pub fn from_display(error: impl std::fmt::Display) -> Self {
        DrawError(error.to_string())
    }
}

/// Where the glyphs of one text run go.
struct Placement {
    line: font::Line,
    /// Offset of the layout box's top-left corner from the anchor, before rotation.
    dx: f64,
    dy: f64,
    transform: FontTransform,
    anchor: BackendCoord,
}

impl Placement {
    fn new<S: BackendTextStyle>(text: &str, style: &S, anchor: BackendCoord) -> Placement {
        let line = font::layout(text, style.size());
        let dx = match style.anchor().h_pos {
            HPos::Left => 0.0,
            HPos::Center => -line.width / 2.0,
            HPos::Right => -line.width,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0.0,
            VPos::Center => -line.height / 2.0,
            VPos::Bottom => -line.height,
        };
        Placement { line, dx, dy, transform: style.transform(), anchor }
    }

    /// Rotation in degrees, clockwise on screen (SVG's `rotate`).
    fn degrees(&self) -> u32 {
        match self.transform {
            FontTransform::None => 0,
            FontTransform::Rotate90 => 90,
            FontTransform::Rotate180 => 180,
            FontTransform::Rotate270 => 270,
        }
    }

    /// A point of the text's own frame (anchor at the origin) on the device.
    fn to_device(&self, x: f64, y: f64) -> (f64, f64) {
        let (x, y) = match self.transform {
            FontTransform::None => (x, y),
            FontTransform::Rotate90 => (-y, x),
            FontTransform::Rotate180 => (-x, -y),
            FontTransform::Rotate270 => (y, -x),
        };
        (f64::from(self.anchor.0) + x, f64::from(self.anchor.1) + y)
    }
}

/// Size of a text run as plotters expects it from a backend.
fn text_size<S: BackendTextStyle>(text: &str, style: &S) -> (u32, u32) {
    let line = font::layout(text, style.size());
    let (w, h) = (line.width.ceil() as u32, line.height.ceil() as u32);
    match style.transform() {
        FontTransform::Rotate90 | FontTransform::Rotate270 => (h, w),
        _ => (w, h),
    }
}

/// Text collected by the SVG canvas: glyph outlines once each, and their uses.
#[derive(Debug, Default)]
struct SvgText {
    /// Glyph id → outline path data (font units, y up).
    defs: BTreeMap<u16, String>,
    /// One `<g>` per text run.
    body: String,
}

/// plotters' SVG backend with text as glyph outlines.
struct SvgCanvas<'a> {
    inner: SVGBackend<'a>,
    text: Rc<RefCell<SvgText>>,
}

fn svg_color(c: BackendColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.rgb.0, c.rgb.1, c.rgb.2)
}

/// The `DrawingBackend` methods both canvases pass unchanged to the plotters backend they
/// wrap (`self.inner`); only text is drawn by the canvases themselves.
macro_rules! forward_drawing_to_inner {
    () => {
            fn get_size(&self) -> (u32, u32) {
                self.inner.get_size()
            }
            fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
                self.inner.ensure_prepared()
            }
            fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
                self.inner.present()
            }
            fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
                self.inner.draw_pixel(point, color)
            }
            fn draw_line<S: BackendStyle>(&mut self, from: BackendCoord, to: BackendCoord, style: &S) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
                self.inner.draw_line(from, to, style)
            }
            fn draw_rect<S: BackendStyle>(&mut self, ul: BackendCoord, br: BackendCoord, style: &S, fill: bool) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
                self.inner.draw_rect(ul, br, style, fill)
            }
            fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(&mut self, path: I, style: &S) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
                self.inner.draw_path(path, style)
            }
            fn draw_circle<S: BackendStyle>(&mut self, center: BackendCoord, radius: u32, style: &S, fill: bool) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
                self.inner.draw_circle(center, radius, style, fill)
            }
            fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(&mut self, vert: I, style: &S) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
                self.inner.fill_polygon(vert, style)
            }
            fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
                self.inner.blit_bitmap(pos, size, src)
            }
    };
}

impl DrawingBackend for SvgCanvas<'_> {
    type ErrorType = <SVGBackend<'static> as DrawingBackend>::ErrorType;

    forward_drawing_to_inner!();

    fn estimate_text_size<S: BackendTextStyle>(&self, text: &str, style: &S) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        Ok(text_size(text, style))
    }

    fn draw_text<S: BackendTextStyle>(&mut self, text: &str, style: &S, pos: BackendCoord) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let color = style.color();
        if color.alpha == 0.0 || text.trim().is_empty() {
            return Ok(());
        }
        let place = Placement::new(text, style, pos);
        let mut sink = self.text.borrow_mut();
        let SvgText { defs, body } = &mut *sink;
        // `write!` into a String cannot fail.
        let _ = write!(
            body,
            r#"<g aria-label="{}" fill="{}"{} transform="translate({} {}) rotate({})">"#,
            crate::html::esc(text),
            svg_color(color),
            if color.alpha < 1.0 { format!(r#" fill-opacity="{:.3}""#, color.alpha) } else { String::new() },
            pos.0,
            pos.1,
            place.degrees()
        );
        for glyph in &place.line.glyphs {
            if !defs.contains_key(&glyph.id.0) {
                match font::outline_path(glyph.id) {
                    Some(d) => defs.insert(glyph.id.0, d),
                    None => continue,
                };
            }
            let _ = write!(
                body,
                r##"<use xlink:href="#g{}" transform="translate({:.2} {:.2}) scale({:.6} {:.6})"/>"##,
                glyph.id.0,
                place.dx + glyph.x,
                place.dy + place.line.baseline,
                place.line.scale,
                -place.line.scale
            );
        }
        body.push_str("</g>");
        Ok(())
    }
}

/// Something that draws itself on any backend, with lengths in points times `scale` pixels.
pub trait Picture {
    /// Draws on `area`; one point is `scale` device pixels.
    ///
    /// # Errors
    /// [`DrawError`] from plotters.
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, scale: f64) -> Result<(), DrawError>;
}

/// Draws `picture` into an SVG document of `size` user units (one point per unit).
///
/// # Errors
/// [`DrawError`] from the picture or from plotters.
pub fn render_svg(size: (u32, u32), picture: &impl Picture) -> Result<String, DrawError> {
    font::register();
    let text = Rc::new(RefCell::new(SvgText::default()));
    let mut svg = String::new();
    {
        let canvas = SvgCanvas { inner: SVGBackend::with_string(&mut svg, size), text: text.clone() };
        let area = canvas.into_drawing_area();
        picture.draw(&area, 1.0)?;
        area.present().map_err(DrawError::from_display)?;
    }
    let text = text.take();
    let mut glyphs = String::from(r#"<g id="text" xmlns:xlink="http://www.w3.org/1999/xlink"><defs>"#);
    for (id, d) in &text.defs {
        let _ = write!(glyphs, r#"<path id="g{id}" d="{d}"/>"#);
    }
    glyphs.push_str("</defs>");
    glyphs.push_str(&text.body);
    glyphs.push_str("</g>\n");
    let end = svg.rfind("</svg>").ok_or_else(|| DrawError("plotters wrote no </svg>".into()))?;
    svg.insert_str(end, &glyphs);
    Ok(svg)
}

/// plotters' bitmap backend with text rasterised from the embedded font.
struct PngCanvas<'a> {
    inner: BitMapBackend<'a>,
}

impl DrawingBackend for PngCanvas<'_> {
    type ErrorType = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

    forward_drawing_to_inner!();

    fn estimate_text_size<S: BackendTextStyle>(&self, text: &str, style: &S) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        Ok(text_size(text, style))
    }

    fn draw_text<S: BackendTextStyle>(&mut self, text: &str, style: &S, pos: BackendCoord) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        use ab_glyph::{Font as _, Glyph, PxScale};
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let place = Placement::new(text, style, pos);
        let font = font::font();
        let scale = PxScale::from(style.size() as f32);
        for glyph in &place.line.glyphs {
            let position = ab_glyph::point((place.dx + glyph.x) as f32, (place.dy + place.line.baseline) as f32);
            let Some(outlined) = font.outline_glyph(Glyph { id: glyph.id, scale, position }) else { continue };
            let min = outlined.px_bounds().min;
            let mut pixels = Vec::new();
            outlined.draw(|x, y, coverage| pixels.push((x, y, coverage)));
            for (x, y, coverage) in pixels {
                if coverage <= 0.0 {
                    continue;
                }
                // Centre of the pixel in the text's frame, then on the device.
                let (dx, dy) = place.to_device(f64::from(min.x) + f64::from(x) + 0.5, f64::from(min.y) + f64::from(y) + 0.5);
                let alpha = color.alpha * f64::from(coverage.min(1.0));
                self.inner.draw_pixel((dx.floor() as i32, dy.floor() as i32), BackendColor { alpha, rgb: color.rgb })?;
            }
        }
        Ok(())
    }
}

/// An RGB image, row-major, 3 bytes per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Pixels.
    pub data: Vec<u8>,
}

/// Draws `picture` into an RGB image of `size` pixels with `scale` pixels per point, drawing at
/// `supersample`× and box-filtering down.
///
/// # Errors
/// [`DrawError`] from the picture or from plotters.
pub fn render_png(size: (u32, u32), scale: f64, supersample: u32, picture: &impl Picture) -> Result<RgbImage, DrawError> {
    font::register();
    let k = supersample.max(1);
    let (w, h) = (size.0 * k, size.1 * k);
    let mut big = vec![255u8; (w as usize) * (h as usize) * 3];
    {
        let canvas = PngCanvas { inner: BitMapBackend::with_buffer(&mut big, (w, h)) };
        let area = canvas.into_drawing_area();
        picture.draw(&area, scale * f64::from(k))?;
        area.present().map_err(DrawError::from_display)?;
    }
    Ok(downsample(&big, w, h, k))
}

/// Averages `k × k` blocks of an RGB image of `w × h` pixels.
fn downsample(big: &[u8], w: u32, h: u32, k: u32) -> RgbImage {
    let (ow, oh) = (w / k, h / k);
    let mut data = vec![0u8; (ow as usize) * (oh as usize) * 3];
    let n = u32::pow(k, 2);
    for oy in 0..oh as usize {
        for ox in 0..ow as usize {
            let mut sum = [0u32; 3];
            for dy in 0..k as usize {
                let row = (oy * k as usize + dy) * w as usize;
                for dx in 0..k as usize {
                    let i = (row + ox * k as usize + dx) * 3;
                    for c in 0..3 {
                        sum[c] += u32::from(big[i + c]);
                    }
                }
            }
            let o = (oy * ow as usize + ox) * 3;
            for c in 0..3 {
                data[o + c] = ((sum[c] + n / 2) / n) as u8;
            }
        }
    }
    RgbImage { width: ow, height: oh, data }
}

/// Encodes an image as PNG, recording `dpi` in its pHYs chunk (pixels per metre).
///
/// # Errors
/// The encoder's error, as text.
pub fn encode_png(image: &RgbImage, dpi: u32) -> Result<Vec<u8>, DrawError> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, image.width, image.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        // 1 inch = 0.0254 m.
        let per_metre = (f64::from(dpi) / 0.0254).round() as u32;
        encoder.set_pixel_dims(Some(png::PixelDimensions { xppu: per_metre, yppu: per_metre, unit: png::Unit::Meter }));
        let mut writer = encoder.write_header().map_err(DrawError::from_display)?;
        writer.write_image_data(&image.data).map_err(DrawError::from_display)?;
        writer.finish().map_err(DrawError::from_display)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::prelude::*;

    struct Hello;

    impl Picture for Hello {
        fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, scale: f64) -> Result<(), DrawError> {
            area.fill(&WHITE).map_err(DrawError::from_display)?;
            let at = |x: f64, y: f64| ((x * scale) as i32, (y * scale) as i32);
            let style = TextStyle::from((font::FAMILY, 40.0 * scale).into_font()).color(&BLACK);
            area.draw_text("Hi <&>", &style, at(10.0, 10.0)).map_err(DrawError::from_display)?;
            let rotated = style.transform(FontTransform::Rotate270);
            area.draw_text("up", &rotated, at(150.0, 90.0)).map_err(DrawError::from_display)
        }
    }

    #[test]
    fn svg_text_is_outlines_with_escaped_labels() {
        let svg = render_svg((200, 100), &Hello).unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let labels: Vec<&str> = doc.descendants().filter_map(|n| n.attribute("aria-label")).collect();
        assert_eq!(labels, ["Hi <&>", "up"]);
        assert!(!svg.contains("<text"), "{svg}");
        assert!(doc.descendants().filter(|n| n.has_tag_name("use")).count() >= 6);
        assert!(svg.contains("rotate(270)"));
    }

    #[test]
    fn png_text_is_rasterised_where_anchored() {
        let image = render_png((200, 100), 1.0, 2, &Hello).unwrap();
        assert_eq!((image.width, image.height), (200, 100));
        let dark = |x0: u32, x1: u32, y0: u32, y1: u32| {
            let mut n = 0;
            for y in y0..y1 {
                for x in x0..x1 {
                    let i = ((y * 200 + x) * 3) as usize;
                    if image.data[i] < 128 {
                        n += 1;
                    }
                }
            }
            n
        };
        // "Hi" starts at (10, 10) and is ~32 px high; nothing above-left of it.
        assert!(dark(10, 60, 10, 45) > 50);
        assert_eq!(dark(0, 8, 0, 100), 0);
        // Rotated text runs upwards from (150, 90), to the right of x = 150.
        assert!(dark(150, 190, 40, 90) > 20);
        let png = encode_png(&image, 300).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }

    #[test]
    fn downsampling_averages_blocks() {
        let big = [0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255];
        let small = downsample(&big, 2, 2, 2);
        assert_eq!(small.data, vec![128, 128, 128]);
    }
}
