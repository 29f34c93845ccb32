//! `saescale train <run file> --out <dir>`: train one SAE (what sweep executors launch).

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use burn::tensor::backend::Backend;
use saescale_sae::{train, Outcome};
use saescale_spec::{Exit, Precision, Provenance, RunSpec};

use crate::device::{dispatch, set_cpu_threads, Device, OnBackend};
use crate::exit;
use crate::progress::TrainProgress;

/// Train one SAE from a run file.
///
/// Writes config.json, metrics.jsonl, final.json and checkpoint/ (trainer state and a SAELens
/// export in checkpoint/sae/) into --out. If --out already holds a checkpoint of the same run,
/// training resumes from it; if the run already finished, nothing is done. SIGINT or SIGTERM
/// saves a checkpoint and exits with code 75; a second signal exits at once.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run file (TOML): [data], [sae], [train], optional [eval] and [log] sections.
    pub run_file: PathBuf,
    /// Output directory of the run.
    #[arg(long)]
    pub out: PathBuf,
    /// Where to train: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: Device,
    /// CPU threads for the matmuls [default: one per core].
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress output; errors still go to stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs the command; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    set_cpu_threads(args.threads)?;
    let text = std::fs::read_to_string(&args.run_file)
        .map_err(|e| exit::bad_input(format!("cannot read run file {}: {e}", args.run_file.display())))?;
    let mut spec = RunSpec::from_toml_str(&text)
        .and_then(RunSpec::resolve)
        .with_context(|| format!("invalid run file {}", args.run_file.display()))?;
    if args.device != Device::Cpu && spec.precision.is_none() {
        // Mixed precision is the GPU default: bf16 matmuls over f32 weights and Adam state.
        // Written into config.json, so a resumed run keeps it.
        spec.precision = Some(Precision::Bf16);
    }
    if args.device == Device::Cpu && matches!(spec.precision, Some(Precision::Bf16 | Precision::Tf32)) {
        return Err(exit::bad_input(format!(
            "{}: precision {:?} needs a CUDA device; use --device cuda or precision = \"f32\"",
            args.run_file.display(),
            spec.precision.unwrap_or(Precision::F32)
        )));
    }

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        // A second signal while the first is being handled ends the process at once.
        signal_hook::flag::register_conditional_shutdown(signal, i32::from(Exit::Interrupted), Arc::clone(&stop))?;
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let job = TrainJob { spec, args: &args, stop: &stop };
    let outcome = dispatch(args.device, job)??;
    match outcome {
        Outcome::Finished(metrics) | Outcome::AlreadyFinished(metrics) => {
            if !args.quiet {
                let number = |value: Option<f64>, digits: usize| value.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"));
                eprintln!(
                    "done: {} — held-out loss {}, FVU {}, L0 {}, dead {}%, {} steps, {} FLOP, {} s",
                    args.out.display(),
                    number(metrics.loss, 6),
                    number(metrics.fvu, 5),
                    number(metrics.l0, 2),
                    number(metrics.dead_fraction.map(|d| 100.0 * d), 1),
                    metrics.steps.unwrap_or(0),
                    metrics.flops.map_or_else(|| "-".to_string(), |f| format!("{f:.3e}")),
                    number(metrics.wall_s, 1)
                );
            }
            Ok(Exit::Ok)
        }
        Outcome::Interrupted { step } => {
            eprintln!("interrupted: checkpoint saved after step {step}; run the same command again to resume");
            Ok(Exit::Interrupted)
        }
    }
}

struct TrainJob<'a> {
    spec: RunSpec,
    args: &'a Args,
    stop: &'a AtomicBool,
}

impl OnBackend for TrainJob<'_> {
    type Output = anyhow::Result<Outcome>;

    fn run<B: Backend>(self, device: B::Device) -> Self::Output {
        let label = self.spec.name.clone().unwrap_or_else(|| self.args.out.display().to_string());
        let mut progress = TrainProgress::new(label, self.args.quiet);
        let provenance = Provenance::of_this_build(
            describe(self.args.device),
            self.spec.precision.unwrap_or(Precision::F32),
            rayon::current_num_threads(),
            saescale_sweep::machine::hostname(),
        );
        let outcome = train::<B>(&self.spec, &self.args.out, &device, &provenance, &mut progress, self.stop)
            .with_context(|| format!("run {}", self.args.out.display()))?;
        progress.finish();
        Ok(outcome)
    }
}

/// The device with its model, for the run's provenance: `cpu (AMD EPYC 7B13)`, `cuda:0 (NVIDIA H200)`.
fn describe(device: Device) -> String {
    use saescale_sweep::machine::{cpu_model, cuda_device_name};
    let model = match device {
        Device::Cpu => cpu_model(),
        Device::Cuda(index) => cuda_device_name(index),
    };
    match model {
        Some(model) => format!("{device} ({model})"),
        None => device.to_string(),
    }
}
