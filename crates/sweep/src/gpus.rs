//! This machine's NVIDIA GPUs: which ones runs may be pinned to ([`visible_gpus`]), and
//! whether the driver that CUDA runs need can be loaded at all ([`cuda_driver`]).
//!
//! burn's CUDA backend (through cudarc) loads `libcuda` when it first touches a device and
//! panics if it cannot; [`cuda_driver`] asks first, the same way (dlopen, `cuInit`,
//! `cuDeviceGetCount`), so a CUDA run on a machine without a driver or without a visible GPU
//! (a login node, a CPU-only CI runner, a Slurm job that got no GPU) ends with one line saying
//! what is missing. Nothing here links CUDA: the library is opened at run time, and only when
//! CUDA is asked for.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::process::Stdio;

/// GPU ids visible to this process: `CUDA_VISIBLE_DEVICES` when set, else the GPUs the
/// NVIDIA driver lists in `/proc/driver/nvidia/gpus`, else those `nvidia-smi -L` prints.
pub fn visible_gpus() -> Vec<String> {
    if let Ok(list) = std::env::var("CUDA_VISIBLE_DEVICES") {
        let list = list.trim();
        if list.is_empty() || list == "-1" || list == "none" {
            return Vec::new();
        }
        return list.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    }
    let count = std::fs::read_dir("/proc/driver/nvidia/gpus").map(|d| d.count()).unwrap_or(0);
    let count = if count > 0 {
        count
    } else {
        std::process::Command::new("nvidia-smi")
            .arg("-L")
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map_or(0, |o| String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.starts_with("GPU ")).count())
    };
    (0..count).map(|i| i.to_string()).collect()
}

/// The names cudarc tries for the driver library on Linux, most specific first.
const DRIVER_LIBRARIES: [&str; 2] = ["libcuda.so.1", "libcuda.so"];

/// `CUDA_ERROR_NO_DEVICE` of the driver API: the driver works but sees no GPU.
const CUDA_ERROR_NO_DEVICE: c_int = 100;

/// Loads the NVIDIA driver library and counts the CUDA devices this process can use.
///
/// # Errors
/// A sentence saying what is missing — the driver library (with the loader's reason), or a
/// visible device — for a message that ends with what to do about it.
pub fn cuda_driver() -> Result<usize, String> {
    let handle = open_driver()?;
    let result = count_devices(handle);
    // SAFETY: `handle` came from dlopen and no symbol of it is used after this.
    unsafe { libc::dlclose(handle) };
    result
}

/// dlopen of the first driver library name that loads.
fn open_driver() -> Result<*mut c_void, String> {
    let mut reasons = Vec::new();
    for name in DRIVER_LIBRARIES {
        let c_name = CString::new(name).expect("library names have no NUL byte");
        // SAFETY: dlopen reads the NUL-terminated name; loading the driver runs no code of ours.
        let handle = unsafe { libc::dlopen(c_name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if !handle.is_null() {
            return Ok(handle);
        }
        reasons.push(loader_error().unwrap_or_else(|| format!("{name}: not found")));
    }
    Err(format!("the NVIDIA driver library cannot be loaded ({}): this machine has no NVIDIA driver", reasons.join("; ")))
}

/// `cuInit(0)` and `cuDeviceGetCount` through the loaded driver.
fn count_devices(handle: *mut c_void) -> Result<usize, String> {
    type CuInit = unsafe extern "C" fn(c_uint) -> c_int;
    type CuDeviceGetCount = unsafe extern "C" fn(*mut c_int) -> c_int;
    let symbol = |name: &CStr| {
        // SAFETY: `handle` is a live dlopen handle and `name` is NUL-terminated.
        let address = unsafe { libc::dlsym(handle, name.as_ptr()) };
        if address.is_null() {
            Err(format!("the NVIDIA driver library has no {}; it is too old or not the driver", name.to_string_lossy()))
        } else {
            Ok(address)
        }
    };
    // SAFETY: both symbols are the driver API's, with these C signatures (cuda.h).
    let init = unsafe { std::mem::transmute::<*mut c_void, CuInit>(symbol(c"cuInit")?) };
    let count = unsafe { std::mem::transmute::<*mut c_void, CuDeviceGetCount>(symbol(c"cuDeviceGetCount")?) };
    // SAFETY: cuInit takes flags (0) and may be called more than once; cuDeviceGetCount writes
    // one int we own.
    let status = unsafe { init(0) };
    if status == CUDA_ERROR_NO_DEVICE {
        return Err("the NVIDIA driver sees no GPU (none installed, or CUDA_VISIBLE_DEVICES hides them all)".into());
    }
    if status != 0 {
        return Err(format!("the NVIDIA driver failed to start (cuInit returned CUDA error {status})"));
    }
    let mut devices: c_int = 0;
    // SAFETY: as above.
    let status = unsafe { count(&mut devices) };
    if status != 0 {
        return Err(format!("the NVIDIA driver cannot count its GPUs (cuDeviceGetCount returned CUDA error {status})"));
    }
    if devices <= 0 {
        return Err("the NVIDIA driver sees no GPU (none installed, or CUDA_VISIBLE_DEVICES hides them all)".into());
    }
    Ok(devices as usize)
}

/// The dynamic loader's last error, if it has one.
fn loader_error() -> Option<String> {
    // SAFETY: dlerror returns NULL or a NUL-terminated string valid until the next dl* call,
    // which is copied at once.
    let message: *const c_char = unsafe { libc::dlerror() };
    (!message.is_null()).then(|| unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a machine without the driver (CI) the answer names the library; with one, it counts
    /// at least one device or says why not. Either way it returns instead of panicking.
    #[test]
    fn the_driver_probe_answers_in_one_sentence() {
        match cuda_driver() {
            Ok(devices) => assert!(devices >= 1),
            Err(reason) => assert!(reason.contains("NVIDIA driver") && !reason.contains('\n'), "{reason}"),
        }
    }
}
