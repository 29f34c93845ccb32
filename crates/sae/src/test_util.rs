//! Small helpers for unit tests.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

/// The CPU backend tests run on.
pub type Cpu = burn::backend::Flex;

pub fn device() -> burn::backend::flex::FlexDevice {
    Default::default()
}

pub fn tensor1(values: &[f32]) -> Tensor<Cpu, 1> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), &device())
}

pub fn tensor2<const C: usize>(rows: &[[f32; C]]) -> Tensor<Cpu, 2> {
    let values: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(values, [rows.len(), C]), &device())
}

pub fn to_vec<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().into_vec().unwrap()
}
