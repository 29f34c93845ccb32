//! The sweep spec: a TOML file as the user writes it (like ripgrep's `LowArgs`).
//!
//! ```toml
//! name = "quickstart"                  # names the sweep directory, runs/<name>
//! description = "…"                    # optional, for reports
//!
//! [run]                                # the fixed part: a run file without
//! seed = 0                             # sae.features and train.steps
//! [run.data]
//! source = "synthetic"
//! d_in = 64
//! [run.sae]
//! architecture = "relu"
//! [run.train]
//! batch_size = 256
//!
//! [sweep]                              # the swept part
//! budgets = [1e11, 2e11, 4e11, 8e11]   # FLOP per run; steps = ⌊C / (12·d·F·batch)⌋
//! features = [128, 256, 512, 1024]     # every budget × every F
//! # grid = [{ features = 256, steps = 1000 }]   # or explicit (F, steps) points
//! lr_multipliers = [1.0]               # × the resolved lr of each run
//! # k = [16, 32, 64]                   # topk/batchtopk: active latents, × every point
//! # l1_coefficients = [1.0, 5.0]       # relu: λ, × every point (the sparsity axis)
//! # l0_coefficients = [3e-4, 1e-3]     # jumprelu: L0 coefficient, × every point
//! seeds = [0]                          # SAE init seeds (default: run.seed)
//!
//! [executor]                           # defaults for `saescale run`; flags override
//! kind = "local"                       # local | slurm
//! device = "auto"                      # auto | cpu | cuda
//! slots = 2                            # runs at a time (slurm: the job array's throttle %N)
//! threads_per_run = 1                  # CPU threads per run (slurm: --cpus-per-task)
//! runs_per_gpu = 1                     # runs sharing one GPU (local only)
//! max_attempts = 3                     # attempts per run before it is marked failed
//! timeout_minutes = 60                 # per attempt (slurm: --time)
//!
//! [executor.slurm]                     # only read when kind = "slurm"
//! partition = "gpu"                    # --partition
//! account = "my-project"               # --account
//! gpus_per_run = 1                     # --gres=gpu:N (default: 1 for device cuda, else 0)
//! mem = "16G"                          # --mem
//! signal_seconds = 120                 # SIGTERM to the trainer this long before --time ends
//! sbatch = ["--qos=high"]              # more #SBATCH options
//! setup = "module load cuda/12.4"      # shell lines run before each trainer
//! poll_seconds = 30                    # longest pause between two looks at the queue
//!
//! [nightly]                            # `saescale compare` of two nights; flags override
//! loss_relative = 0.01                 # held-out loss and FVU may rise 1% (or 2σ of seeds)
//! throughput_drop = 0.15               # tokens/s may drop 15%
//! memory_rise = 0.10                   # peak memory may grow 10%
//! target_compute = 1e18                # where F*, S*, L* are compared (default 10× the largest budget)
//! ```
//!
//! `[run]` is checked by the spec crate's own [`RunSpec`] type (the same `deny_unknown_fields`
//! structs the trainer reads), so a key the trainer does not know is rejected here with its
//! line and column, not at run time. `sae.features` and `train.steps` are optional in
//! [`RunSpec`] as written; `[sweep]` sets them for each run, so a `[run]` that writes them is
//! refused, pointing at the key.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use saescale_spec::RunSpec;

use crate::error::SpecError;
use crate::{Error, Result};

/// A parsed sweep spec, with the text it came from so later checks can point into it.
#[derive(Debug, Clone)]
pub struct SweepSpec {
    /// Names the sweep and its default directory `runs/<name>`.
    pub name: String,
    /// Free text shown in reports.
    pub description: Option<String>,
    /// The fixed part of every run.
    pub template: RunTemplate,
    /// The swept part.
    pub axes: Axes,
    /// How the runs are executed, unless the command line says otherwise.
    pub executor: ExecutorSpec,
    /// Tolerances of `saescale compare` for this sweep's nights, unless the command line says otherwise.
    pub nightly: NightlySpec,
    /// Where the spec came from.
    path: PathBuf,
    /// The spec's text, for error positions.
    text: String,
}

/// The `[run]` table: a run file without `sae.features` and `train.steps`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct RunTemplate(RunSpec);

/// The `[sweep]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axes {
    /// Compute budgets in FLOP; crossed with `features`.
    #[serde(default)]
    pub budgets: Option<Spanned<Vec<Spanned<Budget>>>>,
    /// Feature counts F; crossed with `budgets`.
    #[serde(default)]
    pub features: Option<Spanned<Vec<Spanned<Count>>>>,
    /// Explicit (F, steps) points, instead of budgets × features.
    #[serde(default)]
    pub grid: Option<Spanned<Vec<Spanned<GridPoint>>>>,
    /// Factors applied to each run's resolved learning rate; default `[1.0]`.
    #[serde(default)]
    pub lr_multipliers: Option<Spanned<Vec<Spanned<Factor>>>>,
    /// SAE initialisation seeds; default: `run.seed` alone.
    #[serde(default)]
    pub seeds: Option<Spanned<Vec<u64>>>,
    /// Active latents per token (topk and batchtopk), crossed with every point: the sparsity
    /// axis of Gao et al.'s L(n, k). Instead of `run.sae.k`.
    #[serde(default)]
    pub k: Option<Spanned<Vec<Spanned<Count>>>>,
    /// L1 coefficients λ (relu), crossed with every point: relu's sparsity axis. Instead of
    /// `run.sae.l1_coefficient`.
    #[serde(default)]
    pub l1_coefficients: Option<Spanned<Vec<Spanned<Factor>>>>,
    /// L0 coefficients (jumprelu), crossed with every point: jumprelu's sparsity axis.
    /// Instead of `run.sae.l0_coefficient`.
    #[serde(default)]
    pub l0_coefficients: Option<Spanned<Vec<Spanned<Factor>>>>,
    /// How the runs of each budget are placed: `grid` (every budget × every feature count,
    /// the default) or `isoflop` (feature counts around each budget's predicted optimum).
    #[serde(default)]
    pub design: Option<Spanned<Design>>,
    /// IsoFLOP design: feature counts per budget (default 5).
    #[serde(default)]
    pub points_per_budget: Option<Spanned<Count>>,
    /// IsoFLOP design: largest over smallest feature count of a budget (default 8).
    #[serde(default)]
    pub span: Option<Spanned<Factor>>,
    /// IsoFLOP design: train budgets smallest first, and centre each on the fit of the ones
    /// finished before it (default false: every budget centred by the prior).
    #[serde(default)]
    pub adaptive: Option<Spanned<bool>>,
    /// IsoFLOP design: the fewest steps a run may have; a budget too small for its span at
    /// this many steps is refused (default 100).
    #[serde(default)]
    pub min_steps: Option<Spanned<Count>>,
    /// Where the optimum is expected before any run has finished: it centres an isoflop
    /// design's budgets, and `saescale plan --target-compute` draws the laws it simulates
    /// any design on from it.
    #[serde(default)]
    pub prior: Option<Spanned<Prior>>,
}

/// One value of a sweep's sparsity axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sparsity {
    /// `sae.k` (topk, batchtopk).
    K(usize),
    /// `sae.l1_coefficient` (relu).
    L1Coefficient(f64),
    /// `sae.l0_coefficient` (jumprelu).
    L0Coefficient(f64),
}

impl Sparsity {
    /// Sets this value in a run spec that is not yet resolved.
    pub fn apply(self, spec: &mut RunSpec) {
        match self {
            Sparsity::K(k) => spec.sae.k = Some(k),
            Sparsity::L1Coefficient(lambda) => spec.sae.l1_coefficient = Some(lambda),
            Sparsity::L0Coefficient(lambda) => spec.sae.l0_coefficient = Some(lambda),
        }
    }
}

impl fmt::Display for Sparsity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sparsity::K(k) => write!(f, "k = {k}"),
            Sparsity::L1Coefficient(lambda) => write!(f, "λ = {lambda}"),
            Sparsity::L0Coefficient(lambda) => write!(f, "λ0 = {lambda}"),
        }
    }
}

/// How a sweep places its runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Design {
    /// Budgets × feature counts, or the explicit grid.
    #[default]
    Grid,
    /// Per budget, feature counts spaced geometrically around the predicted optimum F*(C).
    Isoflop,
}

/// The `[sweep.prior]` table: the predicted optimum F*(C) before any run has finished, as a
/// power law through one anchor point (`F*(C) = features·(C/compute)^exponent`), or the
/// compute-optimal frontier of an earlier fit.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prior {
    /// The exponent a of F*(C) ∝ C^a, between 0 and 1 (Anthropic's sweeps: a little above 0.5).
    #[serde(default)]
    pub exponent: Option<f64>,
    /// The point the power law goes through.
    #[serde(default)]
    pub anchor: Option<Anchor>,
    /// A fit.json whose frontier F*(C) predicts the optimum (relative to the working
    /// directory, like a shard directory).
    #[serde(default)]
    pub fit: Option<PathBuf>,
    /// Relative noise of a run's final loss (its standard deviation over the loss), for
    /// `saescale plan --target-compute` [default: the fit's residuals, else 0.01].
    #[serde(default)]
    pub noise: Option<f64>,
}

/// One point of a prior's power law: at this compute, this many features are optimal.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// Compute (FLOP).
    pub compute: Budget,
    /// The optimal feature count there.
    pub features: Factor,
}

/// One explicit point of `[sweep] grid`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridPoint {
    /// Feature count F.
    pub features: Count,
    /// Training steps.
    pub steps: Count,
}

/// The `[executor]` table. Every field is optional; the command line overrides it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorSpec {
    /// Which executor runs the sweep.
    #[serde(default)]
    pub kind: ExecutorKind,
    /// Where each run trains.
    #[serde(default)]
    pub device: DeviceKind,
    /// Runs at a time (default: GPUs × runs_per_gpu, or CPU cores / threads_per_run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<Count>,
    /// CPU threads of each run (default: CPU cores / slots, at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads_per_run: Option<Count>,
    /// Runs sharing one GPU (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs_per_gpu: Option<Count>,
    /// Attempts per run before it is marked failed (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<Count>,
    /// Wall-clock limit of one attempt, in minutes (default: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_minutes: Option<Factor>,
    /// Settings of the Slurm executor (`[executor.slurm]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm: Option<SlurmSpec>,
}

/// The `[nightly]` table: how `saescale compare` judges one night of this sweep against
/// another. Every field is optional (the command line overrides it); defaults are the
/// comparison's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NightlySpec {
    /// Held-out loss and FVU may rise by this fraction (default 0.01), or by `seed_sigmas`
    /// of the seed spread when the sweep has several seeds, whichever is larger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_relative: Option<Tolerance>,
    /// Multiples of the baseline's seed standard deviation a loss may rise by (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed_sigmas: Option<Tolerance>,
    /// Training throughput may drop by this fraction (default 0.15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput_drop: Option<Tolerance>,
    /// Peak memory may grow by this fraction (default 0.10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_rise: Option<Tolerance>,
    /// L0 may move by this many active latents per token, either way (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l0_absolute: Option<Tolerance>,
    /// The dead fraction may rise by this much (default 0.02).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_fraction_absolute: Option<Tolerance>,
    /// Compute at which the fitted optima F*(C), S*(C), L*(C) are compared (default: 10× the
    /// largest fitted budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_compute: Option<Budget>,
}

/// A tolerance: a finite number ≥ 0 (0 asks for exact equality).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Tolerance(pub f64);

impl<'de> Deserialize<'de> for Tolerance {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct ToleranceVisitor;
        impl Visitor<'_> for ToleranceVisitor {
            type Value = Tolerance;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number >= 0")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Tolerance, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Tolerance, E> {
                self.visit_f64(v as f64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Tolerance, E> {
                if v >= 0.0 && v.is_finite() {
                    Ok(Tolerance(v))
                } else {
                    Err(E::invalid_value(de::Unexpected::Float(v), &self))
                }
            }
        }
        deserializer.deserialize_any(ToleranceVisitor)
    }
}

/// Executors a spec can name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutorKind {
    /// Child processes on this machine.
    #[default]
    Local,
    /// Job arrays on a Slurm cluster.
    Slurm,
}

/// The `[executor.slurm]` table: how runs are submitted to Slurm. Every field is optional.
///
/// Runs at a time (`[executor] slots`, the array throttle), CPUs (`threads_per_run`), the time
/// limit (`timeout_minutes`) and attempts (`max_attempts`) come from `[executor]`, shared with
/// the local executor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmSpec {
    /// `--partition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// `--account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// GPUs of each run, `--gres=gpu:N` (default: 1 when `device = "cuda"`, else 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus_per_run: Option<u32>,
    /// Memory of each run, `--mem` (e.g. `"16G"`; a bare number is MB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<String>,
    /// How long before the time limit Slurm tells the trainer to checkpoint and stop
    /// (`--signal`), in seconds; 0 sends no warning (default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_seconds: Option<u32>,
    /// More `#SBATCH` options, one per entry, e.g. `"--qos=high"`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sbatch: Vec<String>,
    /// Shell lines run in each job before the trainer (modules, environment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<String>,
    /// Longest pause between two looks at the queue, in seconds (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_seconds: Option<Factor>,
}

/// `#SBATCH` options the Slurm executor sets itself, long and short forms, with the key of
/// the spec that controls each one.
const OWNED_SBATCH_OPTIONS: &[(&str, Option<&str>, &str)] = &[
    ("--array", Some("-a"), "the executor makes one array per submission (throttle: [executor] slots)"),
    ("--output", Some("-o"), "the executor sends job output to the sweep directory"),
    ("--error", Some("-e"), "the executor sends job output to the sweep directory"),
    ("--open-mode", None, "the executor appends to the job logs"),
    ("--job-name", Some("-J"), "the executor names jobs after the sweep"),
    ("--parsable", None, "the executor reads sbatch's output itself"),
    ("--wrap", None, "the executor writes the job script"),
    ("--signal", None, "use [executor.slurm] signal_seconds"),
    ("--time", Some("-t"), "use [executor] timeout_minutes"),
    ("--partition", Some("-p"), "use [executor.slurm] partition"),
    ("--account", Some("-A"), "use [executor.slurm] account"),
    ("--cpus-per-task", Some("-c"), "use [executor] threads_per_run"),
    ("--mem", None, "use [executor.slurm] mem"),
];

impl SlurmSpec {
    /// Checks the values; returns the offending key and what is wrong.
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        let plain_word = |key: &'static str, value: &Option<String>| match value {
            Some(v) if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) => {
                Err((key, format!("expected a {key} name without spaces, got {v:?}")))
            }
            _ => Ok(()),
        };
        plain_word("partition", &self.partition)?;
        plain_word("account", &self.account)?;
        if let Some(mem) = &self.mem {
            let digits = mem.trim_end_matches(|c: char| "KMGTkmgt".contains(c));
            let ok = !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) && mem.len() - digits.len() <= 1;
            if !ok {
                return Err(("mem", format!("expected memory such as \"16G\", \"500M\" or \"4000\" (MB), got {mem:?}")));
            }
        }
        if let Some(seconds) = self.signal_seconds {
            if seconds > 65_535 {
                return Err(("signal_seconds", format!("Slurm's --signal takes at most 65535 seconds, got {seconds}")));
            }
        }
        for option in &self.sbatch {
            if !option.starts_with('-') || option.contains('\n') || option.contains('\r') {
                return Err(("sbatch", format!("expected one sbatch option per entry, such as \"--qos=high\", got {option:?}")));
            }
            let name = option.split(['=', ' ']).next().unwrap_or(option);
            let owned = OWNED_SBATCH_OPTIONS.iter().find(|(long, short, _)| {
                name == *long || short.is_some_and(|s| name == s || (option.starts_with(s) && !option.starts_with("--")))
            });
            if let Some((long, _, why)) = owned {
                return Err(("sbatch", format!("{option:?} sets {long}, which the Slurm executor sets itself: {why}")));
            }
        }
        Ok(())
    }
}

/// Device choice of a sweep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// CUDA when GPUs are visible and the binary was built with CUDA, else CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA GPUs.
    Cuda,
}

/// A positive integer (a feature count, steps, slots…); anything else is rejected while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Count(pub u64);

/// A compute budget in FLOP: a positive, finite number.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Budget(pub f64);

/// A positive, finite factor (lr multiplier, minutes).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct Factor(pub f64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct CountVisitor;
        impl Visitor<'_> for CountVisitor {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a positive integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Count, E> {
                if v > 0 {
                    Ok(Count(v as u64))
                } else {
                    Err(E::invalid_value(de::Unexpected::Signed(v), &self))
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Count, E> {
                if v > 0 {
                    Ok(Count(v))
                } else {
                    Err(E::invalid_value(de::Unexpected::Unsigned(v), &self))
                }
            }
        }
        deserializer.deserialize_any(CountVisitor)
    }
}

/// Visitor for positive finite numbers written as TOML integers or floats.
struct PositiveVisitor(&'static str);

impl Visitor<'_> for PositiveVisitor {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<f64, E> {
        self.visit_f64(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<f64, E> {
        self.visit_f64(v as f64)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<f64, E> {
        if v > 0.0 && v.is_finite() {
            Ok(v)
        } else {
            Err(E::invalid_value(de::Unexpected::Float(v), &self))
        }
    }
}

impl<'de> Deserialize<'de> for Budget {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(PositiveVisitor("a positive number of FLOP, e.g. 1e12")).map(Budget)
    }
}

impl<'de> Deserialize<'de> for Factor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(PositiveVisitor("a positive number")).map(Factor)
    }
}

/// The file as serde sees it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    name: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    run: RunTemplate,
    sweep: Spanned<Axes>,
    #[serde(default)]
    executor: ExecutorSpec,
    #[serde(default)]
    nightly: NightlySpec,
}

impl SweepSpec {
    /// Reads and parses a sweep spec file.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; [`Error::Spec`] (with line and column) when
    /// it is not a valid sweep spec.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(Error::io("read", path))?;
        Ok(Self::parse(&text, path)?)
    }

    /// Parses a sweep spec; `path` is only used in error messages.
    ///
    /// Checks syntax, keys and types here; the checks that need the expanded runs (a budget
    /// too small for one step, a topk `k` larger than some F…) are made by
    /// [`crate::Plan::new`], which points into the same text.
    ///
    /// # Errors
    /// A [`SpecError`] naming the file, line, column and what was expected.
    pub fn parse(text: &str, path: impl AsRef<Path>) -> std::result::Result<Self, SpecError> {
        let path = path.as_ref();
        let file: SweepFile = toml::from_str(text).map_err(|e| SpecError::at(path, text, e.span(), e.message()))?;
        let name_span = file.name.span();
        let name = file.name.into_inner();
        let name_ok = !name.is_empty()
            && !name.starts_with('.')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !name_ok {
            return Err(SpecError::at(
                path,
                text,
                Some(name_span),
                format!("expected a sweep name made of letters, digits, '-', '_' and '.' (it names a directory), got {name:?}"),
            ));
        }
        let spec = SweepSpec {
            name,
            description: file.description,
            template: file.run,
            axes: file.sweep.into_inner(),
            executor: file.executor,
            nightly: file.nightly,
            path: path.to_path_buf(),
            text: text.to_string(),
        };
        spec.check_template()?;
        spec.check_axes(file_span_of_sweep(text))?;
        if let Some(slurm) = &spec.executor.slurm {
            slurm.check().map_err(|(key, message)| spec.error(spec.key_span(&["executor", "slurm", key]), message))?;
        }
        Ok(spec)
    }

    /// The file the spec was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The spec's text as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// An error at `span` of the spec's text.
    pub(crate) fn error(&self, span: Option<Range<usize>>, message: impl Into<String>) -> SpecError {
        SpecError::at(&self.path, &self.text, span, message)
    }

    /// Byte span of a key in the file, e.g. `["run", "train", "lr"]`, if it is written there.
    pub(crate) fn key_span(&self, keys: &[&str]) -> Option<Range<usize>> {
        let document = toml_edit::ImDocument::parse(self.text.as_str()).ok()?;
        let mut table: &dyn toml_edit::TableLike = document.as_table();
        let (last, parents) = keys.split_last()?;
        for key in parents {
            table = table.get(key)?.as_table_like()?;
        }
        let (key, _) = table.get_key_value(last)?;
        key.span()
    }

    /// Opens the activation source of `[run.data]` once, both splits, as every run would:
    /// a missing shard directory or a `d_in` that does not match the manifest is then one
    /// error at planning time instead of a failure of every run.
    ///
    /// # Errors
    /// A [`SpecError`] pointing at the `[run.data]` key that is wrong: `d_in` when it is not
    /// the manifest's width, else `path`, with the data error and its causes.
    pub fn check_data_source(&self) -> std::result::Result<(), SpecError> {
        // A synthetic source has nothing to open (its settings are checked with the plan).
        let saescale_data::DataConfig::Shards(shards) = &self.template.0.data else { return Ok(()) };
        let at = |key: &str, message: String| {
            let span = self.key_span(&["run", "data", key]).or_else(|| self.key_span(&["run", "data"]));
            self.error(span, message)
        };
        let cannot_open = |error: saescale_data::Error| format!("the activation source cannot be opened: {}", crate::error_chain(&error));
        let manifest = saescale_data::shards::Manifest::read(&shards.path).map_err(|e| at("path", cannot_open(e)))?;
        if manifest.d != shards.d_in {
            return Err(at(
                "d_in",
                format!("the activations in {} have d = {} (their manifest says so), but d_in = {}", shards.path.display(), manifest.d, shards.d_in),
            ));
        }
        for split in [saescale_data::Split::Train, saescale_data::Split::Heldout] {
            saescale_data::open(&self.template.0.data, split).map_err(|e| at("path", cannot_open(e)))?;
        }
        Ok(())
    }

    /// `[run]` must leave the swept keys to `[sweep]`.
    fn check_template(&self) -> std::result::Result<(), SpecError> {
        let run = &self.template.0;
        for (table, key, written) in [("sae", "features", run.sae.features.is_some()), ("train", "steps", run.train.steps.is_some())] {
            if written {
                return Err(self.error(
                    self.key_span(&["run", table, key]),
                    format!("`run.{table}.{key}` is set for each run by the [sweep] table; remove it here"),
                ));
            }
        }
        Ok(())
    }

    /// Checks that need more than one key of `[sweep]`.
    fn check_axes(&self, sweep_span: Option<Range<usize>>) -> std::result::Result<(), SpecError> {
        let axes = &self.axes;
        let non_empty = |list: Option<Range<usize>>, len: usize, what: &str| {
            if len == 0 {
                Err(self.error(list, format!("expected at least one {what}, got an empty list")))
            } else {
                Ok(())
            }
        };
        self.check_sparsity_axis()?;
        if self.design() == Design::Isoflop {
            return self.check_isoflop(sweep_span);
        }
        let isoflop_only = [
            ("points_per_budget", axes.points_per_budget.as_ref().map(Spanned::span)),
            ("span", axes.span.as_ref().map(Spanned::span)),
            ("adaptive", axes.adaptive.as_ref().map(Spanned::span)),
            ("min_steps", axes.min_steps.as_ref().map(Spanned::span)),
        ];
        if let Some((key, span)) = isoflop_only.into_iter().find(|(_, span)| span.is_some()) {
            return Err(self.error(span, format!("`{key}` is for design = \"isoflop\"; add it to [sweep] or remove `{key}`")));
        }
        if let Some(prior) = &axes.prior {
            self.check_prior(prior)?;
        }
        match (&axes.budgets, &axes.features, &axes.grid) {
            (Some(budgets), Some(features), None) => {
                non_empty(Some(budgets.span()), budgets.get_ref().len(), "compute budget")?;
                non_empty(Some(features.span()), features.get_ref().len(), "feature count")?;
            }
            (None, None, Some(grid)) => non_empty(Some(grid.span()), grid.get_ref().len(), "grid point")?,
            (Some(_), Some(_), Some(grid)) => {
                return Err(self.error(Some(grid.span()), "expected either `budgets` and `features` or `grid`, not both"));
            }
            (Some(budgets), None, _) => {
                return Err(self.error(Some(budgets.span()), "`budgets` needs `features` in [sweep]: every budget is run at every feature count"));
            }
            (None, Some(features), _) => {
                return Err(self.error(Some(features.span()), "`features` needs `budgets` in [sweep] (or write explicit points as `grid = [{ features = .., steps = .. }]`)"));
            }
            (None, None, None) => {
                return Err(self.error(sweep_span, "expected `budgets` and `features`, or `grid`, in [sweep]"));
            }
        }
        if let Some(multipliers) = &axes.lr_multipliers {
            non_empty(Some(multipliers.span()), multipliers.get_ref().len(), "learning-rate multiplier")?;
        }
        if let Some(seeds) = &axes.seeds {
            non_empty(Some(seeds.span()), seeds.get_ref().len(), "seed")?;
        }
        Ok(())
    }
}

impl SweepSpec {
    /// `[sweep] k`, `l1_coefficients` and `l0_coefficients`: for the architecture they set, not empty, not also
    /// written in `[run.sae]`, and not with an adaptive design (whose stage fits assume one
    /// sparsity).
    fn check_sparsity_axis(&self) -> std::result::Result<(), SpecError> {
        use saescale_spec::Architecture;
        let architecture = self.template.architecture();
        let axes = &self.axes;
        let sae = &self.template.0.sae;
        let written = [
            ("k", "k", sae.k.is_some(), axes.k.as_ref().map(|l| (l.span(), l.get_ref().len())), architecture.keeps_k(), "topk and batchtopk"),
            (
                "l1_coefficients",
                "l1_coefficient",
                sae.l1_coefficient.is_some(),
                axes.l1_coefficients.as_ref().map(|l| (l.span(), l.get_ref().len())),
                architecture == Architecture::Relu,
                "relu",
            ),
            (
                "l0_coefficients",
                "l0_coefficient",
                sae.l0_coefficient.is_some(),
                axes.l0_coefficients.as_ref().map(|l| (l.span(), l.get_ref().len())),
                architecture == Architecture::Jumprelu,
                "jumprelu",
            ),
        ];
        for (key, run_key, in_template, list, applies, which) in written {
            let Some((span, len)) = list else { continue };
            if !applies {
                return Err(self.error(Some(span), format!("`{key}` is a sweep axis of {which} SAEs, not of architecture = \"{}\"", architecture.as_str())));
            }
            if len == 0 {
                return Err(self.error(Some(span), format!("expected at least one value of `{key}`, got an empty list")));
            }
            if in_template {
                let at = self.key_span(&["run", "sae", run_key]).or(Some(span));
                return Err(self.error(at, format!("`run.sae.{run_key}` is set for each run by [sweep] {key}; remove it here")));
            }
            if let Some(adaptive) = axes.adaptive.as_ref().filter(|a| *a.get_ref() && len > 1) {
                return Err(self.error(
                    Some(adaptive.span()),
                    format!("an adaptive design centres each budget on a fit of one sparsity; with several `{key}` values use adaptive = false"),
                ));
            }
        }
        Ok(())
    }

    /// The sparsity values `[sweep]` crosses with every point, with their spans; empty when
    /// it has none of `k`, `l1_coefficients` and `l0_coefficients` (every run then has the
    /// template's).
    pub(crate) fn sparsity_values(&self) -> Vec<(Sparsity, Range<usize>)> {
        let axes = &self.axes;
        let ks = axes.k.iter().flat_map(|l| l.get_ref()).map(|k| (Sparsity::K(k.get_ref().0 as usize), k.span()));
        let l1 = axes.l1_coefficients.iter().flat_map(|l| l.get_ref()).map(|c| (Sparsity::L1Coefficient(c.get_ref().0), c.span()));
        let l0 = axes.l0_coefficients.iter().flat_map(|l| l.get_ref()).map(|c| (Sparsity::L0Coefficient(c.get_ref().0), c.span()));
        ks.chain(l1).chain(l0).collect()
    }

    /// How the sweep places its runs.
    pub fn design(&self) -> Design {
        self.axes.design.as_ref().map_or(Design::Grid, |d| *d.get_ref())
    }

    /// The budgets, smallest first: the order in which an adaptive isoflop design trains them.
    pub fn budgets_smallest_first(&self) -> Vec<&Spanned<Budget>> {
        let mut budgets: Vec<&Spanned<Budget>> = self.axes.budgets.as_ref().map(|b| b.get_ref().iter().collect()).unwrap_or_default();
        budgets.sort_by(|a, b| a.get_ref().0.total_cmp(&b.get_ref().0));
        budgets
    }

    /// Compute per feature-step of the sweep's runs, κ = 12·d·batch (C = κ·F·S).
    pub fn kappa(&self) -> f64 {
        saescale_spec::compute::kappa(self.template.architecture(), self.template.d_in(), self.template.batch_size())
    }

    /// An error at the key `keys` of the spec's text (e.g. `["sweep", "prior", "fit"]`), or
    /// without a place when the key is not written there.
    pub fn error_at(&self, keys: &[&str], message: impl Into<String>) -> SpecError {
        self.error(self.key_span(keys), message)
    }

    /// What an isoflop design needs: budgets and a usable prior, no feature list or grid.
    fn check_isoflop(&self, sweep_span: Option<Range<usize>>) -> std::result::Result<(), SpecError> {
        let axes = &self.axes;
        for (key, span) in [("features", axes.features.as_ref().map(Spanned::span)), ("grid", axes.grid.as_ref().map(Spanned::span))] {
            if span.is_some() {
                return Err(self.error(span, format!("design = \"isoflop\" places the feature counts itself; remove `{key}`")));
            }
        }
        match &axes.budgets {
            Some(budgets) if !budgets.get_ref().is_empty() => {}
            Some(budgets) => return Err(self.error(Some(budgets.span()), "expected at least one compute budget, got an empty list")),
            None => return Err(self.error(sweep_span, "design = \"isoflop\" needs `budgets` in [sweep]")),
        }
        if let Some(points) = &axes.points_per_budget {
            if points.get_ref().0 < 2 {
                return Err(self.error(Some(points.span()), "expected at least 2 feature counts per budget (3 or more locate a minimum)"));
            }
        }
        if let Some(span) = &axes.span {
            if span.get_ref().0 <= 1.0 {
                return Err(self.error(Some(span.span()), "expected a span above 1: the largest feature count of a budget over its smallest"));
            }
        }
        let Some(prior) = &axes.prior else {
            return Err(self.error(sweep_span, "design = \"isoflop\" needs a [sweep.prior]: `exponent` and `anchor = { compute = .., features = .. }`, or `fit = \"fit.json\"`"));
        };
        self.check_prior(prior)
    }

    /// A prior is a fit, or an exponent in (0, 1) with an anchor; its noise a small fraction.
    fn check_prior(&self, prior: &Spanned<Prior>) -> std::result::Result<(), SpecError> {
        let at = |key: &str, message: String| self.error(self.key_span(&["sweep", "prior", key]).or(Some(prior.span())), message);
        if let Some(noise) = prior.get_ref().noise {
            if !(noise > 0.0 && noise < 0.5) {
                return Err(at("noise", format!("expected a relative noise between 0 and 0.5 (0.01 is 1% of the loss), got {noise}")));
            }
        }
        match prior.get_ref() {
            Prior { fit: Some(_), exponent: None, anchor: None, .. } => Ok(()),
            Prior { fit: Some(_), .. } => Err(at("fit", "a prior is either a fit or an exponent with an anchor, not both".into())),
            Prior { exponent: Some(a), anchor: Some(_), .. } if *a > 0.0 && *a < 1.0 => Ok(()),
            Prior { exponent: Some(a), anchor: Some(_), .. } => {
                Err(at("exponent", format!("expected an exponent between 0 and 1 (F*(C) ∝ C^a, S*(C) ∝ C^(1 − a)), got {a}")))
            }
            _ => Err(at("exponent", "expected both `exponent` and `anchor = { compute = .., features = .. }`, or `fit`".into())),
        }
    }
}

/// Span of the `[sweep]` header, for errors about the table as a whole.
fn file_span_of_sweep(text: &str) -> Option<Range<usize>> {
    let document = toml_edit::ImDocument::parse(text).ok()?;
    document.as_table().get("sweep")?.span()
}

impl RunTemplate {
    /// The template with F, steps and seed filled in, not yet resolved.
    pub fn instantiate(&self, features: usize, steps: u64, seed: u64) -> RunSpec {
        let mut spec = self.0.clone();
        spec.sae.features = Some(features);
        spec.train.steps = Some(steps);
        spec.seed = seed;
        spec
    }

    /// The written `run.seed`.
    pub fn seed(&self) -> u64 {
        self.0.seed
    }

    /// Width of the activations.
    pub fn d_in(&self) -> usize {
        self.0.d_in()
    }

    /// Tokens per step.
    pub fn batch_size(&self) -> usize {
        self.0.train.batch_size
    }

    /// The SAE architecture, which decides how a run's compute is counted.
    pub fn architecture(&self) -> saescale_spec::Architecture {
        self.0.sae.architecture
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "name = \"s\"\n[run.data]\nsource = \"synthetic\"\nd_in = 16\n[run.sae]\narchitecture = \"relu\"\n\
                        [run.train]\nbatch_size = 64\n[sweep]\ngrid = [{ features = 32, steps = 10 }]\n";

    #[test]
    fn the_slurm_table_parses() {
        let text = format!(
            "{BASE}[executor]\nkind = \"slurm\"\nslots = 4\n[executor.slurm]\npartition = \"gpu\"\ngpus_per_run = 2\nmem = \"16G\"\n\
             signal_seconds = 60\nsbatch = [\"--qos=high\", \"-C a100\"]\nsetup = \"module load cuda\"\npoll_seconds = 5\n"
        );
        let spec = SweepSpec::parse(&text, "s.toml").unwrap();
        assert_eq!(spec.executor.kind, ExecutorKind::Slurm);
        let slurm = spec.executor.slurm.unwrap();
        assert_eq!((slurm.partition.as_deref(), slurm.gpus_per_run, slurm.mem.as_deref()), (Some("gpu"), Some(2), Some("16G")));
        assert_eq!(slurm.sbatch, ["--qos=high", "-C a100"]);
        assert_eq!(slurm.poll_seconds, Some(Factor(5.0)));
    }

    #[test]
    fn bad_slurm_settings_point_at_their_key() {
        let cases = [
            ("mem = \"lots\"", "expected memory such as"),
            ("partition = \"a b\"", "expected a partition name without spaces"),
            ("sbatch = [\"--array=0-3\"]", "sets --array, which the Slurm executor sets itself"),
            ("sbatch = [\"-t 10\"]", "use [executor] timeout_minutes"),
            ("sbatch = [\"qos=high\"]", "one sbatch option per entry"),
            ("signal_seconds = 70000", "at most 65535"),
            ("gpu = 1", "unknown field `gpu`"),
        ];
        for (line, message) in cases {
            let text = format!("{BASE}[executor]\nkind = \"slurm\"\n[executor.slurm]\n{line}\n");
            let error = SweepSpec::parse(&text, "s.toml").unwrap_err();
            assert!(error.message.contains(message), "{line}: {error}");
            assert_eq!(error.line, Some(14), "{line}: {error}");
        }
    }
}
