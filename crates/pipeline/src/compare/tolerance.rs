//! How far a figure may move between a baseline and a current measurement before it counts as
//! a regression, and the verdict on one figure.
//!
//! The defaults follow each figure's noise: a held-out loss of a seeded CPU run repeats to
//! the bit, but on a GPU or across drivers it moves by well under 1%; throughput varies by
//! several percent between identical nights on shared machines, so only a 15% drop counts;
//! peak memory is stable, so 10% more is a real change. Improvements are reported, never
//! failed.

use saescale_sweep::spec::NightlySpec;
use serde::Serialize;

/// Tolerances of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Tolerances {
    /// Held-out loss and FVU may rise by this fraction of the baseline.
    pub loss_relative: f64,
    /// …or by this many standard deviations of the baseline's seed spread, whichever is larger.
    pub seed_sigmas: f64,
    /// Tokens per second may drop by this fraction.
    pub throughput_drop: f64,
    /// Peak memory may grow by this fraction.
    pub memory_rise: f64,
    /// L0 may move by this many active latents per token, either way.
    pub l0_absolute: f64,
    /// The dead fraction may rise by this much.
    pub dead_fraction_absolute: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances { loss_relative: 0.01, seed_sigmas: 2.0, throughput_drop: 0.15, memory_rise: 0.10, l0_absolute: 1.0, dead_fraction_absolute: 0.02 }
    }
}

impl Tolerances {
    /// The defaults with a spec's `[nightly]` table over them.
    pub fn from_spec(nightly: &NightlySpec) -> Self {
        let d = Tolerances::default();
        let or = |value: Option<saescale_sweep::spec::Tolerance>, default: f64| value.map_or(default, |t| t.0);
        Tolerances {
            loss_relative: or(nightly.loss_relative, d.loss_relative),
            seed_sigmas: or(nightly.seed_sigmas, d.seed_sigmas),
            throughput_drop: or(nightly.throughput_drop, d.throughput_drop),
            memory_rise: or(nightly.memory_rise, d.memory_rise),
            l0_absolute: or(nightly.l0_absolute, d.l0_absolute),
            dead_fraction_absolute: or(nightly.dead_fraction_absolute, d.dead_fraction_absolute),
        }
    }
}

/// The verdict on one figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Bit for bit the same.
    Equal,
    /// Moved, within its tolerance.
    Within,
    /// Better by more than its tolerance (reported, not failed).
    Improved,
    /// Worse by more than its tolerance.
    Regressed,
    /// Moved beyond its interval where a move fails nothing (fitted optima, E); reported.
    Moved,
    /// Only one side has it, or neither can judge it (no interval); reported, not failed.
    Unjudged,
}

/// Which way a figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Lower is better (loss, memory, dead latents).
    Lower,
    /// Higher is better (throughput).
    Higher,
    /// Any move beyond the tolerance is a regression (L0: the sparsity a recipe reaches is
    /// part of its behaviour, whichever way it moves).
    Unchanged,
}

/// Judges `current` against `baseline`: a move of more than `tolerance` (absolute, ≥ 0) in the
/// worse direction regresses, in the better one improves.
pub fn judge(baseline: f64, current: f64, tolerance: f64, better: Better) -> Verdict {
    if baseline.to_bits() == current.to_bits() {
        return Verdict::Equal;
    }
    let delta = current - baseline;
    if !delta.is_finite() {
        return if current.is_finite() { Verdict::Improved } else { Verdict::Regressed };
    }
    if delta.abs() <= tolerance {
        return Verdict::Within;
    }
    let worse = match better {
        Better::Lower => delta > 0.0,
        Better::Higher => delta < 0.0,
        Better::Unchanged => true,
    };
    if worse {
        Verdict::Regressed
    } else {
        Verdict::Improved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_the_direction_and_the_tolerance() {
        assert_eq!(judge(1.0, 1.0, 0.0, Better::Lower), Verdict::Equal);
        assert_eq!(judge(1.0, 1.005, 0.01, Better::Lower), Verdict::Within);
        assert_eq!(judge(1.0, 1.02, 0.01, Better::Lower), Verdict::Regressed);
        assert_eq!(judge(1.0, 0.98, 0.01, Better::Lower), Verdict::Improved);
        assert_eq!(judge(100.0, 80.0, 15.0, Better::Higher), Verdict::Regressed);
        assert_eq!(judge(100.0, 120.0, 15.0, Better::Higher), Verdict::Improved);
        assert_eq!(judge(10.0, 8.0, 1.0, Better::Unchanged), Verdict::Regressed);
        assert_eq!(judge(10.0, 12.0, 1.0, Better::Unchanged), Verdict::Regressed);
        assert_eq!(judge(1.0, f64::NAN, 0.5, Better::Lower), Verdict::Regressed);
    }

    #[test]
    fn a_spec_overrides_some_defaults() {
        let nightly = NightlySpec { throughput_drop: Some(saescale_sweep::spec::Tolerance(0.3)), ..NightlySpec::default() };
        let t = Tolerances::from_spec(&nightly);
        assert_eq!((t.throughput_drop, t.loss_relative), (0.3, 0.01));
    }
}
