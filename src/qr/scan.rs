//! Picture → QR payload bytes, for screenshots, photos and saved PNGs.
//!
//! The decoding limits, the stage pipeline and the two engines' adapters
//! are one bounded search and share its deadline and budgets, so they stay
//! together here (about 660 lines); the finder search of its own is in
//! `finder.rs`, the hostile test pictures in `hostile.rs`.

use super::transform::{averaged_down, brightest_channel, close_seams, doubled, halve, sharpened, three_quarters};
use super::EcLevel;
use image::{imageops, DynamicImage, GrayImage, ImageReader, Limits};
use std::cell::Cell;
use std::io::Cursor;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::Once;
use std::time::{Duration, Instant};

/// No screenshot or photo worth scanning is larger than this file size.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// 8K screenshots are 7680×4320 (33 Mpx). An RGBA picture this size
/// decodes into 144 MB, and with its grey copy the scan stays under 256 MiB.
pub const MAX_SIDE_PX: u32 = 16_384;
pub const MAX_PIXELS: u64 = 36_000_000;
/// The decoder's own buffer: 8-bit RGBA at `MAX_PIXELS`. A 16-bit picture
/// needs twice that and is refused above half the pixels.
const MAX_DECODE_BYTES: u64 = MAX_PIXELS * 4;
/// A picture is read or given up on within this, whatever it shows; a
/// watched folder must not stall on one picture.
pub const SCAN_BUDGET: Duration = Duration::from_millis(1800);
/// rqrr copies the whole picture for every candidate triple it checks, so
/// it runs only where that stays cheap: few finder patterns, few pixels.
const RQRR_MAX_FINDER_PATTERNS: usize = 24;
const RQRR_MAX_PIXELS: u64 = 4_000_000;

/// Above this, a halved copy is tried first.
const HALVE_ABOVE_SIDE: u32 = 1800;
/// Up to this, enlarging a picture is cheap and helps blurred photos.
const SMALL_IMAGE_SIDE: u32 = 1000;
/// The colour plane and the sharpened copies are averaged down (2×2, 4×4,
/// …) until their longest side is at most this: each of their passes costs
/// no more than the halved copy's, whatever the picture's size.
pub(super) const SHARPEN_MAX_SIDE: u32 = 1600;
/// A blurred code shows at most a few finder-like shapes as given (every
/// photo the sharpened copy read showed 0–3). With more than this and
/// nothing read, the picture is texture: sharpening it is not tried.
const SHARPEN_MAX_PATTERNS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Exactly as the code stores them (Kanji-mode text in Shift JIS, as
    /// rqrr writes it): what they mean is for the caller to decide
    /// (`source::content`).
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
    #[error("{what} is {w}×{h} pixels, more than qrpair decodes (at most {MAX_SIDE_PX} px a side and {} Mpx): crop or scale it down", MAX_PIXELS / 1_000_000)]
    TooManyPixels { what: String, w: u32, h: u32 },
    #[error("{what} holds more than {} MiB, more than any screenshot or photo: give qrpair the image file itself, or save the picture smaller", MAX_FILE_BYTES >> 20)]
    TooLong { what: String },
    #[error("{what} ({w}×{h} pixels in 16-bit or wide colour) needs more memory to decode than qrpair allows: save it as an 8-bit PNG or JPEG, or crop it")]
    TooDeep { what: String, w: u32, h: u32 },
    #[error("{what} has too many code-like shapes ({patterns} finder patterns; a sheet of 100 codes has 300) to search: crop the picture to the code")]
    TooBusy { what: String, patterns: usize },
    #[error("gave up reading {what} after {:.1} s: crop the picture to the code, or use a sharper screenshot", SCAN_BUDGET.as_secs_f64())]
    OutOfTime { what: String },
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
    scan_path_by(path, Instant::now() + SCAN_BUDGET)
}

/// Reads at most `MAX_FILE_BYTES` whatever the path is: a device such as
/// /dev/zero or a pipe reports no size, so the size is checked as it reads.
pub fn scan_path_by(path: &Path, deadline: Instant) -> Result<Vec<Found>, ScanError> {
    let what = path.display().to_string();
    let file = crate::files::open_once(path).map_err(|source| ScanError::Io { path: what.clone(), source })?;
    scan_image_bytes_by(read_picture(file, &what)?, &what, deadline)
}

/// The bytes of an opened picture file: a regular file over
/// `MAX_FILE_BYTES` is refused by its size, anything else (a device, a
/// pipe) after reading one byte past the limit.
pub fn read_picture(file: std::fs::File, what: &str) -> Result<Vec<u8>, ScanError> {
    let io = |source| ScanError::Io { path: what.to_string(), source };
    let meta = file.metadata().map_err(io)?;
    if meta.is_file() && meta.len() > MAX_FILE_BYTES {
        return Err(ScanError::FileTooLarge { what: what.to_string(), size: meta.len() });
    }
    match crate::files::read_capped(file, MAX_FILE_BYTES) {
        Ok(bytes) => Ok(bytes),
        Err(crate::files::ReadError::Io(e)) => Err(io(e)),
        Err(_) => Err(ScanError::TooLong { what: what.to_string() }),
    }
}

/// Every distinct code found, in the order the pipeline found them.
pub fn scan_image_bytes(bytes: &[u8], what: &str) -> Result<Vec<Found>, ScanError> {
    scan_image_bytes_by(bytes.to_vec(), what, Instant::now() + SCAN_BUDGET)
}

pub fn scan_image_bytes_by(bytes: Vec<u8>, what: &str, deadline: Instant) -> Result<Vec<Found>, ScanError> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ScanError::TooLong { what: what.to_string() });
    }
    let picture = load_picture(&bytes, what)?;
    drop(bytes);
    scan_named(&picture, what, deadline)
}

/// One step of the scanning pipeline: a transformation of the picture and
/// the engines run on it. Steps run in order until one reads a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Pictures over 1800 px: the reader on a copy halved by 2×2 averaging. A
    /// 4K screenshot costs a quarter of the time, and a code drawn with 4 px
    /// modules or more still reads.
    Halved,
    /// The reader on the picture as given (dark on light, then light on
    /// dark): fast, and reads most camera photos.
    AsGiven,
    /// Small pictures (≤ 1000 px): enlarged 2× and smoothed, which joins
    /// modules broken up by JPEG blocks or sensor noise; the reader, then
    /// rqrr.
    EnlargedSmoothed,
    /// Scaled to 3/4: a different sampling grid for codes with ~3 px
    /// modules; the reader, then rqrr.
    ThreeQuarters,
    /// One-pixel lines closed (a 3-tap median down, then across): a
    /// terminal that draws half blocks from its font leaves a thin seam at
    /// the edge of every cell, which cuts finder patterns apart.
    SeamsClosed,
    /// Unsharp-masked, averaged down to at most 1600 px first: a blurred
    /// photo's modules get their edges back, and finder patterns whose
    /// rings had run together separate again. A coloured picture is
    /// sharpened in each pixel's brightest channel rather than in luma: a
    /// code printed in two shades of one colour, red on maroon, differs
    /// there twice as much. Skipped when the picture as given showed more
    /// than 16 finder-like shapes (texture, not a blurred code).
    Sharpened,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Halved,
        Stage::AsGiven,
        Stage::EnlargedSmoothed,
        Stage::ThreeQuarters,
        Stage::SeamsClosed,
        Stage::Sharpened,
    ];

    /// Whether rqrr looks at the stage's copy once the reader has read
    /// nothing there: the enlarged and 3/4 copies always; the seams-closed
    /// copy only when the reader saw a code in it (format information read,
    /// data not), which keeps rqrr's cost off noise and codeless pictures.
    fn runs_rqrr(self, reader_saw_code: bool) -> bool {
        match self {
            Stage::EnlargedSmoothed | Stage::ThreeQuarters => true,
            Stage::SeamsClosed => reader_saw_code,
            _ => false,
        }
    }

    /// rqrr thresholds each row against a running average along that row
    /// only, so the same copy turned a quarter is binarized along its
    /// columns instead: a second, different look. Only for the enlarged copy
    /// (pictures up to 1000 px) and only when the reader saw a code there.
    fn runs_rqrr_turned(self, reader_saw_code: bool) -> bool {
        self == Stage::EnlargedSmoothed && reader_saw_code
    }

    /// The transformed picture, or `None` when the stage does not apply.
    fn apply(self, picture: &Picture) -> Option<std::borrow::Cow<'_, GrayImage>> {
        use std::borrow::Cow;
        let g = &picture.gray;
        let longest = g.width().max(g.height());
        match self {
            Stage::Halved => (longest > HALVE_ABOVE_SIDE).then(|| Cow::Owned(halve(g))),
            Stage::AsGiven => Some(Cow::Borrowed(g)),
            Stage::EnlargedSmoothed => {
                (longest <= SMALL_IMAGE_SIDE).then(|| Cow::Owned(imageops::blur(&doubled(g), 1.5)))
            }
            Stage::ThreeQuarters => Some(Cow::Owned(three_quarters(g))),
            // A doubled (HiDPI) screenshot doubles the seams too: halving
            // brings them back to one pixel.
            Stage::SeamsClosed if longest > HALVE_ABOVE_SIDE => Some(Cow::Owned(close_seams(&halve(g)))),
            Stage::SeamsClosed => Some(Cow::Owned(close_seams(g))),
            Stage::Sharpened => Some(Cow::Owned(match &picture.brightest {
                Some(brightest) => sharpened(brightest),
                None => sharpened(&averaged_down(g, SHARPEN_MAX_SIDE)),
            })),
        }
    }
}

/// Why the pipeline read nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    NoCode,
    /// Something shaped like a code was seen but did not read.
    Unreadable,
    /// More finder-like shapes than are searched.
    TooBusy(usize),
    OutOfTime,
}

/// A picture as the pipeline sees it.
#[derive(Debug, Clone)]
pub struct Picture {
    /// ITU-R BT.601 luma, as zxing-cpp computes it.
    pub gray: GrayImage,
    /// Coloured pictures only: each pixel's brightest channel, averaged down
    /// to at most `SHARPEN_MAX_SIDE` (what `Stage::Sharpened` sharpens).
    pub brightest: Option<GrayImage>,
}

impl Picture {
    /// A grey picture (no colour plane).
    pub fn gray(gray: GrayImage) -> Picture {
        Picture { gray, brightest: None }
    }

    /// From a decoded picture. 8-bit RGB(A) is converted here without a
    /// copy; other layouts (16-bit, float) go through `to_luma8` and get no
    /// colour plane, so their conversion costs no more memory than before.
    pub fn from_image(img: &DynamicImage) -> Picture {
        match img {
            DynamicImage::ImageRgb8(rgb) => Picture::from_interleaved(rgb.width(), rgb.height(), rgb.as_raw(), 3),
            DynamicImage::ImageRgba8(rgba) => Picture::from_interleaved(rgba.width(), rgba.height(), rgba.as_raw(), 4),
            DynamicImage::ImageLuma8(gray) => Picture::gray(gray.clone()),
            other => Picture::gray(other.to_luma8()),
        }
    }

    /// From 8-bit pixels with `channels` bytes each (R, G, B first).
    pub fn from_interleaved(w: u32, h: u32, data: &[u8], channels: usize) -> Picture {
        let pixels = w as usize * h as usize;
        let luma: Vec<u8> = data
            .chunks_exact(channels)
            .take(pixels)
            .map(|p| ((p[0] as u32 * 306 + p[1] as u32 * 601 + p[2] as u32 * 117 + 0x200) >> 10) as u8)
            .collect();
        let gray = GrayImage::from_raw(w, h, luma).unwrap_or_default();
        let brightest = brightest_channel(w, h, data, channels);
        Picture { gray, brightest }
    }

    /// Turned by quarter turns clockwise (the corpus benchmark's rotations).
    pub fn rotated(&self, quarter_turns: u32) -> Picture {
        let turn = |g: &GrayImage| match quarter_turns % 4 {
            0 => g.clone(),
            1 => imageops::rotate90(g),
            2 => imageops::rotate180(g),
            _ => imageops::rotate270(g),
        };
        Picture { gray: turn(&self.gray), brightest: self.brightest.as_ref().map(turn) }
    }
}

/// The pipeline restricted to some stages (the benchmark measures what each
/// one adds), stopping at `deadline`.
pub fn scan_gray_with(gray: &GrayImage, stages: &[Stage], deadline: Instant) -> Result<Vec<Found>, Miss> {
    scan_picture_with(&Picture::gray(gray.clone()), stages, deadline)
}

/// The same on a picture with its colour plane.
pub fn scan_picture_with(picture: &Picture, stages: &[Stage], deadline: Instant) -> Result<Vec<Found>, Miss> {
    let gray = &picture.gray;
    let mut saw_code = false;
    let mut busy = None;
    // Finder patterns on the picture as given: what rqrr would face.
    let mut patterns = None;
    for &stage in stages {
        if Instant::now() >= deadline {
            return Err(Miss::OutOfTime);
        }
        let started = Instant::now();
        if stage == Stage::Sharpened && patterns.is_some_and(|n| n > SHARPEN_MAX_PATTERNS) {
            continue;
        }
        let Some(img) = stage.apply(picture) else { continue };
        let pass = super::finder::read(&img, deadline);
        tracing::debug!("scan stage {stage:?}: {} finder patterns", pass.finder_patterns);
        saw_code |= pass.saw_code;
        if pass.too_busy {
            busy = busy.max(Some(pass.finder_patterns));
        }
        if stage == Stage::AsGiven {
            patterns = Some(pass.finder_patterns);
        }
        let mut found: Vec<Found> =
            pass.read.into_iter().map(|r| Found { bytes: r.bytes, version: r.version, ec: r.ec }).collect();
        if found.is_empty() && stage.runs_rqrr(pass.saw_code) && rqrr_affordable(&img, &mut patterns, gray) {
            let (read, detected) = decode_all(&img);
            saw_code |= detected;
            found = read;
            if found.is_empty() && stage.runs_rqrr_turned(pass.saw_code) && Instant::now() < deadline {
                found = decode_all(&imageops::rotate90(&*img)).0;
            }
        }
        tracing::debug!("scan stage {stage:?}: {} code(s) in {:.0?}", found.len(), started.elapsed());
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Err(match busy {
        Some(n) => Miss::TooBusy(n),
        None if Instant::now() >= deadline => Miss::OutOfTime,
        None if saw_code => Miss::Unreadable,
        None => Miss::NoCode,
    })
}

/// rqrr's cost grows with pixels times candidate triples, and it cannot be
/// stopped once started: it runs only on small pictures with few finder
/// patterns.
fn rqrr_affordable(img: &GrayImage, patterns: &mut Option<usize>, original: &GrayImage) -> bool {
    if img.width() as u64 * img.height() as u64 > RQRR_MAX_PIXELS {
        return false;
    }
    let count = *patterns.get_or_insert_with(|| super::finder::count_finder_patterns(original));
    count <= RQRR_MAX_FINDER_PATTERNS
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
fn scan_named(picture: &Picture, what: &str, deadline: Instant) -> Result<Vec<Found>, ScanError> {
    let what = what.to_string();
    scan_picture_with(picture, &Stage::ALL, deadline).map_err(|miss| match miss {
        Miss::NoCode => ScanError::NoCode { what },
        Miss::Unreadable => ScanError::Unreadable { what },
        Miss::TooBusy(patterns) => ScanError::TooBusy { what, patterns },
        Miss::OutOfTime => ScanError::OutOfTime { what },
    })
}

/// An RGBA picture already in memory (the clipboard's), size-checked
/// like a file.
pub fn scan_rgba(w: u32, h: u32, rgba: &[u8], what: &str) -> Result<Vec<Found>, ScanError> {
    check_dimensions(w, h, what)?;
    let pixels = (w as usize) * (h as usize);
    if rgba.len() < pixels * 4 {
        return Err(ScanError::Corrupt { what: what.to_string(), detail: "fewer pixels than its size says".into() });
    }
    let picture = Picture::from_interleaved(w, h, rgba, 4);
    scan_named(&picture, what, Instant::now() + SCAN_BUDGET)
}

fn load_picture(bytes: &[u8], what: &str) -> Result<Picture, ScanError> {
    use image::{ImageDecoder, ImageError};
    let not_image = |detail: String| ScanError::NotAnImage { what: what.to_string(), detail };
    let open = || ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| not_image(format!(": {e}")));
    let mut probe = open()?;
    let Some(format) = probe.format() else {
        return Err(not_image(String::new()));
    };
    let failed = |e: ImageError| match e {
        ImageError::Unsupported(_) => not_image(format!(" ({format:?} pictures are not among them)")),
        e => ScanError::Corrupt { what: what.to_string(), detail: e.to_string() },
    };
    // The stated size first, so a picture declaring billions of pixels is
    // named as too large rather than as broken. The png decoder refuses to
    // even open such a file, so its header is read here.
    if let (Some(b"\x89PNG\r\n\x1a\n"), Some(size)) = (bytes.get(..8), bytes.get(16..24)) {
        let w = u32::from_be_bytes([size[0], size[1], size[2], size[3]]);
        let h = u32::from_be_bytes([size[4], size[5], size[6], size[7]]);
        check_dimensions(w, h, what)?;
    }
    probe.no_limits();
    let (w, h) = probe.into_dimensions().map_err(failed)?;
    check_dimensions(w, h, what)?;
    let mut reader = open()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE_PX);
    limits.max_image_height = Some(MAX_SIDE_PX);
    limits.max_alloc = Some(MAX_DECODE_BYTES + (16 << 20));
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(failed)?;
    if decoder.total_bytes() > MAX_DECODE_BYTES {
        return Err(ScanError::TooDeep { what: what.to_string(), w, h });
    }
    let img = DynamicImage::from_decoder(decoder).map_err(|e| match e {
        ImageError::Limits(_) => ScanError::TooDeep { what: what.to_string(), w, h },
        e => failed(e),
    })?;
    Ok(Picture::from_image(&img))
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
