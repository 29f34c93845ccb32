//! Keeps freed memory in the process for the next training step.
//!
//! A training step allocates and frees the same large tensors every time (`[F, d]` gradients
//! and Adam updates, `[batch, F]` pre-activations: 32 MiB and more at F = 16384, d = 512).
//! glibc's malloc serves anything above its mmap threshold (at most 32 MiB by default) with a
//! fresh mapping and unmaps it on free, so every step pays the kernel to fault in and zero
//! those pages again: a quarter of a CPU TopK step's time in `perf`. Raising the mmap and trim
//! thresholds makes freed blocks stay in malloc's heap, where the next step reuses them. The
//! cost is that the process keeps its peak heap until it exits, which a training run reaches
//! anyway.

/// Applies the settings above; call once, first thing in `main`. A no-op off glibc.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const ONE_GIB: libc::c_int = 1 << 30;
        // SAFETY: mallopt only changes malloc's tuning parameters; it is called before any
        // other thread exists. A rejected value (return 0) leaves glibc's default, which is
        // only slower.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, ONE_GIB);
            libc::mallopt(libc::M_TRIM_THRESHOLD, ONE_GIB);
            libc::mallopt(libc::M_TOP_PAD, 256 << 20);
        }
    }
}
