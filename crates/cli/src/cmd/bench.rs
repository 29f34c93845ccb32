//! `saescale bench`: SAE training-step throughput next to the machine's matmul peak.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::backend::Backend;
use saescale_sae::bench::{matmul_peak_gflops, step_throughput, BenchArch, BenchStep};
use saescale_spec::atomic::write_atomic;
use saescale_spec::bench::{default_path, BenchReport, StepThroughput};
use saescale_spec::{Architecture, Exit, Precision, TopkKernel};
use saescale_sweep::plan::format_bytes;

use crate::device::{check_available, dispatch, set_cpu_threads, Device, OnBackend};
use crate::exit;

/// Measure SAE training throughput next to the machine's matmul peak.
///
/// Times the real training step (relu SAE, Anthropic recipe: forward, hand-written backward,
/// global-norm clipping, Adam; with --arch topk, Gao et al.'s TopK step by each --kernel; with
/// --arch batchtopk, the dense step with the batch-wide selection; with --arch jumprelu, the
/// dense step with straight-through thresholds)
/// on batches already in device memory, after warm-up steps, and the best square f32 matmul
/// rate through the same backend, with the process's peak resident memory for each size and
/// kernel. GFLOP/s count 12·d·F per token for every architecture and kernel, the dense step's
/// work, so that they compare. Each size, precision and kernel is measured in a process of its
/// own, as a training run would be (see --same-process). Prints a table (or JSON with --json)
/// and saves the JSON to the cache (see --save); `saescale plan` estimates wall times from the
/// relu file.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to measure: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: Device,
    /// SAE sizes as d_in x features, comma separated [default: 64x1024,256x4096,512x8192 on
    /// cpu; 512x16384,2048x65536,4096x131072 on cuda].
    #[arg(long, value_delimiter = ',')]
    pub sizes: Vec<Size>,
    /// Tokens per step [default: 1024 on cpu, 4096 on cuda].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Timed steps per size.
    #[arg(long, default_value_t = 10)]
    pub steps: u64,
    /// Untimed warm-up steps per size.
    #[arg(long, default_value_t = 3)]
    pub warmup: u64,
    /// Matmul precisions to measure, comma separated: f32, bf16 [default: f32 on cpu, f32,bf16 on cuda].
    #[arg(long, value_delimiter = ',', value_parser = parse_named::<Precision>)]
    pub precision: Vec<Precision>,
    /// The SAE to train: relu, topk, batchtopk or jumprelu.
    #[arg(long, default_value = "relu", value_parser = parse_named::<Architecture>)]
    pub arch: Architecture,
    /// Active latents per token (--arch topk; the mean for batchtopk).
    #[arg(long, default_value_t = 32)]
    pub k: usize,
    /// TopK step kernels to measure, comma separated: dense, sparse [default: both].
    #[arg(long, value_delimiter = ',', value_parser = parse_named::<TopkKernel>)]
    pub kernel: Vec<TopkKernel>,
    /// CPU threads [default: one per core].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Where to save the JSON result [default: $XDG_CACHE_HOME/saescale/bench-<device>.json,
    /// bench-<device>-<arch>.json for the other architectures].
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Measure every size and kernel in this process, one after the other, instead of each in
    /// a child process. Quicker to start, but then a step runs on the heap that the ones
    /// before it left, which can slow it (on one machine the sparse TopK step at 1024x65536
    /// ran 15-30% slower right after the dense one than alone), and its peak memory is no
    /// longer that of a training run.
    #[arg(long)]
    pub same_process: bool,
    /// Internal: the child process of one measurement. Measures in this process and prints
    /// the results as a JSON array, nothing else (no matmul peak, no file).
    #[arg(long, hide = true, conflicts_with_all = ["same_process", "save", "json"])]
    pub child: bool,
}

/// Parses a command-line value by the name the run file uses for it (the spec enums' serde
/// names: `f32`, `topk`, `sparse`...), so the names live in one place; serde's error lists
/// the names it expected.
fn parse_named<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    use serde::de::value::{Error, StrDeserializer};
    T::deserialize(StrDeserializer::<Error>::new(text.trim())).map_err(|e| e.to_string())
}

/// An SAE size, `d_in x features`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    d_in: usize,
    features: usize,
}

impl std::str::FromStr for Size {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let parse = |(d, f): (&str, &str)| Some(Size { d_in: d.trim().parse().ok()?, features: f.trim().parse().ok()? });
        text.split_once('x')
            .and_then(parse)
            .filter(|s| s.d_in > 0 && s.features > 0)
            .ok_or_else(|| format!("`{text}` is not a size; expected d_in x features, e.g. 256x4096"))
    }
}

/// Runs the command; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    set_cpu_threads(args.threads)?;
    if args.steps == 0 || args.batch == Some(0) || args.k == 0 {
        return Err(exit::bad_input("--steps, --batch and --k must be at least 1"));
    }
    if args.arch != Architecture::Topk && !args.kernel.is_empty() {
        return Err(exit::bad_input("--kernel applies to --arch topk only (batchtopk's and jumprelu's steps are the dense one)"));
    }
    let steps = planned_steps(&args);
    let results = if args.child || args.same_process {
        dispatch(args.device, MeasureSteps { steps: &steps, warmup: args.warmup, timed: args.steps })??
    } else {
        // A missing GPU or driver is one error here, not one per child.
        check_available(args.device)?;
        let mut results = Vec::with_capacity(steps.len());
        for step in &steps {
            results.extend(measure_in_child(&args, step)?);
        }
        results
    };
    if args.child {
        println!("{}", serde_json::to_string(&results)?);
        return Ok(Exit::Ok);
    }
    let matmul_peak_gflops = dispatch(args.device, MatmulPeak)?;
    let device_memory_bytes = match args.device {
        Device::Cpu => None,
        Device::Cuda(index) => saescale_sweep::machine::cuda_device_memory(index),
    };
    let report = BenchReport {
        device: args.device.to_string(),
        threads: Some(rayon::current_num_threads()),
        matmul_peak_gflops: Some(matmul_peak_gflops),
        device_memory_bytes,
        results,
    };
    let json = serde_json::to_string_pretty(&report)?;
    let path = match &args.save {
        Some(path) => path.clone(),
        None => save_path(args.device, args.arch),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    write_atomic(&path, format!("{json}\n").as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    if args.json {
        println!("{json}");
    } else {
        print_table(&report);
        eprintln!("saved to {}", path.display());
    }
    Ok(Exit::Ok)
}

/// Every step the arguments ask for: each size, in each precision, of each architecture
/// (each kernel of topk).
fn planned_steps(args: &Args) -> Vec<BenchStep> {
    let on_gpu = args.device != Device::Cpu;
    let precisions = match (args.precision.is_empty(), on_gpu) {
        (false, _) => args.precision.clone(),
        (true, false) => vec![Precision::F32],
        (true, true) => vec![Precision::F32, Precision::Bf16],
    };
    let sizes = match (args.sizes.is_empty(), on_gpu) {
        (false, _) => args.sizes.clone(),
        (true, false) => vec![Size { d_in: 64, features: 1024 }, Size { d_in: 256, features: 4096 }, Size { d_in: 512, features: 8192 }],
        // The sizes of issue 9, which the PyTorch reference step (torch_sae_step.py) also measures.
        (true, true) => vec![Size { d_in: 512, features: 16384 }, Size { d_in: 2048, features: 65536 }, Size { d_in: 4096, features: 131072 }],
    };
    let batch_size = args.batch.unwrap_or(if on_gpu { 4096 } else { 1024 });
    let kernels: &[TopkKernel] = if args.kernel.is_empty() { &[TopkKernel::Dense, TopkKernel::Sparse] } else { &args.kernel };
    let archs: Vec<BenchArch> = match args.arch {
        Architecture::Relu => vec![BenchArch::Relu],
        Architecture::Topk => kernels.iter().map(|&kernel| BenchArch::TopK { k: args.k, kernel }).collect(),
        Architecture::Batchtopk => vec![BenchArch::BatchTopK { k: args.k }],
        Architecture::Jumprelu => vec![BenchArch::JumpRelu],
    };
    let mut steps = Vec::new();
    for size in &sizes {
        for &precision in &precisions {
            for &arch in &archs {
                steps.push(BenchStep { d_in: size.d_in, features: size.features, batch_size, precision, arch });
            }
        }
    }
    steps
}

/// Measures `step` in a child process of this executable (`bench --child`), with this
/// process's device, thread count, warm-up and timed steps.
///
/// # Errors
/// When the child cannot start, fails (its error is on stderr, which it shares), or prints
/// something that is not a list of results.
fn measure_in_child(args: &Args, step: &BenchStep) -> anyhow::Result<Vec<StepThroughput>> {
    let exe = std::env::current_exe().context("cannot find this executable to run a measurement in its own process")?;
    let what = describe(step);
    let mut command = std::process::Command::new(exe);
    command.args(["bench", "--child", "--device", &args.device.to_string()]);
    command.args(["--sizes", &format!("{}x{}", step.d_in, step.features), "--batch", &step.batch_size.to_string()]);
    command.args(["--steps", &args.steps.to_string(), "--warmup", &args.warmup.to_string()]);
    command.args(["--precision", step.precision.as_str(), "--threads", &rayon::current_num_threads().to_string()]);
    match step.arch {
        BenchArch::Relu => command.args(["--arch", "relu"]),
        BenchArch::TopK { k, kernel } => command.args(["--arch", "topk", "--k", &k.to_string(), "--kernel", kernel.as_str()]),
        BenchArch::BatchTopK { k } => command.args(["--arch", "batchtopk", "--k", &k.to_string()]),
        BenchArch::JumpRelu => command.args(["--arch", "jumprelu"]),
    };
    let output = command.stderr(std::process::Stdio::inherit()).output().with_context(|| format!("cannot start the benchmark of {what}"))?;
    if !output.status.success() {
        // The child's exit code says what kind of failure it was (bad input, divergence...).
        let exit = output.status.code().and_then(Exit::from_code).unwrap_or(Exit::Failure);
        let message = format!("the benchmark of {what} failed in its own process ({}); its error is above", output.status);
        return Err(exit::Coded { exit, message }.into());
    }
    serde_json::from_slice(&output.stdout).with_context(|| format!("the benchmark process of {what} printed no results"))
}

/// `topk32 sparse at 512x16384 in f32`, for errors.
fn describe(step: &BenchStep) -> String {
    let arch = match step.arch {
        BenchArch::Relu => "relu".to_string(),
        BenchArch::TopK { k, kernel } => format!("topk{k} {}", kernel.as_str()),
        BenchArch::BatchTopK { k } => format!("batchtopk{k}"),
        BenchArch::JumpRelu => "jumprelu".to_string(),
    };
    format!("{arch} at {}x{} in {}", step.d_in, step.features, step.precision.as_str())
}

/// Where the measurement of `device` is saved unless `--save` says: for relu, where
/// `saescale plan` looks for it ([`default_path`]); topk beside it, so that it does not
/// replace the file the planner reads; else the working directory.
fn save_path(device: Device, arch: Architecture) -> PathBuf {
    let device = match device {
        Device::Cpu => "cpu",
        Device::Cuda(_) => "cuda",
    };
    let kind = match arch {
        Architecture::Relu => device.to_string(),
        other => format!("{device}-{}", other.as_str()),
    };
    default_path(&kind).unwrap_or_else(|| PathBuf::from(format!("bench-{kind}.json")))
}

fn print_table(report: &BenchReport) {
    let peak = report.matmul_peak_gflops.unwrap_or(f64::NAN);
    let threads = report.threads.map_or_else(|| "?".to_string(), |t| t.to_string());
    println!("device {}, {threads} threads, measured f32 matmul peak {peak:.1} GFLOP/s", report.device);
    println!(
        "{:>6} {:>9} {:>6} {:>11} {:>9} {:>12} {:>9} {:>8} {:>11}",
        "d_in", "features", "batch", "step", "precision", "tokens/s", "GFLOP/s", "% peak", "peak RSS"
    );
    for r in &report.results {
        let step = match (r.k, r.kernel) {
            (Some(k), Some(kernel)) => format!("{}{k} {}", r.architecture.as_str(), kernel.as_str()),
            _ => r.architecture.as_str().to_string(),
        };
        println!(
            "{:>6} {:>9} {:>6} {:>11} {:>9} {:>12.0} {:>9.1} {:>7.1}% {:>11}",
            r.d_in,
            r.features,
            r.batch_size,
            step,
            r.precision.as_str(),
            r.tokens_per_s,
            r.gflops,
            100.0 * r.gflops / peak,
            r.peak_rss_bytes.map_or_else(|| "-".to_string(), format_bytes)
        );
    }
}

/// Times each of `steps` in turn, in this process.
struct MeasureSteps<'a> {
    steps: &'a [BenchStep],
    warmup: u64,
    timed: u64,
}

impl OnBackend for MeasureSteps<'_> {
    type Output = anyhow::Result<Vec<StepThroughput>>;

    fn run<B: Backend>(self, device: B::Device) -> Self::Output {
        self.steps
            .iter()
            .map(|step| {
                step_throughput::<B>(step, self.warmup, self.timed, &device).with_context(|| format!("benchmark of {}", describe(step)))
            })
            .collect()
    }
}

/// The best square f32 matmul rate of the device, GFLOP/s.
struct MatmulPeak;

impl OnBackend for MatmulPeak {
    type Output = f64;

    fn run<B: Backend>(self, device: B::Device) -> f64 {
        matmul_peak_gflops::<B>(&[512, 1024, 2048], 3, &device)
    }
}
