//! Tensors on the host and in safetensors files.
//!
//! Checkpoints and SAELens exports both move burn tensors to host memory ([`HostTensor`]) and
//! write them as one safetensors file, atomically.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use saescale_spec::atomic::write_atomic;

use crate::{Error, Result};

/// A tensor's values in host memory, row-major.
#[derive(Debug, Clone, PartialEq)]
pub enum HostTensor {
    /// 32-bit floats.
    F32 {
        /// Dimensions.
        shape: Vec<usize>,
        /// Values.
        values: Vec<f32>,
    },
    /// 64-bit integers.
    I64 {
        /// Dimensions.
        shape: Vec<usize>,
        /// Values.
        values: Vec<i64>,
    },
}

impl HostTensor {
    /// Copies a float tensor from its device.
    pub fn from_float<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Self {
        let shape = tensor.dims().to_vec();
        // `convert` makes the dtype f32 whatever the backend's float type, so `into_vec` cannot fail.
        let values = tensor.into_data().convert::<f32>().into_vec::<f32>().expect("data converted to f32");
        HostTensor::F32 { shape, values }
    }

    /// Copies an integer tensor from its device.
    pub fn from_int<B: Backend, const D: usize>(tensor: Tensor<B, D, Int>) -> Self {
        let shape = tensor.dims().to_vec();
        let values = tensor.into_data().convert::<i64>().into_vec::<i64>().expect("data converted to i64");
        HostTensor::I64 { shape, values }
    }

    /// The tensor's dimensions.
    pub fn shape(&self) -> &[usize] {
        match self {
            HostTensor::F32 { shape, .. } | HostTensor::I64 { shape, .. } => shape,
        }
    }

    fn dtype(&self) -> Dtype {
        match self {
            HostTensor::F32 { .. } => Dtype::F32,
            HostTensor::I64 { .. } => Dtype::I64,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            HostTensor::F32 { values, .. } => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            HostTensor::I64 { values, .. } => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

/// Tensors by name, as read from or written to one safetensors file.
#[derive(Debug, Clone, Default)]
pub struct TensorFile {
    /// The tensors.
    pub tensors: BTreeMap<String, HostTensor>,
    /// The free-form `__metadata__` header.
    pub metadata: HashMap<String, String>,
}

impl TensorFile {
    /// Adds a float tensor copied from its device.
    pub fn insert_float<B: Backend, const D: usize>(&mut self, name: &str, tensor: Tensor<B, D>) {
        self.tensors.insert(name.to_string(), HostTensor::from_float(tensor));
    }

    /// Writes the file atomically.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Checkpoint`] naming `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        let bytes: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> =
            self.tensors.iter().map(|(n, t)| (n.clone(), t.dtype(), t.shape().to_vec(), t.bytes())).collect();
        let views = bytes
            .iter()
            .map(|(name, dtype, shape, data)| {
                TensorView::new(*dtype, shape.clone(), data).map(|view| (name.as_str(), view))
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::checkpoint(path, e.to_string()))?;
        let metadata = (!self.metadata.is_empty()).then(|| self.metadata.clone());
        let serialized = safetensors::serialize(views, metadata).map_err(|e| Error::checkpoint(path, e.to_string()))?;
        write_atomic(path, &serialized).map_err(Error::io(path))
    }

    /// Reads a safetensors file holding f32 and i64 tensors.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read; [`Error::Checkpoint`] when it is not a valid
    /// safetensors file or holds another dtype.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(Error::io(path))?;
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| Error::checkpoint(path, e.to_string()))?;
        let file = SafeTensors::deserialize(&bytes).map_err(|e| Error::checkpoint(path, e.to_string()))?;
        let mut tensors = BTreeMap::new();
        for name in file.names() {
            let view = file.tensor(name).map_err(|e| Error::checkpoint(path, e.to_string()))?;
            let shape = view.shape().to_vec();
            let data = view.data();
            let tensor = match view.dtype() {
                Dtype::F32 => HostTensor::F32 {
                    shape,
                    values: data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(),
                },
                Dtype::I64 => HostTensor::I64 {
                    shape,
                    values: data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect(),
                },
                other => return Err(Error::checkpoint(path, format!("tensor `{name}` has dtype {other:?}; expected F32 or I64"))),
            };
            tensors.insert(name.to_string(), tensor);
        }
        Ok(TensorFile { tensors, metadata: header.metadata().clone().unwrap_or_default() })
    }

    /// Moves the float tensor `name` to `device`, checking its shape.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming `path` when the tensor is missing, not f32, or shaped
    /// otherwise than `shape`.
    pub fn float<B: Backend, const D: usize>(
        &self,
        path: &Path,
        name: &str,
        shape: [usize; D],
        device: &B::Device,
    ) -> Result<Tensor<B, D>> {
        match self.tensors.get(name) {
            Some(HostTensor::F32 { shape: s, values }) if s.as_slice() == shape.as_slice() => {
                Ok(Tensor::from_data(TensorData::new(values.clone(), shape), device))
            }
            Some(t) => Err(Error::checkpoint(path, format!("tensor `{name}` is {:?} of shape {:?}; expected f32 {shape:?}", t.dtype(), t.shape()))),
            None => Err(Error::checkpoint(path, format!("tensor `{name}` is missing"))),
        }
    }

    /// Moves the integer tensor `name` to `device`, checking its shape.
    ///
    /// # Errors
    /// As [`TensorFile::float`].
    pub fn int<B: Backend, const D: usize>(
        &self,
        path: &Path,
        name: &str,
        shape: [usize; D],
        device: &B::Device,
    ) -> Result<Tensor<B, D, Int>> {
        match self.tensors.get(name) {
            Some(HostTensor::I64 { shape: s, values }) if s.as_slice() == shape.as_slice() => {
                Ok(Tensor::from_data(TensorData::new(values.clone(), shape), device))
            }
            Some(t) => Err(Error::checkpoint(path, format!("tensor `{name}` is {:?} of shape {:?}; expected i64 {shape:?}", t.dtype(), t.shape()))),
            None => Err(Error::checkpoint(path, format!("tensor `{name}` is missing"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{device, tensor2, to_vec, Cpu};

    #[test]
    fn round_trip_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        let mut file = TensorFile::default();
        file.insert_float("w", tensor2(&[[1.5, -2.0, f32::MIN_POSITIVE], [3.0, 4.0, 1e-30]]));
        file.tensors.insert("n".into(), HostTensor::I64 { shape: vec![2], values: vec![7, -1] });
        file.metadata.insert("k".into(), "v".into());
        file.write(&path).unwrap();

        let back = TensorFile::read(&path).unwrap();
        assert_eq!(back.metadata["k"], "v");
        let w: Tensor<Cpu, 2> = back.float(&path, "w", [2, 3], &device()).unwrap();
        assert_eq!(to_vec(w), vec![1.5, -2.0, f32::MIN_POSITIVE, 3.0, 4.0, 1e-30]);
        let n: Tensor<Cpu, 1, Int> = back.int(&path, "n", [2], &device()).unwrap();
        assert_eq!(n.into_data().convert::<i64>().into_vec::<i64>().unwrap(), vec![7, -1]);
    }

    #[test]
    fn wrong_shape_or_missing_tensor_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        let mut file = TensorFile::default();
        file.insert_float("w", tensor2(&[[1.0, 2.0]]));
        file.write(&path).unwrap();
        let back = TensorFile::read(&path).unwrap();
        let err = back.float::<Cpu, 2>(&path, "w", [2, 1], &device()).unwrap_err().to_string();
        assert!(err.contains("`w`") && err.contains("[1, 2]"), "{err}");
        let err = back.float::<Cpu, 2>(&path, "v", [1, 2], &device()).unwrap_err().to_string();
        assert!(err.contains("`v` is missing"), "{err}");
    }

    #[test]
    fn a_truncated_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        let mut file = TensorFile::default();
        file.insert_float("w", tensor2(&[[1.0, 2.0]]));
        file.write(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(matches!(TensorFile::read(&path), Err(Error::Checkpoint { .. })));
    }
}
