//! Makes a screenshot-like corpus from real qrpair payloads: the code placed
//! in busy UI-like surroundings at 1280×720 … 3840×2160, scaled, JPEG
//! compressed, dark-mode inverted, rotated, slightly in perspective,
//! blurred, noisy, and two or three codes in one picture. Each `NAME.png`
//! or `NAME.jpg` gets `NAME.bin`, the exact payload the test must read (for
//! several codes, the first one drawn, which is also a qrpair offer).
//!
//!     cargo run --release --example make_screenshots -- fixtures/screenshots
//!
//! Deterministic: the same seed list makes the same files.

use image::{GrayImage, ImageEncoder, Luma};
use qrpair::qr::{render_qr, EcLevel};
use std::path::Path;

mod common;
use common::{qrpair_payload, Rng};

impl Rng {
    fn unit(&mut self) -> f32 {
        (self.next() % 10_000) as f32 / 10_000.0
    }
}

/// Window chrome, text-like lines, icons and photos-ish gradients.
fn busy_background(rng: &mut Rng, w: u32, h: u32, dark: bool) -> GrayImage {
    let (bg, fg) = if dark { (30u8, 200u8) } else { (245u8, 40u8) };
    let mut img = GrayImage::from_pixel(w, h, Luma([bg]));
    let blocks = rng.range(30, 80);
    for _ in 0..blocks {
        let (x, y) = (rng.range(0, w - 1), rng.range(0, h - 1));
        let (bw, bh) = (rng.range(20, w / 3), rng.range(4, h / 4));
        let kind = rng.range(0, 3);
        let shade = rng.range(0, 255) as u8;
        for yy in y..(y + bh).min(h) {
            for xx in x..(x + bw).min(w) {
                let v = match kind {
                    // text lines: short dark dashes
                    0 => {
                        if (yy - y) % 14 < 9 && (xx / 7 + yy / 14) % 5 != 0 && (xx % 7) < 5 {
                            fg
                        } else {
                            continue;
                        }
                    }
                    // gradient "photo"
                    1 => ((xx - x) * 255 / bw.max(1)) as u8 ^ ((yy - y) * 97 % 256) as u8,
                    // flat panel
                    _ => shade,
                };
                img.put_pixel(xx, yy, Luma([v]));
            }
        }
    }
    img
}

/// Draws `code` into `dst` centred at (cx, cy) with scale, rotation and a
/// slight perspective, by inverse mapping with bilinear sampling.
fn place(dst: &mut GrayImage, code: &GrayImage, cx: f32, cy: f32, scale: f32, angle: f32, tilt: f32) {
    let (cw, ch) = (code.width() as f32, code.height() as f32);
    let (sin, cos) = angle.sin_cos();
    let half = 0.5 * cw.max(ch) * scale * 1.6;
    let (x0, x1) = ((cx - half).max(0.0) as u32, ((cx + half) as u32).min(dst.width()));
    let (y0, y1) = ((cy - half).max(0.0) as u32, ((cy + half) as u32).min(dst.height()));
    for y in y0..y1 {
        for x in x0..x1 {
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            // undo rotation, then scale; the tilt shrinks one side a little
            let (rx, ry) = (cos * dx + sin * dy, -sin * dx + cos * dy);
            let persp = 1.0 + tilt * ry / (ch * scale);
            let (u, v) = (rx / (scale * persp) + cw / 2.0, ry / scale + ch / 2.0);
            if u < 0.0 || v < 0.0 || u >= cw - 1.0 || v >= ch - 1.0 {
                continue;
            }
            let (iu, iv) = (u as u32, v as u32);
            let (fu, fv) = (u - iu as f32, v - iv as f32);
            let p = |a, b| code.get_pixel(a, b).0[0] as f32;
            let top = p(iu, iv) * (1.0 - fu) + p(iu + 1, iv) * fu;
            let bottom = p(iu, iv + 1) * (1.0 - fu) + p(iu + 1, iv + 1) * fu;
            dst.put_pixel(x, y, Luma([(top * (1.0 - fv) + bottom * fv) as u8]));
        }
    }
}

fn add_noise(rng: &mut Rng, img: &mut GrayImage, amount: u32) {
    for p in img.pixels_mut() {
        let n = rng.range(0, 2 * amount) as i32 - amount as i32;
        p.0[0] = (p.0[0] as i32 + n).clamp(0, 255) as u8;
    }
}

struct Spec {
    name: &'static str,
    w: u32,
    h: u32,
    module_px: f32,
    angle_deg: f32,
    tilt: f32,
    dark: bool,
    blur: f32,
    noise: u32,
    jpeg: Option<u8>,
    codes: usize,
    candidates: usize,
}

const SPECS: &[Spec] = &[
    Spec {
        name: "720p-plain",
        w: 1280,
        h: 720,
        module_px: 4.0,
        angle_deg: 0.0,
        tilt: 0.0,
        dark: false,
        blur: 0.0,
        noise: 0,
        jpeg: None,
        codes: 1,
        candidates: 1,
    },
    Spec {
        name: "720p-small-2px",
        w: 1280,
        h: 720,
        module_px: 2.0,
        angle_deg: 0.0,
        tilt: 0.0,
        dark: false,
        blur: 0.0,
        noise: 0,
        jpeg: None,
        codes: 1,
        candidates: 2,
    },
    Spec {
        name: "720p-jpeg30",
        w: 1280,
        h: 720,
        module_px: 5.0,
        angle_deg: 0.0,
        tilt: 0.0,
        dark: false,
        blur: 0.0,
        noise: 0,
        jpeg: Some(30),
        codes: 1,
        candidates: 3,
    },
    Spec {
        name: "720p-dark",
        w: 1280,
        h: 720,
        module_px: 4.0,
        angle_deg: 0.0,
        tilt: 0.0,
        dark: true,
        blur: 0.0,
        noise: 0,
        jpeg: Some(80),
        codes: 1,
        candidates: 1,
    },
    Spec {
        name: "720p-rot17",
        w: 1280,
        h: 720,
        module_px: 5.0,
        angle_deg: 17.0,
        tilt: 0.0,
        dark: false,
        blur: 0.0,
        noise: 0,
        jpeg: Some(85),
        codes: 1,
        candidates: 2,
    },
    Spec {
        name: "720p-two-codes",
        w: 1280,
        h: 720,
        module_px: 4.0,
        angle_deg: 0.0,
        tilt: 0.0,
        dark: false,
        blur: 0.0,
        noise: 0,
        jpeg: Some(90),
        codes: 2,
        candidates: 1,
    },
    Spec {
        name: "1080p-plain",
        w: 1920,
        h: 1080,
        module_px: 6.0,
        angle_deg: 0.0,
        tilt: 0.0,
        dark: false,
        blur: 0.0,
        noise: 0,
        jpeg: None,
        codes: 1,
        candidates: 4,
    },
    Spec {
        name: "1080p-scaled25",
        w: 1920,
        h: 1080,
        module_px: 2.0,
        angle_deg: 0.0,
        tilt: 0.0,
        dark: false,
        blur: 0.0,
        noise: 0,
        jpeg: Some(90),
        codes: 1,
        candidates: 1,
    },
    Spec {
        name: "1080p-jpeg50-noise",
        w: 1920,
        h: 1080,
        module_px: 4.0,
        angle_deg: 0.0,
        tilt: 0.0,
        dark: false,
        blur: 0.0,
        noise: 12,
        jpeg: Some(50),
        codes: 1,
        candidates: 2,
    },
    Spec {
        name: "1080p-blur",
        w: 1920,
        h: 1080,
        module_px: 6.0,
        angle_deg: 0.0,
        tilt: 0.0,
        dark: false,
        blur: 1.2,
        noise: 0,
        jpeg: Some(70),
        codes: 1,
        candidates: 1,
    },
    Spec {
        name: "1080p-dark-rot-5",
        w: 1920,
        h: 1080,
        module_px: 5.0,
        angle_deg: -5.0,
        tilt: 0.0,
        dark: true,
        blur: 0.0,
        noise: 0,
        jpeg: Some(75),
        codes: 1,
        candidates: 3,
    },
    Spec {
        name: "1080p-perspective",
        w: 1920,
        h: 1080,
        module_px: 7.0,
        angle_deg: 3.0,
        tilt: 0.12,
        dark: false,
        blur: 0.6,
        noise: 4,
        jpeg: Some(70),
        codes: 1,
        candidates: 1,
    },
    Spec {
        name: "1080p-rot45",
        w: 1920,
        h: 1080,
        module_px: 6.0,
        angle_deg: 45.0,
        tilt: 0.0,
        dark: false,
        blur: 0.0,
        noise: 0,
        jpeg: Some(85),
        codes: 1,
        candidates: 2,
    },
    Spec {
        name: "1080p-three-codes",
        w: 1920,
        h: 1080,
        module_px: 5.0,
        angle_deg: 0.0,
        tilt: 0.0,
        dark: false,
        blur: 0.0,
        noise: 0,
        jpeg: Some(80),
        codes: 3,
        candidates: 2,
    },
    Spec {
        name: "1080p-answer",
        w: 1920,
        h: 1080,
        module_px: 8.0,
        angle_deg: 0.0,
        tilt: 0.0,
        dark: false,
        blur: 0.0,
        noise: 0,
        jpeg: None,
        codes: 1,
        candidates: 0,
    },
    Spec {
        name: "1440p-jpeg40",
        w: 2560,
        h: 1440,
        module_px: 6.0,
        angle_deg: 0.0,
        tilt: 0.0,
        dark: false,
        blur: 0.0,
        noise: 0,
        jpeg: Some(40),
        codes: 1,
        candidates: 1,
    },
    Spec {
        name: "1440p-dark-blur",
        w: 2560,
        h: 1440,
        module_px: 7.0,
        angle_deg: 0.0,
        tilt: 0.0,
        dark: true,
        blur: 1.0,
        noise: 6,
        jpeg: Some(60),
        codes: 1,
        candidates: 2,
    },
    Spec {
        name: "4k-small",
        w: 3840,
        h: 2160,
        module_px: 4.0,
        angle_deg: 0.0,
        tilt: 0.0,
        dark: false,
        blur: 0.0,
        noise: 0,
        jpeg: Some(85),
        codes: 1,
        candidates: 1,
    },
    Spec {
        name: "4k-scaled400",
        w: 3840,
        h: 2160,
        module_px: 32.0,
        angle_deg: 0.0,
        tilt: 0.0,
        dark: false,
        blur: 0.0,
        noise: 0,
        jpeg: Some(80),
        codes: 1,
        candidates: 2,
    },
    Spec {
        name: "4k-dark",
        w: 3840,
        h: 2160,
        module_px: 8.0,
        angle_deg: 0.0,
        tilt: 0.0,
        dark: true,
        blur: 0.0,
        noise: 0,
        jpeg: Some(70),
        codes: 1,
        candidates: 1,
    },
    Spec {
        name: "4k-rot30-noise",
        w: 3840,
        h: 2160,
        module_px: 10.0,
        angle_deg: 30.0,
        tilt: 0.0,
        dark: false,
        blur: 0.8,
        noise: 10,
        jpeg: Some(60),
        codes: 1,
        candidates: 3,
    },
    Spec {
        name: "4k-two-codes-dark",
        w: 3840,
        h: 2160,
        module_px: 8.0,
        angle_deg: 0.0,
        tilt: 0.0,
        dark: true,
        blur: 0.0,
        noise: 0,
        jpeg: Some(75),
        codes: 2,
        candidates: 1,
    },
    Spec {
        name: "4k-perspective-jpeg35",
        w: 3840,
        h: 2160,
        module_px: 12.0,
        angle_deg: -8.0,
        tilt: 0.1,
        dark: false,
        blur: 0.0,
        noise: 5,
        jpeg: Some(35),
        codes: 1,
        candidates: 2,
    },
    Spec {
        name: "4k-tiny-3px",
        w: 3840,
        h: 2160,
        module_px: 3.0,
        angle_deg: 0.0,
        tilt: 0.0,
        dark: false,
        blur: 0.0,
        noise: 0,
        jpeg: Some(90),
        codes: 1,
        candidates: 4,
    },
];

fn main() {
    let out = std::env::args().nth(1).unwrap_or_else(|| "fixtures/screenshots".into());
    let out = Path::new(&out);
    std::fs::create_dir_all(out).expect("output folder");
    for (i, spec) in SPECS.iter().enumerate() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1) * 0x1000_0001);
        let mut shot = busy_background(&mut rng, spec.w, spec.h, spec.dark);
        let mut expected = Vec::new();
        for c in 0..spec.codes {
            let answer = spec.candidates == 0;
            let bytes = qrpair_payload(&mut rng, spec.candidates.max(1), answer && c == 0);
            let mut code = render_qr(&bytes, EcLevel::M).expect("fits").to_image(1);
            if spec.dark {
                image::imageops::invert(&mut code);
            }
            let slot = spec.w as f32 / (spec.codes as f32 + 1.0);
            let cx = if spec.codes == 1 { spec.w as f32 * (0.3 + 0.4 * rng.unit()) } else { slot * (c as f32 + 1.0) };
            let cy = spec.h as f32 * (0.35 + 0.3 * rng.unit());
            place(&mut shot, &code, cx, cy, spec.module_px, spec.angle_deg.to_radians(), spec.tilt);
            if c == 0 {
                expected = bytes;
            }
        }
        if spec.blur > 0.0 {
            shot = image::imageops::blur(&shot, spec.blur);
        }
        if spec.noise > 0 {
            add_noise(&mut rng, &mut shot, spec.noise);
        }
        let (file, data) = match spec.jpeg {
            Some(q) => {
                let mut data = Vec::new();
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut data, q)
                    .write_image(shot.as_raw(), shot.width(), shot.height(), image::ExtendedColorType::L8)
                    .expect("jpeg");
                (format!("{}.jpg", spec.name), data)
            }
            None => {
                let mut data = Vec::new();
                image::codecs::png::PngEncoder::new(&mut data)
                    .write_image(shot.as_raw(), shot.width(), shot.height(), image::ExtendedColorType::L8)
                    .expect("png");
                (format!("{}.png", spec.name), data)
            }
        };
        std::fs::write(out.join(&file), &data).expect("write image");
        std::fs::write(out.join(format!("{}.bin", spec.name)), &expected).expect("write payload");
        println!("{file}: {} bytes, payload {} B", data.len(), expected.len());
    }
}
