//! Activations cached by SAELens (`CacheActivationsRunner`, sae-lens 6.54), imported as a
//! saescale shard directory, which then has every guarantee of saescale's own shards (seeded
//! shuffle, held-out split, stored normalisation, exact resumption).
//!
//! What SAELens writes (`datasets.Dataset.save_to_disk`; docs/ACTIVATIONS.md):
//! - `state.json`: `_data_files`, the `data-0000i-of-0000n.arrow` files in order;
//! - `dataset_info.json`: `features`, among them one `Array2D` of `shape [context, d_in]`,
//!   `dtype float32`, named after the hook (e.g. `blocks.6.hook_resid_post`), and `token_ids`;
//! - the `.arrow` files, in the Arrow IPC *stream* format: one row per sequence, the hook column
//!   stored as a list (of `context` tokens) of lists (of `d_in` floats).
//!
//! Tokens keep the cache's order (SAELens shuffles it unless told not to); saescale's source
//! shuffles again by its own seed. SAELens prepends BOS to every sequence by default, whose
//! activation is an outlier on most models: `saescale activations prepare
//! --max-norm-over-median` drops it as for extracted shards.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{Array, ArrayRef};
use arrow_ipc::reader::StreamReader;
use arrow_schema::DataType;
use serde::Deserialize;

use crate::shards::{write_shard, Dtype, Manifest, ShardEntry, MANIFEST_FILE, MANIFEST_VERSION};
use crate::{Error, Result};

/// How an import lays out its shards.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportOptions {
    /// The cached hook to import; `None`: the cache's only `Array2D` column.
    pub hook: Option<String>,
    /// Tokens per shard (the last shard may hold fewer).
    pub shard_tokens: usize,
    /// The last this-many shards form the held-out split.
    pub heldout_shards: usize,
    /// Element type of the shards written.
    pub dtype: Dtype,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { hook: None, shard_tokens: 65_536, heldout_shards: 1, dtype: Dtype::F32 }
    }
}

/// What a cache directory holds, from its two JSON files.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheInfo {
    /// The hook column imported.
    pub hook: String,
    /// Tokens per cached sequence.
    pub context: usize,
    /// Width of each activation.
    pub d: usize,
    /// The Arrow stream files, in order.
    pub files: Vec<PathBuf>,
}

#[derive(Deserialize)]
struct State {
    #[serde(rename = "_data_files")]
    data_files: Vec<DataFile>,
}

#[derive(Deserialize)]
struct DataFile {
    filename: String,
}

#[derive(Deserialize)]
struct DatasetInfo {
    features: serde_json::Map<String, serde_json::Value>,
}

/// Reads `state.json` and `dataset_info.json` of the cache at `dir` and picks the hook column.
///
/// # Errors
/// [`Error::Io`] when a file is unreadable; [`Error::Manifest`] naming the file when it is not
/// what SAELens writes, or when `hook` is not one of its `Array2D` columns (or none is given
/// and there are several).
pub fn read_cache_info(dir: &Path, hook: Option<&str>) -> Result<CacheInfo> {
    let read = |name: &str| -> Result<(PathBuf, String)> {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).map_err(Error::io("read the SAELens cache file", &path))?;
        Ok((path, text))
    };
    let (state_path, state) = read("state.json")?;
    let state: State = serde_json::from_str(&state).map_err(|e| Error::manifest(&state_path, format!("not a datasets state file: {e}")))?;
    let (info_path, info) = read("dataset_info.json")?;
    let info: DatasetInfo = serde_json::from_str(&info).map_err(|e| Error::manifest(&info_path, format!("not a datasets info file: {e}")))?;

    // Every float32 Array2D column [context, d] is a cached hook.
    let hooks: Vec<(String, usize, usize)> = info
        .features
        .iter()
        .filter(|(_, f)| f["_type"] == "Array2D" && f["dtype"] == "float32")
        .filter_map(|(name, f)| {
            let shape = f["shape"].as_array()?;
            match shape.as_slice() {
                [context, d] => Some((name.clone(), context.as_u64()? as usize, d.as_u64()? as usize)),
                _ => None,
            }
        })
        .collect();
    let names = || hooks.iter().map(|(n, ..)| n.as_str()).collect::<Vec<_>>().join(", ");
    let chosen = match (hook, hooks.as_slice()) {
        (_, []) => return Err(Error::manifest(&info_path, "no float32 Array2D feature: not an SAELens activations cache")),
        (None, [only]) => only.clone(),
        (None, _) => return Err(Error::manifest(&info_path, format!("several cached hooks ({}); choose one", names()))),
        (Some(wanted), _) => hooks
            .iter()
            .find(|(n, ..)| n == wanted)
            .cloned()
            .ok_or_else(|| Error::manifest(&info_path, format!("no cached hook {wanted:?}; it has {}", names())))?,
    };
    let (hook, context, d) = chosen;
    if context == 0 || d == 0 {
        return Err(Error::manifest(&info_path, format!("hook {hook:?} has shape [{context}, {d}]")));
    }
    if state.data_files.is_empty() {
        return Err(Error::manifest(&state_path, "lists no data files"));
    }
    let files = state.data_files.iter().map(|f| dir.join(&f.filename)).collect();
    Ok(CacheInfo { hook, context, d, files })
}

/// Imports the SAELens cache at `cache` as a shard directory at `out` (created; it must not hold
/// a manifest already) and returns its manifest. Shards are written first and the manifest
/// last, so an interrupted import leaves no directory that reads as complete.
///
/// # Errors
/// As [`read_cache_info`]; [`Error::Shard`] naming the `.arrow` file that is not an Arrow
/// stream of the expected layout; [`Error::InvalidConfig`] for options out of range or a
/// cache too small for a training and a held-out shard; [`Error::Io`] naming the file.
pub fn import_saelens_cache(cache: &Path, out: &Path, options: &ImportOptions) -> Result<Manifest> {
    if options.shard_tokens == 0 {
        return Err(Error::InvalidConfig { field: "shard_tokens", reason: "must be at least 1".into() });
    }
    if options.heldout_shards == 0 {
        return Err(Error::InvalidConfig { field: "heldout_shards", reason: "must be at least 1".into() });
    }
    let info = read_cache_info(cache, options.hook.as_deref())?;
    if out.join(MANIFEST_FILE).exists() {
        return Err(Error::manifest(out.join(MANIFEST_FILE), "already exists: import into a new directory"));
    }
    std::fs::create_dir_all(out).map_err(Error::io("create the shard directory", out))?;

    let mut writer = ShardWriter { out, d: info.d, options, buffer: Vec::with_capacity(options.shard_tokens * info.d), shards: Vec::new() };
    for file in &info.files {
        for_each_token(file, &info, |row| writer.push(row))?;
    }
    writer.flush()?;
    let shards = writer.shards;
    let total: u64 = shards.iter().map(|s| s.tokens).sum();
    if shards.len() <= options.heldout_shards {
        return Err(Error::InvalidConfig {
            field: "shard_tokens",
            reason: format!(
                "the cache holds {total} tokens: {} shard(s) of {} tokens, too few for {} held-out shard(s) and one to train on; lower --shard-tokens",
                shards.len(),
                options.shard_tokens,
                options.heldout_shards
            ),
        });
    }
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        d: info.d,
        dtype: options.dtype,
        model: format!("SAELens activations cache {}", cache.display()),
        layer: None,
        hook: Some(info.hook),
        heldout_shards: options.heldout_shards,
        shards,
        outlier_filter: None,
        normalization: None,
    };
    manifest.write(out)?;
    Ok(manifest)
}

/// Collects rows into shards of `shard_tokens` and writes each when full.
struct ShardWriter<'a> {
    out: &'a Path,
    d: usize,
    options: &'a ImportOptions,
    buffer: Vec<f32>,
    shards: Vec<ShardEntry>,
}

impl ShardWriter<'_> {
    fn push(&mut self, row: &[f32]) -> Result<()> {
        self.buffer.extend_from_slice(row);
        if self.buffer.len() == self.options.shard_tokens * self.d {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let file = format!("{:05}.npy", self.shards.len());
        write_shard(&self.out.join(&file), &self.buffer, self.d, self.options.dtype)?;
        self.shards.push(ShardEntry { file, tokens: (self.buffer.len() / self.d) as u64, outliers: Vec::new() });
        self.buffer.clear();
        Ok(())
    }
}

/// Calls `each` with every token's activation row (`d` values) of the Arrow stream `file`, in
/// order: sequence by sequence, token by token.
fn for_each_token(file: &Path, info: &CacheInfo, mut each: impl FnMut(&[f32]) -> Result<()>) -> Result<()> {
    let bad = |reason: String| Error::shard(file, reason);
    let handle = File::open(file).map_err(Error::io("open the SAELens cache file", file))?;
    let reader = StreamReader::try_new(BufReader::new(handle), None).map_err(|e| bad(format!("not an Arrow IPC stream: {e}")))?;
    for batch in reader {
        let batch = batch.map_err(|e| bad(format!("cannot read a record batch: {e}")))?;
        let column = batch.column_by_name(&info.hook).ok_or_else(|| bad(format!("no column {:?}", info.hook)))?;
        for sequence in list_items(column, info.context, file)? {
            for token in list_items(&sequence, info.d, file)? {
                let values = match token.data_type() {
                    DataType::Float32 => token.as_primitive::<Float32Type>(),
                    other => return Err(bad(format!("activations are {other}, expected float32"))),
                };
                if values.null_count() > 0 {
                    return Err(bad("an activation is null".into()));
                }
                each(values.values())?;
            }
        }
    }
    Ok(())
}

/// The entries of a list array (variable- or fixed-size), each checked to hold `len`
/// elements: a batch's sequences (of `context` tokens each), or a sequence's tokens (of `d`
/// values each). `file` names errors.
fn list_items(array: &ArrayRef, len: usize, file: &Path) -> Result<Vec<ArrayRef>> {
    let bad = |reason: String| Error::shard(file, reason);
    if array.null_count() > 0 {
        return Err(bad("a cached row is null".into()));
    }
    let entries: Vec<ArrayRef> = match array.data_type() {
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            (0..list.len()).map(|i| list.value(i)).collect()
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>();
            (0..list.len()).map(|i| list.value(i)).collect()
        }
        DataType::FixedSizeList(_, _) => {
            let list = array.as_fixed_size_list();
            (0..list.len()).map(|i| list.value(i)).collect()
        }
        other => return Err(bad(format!("expected a list column, found {other}"))),
    };
    if let Some(entry) = entries.iter().find(|e| e.len() != len) {
        return Err(bad(format!("an entry holds {} elements, the cache's dataset_info.json says {len}", entry.len())));
    }
    Ok(entries)
}
