//! `saescale recommend --fit fit.json (--compute C | --features F)`: the compute-optimal setting.

use std::path::{Path, PathBuf};

use anyhow::Context;
use saescale_fit::{recommend, Estimate, FitResult, Recommendation, SaeSetting, Target};
use saescale_fit::sparsity::SparsityFit;
use saescale_pipeline::sparsity::{SparsityAxis, SPARSITY_FIT};
use saescale_spec::Exit;
use saescale_sweep::store::layout;
use saescale_spec::compute::{gpus_needed, training_memory_bytes};
use saescale_sweep::estimate::Throughput;
use saescale_sweep::plan::format_bytes;
use serde::Serialize;

use crate::exit;

/// Recommend the compute-optimal run from a fit.
///
/// With --compute C: the optimal size X* (features), duration Y* (steps for an SAE sweep,
/// tokens for an LM table), tokens, predicted loss and, when the fit has a learning-rate law,
/// the learning rate. With --features F: the compute at which F is optimal and the steps to
/// train it. Each number comes with the 95% interval of the fit's bootstrap replicates, computed
/// per replicate (fit with --bootstrap N to get them).
///
/// The answer says how far it lies outside the fitted compute range and warns beyond 100×.
/// For SAE fits it adds the training memory (weights, gradients, Adam state and the batch's
/// activations, from saescale-spec) and GPU-hours at a throughput: give --tokens-per-s, or
/// --bench with a file written by `saescale bench --json`. With --gpu-memory (or a GPU bench
/// file), a run that does not fit one GPU is sharded by latents: how many GPUs, the memory of
/// each, and the GPU-hours summed over all of them next to the wall-clock hours.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The fit (JSON written by `saescale fit`), or a sweep directory (its fit.json, or with
    /// --l0 its fit at that k).
    #[arg(long)]
    pub fit: PathBuf,
    /// Target sparsity k (latents per token) of a sweep with a `[sweep] k` axis: answers from
    /// the sweep's joint law fitted at that k (DIR/fit-k<K>.json), and adds Gao et al.'s
    /// L(n, k) at X* and K when the directory has it (DIR/sparsity-fit.json); a fit file given
    /// instead must be one fitted at that k (`--where k=K`).
    #[arg(long, value_name = "K")]
    pub l0: Option<u64>,
    /// Compute budget in FLOP.
    #[arg(long, required_unless_present = "features", conflicts_with = "features")]
    pub compute: Option<f64>,
    /// Size X (SAE features, or LM parameters) to find the optimal budget and steps for.
    #[arg(long)]
    pub features: Option<f64>,
    /// Training throughput in tokens per second per GPU, for GPU-hours.
    #[arg(long, conflicts_with = "bench")]
    pub tokens_per_s: Option<f64>,
    /// Throughput measurement of `saescale bench` (JSON), for GPU-hours.
    #[arg(long)]
    pub bench: Option<PathBuf>,
    /// Memory of one GPU, e.g. 80GiB or 141GB: a run that does not fit is sharded by latents
    /// across as many GPUs as it needs [default: the --bench file's GPU, else none].
    #[arg(long, value_parser = parse_bytes)]
    pub gpu_memory: Option<u64>,
    /// Print JSON for scripts instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Memory and time of the recommended SAE run.
#[derive(Debug, Serialize)]
struct SaeCost {
    /// Input width and batch of the fitted sweep.
    setting: SaeSetting,
    /// Training memory in bytes on one device (a lower bound; see saescale-spec).
    memory_bytes: Estimate,
    /// How the run is split across GPUs of the given memory, when one was given.
    gpus: Option<GpuSplit>,
    /// GPU-hours at the given throughput, summed over every GPU, if a throughput was given.
    gpu_hours: Option<Estimate>,
    /// Wall-clock hours on `gpus.count` GPUs.
    wall_hours: Option<Estimate>,
    /// Where the throughput came from.
    throughput: Option<String>,
}

/// The GPUs a run needs with its latents sharded across them.
#[derive(Debug, Serialize)]
struct GpuSplit {
    /// GPUs of `gpu_memory_bytes` needed (1 when the run fits one).
    count: usize,
    /// Memory each needs, bytes (a lower bound).
    per_gpu_bytes: u64,
    /// Memory of one GPU, bytes.
    gpu_memory_bytes: u64,
}

/// `80GiB`, `141GB`, `16G`, or a number of bytes.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024f64.powi(2),
        "g" | "gb" => 1e9,
        "gib" => 1024f64.powi(3),
        "t" | "tb" => 1e12,
        "tib" => 1024f64.powi(4),
        other => return Err(format!("unknown unit {other:?}: use GiB, GB, MiB, ... e.g. 80GiB")),
    };
    match number.parse::<f64>() {
        Ok(n) if n > 0.0 && n.is_finite() => Ok((n * factor) as u64),
        _ => Err(format!("expected a memory size such as 80GiB, got {text:?}")),
    }
}

/// The JSON answer.
#[derive(Debug, Serialize)]
struct Answer {
    #[serde(flatten)]
    recommendation: Recommendation,
    /// Whether the budget lies more than 100× outside the fitted compute range.
    extrapolation_warning: bool,
    /// SAE memory and time, for SAE fits.
    sae: Option<SaeCost>,
    /// With --l0 K on a sweep directory that has L(n, k): its loss at X* and K, with the
    /// spread of its bootstrap replicates' predictions.
    #[serde(skip_serializing_if = "Option::is_none")]
    sparsity_law_loss: Option<Estimate>,
}

/// The fit file `--fit` (and `--l0`) name: the file itself, or in a sweep directory its
/// `fit.json` or, for a target k, `fit-k<K>.json`.
fn fit_path(fit: &Path, l0: Option<u64>) -> anyhow::Result<PathBuf> {
    if !fit.is_dir() {
        return Ok(fit.to_path_buf());
    }
    let per_k: Vec<String> = std::fs::read_dir(fit)
        .with_context(|| format!("cannot read {}", fit.display()))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("fit-k") && name.ends_with(".json"))
        .collect();
    let ks = || {
        let mut ks: Vec<u64> = per_k.iter().filter_map(|n| n.trim_start_matches("fit-k").trim_end_matches(".json").parse().ok()).collect();
        ks.sort_unstable();
        ks.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    };
    let path = match l0 {
        Some(k) => fit.join(SparsityAxis::K.fit_file(k as f64)),
        None => fit.join(layout::FIT),
    };
    match (path.is_file(), l0, per_k.is_empty()) {
        (true, _, _) => Ok(path),
        (false, None, false) => Err(exit::bad_input(format!("{} has one fit per k ({}): choose one with --l0 K", fit.display(), ks()))),
        (false, Some(k), false) => Err(exit::bad_input(format!("{} has no fit at k = {k}; it has k = {}", fit.display(), ks()))),
        (false, _, true) => Err(exit::bad_input(format!("{} has no {}: fit the sweep first (saescale fit)", fit.display(), path.file_name().unwrap_or_default().to_string_lossy()))),
    }
}

/// Runs the command; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let path = fit_path(&args.fit, args.l0)?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let fit: FitResult = serde_json::from_str(&text)
        .map_err(|e| exit::bad_input(format!("{} is not a fit written by `saescale fit`: {e}", path.display())))?;
    if let Some(k) = args.l0 {
        let wanted = SparsityAxis::K.filter(k as f64);
        if !fit.source.filters.iter().any(|f| f.replace(' ', "") == wanted) {
            return Err(exit::bad_input(format!(
                "{} is not a fit at k = {k} (its filters: {:?}); give the sweep directory, or fit with --where {wanted}",
                path.display(),
                fit.source.filters
            )));
        }
    }
    let target = match (args.compute, args.features) {
        (Some(c), None) => Target::Compute(c),
        (None, Some(f)) => Target::Size(f),
        _ => return Err(exit::bad_input("give exactly one of --compute and --features")),
    };
    if let Some(t) = args.tokens_per_s {
        if !(t.is_finite() && t > 0.0) {
            return Err(exit::bad_input(format!("--tokens-per-s {t} must be positive")));
        }
    }
    let recommendation = recommend(&fit, target).map_err(|e| exit::bad_input(e.to_string()))?;
    let sae = match fit.source.sae {
        Some(setting) => Some(sae_cost(setting, &recommendation, &args)?),
        None => None,
    };
    let law_path = args.fit.join(SPARSITY_FIT);
    let sparsity_law_loss = match args.l0 {
        Some(k) if law_path.is_file() => Some(sparsity_law_loss(&law_path, recommendation.x.value, k as f64)?),
        _ => None,
    };
    if args.json {
        let answer = Answer { extrapolation_warning: recommendation.extrapolates_far(), recommendation, sae, sparsity_law_loss };
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(Exit::Ok);
    }
    println!("fit            {} ({}, {} points)", path.display(), fit.method.as_str(), fit.n_points);
    if let Some(k) = args.l0 {
        println!("sparsity       k = {k} (the joint law fitted to the sweep's runs at that k)");
    }
    print!("{recommendation}");
    if let (Some(loss), Some(k)) = (&sparsity_law_loss, args.l0) {
        println!("L(n, k)        {loss}   at X* and k = {k} ({})", law_path.display());
    }
    if let Some(cost) = sae {
        print_cost(&cost, &recommendation);
    }
    Ok(Exit::Ok)
}

/// Gao et al.'s L(n, k) read from `path` (`saescale fit --sparsity`'s file), at `n` latents
/// and `k`: its prediction and the spread of its bootstrap replicates' predictions.
fn sparsity_law_loss(path: &Path, n: f64, k: f64) -> anyhow::Result<Estimate> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let law: SparsityFit = serde_json::from_str(&text)
        .map_err(|e| exit::bad_input(format!("{} is not an L(n, k) fit written by `saescale fit --sparsity`: {e}", path.display())))?;
    let (value, spread) = law.predict(n, k);
    Ok(Estimate { value, ci95: spread.map(|s| s.ci95) })
}

/// Memory (at X* and its interval ends), the GPUs it needs and GPU-hours for an SAE
/// recommendation.
fn sae_cost(setting: SaeSetting, rec: &Recommendation, args: &Args) -> anyhow::Result<SaeCost> {
    let memory = |features: f64| training_memory_bytes(setting.d_in, features.round().max(1.0) as usize, setting.batch_size) as f64;
    let memory_bytes = Estimate { value: memory(rec.x.value), ci95: rec.x.ci95.map(|[lo, hi]| [memory(lo), memory(hi)]) };
    let bench = match &args.bench {
        Some(path) => Some(
            Throughput::load(path)
                .map_err(|e| exit::bad_input(format!("{e:#}")))?
                .ok_or_else(|| exit::bad_input(format!("no throughput measurement at {}", path.display())))?,
        ),
        None => None,
    };
    let features = rec.x.value.round().max(1.0) as usize;
    let throughput = match (&args.tokens_per_s, &bench) {
        (Some(t), _) => Some((*t, format!("{t} tokens/s (--tokens-per-s)"))),
        (None, Some(bench)) => {
            let gflops = bench.gflops_at(setting.d_in, features, setting.batch_size);
            // The bench's GFLOP/s count the dense step for every architecture.
            let tokens_per_s = gflops * 1e9 / saescale_spec::compute::dense_flops_per_token(setting.d_in, features);
            Some((tokens_per_s, format!("{tokens_per_s:.4e} tokens/s ({gflops:.1} GFLOP/s from {})", bench.path.display())))
        }
        (None, None) => None,
    };
    let gpu_memory = args.gpu_memory.or(bench.as_ref().and_then(|b| b.device_memory_bytes));
    let gpus = match gpu_memory {
        Some(gpu_memory_bytes) => {
            let (count, per_gpu_bytes) = gpus_needed(setting.d_in, features, setting.batch_size, gpu_memory_bytes).ok_or_else(|| {
                exit::bad_input(format!(
                    "even one latent per GPU does not fit {} (d_in = {}, batch {}): use GPUs with more memory or a smaller batch",
                    format_bytes(gpu_memory_bytes),
                    setting.d_in,
                    setting.batch_size
                ))
            })?;
            Some(GpuSplit { count, per_gpu_bytes, gpu_memory_bytes })
        }
        None => None,
    };
    // Sharded by latents, each GPU runs 1/count of every step: the GPU-hours stay those of
    // one GPU doing it all, the wall time divides by the GPUs.
    let hours = |tps: f64, per: f64| {
        let h = |tokens: f64| tokens / tps / 3600.0 / per;
        Estimate { value: h(rec.tokens.value), ci95: rec.tokens.ci95.map(|[lo, hi]| [h(lo), h(hi)]) }
    };
    let gpu_hours = throughput.as_ref().map(|(tps, _)| hours(*tps, 1.0));
    let wall_hours = throughput.as_ref().zip(gpus.as_ref()).map(|((tps, _), g)| hours(*tps, g.count as f64));
    Ok(SaeCost { setting, memory_bytes, gpus, gpu_hours, wall_hours, throughput: throughput.map(|(_, s)| s) })
}

fn print_cost(cost: &SaeCost, rec: &Recommendation) {
    let SaeSetting { d_in, batch_size } = cost.setting;
    println!("SAE setting    d_in {d_in}, batch {batch_size} tokens/step; steps to use {:.0}", rec.y.value.ceil());
    let m = &cost.memory_bytes;
    match m.ci95 {
        Some([lo, hi]) => println!(
            "memory         {} (at the CI ends of X*: {} .. {}), lower bound",
            format_bytes(m.value as u64),
            format_bytes(lo as u64),
            format_bytes(hi as u64)
        ),
        None => println!("memory         {}, lower bound (weights, gradients, Adam, activations)", format_bytes(m.value as u64)),
    }
    if let Some(g) = &cost.gpus {
        if g.count == 1 {
            println!("GPUs           1 ({} of its {})", format_bytes(g.per_gpu_bytes), format_bytes(g.gpu_memory_bytes));
        } else {
            println!(
                "GPUs           {} of {} with the latents sharded across them, {} on each (at X*)",
                g.count,
                format_bytes(g.gpu_memory_bytes),
                format_bytes(g.per_gpu_bytes)
            );
        }
    }
    let interval = |e: &Estimate| e.ci95.map_or_else(String::new, |[lo, hi]| format!("   95% CI [{lo:.4e}, {hi:.4e}]"));
    match (&cost.gpu_hours, &cost.throughput) {
        (Some(h), Some(source)) => {
            let summed = cost.gpus.as_ref().filter(|g| g.count > 1).map_or_else(String::new, |g| format!(", summed over {} GPUs", g.count));
            println!("GPU-hours      {:.4e}{} at {source}{summed}", h.value, interval(h));
        }
        _ => println!("GPU-hours      give --tokens-per-s (or --bench) to estimate"),
    }
    if let (Some(w), Some(g)) = (&cost.wall_hours, &cost.gpus) {
        println!("wall hours     {:.4e}{} on {} GPU(s)", w.value, interval(w), g.count);
    }
}
