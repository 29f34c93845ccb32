//! Reading the store's files: JSON that may not exist yet, and the tail of a growing log.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// Reads and parses a JSON file; `Ok(None)` when it does not exist.
///
/// # Errors
/// [`Error::Io`] when it cannot be read, [`Error::Corrupt`] when it does not parse.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", path)(e)),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| Error::Corrupt { path: path.to_path_buf(), reason: e.to_string() })
}

/// The last `max_bytes` of a file (lossy UTF-8, starting at a line boundary when cut);
/// `Ok(None)` when it does not exist.
///
/// # Errors
/// [`Error::Io`] when it exists but cannot be read.
pub fn read_tail(path: &Path, max_bytes: u64) -> Result<Option<String>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", path)(e)),
    };
    let mut read = || -> std::io::Result<String> {
        let len = file.metadata()?.len();
        let start = len.saturating_sub(max_bytes);
        file.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Ok(if start > 0 { text.split_once('\n').map_or(String::new(), |(_, rest)| rest.to_string()) } else { text })
    };
    read().map(Some).map_err(Error::io("read", path))
}

/// `text` cut to `max_chars` characters, with an ellipsis when cut.
pub fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max_chars).collect();
        cut.push('…');
        cut
    }
}
