//! A QR reader with bounded work, built from rxing's port of zxing-cpp's
//! detector pieces.
//!
//! rxing's own multi-code reader pairs every finder pattern with every other
//! two and keeps every plausible triple (zxing-cpp caps them at 256; the port
//! lost the cap), so a picture tiled with finder-like squares ran for minutes
//! and took gigabytes. Here the triples come only from each pattern's nearest
//! neighbours, at most `MAX_SETS` of them are kept (the most square first),
//! the number of patterns is capped, and the caller's deadline is checked
//! between attempts. Only zxing-cpp's decoder is used: it returns the code's
//! content, where the Java port's path could hand back raw codewords.

use super::EcLevel;
use image::GrayImage;
use rxing::common::cpp_essentials::ConcentricPattern;
use rxing::common::{BitMatrix, DetectorRXingResult, HybridBinarizer};
use rxing::qrcode::cpp_port::decoder::Decode;
use rxing::qrcode::cpp_port::detector::{FindFinderPatterns, FinderPatternSet, SampleQR};
use rxing::{Binarizer, Luma8LuminanceSource};
use std::collections::{BinaryHeap, HashSet};
use std::time::Instant;

/// Three finder patterns a code; a sheet of 100 codes has 300. A picture
/// with far more is a pattern, not a page of codes, and searching it would
/// cost more than any screenshot is worth.
pub const MAX_FINDER_PATTERNS: usize = 480;
/// Each pattern is grouped only with this many nearest patterns of similar
/// size: the other two corners of its code are among them even on a sheet
/// of codes packed with a 4-module margin.
const NEIGHBOURS: usize = 10;
/// A code's three squares plus the look-alikes a photo or a code's own
/// data can hold. With more than this and nothing read, a "found a code but
/// could not read it" would be a guess: the picture is texture.
const MAX_PATTERNS_OF_ONE_CODE: usize = 12;
/// Candidate triples kept for sampling, most right-angled first.
const MAX_SETS: usize = 4096;

/// One code read: content bytes, version, EC level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub bytes: Vec<u8>,
    pub version: u8,
    pub ec: EcLevel,
}

/// What one pass over a picture found.
#[derive(Debug, Default)]
pub struct Pass {
    pub read: Vec<Read>,
    /// Finder patterns seen (on the polarity that read, or the busier one).
    pub finder_patterns: usize,
    /// Some triple of patterns looked like a code, whether or not it read.
    pub saw_code: bool,
    /// The picture had more finder-like shapes than are searched.
    pub too_busy: bool,
    /// The deadline passed before the search finished.
    pub out_of_time: bool,
}

/// Reads every code in `gray`, dark-on-light first, then light-on-dark if
/// that read nothing; then, only where a code was seen but did not read,
/// dark-on-light once more with the picture binarized as its negative.
///
/// The binarizer takes a flat (low-contrast) block for light unless its
/// neighbours say otherwise, so a light card on a dark table comes out with
/// patches of the table white, right up to the card's edge, and the
/// thresholds of the code's border blocks move with them. Binarizing the
/// negative takes flat blocks for dark: the table stays dark. It costs one
/// more binarization and finder search, spent only on pictures with few
/// finder patterns whose grid read its format information.
pub fn read(gray: &GrayImage, deadline: Instant) -> Pass {
    let Some(mut matrix) = binarized(gray, gray.as_raw().clone()) else {
        return Pass::default();
    };
    let first = read_matrix(&matrix, deadline);
    if !first.read.is_empty() || first.out_of_time || Instant::now() >= deadline {
        return first;
    }
    matrix.flip_self();
    let second = read_matrix(&matrix, deadline);
    if !second.read.is_empty() {
        return second;
    }
    let mut pass = Pass {
        read: Vec::new(),
        finder_patterns: first.finder_patterns.max(second.finder_patterns),
        saw_code: first.saw_code || second.saw_code,
        too_busy: first.too_busy || second.too_busy,
        out_of_time: second.out_of_time,
    };
    if !pass.saw_code || pass.out_of_time || Instant::now() >= deadline {
        return pass;
    }
    drop(matrix);
    let Some(mut negative) = binarized(gray, gray.as_raw().iter().map(|&v| !v).collect()) else {
        return pass;
    };
    negative.flip_self();
    let third = read_matrix(&negative, deadline);
    if !third.read.is_empty() {
        return third;
    }
    // The counts stay those of the picture as given: the caller compares
    // them with its limits.
    pass.out_of_time = third.out_of_time;
    pass
}

/// `luma` (the size of `gray`) binarized by zxing's local-average binarizer.
fn binarized(gray: &GrayImage, luma: Vec<u8>) -> Option<BitMatrix> {
    let source = Luma8LuminanceSource::new(luma, gray.width(), gray.height());
    HybridBinarizer::new(source).get_black_matrix().ok().cloned()
}

/// Counts finder patterns only: a cheap look at how busy a picture is.
pub fn count_finder_patterns(gray: &GrayImage) -> usize {
    let source = Luma8LuminanceSource::new(gray.as_raw().clone(), gray.width(), gray.height());
    let binarizer = HybridBinarizer::new(source);
    binarizer.get_black_matrix().map(|m| FindFinderPatterns(m, true).len()).unwrap_or(0)
}

fn read_matrix(matrix: &BitMatrix, deadline: Instant) -> Pass {
    let patterns = FindFinderPatterns(matrix, true);
    let mut pass = Pass { finder_patterns: patterns.len(), ..Pass::default() };
    if patterns.len() > MAX_FINDER_PATTERNS {
        pass.too_busy = true;
        return pass;
    }
    let sets = plausible_sets(&patterns);
    let mut used: HashSet<(i64, i64)> = HashSet::new();
    let key = |p: &ConcentricPattern| ((p.p.x * 4.0) as i64, (p.p.y * 4.0) as i64);
    for set in sets {
        if Instant::now() >= deadline {
            pass.out_of_time = true;
            break;
        }
        if [&set.bl, &set.tl, &set.tr].iter().any(|p| used.contains(&key(p))) {
            continue;
        }
        let Ok(detected) = SampleQR(matrix, &set) else { continue };
        let decoded = match Decode(detected.getBits()) {
            Ok(decoded) if decoded.isValid() => decoded,
            Ok(_) => continue,
            Err(e) => {
                // Past the format information, this was a code that did not
                // read; before it, three squares that happened to line up.
                let text = e.to_string();
                pass.saw_code |= !["symbol size", "format information", "version"].iter().any(|w| text.contains(w))
                    && patterns.len() <= MAX_PATTERNS_OF_ONE_CODE;
                continue;
            }
        };
        for p in [&set.bl, &set.tl, &set.tr] {
            used.insert(key(p));
        }
        let bytes = decoded.content().bytes().to_vec();
        if bytes.is_empty() || pass.read.iter().any(|r| r.bytes == bytes) {
            continue;
        }
        let ec = match decoded.ecLevel() {
            "L" => EcLevel::L,
            "Q" => EcLevel::Q,
            "H" => EcLevel::H,
            _ => EcLevel::M,
        };
        pass.read.push(Read { bytes, version: decoded.versionNumber().min(40) as u8, ec });
    }
    pass
}

/// A triple of patterns and how far it is from an isosceles right
/// triangle (0 is perfect).
struct Candidate {
    misfit: f64,
    set: FinderPatternSet,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.misfit == other.misfit
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.misfit.total_cmp(&other.misfit)
    }
}

/// zxing-cpp's GenerateFinderPatternSets, with its geometric tests, over
/// each pattern's nearest neighbours only, keeping the best `MAX_SETS`.
fn plausible_sets(patterns: &[ConcentricPattern]) -> Vec<FinderPatternSet> {
    let n = patterns.len();
    if n < 3 {
        return Vec::new();
    }
    // The size ratio compensates roughly for perspective (see zxing-cpp).
    let scaled_dist2 = |a: &ConcentricPattern, b: &ConcentricPattern| {
        let d = a.p - b.p;
        let (small, large) = if a.size <= b.size { (a, b) } else { (b, a) };
        (d.x as f64 * d.x as f64 + d.y as f64 * d.y as f64) * (large.size as f64 / small.size.max(1) as f64).powi(2)
    };
    let similar = |a: &ConcentricPattern, b: &ConcentricPattern| {
        let (small, large) = if a.size <= b.size { (a.size, b.size) } else { (b.size, a.size) };
        large <= small * 2
    };
    let mut seen: HashSet<[usize; 3]> = HashSet::new();
    let mut best: BinaryHeap<Candidate> = BinaryHeap::new();
    let mut near: Vec<(f64, usize)> = Vec::with_capacity(n);
    for (i, centre) in patterns.iter().enumerate() {
        near.clear();
        near.extend(
            patterns
                .iter()
                .enumerate()
                .filter(|&(j, p)| j != i && similar(centre, p))
                .map(|(j, p)| (scaled_dist2(centre, p), j)),
        );
        let keep = near.len().min(NEIGHBOURS);
        if keep < 2 {
            continue;
        }
        near.select_nth_unstable_by(keep - 1, |a, b| a.0.total_cmp(&b.0));
        let neighbours: Vec<usize> = near[..keep].iter().map(|&(_, j)| j).collect();
        for (x, &j) in neighbours.iter().enumerate() {
            for &k in &neighbours[x + 1..] {
                let mut triple = [i, j, k];
                triple.sort_unstable();
                if !seen.insert(triple) {
                    continue;
                }
                let [a, b, c] = triple.map(|t| &patterns[t]);
                if !(similar(a, b) && similar(b, c) && similar(a, c)) {
                    continue;
                }
                if let Some(candidate) = judge(*a, *b, *c, &scaled_dist2) {
                    best.push(candidate);
                    if best.len() > MAX_SETS {
                        best.pop();
                    }
                }
            }
        }
    }
    best.into_sorted_vec().into_iter().map(|c| c.set).collect()
}

/// The geometric tests of zxing-cpp's GenerateFinderPatternSets for one
/// triple: ordered so B is the corner, sides of similar length, a module
/// count a QR code can have, and a corner angle within 45° of square.
fn judge(
    mut a: ConcentricPattern,
    mut b: ConcentricPattern,
    mut c: ConcentricPattern,
    dist2: &impl Fn(&ConcentricPattern, &ConcentricPattern) -> f64,
) -> Option<Candidate> {
    let cos_upper = (45.0_f64).to_radians().cos();
    let cos_lower = (135.0_f64).to_radians().cos();
    let mut ab2 = dist2(&a, &b);
    let mut bc2 = dist2(&b, &c);
    let mut ac2 = dist2(&a, &c);
    if bc2 >= ab2 && bc2 >= ac2 {
        std::mem::swap(&mut a, &mut b);
        std::mem::swap(&mut bc2, &mut ac2);
    } else if ab2 >= ac2 && ab2 >= bc2 {
        std::mem::swap(&mut b, &mut c);
        std::mem::swap(&mut ab2, &mut ac2);
    }
    let (ab, bc) = (ab2.sqrt(), bc2.sqrt());
    if ab > 2.0 * bc || bc > 2.0 * ab {
        return None;
    }
    let modules = (ab + bc) / (2.0 * (a.size + b.size + c.size) as f64 / 21.0) + 7.0;
    if !(21.0 * 0.9..=177.0 * 1.5).contains(&modules) {
        return None;
    }
    let cos_corner = (ab2 + bc2 - ac2) / (2.0 * ab * bc);
    if cos_corner.is_nan() || cos_corner > cos_upper || cos_corner < cos_lower {
        return None;
    }
    // Relative, so codes of different sizes on one sheet compare fairly.
    let misfit = ((ac2 - 2.0 * ab2).abs() + (ac2 - 2.0 * bc2).abs()) / ac2;
    if ConcentricPattern::cross(c - b, a - b) < 0.0 {
        std::mem::swap(&mut a, &mut c);
    }
    Some(Candidate { misfit, set: FinderPatternSet { bl: a, tl: b, tr: c } })
}
