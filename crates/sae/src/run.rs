//! One training run in its output directory: fresh or resumed, logged, checkpointed,
//! evaluated and exported.
//!
//! Directory layout (the contract with the sweep manager):
//! ```text
//! <out>/config.json                          resolved run spec; a different run is refused
//! <out>/metrics.jsonl                        one StepMetrics per logged step
//! <out>/final.json                           FinalMetrics; written last, so it marks a finished run
//! <out>/checkpoint/trainer_state.safetensors everything needed to resume exactly
//! <out>/checkpoint/sae/                      SAELens v6 export of the final weights
//! ```
//! Every file is replaced atomically; `metrics.jsonl` is only appended to, and on resume it is
//! cut back to the checkpoint's step, so that replayed steps are not logged twice.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::tensor::backend::Backend;
use saescale_spec::{compute, RunSpec};

use crate::export::export_saelens;
use crate::fs::{read_json, write_atomic, write_json_atomic};
use crate::metrics::{FinalMetrics, StepMetrics};
use crate::trainer::Trainer;
use crate::{Error, Result};

/// Paths inside a run's output directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The layout rooted at `root` (nothing is created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunDir { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config.json`: the resolved run spec.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.json")
    }

    /// `metrics.jsonl`: the training log.
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }

    /// `final.json`: held-out metrics; present only once the run has finished.
    pub fn final_metrics(&self) -> PathBuf {
        self.root.join("final.json")
    }

    /// `checkpoint/trainer_state.safetensors`.
    pub fn trainer_state(&self) -> PathBuf {
        self.root.join("checkpoint").join("trainer_state.safetensors")
    }

    /// `checkpoint/sae/`: the SAELens export.
    pub fn saelens(&self) -> PathBuf {
        self.root.join("checkpoint").join("sae")
    }

    /// Creates the directory and records `spec` in `config.json`, or checks that the
    /// `config.json` already there describes the same run.
    ///
    /// # Errors
    /// [`Error::DifferentRun`] when it holds another run; [`Error::Io`]/[`Error::Json`].
    pub fn claim(&self, spec: &RunSpec) -> Result<()> {
        let checkpoint = self.root.join("checkpoint");
        std::fs::create_dir_all(&checkpoint).map_err(Error::io(&checkpoint))?;
        let config = self.config();
        if config.exists() {
            let existing: RunSpec = read_json(&config)?;
            if &existing != spec {
                return Err(Error::DifferentRun { dir: self.root.clone() });
            }
            return Ok(());
        }
        write_json_atomic(&config, spec)
    }
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
/// has one. Raising `stop` (e.g. from a SIGTERM handler) makes it checkpoint and return
/// [`Outcome::Interrupted`] after the current step.
///
/// # Errors
/// [`Error::DifferentRun`] when `out` holds another run; [`Error::Diverged`] when the loss
/// becomes non-finite; I/O, data and checkpoint errors.
pub fn train<B: Backend>(
    spec: &RunSpec,
    out: &Path,
    device: &B::Device,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<Outcome> {
    let spec = spec.clone().resolve()?;
    let dir = RunDir::new(out);
    dir.claim(&spec)?;
    if dir.final_metrics().exists() {
        return Ok(Outcome::AlreadyFinished(read_json(&dir.final_metrics())?));
    }
    let mut trainer = if dir.trainer_state().exists() {
        Trainer::<B>::restore(&spec, device, &dir.trainer_state())?
    } else {
        Trainer::<B>::new(&spec, device)?
    };
    let mut log = MetricsLog::open(&dir.metrics(), trainer.steps_done())?;

    let (total, batch) = (spec.train.steps, spec.train.batch_size as u64);
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
            let metrics = StepMetrics {
                step: next,
                tokens: next * batch,
                loss: reading.loss,
                mse: reading.mse,
                fvu: reading.fvu,
                l1: reading.l1,
                l0: reading.l0,
                dead_fraction: reading.dead_fraction,
                lr: reading.lr,
                l1_coefficient: reading.l1_coefficient,
                auxk: reading.auxk,
                tokens_per_s: ((next - last_log_step) * batch) as f64 / seconds.max(1e-9),
                elapsed_s: elapsed(&trainer),
            };
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
    export_saelens(trainer.sae(), trainer.scale(), &dir.saelens(), spec.name.as_deref())?;
    let tokens = total * batch;
    let metrics = FinalMetrics {
        loss: evaluation.loss,
        mse: evaluation.mse,
        fvu: evaluation.fvu,
        l1: evaluation.l1,
        l0: evaluation.l0,
        dead_fraction: trainer.dead_fraction(),
        l1_coefficient: spec.sae.l1_coefficient,
        tokens_per_s: tokens as f64 / wall_s.max(1e-9),
        steps: total,
        tokens,
        flops: compute::run_flops(spec.d_in(), spec.sae.features, total, spec.train.batch_size),
        wall_s,
        eval_rows: evaluation.rows,
        scale: trainer.scale(),
    };
    write_json_atomic(&dir.final_metrics(), &metrics)?;
    Ok(Outcome::Finished(metrics))
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
                write_atomic(path, kept.as_bytes())?;
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
