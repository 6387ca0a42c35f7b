//! What the benchmarks share: the files they feed qrpair and how they wait
//! for it.

use std::io::Write;

#[allow(dead_code)]
/// Writes `mib` MiB of reproducible pseudo-random bytes (xorshift64: they do
/// not compress, as most real files do not) and returns their BLAKE3.
pub fn write_pseudo_random(out: &mut impl Write, mib: u64, seed: u64) -> String {
    let mut hasher = blake3::Hasher::new();
    let mut state = seed;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for chunk in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        hasher.update(&block);
        out.write_all(&block).unwrap();
    }
    hasher.finalize().to_hex().to_string()
}

/// Runs to the end and returns (exit code, peak RSS in KiB) from wait4.
#[allow(dead_code)]
pub fn wait_with_rss(child: std::process::Child) -> (i32, i64) {
    let (code, rss, _) = wait_with_usage(child);
    (code, rss)
}

/// Runs to the end and returns (exit code, peak RSS in KiB, CPU seconds in
/// user and kernel mode) from wait4.
#[allow(dead_code)]
pub fn wait_with_usage(child: std::process::Child) -> (i32, i64, f64) {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child with valid out-pointers.
    unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    std::mem::forget(child);
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (libc::WEXITSTATUS(status), usage.ru_maxrss, seconds(usage.ru_utime) + seconds(usage.ru_stime))
}

/// Until `path` exists (a code qrpair writes); 30 s at most.
#[allow(dead_code)]
pub fn wait_for(path: &std::path::Path) {
    let start = std::time::Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < std::time::Duration::from_secs(30), "{} never appeared", path.display());
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}
