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
//!   Headers longer than [`MAX_NPY_HEADER`] bytes are refused before anything is allocated.
//! - safetensors: 8-byte little-endian header length, a JSON header
//!   `{name: {dtype, shape, data_offsets}, "__metadata__": {..}}`, then the data. The header
//!   is parsed and validated by the `safetensors` crate itself (its `Metadata`, which checks
//!   that offsets are contiguous and match each shape, with overflow-checked arithmetic); only
//!   the length prefix is read here, and it is checked against the crate's 100 MB cap and the
//!   file's length before the header is read.
//!
//! Every malformed header is an [`Error::Shard`] naming the file, never a panic; property
//! tests feed the header readers random and truncated bytes.

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
        let mut file = File::open(path).map_err(Error::io("open the shard", path))?;
        let file_len = file.metadata().map_err(Error::io("read the size of the shard", path))?.len();
        let header = match format {
            Format::Npy => read_npy_header(&mut file, path)?,
            Format::Safetensors => read_safetensors_header(&mut file, path, file_len)?,
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
        let expected = d
            .checked_mul(dtype.size())
            .and_then(|row| tokens.checked_mul(row as u64))
            .and_then(|data| data.checked_add(header.data_offset))
            .ok_or_else(|| Error::shard(path, format!("{tokens} × {d} {dtype:?} values do not fit a file")))?;
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
            .map_err(Error::io("seek in the shard", &self.path))?;
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

/// The longest `.npy` header accepted, in bytes: NumPy's own reader refuses longer ones
/// unless the caller raises its `max_header_size` (`_MAX_HEADER_SIZE = 10000` in
/// `numpy/lib/format.py` since NumPy 1.24, `numpy/lib/_format_impl.py` in NumPy 2), because
/// the header is a Python literal that is costly to evaluate. NumPy pads the headers it writes
/// to a multiple of 64 bytes, so a 2-D array's header is 128 bytes.
pub const MAX_NPY_HEADER: usize = 10_000;

/// The longest safetensors header accepted, in bytes: the `safetensors` crate's own cap
/// (`MAX_HEADER_SIZE` in safetensors 0.6 `src/tensor.rs`, which is not public).
pub const MAX_SAFETENSORS_HEADER: u64 = 100_000_000;

fn read_npy_header(reader: &mut impl Read, path: &Path) -> Result<Header> {
    let bad = |reason: &str| Error::shard(path, format!("not a valid .npy file: {reason}"));
    let mut prefix = [0u8; 8];
    reader.read_exact(&mut prefix).map_err(|_| bad("shorter than its magic string"))?;
    if &prefix[..6] != b"\x93NUMPY" {
        return Err(bad("no \\x93NUMPY magic string"));
    }
    let (len_bytes, major) = match prefix[6] {
        1 => (2, 1),
        2 | 3 => (4, prefix[6]),
        v => return Err(bad(&format!("unsupported format version {v}"))),
    };
    let mut len = [0u8; 4];
    reader.read_exact(&mut len[..len_bytes]).map_err(|_| bad("header length cut short"))?;
    let header_len = u32::from_le_bytes(len) as usize;
    if header_len > MAX_NPY_HEADER {
        return Err(bad(&format!("header length {header_len} exceeds {MAX_NPY_HEADER} bytes (NumPy's own limit)")));
    }
    let mut text = vec![0u8; header_len];
    reader.read_exact(&mut text).map_err(|_| bad("header cut short"))?;
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
    // At most 8 + 4 + MAX_NPY_HEADER: no overflow.
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

/// Reads a safetensors header with one tensor from `reader`, a file of `file_len` bytes.
fn read_safetensors_header(reader: &mut impl Read, path: &Path, file_len: u64) -> Result<Header> {
    let bad = |reason: String| Error::shard(path, format!("not a valid .safetensors file: {reason}"));
    let mut len = [0u8; 8];
    reader.read_exact(&mut len).map_err(|_| bad("shorter than its header length".into()))?;
    let header_len = u64::from_le_bytes(len);
    if header_len > MAX_SAFETENSORS_HEADER {
        return Err(bad(format!("header length {header_len} exceeds the format's {MAX_SAFETENSORS_HEADER} bytes")));
    }
    if header_len > file_len.saturating_sub(8) {
        return Err(bad(format!("header length {header_len} is more than the {file_len}-byte file holds")));
    }
    // At most MAX_SAFETENSORS_HEADER (100 MB): fits a usize and is allocated only when the
    // file is that long.
    let mut text = vec![0u8; header_len as usize];
    reader.read_exact(&mut text).map_err(|_| bad("header cut short".into()))?;
    let text = std::str::from_utf8(&text).map_err(|e| bad(format!("header is not UTF-8: {e}")))?;
    let metadata: safetensors::tensor::Metadata = serde_json::from_str(text).map_err(|e| bad(format!("malformed header: {e}")))?;
    let names = metadata.offset_keys();
    let [name] = names.as_slice() else {
        return Err(Error::shard(path, format!("expected exactly one tensor, found {names:?}")));
    };
    let info = metadata.info(name).ok_or_else(|| bad(format!("tensor {name:?} has no entry")))?;
    let dtype = match info.dtype {
        safetensors::Dtype::F32 => Dtype::F32,
        safetensors::Dtype::F16 => Dtype::F16,
        safetensors::Dtype::BF16 => Dtype::Bf16,
        other => {
            return Err(Error::shard(path, format!("tensor {name:?} has unsupported element type {other:?}: expected F32, F16 or BF16")))
        }
    };
    // The crate checked that the offsets start at 0 and match the shape; the data follows the
    // header.
    let data_offset = (info.data_offsets.0 as u64).checked_add(8 + header_len).ok_or_else(|| bad(format!("tensor {name:?}: data offset overflows")))?;
    Ok(Header { shape: info.shape.clone(), dtype: HeaderDtype::Known(dtype), data_offset })
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
    let mut file = File::create(path).map_err(Error::io("create the shard", path))?;
    file.write_all(&bytes).and_then(|_| file.sync_all()).map_err(Error::io("write the shard", path))
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

    /// A file at `dir/name` holding `bytes`.
    fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// A safetensors file: the 8-byte length `declared` (the JSON's own length when `None`),
    /// the JSON text, then `data` bytes.
    fn safetensors_bytes(json: &str, declared: Option<u64>, data: usize) -> Vec<u8> {
        let mut bytes = declared.unwrap_or(json.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(json.as_bytes());
        bytes.extend(std::iter::repeat_n(0u8, data));
        bytes
    }

    /// Issue 18: a malformed safetensors header is a clear [`Error::Shard`], never a panic
    /// (the hand-written parser subtracted and multiplied unchecked).
    #[test]
    fn malformed_safetensors_headers_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        // A header of one tensor entry.
        let tensor = |name: &str, dtype: &str, shape: &str, offsets: &str| {
            format!(r#"{{"{name}":{{"dtype":"{dtype}","shape":{shape},"data_offsets":{offsets}}}}}"#)
        };
        let good = tensor("activations", "F32", "[2,3]", "[0,24]");
        let good = good.as_str();
        let two = r#"{"a":{"dtype":"F32","shape":[1,3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[1,3],"data_offsets":[12,24]}}"#;
        let open = |name: &str, bytes: &[u8]| {
            let path = file(dir.path(), name, bytes);
            ShardLayout::open(&path, 2, 3, Dtype::F32).map(|_| ()).unwrap_err().to_string()
        };
        assert!(ShardLayout::open(&file(dir.path(), "ok.safetensors", &safetensors_bytes(good, None, 24)), 2, 3, Dtype::F32).is_ok());
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("empty.safetensors", Vec::new(), "shorter than its header length"),
            ("huge.safetensors", safetensors_bytes(good, Some(u64::MAX), 24), "exceeds"),
            ("over-cap.safetensors", safetensors_bytes(good, Some(MAX_SAFETENSORS_HEADER + 1), 24), "exceeds"),
            ("beyond-file.safetensors", safetensors_bytes(good, Some(1 << 20), 24), "more than the"),
            ("garbage.safetensors", safetensors_bytes("\u{1}\u{2}not json at all", None, 0), "malformed header"),
            ("not-utf8.safetensors", [4u64.to_le_bytes().as_slice(), &[0xff, 0xfe, 0xfd, 0xfc]].concat(), "not UTF-8"),
            // Offsets ending before they start: the old parser's `end − start` underflowed.
            ("backwards.safetensors", safetensors_bytes(&tensor("a", "F32", "[2,3]", "[24,0]"), None, 24), "malformed header"),
            ("offsets-mismatch.safetensors", safetensors_bytes(&tensor("a", "F32", "[2,3]", "[0,8]"), None, 8), "malformed header"),
            // A shape whose element count overflows: the old parser's product overflowed.
            ("overflow.safetensors", safetensors_bytes(&tensor("a", "F32", &format!("[{m},{m}]", m = usize::MAX), "[0,24]"), None, 24), "malformed header"),
            ("two.safetensors", safetensors_bytes(two, None, 24), "exactly one tensor"),
            ("int.safetensors", safetensors_bytes(&tensor("a", "I32", "[2,3]", "[0,24]"), None, 24), "unsupported element type"),
        ];
        for (name, bytes, expected) in cases {
            let message = open(name, &bytes);
            assert!(message.contains(name) && message.contains(expected), "{name}: {message}");
        }
        // Cut inside the header.
        let bytes = safetensors_bytes(good, None, 24);
        let message = open("cut.safetensors", &bytes[..20]);
        assert!(message.contains("cut.safetensors"), "{message}");
    }

    /// Issue 18: the .npy header length is capped at NumPy's own limit.
    #[test]
    fn over_long_npy_header_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        for (version, len) in [(2u8, u32::MAX), (2, MAX_NPY_HEADER as u32 + 1), (3, 1 << 30)] {
            let mut bytes = vec![0x93, b'N', b'U', b'M', b'P', b'Y', version, 0];
            bytes.extend_from_slice(&len.to_le_bytes());
            bytes.extend_from_slice(b"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }");
            let path = file(dir.path(), "long.npy", &bytes);
            let message = ShardLayout::open(&path, 2, 2, Dtype::F32).unwrap_err().to_string();
            assert!(message.contains("long.npy") && message.contains("exceeds 10000 bytes"), "{message}");
        }
        // A v1 header at the limit is read.
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(MAX_NPY_HEADER as u16).to_le_bytes());
        bytes.extend_from_slice(dict.as_bytes());
        bytes.extend(std::iter::repeat_n(b' ', MAX_NPY_HEADER - dict.len() - 1));
        bytes.push(b'\n');
        bytes.extend_from_slice(&1f32.to_le_bytes());
        let path = file(dir.path(), "limit.npy", &bytes);
        assert_eq!(ShardLayout::open(&path, 1, 1, Dtype::F32).unwrap().data_offset, 10 + MAX_NPY_HEADER as u64);
    }

    /// A header whose shape matches a manifest of absurd size is an error, not an overflow.
    #[test]
    fn huge_shapes_do_not_overflow() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = u64::MAX / 2;
        let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({tokens}, 4), }}");
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        bytes.extend_from_slice(dict.as_bytes());
        let path = file(dir.path(), "huge.npy", &bytes);
        let message = ShardLayout::open(&path, tokens, 4, Dtype::F32).unwrap_err().to_string();
        assert!(message.contains("huge.npy") && message.contains("do not fit"), "{message}");
    }

    proptest::proptest! {
        /// Random bytes, and random bytes after a valid prefix, give an error or a header —
        /// never a panic — and never make the readers allocate for a header the bytes do not
        /// hold.
        #[test]
        fn header_readers_never_panic(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256),
            len in proptest::num::u64::ANY,
            version in 0u8..5,
        ) {
            let path = Path::new("random");
            let _ = read_npy_header(&mut std::io::Cursor::new(&bytes), path);
            let _ = read_safetensors_header(&mut std::io::Cursor::new(&bytes), path, bytes.len() as u64);
            let mut npy = vec![0x93, b'N', b'U', b'M', b'P', b'Y', version, 0];
            npy.extend_from_slice(&(len as u32).to_le_bytes());
            npy.extend_from_slice(&bytes);
            let _ = read_npy_header(&mut std::io::Cursor::new(&npy), path);
            let mut st = len.to_le_bytes().to_vec();
            st.extend_from_slice(&bytes);
            let _ = read_safetensors_header(&mut std::io::Cursor::new(&st), path, st.len() as u64);
            let mut st = (bytes.len() as u64).to_le_bytes().to_vec();
            st.extend_from_slice(&bytes);
            let _ = read_safetensors_header(&mut std::io::Cursor::new(&st), path, st.len() as u64);
        }

        /// Valid headers with one value replaced by random text parse or fail cleanly.
        #[test]
        fn mutated_headers_never_panic(
            text in "[ -~]{0,40}",
            field in 0usize..6,
        ) {
            let path = Path::new("mutated");
            let npy_fields = ["'<f4'", "False", "(3, 2)"];
            let mut values: Vec<String> = npy_fields.iter().map(|s| s.to_string()).collect();
            values[field % 3] = text.clone();
            let dict = format!("{{'descr': {}, 'fortran_order': {}, 'shape': {}, }}", values[0], values[1], values[2]);
            let mut npy = b"\x93NUMPY\x01\x00".to_vec();
            npy.extend_from_slice(&(dict.len() as u16).to_le_bytes());
            npy.extend_from_slice(dict.as_bytes());
            let _ = read_npy_header(&mut std::io::Cursor::new(&npy), path);
            let st_fields = ["\"F32\"", "[3,2]", "[0,24]"];
            let mut values: Vec<String> = st_fields.iter().map(|s| s.to_string()).collect();
            values[field % 3] = text;
            let json = format!(r#"{{"a":{{"dtype":{},"shape":{},"data_offsets":{}}}}}"#, values[0], values[1], values[2]);
            let st = safetensors_bytes(&json, None, 24);
            let _ = read_safetensors_header(&mut std::io::Cursor::new(&st), path, st.len() as u64);
        }
    }
}
