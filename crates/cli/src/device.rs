//! `--device cpu|cuda|cuda:N` and `--threads N`, and dispatch to the matching burn backend.

use std::fmt;
use std::str::FromStr;

use burn::tensor::backend::Backend;

/// Where training runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// burn's Flex CPU backend.
    Cpu,
    /// A CUDA GPU, by index (`cuda` is `cuda:0`).
    Cuda(usize),
}

impl FromStr for Device {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => text
                .strip_prefix("cuda:")
                .and_then(|index| index.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(|| format!("`{text}` is not a device; expected cpu, cuda or cuda:N")),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(index) => write!(f, "cuda:{index}"),
        }
    }
}

/// Work to run on whichever backend the device selects.
pub trait OnBackend {
    /// What the work returns.
    type Output;
    /// Runs the work on backend `B`.
    fn run<B: Backend>(self, device: B::Device) -> Self::Output;
}

/// Runs `job` on the backend for `device`.
///
/// # Errors
/// A bad-input error when CUDA is asked for in a build without the `cuda` feature, or where
/// the NVIDIA driver or the device is missing ([`check_cuda`]).
pub fn dispatch<J: OnBackend>(device: Device, job: J) -> anyhow::Result<J::Output> {
    match device {
        Device::Cpu => Ok(job.run::<burn::backend::Flex>(Default::default())),
        #[cfg(feature = "cuda")]
        Device::Cuda(index) => {
            check_cuda(index)?;
            Ok(job.run::<burn::backend::Cuda>(burn::backend::cuda::CudaDevice::new(index)))
        }
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => Err(built_without_cuda()),
    }
}

/// Checks that `device` can be used, without touching it: for work that runs `device` in
/// child processes and should fail once, here, rather than once in each of them.
///
/// # Errors
/// As [`dispatch`]: CUDA in a build without the `cuda` feature, or no NVIDIA driver or device.
pub fn check_available(device: Device) -> anyhow::Result<()> {
    match device {
        Device::Cpu => Ok(()),
        #[cfg(feature = "cuda")]
        Device::Cuda(index) => check_cuda(index),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => Err(built_without_cuda()),
    }
}

#[cfg(not(feature = "cuda"))]
fn built_without_cuda() -> anyhow::Error {
    crate::exit::bad_input("this saescale was built without CUDA support; rebuild with `cargo build --release --features cuda`")
}

/// Checks, before burn touches the device (its CUDA backend panics where the driver cannot be
/// loaded), that the NVIDIA driver loads and `cuda:index` exists.
///
/// # Errors
/// A bad-input error (exit 2) in one line: what is missing and what to do.
#[cfg(feature = "cuda")]
fn check_cuda(index: usize) -> anyhow::Result<()> {
    let what_to_do = "use --device cpu, or run where an NVIDIA GPU and its driver are";
    match saescale_sweep::machine::cuda_driver() {
        Err(reason) => Err(crate::exit::bad_input(format!("--device cuda:{index}: {reason}; {what_to_do}"))),
        Ok(devices) if index >= devices => {
            Err(crate::exit::bad_input(format!("--device cuda:{index}: the NVIDIA driver sees {devices} GPU(s), cuda:0 to cuda:{}; {what_to_do}", devices - 1)))
        }
        Ok(_) => Ok(()),
    }
}

/// Sizes the CPU thread pool used by the matmuls (default: one thread per core).
///
/// # Errors
/// When the pool was already built, which would be a bug in the caller.
pub fn set_cpu_threads(threads: Option<usize>) -> anyhow::Result<()> {
    if let Some(threads) = threads {
        if threads == 0 {
            return Err(crate::exit::bad_input("--threads must be at least 1"));
        }
        rayon::ThreadPoolBuilder::new().num_threads(threads).build_global()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse() {
        assert_eq!("cpu".parse(), Ok(Device::Cpu));
        assert_eq!("cuda".parse(), Ok(Device::Cuda(0)));
        assert_eq!("cuda:3".parse(), Ok(Device::Cuda(3)));
        assert!("gpu".parse::<Device>().unwrap_err().contains("cpu, cuda or cuda:N"));
        assert!("cuda:x".parse::<Device>().is_err());
    }
}
