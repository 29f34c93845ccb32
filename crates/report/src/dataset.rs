//! What a report is drawn from: the runs (one per sweep run or table row) with the numbers the
//! figures need, the fit, and the run table to publish. Built by [`crate::load`].

use polars::prelude::DataFrame;
use saescale_fit::FitResult;

/// Where the data came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A saescale sweep directory: X = features F, Y = steps S.
    Sweep,
    /// An external table named by a fit (e.g. Chinchilla's points): X, Y as its columns say.
    Table,
}

/// Names and units of the fitted variables.
#[derive(Debug, Clone, PartialEq)]
pub struct Variables {
    /// Sweep or table.
    pub kind: Kind,
    /// Axis label of the size variable, e.g. `features F`.
    pub x: String,
    /// Its symbol, e.g. `F`.
    pub x_symbol: String,
    /// CSV column for it, e.g. `features`.
    pub x_column: String,
    /// Axis label of the duration variable, e.g. `steps S`.
    pub y: String,
    /// Its symbol, e.g. `S`.
    pub y_symbol: String,
    /// CSV column for it.
    pub y_column: String,
    /// Axis label of the loss, e.g. `held-out loss`.
    pub loss: String,
    /// Tokens per unit of Y (the batch size for SAE steps; 1 when Y counts tokens).
    pub tokens_per_y: f64,
    /// Compute per unit of X·Y, `C = κ·X·Y`.
    pub kappa: f64,
}

/// One loss measurement during training.
impl Variables {
    /// A sweep's variables: F, steps and the held-out loss, with `batch` tokens per step and
    /// `kappa` FLOP per feature-step.
    pub fn sweep(batch: usize, kappa: f64) -> Self {
        Variables {
            kind: Kind::Sweep,
            x: "features F".into(),
            x_symbol: "F".into(),
            x_column: "features".into(),
            y: "steps S".into(),
            y_symbol: "S".into(),
            y_column: "steps".into(),
            loss: "held-out loss".into(),
            tokens_per_y: batch as f64,
            kappa,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    /// Tokens seen.
    pub tokens: f64,
    /// Training loss.
    pub loss: f64,
}

/// One run (or table row).
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Run id, or `row N` for a table.
    pub id: String,
    /// Label for humans (may be empty).
    pub name: String,
    /// `done`, `failed`, `pending`, `running`.
    pub state: String,
    /// Why it failed, if it did.
    pub reason: Option<String>,
    /// Size X.
    pub x: f64,
    /// Duration Y.
    pub y: f64,
    /// Training compute in FLOP.
    pub compute: f64,
    /// The compute budget the run was planned from (sweeps; `None` for grid points and tables).
    pub budget: Option<f64>,
    /// What placed an isoflop design's run: `prior`, `fit of stage 0`, … (`None` otherwise).
    pub placed_by: Option<String>,
    /// Final (held-out) loss.
    pub loss: Option<f64>,
    /// Final L0.
    pub l0: Option<f64>,
    /// Final dead-feature fraction.
    pub dead_fraction: Option<f64>,
    /// Fraction of features firing on fewer than 1e-4 of the held-out rows.
    pub near_dead_fraction: Option<f64>,
    /// Active latents per token the run was trained with (topk, batchtopk).
    pub k: Option<usize>,
    /// Sparsity penalty coefficient λ the run was trained with: L1 (relu) or L0 (jumprelu).
    pub penalty_coefficient: Option<f64>,
    /// Final (held-out) fraction of variance unexplained.
    pub fvu: Option<f64>,
    /// Learning rate.
    pub lr: Option<f64>,
    /// Whether the fit used it.
    pub in_fit: bool,
    /// Why the fit left it out, if it was eligible.
    pub excluded: Option<String>,
    /// Training loss against tokens.
    pub curve: Vec<CurvePoint>,
}

#[cfg(test)]
impl Run {
    /// A finished run `id` at size `x` with no metrics, for tests to fill in with struct
    /// update syntax.
    pub(crate) fn done_for_tests(id: impl Into<String>, x: f64) -> Run {
        Run {
            id: id.into(),
            name: String::new(),
            state: "done".into(),
            reason: None,
            x,
            y: 1.0,
            compute: 1.0,
            budget: None,
            placed_by: None,
            loss: None,
            l0: None,
            dead_fraction: None,
            near_dead_fraction: None,
            k: None,
            penalty_coefficient: None,
            fvu: None,
            lr: None,
            in_fit: true,
            excluded: None,
            curve: Vec::new(),
        }
    }
}

/// Everything a report shows.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Sweep name or table file stem.
    pub title: String,
    /// The sweep's description.
    pub description: Option<String>,
    /// What was read (shown on the page).
    pub input: String,
    /// The sweep spec's text.
    pub spec: Option<String>,
    /// Variable names and units.
    pub vars: Variables,
    /// Runs in plan (or file) order.
    pub runs: Vec<Run>,
    /// The fit, if there is one.
    pub fit: Option<FitResult>,
    /// The run table to publish (results table, or the source table with fit columns).
    pub table: Option<DataFrame>,
    /// Remarks for the page (e.g. a missing source table).
    pub notes: Vec<String>,
    /// For the latest night of a nightly sweep: its history across nights.
    pub history: Option<History>,
}

/// A nightly sweep's history, drawn next to its latest night: what each night measured, the
/// night the latest was compared with, and which figures the trend rule flags.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// The nights, oldest first (`YYYY-MM-DD`).
    pub nights: Vec<String>,
    /// The night the latest one was compared with (index into `nights`).
    pub baseline: usize,
    /// The relative loss tolerance, drawn as a band around the baseline.
    pub loss_tolerance: f64,
    /// The relative throughput drop tolerated.
    pub throughput_drop: f64,
    /// Each run's figures, night by night.
    pub runs: Vec<RunHistory>,
    /// The fit's exponents, night by night.
    pub exponents: Vec<ExponentHistory>,
    /// What the trend rule flags, and what the comparison with the baseline found.
    pub findings: Vec<Finding>,
}

/// One run (matched by training config) across nights.
#[derive(Debug, Clone, PartialEq)]
pub struct RunHistory {
    /// The run id.
    pub id: String,
    /// Feature count F.
    pub features: f64,
    /// Held-out loss per night.
    pub loss: Vec<Option<f64>>,
    /// Tokens per second per night.
    pub tokens_per_s: Vec<Option<f64>>,
}

/// A fitted exponent across nights.
#[derive(Debug, Clone, PartialEq)]
pub struct ExponentHistory {
    /// `alpha`, `beta`, `a`, `b`.
    pub name: String,
    /// Value and 95% interval per night (`None` where a night has no fit).
    pub values: Vec<Option<(f64, Option<[f64; 2]>)>>,
}

/// A line of the history's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The run id, or `fit`.
    pub subject: String,
    /// The figure.
    pub figure: String,
    /// `regressed since DATE`, `suspicious (the last night only)`, or what the comparison with
    /// the baseline says.
    pub status: String,
}

impl Dataset {
    /// Runs with a loss (done).
    pub fn measured(&self) -> impl Iterator<Item = &Run> {
        self.runs.iter().filter(|r| r.loss.is_some_and(|l| l.is_finite() && l > 0.0))
    }

    /// Runs that failed.
    pub fn failed(&self) -> impl Iterator<Item = &Run> {
        self.runs.iter().filter(|r| r.state == "failed")
    }

    /// Smallest and largest compute over measured runs, else the fit's range.
    pub fn compute_range(&self) -> Option<(f64, f64)> {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for c in self.measured().map(|r| r.compute).filter(|c| c.is_finite() && *c > 0.0) {
            lo = lo.min(c);
            hi = hi.max(c);
        }
        if lo.is_finite() {
            Some((lo, hi))
        } else {
            self.fit.as_ref().map(|f| (f.compute_range[0], f.compute_range[1]))
        }
    }
}
