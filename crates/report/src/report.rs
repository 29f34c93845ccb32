//! Writes a report directory: every figure as SVG, PNG (at the requested DPI) and CSV, the run
//! table as Parquet and CSV, a copy of the fit, and `index.html`. Each file is written
//! atomically ([`saescale_spec::atomic`]), so a reader never sees half a file.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use saescale_fit::{recommend, Recommendation, Target};
use saescale_spec::atomic::write_atomic;

use crate::canvas::{encode_png, render_png, render_svg};
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::figures::{self, Skipped};
use crate::page::{self, Drawn, PageInput};
use crate::plot::{csv::figure_csv, number, Figure, POINTS_PER_INCH};

/// How to write a report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// PNG resolution in dots per inch (300 for print).
    pub dpi: u32,
    /// What to recommend for; default: 10× the largest fitted compute.
    pub target: Option<Target>,
}

impl Default for Options {
    fn default() -> Self {
        Options { dpi: 150, target: None }
    }
}

/// Budget factor of the default recommendation target beyond the largest fitted compute.
pub const DEFAULT_TARGET_FACTOR: f64 = 10.0;

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// The page.
    pub index: PathBuf,
    /// File stems of the figures drawn.
    pub figures: Vec<String>,
    /// Figures left out, and why.
    pub skipped: Vec<Skipped>,
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, bytes).map_err(|source| Error::Write { path: path.to_path_buf(), source })
}

/// Pixel size of a figure at `dpi`.
pub fn png_size(figure: &Figure, dpi: u32) -> (u32, u32) {
    let (w, h) = figure.inches();
    ((w * f64::from(dpi)).round() as u32, (h * f64::from(dpi)).round() as u32)
}

/// Draws one figure into `dir`; returns its SVG and size in points.
fn write_figure(figure: &Figure, dir: &Path, dpi: u32) -> Result<(String, (u32, u32))> {
    let draw_error = |source| Error::Draw { name: figure.name.clone(), source };
    let (w, h) = figure.size();
    let size = (w.round() as u32, h.round() as u32);
    let svg = render_svg(size, figure).map_err(draw_error)?;
    write_file(&dir.join(format!("{}.svg", figure.name)), svg.as_bytes())?;
    let pixels = png_size(figure, dpi);
    // Draw at 2× and filter down (anti-aliasing) unless the frame would be very large.
    let supersample = if u64::from(pixels.0) * u64::from(pixels.1) > 12_000_000 { 1 } else { 2 };
    let image = render_png(pixels, f64::from(dpi) / POINTS_PER_INCH, supersample, figure).map_err(draw_error)?;
    write_file(&dir.join(format!("{}.png", figure.name)), &encode_png(&image, dpi).map_err(draw_error)?)?;
    write_file(&dir.join(format!("{}.csv", figure.name)), figure_csv(figure).as_bytes())?;
    Ok((svg, size))
}

/// The recommendation for the chosen target, and a sentence saying what the target is.
fn recommendation(data: &Dataset, options: &Options) -> Option<(Recommendation, String)> {
    let fit = data.fit.as_ref()?;
    let (target, text) = match options.target {
        Some(Target::Compute(c)) => (Target::Compute(c), format!("compute C = {} FLOP", number(c, 4))),
        Some(Target::Size(x)) => (Target::Size(x), format!("{} = {} (the compute at which it is optimal)", data.vars.x, number(x, 6))),
        None => {
            let c = fit.compute_range[1] * DEFAULT_TARGET_FACTOR;
            (Target::Compute(c), format!("compute C = {} FLOP, {DEFAULT_TARGET_FACTOR}× the largest fitted budget (no target was given; use --compute or --features)", number(c, 4)))
        }
    };
    recommend(fit, target).ok().map(|r| (r, text))
}

/// Writes the run table as `runs.parquet` and `runs.csv`.
fn write_table(frame: &DataFrame, dir: &Path) -> Result<()> {
    let mut frame = frame.clone();
    let mut parquet = Vec::new();
    ParquetWriter::new(&mut parquet).finish(&mut frame)?;
    write_file(&dir.join("runs.parquet"), &parquet)?;
    let mut csv = Vec::new();
    CsvWriter::new(&mut csv).finish(&mut frame)?;
    write_file(&dir.join("runs.csv"), &csv)
}

/// Writes the report for `data` into `dir` (created if needed).
///
/// # Errors
/// [`Error::Write`] for a file that cannot be written, [`Error::Draw`] for a figure that
/// cannot be drawn, [`Error::Polars`] when the run table cannot be encoded.
pub fn write(data: &Dataset, options: &Options, dir: &Path) -> Result<Written> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Write { path: dir.to_path_buf(), source })?;
    let dpi = options.dpi.clamp(10, 1200);
    let mut figures: Vec<Figure> = Vec::new();
    let mut skipped = Vec::new();
    for outcome in figures::all(data) {
        match outcome {
            Ok(figure) => figures.push(figure),
            Err(why) => skipped.push(why),
        }
    }
    let mut svgs = Vec::with_capacity(figures.len());
    for figure in &figures {
        svgs.push(write_figure(figure, dir, dpi)?);
    }
    if let Some(frame) = &data.table {
        write_table(frame, dir)?;
    }
    if let Some(fit) = &data.fit {
        // Serialising a FitResult (plain numbers and strings) cannot fail.
        let json = serde_json::to_string_pretty(fit).unwrap_or_default();
        write_file(&dir.join("fit.json"), json.as_bytes())?;
    }
    let input = PageInput {
        figures: figures.iter().zip(&svgs).map(|(figure, (svg, size))| Drawn { figure, svg, size: *size }).collect(),
        skipped: &skipped,
        recommendation: recommendation(data, options),
        dpi,
    };
    let html = page::render(data, &input);
    let index = dir.join("index.html");
    write_file(&index, html.as_bytes())?;
    Ok(Written { index, figures: figures.iter().map(|f| f.name.clone()).collect(), skipped })
}
