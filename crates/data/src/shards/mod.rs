//! Activation shards on disk (`source = "shards"`): a directory of `.npy` or `.safetensors`
//! files, each `[tokens, d]` in f32, f16 or bf16, described by a [`Manifest`].
//!
//! # The stream
//! A split (training or held-out shards, see [`Manifest::heldout_shards`]) is cut into
//! *chunks* of `chunk_rows` consecutive rows of one shard. Each epoch lists every chunk once,
//! in an order drawn from the seed and the epoch; consecutive groups of
//! `shuffle_buffer / chunk_rows` chunks form *windows*, and the rows of a window are emitted
//! in an order drawn from the seed, the epoch and the window. Only one window is in memory:
//! the shuffle buffer is bounded and a shard is never loaded whole. Every row of the split
//! appears exactly once per epoch, and the row at any cursor is a pure function of
//! `(seed, cursor)`, so [`Source::seek`] costs one window read and resumption is exact.
//! Outlier tokens listed in the manifest (by [`prepare`]) are skipped and never counted.
//!
//! Mixing: a window holds `shuffle_buffer / chunk_rows` chunks from random places in the
//! dataset, so a batch mixes many documents even though each shard holds consecutive text.

mod format;
mod manifest;

use std::fs::File;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use format::{write_shard, Dtype, Format, ShardLayout};
pub use manifest::{Manifest, Normalization, OutlierFilter, ShardEntry, MANIFEST_FILE, MANIFEST_VERSION};

use crate::source::rows_in;
use crate::{Error, Result, Source, Split};

/// Settings of the shard source (`source = "shards"` in a run file).
///
/// ```toml
/// [data]
/// source = "shards"
/// path = "data/smollm2-layer15"
/// d_in = 576
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardsConfig {
    /// The shard directory (holding `manifest.json`); relative paths are resolved against the
    /// working directory of `saescale train`.
    pub path: PathBuf,
    /// Width of each row; must equal the manifest's `d`. Written here so that planning a
    /// sweep never needs the data.
    pub d_in: usize,
    /// Rows held in memory and shuffled together.
    #[serde(default = "defaults::shuffle_buffer")]
    pub shuffle_buffer: usize,
    /// Consecutive rows of one shard read together; `shuffle_buffer / chunk_rows` chunks from
    /// random places make up one shuffle buffer.
    #[serde(default = "defaults::chunk_rows")]
    pub chunk_rows: usize,
    /// Seed of the shuffle; runs with one data seed see the same rows in the same order.
    #[serde(default)]
    pub seed: u64,
}

mod defaults {
    pub fn shuffle_buffer() -> usize {
        1 << 16
    }
    pub fn chunk_rows() -> usize {
        512
    }
}

impl ShardsConfig {
    /// Settings for `path` of width `d_in`, other fields at their defaults.
    pub fn new(path: impl Into<PathBuf>, d_in: usize) -> Self {
        ShardsConfig { path: path.into(), d_in, shuffle_buffer: defaults::shuffle_buffer(), chunk_rows: defaults::chunk_rows(), seed: 0 }
    }

    /// Checks every setting against its valid range (without touching the files).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first setting out of range.
    pub fn validate(&self) -> Result<()> {
        let invalid = |field, reason: &str| Err(Error::InvalidConfig { field, reason: reason.into() });
        if self.path.as_os_str().is_empty() {
            return invalid("data.path", "must name a shard directory");
        }
        if self.d_in == 0 {
            return invalid("data.d_in", "must be a positive integer");
        }
        if self.chunk_rows == 0 || self.chunk_rows > u32::MAX as usize {
            return invalid("data.chunk_rows", "must be a positive integer below 2^32");
        }
        if self.shuffle_buffer < self.chunk_rows {
            return invalid("data.shuffle_buffer", "must be at least data.chunk_rows");
        }
        Ok(())
    }
}

/// A run of consecutive rows of one shard: the unit of the epoch-level shuffle.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    shard: u32,
    start: u64,
    len: u32,
    /// Rows left after the outlier filter.
    kept: u32,
}

/// The chunk order of one epoch and where each window starts, in emitted rows.
struct EpochPlan {
    epoch: u64,
    order: Vec<u32>,
    /// `window_starts[w]` = rows emitted in this epoch before window `w`; one entry more
    /// than there are windows, the last being the epoch's row count.
    window_starts: Vec<u64>,
}

/// The window in memory: its kept rows as read, and the order to emit them in.
struct Window {
    epoch: u64,
    index: usize,
    rows: Vec<f32>,
    order: Vec<u32>,
}

/// Streams one split of a shard directory; see the [module docs](self).
pub struct ShardSource {
    d: usize,
    seed: u64,
    split: Split,
    layouts: Vec<ShardLayout>,
    outliers: Vec<Vec<u64>>,
    chunks: Vec<Chunk>,
    chunks_per_window: usize,
    rows_per_epoch: u64,
    stored_scale: Option<f64>,
    cursor: u64,
    plan: Option<EpochPlan>,
    window: Option<Window>,
    /// Scratch space for one chunk's bytes and values.
    bytes: Vec<u8>,
    scratch: Vec<f32>,
}

impl ShardSource {
    /// Opens `split` of the directory `config.path`, checking every shard's header.
    ///
    /// # Errors
    /// [`Error::Manifest`] for a missing or malformed manifest, a `d` that is not
    /// `config.d_in`, or an outlier filter that [`prepare`] has not applied yet;
    /// [`Error::Shard`] naming the first shard that does not match its manifest.
    pub fn open(config: &ShardsConfig, split: Split) -> Result<Self> {
        config.validate()?;
        let manifest = Manifest::read(&config.path)?;
        let manifest_path = config.path.join(MANIFEST_FILE);
        if manifest.d != config.d_in {
            return Err(Error::manifest(manifest_path, format!("rows have d = {}, but data.d_in = {}", manifest.d, config.d_in)));
        }
        if manifest.outlier_filter.is_some() && manifest.normalization.is_none() {
            return Err(Error::manifest(
                manifest_path,
                "an outlier filter is set but has not been applied: run `saescale activations prepare` on the directory",
            ));
        }
        Self::with_manifest(config, &manifest, split, true)
    }

    fn with_manifest(config: &ShardsConfig, manifest: &Manifest, split: Split, filter: bool) -> Result<Self> {
        let (train, heldout) = manifest.split_shards();
        let entries = match split {
            Split::Train => train,
            Split::Heldout => heldout,
        };
        let layouts = manifest.open_layouts(&config.path, entries)?;
        let outliers: Vec<Vec<u64>> = entries.iter().map(|e| if filter { e.outliers.clone() } else { Vec::new() }).collect();
        let mut chunks = Vec::new();
        for (shard, layout) in layouts.iter().enumerate() {
            let mut start = 0;
            while start < layout.tokens {
                let len = (config.chunk_rows as u64).min(layout.tokens - start);
                let skipped = count_in(&outliers[shard], start, start + len);
                chunks.push(Chunk { shard: shard as u32, start, len: len as u32, kept: (len - skipped) as u32 });
                start += len;
            }
        }
        let rows_per_epoch: u64 = chunks.iter().map(|c| c.kept as u64).sum();
        if rows_per_epoch == 0 {
            return Err(Error::manifest(config.path.join(MANIFEST_FILE), format!("the {split:?} split has no rows")));
        }
        Ok(ShardSource {
            d: manifest.d,
            seed: config.seed,
            split,
            layouts,
            outliers,
            chunks,
            chunks_per_window: (config.shuffle_buffer / config.chunk_rows).max(1),
            rows_per_epoch,
            stored_scale: manifest.normalization.as_ref().map(|n| n.scale),
            cursor: 0,
            plan: None,
            window: None,
            bytes: Vec::new(),
            scratch: Vec::new(),
        })
    }

    /// Rows in one epoch of this split (after the outlier filter).
    pub fn rows_per_epoch(&self) -> u64 {
        self.rows_per_epoch
    }

    fn rng(&self, purpose: u64, stream: u64) -> ChaCha8Rng {
        let split = match self.split {
            Split::Train => 1,
            Split::Heldout => 2,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ (purpose << 56) ^ (split << 48));
        rng.set_stream(stream);
        rng
    }

    fn plan_epoch(&mut self, epoch: u64) {
        if self.plan.as_ref().is_some_and(|p| p.epoch == epoch) {
            return;
        }
        let mut order: Vec<u32> = (0..self.chunks.len() as u32).collect();
        shuffle(&mut order, &mut self.rng(1, epoch));
        let mut window_starts = vec![0u64];
        for group in order.chunks(self.chunks_per_window) {
            let kept: u64 = group.iter().map(|&c| self.chunks[c as usize].kept as u64).sum();
            window_starts.push(window_starts.last().copied().unwrap_or(0) + kept);
        }
        self.plan = Some(EpochPlan { epoch, order, window_starts });
    }

    /// Makes the window holding the row at `self.cursor` current; returns its first row's
    /// position within the epoch.
    fn load_window(&mut self) -> Result<u64> {
        let (epoch, row) = (self.cursor / self.rows_per_epoch, self.cursor % self.rows_per_epoch);
        self.plan_epoch(epoch);
        let plan = self.plan.as_ref().expect("planned just above");
        // The last window start <= row; windows with no kept rows are skipped this way.
        let index = plan.window_starts.partition_point(|&s| s <= row) - 1;
        let start = plan.window_starts[index];
        if self.window.as_ref().is_some_and(|w| w.epoch == epoch && w.index == index) {
            return Ok(start);
        }
        let chunk_ids: Vec<u32> = plan.order.chunks(self.chunks_per_window).nth(index).expect("index < windows").to_vec();
        let mut window = self.window.take().unwrap_or(Window { epoch, index, rows: Vec::new(), order: Vec::new() });
        window.rows.clear();
        for id in chunk_ids {
            self.read_chunk(self.chunks[id as usize], &mut window.rows)?;
        }
        let rows = window.rows.len() / self.d;
        window.order.clear();
        window.order.extend(0..rows as u32);
        shuffle(&mut window.order, &mut self.rng(2, (epoch << 32) | index as u64));
        (window.epoch, window.index) = (epoch, index);
        self.window = Some(window);
        Ok(start)
    }

    /// Appends the kept rows of `chunk` to `out`.
    fn read_chunk(&mut self, chunk: Chunk, out: &mut Vec<f32>) -> Result<()> {
        let layout = &self.layouts[chunk.shard as usize];
        let mut file = File::open(&layout.path).map_err(Error::io("open the shard", &layout.path))?;
        self.scratch.resize(chunk.len as usize * self.d, 0.0);
        layout.read_rows(&mut file, chunk.start, &mut self.scratch, &mut self.bytes)?;
        let outliers = &self.outliers[chunk.shard as usize];
        if chunk.kept == chunk.len {
            out.extend_from_slice(&self.scratch);
        } else {
            for (i, row) in self.scratch.chunks_exact(self.d).enumerate() {
                if outliers.binary_search(&(chunk.start + i as u64)).is_err() {
                    out.extend_from_slice(row);
                }
            }
        }
        Ok(())
    }
}

impl Source for ShardSource {
    fn d_in(&self) -> usize {
        self.d
    }

    fn fill(&mut self, out: &mut [f32]) -> Result<()> {
        let rows = rows_in(out.len(), self.d)?;
        let mut done = 0;
        while done < rows {
            let start = self.load_window()?;
            let window = self.window.as_ref().expect("loaded just above");
            let offset = (self.cursor % self.rows_per_epoch - start) as usize;
            let take = (window.order.len() - offset).min(rows - done);
            for (i, &row) in window.order[offset..offset + take].iter().enumerate() {
                let (src, dst) = (row as usize * self.d, (done + i) * self.d);
                out[dst..dst + self.d].copy_from_slice(&window.rows[src..src + self.d]);
            }
            done += take;
            self.cursor += take as u64;
        }
        Ok(())
    }

    fn cursor(&self) -> u64 {
        self.cursor
    }

    fn seek(&mut self, cursor: u64) -> Result<()> {
        self.cursor = cursor;
        Ok(())
    }

    fn stored_scale(&self) -> Option<f64> {
        self.stored_scale
    }
}

/// Fisher–Yates shuffle driven by `rng` (a fixed algorithm, so orders are stable).
fn shuffle(items: &mut [u32], rng: &mut ChaCha8Rng) {
    for i in (1..items.len()).rev() {
        let j = rng.random_range(0..=i);
        items.swap(i, j);
    }
}

/// How many of the ascending `sorted` lie in `start..end`.
fn count_in(sorted: &[u64], start: u64, end: u64) -> u64 {
    (sorted.partition_point(|&i| i < end) - sorted.partition_point(|&i| i < start)) as u64
}

/// Estimates the norm statistics of a shard directory once and stores them in its manifest:
/// the median norm of `sample_rows` tokens of the (shuffled) training split, the outlier
/// list of every shard when the manifest (or `outlier_filter`, which replaces its setting)
/// asks for a filter, and the scale `s = √d / E‖x‖` over the sample's kept tokens.
///
/// Reads every shard once when filtering (to list its outliers), otherwise only the sample.
///
/// # Errors
/// As [`ShardSource::open`], plus [`Error::Io`] when the manifest cannot be written.
pub fn prepare(dir: &Path, sample_rows: usize, outlier_filter: Option<OutlierFilter>) -> Result<Manifest> {
    let mut manifest = Manifest::read(dir)?;
    if outlier_filter.is_some() {
        manifest.outlier_filter = outlier_filter;
    }
    let config = ShardsConfig::new(dir, manifest.d);
    let mut sample_source = ShardSource::with_manifest(&config, &manifest, Split::Train, false)?;
    let rows = sample_rows.clamp(1, sample_source.rows_per_epoch() as usize);
    let mut sample = vec![0f32; rows * manifest.d];
    sample_source.fill(&mut sample)?;
    let norms: Vec<f64> = sample.chunks_exact(manifest.d).map(norm).collect();
    let median = median(&norms);
    let threshold = manifest.outlier_filter.as_ref().map_or(f64::INFINITY, |f| f.max_norm_over_median * median);

    let layouts = manifest.open_layouts(dir, &manifest.shards)?;
    for (entry, layout) in manifest.shards.iter_mut().zip(&layouts) {
        entry.outliers = if threshold.is_finite() { outliers_of(layout, threshold)? } else { Vec::new() };
    }
    let kept: Vec<f64> = norms.iter().copied().filter(|&n| n <= threshold).collect();
    let mean = kept.iter().sum::<f64>() / kept.len().max(1) as f64;
    if mean.is_nan() || mean <= 0.0 {
        return Err(Error::manifest(dir.join(MANIFEST_FILE), "the sample's mean norm is zero: cannot normalise"));
    }
    manifest.normalization =
        Some(Normalization { scale: (manifest.d as f64).sqrt() / mean, mean_norm: mean, median_norm: median, rows: rows as u64 });
    manifest.write(dir)?;
    Ok(manifest)
}

fn norm(row: &[f32]) -> f64 {
    row.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt()
}

/// Median of `values` (the mean of the middle two for an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
    }
}

/// Row indices of `layout` whose norm exceeds `threshold`, reading the shard in chunks.
fn outliers_of(layout: &ShardLayout, threshold: f64) -> Result<Vec<u64>> {
    const CHUNK: u64 = 4096;
    let mut file = File::open(&layout.path).map_err(Error::io("open the shard", &layout.path))?;
    let (mut rows, mut bytes, mut found) = (Vec::new(), Vec::new(), Vec::new());
    let mut start = 0;
    while start < layout.tokens {
        let len = CHUNK.min(layout.tokens - start);
        rows.resize(len as usize * layout.d, 0.0);
        layout.read_rows(&mut file, start, &mut rows, &mut bytes)?;
        found.extend(rows.chunks_exact(layout.d).enumerate().filter(|(_, r)| norm(r) > threshold).map(|(i, _)| start + i as u64));
        start += len;
    }
    Ok(found)
}

#[cfg(test)]
mod tests;
