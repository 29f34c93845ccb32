//! `saescale recommend --fit fit.json (--compute C | --features F)`: the compute-optimal setting.

use std::path::PathBuf;

use anyhow::Context;
use saescale_fit::{recommend, Estimate, FitResult, Recommendation, SaeSetting, Target};
use saescale_spec::Exit;
use saescale_spec::compute::training_memory_bytes;
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
/// --bench with a file written by `saescale bench --json` (its format may still change; the
/// explicit number always works).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The fit (JSON written by `saescale fit`).
    #[arg(long)]
    pub fit: PathBuf,
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
    /// Print JSON for scripts instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Memory and time of the recommended SAE run.
#[derive(Debug, Serialize)]
struct SaeCost {
    /// Input width and batch of the fitted sweep.
    setting: SaeSetting,
    /// Training memory in bytes (a lower bound; see saescale-spec).
    memory_bytes: Estimate,
    /// GPU-hours at the given throughput, if one was given.
    gpu_hours: Option<Estimate>,
    /// Where the throughput came from.
    throughput: Option<String>,
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
}

/// Runs the command; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    let text = std::fs::read_to_string(&args.fit).with_context(|| format!("cannot read {}", args.fit.display()))?;
    let fit: FitResult = serde_json::from_str(&text)
        .map_err(|e| exit::bad_input(format!("{} is not a fit written by `saescale fit`: {e}", args.fit.display())))?;
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
    if args.json {
        let answer = Answer { extrapolation_warning: recommendation.extrapolates_far(), recommendation, sae };
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(Exit::Ok);
    }
    println!("fit            {} ({}, {} points)", args.fit.display(), fit.method.as_str(), fit.n_points);
    print!("{recommendation}");
    if let Some(cost) = sae {
        print_cost(&cost, &recommendation);
    }
    Ok(Exit::Ok)
}

/// Memory (at X* and its interval ends) and GPU-hours for an SAE recommendation.
fn sae_cost(setting: SaeSetting, rec: &Recommendation, args: &Args) -> anyhow::Result<SaeCost> {
    let memory = |features: f64| training_memory_bytes(setting.d_in, features.round().max(1.0) as usize, setting.batch_size) as f64;
    let memory_bytes = Estimate { value: memory(rec.x.value), ci95: rec.x.ci95.map(|[lo, hi]| [memory(lo), memory(hi)]) };
    let throughput = match (&args.tokens_per_s, &args.bench) {
        (Some(t), _) => Some((*t, format!("{t} tokens/s (--tokens-per-s)"))),
        (None, Some(path)) => {
            let bench = Throughput::load(path)
                .map_err(|e| exit::bad_input(format!("{e:#}")))?
                .ok_or_else(|| exit::bad_input(format!("no throughput measurement at {}", path.display())))?;
            let features = rec.x.value.round().max(1.0) as usize;
            let gflops = bench.gflops_at(setting.d_in, features, setting.batch_size);
            let tokens_per_s = gflops * 1e9 / saescale_spec::compute::flops_per_token(setting.d_in, features);
            Some((tokens_per_s, format!("{tokens_per_s:.4e} tokens/s ({gflops:.1} GFLOP/s from {})", path.display())))
        }
        (None, None) => None,
    };
    let gpu_hours = throughput.as_ref().map(|(tps, _)| {
        let hours = |tokens: f64| tokens / tps / 3600.0;
        Estimate { value: hours(rec.tokens.value), ci95: rec.tokens.ci95.map(|[lo, hi]| [hours(lo), hours(hi)]) }
    });
    Ok(SaeCost { setting, memory_bytes, gpu_hours, throughput: throughput.map(|(_, s)| s) })
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
    match (&cost.gpu_hours, &cost.throughput) {
        (Some(h), Some(source)) => match h.ci95 {
            Some([lo, hi]) => println!("GPU-hours      {:.4e}   95% CI [{lo:.4e}, {hi:.4e}] at {source}", h.value),
            None => println!("GPU-hours      {:.4e} at {source}", h.value),
        },
        _ => println!("GPU-hours      give --tokens-per-s (or --bench) to estimate"),
    }
}
