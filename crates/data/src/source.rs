//! The [`Source`] trait every activation source implements, and [`open`] to build one.

use crate::{DataConfig, Result, ShardSource, SyntheticSource};

/// Which stream of a dataset to read.
///
/// The two splits never share a row: training statistics measured on [`Split::Heldout`] are
/// honest estimates of generalisation, not of memorisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// The stream the SAE trains on.
    Train,
    /// A disjoint stream used for the final evaluation.
    Heldout,
}

/// A stream of activation vectors of width [`Source::d_in`].
///
/// A source is positioned by its *cursor*: the number of rows read from it so far. Reading
/// is deterministic in the cursor, so `seek(c)` followed by `fill` returns exactly the rows
/// that a source that had read `c` rows would return next. Checkpoints store the cursor.
pub trait Source: Send {
    /// Width of each row.
    fn d_in(&self) -> usize;

    /// Fills `out` (row-major, `[rows, d_in]`) with the next rows and advances the cursor.
    ///
    /// # Errors
    /// [`crate::Error::RaggedBatch`] when `out.len()` is not a multiple of `d_in`; sources
    /// backed by files may also fail to read.
    fn fill(&mut self, out: &mut [f32]) -> Result<()>;

    /// Rows read so far.
    fn cursor(&self) -> u64;

    /// Moves to `cursor` rows from the start of the stream.
    ///
    /// # Errors
    /// File-backed sources fail when the position is beyond a finite stream's end.
    fn seek(&mut self, cursor: u64) -> Result<()>;

    /// The normalisation constant `s` (E‖s·x‖ = √d) stored with the dataset, if any; the
    /// trainer uses it instead of estimating one (see [`crate::scale_for`]).
    fn stored_scale(&self) -> Option<f64> {
        None
    }
}

/// Opens the source a run's `[data]` section describes, positioned at row 0 of `split`.
///
/// # Errors
/// [`crate::Error::InvalidConfig`] when the configuration is out of range; for shards,
/// [`crate::Error::Manifest`] or [`crate::Error::Shard`] naming the file that does not match.
pub fn open(config: &DataConfig, split: Split) -> Result<Box<dyn Source>> {
    match config {
        DataConfig::Synthetic(synthetic) => Ok(Box::new(SyntheticSource::new(synthetic, split)?)),
        DataConfig::Shards(shards) => Ok(Box::new(ShardSource::open(shards, split)?)),
    }
}

/// Checks that a buffer of `len` values holds whole rows of width `d_in`; returns the row count.
pub(crate) fn rows_in(len: usize, d_in: usize) -> Result<usize> {
    if d_in == 0 || !len.is_multiple_of(d_in) {
        return Err(crate::Error::RaggedBatch { len, d_in });
    }
    Ok(len / d_in)
}
