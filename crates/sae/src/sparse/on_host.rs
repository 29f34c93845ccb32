//! The sparse step's gathers and scatter-adds as loops over host memory, for burn's CPU backend.
//!
//! The generic versions ([`super::SparseCodes`]) first gather the active decoder rows into a
//! `[batch, k, d]` tensor and, for the scatter-adds, write every outer product `w_bj · v_b`
//! as a `[batch·k, d]` tensor: each as large as the `[batch, F]` latents at 512 × 16384,
//! k = 32. On the CPU the tensors are host memory already ([`crate::host`]), so the rows can
//! be read where they are and the products added where they are made. The generic versions
//! stay the reference these are tested against: the scatter-adds bit for bit, the products
//! within float rounding (gemm sums in its own order).

use rayon::prelude::*;

use crate::host::widest_vectors;

/// `out_b = Σ_j values[b·k + j] · rows[indices[b·k + j]]` for every token `b`, with `rows` the
/// `[F, d]` matrix, row-major. Returns `[batch, d]`.
pub(super) fn combine_rows(rows: &[f32], d: usize, indices: &[usize], values: &[f32], k: usize) -> Vec<f32> {
    let mut out = vec![0f32; indices.len() / k * d];
    out.par_chunks_mut(d).zip(indices.par_chunks(k).zip(values.par_chunks(k))).for_each(|(out, (indices, values))| {
        widest_vectors(|| {
            for (&index, &value) in indices.iter().zip(values) {
                for (sum, &x) in out.iter_mut().zip(&rows[index * d..][..d]) {
                    *sum += value * x;
                }
            }
        })
    });
    out
}

/// `out[p] = rows[indices[p]] · vectors[p / k]` for every code `p`, and 0 where `values[p]` is
/// not positive (where the ReLU after the top-k has no gradient). `vectors`: `[batch, d]`.
pub(super) fn row_dots(rows: &[f32], d: usize, indices: &[usize], values: &[f32], vectors: &[f32], k: usize) -> Vec<f32> {
    let mut out = vec![0f32; indices.len()];
    out.par_chunks_mut(k).zip(indices.par_chunks(k).zip(values.par_chunks(k))).enumerate().for_each(|(b, (out, (indices, values)))| {
        let vector = &vectors[b * d..][..d];
        widest_vectors(|| {
            for ((dot_product, &index), &value) in out.iter_mut().zip(indices).zip(values) {
                if value > 0.0 {
                    *dot_product = crate::host::dot(&rows[index * d..][..d], vector);
                }
            }
        })
    });
    out
}

/// Adds `weights[p] · vectors[p / k]` to row `indices[p]` of `into` (`[F, d]`, row-major) for
/// every entry `p` of the flattened `[batch, k]` codes.
///
/// Each row receives its additions in the order of `p`, as the generic scatter-add makes
/// them, whatever the number of threads: threads own disjoint blocks of rows, and each scans
/// all the codes for the ones that land in its block.
pub(super) fn add_outer_rows(into: &mut [f32], d: usize, indices: &[usize], weights: &[f32], vectors: &[f32], k: usize) {
    debug_assert_eq!(indices.len(), weights.len());
    debug_assert_eq!(vectors.len(), indices.len() / k * d);
    let features = into.len() / d;
    // Several blocks per thread keep them balanced when the codes favour some latents.
    let block_rows = features.div_ceil(8 * rayon::current_num_threads()).max(1);
    into.par_chunks_mut(block_rows * d).enumerate().for_each(|(block, rows)| {
        let first = block * block_rows;
        let owned = first..first + rows.len() / d;
        widest_vectors(|| {
            for (p, (&index, &weight)) in indices.iter().zip(weights).enumerate() {
                if !owned.contains(&index) {
                    continue;
                }
                let row = &mut rows[(index - first) * d..][..d];
                let vector = &vectors[p / k * d..][..d];
                for (sum, &x) in row.iter_mut().zip(vector) {
                    *sum += weight * x;
                }
            }
        })
    });
}

/// Latents per block of [`add_outer_columns`]: 1 KiB of each matrix row.
const COLUMN_BLOCK: usize = 256;
/// Matrix rows per band of [`add_outer_columns`], so that a block's sums (64 KiB) stay in
/// the core's cache while its codes are added.
const BAND_ROWS: usize = 64;

/// Adds `weights[p] · vectors[p / k]` to column `indices[p]` of `into` (`[d, F]`, row-major):
/// [`add_outer_rows`] into the transposed matrix, so that a gradient comes out in the
/// layout of its weight (the encoder's `[d, F]`) without a transposing copy.
///
/// A column is `d` entries `F` apart, so adding to one column at a time would touch a cache
/// line, and soon a page, per entry. Instead the matrix is cut into bands of rows and blocks
/// of adjacent columns; each tile is copied into a small buffer, column by column, gets the
/// codes of its latents added there (grouped by latent, each latent's in the order of `p`,
/// so each entry gets the generic scatter-add's additions in the same order), and is copied
/// back. Tiles without codes are not touched. Threads own disjoint bands.
pub(super) fn add_outer_columns(into: &mut [f32], features: usize, indices: &[usize], weights: &[f32], vectors: &[f32], k: usize) {
    debug_assert_eq!(indices.len(), weights.len());
    let d = into.len() / features;
    debug_assert_eq!(vectors.len(), indices.len() / k * d);
    let by_latent = CodesByLatent::group(indices, features);
    into.par_chunks_mut(BAND_ROWS * features).enumerate().for_each(|(band, matrix_rows)| widest_vectors(|| {
        let rows = band * BAND_ROWS..band * BAND_ROWS + matrix_rows.len() / features;
        let height = rows.len();
        // tile[c · height + r] is entry (rows.start + r, first + c).
        let mut tile = vec![0f32; COLUMN_BLOCK * height];
        for first in (0..features).step_by(COLUMN_BLOCK) {
            let block = first..(first + COLUMN_BLOCK).min(features);
            if by_latent.codes_of_range(block.clone()).is_empty() {
                continue;
            }
            for (r, matrix_row) in matrix_rows.chunks_exact(features).enumerate() {
                for (c, &entry) in matrix_row[block.clone()].iter().enumerate() {
                    tile[c * height + r] = entry;
                }
            }
            for (column, latent) in tile.chunks_exact_mut(height).zip(block.clone()) {
                for &p in by_latent.codes_of_range(latent..latent + 1) {
                    let (weight, vector) = (weights[p], &vectors[p / k * d..][rows.clone()]);
                    for (sum, &x) in column.iter_mut().zip(vector) {
                        *sum += weight * x;
                    }
                }
            }
            for (r, matrix_row) in matrix_rows.chunks_exact_mut(features).enumerate() {
                for (c, entry) in matrix_row[block.clone()].iter_mut().enumerate() {
                    *entry = tile[c * height + r];
                }
            }
        }
    }));
}

/// The positions `p` of the codes, grouped by the latent they point at, each group in
/// increasing `p` (a counting sort, which is stable).
struct CodesByLatent {
    /// Latent `i`'s codes are `positions[starts[i]..starts[i + 1]]`.
    starts: Vec<usize>,
    positions: Vec<usize>,
}

impl CodesByLatent {
    fn group(indices: &[usize], features: usize) -> Self {
        let mut starts = vec![0usize; features + 1];
        for &index in indices {
            starts[index + 1] += 1;
        }
        for i in 0..features {
            starts[i + 1] += starts[i];
        }
        let mut next = starts.clone();
        let mut positions = vec![0usize; indices.len()];
        for (p, &index) in indices.iter().enumerate() {
            positions[next[index]] = p;
            next[index] += 1;
        }
        CodesByLatent { starts, positions }
    }

    /// The codes of latents `latents`, latent after latent.
    fn codes_of_range(&self, latents: std::ops::Range<usize>) -> &[usize] {
        &self.positions[self.starts[latents.start]..self.starts[latents.end]]
    }
}
