//! Stage 5, report: figures, their numbers and one HTML page, for a sweep or a fit.

use std::path::{Path, PathBuf};

pub use saescale_report::{Options as ReportOptions, Written};

use crate::sweep::Sweep;
use crate::Result;

/// Where a report goes unless told: `reports/<name>/`.
pub fn default_dir(name: &str) -> PathBuf {
    PathBuf::from("reports").join(name)
}

/// Writes the report of `input`, a sweep directory or a `fit.json`, into `out` (default
/// `reports/<sweep or fit name>/`); returns what was written and where.
///
/// # Errors
/// Bad input for an input that is neither a sweep nor a fit, or whose table cannot be read;
/// write and drawing errors otherwise.
pub fn report(input: &Path, options: &ReportOptions, out: Option<&Path>) -> Result<(Written, PathBuf)> {
    let data = saescale_report::load(input)?;
    let out = out.map_or_else(|| default_dir(&data.title), Path::to_path_buf);
    let written = saescale_report::write(&data, options, &out)?;
    Ok((written, out))
}

impl Sweep {
    /// Writes the sweep's report (its runs, results table and fit) to `reports/<name>/` at the
    /// default resolution; returns what was written and where.
    ///
    /// # Errors
    /// As [`report`].
    pub fn report(&self) -> Result<(Written, PathBuf)> {
        let out = default_dir(self.name());
        report(&self.dir, &ReportOptions::default(), Some(&out))
    }
}
