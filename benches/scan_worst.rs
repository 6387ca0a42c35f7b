//! The scanner's worst cases: pictures built to make a QR detector search
//! forever (finder-pattern tilings, noise) and sheets of many codes, each
//! run through the release binary (`qrpair decode --all --json`) as a user would,
//! with wall time and peak RSS. Every picture must be read or refused
//! within 2 s and 256 MiB; sheets must give every code.
//!
//!     cargo bench --bench scan_worst

#[path = "common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_qrpair");

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    // QRPAIR_KEEP_PICTURES=DIR keeps the pictures there, to look at or to
    // run by hand.
    let kept = std::env::var_os("QRPAIR_KEEP_PICTURES").map(std::path::PathBuf::from);
    let folder = kept.as_deref().unwrap_or(dir.path());
    let mut pictures = qrpair::qr::hostile::all();
    // The largest picture qrpair accepts, as an RGB PNG of noise (nothing
    // compresses it): decoding alone is most of the budget.
    let side = (qrpair::qr::scan::MAX_PIXELS as f64).sqrt() as u32;
    pictures.push(qrpair::qr::hostile::Hostile {
        name: format!("noise 3 px, {side} px (the pixel limit)"),
        image: qrpair::qr::hostile::noise(side, 3, 4),
        codes: Vec::new(),
    });
    println!("| picture | codes read | exit | outcome | time | peak RSS |");
    println!("|---|---:|---:|---|---:|---:|");
    let (mut worst_time, mut worst_rss) = (0.0f64, 0i64);
    for picture in pictures {
        let path = folder.join(format!("{}.png", picture.name.replace([' ', ','], "_")));
        picture.image.save(&path).expect("write picture");
        let start = Instant::now();
        let mut child = Command::new(BIN)
            .args(["decode", "--all", "--json"])
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run qrpair");
        let mut stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let reader = std::thread::spawn(move || {
            let (mut o, mut e) = (String::new(), String::new());
            use std::io::Read;
            let _ = stdout.read_to_string(&mut o);
            let _ = stderr.read_to_string(&mut e);
            (o, e)
        });
        let (code, rss_kib) = common::wait_with_rss(child);
        let took = start.elapsed().as_secs_f64();
        let (stdout, stderr) = reader.join().unwrap_or_default();
        let read = picture.codes.iter().filter(|c| stdout.contains(std::str::from_utf8(c).unwrap_or("\u{0}"))).count();
        let outcome = stderr.lines().last().unwrap_or("").chars().take(70).collect::<String>();
        println!(
            "| {} | {read}/{} | {code} | {} | {:.2} s | {} MiB |",
            picture.name,
            picture.codes.len(),
            if outcome.is_empty() { "read".to_string() } else { outcome },
            took,
            rss_kib / 1024
        );
        worst_time = worst_time.max(took);
        worst_rss = worst_rss.max(rss_kib);
    }
    println!("\nworst case: {worst_time:.2} s, {} MiB peak RSS (limits: 2 s, 256 MiB)", worst_rss / 1024);
}
