//! Soak: 100 000 chat lines, then 4 GiB through --pipe, between two real
//! qrpair processes on loopback. Checks that nothing is lost or reordered
//! (every line in order; the byte stream's BLAKE3 and length) and that
//! memory stays flat: each process's resident size is sampled every 100 ms
//! and printed at 10 %, 50 % and 100 % of the run with its peak.
//!
//!     cargo bench --bench soak
//!     QRPAIR_SOAK_MIB=512 QRPAIR_SOAK_LINES=10000 cargo bench --bench soak

use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_qrpair");

fn spawn(dir: &Path, args: &[&str], log: &str) -> Child {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join(log)).unwrap())
        .spawn()
        .unwrap()
}

fn pair(dir: &Path, mode: &str) -> (Child, Child) {
    for f in ["offer.png", "answer.png"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let lo = ["--bind", "127.0.0.1"];
    let offerer =
        spawn(dir, &[&["offer", mode, "--qr-out", "offer.png", "--answer", "answer.png"][..], &lo].concat(), "o.log");
    let start = Instant::now();
    while !dir.join("offer.png").exists() {
        assert!(start.elapsed() < Duration::from_secs(30), "no offer");
        std::thread::sleep(Duration::from_millis(5));
    }
    let answerer = spawn(dir, &[&["answer", "offer.png", mode, "--qr-out", "answer.png"][..], &lo].concat(), "a.log");
    (offerer, answerer)
}

/// Resident-set samples (KiB) of a process until `stop`.
fn sample_rss(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<u64>> {
    std::thread::spawn(move || {
        let mut samples = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            if let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            {
                samples.push(kib);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        samples
    })
}

fn report(what: &str, samples: &[u64]) -> u64 {
    if samples.is_empty() {
        println!("| {what} | no samples |");
        return 0;
    }
    let at = |f: f64| samples[((samples.len() - 1) as f64 * f) as usize] / 1024;
    let peak = samples.iter().max().copied().unwrap_or(0) / 1024;
    println!("| {what} | {} / {} / {} MiB, peak {peak} MiB ({} samples) |", at(0.1), at(0.5), at(1.0), samples.len());
    peak
}

fn wait(mut child: Child, what: &str, dir: &Path, log: &str) {
    let status = child.wait().unwrap();
    assert!(status.success(), "{what} failed: {}", std::fs::read_to_string(dir.join(log)).unwrap_or_default());
}

fn chat(dir: &Path, lines: usize) {
    let (mut offerer, mut answerer) = pair(dir, "--chat");
    let stop = Arc::new(AtomicBool::new(false));
    let rss = [sample_rss(offerer.id(), stop.clone()), sample_rss(answerer.id(), stop.clone())];
    let started = Instant::now();
    let mut input = offerer.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let mut w = std::io::BufWriter::new(&mut input);
        for i in 0..lines {
            writeln!(w, "line {i:06} of the soak test, with some words to make it a realistic chat line").unwrap();
        }
    });
    // The answerer's stdin stays open: the offerer's end of input ends the chat.
    let _keep_open = answerer.stdin.take();
    let out = std::io::BufReader::new(answerer.stdout.take().unwrap());
    let mut expected = 0usize;
    for line in out.lines() {
        let line = line.unwrap();
        if line == "-- the peer left the chat" && expected == lines {
            continue;
        }
        let want =
            format!("peer> line {expected:06} of the soak test, with some words to make it a realistic chat line");
        assert_eq!(line, want, "line {expected} lost or out of order");
        expected += 1;
    }
    writer.join().unwrap();
    wait(offerer, "chat offerer", dir, "o.log");
    wait(answerer, "chat answerer", dir, "a.log");
    stop.store(true, Ordering::Relaxed);
    assert_eq!(expected, lines, "lines lost");
    let secs = started.elapsed().as_secs_f64();
    println!("| {lines} chat lines, all in order | {secs:.1} s, {:.0} lines/s |", lines as f64 / secs);
    let [o, a] = rss.map(|h| h.join().unwrap());
    report("chat RSS offerer at 10 % / 50 % / end", &o);
    report("chat RSS answerer at 10 % / 50 % / end", &a);
}

fn pipe(dir: &Path, mib: u64) {
    let (mut offerer, mut answerer) = pair(dir, "--pipe");
    let stop = Arc::new(AtomicBool::new(false));
    let rss = [sample_rss(offerer.id(), stop.clone()), sample_rss(answerer.id(), stop.clone())];
    let started = Instant::now();
    let total = mib << 20;
    let sent_digest = Arc::new(Mutex::new(String::new()));
    let mut input = offerer.stdin.take().unwrap();
    let writer = {
        let sent_digest = sent_digest.clone();
        std::thread::spawn(move || {
            *sent_digest.lock().unwrap() = common::write_pseudo_random(&mut input, mib, 0x2545_f491_4f6c_dd1d);
        })
    };
    drop(answerer.stdin.take()); // nothing the other way
    let mut out = answerer.stdout.take().unwrap();
    let mut hasher = blake3::Hasher::new();
    let mut received = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = out.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        received += n as u64;
    }
    writer.join().unwrap();
    wait(offerer, "pipe offerer", dir, "o.log");
    wait(answerer, "pipe answerer", dir, "a.log");
    stop.store(true, Ordering::Relaxed);
    assert_eq!(received, total, "bytes lost");
    assert_eq!(hasher.finalize().to_hex().to_string(), *sent_digest.lock().unwrap(), "stream differs");
    let secs = started.elapsed().as_secs_f64();
    println!("| {mib} MiB through --pipe, BLAKE3 identical | {secs:.1} s, {:.0} MiB/s |", mib as f64 / secs);
    let [o, a] = rss.map(|h| h.join().unwrap());
    let peaks =
        [report("pipe RSS offerer at 10 % / 50 % / end", &o), report("pipe RSS answerer at 10 % / 50 % / end", &a)];
    // Flat: whatever is resident once streaming is under way, the end holds
    // no more than a few MiB beyond it.
    for (name, samples) in [("offerer", &o), ("answerer", &a)] {
        if samples.len() >= 10 {
            let early = samples[samples.len() / 10];
            let late = *samples.last().unwrap_or(&early);
            assert!(late <= early + 16 * 1024, "{name} RSS grew from {early} KiB to {late} KiB");
        }
    }
    let _ = peaks;
}

fn main() {
    let lines: usize = std::env::var("QRPAIR_SOAK_LINES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let mib: u64 = std::env::var("QRPAIR_SOAK_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(4096);
    let dir = tempfile::tempdir().unwrap();
    println!("| soak | result |\n|---|---|");
    chat(dir.path(), lines);
    pipe(dir.path(), mib);
}
