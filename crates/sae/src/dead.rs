//! Dead-latent tracking: a latent is dead when it has not fired in the last `window` tokens.
//!
//! For each latent the tracker counts tokens since it last fired, on the device, saturating
//! at the window so that the count never overflows.
//!
//! ## Reference
//! Gao et al. 2024, arXiv:2406.04093 §2.4 (dead = not fired in 10M tokens); docs/METHODS.md §1.3
//! ("dead means not activating for 10 million samples").

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, ElementConversion, Int, Tensor};

/// Tokens since each latent last fired.
#[derive(Debug, Clone)]
pub struct DeadLatents<B: Backend> {
    /// Per latent, tokens since it last fired, capped at `window`. `[features]`
    pub since_fired: Tensor<B, 1, Int>,
    /// Tokens without firing after which a latent counts as dead.
    pub window: u64,
    /// An upper bound on `since_fired`, kept on the host: while it is below `window` no latent
    /// can be dead, and [`Self::dead_if_any`] answers without reading the device.
    silent_bound: u64,
}

impl<B: Backend> DeadLatents<B> {
    /// A tracker in which every latent has just fired.
    pub fn new(features: usize, window: u64, device: &B::Device) -> Self {
        DeadLatents { since_fired: Tensor::zeros([features], device), window, silent_bound: 0 }
    }

    /// A tracker resumed from saved counters.
    pub fn restore(since_fired: Tensor<B, 1, Int>, window: u64) -> Self {
        let longest = since_fired.clone().max().into_scalar().elem::<i64>();
        DeadLatents { since_fired, window, silent_bound: u64::try_from(longest).unwrap_or(0) }
    }

    /// Records a batch of `tokens` rows in which the latents in `fired` were active.
    pub fn update(&mut self, fired: Tensor<B, 1, Bool>, tokens: usize) {
        let counted = self.since_fired.clone().add_scalar(tokens as i64).clamp_max(self.window as i64);
        self.since_fired = counted.mask_fill(fired, 0);
        self.silent_bound = (self.silent_bound + tokens as u64).min(self.window);
    }

    /// The dead latents, or `None` when no latent is dead (the AuxK loss is then zero and is
    /// skipped). Reads the device only once a latent could have been silent for a whole window.
    pub fn dead_if_any(&self) -> Option<Tensor<B, 1, Bool>> {
        if self.silent_bound < self.window {
            return None;
        }
        let dead = self.dead();
        (dead.clone().any().float().into_scalar().elem::<f64>() > 0.0).then_some(dead)
    }

    /// Latents that have not fired within the window. `[features]`
    pub fn dead(&self) -> Tensor<B, 1, Bool> {
        self.since_fired.clone().greater_equal_elem(self.window as i64)
    }

    /// Fraction of latents that are dead. `[1]`
    pub fn fraction(&self) -> Tensor<B, 1> {
        self.dead().float().mean()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{device, Cpu};
    use burn::tensor::TensorData;

    fn mask(values: &[bool]) -> Tensor<Cpu, 1, Bool> {
        Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), &device())
    }

    fn dead(tracker: &DeadLatents<Cpu>) -> Vec<bool> {
        tracker.dead().into_data().to_vec().unwrap()
    }

    #[test]
    fn a_latent_dies_after_window_tokens_without_firing_and_revives_when_it_fires() {
        let mut tracker = DeadLatents::<Cpu>::new(3, 100, &device());
        tracker.update(mask(&[true, false, false]), 60);
        assert_eq!(dead(&tracker), vec![false, false, false]);
        tracker.update(mask(&[false, true, false]), 60);
        // latent 2: 120 tokens without firing ≥ 100 → dead; latent 0: 60 → alive.
        assert_eq!(dead(&tracker), vec![false, false, true]);
        tracker.update(mask(&[false, false, true]), 60);
        assert_eq!(dead(&tracker), vec![true, false, false]);
        let fraction: f32 = tracker.fraction().into_scalar();
        assert!((fraction - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn dead_if_any_names_the_dead_only_once_some_latent_could_be_dead() {
        let mut tracker = DeadLatents::<Cpu>::new(2, 100, &device());
        tracker.update(mask(&[false, false]), 60);
        assert!(tracker.dead_if_any().is_none(), "60 tokens: nothing can be dead yet");
        tracker.update(mask(&[true, true]), 60);
        assert!(tracker.dead_if_any().is_none(), "both fired: none dead, though the bound passed the window");
        tracker.update(mask(&[true, false]), 100);
        assert_eq!(tracker.dead_if_any().unwrap().into_data().to_vec::<bool>().unwrap(), vec![false, true]);
        // Resumed from saved counters, the tracker knows what it knew.
        let resumed = DeadLatents::restore(tracker.since_fired.clone(), 100);
        assert_eq!(resumed.dead_if_any().unwrap().into_data().to_vec::<bool>().unwrap(), vec![false, true]);
        let fresh = DeadLatents::restore(Tensor::<Cpu, 1, Int>::zeros([2], &device()), 100);
        assert!(fresh.dead_if_any().is_none());
    }

    #[test]
    fn counts_saturate_at_the_window() {
        let mut tracker = DeadLatents::<Cpu>::new(1, 1_000, &device());
        for _ in 0..10_000 {
            tracker.update(mask(&[false]), 1_000_000);
        }
        let since: Vec<i64> = tracker.since_fired.into_data().convert::<i64>().into_vec().unwrap();
        assert_eq!(since, vec![1_000]);
    }
}
