//! Reading the JSON files of a run directory (writes go through [`saescale_spec::atomic`]).

use std::path::Path;

use crate::{Error, Result};

/// Reads and parses a JSON file.
///
/// # Errors
/// [`Error::Io`] or [`Error::Json`] naming `path`.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read(path).map_err(Error::io(path))?;
    serde_json::from_slice(&text).map_err(|source| Error::Json { path: path.into(), source })
}
