//! What a planned sweep will cost on this machine: each run's wall time and the sweep's, from
//! the throughput `saescale bench` measured (never from guesses), for `saescale plan`.

use std::path::{Path, PathBuf};

use saescale_sweep::estimate::{makespan, Throughput};
use saescale_sweep::executor::LocalDevice;
use saescale_sweep::LocalConfig;

use crate::execute::{Overrides, Trainer};
use crate::sweep::Sweep;
use crate::{Error, Result};

/// Time estimates of a plan.
#[derive(Debug, Clone)]
pub struct PlanEstimate {
    /// The local executor the sweep would run with here, or why it cannot run here as configured.
    pub executor: std::result::Result<LocalConfig, String>,
    /// `cpu` or `cuda`, when the sweep can run here.
    pub device: Option<&'static str>,
    /// CPU threads per run.
    pub threads_per_run: Option<usize>,
    /// Runs at a time.
    pub slots: Option<usize>,
    /// The throughput measurement used, if one was found.
    pub throughput: Option<Throughput>,
    /// Estimated training seconds of each run, in plan order.
    pub seconds: Vec<Option<f64>>,
    /// Estimated wall time of the whole sweep on its slots, largest runs first.
    pub wall_seconds: Option<f64>,
}

impl Sweep {
    /// Estimates the sweep's wall times with the local executor `overrides` choose here and the
    /// throughput measured in `bench` (default: the measurement `saescale bench` saved for the
    /// device). Planning works anywhere, e.g. a GPU sweep on a laptop: when this machine
    /// cannot run the sweep as configured, there are no estimates and
    /// [`PlanEstimate::executor`] says why.
    ///
    /// # Errors
    /// [`Error::BadInput`] when `bench` is given but holds no measurement; [`Error::Sweep`]
    /// when a measurement cannot be read.
    pub fn estimate(&self, overrides: &Overrides, trainer: &Trainer, bench: Option<&Path>) -> Result<PlanEstimate> {
        let executor = overrides.local_config(&self.spec.executor, trainer).map_err(|e| e.to_string());
        let (device, threads_per_run, slots) = match &executor {
            Ok(config) => match &config.device {
                LocalDevice::Cpu { threads_per_run } => (Some("cpu"), Some(*threads_per_run), Some(config.slots)),
                LocalDevice::Cuda { .. } => (Some("cuda"), None, Some(config.slots)),
            },
            Err(_) => (None, None, None),
        };
        let path: Option<PathBuf> = bench.map(Path::to_path_buf).or_else(|| device.and_then(saescale_spec::bench::default_path));
        let throughput = match &path {
            Some(path) => Throughput::load(path)?,
            None => None,
        };
        if let (Some(bench), None) = (bench, &throughput) {
            return Err(Error::bad_input(format!("no throughput measurement at {}", bench.display())));
        }
        let seconds: Vec<Option<f64>> = self.plan.runs.iter().map(|run| throughput.as_ref().map(|t| t.seconds(run, threads_per_run))).collect();
        let measured: Vec<f64> = seconds.iter().flatten().copied().collect();
        let wall_seconds = throughput.as_ref().zip(slots).map(|(_, slots)| makespan(&measured, slots));
        Ok(PlanEstimate { executor, device, threads_per_run, slots, throughput, seconds, wall_seconds })
    }
}
