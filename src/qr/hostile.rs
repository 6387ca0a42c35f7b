//! Pictures made to stress the scanner: the shapes that once made it run
//! for minutes or take gigabytes, and sheets of many codes. Shared by the
//! regression tests, the `scan_worst` benchmark and the fuzz seeds, so all
//! three look at the same pictures.

use super::{render_qr, EcLevel};
use image::{GrayImage, Luma};

/// A named picture and, for sheets, the contents of every code on it.
pub struct Hostile {
    pub name: String,
    pub image: GrayImage,
    pub codes: Vec<Vec<u8>>,
}

/// Finder-pattern squares at one pixel per module (1:1:3:1:1), repeated
/// every `pitch` pixels on a light ground: every triple looks like a code.
pub fn finder_tiling(side: u32, pitch: u32) -> GrayImage {
    GrayImage::from_fn(side, side, |x, y| {
        let (dx, dy) = ((x % pitch) as i32 - 3, (y % pitch) as i32 - 3);
        let ring = dx.abs().max(dy.abs());
        let dark = (x % pitch) < 7 && (y % pitch) < 7 && (ring == 3 || ring <= 1);
        Luma([if dark { 0 } else { 255 }])
    })
}

/// Random black and white squares of `cell` pixels (a fixed seed, so every
/// run sees the same picture).
pub fn noise(side: u32, cell: u32, seed: u64) -> GrayImage {
    let cells = side.div_ceil(cell) as u64;
    GrayImage::from_fn(side, side, |x, y| {
        let i = (y / cell) as u64 * cells + (x / cell) as u64;
        Luma([if splitmix(seed ^ i) & 1 == 0 { 0 } else { 255 }])
    })
}

/// `columns`×`columns` distinct codes at `module_px` on one light sheet,
/// each with its own 4-module quiet zone.
pub fn sheet(columns: u32, module_px: u32) -> (GrayImage, Vec<Vec<u8>>) {
    let codes: Vec<Vec<u8>> = (0..columns * columns).map(|i| format!("sheet code {i:03}").into_bytes()).collect();
    let rendered: Vec<GrayImage> =
        codes.iter().filter_map(|c| render_qr(c, EcLevel::M).ok()).map(|q| q.to_image(module_px)).collect();
    let cell = rendered.iter().map(|r| r.width()).max().unwrap_or(0);
    let mut sheet = GrayImage::from_pixel(cell * columns, cell * columns, Luma([255]));
    for (i, code) in rendered.iter().enumerate() {
        let (col, row) = (i as u32 % columns, i as u32 / columns);
        image::imageops::replace(&mut sheet, code, (col * cell) as i64, (row * cell) as i64);
    }
    (sheet, codes)
}

/// The set the benchmark and tests run: each must be read or refused in
/// bounded time and memory.
pub fn all() -> Vec<Hostile> {
    let plain = |name: &str, image: GrayImage| Hostile { name: name.to_string(), image, codes: Vec::new() };
    let (sheet25, codes25) = sheet(5, 4);
    let (sheet100, codes100) = sheet(10, 4);
    vec![
        plain("finder tiling 200 px", finder_tiling(200, 12)),
        plain("finder tiling 400 px", finder_tiling(400, 12)),
        plain("finder tiling 1000 px", finder_tiling(1000, 12)),
        plain("noise 1 px, 4000 px", noise(4000, 1, 1)),
        plain("noise 2 px, 3000 px", noise(3000, 2, 2)),
        plain("noise 4 px, 1000 px", noise(1000, 4, 3)),
        Hostile { name: "sheet of 25 codes".into(), image: sheet25, codes: codes25 },
        Hostile { name: "sheet of 100 codes".into(), image: sheet100, codes: codes100 },
    ]
}

/// A PNG that is only a signature, a header declaring `w`×`h` pixels of
/// 8-bit colour type `colour`, and an empty data chunk: what a decoder sees
/// before it allocates anything.
pub fn png_declaring(w: u32, h: u32, colour: u8) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], body: &[u8]| {
        png.extend_from_slice(&(body.len() as u32).to_be_bytes());
        let start = png.len();
        png.extend_from_slice(kind);
        png.extend_from_slice(body);
        let crc = crc32(&png[start..]);
        png.extend_from_slice(&crc.to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, colour, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &[]);
    png
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
