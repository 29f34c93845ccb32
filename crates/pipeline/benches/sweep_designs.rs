//! Which sweep design pins down F*(C) for the least compute: the grid of the quickstart
//! (every budget × the same five feature counts) against IsoFLOP designs, adaptive or not, on
//! the same random SAE-like laws.
//!
//! The IsoFLOP designs are given the grid's budgets, or six budgets that reach down to a
//! quarter of the grid's smallest (`MORE_BUDGETS`: the same largest budget, so the same
//! C_target): small budgets cost little and lengthen the lever arm of the extrapolation.
//!
//! Each law `L = E + A/F^α + B/S^β` comes from saescale's `LawFamily` around the prior that
//! the isoflop designs are given (F*(1e11) = 256, growing as C^0.5): its true optimum is off
//! the prior's by up to a factor 2 and its exponent by up to 0.05. Every design is simulated on
//! every law with 1% loss noise (the same draws for every design), fitted as `saescale fit`
//! does, and judged at C_target = 10× the largest budget: the error of F̂*(C_target) is
//! |ln(F̂*/F*)|, that of L̂* is |L̂*/L* − 1|. The table gives each design's compute and the
//! median and 90th percentile of both errors; the last line names the cheapest adaptive design
//! that reaches the grid's median F* error and how much less compute it spends.
//!
//! Run: `cargo bench -p saescale-pipeline --bench sweep_designs --profile dev` (the dev
//! profile shares the test build; about 7 minutes on 2 cores). Arguments: `--laws N` (default
//! 48), `--noise-seeds N` (default 2). Results: docs/benchmarks/sweep-designs.md.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use saescale_fit::law::JointParams;
use saescale_fit::stats::percentile;
use saescale_fit::Starts;
use saescale_pipeline::design::laws::LawFamily;
use saescale_pipeline::design::simulate::Simulator;
use saescale_sweep::SweepSpec;

/// The quickstart's setting (d = 64, batch 256) and budgets; each design adds its `[sweep]`.
const SETTING: &str = r#"
name = "bench"
[run.data]
source = "synthetic"
d_in = 64
[run.sae]
architecture = "relu"
[run.train]
batch_size = 256
"#;
const BUDGETS: &str = "budgets = [1e11, 2e11, 4e11, 8e11]";
const PRIOR: &str = "[sweep.prior]\nexponent = 0.5\nanchor = { compute = 1e11, features = 256 }\n";
const NOISE: f64 = 0.01;
const KAPPA: f64 = 12.0 * 64.0 * 256.0;

/// The cheaper budgets an isoflop design can add below the grid's: the largest budget, and so
/// C_target, stays the same.
const MORE_BUDGETS: &str = "budgets = [2.5e10, 5e10, 1e11, 2e11, 4e11, 8e11]";

/// A design: its name, whether it is adaptive, and its `[sweep]` table.
fn designs() -> Vec<(String, bool, String)> {
    let mut designs = vec![("grid 5 × 4 (quickstart)".to_string(), false, format!("[sweep]\n{BUDGETS}\nfeatures = [128, 256, 512, 1024, 2048]\n"))];
    let isoflop = |points: usize, budgets: &str, span: f64, adaptive: bool| {
        let n_budgets = budgets.matches(',').count() + 1;
        let name = format!("isoflop {points} × {n_budgets}, span {span}{}", if adaptive { ", adaptive" } else { "" });
        let table = format!("[sweep]\n{budgets}\ndesign = \"isoflop\"\npoints_per_budget = {points}\nspan = {span}\nadaptive = {adaptive}\nmin_steps = 50\n{PRIOR}");
        (name, adaptive, table)
    };
    designs.push(isoflop(4, BUDGETS, 8.0, false));
    for points in [3, 4, 5] {
        designs.push(isoflop(points, BUDGETS, 8.0, true));
    }
    designs.push(isoflop(3, BUDGETS, 16.0, true));
    designs.push(isoflop(3, MORE_BUDGETS, 8.0, true));
    designs.push(isoflop(4, MORE_BUDGETS, 8.0, true));
    designs
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: usize| {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map_or(default, |v| v.parse().expect("a count"))
    };
    let (n_laws, noise_seeds) = (flag("--laws", 48), flag("--noise-seeds", 2));
    let target = 10.0 * 8e11;
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let laws: Vec<JointParams> = (0..n_laws).map(|_| LawFamily::default().draw(1e11, 256.0, 0.5, KAPPA, &mut rng)).collect();

    println!("{n_laws} random SAE-like laws × {noise_seeds} noise draws, {:.0}% loss noise, C_target = {target:.1e} FLOP\n", NOISE * 100.0);
    println!("| design | runs | compute (FLOP) | F* error median | F* error p90 | L* error median | L* error p90 | fits failed |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    for (name, adaptive, table) in designs() {
        let spec = SweepSpec::parse(&format!("{SETTING}{table}"), "bench.toml").expect("a valid design");
        let simulator = Simulator::new(&spec).expect("a usable prior");
        let (mut f_err, mut l_err, mut flops, mut runs, mut failed) = (Vec::new(), Vec::new(), 0.0, 0, 0);
        for (i, law) in laws.iter().enumerate() {
            for seed in 0..noise_seeds as u64 {
                let trial = simulator.trial(law, NOISE, seed * 1_000_003 + i as u64, target, &Starts::ChinchillaGrid).expect("the design plans");
                flops += trial.flops;
                runs = trial.runs;
                match trial.errors() {
                    Some([ratio, loss]) => {
                        f_err.push(ratio.ln().abs());
                        l_err.push(loss.abs());
                    }
                    None => failed += 1,
                }
            }
        }
        let trials = (n_laws * noise_seeds) as f64;
        f_err.sort_by(f64::total_cmp);
        l_err.sort_by(f64::total_cmp);
        let pct = |v: &[f64], q: f64| 100.0 * percentile(v, q);
        let f_median = percentile(&f_err, 50.0);
        println!(
            "| {name} | {runs} | {:.2e} | {:.1}% | {:.1}% | {:.2}% | {:.2}% | {failed} |",
            flops / trials,
            100.0 * f_median.exp_m1(),
            100.0 * percentile(&f_err, 90.0).exp_m1(),
            pct(&l_err, 50.0),
            pct(&l_err, 90.0),
        );
        rows.push((name, adaptive, flops / trials, f_median));
    }
    let (grid_name, _, grid_flops, grid_median) = rows[0].clone();
    let cheapest = rows.iter().filter(|r| r.1 && r.3 <= grid_median).min_by(|a, b| a.2.total_cmp(&b.2));
    println!();
    match cheapest {
        Some((name, _, flops, median)) => println!(
            "cheapest adaptive design reaching the grid's median F* error ({:.1}%): {name}, median {:.1}%, {:.0}% less compute than the {grid_name}",
            100.0 * grid_median.exp_m1(),
            100.0 * median.exp_m1(),
            100.0 * (1.0 - flops / grid_flops)
        ),
        None => println!("no adaptive design reached the grid's median F* error ({:.1}%)", 100.0 * grid_median.exp_m1()),
    }
}
