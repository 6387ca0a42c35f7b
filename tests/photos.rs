//! The hard-photo corpus (`fixtures/photos`, made by
//! `examples/make_photos.rs`: heavy blur, low-contrast colour codes with a
//! logo, 40–60° perspective, a bar across the code, glossy curved
//! packaging): over the four 90° rotations qrpair must read at least as
//! many as zxing-cpp 3.1 did (`fixtures/photos/zxing-cpp.txt`, written by
//! `tools/zxing_corpus.py --record`), and never return bytes that are not
//! the code's content. Each picture holds one code, so any other bytes are
//! a wrong read.
//!
//! Its own test binary, not a module of tests/integration: reads depend on
//! each picture getting its time budget, so nothing else may run beside it.
//! Run in release mode (`cargo test --release --test photos`, a few
//! seconds on two cores): there each picture gets the scanner's real budget. A debug
//! build is given a generous one, so it checks the reads, not the speed.

use qrpair::qr::scan::{scan_picture_with, Picture, Stage, SCAN_BUDGET};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[test]
fn photos_read_at_least_as_well_as_zxing_cpp_and_never_wrongly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/photos");
    let recorded = std::fs::read_to_string(dir.join("zxing-cpp.txt")).expect("zxing-cpp.txt");
    let mut listed = Vec::new();
    for line in recorded.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, reads, zxing_wrong] = fields[..] else { panic!("bad line in zxing-cpp.txt: {line}") };
        assert_eq!(zxing_wrong, "0", "{name}: zxing-cpp read it wrongly; the fixture is suspect");
        listed.push((name.to_string(), reads.parse::<usize>().expect("reads")));
    }
    assert!(listed.len() >= 100, "only {} pictures listed", listed.len());
    // Pictures are shared out over the cores; each scan keeps its own
    // deadline.
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8);
    let results: Vec<(usize, Vec<String>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((name, _)) = listed.get(i) else { break };
                        mine.push((i, scan_four_ways(&dir, name)));
                    }
                    mine
                })
            })
            .collect();
        let mut all: Vec<(usize, (usize, Vec<String>))> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, r)| r).collect()
    });
    let (mut zxing_total, mut ours_total) = (0, 0);
    let mut wrong = Vec::new();
    let mut behind = Vec::new();
    for ((name, zxing_reads), (ours, bad)) in listed.iter().zip(results) {
        if ours < *zxing_reads {
            behind.push(format!("{name}: qrpair {ours}/4, zxing-cpp {zxing_reads}/4"));
        }
        zxing_total += zxing_reads;
        ours_total += ours;
        wrong.extend(bad);
    }
    assert!(wrong.is_empty(), "wrong payloads: {}", wrong.join(", "));
    assert!(
        ours_total >= zxing_total,
        "qrpair read {ours_total}/{} against zxing-cpp's {zxing_total}; behind on:\n{}",
        4 * listed.len(),
        behind.join("\n")
    );
    println!(
        "qrpair {ours_total}/{}, zxing-cpp {zxing_total}; behind zxing-cpp on {} picture(s)",
        4 * listed.len(),
        behind.len()
    );
}

/// Reads out of the four rotations, and the rotations that gave other
/// bytes than the code's content.
fn scan_four_ways(dir: &Path, name: &str) -> (usize, Vec<String>) {
    let budget = if cfg!(debug_assertions) { Duration::from_secs(60) } else { SCAN_BUDGET };
    let image_path = dir.join(name);
    let expected = ["txt", "bin"]
        .iter()
        .find_map(|ext| std::fs::read(image_path.with_extension(ext)).ok())
        .unwrap_or_else(|| panic!("{name}: no expected content"));
    let picture = Picture::from_image(&image::open(&image_path).expect("picture"));
    let (mut reads, mut wrong) = (0, Vec::new());
    for turns in 0..4 {
        let started = Instant::now();
        let result = scan_picture_with(&picture.rotated(turns), &Stage::ALL, started + budget);
        assert!(started.elapsed() < budget + Duration::from_secs(1), "{name} took {:?}", started.elapsed());
        if let Ok(found) = result {
            if found.iter().all(|f| qrpair::source::content(f.bytes.clone()) == expected) {
                reads += 1;
            } else {
                wrong.push(format!("{name} turned {}°", turns * 90));
            }
        }
    }
    (reads, wrong)
}
