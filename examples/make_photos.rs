//! Makes the held-out hard-photo corpus (`fixtures/photos`): colour
//! pictures of codes as a phone camera sees them, with the failure modes of
//! real photographs pushed past what the screenshot corpus holds:
//!
//! - `blur`: Gaussian blur σ 2–4.5 px on codes of 3.5–9 px per module
//!   (σ 0.3–0.8 of a module);
//! - `logo`: low-contrast colour pairs (WCAG contrast ratio ≤ 3:1, e.g. red
//!   on maroon) with a centred logo over 8–20 % of the code, EC H or Q;
//! - `steep`: the card tilted 40–60° away from the camera (true perspective
//!   through a pinhole camera);
//! - `bar`: a finger, pen or cable across the code;
//! - `steep-bar`, `blur-logo`, `steep-logo`, `steep-blur`: combinations;
//! - `gloss`: the code printed on a curved, glossy surface (a cylinder of
//!   packaging) with a specular highlight across it.
//!
//! Each picture also gets uneven lighting, a colour cast, sensor noise and
//! JPEG compression. Payloads vary: real qrpair offers and answers (EC M,
//! as qrpair prints them, or Q/H), URLs, Wi-Fi and vCard text, UTF-8 text.
//! Each `NN-kind.jpg` gets `NN-kind.txt` (text) or `NN-kind.bin` (binary),
//! the exact content bytes.
//!
//!     cargo run --release --example make_photos -- fixtures/photos
//!
//! Deterministic: a fixed seed per picture makes the same files.

use image::{ImageEncoder, Rgb, RgbImage};
use qrpair::qr::{render_qr, EcLevel};
use std::path::Path;

mod common;
use common::{qrpair_payload, Rng};

impl Rng {
    fn unit(&mut self) -> f64 {
        (self.next() % 1_000_000) as f64 / 1_000_000.0
    }
    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// Roughly normal, mean 0, deviation 1.
    fn gauss(&mut self) -> f64 {
        (0..4).map(|_| self.unit()).sum::<f64>() * 3f64.sqrt() - 2.0 * 3f64.sqrt()
    }
}

fn word(rng: &mut Rng, len: u32) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
    (0..len).map(|_| LETTERS[rng.range(0, 25) as usize] as char).collect()
}

/// Ordinary content of codes on posters and packaging.
fn text_payload(rng: &mut Rng) -> Vec<u8> {
    let text = match rng.range(0, 5) {
        0 => format!("https://{}.example.com/{}?ref={}", word(rng, 7), word(rng, 5), rng.range(1000, 99999)),
        1 => format!("https://example.org/p/{}-{}/{}", word(rng, 4), rng.range(10, 999), word(rng, 9)),
        2 => format!("WIFI:T:WPA;S:{}-{};P:{}{};;", word(rng, 6), rng.range(1, 99), word(rng, 8), rng.range(100, 999)),
        3 => format!(
            "BEGIN:VCARD\nVERSION:3.0\nN:{};{}\nTEL:+49{}\nEMAIL:{}@example.net\nEND:VCARD",
            word(rng, 6),
            word(rng, 5),
            rng.range(10_000_000, 99_999_999),
            word(rng, 5)
        ),
        4 => format!("Größe {} — Prüfnummer {} · café №{}", rng.range(30, 50), word(rng, 6), rng.range(1, 99)),
        _ => format!("LOT {}-{} EXP 2027-{:02}", word(rng, 3).to_uppercase(), rng.range(1000, 9999), rng.range(1, 12)),
    };
    text.into_bytes()
}

/// Relative luminance (WCAG 2) of an sRGB colour.
fn luminance(c: [f64; 3]) -> f64 {
    let lin = |v: f64| {
        let v = v / 255.0;
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])
}

fn contrast_ratio(a: [f64; 3], b: [f64; 3]) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

fn hsv(h: f64, s: f64, v: f64) -> [f64; 3] {
    let h = (h.rem_euclid(360.0)) / 60.0;
    let c = v * s;
    let x = c * (1.0 - ((h % 2.0) - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [(r + m) * 255.0, (g + m) * 255.0, (b + m) * 255.0]
}

/// A dark/light pair of one hue with a contrast ratio between 1.9 and 3:1:
/// red on maroon, teal on dark teal, orange on brown…
fn low_contrast_pair(rng: &mut Rng) -> ([f64; 3], [f64; 3]) {
    loop {
        let hue = rng.between(0.0, 360.0);
        let light = hsv(hue + rng.between(-10.0, 10.0), rng.between(0.5, 1.0), rng.between(0.75, 1.0));
        let dark = hsv(hue + rng.between(-15.0, 15.0), rng.between(0.6, 1.0), rng.between(0.3, 0.65));
        let ratio = contrast_ratio(light, dark);
        if (1.9..=3.0).contains(&ratio) {
            return (dark, light);
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Spec {
    tilt_deg: (f64, f64),
    blur: (f64, f64),
    module_px: (f64, f64),
    logo: bool,
    bar: bool,
    gloss: bool,
}

const KINDS: &[(&str, usize, Spec)] = &[
    ("blur", 16, Spec { blur: (2.0, 4.5), module_px: (4.0, 9.0), ..NONE }),
    ("logo", 16, Spec { logo: true, module_px: (3.5, 8.0), tilt_deg: (0.0, 25.0), ..NONE }),
    ("steep", 16, Spec { tilt_deg: (40.0, 60.0), module_px: (4.0, 9.0), ..NONE }),
    ("bar", 12, Spec { bar: true, module_px: (4.0, 10.0), tilt_deg: (0.0, 25.0), ..NONE }),
    ("steep-bar", 12, Spec { bar: true, tilt_deg: (40.0, 55.0), module_px: (5.0, 10.0), ..NONE }),
    ("blur-logo", 8, Spec { blur: (2.0, 3.0), logo: true, module_px: (6.0, 10.0), ..NONE }),
    ("steep-logo", 6, Spec { tilt_deg: (40.0, 50.0), logo: true, module_px: (5.0, 9.0), ..NONE }),
    ("steep-blur", 6, Spec { tilt_deg: (40.0, 50.0), blur: (2.0, 3.0), module_px: (6.0, 10.0), ..NONE }),
    ("gloss", 12, Spec { gloss: true, tilt_deg: (0.0, 20.0), module_px: (4.0, 9.0), ..NONE }),
];

const NONE: Spec =
    Spec { tilt_deg: (0.0, 12.0), blur: (0.0, 0.8), module_px: (4.0, 8.0), logo: false, bar: false, gloss: false };

type V3 = [f64; 3];

fn mat_mul(a: [[f64; 3]; 3], b: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    std::array::from_fn(|i| std::array::from_fn(|j| (0..3).map(|k| a[i][k] * b[k][j]).sum()))
}
fn apply(m: [[f64; 3]; 3], v: V3) -> V3 {
    std::array::from_fn(|i| (0..3).map(|k| m[i][k] * v[k]).sum())
}
fn apply_t(m: [[f64; 3]; 3], v: V3) -> V3 {
    std::array::from_fn(|i| (0..3).map(|k| m[k][i] * v[k]).sum())
}
fn rot_x(a: f64) -> [[f64; 3]; 3] {
    let (s, c) = a.sin_cos();
    [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]]
}
fn rot_y(a: f64) -> [[f64; 3]; 3] {
    let (s, c) = a.sin_cos();
    [[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]
}
fn rot_z(a: f64) -> [[f64; 3]; 3] {
    let (s, c) = a.sin_cos();
    [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
}

/// A pinhole camera looking down +z at a card: sheet coordinates are in
/// modules, centred on the code.
struct Camera {
    f: f64,
    cx: f64,
    cy: f64,
    rot: [[f64; 3]; 3],
    t: V3,
    /// Radius (modules) of the cylinder the card is wrapped on, if curved.
    cylinder: Option<f64>,
}

impl Camera {
    fn project(&self, u: f64, v: f64) -> (f64, f64) {
        let local = match self.cylinder {
            Some(r) => [r * (u / r).sin(), v, r - r * (u / r).cos()],
            None => [u, v, 0.0],
        };
        let p = apply(self.rot, local);
        let p = [p[0] + self.t[0], p[1] + self.t[1], p[2] + self.t[2]];
        (self.f * p[0] / p[2] + self.cx, self.f * p[1] / p[2] + self.cy)
    }

    /// The sheet point seen through pixel (x, y), if the ray meets the card.
    fn unproject(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let d = [(x - self.cx) / self.f, (y - self.cy) / self.f, 1.0];
        // Into the card's frame: origin o, direction dl.
        let o = apply_t(self.rot, [-self.t[0], -self.t[1], -self.t[2]]);
        let dl = apply_t(self.rot, d);
        match self.cylinder {
            None => {
                if dl[2].abs() < 1e-9 {
                    return None;
                }
                let t = -o[2] / dl[2];
                (t > 0.0).then(|| (o[0] + t * dl[0], o[1] + t * dl[1]))
            }
            Some(r) => {
                // x² + (z − r)² = r², the nearer intersection.
                let (ox, oz) = (o[0], o[2] - r);
                let a = dl[0] * dl[0] + dl[2] * dl[2];
                let b = 2.0 * (ox * dl[0] + oz * dl[2]);
                let c = ox * ox + oz * oz - r * r;
                let disc = b * b - 4.0 * a * c;
                if disc < 0.0 || a < 1e-12 {
                    return None;
                }
                let t = (-b - disc.sqrt()) / (2.0 * a);
                let (px, pz) = (o[0] + t * dl[0], o[2] + t * dl[2]);
                let angle = px.atan2(r - pz);
                (t > 0.0 && angle.abs() < 1.4).then(|| (r * angle, o[1] + t * dl[1]))
            }
        }
    }
}

/// What is printed on the card at sheet point (u, v): code, quiet zone,
/// logo, card. `None` beyond the card.
struct Card {
    modules: Vec<bool>,
    side: usize,
    /// Half the card's side, in modules (the code plus quiet zone and margin).
    half: f64,
    dark: [f64; 3],
    light: [f64; 3],
    /// Half the logo's side in modules, its colours and shape.
    logo: Option<(f64, [f64; 3], [f64; 3], bool)>,
}

impl Card {
    fn colour(&self, u: f64, v: f64) -> Option<[f64; 3]> {
        if u.abs() > self.half || v.abs() > self.half {
            return None;
        }
        if let Some((half, fill, mark, round)) = self.logo {
            let inside = if round { u * u + v * v <= half * half } else { u.abs() <= half && v.abs() <= half };
            if inside {
                // A ring or bar of the mark inside a plain fill.
                let r = (u * u + v * v).sqrt() / half;
                let mark_here =
                    if round { (0.45..0.7).contains(&r) } else { u.abs() < half * 0.25 || v.abs() < half * 0.2 };
                return Some(if mark_here { mark } else { fill });
            }
        }
        let off = self.side as f64 / 2.0;
        let (x, y) = ((u + off).floor(), (v + off).floor());
        if x < 0.0 || y < 0.0 || x >= self.side as f64 || y >= self.side as f64 {
            return Some(self.light);
        }
        Some(if self.modules[y as usize * self.side + x as usize] { self.dark } else { self.light })
    }
}

fn background(rng: &mut Rng, w: u32, h: u32) -> Vec<[f64; 3]> {
    let a = hsv(rng.between(0.0, 360.0), rng.between(0.0, 0.5), rng.between(0.2, 0.9));
    let b = hsv(rng.between(0.0, 360.0), rng.between(0.0, 0.5), rng.between(0.2, 0.9));
    let (gx, gy) = (rng.between(-1.0, 1.0), rng.between(-1.0, 1.0));
    let mut px: Vec<[f64; 3]> = (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as f64 / w as f64, (i / w) as f64 / h as f64);
            let t = ((gx * x + gy * y) * 0.5 + 0.5).clamp(0.0, 1.0);
            std::array::from_fn(|k| a[k] * (1.0 - t) + b[k] * t)
        })
        .collect();
    // Clutter: rectangles and stripes (other print, a table's grain).
    for _ in 0..rng.range(4, 14) {
        let c = hsv(rng.between(0.0, 360.0), rng.between(0.0, 0.8), rng.between(0.1, 1.0));
        let (x0, y0) = (rng.range(0, w - 1), rng.range(0, h - 1));
        let (bw, bh) = (rng.range(10, w / 3), rng.range(5, h / 3));
        let stripes = rng.range(0, 2) == 0;
        for y in y0..(y0 + bh).min(h) {
            for x in x0..(x0 + bw).min(w) {
                if !stripes || (y / 6) % 2 == 0 {
                    px[(y * w + x) as usize] = c;
                }
            }
        }
    }
    px
}

fn gaussian_blur(img: &mut [[f64; 3]], w: usize, h: usize, sigma: f64) {
    if sigma < 0.3 {
        return;
    }
    let r = (sigma * 3.0).ceil() as isize;
    let kernel: Vec<f64> = (-r..=r).map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp()).collect();
    let sum: f64 = kernel.iter().sum();
    let kernel: Vec<f64> = kernel.iter().map(|k| k / sum).collect();
    let mut tmp = img.to_vec();
    for y in 0..h {
        for x in 0..w {
            let mut acc = [0.0; 3];
            for (i, k) in kernel.iter().enumerate() {
                let xx = (x as isize + i as isize - r).clamp(0, w as isize - 1) as usize;
                for c in 0..3 {
                    acc[c] += k * img[y * w + xx][c];
                }
            }
            tmp[y * w + x] = acc;
        }
    }
    for y in 0..h {
        for x in 0..w {
            let mut acc = [0.0; 3];
            for (i, k) in kernel.iter().enumerate() {
                let yy = (y as isize + i as isize - r).clamp(0, h as isize - 1) as usize;
                for c in 0..3 {
                    acc[c] += k * tmp[yy * w + x][c];
                }
            }
            img[y * w + x] = acc;
        }
    }
}

/// Distance from point p to the line through a with direction d (unit).
fn line_distance(p: (f64, f64), a: (f64, f64), d: (f64, f64)) -> f64 {
    ((p.0 - a.0) * d.1 - (p.1 - a.1) * d.0).abs()
}

fn make(rng: &mut Rng, spec: Spec, index: usize) -> (RgbImage, Vec<u8>, bool) {
    // Content and EC level: logo codes use H or Q, as real logo codes do.
    let (bytes, binary) = if index.is_multiple_of(3) {
        let answer = rng.range(0, 3) == 0;
        let candidates = rng.range(1, 4) as usize;
        (qrpair_payload(rng, candidates, answer), true)
    } else {
        (text_payload(rng), false)
    };
    let ec = if spec.logo {
        if rng.range(0, 2) == 0 {
            EcLevel::Q
        } else {
            EcLevel::H
        }
    } else if spec.bar {
        // Printed codes meant to survive damage.
        [EcLevel::M, EcLevel::Q, EcLevel::Q, EcLevel::H][rng.range(0, 3) as usize]
    } else {
        [EcLevel::L, EcLevel::M, EcLevel::M, EcLevel::Q][rng.range(0, 3) as usize]
    };
    let code = render_qr(&bytes, ec).expect("fits");
    let img = code.to_image(1);
    let side = img.width() as usize;
    let modules: Vec<bool> = img.pixels().map(|p| p.0[0] < 128).collect();
    let code_side = code.width() as f64;

    let (dark, light) = if spec.logo {
        low_contrast_pair(rng)
    } else {
        // Printed black-ish on paper-ish, or a brand colour on white.
        let ink = if rng.range(0, 3) == 0 {
            hsv(rng.between(0.0, 360.0), rng.between(0.5, 1.0), rng.between(0.2, 0.45))
        } else {
            let g = rng.between(10.0, 60.0);
            [g, g, g]
        };
        let paper = hsv(rng.between(20.0, 60.0), rng.between(0.0, 0.15), rng.between(0.82, 1.0));
        (ink, paper)
    };
    let logo = spec.logo.then(|| {
        // Share of the code (without quiet zone) the logo covers.
        let share = if ec == EcLevel::H { rng.between(0.10, 0.20) } else { rng.between(0.06, 0.12) };
        let round = rng.range(0, 1) == 0;
        let half =
            if round { code_side * (share / std::f64::consts::PI).sqrt() } else { code_side * share.sqrt() / 2.0 };
        let fill = if rng.range(0, 1) == 0 { [250.0, 250.0, 245.0] } else { light };
        let mark = hsv(rng.between(0.0, 360.0), rng.between(0.4, 1.0), rng.between(0.3, 0.9));
        (half, fill, mark, round)
    });
    let card = Card { modules, side, half: side as f64 / 2.0 + rng.between(0.0, 8.0), dark, light, logo };

    // Picture size and camera.
    let (w, h) = [(1024, 768), (960, 720), (1280, 960), (720, 960), (800, 600), (1024, 768)][rng.range(0, 5) as usize];
    let f = w.max(h) as f64 * rng.between(0.8, 1.1);
    let tilt = rng.between(spec.tilt_deg.0, spec.tilt_deg.1).to_radians();
    let tilt_dir = rng.between(0.0, std::f64::consts::TAU);
    let spin = rng.between(-25.0, 25.0).to_radians() + if rng.range(0, 5) == 0 { rng.between(0.0, 3.0) } else { 0.0 };
    // Tilt about an axis in the picture plane at angle tilt_dir.
    let rot = mat_mul(rot_z(tilt_dir), mat_mul(rot_x(tilt), mat_mul(rot_z(-tilt_dir), rot_z(spin))));
    let rot = if spec.gloss { mat_mul(rot, rot_y(rng.between(-0.3, 0.3))) } else { rot };
    let cylinder = spec.gloss.then(|| card.half * rng.between(1.8, 3.5));
    let mut module_px = rng.between(spec.module_px.0, spec.module_px.1);
    let mut cam;
    loop {
        let depth = f / module_px;
        let (ox, oy) = (rng.between(-0.15, 0.15) * w as f64, rng.between(-0.15, 0.15) * h as f64);
        cam = Camera {
            f,
            cx: w as f64 / 2.0,
            cy: h as f64 / 2.0,
            rot,
            t: [ox * depth / f, oy * depth / f, depth],
            cylinder,
        };
        let q = side as f64 / 2.0;
        let fits = [(-q, -q), (q, -q), (q, q), (-q, q)].iter().all(|&(u, v)| {
            let (x, y) = cam.project(u, v);
            (8.0..w as f64 - 8.0).contains(&x) && (8.0..h as f64 - 8.0).contains(&y)
        });
        if fits {
            break;
        }
        module_px *= 0.93;
    }

    // Render with 3×3 supersampling.
    let mut px = background(rng, w, h);
    let light_dir = (rng.between(-1.0, 1.0), rng.between(-1.0, 1.0));
    let light_strength = rng.between(0.1, 0.45);
    let cast: [f64; 3] = std::array::from_fn(|_| rng.between(0.9, 1.08));
    let gloss_line = {
        let (cx, cy) = cam.project(rng.between(-0.3, 0.3) * code_side, 0.0);
        (cx, cy)
    };
    let gloss_angle = rng.between(-0.5, 0.5) + std::f64::consts::FRAC_PI_2;
    let gloss_dir = (gloss_angle.cos(), gloss_angle.sin());
    let gloss_width = rng.between(0.02, 0.05) * w as f64;
    let gloss_strength = rng.between(0.35, 0.75);
    for y in 0..h {
        for x in 0..w {
            let mut acc = [0.0; 3];
            let mut hits = 0;
            for sy in 0..3 {
                for sx in 0..3 {
                    let (fx, fy) = (x as f64 + (sx as f64 + 0.5) / 3.0, y as f64 + (sy as f64 + 0.5) / 3.0);
                    if let Some(c) = cam.unproject(fx, fy).and_then(|(u, v)| card.colour(u, v)) {
                        for k in 0..3 {
                            acc[k] += c[k];
                        }
                        hits += 1;
                    }
                }
            }
            if hits > 0 {
                let i = (y * w + x) as usize;
                let bg = px[i];
                px[i] = std::array::from_fn(|k| (acc[k] + bg[k] * (9 - hits) as f64) / 9.0);
            }
        }
    }
    // The obstruction: a finger, pen or cable across the code.
    if spec.bar {
        let (cx, cy) = cam.project(0.0, 0.0);
        let (ex, ey) = cam.project(1.0, 0.0);
        let module_here = ((ex - cx).powi(2) + (ey - cy).powi(2)).sqrt();
        let width = module_here * rng.between(1.0, 2.5);
        let angle = rng.between(0.0, std::f64::consts::PI);
        let dir = (angle.cos(), angle.sin());
        let offset = rng.between(-0.3, 0.3) * code_side * module_here;
        let through = (cx - dir.1 * offset, cy + dir.0 * offset);
        let colour = match rng.range(0, 3) {
            0 => [210.0, 160.0, 130.0],
            1 => [30.0, 30.0, 35.0],
            2 => [40.0, 70.0, 160.0],
            _ => [235.0, 235.0, 230.0],
        };
        for y in 0..h {
            for x in 0..w {
                let d = line_distance((x as f64 + 0.5, y as f64 + 0.5), through, dir);
                let cover = (width / 2.0 + 0.5 - d).clamp(0.0, 1.0);
                if cover > 0.0 {
                    let i = (y * w + x) as usize;
                    // Rounded like a finger: darker at the edges.
                    let shade = 1.0 - 0.35 * (d / (width / 2.0)).min(1.0).powi(2);
                    px[i] = std::array::from_fn(|k| px[i][k] * (1.0 - cover) + colour[k] * shade * cover);
                }
            }
        }
    }
    // Lighting: a gradient over the picture, a colour cast, and for glossy
    // cards a specular band.
    for y in 0..h {
        for x in 0..w {
            let i = (y * w + x) as usize;
            let (nx, ny) = (x as f64 / w as f64 - 0.5, y as f64 / h as f64 - 0.5);
            let gain = 1.0 - light_strength * (0.5 + nx * light_dir.0 + ny * light_dir.1).clamp(0.0, 1.0);
            let mut c: [f64; 3] = std::array::from_fn(|k| px[i][k] * gain * cast[k]);
            if spec.gloss {
                let d = line_distance((x as f64, y as f64), gloss_line, gloss_dir) / gloss_width;
                let spec = gloss_strength * (-d * d).exp();
                c = std::array::from_fn(|k| c[k] * (1.0 - spec) + 255.0 * spec);
            }
            px[i] = c;
        }
    }
    let sigma = rng.between(spec.blur.0, spec.blur.1);
    gaussian_blur(&mut px, w as usize, h as usize, sigma);
    let noise = rng.between(1.0, 3.0);
    let out = RgbImage::from_fn(w, h, |x, y| {
        let c = px[(y * w + x) as usize];
        let shared = rng.gauss() * noise * 0.6;
        Rgb(std::array::from_fn(|k| (c[k] + shared + rng.gauss() * noise * 0.2).round().clamp(0.0, 255.0) as u8))
    });
    (out, bytes, binary)
}

fn main() {
    let out = std::env::args().nth(1).unwrap_or_else(|| "fixtures/photos".into());
    let out = Path::new(&out);
    std::fs::create_dir_all(out).expect("output folder");
    let mut index = 0;
    for (kind, count, spec) in KINDS {
        for _ in 0..*count {
            index += 1;
            let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let (img, bytes, binary) = make(&mut rng, *spec, index);
            let quality = rng.range(60, 82) as u8;
            let mut data = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut data, quality)
                .write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgb8)
                .expect("jpeg");
            let name = format!("{index:03}-{kind}");
            std::fs::write(out.join(format!("{name}.jpg")), &data).expect("write image");
            let ext = if binary { "bin" } else { "txt" };
            std::fs::write(out.join(format!("{name}.{ext}")), &bytes).expect("write payload");
            println!(
                "{name}.jpg: {}×{}, {} KB, payload {} B",
                img.width(),
                img.height(),
                data.len() / 1024,
                bytes.len()
            );
        }
    }
}
