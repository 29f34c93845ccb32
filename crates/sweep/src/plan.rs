//! The plan: a sweep spec expanded into fully resolved runs with content-hash ids (like
//! ripgrep's `HiArgs`: everything checked and derived once).
//!
//! Steps of a budgeted run follow docs/METHODS.md §1.6: `S = ⌊C / (12·d·F·batch)⌋`, computed by
//! [`saescale_spec::compute::steps_for_budget`], so the planner, the store, the trainer and the
//! fitter count FLOP with one function. A run's FLOP is what its whole steps spend,
//! `12·d·F·S·batch` ≤ C.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use saescale_spec::compute::{run_flops, steps_for_budget, training_memory_bytes};
use saescale_spec::{LogSpec, RunSpec};

use crate::error::SpecError;
use crate::spec::{Design, ExecutorSpec, GridPoint, Sparsity, SweepSpec};
use crate::Result;

/// A run's id: the first 12 hex digits of the SHA-256 of its canonical training config.
///
/// The canonical config is the resolved [`RunSpec`] as JSON (fields in declaration order,
/// floats in shortest round-trip form) with the fields that cannot change the trained weights
/// reset: `name` (a label) and `[log]` (logging and checkpoint cadence). Every other field —
/// data source and seed, architecture, F, k, λ, steps, batch, lr and the rest of the optimiser,
/// eval rows, precision, init seed — is hashed, so changing any of them gives a new id and a
/// new run, while renaming a sweep or logging more often keeps finished runs. The bytes hashed
/// start with a version tag, so the canonical form can change later without colliding.
/// 48 bits make a collision among 10⁴ runs about 1 in 10⁷.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    /// Hex digits kept.
    const LEN: usize = 12;

    /// The id of a resolved run spec.
    pub fn of(spec: &RunSpec) -> RunId {
        let mut canonical = spec.clone();
        canonical.name = None;
        canonical.log = LogSpec::default();
        // Serialising plain structs of numbers, strings and enums to JSON cannot fail.
        let json = serde_json::to_vec(&canonical).expect("a RunSpec always serialises to JSON");
        let mut hasher = Sha256::new();
        hasher.update(b"saescale-run-id-v1\n");
        hasher.update(&json);
        let digest = hasher.finalize();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        RunId(hex[..Self::LEN].to_string())
    }

    /// Parses an id as shown by `plan` and used as a directory name.
    pub fn parse(text: &str) -> Option<RunId> {
        (text.len() == Self::LEN && text.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
            .then(|| RunId(text.to_string()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One run of a plan: its resolved spec and the numbers derived from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedRun {
    /// Content hash of the training config.
    pub id: RunId,
    /// The compute budget this run was derived from (`None` for explicit grid points).
    pub budget: Option<f64>,
    /// Factor applied to the resolved learning rate.
    pub lr_multiplier: f64,
    /// Feature count F.
    pub features: usize,
    /// Training steps S.
    pub steps: u64,
    /// Tokens seen: S × batch.
    pub tokens: u64,
    /// Training FLOP: 12·d·F·S·batch.
    pub flops: f64,
    /// Estimated device memory of a training step, in bytes (a lower bound).
    pub memory_bytes: u64,
    /// The resolved run file handed to the trainer.
    pub spec: RunSpec,
    /// Why an isoflop design put the run here (absent for grid points).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed_by: Option<PlacedBy>,
}

/// What centred a budget's feature counts in an isoflop design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum PlacedBy {
    /// The spec's prior.
    Prior,
    /// The fit of the runs of stages `0..stage` (the budgets trained before this one).
    StageFit {
        /// The stage (budget index, smallest first) that was placed.
        stage: usize,
    },
}

impl fmt::Display for PlacedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlacedBy::Prior => f.write_str("prior"),
            PlacedBy::StageFit { stage: 1 } => f.write_str("fit of stage 0"),
            PlacedBy::StageFit { stage } => write!(f, "fit of stages 0-{}", stage - 1),
        }
    }
}

/// Where an isoflop design centres one budget: the predicted optimal feature count, and why.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Centre {
    /// The predicted F*(C) the budget's feature counts are spaced around.
    pub features: f64,
    /// What predicted it.
    pub placed_by: PlacedBy,
}

/// A sweep expanded into runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The sweep's name.
    pub name: String,
    /// The sweep's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The spec's `[executor]` table (the command line may override it).
    pub executor: ExecutorSpec,
    /// Every run, in the order of the spec: budgets (or grid points), then features, then lr
    /// multipliers, then sparsities (`k`, `l1_coefficients` or `l0_coefficients`), then seeds.
    pub runs: Vec<PlannedRun>,
}

/// One point of the swept part before it becomes a run, with where it came from.
struct Point {
    features: usize,
    steps: u64,
    budget: Option<f64>,
    /// Where to point errors about this point.
    span: Range<usize>,
    placed_by: Option<PlacedBy>,
}

impl Plan {
    /// Expands and checks a sweep spec.
    ///
    /// # Errors
    /// [`crate::Error::Spec`] pointing into the spec for a budget too small for one step at
    /// some F, a value the trainer would reject for some run (e.g. topk `k` > F), or two
    /// points that make the same run.
    pub fn new(spec: &SweepSpec) -> Result<Plan> {
        if spec.design() == Design::Isoflop {
            return Err(spec
                .error_at(&["sweep", "design"], "an isoflop design is centred from its prior and finished runs: plan it with `Plan::isoflop` (saescale-pipeline does)")
                .into());
        }
        let points = expand_points(spec, spec.template.d_in(), spec.template.batch_size())?;
        Self::of_points(spec, points)
    }

    /// The isoflop plan of the first `centres.len()` budgets, smallest first: budget `i` gets
    /// `points_per_budget` feature counts spaced geometrically over `span` around
    /// `centres[i].features` ([`isoflop_features`]).
    ///
    /// # Errors
    /// As [`Plan::new`], and a budget too small for its span (a run with fewer than
    /// `min_steps` steps) or centres that round to the same feature counts, naming the budget.
    pub fn isoflop(spec: &SweepSpec, centres: &[Centre]) -> Result<Plan> {
        let points = isoflop_points(spec, centres)?;
        Self::of_points(spec, points)
    }

    /// The runs of the points: every point × lr multiplier × seed, resolved and checked.
    fn of_points(spec: &SweepSpec, points: Vec<Point>) -> Result<Plan> {
        let (architecture, d_in, batch_size) = (spec.template.architecture(), spec.template.d_in(), spec.template.batch_size());
        let multipliers: Vec<(f64, Option<Range<usize>>)> = match &spec.axes.lr_multipliers {
            Some(list) => list.get_ref().iter().map(|m| (m.get_ref().0, Some(m.span()))).collect(),
            None => vec![(1.0, None)],
        };
        let seeds: Vec<u64> = match &spec.axes.seeds {
            Some(list) => list.get_ref().clone(),
            None => vec![spec.template.seed()],
        };
        let sparsities: Vec<(Option<Sparsity>, Option<Range<usize>>)> = match spec.sparsity_values() {
            values if values.is_empty() => vec![(None, None)],
            values => values.into_iter().map(|(value, span)| (Some(value), Some(span))).collect(),
        };
        let mut runs = Vec::new();
        // Each run's id → its index in `runs` and the (point, multiplier) it came from.
        let mut seen: HashMap<RunId, (usize, usize, usize)> = HashMap::new();
        for (point_index, point) in points.iter().enumerate() {
            for (multiplier_index, (multiplier, multiplier_span)) in multipliers.iter().enumerate() {
                for (sparsity, sparsity_span) in &sparsities {
                    for &seed in &seeds {
                        let axes = RunAxes { multiplier: *multiplier, sparsity: *sparsity, seed };
                        let resolved = resolve_run(spec, point, axes, multipliers.len(), sparsities.len(), seeds.len())?;
                        let id = RunId::of(&resolved);
                        if let Some(&(earlier, earlier_point, earlier_multiplier)) = seen.get(&id) {
                            // Point at the list that repeats a value: the sparsity axis when
                            // the point and multiplier are the same, else the multipliers.
                            let span = match (earlier_point == point_index, earlier_multiplier == multiplier_index) {
                                (true, true) => sparsity_span.clone(),
                                (true, false) => multiplier_span.clone(),
                                (false, _) => None,
                            };
                            let first: &PlannedRun = &runs[earlier];
                            let sparsity = sparsity.map(|s| format!(", {s}")).unwrap_or_default();
                            return Err(spec
                                .error(
                                    Some(span.unwrap_or(point.span.clone())),
                                    format!(
                                        "this makes the same run as an earlier point (F = {}, steps = {}, lr × {}{sparsity}, seed {}); \
                                         remove the duplicate",
                                        first.features, first.steps, first.lr_multiplier, seed
                                    ),
                                )
                                .into());
                        }
                        seen.insert(id.clone(), (runs.len(), point_index, multiplier_index));
                        runs.push(PlannedRun {
                            id,
                            budget: point.budget,
                            lr_multiplier: *multiplier,
                            features: point.features,
                            steps: point.steps,
                            tokens: point.steps * batch_size as u64,
                            flops: run_flops(architecture, d_in, point.features, point.steps, batch_size),
                            memory_bytes: training_memory_bytes(d_in, point.features, batch_size),
                            spec: resolved,
                            placed_by: point.placed_by,
                        });
                    }
                }
            }
        }
        Ok(Plan { name: spec.name.clone(), description: spec.description.clone(), executor: spec.executor.clone(), runs })
    }

    /// Total training FLOP of every run.
    pub fn total_flops(&self) -> f64 {
        self.runs.iter().map(|r| r.flops).sum()
    }

    /// The run with this id.
    pub fn run(&self, id: &RunId) -> Option<&PlannedRun> {
        self.runs.iter().find(|r| &r.id == id)
    }
}

/// The (F, steps) points of the spec: budgets × features, or the explicit grid.
fn expand_points(spec: &SweepSpec, d_in: usize, batch_size: usize) -> Result<Vec<Point>> {
    let axes = &spec.axes;
    let architecture = spec.template.architecture();
    let mut points = Vec::new();
    if let Some(grid) = &axes.grid {
        for point in grid.get_ref() {
            let GridPoint { features, steps } = *point.get_ref();
            let features = to_usize(spec, features.0, point.span())?;
            points.push(Point { features, steps: steps.0, budget: None, span: point.span(), placed_by: None });
        }
        return Ok(points);
    }
    // SweepSpec::parse checked that budgets and features are both there when grid is not.
    let (Some(budgets), Some(features)) = (&axes.budgets, &axes.features) else {
        return Err(spec.error(None, "expected `budgets` and `features`, or `grid`, in [sweep]").into());
    };
    for budget in budgets.get_ref() {
        let flop = budget.get_ref().0;
        for feature in features.get_ref() {
            let f = to_usize(spec, feature.get_ref().0, feature.span())?;
            let steps = steps_for_budget(architecture, flop, d_in, f, batch_size);
            if steps == 0 {
                let step = run_flops(architecture, d_in, f, 1, batch_size);
                return Err(spec
                    .error(
                        Some(budget.span()),
                        format!(
                            "budget {flop:e} FLOP is too small for one step at features = {f}: one step costs \
                             12·d·F·batch = 12·{d_in}·{f}·{batch_size} = {step:e} FLOP; raise the budget or drop that F"
                        ),
                    )
                    .into());
            }
            points.push(Point { features: f, steps, budget: Some(flop), span: budget.span(), placed_by: None });
        }
    }
    Ok(points)
}

/// Feature counts per budget and spread of an isoflop design when the spec does not say, and
/// the fewest steps a run may have.
pub const DEFAULT_POINTS_PER_BUDGET: u64 = 5;
/// See [`DEFAULT_POINTS_PER_BUDGET`].
pub const DEFAULT_SPAN: f64 = 8.0;
/// See [`DEFAULT_POINTS_PER_BUDGET`].
pub const DEFAULT_MIN_STEPS: u64 = 100;

/// `points` feature counts spaced geometrically over `span` (largest / smallest) around
/// `centre`: `round(centre · span^(i/(points−1) − 1/2))`, i = 0..points, at least 1. Rounding
/// may make neighbours equal at small F; the caller checks that they are distinct.
pub fn isoflop_features(centre: f64, points: usize, span: f64) -> Vec<usize> {
    (0..points)
        .map(|i| {
            let t = if points > 1 { i as f64 / (points - 1) as f64 - 0.5 } else { 0.0 };
            (centre * span.powf(t)).round().max(1.0) as usize
        })
        .collect()
}

/// The points of the first `centres.len()` budgets of an isoflop design, smallest budget first.
fn isoflop_points(spec: &SweepSpec, centres: &[Centre]) -> Result<Vec<Point>> {
    let axes = &spec.axes;
    let (architecture, d_in, batch_size) = (spec.template.architecture(), spec.template.d_in(), spec.template.batch_size());
    let budgets = spec.budgets_smallest_first();
    let n = axes.points_per_budget.as_ref().map_or(DEFAULT_POINTS_PER_BUDGET, |p| p.get_ref().0) as usize;
    let span = axes.span.as_ref().map_or(DEFAULT_SPAN, |s| s.get_ref().0);
    let min_steps = axes.min_steps.as_ref().map_or(DEFAULT_MIN_STEPS, |m| m.get_ref().0);
    let mut points = Vec::new();
    for (budget, centre) in budgets.iter().zip(centres) {
        let flop = budget.get_ref().0;
        let features = isoflop_features(centre.features, n, span);
        let fail = |message: String| -> crate::Error { spec.error(Some(budget.span()), message).into() };
        if features.windows(2).any(|w| w[0] == w[1]) {
            return Err(fail(format!(
                "budget {flop:e}: {n} feature counts over a span of {span} around F = {:.1} round to repeats ({features:?}); lower points_per_budget or widen the span",
                centre.features
            )));
        }
        // Steps fall as F grows, so the largest count is the one that may get too few.
        let largest = *features.last().expect("the spec checks points_per_budget >= 2");
        let steps = steps_for_budget(architecture, flop, d_in, largest, batch_size);
        if steps < min_steps {
            return Err(fail(format!(
                "budget {flop:e} FLOP is too small for its span: F = {largest} (the largest of {features:?}, around F*(C) = {:.1} by the {}) gets {steps} steps, \
                 fewer than min_steps = {min_steps}; raise the budget, narrow the span or lower min_steps",
                centre.features,
                centre.placed_by
            )));
        }
        for &f in &features {
            let steps = steps_for_budget(architecture, flop, d_in, f, batch_size);
            points.push(Point { features: f, steps, budget: Some(flop), span: budget.span(), placed_by: Some(centre.placed_by) });
        }
    }
    Ok(points)
}

fn to_usize(spec: &SweepSpec, value: u64, span: Range<usize>) -> Result<usize> {
    usize::try_from(value).map_err(|_| spec.error(Some(span), format!("feature count {value} is too large for this machine")).into())
}

/// The template filled in for one point, resolved and checked by the spec crate.
/// The swept values of one run besides its point.
#[derive(Debug, Clone, Copy)]
struct RunAxes {
    multiplier: f64,
    sparsity: Option<Sparsity>,
    seed: u64,
}

fn resolve_run(spec: &SweepSpec, point: &Point, axes: RunAxes, n_multipliers: usize, n_sparsities: usize, n_seeds: usize) -> Result<RunSpec> {
    let RunAxes { multiplier, sparsity, seed } = axes;
    let sparsity_note = sparsity.map(|s| format!(", {s}")).unwrap_or_default();
    let located = |error: saescale_spec::Error| -> crate::Error {
        let (span, message) = match &error {
            saescale_spec::Error::Invalid { field, reason } => {
                let mut keys = vec!["run"];
                keys.extend(field.split('.'));
                let span = spec.key_span(&keys).unwrap_or(point.span.clone());
                (span, format!("`run.{field}` {reason} (for the run with F = {}, steps = {}{sparsity_note})", point.features, point.steps))
            }
            other => (point.span.clone(), format!("{other} (for the run with F = {}, steps = {}{sparsity_note})", point.features, point.steps)),
        };
        SpecError::at(spec.path(), spec.text(), Some(span), message).into()
    };
    let mut run = spec.template.instantiate(point.features, point.steps, seed);
    if let Some(sparsity) = sparsity {
        sparsity.apply(&mut run);
    }
    let mut run = run.resolve().map_err(located)?;
    if multiplier != 1.0 {
        // `resolve` filled the lr, so it is Some here.
        run.train.lr = run.train.lr.map(|lr| lr * multiplier);
        run = run.resolve().map_err(located)?;
    }
    let mut name = format!("{}/F{}-S{}", spec.name, point.features, point.steps);
    if n_multipliers > 1 {
        name.push_str(&format!("-lrx{multiplier}"));
    }
    match sparsity {
        Some(Sparsity::K(k)) if n_sparsities > 1 => name.push_str(&format!("-k{k}")),
        Some(Sparsity::L1Coefficient(lambda)) if n_sparsities > 1 => name.push_str(&format!("-l1x{lambda}")),
        Some(Sparsity::L0Coefficient(lambda)) if n_sparsities > 1 => name.push_str(&format!("-l0x{lambda}")),
        _ => {}
    }
    if n_seeds > 1 {
        name.push_str(&format!("-seed{seed}"));
    }
    run.name = Some(name);
    Ok(run)
}

/// FLOP in short scientific notation, e.g. `1.60e12`.
pub fn format_flops(flops: f64) -> String {
    format!("{flops:.2e}")
}

/// Bytes in binary units, e.g. `12.5 MiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Seconds as `1h02m`, `3m05s` or `12s`.
pub fn format_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "?".into();
    }
    let s = seconds.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use saescale_spec::Architecture;

    pub(crate) const QUICK: &str = r#"
name = "t"
[run]
[run.data]
source = "synthetic"
d_in = 64
[run.sae]
architecture = "relu"
[run.train]
batch_size = 256
[sweep]
budgets = [1e11, 2e11]
features = [128, 256]
"#;

    fn plan(text: &str) -> Plan {
        Plan::new(&SweepSpec::parse(text, "t.toml").unwrap()).unwrap()
    }

    #[test]
    fn steps_follow_the_budget_and_flops_are_counted_once() {
        let plan = plan(QUICK);
        assert_eq!(plan.runs.len(), 4);
        let run = &plan.runs[0];
        // S = ⌊1e11 / (12·64·128·256)⌋ = ⌊1e11 / 25165824⌋ = 3973.
        assert_eq!((run.features, run.steps), (128, 3973));
        assert_eq!(run.tokens, 3973 * 256);
        assert_eq!(run.flops, 12.0 * 64.0 * 128.0 * 3973.0 * 256.0);
        assert!(run.flops <= 1e11 && run.flops > 1e11 - 12.0 * 64.0 * 128.0 * 256.0);
        assert_eq!((plan.runs[1].features, plan.runs[1].steps), (256, 1986));
        assert_eq!(plan.runs[2].steps, 7947);
        assert_eq!(run.spec.sae.features, Some(128));
        assert_eq!(run.spec.train.steps, Some(3973));
        assert_eq!(run.spec.name.as_deref(), Some("t/F128-S3973"));
        assert_eq!(run.memory_bytes, training_memory_bytes(64, 128, 256));
    }

    #[test]
    fn ids_are_stable_and_ignore_labels_and_log_cadence() {
        let a = plan(QUICK);
        let b = plan(QUICK);
        assert_eq!(a, b);
        let renamed = plan(&QUICK.replace("name = \"t\"", "name = \"other\""));
        assert_eq!(a.runs[0].id, renamed.runs[0].id);
        let logged = plan(&QUICK.replace("[sweep]", "[run.log]\nevery_steps = 7\n[sweep]"));
        assert_eq!(a.runs[0].id, logged.runs[0].id);
        // The hash is pinned: a change of canonical form must be deliberate (bump the tag).
        assert_eq!(a.runs[0].id.as_str().len(), 12);
        assert!(RunId::parse(a.runs[0].id.as_str()).is_some());
    }

    #[test]
    fn ids_change_when_any_training_field_changes() {
        let base = plan(QUICK).runs[0].id.clone();
        let edits = [
            ("batch_size = 256", "batch_size = 256\nlr = 1e-4"),
            ("batch_size = 256", "batch_size = 256\nadam_beta2 = 0.99"),
            ("batch_size = 256", "batch_size = 256\nlr_decay_fraction = 0.3"),
            ("architecture = \"relu\"", "architecture = \"relu\"\nl1_coefficient = 4.0"),
            ("d_in = 64", "d_in = 64\nseed = 3"),
            ("d_in = 64", "d_in = 64\nnoise_std = 0.1"),
            ("[run]", "[run]\nseed = 1"),
            ("[run]", "[run]\nprecision = \"f32\""),
            ("[sweep]", "[run.eval]\nrows = 100\n[sweep]"),
            ("features = [128, 256]", "features = [128, 256]\nlr_multipliers = [2.0]"),
        ];
        for (from, to) in edits {
            let changed = plan(&QUICK.replace(from, to));
            assert_ne!(changed.runs[0].id, base, "{to}");
        }
        // Different budgets give different steps, so different ids.
        let ids: std::collections::HashSet<_> = plan(QUICK).runs.into_iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), 4);
    }

    #[test]
    fn multipliers_and_seeds_cross_every_point() {
        let text = QUICK.replace("features = [128, 256]", "features = [128, 256]\nlr_multipliers = [0.5, 2]\nseeds = [1, 2, 3]");
        let plan = plan(&text);
        assert_eq!(plan.runs.len(), 4 * 2 * 3);
        let run = &plan.runs[0];
        assert_eq!(run.spec.train.lr, Some(5e-5 * 0.5));
        assert_eq!(run.spec.seed, 1);
        assert_eq!(run.spec.name.as_deref(), Some("t/F128-S3973-lrx0.5-seed1"));
    }

    #[test]
    fn a_k_axis_crosses_every_point_of_every_design_topk() {
        let topk = QUICK.replace("architecture = \"relu\"", "architecture = \"topk\"");
        let text = topk.replace("features = [128, 256]", "features = [128, 256]\nk = [8, 32]\nseeds = [1, 2]");
        let plan = plan(&text);
        assert_eq!(plan.runs.len(), 4 * 2 * 2);
        let ks: Vec<Option<usize>> = plan.runs[..4].iter().map(|r| r.spec.sae.k).collect();
        assert_eq!(ks, [Some(8), Some(8), Some(32), Some(32)], "k varies inside a point, seeds inside k");
        assert_eq!(plan.runs[2].spec.name.as_deref(), Some("t/F128-S3973-k32-seed1"));
        // k changes the run but not its steps or compute (counted as the dense step).
        assert_ne!(plan.runs[0].id, plan.runs[2].id);
        assert_eq!((plan.runs[0].steps, plan.runs[0].flops), (plan.runs[2].steps, plan.runs[2].flops));
        // Grid points and batchtopk alike.
        let grid = text.replace("budgets = [1e11, 2e11]\nfeatures = [128, 256]", "grid = [{ features = 100, steps = 10 }]").replace("\"topk\"", "\"batchtopk\"");
        let ks: Vec<Option<usize>> = super::tests::plan(&grid).runs.iter().map(|r| r.spec.sae.k).collect();
        assert_eq!(ks, [Some(8), Some(8), Some(32), Some(32)]);
    }

    #[test]
    fn an_l1_axis_crosses_every_point_relu() {
        let plan = plan(&QUICK.replace("features = [128, 256]", "features = [128, 256]\nl1_coefficients = [1.0, 5.0, 20.0]"));
        assert_eq!(plan.runs.len(), 4 * 3);
        let lambdas: Vec<Option<f64>> = plan.runs[..3].iter().map(|r| r.spec.sae.l1_coefficient).collect();
        assert_eq!(lambdas, [Some(1.0), Some(5.0), Some(20.0)]);
        assert_eq!(plan.runs[1].spec.name.as_deref(), Some("t/F128-S3973-l1x5"));
    }

    #[test]
    fn an_l0_axis_crosses_every_point_jumprelu() {
        let jumprelu = QUICK.replace("architecture = \"relu\"", "architecture = \"jumprelu\"");
        let plan = plan(&jumprelu.replace("features = [128, 256]", "features = [128, 256]\nl0_coefficients = [3e-4, 1e-3]"));
        assert_eq!(plan.runs.len(), 4 * 2);
        let lambdas: Vec<Option<f64>> = plan.runs[..2].iter().map(|r| r.spec.sae.l0_coefficient).collect();
        assert_eq!(lambdas, [Some(3e-4), Some(1e-3)]);
        assert_eq!(plan.runs[1].spec.name.as_deref(), Some("t/F128-S3973-l0x0.001"));
        assert_eq!((plan.runs[0].spec.sae.l1_coefficient, plan.runs[0].spec.sae.k), (None, None));
    }

    #[test]
    fn sparsity_axes_are_checked_where_they_are_written() {
        let topk = QUICK.replace("architecture = \"relu\"", "architecture = \"topk\"");
        let cases = [
            (QUICK.replace("features = [128, 256]", "features = [128, 256]\nk = [8]"), "`k` is a sweep axis of topk and batchtopk SAEs", 14),
            (topk.replace("features = [128, 256]", "features = [128, 256]\nl1_coefficients = [1.0]"), "`l1_coefficients` is a sweep axis of relu SAEs", 14),
            (QUICK.replace("features = [128, 256]", "features = [128, 256]\nl0_coefficients = [1e-3]"), "`l0_coefficients` is a sweep axis of jumprelu SAEs", 14),
            (
                QUICK.replace("\"relu\"", "\"jumprelu\"").replace("features = [128, 256]", "features = [128, 256]\nk = [8]"),
                "`k` is a sweep axis of topk and batchtopk SAEs",
                14,
            ),
            (topk.replace("features = [128, 256]", "features = [128, 256]\nk = []"), "expected at least one value of `k`", 14),
            (topk.replace("architecture = \"topk\"", "architecture = \"topk\"\nk = 4").replace("features = [128, 256]", "features = [128, 256]\nk = [8]"), "`run.sae.k` is set for each run by [sweep] k", 9),
        ];
        for (text, message, line) in cases {
            let error = SweepSpec::parse(&text, "t.toml").unwrap_err();
            assert!(error.message.contains(message), "{message}: {error}");
            assert_eq!(error.line, Some(line), "{message}: {error}");
        }
        // A k larger than some F is refused by the run's own check, naming the k.
        let too_big = topk.replace("features = [128, 256]", "features = [128, 256]\nk = [8, 200]");
        let error = Plan::new(&SweepSpec::parse(&too_big, "t.toml").unwrap()).unwrap_err().to_string();
        assert!(error.contains("sae.k") && error.contains("k = 200") && error.contains("F = 128"), "{error}");
        // A repeated k is a duplicate run, pointed at in the k list.
        let repeated = topk.replace("features = [128, 256]", "features = [128, 256]\nk = [8, 8]");
        let error = Plan::new(&SweepSpec::parse(&repeated, "t.toml").unwrap()).unwrap_err().to_string();
        assert!(error.contains("same run") && error.contains("k = 8") && error.contains("t.toml:14:"), "{error}");
    }

    #[test]
    fn grid_points_give_their_steps() {
        let text = QUICK.replace("budgets = [1e11, 2e11]\nfeatures = [128, 256]", "grid = [{ features = 100, steps = 10 }]");
        let plan = plan(&text);
        assert_eq!((plan.runs[0].features, plan.runs[0].steps, plan.runs[0].budget), (100, 10, None));
        assert_eq!(plan.runs[0].flops, 12.0 * 64.0 * 100.0 * 10.0 * 256.0);
    }

    proptest::proptest! {
        /// Expansion is deterministic, every run spends at most its budget and less than one
        /// step short of it, and distinct (F, steps) points get distinct ids; a budget too
        /// small for one step at some F, or two budgets that round to the same run, are
        /// refused instead.
        #[test]
        fn expansion_is_deterministic_and_spends_the_budget(
            budgets in proptest::collection::btree_set(1u32..3000, 1..4),
            features in proptest::collection::btree_set(1usize..4096, 1..4),
        ) {
            // Budgets from 1e7 FLOP: the smallest give zero steps at the larger F.
            let budgets: Vec<f64> = budgets.iter().map(|&b| f64::from(b) * 1e7).collect();
            let text = QUICK
                .replace("budgets = [1e11, 2e11]", &format!("budgets = [{}]", budgets.iter().map(|b| format!("{b:e}")).collect::<Vec<_>>().join(", ")))
                .replace("features = [128, 256]", &format!("features = [{}]", features.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(", ")));
            let spec = SweepSpec::parse(&text, "p.toml").unwrap();
            let steps: Vec<Vec<u64>> = features.iter().map(|&f| budgets.iter().map(|&b| steps_for_budget(Architecture::Relu, b, 64, f, 256)).collect()).collect();
            let too_small = steps.iter().flatten().any(|&s| s == 0);
            let duplicate = steps.iter().any(|per_budget| per_budget.iter().collect::<std::collections::HashSet<_>>().len() < per_budget.len());
            let (a, b) = match (Plan::new(&spec), Plan::new(&spec)) {
                (Err(error), Err(_)) => {
                    proptest::prop_assert!(too_small || duplicate, "planning failed although every budget buys distinct runs: {error}");
                    return Ok(());
                }
                (Ok(a), Ok(b)) => (a, b),
                _ => return Err(proptest::test_runner::TestCaseError::fail("planning the same spec twice gave different answers")),
            };
            proptest::prop_assert!(!too_small && !duplicate, "a budget too small for one step, or a duplicate run, was planned");
            proptest::prop_assert_eq!(&a, &b);
            let mut points = std::collections::HashSet::new();
            for run in &a.runs {
                let budget = run.budget.unwrap();
                let step = run_flops(Architecture::Relu, 64, run.features, 1, 256);
                proptest::prop_assert!(run.flops <= budget && run.flops > budget - step);
                points.insert((run.features, run.steps));
            }
            let ids: std::collections::HashSet<_> = a.runs.iter().map(|r| r.id.clone()).collect();
            proptest::prop_assert_eq!(ids.len(), points.len());
        }
    }

    const ISOFLOP: &str = r#"
name = "iso"
[run.data]
source = "synthetic"
d_in = 64
[run.sae]
architecture = "relu"
[run.train]
batch_size = 256
[sweep]
budgets = [4e11, 1e11]
design = "isoflop"
points_per_budget = 5
span = 16
[sweep.prior]
exponent = 0.5
anchor = { compute = 1e11, features = 256 }
"#;

    #[test]
    fn isoflop_features_are_spaced_geometrically_around_the_centre() {
        // 256 · 16^(i/4 − 1/2) = 64, 128, 256, 512, 1024.
        assert_eq!(isoflop_features(256.0, 5, 16.0), [64, 128, 256, 512, 1024]);
        let f = isoflop_features(1000.0, 4, 8.0);
        assert_eq!((f[0], f[3]), ((1000.0 / 8f64.sqrt()).round() as usize, (1000.0 * 8f64.sqrt()).round() as usize));
        assert!(isoflop_features(0.1, 3, 4.0).iter().all(|&f| f >= 1));
    }

    #[test]
    fn an_isoflop_plan_centres_each_budget_smallest_first_and_records_why() {
        let spec = SweepSpec::parse(ISOFLOP, "iso.toml").unwrap();
        assert!(Plan::new(&spec).is_err(), "an isoflop design needs its centres");
        let centres = [
            Centre { features: 256.0, placed_by: PlacedBy::Prior },
            Centre { features: 512.0, placed_by: PlacedBy::StageFit { stage: 1 } },
        ];
        let plan = Plan::isoflop(&spec, &centres).unwrap();
        let features: Vec<usize> = plan.runs.iter().map(|r| r.features).collect();
        assert_eq!(features, [64, 128, 256, 512, 1024, 128, 256, 512, 1024, 2048]);
        assert_eq!(plan.runs[0].budget, Some(1e11), "the smallest budget is stage 0");
        assert_eq!((plan.runs[0].placed_by, plan.runs[9].placed_by), (Some(PlacedBy::Prior), Some(PlacedBy::StageFit { stage: 1 })));
        for run in &plan.runs {
            assert_eq!(run.steps, steps_for_budget(Architecture::Relu, run.budget.unwrap(), 64, run.features, 256));
        }
        // Only the stages given are planned.
        assert_eq!(Plan::isoflop(&spec, &centres[..1]).unwrap().runs.len(), 5);
        assert_eq!(PlacedBy::StageFit { stage: 3 }.to_string(), "fit of stages 0-2");
    }

    #[test]
    fn a_budget_too_small_for_its_span_or_repeating_counts_is_refused_naming_the_budget() {
        let spec = SweepSpec::parse(&ISOFLOP.replace("points_per_budget = 5", "points_per_budget = 5\nmin_steps = 2000"), "iso.toml").unwrap();
        let error = Plan::isoflop(&spec, &[Centre { features: 256.0, placed_by: PlacedBy::Prior }]).unwrap_err().to_string();
        assert!(error.contains("budget 1e11 FLOP is too small for its span") && error.contains("min_steps = 2000") && error.contains("iso.toml:11:"), "{error}");
        let spec = SweepSpec::parse(ISOFLOP, "iso.toml").unwrap();
        let error = Plan::isoflop(&spec, &[Centre { features: 1.2, placed_by: PlacedBy::Prior }]).unwrap_err().to_string();
        assert!(error.contains("round to repeats"), "{error}");
    }

    #[test]
    fn isoflop_specs_are_checked_where_they_are_written() {
        let cases = [
            (ISOFLOP.replace("exponent = 0.5", "exponent = -0.5"), "expected an exponent between 0 and 1"),
            (ISOFLOP.replace("exponent = 0.5\n", ""), "expected both `exponent` and `anchor"),
            (ISOFLOP.replace("design = \"isoflop\"", "design = \"isoflop\"\nfeatures = [128]"), "places the feature counts itself"),
            (ISOFLOP.replace("span = 16", "span = 1"), "expected a span above 1"),
            (ISOFLOP.replace("exponent = 0.5", "exponent = 0.5\nnoise = 2"), "expected a relative noise between 0 and 0.5"),
            (ISOFLOP.replace("points_per_budget = 5", "points_per_budget = 1"), "at least 2 feature counts"),
            (ISOFLOP.replace("design = \"isoflop\"\n", "features = [128]\n"), "is for design = \"isoflop\""),
            (ISOFLOP.replace("[sweep.prior]\nexponent = 0.5\nanchor = { compute = 1e11, features = 256 }\n", ""), "needs a [sweep.prior]"),
        ];
        for (text, message) in cases {
            let error = SweepSpec::parse(&text, "iso.toml").unwrap_err();
            assert!(error.message.contains(message), "{message}: {error}");
            assert!(error.line.is_some(), "{message}: {error}");
        }
        // A grid may carry a prior (for `plan --target-compute`); its runs do not change.
        let grid = ISOFLOP.replace("design = \"isoflop\"\npoints_per_budget = 5\nspan = 16\n", "features = [128, 256]\n");
        let with_prior = SweepSpec::parse(&grid, "grid.toml").unwrap();
        let without: String = grid.lines().take_while(|l| !l.starts_with("[sweep.prior]")).map(|l| format!("{l}\n")).collect();
        let ids = |spec: &SweepSpec| Plan::new(spec).unwrap().runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(&with_prior), ids(&SweepSpec::parse(&without, "grid.toml").unwrap()));
        let bad = grid.replace("exponent = 0.5", "exponent = 1.5");
        assert!(SweepSpec::parse(&bad, "grid.toml").unwrap_err().message.contains("between 0 and 1"));
    }

    #[test]
    fn durations_and_sizes_read_well() {
        assert_eq!(format_duration(5.2), "5s");
        assert_eq!(format_duration(185.0), "3m05s");
        assert_eq!(format_duration(3720.0), "1h02m");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_flops(1.6e12), "1.60e12");
    }
}
