//! Learning-rate and L1-coefficient schedules of Anthropic's April-2024 recipe.
//!
//! Steps are counted from 0 to `total - 1`.
//! - lr: constant, then decays linearly to zero over the last `decay_fraction` of steps:
//!   `lr_t = lr · min(1, (total - t) / (decay_fraction · total))`. The last step still
//!   moves (`lr / (decay_fraction · total)`), so no step is wasted.
//! - λ (relu's L1 coefficient, jumprelu's L0 coefficient): starts at 0 and rises linearly to its final value over the first `warmup_fraction`:
//!   `λ_t = λ · min(1, t / (warmup_fraction · total))`.
//!
//! ## Reference
//! Anthropic, "Circuits Updates — April 2024", training recipe (docs/METHODS.md §1.3).

/// Multiplier of the peak learning rate at `step` of `total`.
pub fn lr_factor(step: u64, total: u64, decay_fraction: f64) -> f64 {
    let decay_steps = decay_fraction * total as f64;
    if decay_steps <= 0.0 {
        return 1.0;
    }
    ((total - step.min(total)) as f64 / decay_steps).min(1.0)
}

/// Multiplier of a warmed-up coefficient (relu's L1, jumprelu's L0) at `step` of `total`.
pub fn warmup_factor(step: u64, total: u64, warmup_fraction: f64) -> f64 {
    let warmup_steps = warmup_fraction * total as f64;
    if warmup_steps <= 0.0 {
        return 1.0;
    }
    (step as f64 / warmup_steps).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lr_is_flat_then_decays_linearly_to_zero_over_the_last_fifth() {
        // 1000 steps, decay over the last 200.
        assert_eq!(lr_factor(0, 1000, 0.2), 1.0);
        assert_eq!(lr_factor(800, 1000, 0.2), 1.0);
        assert_eq!(lr_factor(900, 1000, 0.2), 0.5);
        assert_eq!(lr_factor(950, 1000, 0.2), 0.25);
        assert_eq!(lr_factor(999, 1000, 0.2), 1.0 / 200.0);
        assert_eq!(lr_factor(1000, 1000, 0.2), 0.0);
    }

    #[test]
    fn lr_without_decay_is_constant() {
        assert_eq!(lr_factor(999, 1000, 0.0), 1.0);
    }

    #[test]
    fn l1_warms_up_linearly_over_the_first_five_percent() {
        assert_eq!(warmup_factor(0, 1000, 0.05), 0.0);
        assert_eq!(warmup_factor(25, 1000, 0.05), 0.5);
        assert_eq!(warmup_factor(50, 1000, 0.05), 1.0);
        assert_eq!(warmup_factor(999, 1000, 0.05), 1.0);
        assert_eq!(warmup_factor(0, 1000, 0.0), 1.0);
    }
}
