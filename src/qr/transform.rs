//! The copies of a picture the scanner's stages look at: halved, enlarged,
//! turned, sharpened, its seams closed, its brightest channel. Pure image
//! arithmetic, each bounded by the picture's size.

use super::scan::SHARPEN_MAX_SIDE;
use image::{GrayImage, Luma};

/// Unsharp masking: the picture plus this many times its difference from
/// a blurred copy (three box blurs, radius `SHARPEN_RADIUS`: a Gaussian of
/// σ ≈ 3.5 px).
const SHARPEN_AMOUNT: i32 = 2;
const SHARPEN_RADIUS: usize = 3;
/// A picture is coloured when at least 1 % of its pixels have channels this
/// far apart.
const COLOURFUL_SPREAD: u8 = 40;

/// Each pixel's brightest channel, box-averaged by the smallest power of
/// two that brings the longest side to `SHARPEN_MAX_SIDE`, in one pass and
/// without a full-size copy. `None` for a picture that is (nearly) grey.
pub(super) fn brightest_channel(w: u32, h: u32, data: &[u8], channels: usize) -> Option<GrayImage> {
    let (w, h) = (w as usize, h as usize);
    if w == 0 || h == 0 || data.len() < w * h * channels {
        return None;
    }
    let mut factor = 1usize;
    while w.max(h) / factor > SHARPEN_MAX_SIDE as usize {
        factor *= 2;
    }
    let (out_w, out_h) = (w / factor, h / factor);
    if out_w == 0 || out_h == 0 {
        return None;
    }
    let mut colourful = 0usize;
    let plane = box_averaged(out_w, out_h, factor, |y, sums| {
        let row = &data[y * w * channels..(y + 1) * w * channels];
        for (x, p) in row.chunks_exact(channels).take(sums.len() * factor).enumerate() {
            let (hi, lo) = (p[0].max(p[1]).max(p[2]), p[0].min(p[1]).min(p[2]));
            colourful += (hi - lo >= COLOURFUL_SPREAD) as usize;
            sums[x / factor] += hi as u32;
        }
    });
    if colourful * 100 < w * h {
        return None;
    }
    GrayImage::from_raw(out_w as u32, out_h as u32, plane)
}

/// An `out_w`×`out_h` plane, each pixel the average of a `factor`×`factor`
/// block: `add_row(y, sums)` adds source row y into one output row's sums.
/// Only one row of sums is held, not a plane of them.
pub(super) fn box_averaged(
    out_w: usize,
    out_h: usize,
    factor: usize,
    mut add_row: impl FnMut(usize, &mut [u32]),
) -> Vec<u8> {
    let area = (factor * factor) as u32;
    let mut plane = Vec::with_capacity(out_w * out_h);
    let mut sums = vec![0u32; out_w];
    for out_y in 0..out_h {
        sums.iter_mut().for_each(|s| *s = 0);
        for y in out_y * factor..(out_y + 1) * factor {
            add_row(y, &mut sums);
        }
        plane.extend(sums.iter().map(|&s| ((s + area / 2) / area) as u8));
    }
    plane
}

/// Scaled to 3/4 by area averaging (each 4 pixels become 3, weights
/// 3:1, 2:2, 1:3), rows then columns: a filtered resize of a 36 Mpx picture
/// took 3 s and hundreds of MiB of float buffers; this takes one pass.
pub(super) fn three_quarters(g: &GrayImage) -> GrayImage {
    // Output index i of 3 in each group of 4 inputs: (first input, weight of
    // it out of 4; the next input takes the rest).
    const TAPS: [(usize, u16); 3] = [(0, 3), (1, 2), (2, 1)];
    let shrunk = |n: u32| (n as usize / 4) * 3 + (n as usize % 4);
    let (w, h) = (g.width() as usize, g.height() as usize);
    let (new_w, new_h) = (shrunk(g.width()), shrunk(g.height()));
    let tap = |i: usize, n: usize| -> (usize, usize, u16) {
        let (group, k) = (i / 3, i % 3);
        let (first, weight) = TAPS[k];
        let a = (group * 4 + first).min(n - 1);
        (a, (a + 1).min(n - 1), weight)
    };
    let mix = |a: u8, b: u8, weight: u16| ((a as u16 * weight + b as u16 * (4 - weight) + 2) / 4) as u8;
    let src = g.as_raw();
    let mut across = vec![0u8; new_w * h];
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        for x in 0..new_w {
            let (a, b, weight) = tap(x, w);
            across[y * new_w + x] = mix(row[a], row[b], weight);
        }
    }
    let mut out = vec![0u8; new_w * new_h];
    for y in 0..new_h {
        let (a, b, weight) = tap(y, h);
        for x in 0..new_w {
            out[y * new_w + x] = mix(across[a * new_w + x], across[b * new_w + x], weight);
        }
    }
    GrayImage::from_raw(new_w as u32, new_h as u32, out).unwrap_or_default()
}

/// Median of each pixel and its two neighbours down, then across: a line
/// one pixel thick disappears into what surrounds it, anything two pixels
/// or more stays.
pub(super) fn close_seams(g: &GrayImage) -> GrayImage {
    fn median3(a: u8, b: u8, c: u8) -> u8 {
        a.max(b).min(a.min(b).max(c))
    }
    let (w, h) = (g.width() as usize, g.height() as usize);
    let src = g.as_raw();
    let mut down = src.clone();
    for y in 1..h.saturating_sub(1) {
        for x in 0..w {
            down[y * w + x] = median3(src[(y - 1) * w + x], src[y * w + x], src[(y + 1) * w + x]);
        }
    }
    let mut across = down.clone();
    for y in 0..h {
        let row = &down[y * w..(y + 1) * w];
        for x in 1..w.saturating_sub(1) {
            across[y * w + x] = median3(row[x - 1], row[x], row[x + 1]);
        }
    }
    GrayImage::from_raw(g.width(), g.height(), across).unwrap_or_else(|| g.clone())
}

/// Box-averaged by the smallest power of two that brings the longest side
/// to at most `max_side` (borrowed when it already is).
pub(super) fn averaged_down(g: &GrayImage, max_side: u32) -> std::borrow::Cow<'_, GrayImage> {
    use std::borrow::Cow;
    let (w, h) = (g.width() as usize, g.height() as usize);
    let mut factor = 1usize;
    while w.max(h) / factor > max_side as usize {
        factor *= 2;
    }
    if factor == 1 {
        return Cow::Borrowed(g);
    }
    let (out_w, out_h) = (w / factor, h / factor);
    let src = g.as_raw();
    let plane = box_averaged(out_w, out_h, factor, |y, sums| {
        for (x, &v) in src[y * w..y * w + out_w * factor].iter().enumerate() {
            sums[x / factor] += v as u32;
        }
    });
    Cow::Owned(GrayImage::from_raw(out_w as u32, out_h as u32, plane).unwrap_or_default())
}

/// Unsharp masking with integer box blurs (running sums, rows then
/// columns, three times): linear in the pixels, no float buffers.
pub(super) fn sharpened(g: &GrayImage) -> GrayImage {
    let (w, h) = (g.width() as usize, g.height() as usize);
    if w == 0 || h == 0 {
        return g.clone();
    }
    // One box blur of radius r along lines of `len` pixels `step` apart,
    // edges clamped.
    fn box_line(src: &[u16], dst: &mut [u16], start: usize, step: usize, len: usize, r: usize) {
        let at = |i: isize| src[start + (i.clamp(0, len as isize - 1) as usize) * step] as u32;
        let mut sum: u32 = (-(r as isize)..=r as isize).map(at).sum();
        let width = 2 * r as u32 + 1;
        for i in 0..len {
            dst[start + i * step] = ((sum + width / 2) / width) as u16;
            sum += at(i as isize + r as isize + 1);
            sum -= at(i as isize - r as isize);
        }
    }
    let original: Vec<u16> = g.as_raw().iter().map(|&v| v as u16).collect();
    let mut a = original.clone();
    let mut b = vec![0u16; w * h];
    for _ in 0..3 {
        for y in 0..h {
            box_line(&a, &mut b, y * w, 1, w, SHARPEN_RADIUS);
        }
        for x in 0..w {
            box_line(&b, &mut a, x, w, h, SHARPEN_RADIUS);
        }
    }
    let plane = original
        .iter()
        .zip(&a)
        .map(|(&v, &blurred)| {
            let v = v as i32;
            (v + SHARPEN_AMOUNT * (v - blurred as i32)).clamp(0, 255) as u8
        })
        .collect();
    GrayImage::from_raw(g.width(), g.height(), plane).unwrap_or_else(|| g.clone())
}

/// 2×2 box average: much cheaper than a filtered resize on a 4K picture.
pub(super) fn halve(g: &GrayImage) -> GrayImage {
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

/// Each pixel repeated 2×2 (the smoothing after it joins the blocks), row
/// by row: the same pixels as `imageops::resize` with `Nearest`, which
/// took 115 ms on a 1000 px picture (a filter evaluated per pixel) where
/// this takes under 1 ms.
pub(super) fn doubled(g: &GrayImage) -> GrayImage {
    let (w, h) = (g.width() as usize, g.height() as usize);
    if w == 0 || h == 0 {
        return GrayImage::new(g.width() * 2, g.height() * 2);
    }
    let mut out = Vec::with_capacity(4 * w * h);
    for row in g.as_raw().chunks_exact(w).take(h) {
        let start = out.len();
        out.extend(row.iter().flat_map(|&v| [v, v]));
        out.extend_from_within(start..);
    }
    GrayImage::from_raw(g.width() * 2, g.height() * 2, out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{imageops, GrayImage, Luma};

    #[test]
    fn doubled_gives_the_pixels_of_a_nearest_resize() {
        for (w, h) in [(1, 1), (1, 7), (7, 1), (13, 8), (240, 240), (333, 101)] {
            let g = GrayImage::from_fn(w, h, |x, y| Luma([(x * 31 + y * 17 + x * y) as u8]));
            let expected = imageops::resize(&g, w * 2, h * 2, imageops::FilterType::Nearest);
            assert_eq!(doubled(&g), expected, "{w}×{h}");
        }
    }
}
