//! Wall time of the two expensive fits of docs/METHODS.md §5 on the 240 Chinchilla points:
//! the 4,500-start grid fit (T1) and 4,000 bootstrap replicates each refitted from Hoffmann
//! et al.'s TeX values (T3). Compare with `scipy_reference.py` in this directory, which does
//! the same computation with scipy's L-BFGS-B.
//!
//! Run: `cargo bench -p saescale-fit --bench grid_bootstrap` (threads: rayon's default, one per
//! core; `RAYON_NUM_THREADS=1` for one thread).

use std::time::Instant;

use saescale_fit::bootstrap::{bootstrap_law, BootstrapConfig, BootstrapStart};
use saescale_fit::grid::chinchilla_grid;
use saescale_fit::law::{JointLaw, JointParams};
use saescale_fit::objective::Objective;
use saescale_fit::solver::{multistart, SolverSettings};
use saescale_fit::stats::Spread;
use saescale_fit::Points;

fn chinchilla_240() -> Points {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/chinchilla_epoch_svg_extracted.csv");
    let text = std::fs::read_to_string(path).expect("reference data");
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (n, c, l) = (col("Model Size"), col("Training FLOP"), col("loss"));
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            vec![f[n].parse().unwrap(), f[c].parse().unwrap(), f[l].parse().unwrap()]
        })
        .collect();
    let column = |k: usize| rows.iter().map(|r| r[k]).collect::<Vec<f64>>();
    let points = Points::from_compute(&column(0), &column(1), &column(2), 6.0).unwrap();
    points.drop_highest_loss(5).0
}

fn main() {
    let points = chinchilla_240();
    let objective = Objective::Huber { delta: 1e-3 };
    let settings = SolverSettings::default();
    let threads = rayon::current_num_threads();
    println!("saescale-fit benchmark: {} points, {threads} rayon threads, settings {settings:?}", points.len());

    let grid = chinchilla_grid();
    let start = Instant::now();
    let run = multistart(&JointLaw, objective, &points, &grid, &settings, 1e-9).unwrap();
    let grid_s = start.elapsed().as_secs_f64();
    println!(
        "grid fit:  {:>8.3} s  ({} starts, {} converged, {} within 1e-9 of the best; objective {:.10e})",
        grid_s, run.starts, run.converged, run.at_best, run.best.objective
    );

    let tex = JointParams::hoffmann_tex().to_log();
    let config = BootstrapConfig { replicates: 4000, seed: 42, start: BootstrapStart::Point { theta: tex } };
    let start = Instant::now();
    let reps = bootstrap_law(&JointLaw, objective, &points, &settings, &config, &run.best.theta).unwrap();
    let boot_s = start.elapsed().as_secs_f64();
    let params: Vec<JointParams> = reps.thetas.iter().map(|t| JointParams::from_log(t)).collect();
    let sd = |f: fn(&JointParams) -> f64| Spread::of(params.iter().map(f)).map_or(f64::NAN, |s| s.sd);
    println!(
        "bootstrap: {:>8.3} s  ({} replicates, {} failed, {} restarted; SD A {:.2} B {:.1} E {:.5} alpha {:.5} beta {:.5})",
        boot_s,
        config.replicates,
        reps.failed,
        reps.retried,
        sd(|p| p.A),
        sd(|p| p.B),
        sd(|p| p.E),
        sd(|p| p.alpha),
        sd(|p| p.beta)
    );
    println!("total:     {:>8.3} s", grid_s + boot_s);
}
