//! `saescale activations prepare <dir>`: estimate a shard directory's normalisation constant
//! (and outlier list) once and store it in its manifest.
//!
//! Shards themselves are written by `tools/extract_activations.py` (a language model's
//! residual stream) or by any program that follows `saescale_data::shards::Manifest`.

use std::path::PathBuf;

use anyhow::Context;
use saescale_data::shards::{prepare, OutlierFilter};
use saescale_spec::Exit;

use crate::exit;

/// Work on a directory of activation shards.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Estimate the normalisation constant (E‖s·x‖ = √d) from a sample of the training
    /// shards, list outlier tokens when a filter is set, and store both in manifest.json.
    Prepare(PrepareArgs),
}

#[derive(Debug, clap::Args)]
struct PrepareArgs {
    /// The shard directory (holding manifest.json).
    dir: PathBuf,
    /// Tokens in the sample the statistics are estimated from.
    #[arg(long, default_value_t = 262_144)]
    sample_rows: usize,
    /// Drop tokens whose norm exceeds this multiple of the median (e.g. BOS positions);
    /// replaces the manifest's setting.
    #[arg(long)]
    max_norm_over_median: Option<f64>,
    /// Print the resulting manifest statistics as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs the command; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<Exit> {
    match args.command {
        Command::Prepare(args) => run_prepare(args),
    }
}

fn run_prepare(args: PrepareArgs) -> anyhow::Result<Exit> {
    if args.max_norm_over_median.is_some_and(|r| !(r > 1.0 && r.is_finite())) {
        return Err(exit::bad_input("--max-norm-over-median must be a number > 1"));
    }
    let filter = args.max_norm_over_median.map(|max_norm_over_median| OutlierFilter { max_norm_over_median });
    let manifest = prepare(&args.dir, args.sample_rows, filter)
        .map_err(|e| exit::bad_input(format!("{e}")))
        .with_context(|| format!("cannot prepare shard directory {}", args.dir.display()))?;
    // prepare() always fills the normalisation.
    let n = manifest.normalization.as_ref().expect("prepare stores the normalisation");
    let outliers: usize = manifest.shards.iter().map(|s| s.outliers.len()).sum();
    let tokens: u64 = manifest.shards.iter().map(|s| s.tokens).sum();
    if args.json {
        let summary = serde_json::json!({
            "d": manifest.d, "tokens": tokens, "shards": manifest.shards.len(), "outliers": outliers,
            "scale": n.scale, "mean_norm": n.mean_norm, "median_norm": n.median_norm, "sample_rows": n.rows,
        });
        println!("{summary}");
    } else {
        println!(
            "{}: {} shards, {tokens} tokens of d = {}; scale {} (mean norm {}, median norm {}, from {} tokens); {outliers} outlier tokens dropped",
            args.dir.display(),
            manifest.shards.len(),
            manifest.d,
            n.scale,
            n.mean_norm,
            n.median_norm,
            n.rows
        );
    }
    Ok(Exit::Ok)
}
