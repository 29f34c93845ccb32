//! `saescale activations prepare <dir>`: estimate a shard directory's normalisation constant
//! (and outlier list) once and store it in its manifest. `saescale activations import
//! <cache> --out <dir>`: convert an SAELens activations cache into such a directory.
//!
//! Shards themselves are written by `tools/extract_activations.py` (a language model's
//! residual stream), by `import`, or by any program that follows
//! `saescale_data::shards::Manifest`.

use std::path::PathBuf;

use anyhow::Context;
use saescale_data::saelens_cache::{import_saelens_cache, ImportOptions};
use saescale_data::shards::{prepare, Dtype, OutlierFilter};
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
    /// Convert activations cached by SAELens (its cache-activations runner's output: a
    /// `datasets` directory of Arrow stream files) into a shard directory; then run
    /// `saescale activations prepare` on it (with --max-norm-over-median to drop the BOS
    /// outliers SAELens's prepend_bos leaves).
    Import(ImportArgs),
}

#[derive(Debug, clap::Args)]
struct ImportArgs {
    /// The SAELens cache directory (holding state.json, dataset_info.json and data-*.arrow).
    cache: PathBuf,
    /// The shard directory to write (must not hold a manifest.json yet).
    #[arg(long)]
    out: PathBuf,
    /// The cached hook to import [default: the cache's only one].
    #[arg(long)]
    hook: Option<String>,
    /// Tokens per shard.
    #[arg(long, default_value_t = 65_536)]
    shard_tokens: usize,
    /// Shards at the end kept for held-out evaluation.
    #[arg(long, default_value_t = 1)]
    heldout_shards: usize,
    /// Element type of the shards: f32, f16 or bf16.
    #[arg(long, default_value = "f32", value_parser = parse_dtype)]
    dtype: Dtype,
}

fn parse_dtype(text: &str) -> Result<Dtype, String> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|_| format!("expected f32, f16 or bf16, got {text:?}"))
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
        Command::Import(args) => run_import(args),
    }
}

fn run_import(args: ImportArgs) -> anyhow::Result<Exit> {
    let options = ImportOptions { hook: args.hook, shard_tokens: args.shard_tokens, heldout_shards: args.heldout_shards, dtype: args.dtype };
    let manifest = import_saelens_cache(&args.cache, &args.out, &options)
        .map_err(|e| exit::bad_input(format!("{e}")))
        .with_context(|| format!("cannot import the SAELens cache {}", args.cache.display()))?;
    let tokens: u64 = manifest.shards.iter().map(|s| s.tokens).sum();
    println!(
        "{}: {} shards, {tokens} tokens of d = {} from hook {}; next: saescale activations prepare {} --max-norm-over-median 10",
        args.out.display(),
        manifest.shards.len(),
        manifest.d,
        manifest.hook.as_deref().unwrap_or("?"),
        args.out.display()
    );
    Ok(Exit::Ok)
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
