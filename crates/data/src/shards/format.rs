//! On-disk shard formats: `.npy` (NumPy format 1.0–3.0) and `.safetensors`, each holding one
//! row-major `[tokens, d]` matrix of f32, f16 or bf16.
//!
//! Only the header is parsed when a shard is opened; rows are read on demand with
//! `seek` + `read_exact`, so a shard is never loaded whole.
//!
//! ## Reference
//! - NumPy `.npy`: <https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html>
//!   (magic `\x93NUMPY`, version byte pair, little-endian u16 (v1) or u32 (v2, v3) header
//!   length, a Python dict literal with `descr`, `fortran_order`, `shape`). NumPy has no
//!   bfloat16; bf16 shards hold the raw 16-bit patterns with descr `<u2` or `|V2` (what
//!   `ml_dtypes.bfloat16` arrays save as), and the manifest's dtype says they are bf16.
//! - safetensors: 8-byte little-endian header length, a JSON header
//!   `{name: {dtype, shape, data_offsets}, "__metadata__": {..}}`, then the data.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Element type of a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// IEEE binary32.
    F32,
    /// IEEE binary16.
    F16,
    /// bfloat16 (the top 16 bits of an f32).
    Bf16,
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::Bf16 => 2,
        }
    }

    /// Decodes little-endian elements of this type from `bytes` into `out`.
    pub(crate) fn decode(self, bytes: &[u8], out: &mut [f32]) {
        debug_assert_eq!(bytes.len(), out.len() * self.size());
        match self {
            Dtype::F32 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                    *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
            Dtype::F16 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32();
                }
            }
            Dtype::Bf16 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = half::bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32();
                }
            }
        }
    }

    /// Encodes `values` as little-endian elements of this type (rounding to nearest even).
    pub(crate) fn encode(self, values: &[f32]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(values.len() * self.size());
        for &v in values {
            match self {
                Dtype::F32 => bytes.extend_from_slice(&v.to_le_bytes()),
                Dtype::F16 => bytes.extend_from_slice(&half::f16::from_f32(v).to_bits().to_le_bytes()),
                Dtype::Bf16 => bytes.extend_from_slice(&half::bf16::from_f32(v).to_bits().to_le_bytes()),
            }
        }
        bytes
    }

    fn safetensors_name(self) -> &'static str {
        match self {
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::Bf16 => "BF16",
        }
    }
}

/// File format of a shard, chosen by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// NumPy `.npy`.
    Npy,
    /// `.safetensors` with exactly one tensor.
    Safetensors,
}

impl Format {
    /// The format a file name's extension names.
    pub fn of(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "npy" => Some(Format::Npy),
            "safetensors" => Some(Format::Safetensors),
            _ => None,
        }
    }
}

/// The layout of one shard file, read from its header and checked against the manifest.
#[derive(Debug, Clone)]
pub struct ShardLayout {
    /// The file.
    pub path: PathBuf,
    /// Byte offset of row 0.
    pub data_offset: u64,
    /// Rows.
    pub tokens: u64,
    /// Row width.
    pub d: usize,
    /// Element type.
    pub dtype: Dtype,
}

impl ShardLayout {
    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        self.d * self.dtype.size()
    }

    /// Reads the header of `path` and checks that it holds `[tokens, d]` of `dtype` and that
    /// the file is exactly as long as that.
    ///
    /// # Errors
    /// [`Error::Shard`] naming the file for any mismatch, an unreadable header or a file cut
    /// short; [`Error::Io`] when it cannot be opened.
    pub fn open(path: &Path, tokens: u64, d: usize, dtype: Dtype) -> Result<ShardLayout> {
        let format = Format::of(path)
            .ok_or_else(|| Error::shard(path, "unknown extension: expected .npy or .safetensors"))?;
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let header = match format {
            Format::Npy => read_npy_header(&mut file, path)?,
            Format::Safetensors => read_safetensors_header(&mut file, path)?,
        };
        let fail = |reason: String| Err(Error::shard(path, reason));
        if header.shape.len() != 2 {
            return fail(format!("expected a 2-D [tokens, d] array, found shape {:?}", header.shape));
        }
        let (rows, width) = (header.shape[0] as u64, header.shape[1]);
        if width != d {
            return fail(format!("rows have width {width}, but the manifest says d = {d}"));
        }
        if rows != tokens {
            return fail(format!("holds {rows} tokens, but the manifest says {tokens}"));
        }
        let file_dtype = match header.dtype {
            HeaderDtype::Known(t) => t,
            // Raw 16-bit patterns are bf16 exactly when the manifest says so.
            HeaderDtype::Raw16 if dtype == Dtype::Bf16 => Dtype::Bf16,
            HeaderDtype::Raw16 => return fail(format!("holds raw 16-bit values, but the manifest says dtype = {dtype:?}")),
        };
        if file_dtype != dtype {
            return fail(format!("holds {file_dtype:?} values, but the manifest says dtype = {dtype:?}"));
        }
        let layout = ShardLayout { path: path.to_path_buf(), data_offset: header.data_offset, tokens, d, dtype };
        let expected = header.data_offset + tokens * layout.row_bytes() as u64;
        if file_len < expected {
            return fail(format!("file is cut short: {file_len} bytes, {expected} expected for {tokens} × {d} {dtype:?}"));
        }
        if file_len > expected {
            return fail(format!("file has {} bytes after its {tokens} × {d} {dtype:?} rows", file_len - expected));
        }
        Ok(layout)
    }

    /// Reads rows `start..start + out.len() / d` into `out` as f32, through `file` (an open
    /// handle of this shard) and the scratch buffer `bytes`.
    ///
    /// # Errors
    /// [`Error::Shard`] when the file has changed underfoot and is short.
    pub fn read_rows(&self, file: &mut File, start: u64, out: &mut [f32], bytes: &mut Vec<u8>) -> Result<()> {
        let rows = (out.len() / self.d) as u64;
        debug_assert!(start + rows <= self.tokens);
        bytes.resize(out.len() * self.dtype.size(), 0);
        file.seek(SeekFrom::Start(self.data_offset + start * self.row_bytes() as u64))
            .map_err(|e| Error::io(&self.path, e))?;
        file.read_exact(bytes).map_err(|e| Error::shard(&self.path, format!("reading rows {start}..{}: {e}", start + rows)))?;
        self.dtype.decode(bytes, out);
        Ok(())
    }
}

enum HeaderDtype {
    Known(Dtype),
    /// Unsigned or void 16-bit: bf16 bit patterns.
    Raw16,
}

struct Header {
    shape: Vec<usize>,
    dtype: HeaderDtype,
    data_offset: u64,
}

fn read_npy_header(file: &mut File, path: &Path) -> Result<Header> {
    let bad = |reason: &str| Error::shard(path, format!("not a valid .npy file: {reason}"));
    let mut prefix = [0u8; 8];
    file.read_exact(&mut prefix).map_err(|_| bad("shorter than its magic string"))?;
    if &prefix[..6] != b"\x93NUMPY" {
        return Err(bad("no \\x93NUMPY magic string"));
    }
    let (len_bytes, major) = match prefix[6] {
        1 => (2, 1),
        2 | 3 => (4, prefix[6]),
        v => return Err(bad(&format!("unsupported format version {v}"))),
    };
    let mut len = [0u8; 4];
    file.read_exact(&mut len[..len_bytes]).map_err(|_| bad("header length cut short"))?;
    let header_len = u32::from_le_bytes(len) as usize;
    let mut text = vec![0u8; header_len];
    file.read_exact(&mut text).map_err(|_| bad("header cut short"))?;
    let text = if major == 3 { String::from_utf8(text).ok() } else { text.is_ascii().then(|| String::from_utf8_lossy(&text).into_owned()) }
        .ok_or_else(|| bad("header is not text"))?;
    let descr = dict_value(&text, "descr").ok_or_else(|| bad("header has no 'descr'"))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let dtype = match descr {
        "<f4" => HeaderDtype::Known(Dtype::F32),
        "<f2" => HeaderDtype::Known(Dtype::F16),
        "<u2" | "|V2" | "<V2" => HeaderDtype::Raw16,
        other => return Err(Error::shard(path, format!("unsupported element type {other:?}: expected little-endian f32, f16 or bf16"))),
    };
    let fortran = dict_value(&text, "fortran_order").ok_or_else(|| bad("header has no 'fortran_order'"))?;
    if fortran != "False" {
        return Err(Error::shard(path, "array is in Fortran (column-major) order; save it C-contiguous"));
    }
    let shape = dict_value(&text, "shape").ok_or_else(|| bad("header has no 'shape'"))?;
    let shape = shape
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| bad(&format!("shape entry {s:?} is not a number"))))
        .collect::<Result<Vec<_>>>()?;
    let data_offset = (6 + 2 + len_bytes + header_len) as u64;
    Ok(Header { shape, dtype, data_offset })
}

/// The value text of `'key': value` in a NumPy header dict: a quoted string, a tuple or a bare word.
fn dict_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let at = text.find(&format!("'{key}'")).or_else(|| text.find(&format!("\"{key}\"")))?;
    let rest = text[at + key.len() + 2..].trim_start().strip_prefix(':')?.trim_start();
    let end = match rest.chars().next()? {
        '(' => rest.find(')')? + 1,
        q @ ('\'' | '"') => rest[1..].find(q)? + 2,
        _ => rest.find([',', '}']).unwrap_or(rest.len()),
    };
    Some(rest[..end].trim())
}

#[derive(Deserialize)]
struct SafetensorsEntry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (u64, u64),
}

fn read_safetensors_header(file: &mut File, path: &Path) -> Result<Header> {
    let bad = |reason: String| Error::shard(path, format!("not a valid .safetensors file: {reason}"));
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(|_| bad("shorter than its header length".into()))?;
    let header_len = u64::from_le_bytes(len);
    // The format caps headers at 100 MB (safetensors MAX_HEADER_SIZE).
    if header_len > 100_000_000 {
        return Err(bad(format!("header length {header_len} is implausible")));
    }
    let mut text = vec![0u8; header_len as usize];
    file.read_exact(&mut text).map_err(|_| bad("header cut short".into()))?;
    let mut entries: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&text).map_err(|e| bad(format!("header is not JSON: {e}")))?;
    entries.remove("__metadata__");
    if entries.len() != 1 {
        let names: Vec<_> = entries.keys().collect();
        return Err(Error::shard(path, format!("expected exactly one tensor, found {names:?}")));
    }
    let (name, entry) = entries.into_iter().next().expect("one entry, checked above");
    let entry: SafetensorsEntry =
        serde_json::from_value(entry).map_err(|e| bad(format!("tensor {name:?} has a malformed entry: {e}")))?;
    let dtype = match entry.dtype.as_str() {
        "F32" => Dtype::F32,
        "F16" => Dtype::F16,
        "BF16" => Dtype::Bf16,
        other => return Err(Error::shard(path, format!("unsupported element type {other}: expected F32, F16 or BF16"))),
    };
    let elements: usize = entry.shape.iter().product();
    if entry.data_offsets.1 - entry.data_offsets.0 != (elements * dtype.size()) as u64 {
        return Err(bad(format!("tensor {name:?}: data_offsets do not match its shape")));
    }
    Ok(Header { shape: entry.shape, dtype: HeaderDtype::Known(dtype), data_offset: 8 + header_len + entry.data_offsets.0 })
}

/// Writes `rows` (`[tokens, d]`, row-major f32) as a shard of `dtype` at `path`, in the format
/// its extension names; safetensors files hold one tensor named `activations`.
///
/// # Errors
/// [`Error::Io`] naming the file; [`Error::Shard`] for an unknown extension or ragged rows.
pub fn write_shard(path: &Path, rows: &[f32], d: usize, dtype: Dtype) -> Result<()> {
    if d == 0 || !rows.len().is_multiple_of(d) {
        return Err(Error::shard(path, format!("{} values are not whole rows of width {d}", rows.len())));
    }
    let tokens = rows.len() / d;
    let data = dtype.encode(rows);
    let bytes = match Format::of(path) {
        Some(Format::Npy) => {
            let descr = match dtype {
                Dtype::F32 => "<f4",
                Dtype::F16 => "<f2",
                Dtype::Bf16 => "<u2",
            };
            let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({tokens}, {d}), }}");
            // Pad so that the data starts on a 64-byte boundary, ending the header with '\n'.
            let total = 10 + dict.len() + 1;
            dict.push_str(&" ".repeat((64 - total % 64) % 64));
            dict.push('\n');
            let mut bytes = Vec::with_capacity(10 + dict.len() + data.len());
            bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
            bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
            bytes.extend_from_slice(dict.as_bytes());
            bytes.extend_from_slice(&data);
            bytes
        }
        Some(Format::Safetensors) => {
            let dtype_st = match dtype {
                Dtype::F32 => safetensors::Dtype::F32,
                Dtype::F16 => safetensors::Dtype::F16,
                Dtype::Bf16 => safetensors::Dtype::BF16,
            };
            debug_assert_eq!(format!("{dtype_st:?}"), dtype.safetensors_name());
            let view = safetensors::tensor::TensorView::new(dtype_st, vec![tokens, d], &data)
                .map_err(|e| Error::shard(path, format!("cannot encode: {e}")))?;
            safetensors::serialize([("activations", view)], None).map_err(|e| Error::shard(path, format!("cannot encode: {e}")))?
        }
        None => return Err(Error::shard(path, "unknown extension: expected .npy or .safetensors")),
    };
    let mut file = File::create(path).map_err(|e| Error::io(path, e))?;
    file.write_all(&bytes).and_then(|_| file.sync_all()).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize) -> Vec<f32> {
        // Exactly representable in bf16 and f16: small integers and halves.
        (0..n).map(|i| (i as f32 - 7.0) * 0.5).collect()
    }

    #[test]
    fn every_dtype_and_format_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let (tokens, d) = (5, 3);
        let rows = values(tokens * d);
        for dtype in [Dtype::F32, Dtype::F16, Dtype::Bf16] {
            for ext in ["npy", "safetensors"] {
                let path = dir.path().join(format!("{dtype:?}.{ext}"));
                write_shard(&path, &rows, d, dtype).unwrap();
                let layout = ShardLayout::open(&path, tokens as u64, d, dtype).unwrap();
                let mut file = File::open(&path).unwrap();
                let mut out = vec![0f32; 2 * d];
                layout.read_rows(&mut file, 2, &mut out, &mut Vec::new()).unwrap();
                assert_eq!(out, rows[2 * d..4 * d], "{dtype:?} {ext}");
            }
        }
    }

    #[test]
    fn reduced_precision_rounds_to_nearest() {
        // 1 + 2^-12 is not representable in f16 (10 fraction bits) nor bf16 (7): both round
        // to 1.0; 1 + 2^-10 is exact in f16 and rounds to 1.0 in bf16.
        let v = [1.0 + 2f32.powi(-12), 1.0 + 2f32.powi(-10)];
        for (dtype, expected) in [(Dtype::F16, [1.0, 1.0 + 2f32.powi(-10)]), (Dtype::Bf16, [1.0, 1.0])] {
            let mut out = [0f32; 2];
            dtype.decode(&dtype.encode(&v), &mut out);
            assert_eq!(out, expected, "{dtype:?}");
        }
    }

    #[test]
    fn reads_a_numpy_written_file() {
        // Bytes of `np.save(f, np.array([[1, 2], [3, 4]], dtype='<f4'))` (NumPy 2.x writes a
        // version 1.0 header padded to 128 bytes — the dict text below, spaces, then '\n').
        let dir = tempfile::tempdir().unwrap();
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&118u16.to_le_bytes());
        bytes.extend_from_slice(dict.as_bytes());
        bytes.extend(std::iter::repeat_n(b' ', 118 - dict.len() - 1));
        bytes.push(b'\n');
        for v in [1f32, 2.0, 3.0, 4.0] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let path = dir.path().join("np.npy");
        std::fs::write(&path, &bytes).unwrap();
        let layout = ShardLayout::open(&path, 2, 2, Dtype::F32).unwrap();
        assert_eq!(layout.data_offset, 128);
        let mut out = [0f32; 4];
        layout.read_rows(&mut File::open(&path).unwrap(), 0, &mut out, &mut Vec::new()).unwrap();
        assert_eq!(out, [1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn mismatches_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let rows = values(4 * 3);
        for ext in ["npy", "safetensors"] {
            let path = dir.path().join(format!("s.{ext}"));
            write_shard(&path, &rows, 3, Dtype::F16).unwrap();
            let message = |r: Result<ShardLayout>| r.unwrap_err().to_string();
            let wrong_d = message(ShardLayout::open(&path, 4, 5, Dtype::F16));
            assert!(wrong_d.contains("s.") && wrong_d.contains("width 3") && wrong_d.contains("d = 5"), "{wrong_d}");
            let wrong_dtype = message(ShardLayout::open(&path, 4, 3, Dtype::F32));
            assert!(wrong_dtype.contains("F16") && wrong_dtype.contains("F32"), "{wrong_dtype}");
            let wrong_tokens = message(ShardLayout::open(&path, 9, 3, Dtype::F16));
            assert!(wrong_tokens.contains("4 tokens") && wrong_tokens.contains("9"), "{wrong_tokens}");

            let len = std::fs::metadata(&path).unwrap().len();
            let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            file.set_len(len - 3).unwrap();
            let cut = message(ShardLayout::open(&path, 4, 3, Dtype::F16));
            assert!(cut.contains(&format!("s.{ext}")) && cut.contains("cut short"), "{cut}");
            file.set_len(5).unwrap();
            let header_cut = message(ShardLayout::open(&path, 4, 3, Dtype::F16));
            assert!(header_cut.contains(&format!("s.{ext}")), "{header_cut}");
        }
    }
}
