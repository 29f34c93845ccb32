//! The dataset normalisation constant of Anthropic's April-2024 recipe.
//!
//! Activations are multiplied by one constant `s` so that `E‖s·x‖ = √d_in`; then the same
//! L1 coefficient means the same thing across models and layers (docs/METHODS.md §1.3, pitfall 11).
//! The constant is estimated once per dataset from a sample of the training split.

use crate::{Result, Source};

/// Rows read per chunk while estimating.
const CHUNK_ROWS: usize = 4096;

/// Mean Euclidean norm of the next `rows` rows of `source` (advancing it).
///
/// # Errors
/// Whatever the source returns when reading fails.
pub fn mean_norm(source: &mut dyn Source, rows: usize) -> Result<f64> {
    let d = source.d_in();
    let mut buffer = vec![0f32; CHUNK_ROWS * d];
    let (mut sum, mut seen) = (0f64, 0usize);
    while seen < rows {
        let take = CHUNK_ROWS.min(rows - seen);
        let chunk = &mut buffer[..take * d];
        source.fill(chunk)?;
        sum += chunk
            .chunks_exact(d)
            .map(|row| row.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>().sqrt())
            .sum::<f64>();
        seen += take;
    }
    Ok(sum / rows.max(1) as f64)
}

/// The constant `s = √d_in / E‖x‖`, estimated from the next `rows` rows of `source`.
///
/// # Errors
/// Whatever the source returns when reading fails.
pub fn scale_to_sqrt_d(source: &mut dyn Source, rows: usize) -> Result<f64> {
    let d = source.d_in() as f64;
    Ok(d.sqrt() / mean_norm(source, rows)?)
}

/// The normalisation constant for a run: the one stored with the dataset when there is one
/// ([`Source::stored_scale`]), otherwise [`scale_to_sqrt_d`] over the next `rows` rows.
///
/// # Errors
/// Whatever the source returns when reading fails.
pub fn scale_for(source: &mut dyn Source, rows: usize) -> Result<f64> {
    match source.stored_scale() {
        Some(scale) => Ok(scale),
        None => scale_to_sqrt_d(source, rows),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Split, SyntheticConfig, SyntheticSource};

    #[test]
    fn scaled_rows_have_mean_norm_sqrt_d() {
        let config = SyntheticConfig { d_in: 16, ..SyntheticConfig::default() };
        let mut estimate = SyntheticSource::new(&config, Split::Train).unwrap();
        let s = scale_to_sqrt_d(&mut estimate, 20_000).unwrap();
        let mut check = SyntheticSource::new(&config, Split::Heldout).unwrap();
        let mean = mean_norm(&mut check, 20_000).unwrap();
        // Estimated on train, checked on held-out rows: within sampling error (~0.5%).
        assert!((s * mean / 4.0 - 1.0).abs() < 0.01, "s·E‖x‖ = {}", s * mean);
    }
}
