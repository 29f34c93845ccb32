//! Where each run of a sweep stands, read from the store (for `saescale sweep status` and the
//! progress display of `saescale run`). Reading never needs the lock.

use serde::Serialize;

use saescale_spec::compute::flops_per_token;

use crate::plan::{Plan, RunId};
use crate::store::{RunState, RunStore};
use crate::Result;

/// One run's progress.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunProgress {
    /// The run.
    pub id: RunId,
    /// Feature count.
    pub features: usize,
    /// Planned steps.
    pub steps: u64,
    /// Budget the run came from.
    pub budget: Option<f64>,
    /// Planned FLOP.
    pub flops: f64,
    /// State (`pending` when the run directory does not exist yet).
    pub state: RunState,
    /// Steps done, from the last metrics line (all of them once done).
    pub step: u64,
    /// `step / steps`.
    pub fraction: f64,
    /// Latest loss: held-out once done, else the last training loss logged.
    pub loss: Option<f64>,
    /// Last logged throughput.
    pub tokens_per_s: Option<f64>,
    /// Seconds left at the last logged throughput (running runs).
    pub eta_s: Option<f64>,
    /// Attempts counted.
    pub attempts: u32,
    /// Failure reason or note.
    pub reason: Option<String>,
    /// Device of the current or last attempt.
    pub device: Option<String>,
    /// What placed the run, in an isoflop design: the prior or a stage's fit.
    pub placed_by: Option<String>,
}

/// A sweep's progress.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepProgress {
    /// The sweep's name.
    pub name: String,
    /// Who drives it now (the lock holder), if anyone.
    pub manager: Option<String>,
    /// Every run, in plan order.
    pub runs: Vec<RunProgress>,
    /// Runs done.
    pub done: usize,
    /// Runs running.
    pub running: usize,
    /// Runs pending.
    pub pending: usize,
    /// Runs failed.
    pub failed: usize,
    /// FLOP-weighted fraction of the sweep done.
    pub fraction: f64,
    /// Seconds left at the current aggregate throughput, while runs are running.
    pub eta_s: Option<f64>,
}

/// Reads the progress of every run of `plan` from `store`.
///
/// # Errors
/// [`crate::Error::Io`] or [`crate::Error::Corrupt`] from the store's files.
pub fn progress(store: &RunStore, plan: &Plan) -> Result<SweepProgress> {
    let manager = store.manager()?;
    // Slurm tasks run without a manager watching them (`--detach`).
    let slurm = crate::executor::slurm::Ledger::read(store.dir())?;
    let mut runs = Vec::with_capacity(plan.runs.len());
    let (mut flops_done, mut flops_total, mut flops_per_s) = (0.0, 0.0, 0.0);
    let mut flops_left = 0.0;
    for record in store.records(plan)? {
        let run = &record.run;
        let status = record.status.as_ref();
        let mut state = status.map_or(RunState::Pending, |s| s.state);
        if record.final_metrics.is_some() {
            state = RunState::Done;
        }
        let step = if state == RunState::Done { run.steps } else { record.last.as_ref().map_or(0, |m| m.step.min(run.steps)) };
        let fraction = if run.steps > 0 { step as f64 / run.steps as f64 } else { 0.0 };
        let loss = match (&record.final_metrics, &record.last) {
            (Some(f), _) if f.loss.is_some() => f.loss,
            (_, Some(m)) => m.loss,
            _ => None,
        };
        let tokens_per_s = record.last.as_ref().and_then(|m| m.tokens_per_s).filter(|t| *t > 0.0);
        let eta_s = match (state, tokens_per_s) {
            (RunState::Running, Some(rate)) => Some((run.steps - step) as f64 * run.spec.train.batch_size as f64 / rate),
            _ => None,
        };
        flops_total += run.flops;
        flops_done += run.flops * fraction;
        if state != RunState::Failed && state != RunState::Done {
            flops_left += run.flops * (1.0 - fraction);
        }
        if let (RunState::Running, Some(rate)) = (state, tokens_per_s) {
            flops_per_s += rate * flops_per_token(run.spec.sae.architecture, run.spec.d_in(), run.features);
        }
        runs.push(RunProgress {
            id: run.id.clone(),
            features: run.features,
            steps: run.steps,
            budget: run.budget,
            flops: run.flops,
            state,
            step,
            fraction,
            loss,
            tokens_per_s,
            eta_s,
            attempts: status.map_or(0, |s| s.attempts),
            reason: if state == RunState::Running && manager.is_none() && slurm.in_flight(&run.id).is_none() {
                Some("its manager is gone; `saescale sweep resume` takes it over".into())
            } else {
                status.and_then(|s| s.reason.clone()).filter(|_| state != RunState::Done)
            },
            device: status.and_then(|s| s.device.clone()),
            placed_by: run.placed_by.map(|p| p.to_string()),
        });
    }
    let count = |wanted: RunState| runs.iter().filter(|r| r.state == wanted).count();
    Ok(SweepProgress {
        name: plan.name.clone(),
        manager,
        done: count(RunState::Done),
        running: count(RunState::Running),
        pending: count(RunState::Pending),
        failed: count(RunState::Failed),
        fraction: if flops_total > 0.0 { flops_done / flops_total } else { 0.0 },
        eta_s: (flops_per_s > 0.0).then(|| flops_left / flops_per_s),
        runs,
    })
}
