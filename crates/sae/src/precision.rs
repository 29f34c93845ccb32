//! The number format of the SAE's large matrix products.
//!
//! Mixed precision as in PyTorch's bf16 autocast: weights, gradients and Adam's moments stay
//! f32 (the master copy), and only the inputs of the six `batch × d × F` products of a step
//! (two forward, four backward) are rounded to bfloat16, with the results returned in f32.
//! Everything else (biases, norms, the loss, the optimiser) is f32 throughout.

use burn::tensor::backend::Backend;
use burn::tensor::{FloatDType, Tensor};
use saescale_spec::Precision;

use crate::error::{Error, Result};

/// How [`MatmulPrecision::matmul`] multiplies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatmulPrecision {
    /// f32 inputs and outputs.
    #[default]
    F32,
    /// bf16 inputs, f32 outputs.
    Bf16,
}

impl MatmulPrecision {
    /// The run file's `precision`; unset means f32.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for tf32, which burn 0.21's backends cannot select.
    pub fn of(precision: Option<Precision>) -> Result<Self> {
        match precision {
            None | Some(Precision::F32) => Ok(MatmulPrecision::F32),
            Some(Precision::Bf16) => Ok(MatmulPrecision::Bf16),
            Some(Precision::Tf32) => Err(Error::Unsupported(
                "precision = \"tf32\" is not available: burn 0.21 has no switch for TF32 matmuls; use \"bf16\" or \"f32\"".into(),
            )),
        }
    }

    /// `a · b` in this precision, as f32.
    pub fn matmul<B: Backend>(self, a: Tensor<B, 2>, b: Tensor<B, 2>) -> Tensor<B, 2> {
        match self {
            MatmulPrecision::F32 => a.matmul(b),
            MatmulPrecision::Bf16 => a.cast(FloatDType::BF16).matmul(b.cast(FloatDType::BF16)).cast(FloatDType::F32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{tensor2, to_vec};

    #[test]
    fn bf16_rounds_the_inputs_and_returns_f32() {
        // 1 + 2^-10 is exact in f32 but rounds to 1 in bf16 (8 significant bits).
        let a = tensor2(&[[1.0 + 1.0 / 1024.0, 2.0]]);
        let b = tensor2(&[[1.0], [0.5]]);
        assert_eq!(to_vec(MatmulPrecision::F32.matmul(a.clone(), b.clone())), vec![2.0 + 1.0 / 1024.0]);
        let product = MatmulPrecision::Bf16.matmul(a, b);
        assert_eq!(product.dtype(), burn::tensor::DType::F32);
        assert_eq!(to_vec(product), vec![2.0]);
    }

    #[test]
    fn tf32_is_refused_with_what_to_use_instead() {
        let error = MatmulPrecision::of(Some(Precision::Tf32)).unwrap_err().to_string();
        assert!(error.contains("bf16"), "{error}");
        assert_eq!(MatmulPrecision::of(None).unwrap(), MatmulPrecision::F32);
    }
}
