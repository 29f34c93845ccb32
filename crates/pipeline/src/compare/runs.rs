//! Run against run: the runs of two sweeps matched by training config (their run ids hash
//! the resolved run spec without its name and log cadence, so the same config has the same id
//! in every night), and each figure of a matched pair judged under its tolerance.

use std::collections::HashMap;

use saescale_spec::FinalMetrics;
use saescale_sweep::store::{RunRecord, RunState};
use saescale_sweep::RunId;
use serde::Serialize;

use super::tolerance::{judge, Better, Tolerances, Verdict};

/// One figure of a matched run on both sides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    /// Its name: `loss`, `fvu`, `l0`, `dead_fraction`, `tokens_per_s`, `peak_rss_bytes`.
    pub figure: &'static str,
    /// The baseline's value.
    pub baseline: Option<f64>,
    /// The current value.
    pub current: Option<f64>,
    /// How far it may move (absolute, in its own units).
    pub tolerance: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
}

/// A run of both sides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunComparison {
    /// Its id (the same on both sides).
    pub id: RunId,
    /// Its label in the current sweep.
    pub name: Option<String>,
    /// Feature count F.
    pub features: usize,
    /// Steps S.
    pub steps: u64,
    /// The state on each side.
    pub states: [RunState; 2],
    /// Its figures.
    pub figures: Vec<Figure>,
}

impl RunComparison {
    /// Whether any figure regressed.
    pub fn regressed(&self) -> bool {
        self.figures.iter().any(|f| f.verdict == Verdict::Regressed)
    }
}

/// The runs of two sweeps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunsComparison {
    /// Runs of both sides, in the current sweep's plan order.
    pub matched: Vec<RunComparison>,
    /// Runs only the baseline has.
    pub only_in_baseline: Vec<RunId>,
    /// Runs only the current sweep has.
    pub only_in_current: Vec<RunId>,
}

/// Matches the runs of `current` with those of `baseline` and judges every figure.
pub fn compare_runs(baseline: &[RunRecord], current: &[RunRecord], tolerances: &Tolerances) -> RunsComparison {
    let by_id: HashMap<&RunId, &RunRecord> = baseline.iter().map(|r| (&r.run.id, r)).collect();
    let spread = SeedSpread::of(baseline);
    let matched: Vec<RunComparison> = current
        .iter()
        .filter_map(|now| by_id.get(&now.run.id).map(|before| compare_run(before, now, &spread, tolerances)))
        .collect();
    let in_current: std::collections::HashSet<&RunId> = current.iter().map(|r| &r.run.id).collect();
    RunsComparison {
        matched,
        only_in_baseline: baseline.iter().map(|r| r.run.id.clone()).filter(|id| !in_current.contains(id)).collect(),
        only_in_current: current.iter().map(|r| r.run.id.clone()).filter(|id| !by_id.contains_key(id)).collect(),
    }
}

fn compare_run(before: &RunRecord, now: &RunRecord, spread: &SeedSpread, t: &Tolerances) -> RunComparison {
    let (b, c) = (before.final_metrics.clone().unwrap_or_default(), now.final_metrics.clone().unwrap_or_default());
    let peak = |m: &FinalMetrics| m.provenance.as_ref().and_then(|p| p.peak_rss_bytes).map(|bytes| bytes as f64);
    let loss_tolerance = |figure: &str, value: f64| (t.loss_relative * value.abs()).max(t.seed_sigmas * spread.sd(&before.run.spec, figure));
    let figures = vec![
        figure("loss", b.loss, c.loss, Better::Lower, |v| loss_tolerance("loss", v), true),
        figure("fvu", b.fvu, c.fvu, Better::Lower, |v| loss_tolerance("fvu", v), false),
        figure("l0", b.l0, c.l0, Better::Unchanged, |_| t.l0_absolute, false),
        figure("dead_fraction", b.dead_fraction, c.dead_fraction, Better::Lower, |_| t.dead_fraction_absolute, false),
        figure("tokens_per_s", b.tokens_per_s, c.tokens_per_s, Better::Higher, |v| t.throughput_drop * v.abs(), false),
        figure("peak_rss_bytes", peak(&b), peak(&c), Better::Lower, |v| t.memory_rise * v.abs(), false),
    ];
    RunComparison {
        id: now.run.id.clone(),
        name: now.run.spec.name.clone(),
        features: now.run.features,
        steps: now.run.steps,
        states: [before.state(), now.state()],
        figures,
    }
}

/// One figure judged; `required` figures (the loss) regress when the baseline has them and
/// the current run does not (it did not finish).
fn figure(name: &'static str, baseline: Option<f64>, current: Option<f64>, better: Better, tolerance: impl Fn(f64) -> f64, required: bool) -> Figure {
    let (verdict, tolerance) = match (baseline, current) {
        (Some(b), Some(c)) => (judge(b, c, tolerance(b), better), Some(tolerance(b))),
        (Some(_), None) if required => (Verdict::Regressed, None),
        _ => (Verdict::Unjudged, None),
    };
    Figure { figure: name, baseline, current, tolerance, verdict }
}

/// The baseline's spread over seeds: runs that differ only in their seed form a group, whose
/// loss and FVU standard deviations (over at least two finished seeds) widen the tolerance.
struct SeedSpread {
    /// Per group (the id of its config with the seed reset): (loss sd, FVU sd).
    groups: HashMap<RunId, (f64, f64)>,
}

impl SeedSpread {
    fn of(records: &[RunRecord]) -> Self {
        let mut values: HashMap<RunId, Vec<(f64, f64)>> = HashMap::new();
        for record in records {
            if let Some(m) = &record.final_metrics {
                if let (Some(loss), Some(fvu)) = (m.loss, m.fvu) {
                    values.entry(seedless(&record.run.spec)).or_default().push((loss, fvu));
                }
            }
        }
        let groups = values
            .into_iter()
            .filter(|(_, v)| v.len() >= 2)
            .map(|(id, v)| (id, (sample_sd(v.iter().map(|p| p.0)), sample_sd(v.iter().map(|p| p.1)))))
            .collect();
        SeedSpread { groups }
    }

    /// The standard deviation of `figure` over the seeds of `spec`'s group; 0 without seeds.
    fn sd(&self, spec: &saescale_spec::RunSpec, figure: &str) -> f64 {
        self.groups.get(&seedless(spec)).map_or(0.0, |&(loss, fvu)| if figure == "loss" { loss } else { fvu })
    }
}

/// The id of a run's config with its seed reset: the same for every seed of one config.
fn seedless(spec: &saescale_spec::RunSpec) -> RunId {
    let mut spec = spec.clone();
    spec.seed = 0;
    RunId::of(&spec)
}

/// Sample standard deviation (n − 1).
fn sample_sd(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let n = values.clone().count() as f64;
    let mean = values.clone().sum::<f64>() / n;
    (values.map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_sd_of_known_values() {
        // numpy: np.std([1, 2, 3, 4], ddof=1) = 1.2909944487358056.
        assert!((sample_sd([1.0, 2.0, 3.0, 4.0].into_iter()) - 1.2909944487358056).abs() < 1e-15);
    }

    #[test]
    fn a_run_that_did_not_finish_regresses_its_loss_and_leaves_the_rest_unjudged() {
        let loss = figure("loss", Some(1.0), None, Better::Lower, |v| 0.01 * v, true);
        assert_eq!(loss.verdict, Verdict::Regressed);
        let fvu = figure("fvu", Some(1.0), None, Better::Lower, |v| 0.01 * v, false);
        assert_eq!(fvu.verdict, Verdict::Unjudged);
        assert_eq!(figure("fvu", None, Some(1.0), Better::Lower, |v| v, false).verdict, Verdict::Unjudged);
    }
}
