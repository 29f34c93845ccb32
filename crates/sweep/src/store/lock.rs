//! The manager's lock on a sweep directory: an advisory lock on `manager.lock` (std's
//! `File::try_lock`, an `flock(2)` on Linux), released by the kernel when its holder exits in
//! any way, kill -9 included, so a dead manager never blocks the next. The file holds a note
//! naming the holder, `pid N on HOST since TIME`, for messages and `sweep cancel`.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::clock::now_rfc3339;
use crate::machine::hostname;
use crate::{Error, Result};

/// The lock, held while this value lives (closing the file releases it).
#[derive(Debug)]
pub(super) struct ManagerLock {
    _file: File,
}

impl ManagerLock {
    /// Takes the lock at `path` and writes this process's note into it.
    ///
    /// # Errors
    /// [`Error::Locked`] naming the holder when another manager has it; [`Error::Io`].
    pub(super) fn acquire(path: &Path, dir: &Path) -> Result<ManagerLock> {
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(Error::io("open", path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                // The holder's note is for the message only; an unreadable one still means locked.
                let _ = file.read_to_string(&mut holder);
                let holder = if holder.trim().is_empty() { "holder unknown".to_string() } else { holder.trim().to_string() };
                return Err(Error::Locked { dir: dir.to_path_buf(), holder });
            }
            Err(TryLockError::Error(e)) => return Err(Error::io("lock", path)(e)),
        }
        let note = format!("pid {} on {} since {}\n", std::process::id(), hostname(), now_rfc3339());
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(note.as_bytes()))
            .map_err(Error::io("write", path))?;
        Ok(ManagerLock { _file: file })
    }
}

/// The note of the manager holding the lock at `path`, if one does.
///
/// # Errors
/// [`Error::Io`] when the lock file exists but cannot be opened or read.
pub(super) fn holder(path: &Path) -> Result<Option<String>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", path)(e)),
    };
    // A shared lock succeeds only while no manager holds the exclusive one; it is released
    // when `file` is closed at the end of this function.
    match file.try_lock_shared() {
        Ok(()) => return Ok(None),
        Err(TryLockError::WouldBlock) => {}
        Err(TryLockError::Error(e)) => return Err(Error::io("lock", path)(e)),
    }
    let mut note = String::new();
    file.read_to_string(&mut note).map_err(Error::io("read", path))?;
    Ok(Some(note.trim().to_string()))
}

/// Reads back the note [`ManagerLock::acquire`] writes: `pid N on HOST since TIME`.
pub(super) fn parse_holder(note: &str) -> Option<(u32, String)> {
    let rest = note.strip_prefix("pid ")?;
    let (pid, rest) = rest.split_once(" on ")?;
    let host = rest.split_once(" since ").map_or(rest, |(host, _)| host);
    Some((pid.parse().ok()?, host.to_string()))
}
