//! The trainer process's peak memory, for a run's provenance and for `saescale bench`.
//!
//! On Linux the kernel keeps the high-water mark of the resident set (`VmHWM` in
//! /proc/self/status) and resets it on request (writing `5` to /proc/self/clear_refs, Linux 4.0+);
//! elsewhere there is no reading.

/// Peak resident memory of this process since it started (or since [`reset_peak_rss`]), bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// Starts a new peak: the next [`peak_rss_bytes`] is the peak from now on. Returns whether the
/// system could.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_grows_with_what_the_process_touches() {
        let Some(before) = peak_rss_bytes() else { return };
        // 64 MiB, written so that it is resident.
        let block = vec![1u8; 64 << 20];
        std::hint::black_box(&block);
        let after = peak_rss_bytes().unwrap();
        assert!(after >= before && after >= 64 << 20, "{before} → {after}");
    }
}
