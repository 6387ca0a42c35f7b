//! Scanner benchmark on a corpus in the ZXing layout (`N.png` + `N.txt`,
//! in the folder given or its subfolders): exact reads upright and over the
//! four 90° rotations, and median / max decode time per image.
//!
//!     cargo run --release --example scan_corpus -- DIR    # e.g. the ZXing project's blackbox/qrcode-1..6 photos (github.com/zxing/zxing, core/src/test/resources)
//!
//! With a folder of `*.png` + `*.bin` (expected bytes; the screenshot
//! fixtures), the same figures are printed per image size. `--without N`
//! leaves stage N of the pipeline out (`qr::scan::Stage::ALL`), to measure
//! what each stage adds. SHOW_MISSES=1 lists the misses, SHOW_SLOWEST=1
//! the five slowest pictures.

use qrpair::qr::scan::Stage;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn collect(dir: &Path, out: &mut Vec<(PathBuf, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, out);
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("png" | "jpg" | "jpeg")) {
            for ext in ["txt", "bin"] {
                let expected = path.with_extension(ext);
                if expected.exists() {
                    out.push((path.clone(), expected));
                    break;
                }
            }
        }
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| {
        eprintln!("usage: scan_corpus <folder with N.png + N.txt (or .bin)>");
        std::process::exit(2);
    });
    // --without N: leave stage N out, to measure what it adds.
    let args: Vec<String> = std::env::args().collect();
    let without: Option<usize> = args.iter().position(|a| a == "--without").and_then(|i| args.get(i + 1)?.parse().ok());
    let only: Option<usize> = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)?.parse().ok());
    let stages: Vec<Stage> = Stage::ALL
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != without && only.is_none_or(|o| o == *i))
        .map(|(_, s)| *s)
        .collect();
    if let Some(i) = without {
        println!("without stage {i}: {:?}", Stage::ALL.get(i));
    }
    let mut pairs = Vec::new();
    collect(Path::new(&dir), &mut pairs);
    if pairs.is_empty() {
        eprintln!("no image + expected-text pairs under {dir}");
        std::process::exit(2);
    }
    let (mut upright, mut all_rotations) = (0usize, 0usize);
    let mut times = Vec::new();
    let mut by_size: BTreeMap<String, (usize, usize, Vec<Duration>)> = BTreeMap::new();
    let mut misses = Vec::new();
    let mut wrong: Vec<String> = Vec::new();
    let mut slowest: Vec<(Duration, String)> = Vec::new();
    for (image_path, expected_path) in &pairs {
        let expected = std::fs::read(expected_path).unwrap_or_default();
        let Ok(img) = image::open(image_path) else {
            misses.push(format!("{} (unreadable image)", image_path.display()));
            continue;
        };
        // As qrpair loads pictures: BT.601 luma, plus a colour plane for
        // coloured ones.
        let picture = qrpair::qr::scan::Picture::from_image(&img);
        let size = format!("{}×{}", picture.gray.width(), picture.gray.height());
        for turns in 0..4 {
            let rotated = picture.rotated(turns);
            let start = Instant::now();
            let result = qrpair::qr::scan::scan_picture_with(&rotated, &stages, start + qrpair::qr::scan::SCAN_BUDGET);
            let took = start.elapsed();
            times.push(took);
            slowest.push((took, format!("{} rotated {}°", image_path.display(), turns * 90)));
            let ok = match &result {
                Ok(found) if found.iter().any(|f| qrpair::source::content(f.bytes.clone()) == expected) => true,
                // A read that is not the code's content is worse than a miss.
                Ok(found) => {
                    wrong.push(format!("{} rotated {}°: {:02x?}", image_path.display(), turns * 90, found[0].bytes));
                    false
                }
                Err(_) => false,
            };
            let entry = by_size.entry(size.clone()).or_insert((0, 0, Vec::new()));
            entry.1 += 1;
            entry.2.push(took);
            if ok {
                all_rotations += 1;
                entry.0 += 1;
                if turns == 0 {
                    upright += 1;
                }
            } else {
                misses.push(format!("{} rotated {}°", image_path.display(), turns * 90));
            }
        }
    }
    let n = pairs.len();
    println!("wrong reads: {}", wrong.len());
    for w in &wrong {
        println!("  wrong: {w}");
    }
    let max = times.iter().max().copied().unwrap_or_default();
    let med = median(&mut times);
    println!("corpus: {dir} ({n} images)");
    println!("| reads upright | reads, 4 rotations | median / image | max / image |");
    println!("|---:|---:|---:|---:|");
    println!(
        "| {upright}/{n} ({:.1} %) | {all_rotations}/{} ({:.1} %) | {:.1} ms | {:.1} ms |",
        100.0 * upright as f64 / n as f64,
        4 * n,
        100.0 * all_rotations as f64 / (4 * n) as f64,
        med.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    if by_size.len() > 1 && by_size.len() <= 12 {
        println!("\n| size | reads | median | max |\n|---|---:|---:|---:|");
        for (size, (ok, total, mut t)) in by_size {
            let max = t.iter().max().copied().unwrap_or_default();
            println!(
                "| {size} | {ok}/{total} | {:.1} ms | {:.1} ms |",
                median(&mut t).as_secs_f64() * 1e3,
                max.as_secs_f64() * 1e3
            );
        }
    }
    if std::env::var_os("SHOW_SLOWEST").is_some() {
        slowest.sort();
        for (took, what) in slowest.iter().rev().take(5) {
            println!("slow: {:.1} ms {what}", took.as_secs_f64() * 1e3);
        }
    }
    if std::env::var_os("SHOW_MISSES").is_some() {
        for m in misses {
            println!("miss: {m}");
        }
    }
}
