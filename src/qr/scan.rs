//! Picture → QR payload bytes, for screenshots, photos and saved PNGs.

use super::EcLevel;
use image::{imageops, GrayImage, ImageReader, Limits};
use std::cell::Cell;
use std::io::Cursor;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::Once;

/// No screenshot or photo worth scanning is larger than this file size.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// 8K screenshots are 7680×4320 (33 Mpx); this leaves room for a tall
/// scrolling capture while keeping the decoded buffer well under a GiB.
pub const MAX_SIDE_PX: u32 = 16_384;
pub const MAX_PIXELS: u64 = 64_000_000;

/// Codes are found most reliably when the image's longer side is around this.
const PYRAMID_TARGET_SIDE: u32 = 1600;
/// Below this, modules may be only a pixel or two wide; enlarging helps.
const SMALL_IMAGE_SIDE: u32 = 600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub bytes: Vec<u8>,
    pub version: u8,
    pub ec: EcLevel,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{what} is {size} bytes, more than the {MAX_FILE_BYTES}-byte limit for an image: crop the screenshot or save it smaller")]
    FileTooLarge { what: String, size: u64 },
    #[error("{what} is {w}×{h} pixels, more than qrpair decodes (at most {MAX_SIDE_PX} px a side and {MAX_PIXELS} pixels): crop or scale it down")]
    TooManyPixels { what: String, w: u32, h: u32 },
    #[error("{what} is not an image qrpair can read (PNG, JPEG, WebP, GIF or BMP){detail}")]
    NotAnImage { what: String, detail: String },
    #[error("{what} could not be decoded as an image ({detail}): is the file complete?")]
    Corrupt { what: String, detail: String },
    #[error("no QR code found in {what} (is the code at least 2 px per module? try a larger, sharper screenshot)")]
    NoCode { what: String },
    #[error("found a QR code in {what} but could not read it (blurred, cut off or damaged): take a sharper, larger screenshot of the whole code")]
    Unreadable { what: String },
}

impl ScanError {
    /// True when the file may simply not be finished yet (a screenshot tool
    /// still writing it), so a watcher should look again later.
    pub fn maybe_incomplete(&self) -> bool {
        matches!(self, ScanError::Corrupt { .. } | ScanError::NotAnImage { .. } | ScanError::Io { .. })
    }
}

pub fn scan_path(path: &Path) -> Result<Vec<Found>, ScanError> {
    let what = path.display().to_string();
    let io = |source| ScanError::Io { path: what.clone(), source };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_FILE_BYTES {
        return Err(ScanError::FileTooLarge { what, size });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    scan_image_bytes(&bytes, &what)
}

/// Every distinct code found, in the order the pipeline found them.
pub fn scan_image_bytes(bytes: &[u8], what: &str) -> Result<Vec<Found>, ScanError> {
    let what = what.to_string();
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ScanError::FileTooLarge { what, size: bytes.len() as u64 });
    }
    let gray = load_gray(bytes, &what)?;
    let mut saw_code = false;
    for candidate in variants(&gray) {
        let (found, detected) = decode_all(&candidate);
        saw_code |= detected;
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Err(if saw_code { ScanError::Unreadable { what } } else { ScanError::NoCode { what } })
}

fn load_gray(bytes: &[u8], what: &str) -> Result<GrayImage, ScanError> {
    let not_image = |detail: String| ScanError::NotAnImage { what: what.to_string(), detail };
    let reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| not_image(format!(": {e}")))?;
    if reader.format().is_none() {
        return Err(not_image(String::new()));
    }
    let (w, h) =
        reader.into_dimensions().map_err(|e| ScanError::Corrupt { what: what.to_string(), detail: e.to_string() })?;
    if w > MAX_SIDE_PX || h > MAX_SIDE_PX || (w as u64) * (h as u64) > MAX_PIXELS {
        return Err(ScanError::TooManyPixels { what: what.to_string(), w, h });
    }
    let mut reader =
        ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| not_image(format!(": {e}")))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE_PX);
    limits.max_image_height = Some(MAX_SIDE_PX);
    limits.max_alloc = Some(MAX_PIXELS * 8);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| ScanError::Corrupt { what: what.to_string(), detail: e.to_string() })?;
    Ok(img.to_luma8())
}

/// The image as given, then the transformations that recover codes rqrr
/// misses: a downscaled copy for large screenshots with a small code, an
/// inverted copy for light-on-dark (dark mode) codes, an enlarged copy for
/// tiny codes. Lazily produced so an easy image costs one decode.
fn variants(gray: &GrayImage) -> impl Iterator<Item = GrayImage> + '_ {
    let longest = gray.width().max(gray.height());
    let steps: Vec<Box<dyn Fn(&GrayImage) -> Option<GrayImage>>> = vec![
        Box::new(|g: &GrayImage| Some(g.clone())),
        Box::new(move |g: &GrayImage| (longest > PYRAMID_TARGET_SIDE).then(|| resize(g, PYRAMID_TARGET_SIDE))),
        Box::new(|g: &GrayImage| {
            let mut inv = g.clone();
            imageops::invert(&mut inv);
            Some(inv)
        }),
        Box::new(move |g: &GrayImage| {
            (longest > PYRAMID_TARGET_SIDE).then(|| {
                let mut small = resize(g, PYRAMID_TARGET_SIDE);
                imageops::invert(&mut small);
                small
            })
        }),
        Box::new(move |g: &GrayImage| (longest < SMALL_IMAGE_SIDE).then(|| resize(g, longest * 2))),
        Box::new(move |g: &GrayImage| (longest > 2 * PYRAMID_TARGET_SIDE).then(|| resize(g, PYRAMID_TARGET_SIDE / 2))),
    ];
    steps.into_iter().filter_map(move |step| step(gray))
}

fn resize(g: &GrayImage, longest_side: u32) -> GrayImage {
    let longest = g.width().max(g.height()).max(1);
    let w = ((g.width() as u64 * longest_side as u64) / longest as u64).max(1) as u32;
    let h = ((g.height() as u64 * longest_side as u64) / longest as u64).max(1) as u32;
    let filter = if longest_side < longest { imageops::FilterType::Triangle } else { imageops::FilterType::Nearest };
    imageops::resize(g, w, h, filter)
}

/// Decodes every grid rqrr detects. Returns what was read and whether any
/// grid was detected at all (to tell "no code" from "unreadable code").
fn decode_all(img: &GrayImage) -> (Vec<Found>, bool) {
    let result = quietly_catch_panics(|| {
        let mut prepared = rqrr::PreparedImage::prepare(img.clone());
        let grids = prepared.detect_grids();
        let detected = !grids.is_empty();
        let mut found: Vec<Found> = Vec::new();
        for grid in grids {
            let mut bytes = Vec::new();
            if let Ok(meta) = grid.decode_to(&mut bytes) {
                if found.iter().all(|f| f.bytes != bytes) {
                    found.push(Found { bytes, version: meta.version.0 as u8, ec: ec_from_format_bits(meta.ecc_level) });
                }
            }
        }
        (found, detected)
    });
    result.unwrap_or((Vec::new(), true))
}

/// rqrr reports the two EC bits of the format information as stored in the
/// code (00 = M, 01 = L, 10 = H, 11 = Q).
fn ec_from_format_bits(bits: u16) -> EcLevel {
    match bits & 3 {
        0 => EcLevel::M,
        1 => EcLevel::L,
        2 => EcLevel::H,
        _ => EcLevel::Q,
    }
}

thread_local! {
    static IN_ENGINE: Cell<bool> = const { Cell::new(false) };
}

/// rqrr panics on some malformed images; a panic there means "could not
/// read this code", not a crash, and must not print a backtrace either.
fn quietly_catch_panics<T>(f: impl FnOnce() -> T) -> Option<T> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !IN_ENGINE.with(Cell::get) {
                previous(info);
            }
        }));
    });
    IN_ENGINE.with(|flag| flag.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    IN_ENGINE.with(|flag| flag.set(false));
    result.ok()
}
