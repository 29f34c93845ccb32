//! One training run in its output directory: fresh or resumed, logged, checkpointed,
//! evaluated and exported.
//!
//! The directory's files and records are the contract with the sweep manager, defined once in
//! saescale-spec ([`saescale_spec::layout`], [`saescale_spec::records`]). Every file is replaced
//! atomically; `metrics.jsonl` is only appended to, and on resume it is cut back to the
//! checkpoint's step, so that replayed steps are not logged twice. `final.json` is written
//! last, so its presence marks a finished run.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::tensor::backend::Backend;
use saescale_spec::atomic::{write_atomic, write_json_atomic};
use saescale_spec::layout::RunDir;
use saescale_spec::{compute, near_dead_fraction, FinalMetrics, FiringHistogram, Provenance, RunSpec, StepMetrics};

use crate::export::export_saelens;
use crate::fs::read_json;
use crate::trainer::{Evaluation, StepReading, Trainer};
use crate::{Error, Result};

/// Creates the run directory and records `spec` in `config.json`, or checks that the
/// `config.json` already there describes the same run.
///
/// # Errors
/// [`Error::DifferentRun`] when it holds another run; [`Error::Io`]/[`Error::Json`].
fn claim(dir: &RunDir, spec: &RunSpec) -> Result<()> {
    let checkpoint = dir.checkpoint();
    std::fs::create_dir_all(&checkpoint).map_err(Error::io(&checkpoint))?;
    let config = dir.config();
    if config.exists() {
        let existing: RunSpec = read_json(&config)?;
        if &existing != spec {
            return Err(Error::DifferentRun { dir: dir.root().to_path_buf() });
        }
        return Ok(());
    }
    write_json_atomic(&config, spec).map_err(Error::io(&config))
}

/// How a call to [`train`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The run trained to its last step, was evaluated and exported.
    Finished(FinalMetrics),
    /// The directory already held a finished run; nothing was done.
    AlreadyFinished(FinalMetrics),
    /// The stop flag was raised; the state after `step` steps is checkpointed.
    Interrupted {
        /// Steps completed and saved.
        step: u64,
    },
}

/// Receives progress from [`train`]; every method has an empty default.
pub trait Observer {
    /// Training starts (or resumes) at `step` of `total`.
    fn started(&mut self, _step: u64, _total: u64) {}
    /// A step finished.
    fn stepped(&mut self, _step: u64) {}
    /// A line was appended to `metrics.jsonl`.
    fn logged(&mut self, _metrics: &StepMetrics) {}
    /// The trainer state was saved after `step` steps.
    fn checkpointed(&mut self, _step: u64) {}
    /// Training is done; the held-out evaluation starts.
    fn evaluating(&mut self) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// Trains the run `spec` in directory `out` on `device`, resuming from its checkpoint if it
/// has one; `final.json` records `provenance` with the process's peak memory filled in.
/// Raising `stop` (e.g. from a SIGTERM handler) makes it checkpoint and return
/// [`Outcome::Interrupted`] after the current step.
///
/// # Errors
/// [`Error::DifferentRun`] when `out` holds another run; [`Error::Diverged`] when the loss
/// becomes non-finite; I/O, data and checkpoint errors.
pub fn train<B: Backend>(
    spec: &RunSpec,
    out: &Path,
    device: &B::Device,
    provenance: &Provenance,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<Outcome> {
    let spec = spec.clone().resolve()?;
    let dir = RunDir::new(out);
    claim(&dir, &spec)?;
    if dir.final_metrics().exists() {
        return Ok(Outcome::AlreadyFinished(read_json(&dir.final_metrics())?));
    }
    let mut trainer = if dir.trainer_state().exists() {
        Trainer::<B>::restore(&spec, device, &dir.trainer_state())?
    } else {
        Trainer::<B>::new(&spec, device)?
    };
    let mut log = MetricsLog::open(&dir.metrics(), trainer.steps_done())?;

    let (total, batch) = (spec.steps(), spec.train.batch_size as u64);
    let (log_every, checkpoint_every) = (spec.log.every_steps, spec.log.checkpoint_every_steps);
    let session = Instant::now();
    let elapsed = |trainer: &Trainer<B>| trainer.elapsed_before_s() + session.elapsed().as_secs_f64();
    let (mut last_log_step, mut last_log_time) = (trainer.steps_done(), Instant::now());
    observer.started(trainer.steps_done(), total);

    while !trainer.is_finished() {
        if stop.load(Ordering::SeqCst) {
            trainer.save(&dir.trainer_state(), elapsed(&trainer))?;
            observer.checkpointed(trainer.steps_done());
            return Ok(Outcome::Interrupted { step: trainer.steps_done() });
        }
        let next = trainer.steps_done() + 1;
        let logging = next % log_every == 0 || next == total;
        let checkpointing = next % checkpoint_every == 0;
        let reading = trainer.step(logging || checkpointing)?;
        observer.stepped(next);
        if let (true, Some(reading)) = (logging, reading) {
            let seconds = last_log_time.elapsed().as_secs_f64();
            let tokens_per_s = ((next - last_log_step) * batch) as f64 / seconds.max(1e-9);
            let metrics = step_metrics(next, next * batch, &reading, tokens_per_s, elapsed(&trainer));
            log.append(&metrics)?;
            observer.logged(&metrics);
            (last_log_step, last_log_time) = (next, Instant::now());
        }
        if checkpointing && next < total {
            trainer.save(&dir.trainer_state(), elapsed(&trainer))?;
            observer.checkpointed(next);
        }
    }

    // Save the trained state before the (possibly long) evaluation, so a kill during it
    // does not cost the training.
    let wall_s = elapsed(&trainer);
    trainer.save(&dir.trainer_state(), wall_s)?;
    observer.evaluating();
    let evaluation = trainer.evaluate()?;
    export_saelens(&trainer.inference_sae(), trainer.scale(), &dir.saelens(), spec.name.as_deref())?;
    let mut metrics = final_metrics(&spec, &evaluation, trainer.dead_fraction(), trainer.scale(), wall_s);
    metrics.provenance = Some(Provenance { peak_rss_bytes: crate::memory::peak_rss_bytes(), ..provenance.clone() });
    write_json_atomic(&dir.final_metrics(), &metrics).map_err(Error::io(dir.final_metrics()))?;
    Ok(Outcome::Finished(metrics))
}

/// One line of `metrics.jsonl`.
fn step_metrics(step: u64, tokens: u64, reading: &StepReading, tokens_per_s: f64, elapsed_s: f64) -> StepMetrics {
    StepMetrics {
        step,
        tokens: Some(tokens),
        loss: Some(reading.loss),
        mse: Some(reading.mse),
        fvu: Some(reading.fvu),
        l1: Some(reading.l1),
        l0: Some(reading.l0),
        dead_fraction: Some(reading.dead_fraction),
        lr: Some(reading.lr),
        l1_coefficient: reading.l1_coefficient,
        l0_coefficient: reading.l0_coefficient,
        auxk: reading.auxk,
        tokens_per_s: Some(tokens_per_s),
        elapsed_s: Some(elapsed_s),
    }
}

/// `final.json` of a run evaluated after `wall_s` seconds of training.
fn final_metrics(spec: &RunSpec, evaluation: &Evaluation, dead_fraction: f64, scale: f64, wall_s: f64) -> FinalMetrics {
    let (steps, batch_size) = (spec.steps(), spec.train.batch_size);
    let tokens = steps * batch_size as u64;
    FinalMetrics {
        loss: Some(evaluation.loss),
        mse: Some(evaluation.mse),
        fvu: Some(evaluation.fvu),
        l1: Some(evaluation.l1),
        l0: Some(evaluation.l0),
        dead_fraction: Some(dead_fraction),
        l1_coefficient: spec.sae.l1_coefficient,
        l0_coefficient: spec.sae.l0_coefficient,
        tokens_per_s: Some(tokens as f64 / wall_s.max(1e-9)),
        steps: Some(steps),
        tokens: Some(tokens),
        flops: Some(compute::run_flops(spec.sae.architecture, spec.d_in(), spec.features(), steps, batch_size)),
        wall_s: Some(wall_s),
        eval_rows: Some(evaluation.rows),
        scale: Some(scale),
        near_dead_fraction: Some(near_dead_fraction(&evaluation.firing_rows, evaluation.rows)),
        firing_histogram: Some(FiringHistogram::of(&evaluation.firing_rows, evaluation.rows)),
        provenance: None,
    }
}

/// The append-only training log.
struct MetricsLog {
    path: PathBuf,
    file: std::fs::File,
}

impl MetricsLog {
    /// Opens the log for appending after dropping any lines for steps beyond `resume_step`
    /// (they were logged by a session whose later steps were lost and will be replayed).
    fn open(path: &Path, resume_step: u64) -> Result<Self> {
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
            let kept: String = text
                .lines()
                .filter(|line| {
                    serde_json::from_str::<StepMetrics>(line).map(|m| m.step <= resume_step).unwrap_or(false)
                })
                .flat_map(|line| [line, "\n"])
                .collect();
            if kept.len() != text.len() {
                write_atomic(path, kept.as_bytes()).map_err(Error::io(path))?;
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(path).map_err(Error::io(path))?;
        Ok(MetricsLog { path: path.to_path_buf(), file })
    }

    fn append(&mut self, metrics: &StepMetrics) -> Result<()> {
        let mut line = serde_json::to_vec(metrics).map_err(|source| Error::Json { path: self.path.clone(), source })?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(Error::io(&self.path))
    }
}
