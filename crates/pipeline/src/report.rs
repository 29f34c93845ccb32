//! Stage 5, report: figures, their numbers and one HTML page, for a sweep or a fit.

use std::path::{Path, PathBuf};

pub use saescale_report::{Options as ReportOptions, Written};
use saescale_sweep::spec::NightlySpec;
use saescale_sweep::store::layout;

use crate::compare;
use crate::sweep::Sweep;
use crate::{Error, Result};

/// Where a report goes unless told: `reports/<name>/`.
pub fn default_dir(name: &str) -> PathBuf {
    PathBuf::from("reports").join(name)
}

/// Writes the report of `input`, a sweep directory, a nightly sweep's directory or a
/// `fit.json`, into `out` (default `reports/<sweep or fit name>/`); returns what was written and
/// where. A nightly sweep's report is its latest night's, with the history across nights and
/// the latest night compared with `baseline` (a night's date; default the night before).
///
/// # Errors
/// Bad input for an input that is neither a sweep nor a fit, or whose table cannot be read, or a
/// baseline that is not a night; write and drawing errors otherwise.
pub fn report(input: &Path, options: &ReportOptions, out: Option<&Path>, baseline: Option<&str>) -> Result<(Written, PathBuf)> {
    let nightly = input.is_dir() && !input.join(layout::PLAN).exists() && input.join(layout::NIGHTS).is_dir();
    let data = if nightly {
        let (latest, history) = compare::history(input, baseline, &NightlySpec::default())?;
        let mut data = saescale_report::load(&latest)?;
        data.history = Some(history);
        data
    } else if baseline.is_some() {
        return Err(Error::bad_input(format!("--baseline is for a nightly sweep's directory (with nights/), not {}", input.display())));
    } else {
        saescale_report::load(input)?
    };
    let out = out.map_or_else(|| default_dir(&data.title), Path::to_path_buf);
    let written = saescale_report::write(&data, options, &out)?;
    Ok((written, out))
}

impl Sweep {
    /// Writes the sweep's report (its runs, results table and fit) to `reports/<name>/` (a
    /// night's to `reports/<name>/nights/<date>/`) at the default resolution; returns what was
    /// written and where.
    ///
    /// # Errors
    /// As [`report`].
    pub fn report(&self) -> Result<(Written, PathBuf)> {
        let out = match &self.night {
            Some(night) => default_dir(self.name()).join(layout::NIGHTS).join(night),
            None => default_dir(self.name()),
        };
        report(&self.dir, &ReportOptions::default(), Some(&out), None)
    }
}
