//! `saescale`: scaling-law sweeps for sparse autoencoders.
//!
//! A thin layer over the workspace's libraries: clap parses the command line, each
//! subcommand in [`cmd`] turns its arguments into typed options and calls into a library
//! (the sweep pipeline's stages are saescale-pipeline's; `train` and `bench` are saescale-sae's
//! on the backend `--device` picks), and [`main`] turns the outcome into one message and one
//! exit code (see [`exit`]).

mod alloc;
mod cmd;
mod device;
mod exit;
mod progress;
mod watch;

use clap::{Parser, Subcommand};

/// Scaling-law sweeps for sparse autoencoders: plan, train, fit, report.
#[derive(Debug, Parser)]
#[command(name = "saescale", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train one SAE from a run file; resumes if the output directory holds a checkpoint.
    Train(cmd::train::Args),
    /// Measure SAE training throughput next to the machine's matmul peak.
    Bench(cmd::bench::Args),
    /// Run a sweep: plan it, train every run, collect the results table, fit, write the report.
    Run(cmd::run::Args),
    /// Print the runs a sweep spec expands to (F, steps, FLOP, time, memory) without running.
    Plan(cmd::plan::Args),
    /// Look after a sweep directory: status, resume, cancel.
    Sweep(cmd::sweep::Args),
    /// Fit scaling laws to a table of runs or a sweep directory; writes fit.json.
    Fit(cmd::fit::Args),
    /// Recommend the compute-optimal features, steps, loss and lr from a fit.
    Recommend(cmd::recommend::Args),
    /// Compare one night (or sweep, or fit) with another; exit 1 when something regressed.
    Compare(cmd::compare::Args),
    /// Work on activation shard directories (prepare: store the normalisation constant).
    Activations(cmd::activations::Args),
    /// Write a report: figures (SVG, PNG), their numbers (CSV), the run table and an HTML page.
    Report(cmd::report::Args),
}

fn main() -> std::process::ExitCode {
    alloc::keep_freed_memory();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Train(args) => cmd::train::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Plan(args) => cmd::plan::run(args),
        Command::Sweep(args) => cmd::sweep::run(args),
        Command::Fit(args) => cmd::fit::run(args),
        Command::Recommend(args) => cmd::recommend::run(args),
        Command::Compare(args) => cmd::compare::run(args),
        Command::Activations(args) => cmd::activations::run(args),
        Command::Report(args) => cmd::report::run(args),
    };
    exit::report(outcome)
}
