//! Stage 1, plan: a sweep spec read, expanded into runs and checked, with the directory its
//! runs live in.

use std::path::{Path, PathBuf};

use saescale_sweep::store::layout;
use saescale_sweep::{error_chain, Plan, RunStore, SweepSpec};

use crate::design;
use crate::{Error, Result};

/// A planned sweep: its spec, the runs it expands to and its directory.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The spec as parsed.
    pub spec: SweepSpec,
    /// Every run, resolved, with its content-hash id.
    pub plan: Plan,
    /// The sweep directory (`runs/<name>` unless given; a night's is `<that>/nights/<date>`).
    pub dir: PathBuf,
    /// The night it measures, `YYYY-MM-DD`, when it is one night of a nightly sweep.
    pub night: Option<String>,
}

impl Sweep {
    /// Reads the spec at `path`, plans it and opens its data source once, so that a source
    /// every run would fail on (a missing shard directory, a `d_in` that does not match the
    /// manifest) is one error now. `dir` defaults to `runs/<name>`.
    ///
    /// # Errors
    /// [`Error::BadInput`] for a missing or unreadable spec; [`Error::Sweep`] with a spec error
    /// (file, line, column) for anything wrong in it, the data source included.
    pub fn load(path: &Path, dir: Option<PathBuf>) -> Result<Sweep> {
        let spec = SweepSpec::from_file(path).map_err(|error| match error {
            // Its only I/O is reading the spec: a missing or unreadable spec is bad input.
            saescale_sweep::Error::Io { .. } => Error::bad_input(error_chain(&error)),
            other => other.into(),
        })?;
        let dir = dir.unwrap_or_else(|| PathBuf::from("runs").join(&spec.name));
        let plan = design::plan(&spec, &dir)?;
        spec.check_data_source().map_err(saescale_sweep::Error::from)?;
        Ok(Sweep { spec, plan, dir, night: None })
    }

    /// The sweep that `dir` holds, planned again from the spec it saved (`sweep.toml`).
    ///
    /// # Errors
    /// [`Error::Sweep`] with [`saescale_sweep::Error::NoSweep`] when `dir` holds no sweep;
    /// as [`Sweep::load`].
    pub fn resume(dir: &Path) -> Result<Sweep> {
        // Only a directory that holds a sweep may be resumed (never create one here).
        RunStore::open(dir)?;
        Sweep::load(&dir.join(layout::SPEC), Some(dir.to_path_buf()))
    }

    /// The sweep's name.
    pub fn name(&self) -> &str {
        &self.plan.name
    }

    /// The same sweep measured afresh on one night: its runs go to `<dir>/nights/<date>/`, a
    /// sweep directory of its own, so nothing of an earlier night is reused or changed, while
    /// within the night a second invocation skips what the night finished and resumes the rest.
    ///
    /// # Errors
    /// [`Error::BadInput`] for a date that is not `YYYY-MM-DD`.
    pub fn night(mut self, date: &str) -> Result<Sweep> {
        let well_formed = date.len() == 10 && humantime::parse_rfc3339(&format!("{date}T00:00:00Z")).is_ok();
        if !well_formed {
            return Err(Error::bad_input(format!("--night {date:?}: expected a date as YYYY-MM-DD, e.g. {}", today())));
        }
        self.dir = self.dir.join(layout::NIGHTS).join(date);
        self.night = Some(date.to_string());
        // An adaptive design's later stages depend on what this night has finished.
        self.plan = design::plan(&self.spec, &self.dir)?;
        Ok(self)
    }

    /// The next stage of an adaptive isoflop sweep, once every run of the plan has finished:
    /// the plan grown by the next budget, centred on the fit of the finished ones. `None` for
    /// a sweep with nothing more to plan (a grid, a finished design, runs still to train).
    ///
    /// # Errors
    /// As [`Sweep::load`].
    pub fn next_stage(&self) -> Result<Option<Sweep>> {
        let plan = design::plan(&self.spec, &self.dir)?;
        Ok((plan.runs.len() > self.plan.runs.len()).then(|| Sweep { plan, ..self.clone() }))
    }
}

/// Today's date in UTC, `YYYY-MM-DD`: the default night.
pub fn today() -> String {
    saescale_sweep::store::now_rfc3339()[..10].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"name = "shards"
[run.data]
source = "shards"
path = "no/such/dir"
d_in = 64
[run.sae]
architecture = "relu"
[run.train]
batch_size = 256
[sweep]
budgets = [1e11]
features = [128]
"#;

    #[test]
    fn a_data_source_that_cannot_be_opened_is_one_spec_error_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, SPEC).unwrap();
        let error = Sweep::load(&path, None).unwrap_err();
        assert!(error.is_bad_input(), "{error}");
        let text = error.to_string();
        assert!(text.contains("s.toml:4:1") && text.contains("no/such/dir") && text.contains("path = "), "{text}");
    }

    #[test]
    fn a_night_is_a_directory_of_its_own_named_by_its_date() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, SPEC.replace("source = \"shards\"\npath = \"no/such/dir\"", "source = \"synthetic\"")).unwrap();
        let sweep = Sweep::load(&path, Some(dir.path().join("nightly"))).unwrap();
        let night = sweep.clone().night("2026-12-01").unwrap();
        assert_eq!(night.dir, dir.path().join("nightly/nights/2026-12-01"));
        assert_eq!(night.night.as_deref(), Some("2026-12-01"));
        for bad in ["2026-13-01", "yesterday", "2026-12-1", "../x"] {
            assert!(sweep.clone().night(bad).unwrap_err().is_bad_input(), "{bad}");
        }
        assert!(sweep.night(&today()).is_ok());
    }

    #[test]
    fn a_missing_spec_is_bad_input_and_resume_needs_a_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let error = Sweep::load(&dir.path().join("none.toml"), None).unwrap_err();
        assert!(error.is_bad_input() && error.to_string().contains("none.toml"), "{error}");
        let error = Sweep::resume(dir.path()).unwrap_err();
        assert!(error.is_bad_input() && error.to_string().contains("holds no sweep"), "{error}");
    }
}
