//! One side of a comparison as the user names it: a sweep directory, a night of a nightly
//! sweep, a sweep with nights (its latest night), or a `fit.json`.

use std::path::{Path, PathBuf};

use saescale_fit::FitResult;
use saescale_sweep::spec::NightlySpec;
use saescale_sweep::store::files::read_json;
use saescale_sweep::store::{layout, RunRecord};
use saescale_sweep::{RunStore, SweepSpec};

use crate::{Error, Result};

/// A side of a comparison.
#[derive(Debug, Clone)]
pub enum Side {
    /// A sweep directory (a night is one): its runs, and its fit if it has one.
    Sweep(SweepSide),
    /// A fit alone.
    Fit {
        /// The file.
        path: PathBuf,
        /// The fit.
        fit: Box<FitResult>,
    },
}

/// A sweep directory's runs and fit.
#[derive(Debug, Clone)]
pub struct SweepSide {
    /// The directory.
    pub dir: PathBuf,
    /// Every planned run with its status and final metrics, in plan order.
    pub records: Vec<RunRecord>,
    /// Its `fit.json`, if it has one.
    pub fit: Option<Box<FitResult>>,
    /// Its spec's `[nightly]` table (empty when the saved spec cannot be read).
    pub nightly: NightlySpec,
}

impl Side {
    /// Opens what `path` names.
    ///
    /// # Errors
    /// [`Error::BadInput`] for a path that does not exist or is neither a sweep, a sweep with
    /// nights nor a fit; store errors for a sweep that cannot be read.
    pub fn open(path: &Path) -> Result<Side> {
        if path.is_file() {
            let fit = read_json::<FitResult>(path)
                .map_err(|e| Error::bad_input(format!("{}: not a fit written by `saescale fit` ({e})", path.display())))?
                .ok_or_else(|| Error::bad_input(format!("{} does not exist", path.display())))?;
            return Ok(Side::Fit { path: path.to_path_buf(), fit: Box::new(fit) });
        }
        if !path.is_dir() {
            return Err(Error::bad_input(format!("{} does not exist; name a sweep directory, a night or a fit.json", path.display())));
        }
        let dir = if path.join(layout::PLAN).is_file() {
            path.to_path_buf()
        } else {
            latest_night(path)?.ok_or_else(|| {
                Error::bad_input(format!("{} is neither a sweep directory (no plan.json), a sweep with nights nor a fit.json", path.display()))
            })?
        };
        let store = RunStore::open(&dir)?;
        let records = store.records(&store.read_plan()?)?;
        let fit = read_json::<FitResult>(&dir.join(layout::FIT))?.map(Box::new);
        let nightly = SweepSpec::from_file(store.spec_path()).map(|spec| spec.nightly).unwrap_or_default();
        Ok(Side::Sweep(SweepSide { dir, records, fit, nightly }))
    }

    /// The fit of this side, if it has one.
    pub fn fit(&self) -> Option<&FitResult> {
        match self {
            Side::Sweep(sweep) => sweep.fit.as_deref(),
            Side::Fit { fit, .. } => Some(fit),
        }
    }

    /// What it is, for the output: the directory or file.
    pub fn label(&self) -> String {
        match self {
            Side::Sweep(sweep) => sweep.dir.display().to_string(),
            Side::Fit { path, .. } => path.display().to_string(),
        }
    }
}

/// The latest night of a nightly sweep's directory (`nights/<date>/` with a plan, by name).
///
/// # Errors
/// [`Error::Io`] when `nights/` exists but cannot be listed.
pub fn latest_night(dir: &Path) -> Result<Option<PathBuf>> {
    Ok(nights(dir)?.pop())
}

/// The nights of a nightly sweep's directory that hold a sweep, oldest first (night
/// directories are named by date, so by name).
///
/// # Errors
/// [`Error::Io`] when `nights/` exists but cannot be listed.
pub fn nights(dir: &Path) -> Result<Vec<PathBuf>> {
    let root = dir.join(layout::NIGHTS);
    let entries = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::Io { action: "list", path: root, source }),
    };
    let mut nights: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.join(layout::PLAN).is_file()).collect();
    nights.sort();
    Ok(nights)
}
