//! Picture → QR payload bytes, for screenshots, photos and saved PNGs.

use super::EcLevel;
use image::{imageops, GrayImage, ImageReader, Limits, Luma};
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

/// Above this, a halved copy is tried first.
const HALVE_ABOVE_SIDE: u32 = 1800;
/// Up to this, enlarging a picture is cheap and helps blurred photos.
const SMALL_IMAGE_SIDE: u32 = 1000;

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
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ScanError::FileTooLarge { what: what.to_string(), size: bytes.len() as u64 });
    }
    scan_named(&load_gray(bytes, what)?, what)
}

/// One step of the scanning pipeline: a transformation of the picture and
/// the engines run on it. Steps run in order until one reads a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Pictures over 1800 px: rxing on a copy halved by 2×2 averaging. A
    /// 4K screenshot costs a quarter of the time, and a code drawn with 4 px
    /// modules or more still reads.
    RxingHalved,
    /// rxing (pure-Rust ZXing port) on the picture as given: fast, and reads
    /// most camera photos.
    RxingAsGiven,
    /// Light-on-dark (dark mode) codes, for rqrr (rxing inverts on its own).
    Inverted,
    /// Small pictures (≤ 1000 px): enlarged 2× and smoothed, which joins
    /// modules broken up by JPEG blocks or sensor noise.
    EnlargedSmoothed,
    /// Scaled to 3/4: a different sampling grid for codes with ~3 px modules.
    ThreeQuarters,
}

impl Stage {
    pub const ALL: [Stage; 5] =
        [Stage::RxingHalved, Stage::RxingAsGiven, Stage::Inverted, Stage::EnlargedSmoothed, Stage::ThreeQuarters];

    /// The transformed picture, or `None` when the stage does not apply.
    fn apply(self, g: &GrayImage) -> Option<std::borrow::Cow<'_, GrayImage>> {
        use std::borrow::Cow;
        let longest = g.width().max(g.height());
        let inverted = |img: GrayImage| {
            let mut img = img;
            imageops::invert(&mut img);
            img
        };
        match self {
            Stage::RxingHalved => (longest > HALVE_ABOVE_SIDE).then(|| Cow::Owned(halve(g))),
            Stage::RxingAsGiven => Some(Cow::Borrowed(g)),
            Stage::Inverted => Some(Cow::Owned(inverted(g.clone()))),
            Stage::EnlargedSmoothed => {
                (longest <= SMALL_IMAGE_SIDE).then(|| Cow::Owned(imageops::blur(&resize(g, longest * 2), 1.5)))
            }
            Stage::ThreeQuarters => Some(Cow::Owned(resize(g, longest * 3 / 4))),
        }
    }
}

/// The scanning pipeline on a decoded grayscale picture. `Err(true)` when a
/// code was seen but not read, `Err(false)` when none was seen.
pub fn scan_gray(gray: &GrayImage) -> Result<Vec<Found>, bool> {
    scan_gray_with(gray, &Stage::ALL)
}

/// The pipeline restricted to some stages (the benchmark measures what each
/// one adds).
pub fn scan_gray_with(gray: &GrayImage, stages: &[Stage]) -> Result<Vec<Found>, bool> {
    let mut saw_code = false;
    for &stage in stages {
        let Some(img) = stage.apply(gray) else { continue };
        let found = match stage {
            Stage::RxingAsGiven | Stage::RxingHalved => decode_rxing(&img),
            _ => {
                let (found, detected) = decode_all(&img);
                saw_code |= detected;
                if found.is_empty() {
                    decode_rxing(&img)
                } else {
                    found
                }
            }
        };
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Err(saw_code)
}

/// rxing, restricted to QR codes, trying harder (rotations, more scanning
/// lines). Returns every distinct code it reads.
fn decode_rxing(gray: &GrayImage) -> Vec<Found> {
    use rxing::{BarcodeFormat, DecodeHints};
    let read = quietly_catch_panics(|| {
        let mut hints = DecodeHints {
            TryHarder: Some(true),
            AlsoInverted: Some(true),
            PossibleFormats: Some(std::collections::HashSet::from([BarcodeFormat::QR_CODE])),
            ..Default::default()
        };
        rxing::helpers::detect_multiple_in_luma_with_hints(
            gray.as_raw().clone(),
            gray.width(),
            gray.height(),
            &mut hints,
        )
        .unwrap_or_default()
    })
    .unwrap_or_default();
    let mut found: Vec<Found> = Vec::new();
    for result in read {
        let bytes = rxing_bytes(&result);
        if bytes.is_empty() || found.iter().any(|f| f.bytes == bytes) {
            continue;
        }
        let ec = match result.getRXingResultMetadata().get(&rxing::RXingResultMetadataType::ERROR_CORRECTION_LEVEL) {
            Some(rxing::RXingResultMetadataValue::ErrorCorrectionLevel(level)) => match level.as_str() {
                "L" => EcLevel::L,
                "Q" => EcLevel::Q,
                "H" => EcLevel::H,
                _ => EcLevel::M,
            },
            _ => EcLevel::M,
        };
        // rxing does not report the version; the smallest byte-mode code
        // for these bytes is exact for qrpair's codes and close for others.
        let version = super::render_qr(&bytes, ec).map(|c| c.version()).unwrap_or(0);
        found.push(Found { bytes, version, ec });
    }
    found
}

/// The payload bytes of an rxing result. Its zxing-cpp port (tried first)
/// keeps the payload bytes of all segments as the result's raw bytes; its
/// Java port keeps the codewords there and the byte-mode segments in the
/// metadata. Either way the bytes go through the same Shift JIS rule as
/// rqrr's, so both engines give the same answer for the same code.
fn rxing_bytes(result: &rxing::RXingResult) -> Vec<u8> {
    let bytes = match result.getRXingResultMetadata().get(&rxing::RXingResultMetadataType::BYTE_SEGMENTS) {
        Some(rxing::RXingResultMetadataValue::ByteSegments(segs)) if segs.concat().len() >= result.getText().len() => {
            segs.concat()
        }
        Some(_) => result.getText().as_bytes().to_vec(),
        None => result.getRawBytes().to_vec(),
    };
    shift_jis_as_utf8(bytes)
}

/// Refuses pictures whose decoded buffer would be larger than a screenshot
/// or photo needs, from their stated size alone.
fn check_dimensions(w: u32, h: u32, what: &str) -> Result<(), ScanError> {
    if w > MAX_SIDE_PX || h > MAX_SIDE_PX || (w as u64) * (h as u64) > MAX_PIXELS {
        return Err(ScanError::TooManyPixels { what: what.to_string(), w, h });
    }
    Ok(())
}

/// The pipeline, with its failure named for a person.
fn scan_named(gray: &GrayImage, what: &str) -> Result<Vec<Found>, ScanError> {
    let what = what.to_string();
    scan_gray(gray)
        .map_err(|detected| if detected { ScanError::Unreadable { what } } else { ScanError::NoCode { what } })
}

/// An RGBA picture already in memory (the clipboard's), size-checked
/// like a file.
pub fn scan_rgba(w: u32, h: u32, rgba: &[u8], what: &str) -> Result<Vec<Found>, ScanError> {
    check_dimensions(w, h, what)?;
    let pixels = (w as usize) * (h as usize);
    if rgba.len() < pixels * 4 {
        return Err(ScanError::Corrupt { what: what.to_string(), detail: "fewer pixels than its size says".into() });
    }
    // ITU-R BT.601 luma, as image's to_luma8 computes it.
    let luma: Vec<u8> = rgba
        .chunks_exact(4)
        .take(pixels)
        .map(|p| ((p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114) / 1000) as u8)
        .collect();
    let gray = GrayImage::from_raw(w, h, luma)
        .ok_or_else(|| ScanError::Corrupt { what: what.to_string(), detail: "bad dimensions".into() })?;
    scan_named(&gray, what)
}

fn load_gray(bytes: &[u8], what: &str) -> Result<GrayImage, ScanError> {
    let not_image = |detail: String| ScanError::NotAnImage { what: what.to_string(), detail };
    let reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| not_image(format!(": {e}")))?;
    if reader.format().is_none() {
        return Err(not_image(String::new()));
    }
    let (w, h) =
        reader.into_dimensions().map_err(|e| ScanError::Corrupt { what: what.to_string(), detail: e.to_string() })?;
    check_dimensions(w, h, what)?;
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

/// 2×2 box average: much cheaper than a filtered resize on a 4K picture.
fn halve(g: &GrayImage) -> GrayImage {
    let (w, h) = (g.width() / 2, g.height() / 2);
    let src = g.as_raw();
    let stride = g.width() as usize;
    GrayImage::from_fn(w, h, |x, y| {
        let (x, y) = (2 * x as usize, 2 * y as usize);
        let sum = src[y * stride + x] as u16
            + src[y * stride + x + 1] as u16
            + src[(y + 1) * stride + x] as u16
            + src[(y + 1) * stride + x + 1] as u16;
        Luma([(sum / 4) as u8])
    })
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
                let bytes = shift_jis_as_utf8(bytes);
                if found.iter().all(|f| f.bytes != bytes) {
                    found.push(Found { bytes, version: meta.version.0 as u8, ec: ec_from_format_bits(meta.ecc_level) });
                }
            }
        }
        (found, detected)
    });
    result.unwrap_or((Vec::new(), true))
}

/// rqrr writes Kanji-mode text in its own encoding, Shift JIS, and says
/// nothing of the mode. Bytes that are not UTF-8, not a qrpair payload, and
/// read cleanly as Shift JIS text with real double-byte characters and no
/// control characters are such text: they are returned as UTF-8, what the
/// code means. Binary payloads fail one of those tests and stay as they are.
fn shift_jis_as_utf8(bytes: Vec<u8>) -> Vec<u8> {
    if std::str::from_utf8(&bytes).is_ok() || crate::signal::decode(&bytes).is_ok() {
        return bytes;
    }
    let Some(text) = encoding_rs::SHIFT_JIS.decode_without_bom_handling_and_without_replacement(&bytes) else {
        return bytes;
    };
    let wide = text.chars().filter(|c| !c.is_ascii()).count();
    let clean = text.chars().all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'));
    if wide >= 2 && clean {
        text.into_owned().into_bytes()
    } else {
        bytes
    }
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
