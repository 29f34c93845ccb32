//! The indices of the `k` largest entries of each row, without sorting whole rows.
//!
//! burn 0.21's `topk_with_indices` sorts every row in full (`sort_descending_with_indices`,
//! then the first `k`), which at F = 16384 and k = 32 cost about half of a TopK training
//! step on the CPU; its `argtopk` has no implementation on Flex. On Flex the tensors already
//! live in host memory, so the selection reads them there: one pass over each row keeps the
//! best `k` in a heap of size `k` (O(F) comparisons in the common case, O(F log k) at worst),
//! rows in parallel on rayon's pool. Other backends use the sorting path, which is also the
//! reference the host path is tested against.
//!
//! Both return, for each row, the indices ordered from the largest entry down, ties broken
//! towards the smaller index, so that a run's result does not depend on which path chose.
//! Values are then read with `gather`, which has a backward pass, so autodiff sees through
//! either path.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rayon::prelude::*;

/// How the `k` largest entries of each row are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Read the rows on the host and keep the best `k` of each in a bounded heap.
    Host,
    /// burn's `topk_with_indices`: a full descending sort of every row, on the device.
    Sort,
}

impl Selection {
    /// The fast path for backend `B`: [`Selection::Host`] where tensors are host memory
    /// already (Flex), [`Selection::Sort`] elsewhere (a GPU would pay two copies).
    pub fn for_backend<B: Backend>() -> Self {
        if crate::host::tensors_live_on_host::<B>() {
            Selection::Host
        } else {
            Selection::Sort
        }
    }
}

/// Indices of the `k` largest entries of each row of `values`, largest first, by the fast
/// path of `B`. `[rows, n] -> [rows, k]`, `k <= n`. Taking `values` lets the host path read a
/// tensor nothing else holds without copying it.
pub fn top_k_indices<B: Backend>(values: Tensor<B, 2>, k: usize) -> Tensor<B, 2, Int> {
    top_k_indices_by(values, k, Selection::for_backend::<B>())
}

/// [`top_k_indices`] by a chosen path (tests compare the two).
pub fn top_k_indices_by<B: Backend>(values: Tensor<B, 2>, k: usize, selection: Selection) -> Tensor<B, 2, Int> {
    let [rows, n] = values.dims();
    assert!(k >= 1 && k <= n, "top-k of rows of {n} entries needs 1 <= k <= {n}, got k = {k}");
    match selection {
        Selection::Sort => values.topk_with_indices(k, 1).1,
        Selection::Host => {
            let device = values.device();
            let data = values.into_data().convert::<f32>();
            // A converted f32 TensorData always reads back as f32.
            let entries: &[f32] = data.as_slice().expect("f32 data");
            let mut indices = vec![0i64; rows * k];
            entries.par_chunks(n).zip(indices.par_chunks_mut(k)).for_each(|(row, out)| best_k_of(row.iter().copied(), out));
            Tensor::from_data(TensorData::new(indices, [rows, k]), &device)
        }
    }
}

/// One entry of a row, ordered by how much *worse* it is than another: a smaller value, or
/// an equal one further right. A max-heap of candidates thus has the worst on top.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    value: f32,
    index: u32,
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        other.value.total_cmp(&self.value).then(self.index.cmp(&other.index))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

/// The sparse TopK step's encoder output and selection in one pass over host memory.
///
/// Adds `bias` (`[n]`) to each row of `product` (`[rows, n]`, the encoder's matmul) in place,
/// which makes it the pre-activations, and picks in each row the `k` entries that rank highest
/// by `pre · scale` (by `pre` itself when `scale` is `None`), in [`top_k_indices`]' order.
/// Returns those indices and `max(pre, 0)` at them, both `[rows·k]`. The generic step makes
/// the same numbers (the same f32 additions and products) with a broadcast add, a broadcast
/// product into a new `[rows, n]` ranking and a selection over it, three passes over
/// `4·rows·n` bytes and two of those matrices written; here each row is still in cache when
/// it is ranked.
pub fn add_bias_and_select(product: &mut [f32], bias: &[f32], scale: Option<&[f32]>, k: usize) -> (Vec<i64>, Vec<f32>) {
    let n = bias.len();
    assert!(k >= 1 && k <= n, "top-k of rows of {n} entries needs 1 <= k <= {n}, got k = {k}");
    let rows = product.len() / n;
    let (mut indices, mut values) = (vec![0i64; rows * k], vec![0f32; rows * k]);
    product.par_chunks_mut(n).zip(indices.par_chunks_mut(k).zip(values.par_chunks_mut(k))).for_each(|(row, (indices, values))| {
        crate::host::widest_vectors(|| {
            for (pre, &b) in row.iter_mut().zip(bias) {
                *pre += b;
            }
            match scale {
                Some(scale) => best_k_of(row.iter().zip(scale).map(|(&pre, &s)| pre * s), indices),
                None => best_k_of(row.iter().copied(), indices),
            }
        });
        for (value, &index) in values.iter_mut().zip(indices.iter()) {
            // As burn's `clamp_min(0.0)` computes it.
            *value = row[index as usize].max(0.0);
        }
    });
    (indices, values)
}

/// Writes into `out` (of length k) the indices of the `k` largest of `entries`, largest first.
#[inline(always)]
fn best_k_of(entries: impl Iterator<Item = f32>, out: &mut [i64]) {
    let k = out.len();
    let mut heap = BinaryHeap::with_capacity(k);
    for (index, value) in entries.enumerate() {
        let candidate = Candidate { value, index: index as u32 };
        if heap.len() < k {
            heap.push(candidate);
        } else if let Some(mut worst) = heap.peek_mut() {
            // Most entries of a long row lose this one comparison and cost nothing more.
            if candidate < *worst {
                *worst = candidate;
            }
        }
    }
    // Ascending in "worse" order is best first.
    for (slot, candidate) in out.iter_mut().zip(heap.into_sorted_vec()) {
        *slot = i64::from(candidate.index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{device, tensor2, Cpu};
    use proptest::prelude::*;

    fn indices(tensor: Tensor<Cpu, 2, Int>) -> Vec<i64> {
        tensor.into_data().convert::<i64>().to_vec().unwrap()
    }

    #[test]
    fn picks_the_largest_first_and_breaks_ties_to_the_left() {
        let values = tensor2(&[[1.0, 5.0, -2.0, 5.0, 3.0], [-4.0, -1.0, -1.0, -3.0, -9.0]]);
        assert_eq!(indices(top_k_indices_by(values, 3, Selection::Host)), vec![1, 3, 4, 1, 2, 3]);
    }

    #[test]
    fn flex_takes_the_host_path() {
        assert_eq!(Selection::for_backend::<Cpu>(), Selection::Host);
        assert_eq!(Selection::for_backend::<burn::backend::Autodiff<Cpu>>(), Selection::Sort);
    }

    /// Rows of distinct values (so that the sort's own tie order cannot matter), and a k.
    fn distinct_rows() -> impl Strategy<Value = (usize, usize, usize, Vec<i32>)> {
        (1usize..6, 1usize..80).prop_flat_map(|(rows, n)| {
            let values = proptest::collection::hash_set(-10_000i32..10_000, rows * n).prop_map(|set| set.into_iter().collect());
            (Just(rows), Just(n), 1..=n, values)
        })
    }

    proptest! {
        /// The host path picks the same entries, in the same order, as burn's sort.
        #[test]
        fn host_agrees_with_sort((rows, n, k, values) in distinct_rows()) {
            let data: Vec<f32> = values.iter().map(|&v| v as f32 / 100.0).collect();
            let values = Tensor::<Cpu, 2>::from_data(TensorData::new(data, [rows, n]), &device());
            prop_assert_eq!(
                indices(top_k_indices_by(values.clone(), k, Selection::Host)),
                indices(top_k_indices_by(values, k, Selection::Sort))
            );
        }
    }
}
