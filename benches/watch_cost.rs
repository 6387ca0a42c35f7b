//! What waiting for the answer costs while nothing happens: `qrpair offer
//! --answer DIR` beside folders of 0, 3 000 and 30 000 files, CPU seconds
//! (every thread's time on a CPU, from /proc) per minute of waiting. The
//! figure must stay flat in the folder's size: only what changes is looked
//! at. A last row waits for a single file that does not exist yet.
//!
//!     cargo bench --bench watch_cost
//!     QRPAIR_WATCH_SECONDS=60 cargo bench --bench watch_cost   # a longer window
//!     QRPAIR_BENCH_BASELINE=OLD_BINARY cargo bench --bench watch_cost   # and an older build

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_qrpair");

/// Time on a CPU of every thread of `pid`, in seconds, from each thread's
/// schedstat (nanoseconds; /proc/PID/stat counts 10 ms ticks, too coarse).
fn cpu_seconds(pid: u32) -> f64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the offerer is running");
    let nanos: u64 = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|line| line.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    nanos as f64 / 1e9
}

fn fill(dir: &Path, files: usize) {
    std::fs::create_dir_all(dir).unwrap();
    // Already there when the wait starts, so never read: their size does
    // not matter, only their number.
    let png = [&b"\x89PNG\r\n\x1a\n"[..], &[0u8; 1016]].concat();
    for i in 0..files {
        std::fs::write(dir.join(format!("IMG_{i:05}.png")), &png).unwrap();
    }
}

/// CPU seconds per minute the offerer spends waiting for `answer`.
fn waiting_cost(bin: &str, work: &Path, answer: &Path, window: Duration) -> f64 {
    let offer = work.join("offer.png");
    let _ = std::fs::remove_file(&offer);
    let mut child = Command::new(bin)
        .args(["offer", "--pipe", "--bind", "127.0.0.1", "--timeout", "10m", "--qr-out"])
        .arg(&offer)
        .arg("--answer")
        .arg(answer)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run qrpair");
    let started = Instant::now();
    while !offer.exists() {
        assert!(started.elapsed() < Duration::from_secs(30), "no offer after 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Past the start: the first look at the folder is paid once.
    std::thread::sleep(Duration::from_secs(2));
    let before = cpu_seconds(child.id());
    let from = Instant::now();
    std::thread::sleep(window);
    let spent = cpu_seconds(child.id()) - before;
    let per_minute = spent / from.elapsed().as_secs_f64() * 60.0;
    let _ = child.kill();
    let _ = child.wait();
    per_minute
}

fn main() {
    let seconds: u64 = std::env::var("QRPAIR_WATCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let window = Duration::from_secs(seconds);
    let baseline = std::env::var("QRPAIR_BENCH_BASELINE").ok();
    let mut builds = vec![("this build", BIN.to_string())];
    builds.extend(baseline.map(|b| ("baseline", b)));
    let work = tempfile::tempdir().expect("temp dir");
    println!("waiting {seconds} s per row; CPU seconds per minute of waiting (all threads)");
    println!("| build | waiting for | files in the folder | CPU s / min |");
    println!("|---|---|---:|---:|");
    for files in [0usize, 3_000, 30_000] {
        let dir = work.path().join(format!("shots-{files}"));
        fill(&dir, files);
        for (name, bin) in &builds {
            let cost = waiting_cost(bin, work.path(), &dir, window);
            println!("| {name} | a new image in a folder | {files} | {cost:.3} |");
        }
    }
    for (name, bin) in &builds {
        let single = waiting_cost(bin, work.path(), &work.path().join("answer.png"), window);
        println!("| {name} | one file not there yet | – | {single:.3} |");
    }
}
