//! Wall-time estimates from measured throughput (`saescale bench`), never from guesses.
//!
//! `saescale bench --device cpu --json` saves `$XDG_CACHE_HOME/saescale/bench-cpu.json`
//! (default `~/.cache/saescale/`; [`saescale_spec::bench`]): achieved GFLOP/s at several
//! (d, F, batch) sizes. A run's time is its FLOP divided by the GFLOP/s interpolated at its
//! step size, linearly in log(d·F·batch) between the two nearest measured sizes (clamped at the
//! ends), scaled down when a run gets fewer threads than the bench used. Without the file there
//! is no estimate.
//!
//! The estimate counts training steps only, not process start-up, the normalisation sample or
//! the held-out evaluation; for the quickstart on a 2-core CPU it said 3m56s where the sweep
//! took 5m02s, so read it as a lower bound.

use std::path::{Path, PathBuf};

use saescale_spec::bench::{BenchReport, StepThroughput};
use saescale_spec::Precision;

use crate::plan::PlannedRun;
use crate::store::files::read_json;
use crate::{Error, Result};

/// Measured training throughput of one device.
#[derive(Debug, Clone, PartialEq)]
pub struct Throughput {
    /// Where it was read from.
    pub path: PathBuf,
    /// Threads the bench used (CPU).
    pub threads: Option<usize>,
    /// Memory of the GPU the bench measured, bytes (GPU benches only).
    pub device_memory_bytes: Option<u64>,
    /// `(ln(d·F·batch), GFLOP/s)`, sorted by size.
    points: Vec<(f64, f64)>,
}

impl Throughput {
    /// Reads a bench result; `Ok(None)` when the file does not exist.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read, [`Error::Corrupt`] when it has no usable result.
    pub fn load(path: &Path) -> Result<Option<Throughput>> {
        let Some(report) = read_json::<BenchReport>(path)? else { return Ok(None) };
        // Runs use bf16 matmuls where there is a GPU (the trainer's default there) and f32 on
        // CPU, so a file that measured bf16 (a GPU's) is read at bf16 and any other at f32.
        let wanted = if report.results.iter().any(|r| r.precision == Precision::Bf16) { Precision::Bf16 } else { Precision::F32 };
        let size = |r: &StepThroughput| (r.d_in as f64 * r.features as f64 * r.batch_size as f64).ln();
        let mut points: Vec<(f64, f64)> = report
            .results
            .iter()
            .filter(|r| r.precision == wanted && r.gflops > 0.0 && r.gflops.is_finite())
            .map(|r| (size(r), r.gflops))
            .collect();
        if points.is_empty() {
            return Err(Error::Corrupt { path: path.to_path_buf(), reason: "no result with a positive gflops".into() });
        }
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(Some(Throughput { path: path.to_path_buf(), threads: report.threads, device_memory_bytes: report.device_memory_bytes, points }))
    }

    /// A throughput from `(d_in, features, batch_size, gflops)` measurements.
    pub fn from_points(measured: &[(usize, usize, usize, f64)], threads: Option<usize>) -> Throughput {
        let mut points: Vec<(f64, f64)> =
            measured.iter().map(|&(d, f, b, g)| ((d as f64 * f as f64 * b as f64).ln(), g)).collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        Throughput { path: PathBuf::new(), threads, device_memory_bytes: None, points }
    }

    /// GFLOP/s expected at a step of this size.
    pub fn gflops_at(&self, d_in: usize, features: usize, batch_size: usize) -> f64 {
        let x = (d_in as f64 * features as f64 * batch_size as f64).ln();
        let points = &self.points;
        let (first, last) = (points[0], points[points.len() - 1]);
        if x <= first.0 {
            return first.1;
        }
        if x >= last.0 {
            return last.1;
        }
        let upper = points.iter().position(|p| p.0 >= x).unwrap_or(points.len() - 1);
        let (a, b) = (points[upper - 1], points[upper]);
        if b.0 == a.0 {
            return b.1;
        }
        a.1 + (b.1 - a.1) * (x - a.0) / (b.0 - a.0)
    }

    /// Estimated training seconds of a run that gets `threads` CPU threads (`None`: as many
    /// as the bench used).
    pub fn seconds(&self, run: &PlannedRun, threads: Option<usize>) -> f64 {
        let d_in = run.spec.d_in();
        let mut gflops = self.gflops_at(d_in, run.features, run.spec.train.batch_size);
        if let (Some(bench), Some(run_threads)) = (self.threads, threads) {
            if bench > 0 {
                gflops *= (run_threads as f64 / bench as f64).min(1.0);
            }
        }
        run.flops / (gflops * 1e9)
    }
}

/// Makespan of jobs of these durations on `slots` parallel slots, largest first (the order
/// the supervisor uses).
pub fn makespan(durations: &[f64], slots: usize) -> f64 {
    let mut sorted = durations.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let mut free = vec![0.0f64; slots.max(1)];
    for d in sorted {
        // `free` is never empty, so a minimum exists.
        let earliest = free.iter_mut().min_by(|a, b| a.total_cmp(b)).expect("at least one slot");
        *earliest += d;
    }
    free.into_iter().fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_in_log_size_and_clamps() {
        let t = Throughput::from_points(&[(64, 100, 100, 10.0), (64, 10_000, 100, 30.0)], None);
        assert_eq!(t.gflops_at(64, 10, 100), 10.0);
        assert_eq!(t.gflops_at(64, 1_000_000, 100), 30.0);
        // 1000 is halfway between 100 and 10000 in log size.
        assert!((t.gflops_at(64, 1000, 100) - 20.0).abs() < 1e-9);
    }

    #[test]
    fn makespan_places_largest_first() {
        // Largest first: 3|3, 5|3, 5|5, 7|5 (the optimum, 6, needs 3+3 | 2+2+2; LPT is greedy).
        assert_eq!(makespan(&[3.0, 3.0, 2.0, 2.0, 2.0], 2), 7.0);
        assert_eq!(makespan(&[4.0, 3.0, 2.0, 1.0], 2), 5.0);
        assert_eq!(makespan(&[5.0], 4), 5.0);
        assert_eq!(makespan(&[], 2), 0.0);
    }

    #[test]
    fn reads_the_bench_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench-cpu.json");
        assert_eq!(Throughput::load(&path).unwrap(), None);
        std::fs::write(&path, r#"{"device":"cpu","threads":2,"matmul_peak_gflops":50.0,
            "results":[{"d_in":64,"features":512,"batch_size":256,"tokens_per_s":1e5,"gflops":12.5}]}"#)
            .unwrap();
        let t = Throughput::load(&path).unwrap().unwrap();
        assert_eq!((t.threads, t.gflops_at(1, 1, 1)), (Some(2), 12.5));
    }

    #[test]
    fn a_gpu_file_is_read_at_bf16() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench-cuda.json");
        std::fs::write(&path, r#"{"device":"cuda","results":[
            {"d_in":512,"features":16384,"batch_size":4096,"precision":"f32","gflops":100.0},
            {"d_in":512,"features":16384,"batch_size":4096,"precision":"bf16","gflops":300.0}]}"#)
            .unwrap();
        assert_eq!(Throughput::load(&path).unwrap().unwrap().gflops_at(512, 16384, 4096), 300.0);
    }
}
