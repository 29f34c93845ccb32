//! The trend of a figure across nights, and when it is a regression rather than noise.
//!
//! A night breaks a figure's tolerance when it is worse than the trailing median of the seven
//! nights before it by more than the tolerance (fewer nights before it: the median of those
//! there are). A figure has regressed when the last two nights both break it — as PyTorch's and
//! Megatron-LM's nightly benchmarks flag only consecutive violations — and the regression began
//! at the first night of the run of breaking nights that ends with the last one. A last night
//! that breaks alone is suspicious: shown, never failed.

use serde::Serialize;

use super::tolerance::{judge, Better, Verdict};

/// Nights before a night whose median it is judged against.
pub const TRAILING_NIGHTS: usize = 7;

/// Where a figure's trend stands after the last night.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TrendStatus {
    /// The last night keeps its tolerance (or there is too little history to judge).
    Steady,
    /// The last night breaks the tolerance, the night before does not: a blip, so far.
    Suspicious,
    /// The last two nights (at least) break the tolerance, since night `since` (an index).
    Regressed {
        /// The first night of the run of breaking nights that ends with the last one.
        since: usize,
    },
}

/// The trend of `values` (one per night, oldest first; `None` where a night lacks the figure),
/// each night judged against the median of the nights before it, `tolerance` giving the
/// allowed move at a median value.
pub fn trend(values: &[Option<f64>], tolerance: impl Fn(f64) -> f64, better: Better) -> TrendStatus {
    let breaks = |t: usize| -> bool {
        let Some(value) = values[t] else { return false };
        let before: Vec<f64> = values[t.saturating_sub(TRAILING_NIGHTS)..t].iter().flatten().copied().collect();
        match median(before) {
            Some(m) => judge(m, value, tolerance(m), better) == Verdict::Regressed,
            None => false,
        }
    };
    let Some(last) = values.len().checked_sub(1) else { return TrendStatus::Steady };
    if !breaks(last) {
        return TrendStatus::Steady;
    }
    if last == 0 || !breaks(last - 1) {
        return TrendStatus::Suspicious;
    }
    let mut since = last - 1;
    while since > 0 && breaks(since - 1) {
        since -= 1;
    }
    TrendStatus::Regressed { since }
}

/// The median (the mean of the middle two for an even count); `None` for no values.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 { values[n / 2] } else { 0.5 * (values[n / 2 - 1] + values[n / 2]) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loss(values: &[f64]) -> TrendStatus {
        let values: Vec<Option<f64>> = values.iter().map(|&v| Some(v)).collect();
        trend(&values, |m| 0.01 * m, Better::Lower)
    }

    #[test]
    fn two_consecutive_breaking_nights_regress_and_one_is_suspicious() {
        let steady = [1.0, 1.002, 0.999, 1.001, 1.0, 0.998, 1.001, 1.0];
        assert_eq!(loss(&steady), TrendStatus::Steady);
        let mut blip = steady.to_vec();
        blip.push(1.05);
        assert_eq!(loss(&blip), TrendStatus::Suspicious);
        let mut regressed = blip.clone();
        regressed.push(1.05);
        assert_eq!(loss(&regressed), TrendStatus::Regressed { since: 8 });
        regressed.push(1.06);
        assert_eq!(loss(&regressed), TrendStatus::Regressed { since: 8 }, "it began at the first breaking night");
    }

    #[test]
    fn a_blip_that_recovered_is_steady_and_improvements_never_regress() {
        assert_eq!(loss(&[1.0, 1.0, 1.0, 1.05, 1.0]), TrendStatus::Steady);
        assert_eq!(loss(&[1.0, 1.0, 1.0, 0.9, 0.9]), TrendStatus::Steady);
        let throughput: Vec<Option<f64>> = [100.0, 101.0, 99.0, 70.0, 69.0].iter().map(|&v| Some(v)).collect();
        assert_eq!(trend(&throughput, |m| 0.15 * m, Better::Higher), TrendStatus::Regressed { since: 3 });
    }

    #[test]
    fn the_median_is_of_the_seven_nights_before_and_missing_nights_are_skipped() {
        // An old, better stretch beyond the seven trailing nights does not pull the median
        // down (over all nights it would be 0.5, and the last two nights would regress).
        let mut values = vec![0.5; 9];
        values.extend([1.0; 7]);
        values.extend([1.005, 1.004]);
        assert_eq!(loss(&values), TrendStatus::Steady);
        let gaps = [Some(1.0), None, Some(1.0), Some(1.1), None, Some(1.1)];
        assert_eq!(trend(&gaps, |m| 0.01 * m, Better::Lower), TrendStatus::Suspicious, "a night without the figure breaks nothing");
        assert_eq!(loss(&[]), TrendStatus::Steady);
        assert_eq!(loss(&[5.0]), TrendStatus::Steady);
        assert_eq!(median(vec![3.0, 1.0, 2.0, 4.0]), Some(2.5));
    }
}
