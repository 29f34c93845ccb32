//! This machine, as runs record it and executors place them: its host name, its CPU model,
//! the NVIDIA GPUs runs may be pinned to ([`visible_gpus`]), whether the driver that CUDA runs
//! need can be loaded at all ([`cuda_driver`]), what a GPU is called ([`cuda_device_name`]) and
//! how much memory it has ([`cuda_device_memory`]).
//!
//! burn's CUDA backend (through cudarc) loads `libcuda` when it first touches a device and
//! panics if it cannot; [`cuda_driver`] asks first, the same way (dlopen, `cuInit`,
//! `cuDeviceGetCount`), so a CUDA run on a machine without a driver or without a visible GPU
//! (a login node, a CPU-only CI runner, a Slurm job that got no GPU) ends with one line saying
//! what is missing. Nothing here links CUDA: the library is opened at run time, and only when
//! CUDA is asked for.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::process::Stdio;

/// This machine's host name (`unknown-host` if the system will not say).
pub fn hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `buffer.len()` bytes into the buffer we own.
    let rc = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if rc != 0 {
        return "unknown-host".into();
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

/// The CPU's model name (Linux: the first `model name` of /proc/cpuinfo), if the system says.
pub fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("model name"))?;
    let name = line.split_once(':')?.1.split_whitespace().collect::<Vec<_>>().join(" ");
    (!name.is_empty()).then_some(name)
}

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

/// The name of CUDA device `index` (`cuDeviceGetName`), e.g. `NVIDIA H200`, where the driver
/// loads and the device exists.
pub fn cuda_device_name(index: usize) -> Option<String> {
    type CuDeviceGetName = unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int;
    with_cuda_device(index, |handle, device| {
        // SAFETY: the driver API's symbol, with this C signature (cuda.h).
        let get_name = unsafe { std::mem::transmute::<*mut c_void, CuDeviceGetName>(symbol(handle, c"cuDeviceGetName").ok()?) };
        let mut buffer = [0 as c_char; 256];
        // SAFETY: cuDeviceGetName writes at most `len` bytes, NUL-terminated, into our buffer.
        let ok = unsafe { get_name(buffer.as_mut_ptr(), buffer.len() as c_int, device) } == 0;
        // SAFETY: the driver wrote a NUL-terminated name into `buffer`.
        ok.then(|| unsafe { CStr::from_ptr(buffer.as_ptr()) }.to_string_lossy().into_owned())
    })
}

/// The memory of CUDA device `index` in bytes (`cuDeviceTotalMem`), where the driver loads and
/// the device exists.
pub fn cuda_device_memory(index: usize) -> Option<u64> {
    type CuDeviceTotalMem = unsafe extern "C" fn(*mut usize, c_int) -> c_int;
    with_cuda_device(index, |handle, device| {
        // SAFETY: the driver API's symbol (the 64-bit `_v2` that cuda.h maps the name to).
        let total = unsafe { std::mem::transmute::<*mut c_void, CuDeviceTotalMem>(symbol(handle, c"cuDeviceTotalMem_v2").ok()?) };
        let mut bytes: usize = 0;
        // SAFETY: cuDeviceTotalMem writes one size_t we own.
        (unsafe { total(&mut bytes, device) } == 0).then_some(bytes as u64)
    })
}

/// Runs `query` on CUDA device `index` (its driver handle and `CUdevice`) with the driver
/// loaded and started; `None` without a driver or such a device.
fn with_cuda_device<T>(index: usize, query: impl FnOnce(*mut c_void, c_int) -> Option<T>) -> Option<T> {
    type CuDeviceGet = unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
    let handle = open_driver().ok()?;
    let answer = (|| {
        count_devices(handle).ok().filter(|&n| index < n)?;
        // SAFETY: the driver API's symbol, with this C signature (cuda.h); cuInit ran in
        // count_devices.
        let get = unsafe { std::mem::transmute::<*mut c_void, CuDeviceGet>(symbol(handle, c"cuDeviceGet").ok()?) };
        let mut device: c_int = 0;
        // SAFETY: cuDeviceGet writes one int we own.
        (unsafe { get(&mut device, index as c_int) } == 0).then_some(())?;
        query(handle, device)
    })();
    // SAFETY: `handle` came from dlopen and no symbol of it is used after this.
    unsafe { libc::dlclose(handle) };
    answer
}

/// The address of the driver's `name`.
fn symbol(handle: *mut c_void, name: &CStr) -> Result<*mut c_void, String> {
    // SAFETY: `handle` is a live dlopen handle and `name` is NUL-terminated.
    let address = unsafe { libc::dlsym(handle, name.as_ptr()) };
    if address.is_null() {
        Err(format!("the NVIDIA driver library has no {}; it is too old or not the driver", name.to_string_lossy()))
    } else {
        Ok(address)
    }
}

/// `cuInit(0)` and `cuDeviceGetCount` through the loaded driver.
fn count_devices(handle: *mut c_void) -> Result<usize, String> {
    type CuInit = unsafe extern "C" fn(c_uint) -> c_int;
    type CuDeviceGetCount = unsafe extern "C" fn(*mut c_int) -> c_int;
    // SAFETY: both symbols are the driver API's, with these C signatures (cuda.h).
    let init = unsafe { std::mem::transmute::<*mut c_void, CuInit>(symbol(handle, c"cuInit")?) };
    let count = unsafe { std::mem::transmute::<*mut c_void, CuDeviceGetCount>(symbol(handle, c"cuDeviceGetCount")?) };
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
    fn the_machine_says_who_it_is() {
        assert!(!hostname().is_empty());
        assert!(cpu_model().is_none_or(|m| !m.is_empty() && !m.contains('\n')));
    }

    #[test]
    fn the_driver_probe_answers_in_one_sentence() {
        match cuda_driver() {
            Ok(devices) => assert!(devices >= 1 && cuda_device_name(0).is_some() && cuda_device_memory(0).is_some_and(|b| b > 0)),
            Err(reason) => assert!(reason.contains("NVIDIA driver") && !reason.contains('\n') && cuda_device_name(0).is_none() && cuda_device_memory(0).is_none(), "{reason}"),
        }
    }
}
