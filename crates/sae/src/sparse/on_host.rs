//! The sparse step's scatter-adds as loops over host memory, for burn's CPU backend.
//!
//! The generic scatter-add ([`super::SparseCodes::scatter_outer`]) first writes every outer
//! product `w_bj · vectors_b` as a `[batch·k, d]` tensor (as large as the `[batch, F]` latents
//! at 512 × 16384, k = 32), then adds its rows into the gradient one by one. On the CPU the
//! tensors are host memory already ([`crate::host`]), so the products can be added where they
//! are made. The generic version stays the reference this is tested against, bit for bit.

use rayon::prelude::*;

/// Adds `weights[p] · vectors[p / k]` to row `indices[p]` of `into` (`[F, d]`, row-major) for
/// every entry `p` of the flattened `[batch, k]` codes.
///
/// Each row receives its additions in the order of `p`, as the generic scatter-add makes
/// them, whatever the number of threads: threads own disjoint blocks of rows, and each scans
/// all the codes for the ones that land in its block.
pub(super) fn add_outer_rows(into: &mut [f32], d: usize, indices: &[i64], weights: &[f32], vectors: &[f32], k: usize) {
    debug_assert_eq!(indices.len(), weights.len());
    debug_assert_eq!(vectors.len(), indices.len() / k * d);
    let features = into.len() / d;
    // Several blocks per thread keep them balanced when the codes favour some latents.
    let block_rows = features.div_ceil(8 * rayon::current_num_threads()).max(1);
    into.par_chunks_mut(block_rows * d).enumerate().for_each(|(block, rows)| {
        let first = block * block_rows;
        let owned = first..first + rows.len() / d;
        for (p, (&index, &weight)) in indices.iter().zip(weights).enumerate() {
            let index = index as usize;
            if !owned.contains(&index) {
                continue;
            }
            let row = &mut rows[(index - first) * d..][..d];
            let vector = &vectors[p / k * d..][..d];
            for (sum, &x) in row.iter_mut().zip(vector) {
                *sum += weight * x;
            }
        }
    });
}
