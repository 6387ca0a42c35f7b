use super::*;
use image::{GrayImage, ImageEncoder, Luma};

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn png_of(img: &GrayImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::L8)
        .unwrap();
    out
}

fn scan_one(bytes: &[u8]) -> Found {
    let mut found = scan_image_bytes(bytes, "test image").unwrap();
    assert_eq!(found.len(), 1);
    found.remove(0)
}

#[test]
fn render_then_scan_returns_the_exact_bytes_for_many_sizes() {
    for (i, len) in [1usize, 2, 17, 42, 62, 84, 106, 200, 370, 600, 1000, 1500].into_iter().enumerate() {
        for ec in [EcLevel::L, EcLevel::M, EcLevel::H] {
            let payload = pseudo_random(len, i as u64 * 7919 + 1);
            let Ok(code) = render_qr(&payload, ec) else {
                assert!(ec == EcLevel::H && len > 1200, "{len} bytes at {ec} should fit");
                continue;
            };
            let found = scan_one(&code.to_png(4));
            assert_eq!(found.bytes, payload, "{len} bytes at {ec}");
            assert_eq!(found.version, code.version());
            assert_eq!(found.ec, ec);
        }
    }
}

#[test]
fn smallest_version_is_chosen() {
    // Byte capacity at EC M: v3 42 B, v4 62 B, v5 84 B, v6 106 B.
    for (len, version) in [(42, 3), (43, 4), (62, 4), (63, 5), (84, 5), (106, 6)] {
        assert_eq!(render_qr(&vec![0xa5; len], EcLevel::M).unwrap().version(), version, "{len} bytes");
    }
    assert!(render_qr(&vec![0; 3000], EcLevel::M).is_err());
}

#[test]
fn png_has_quiet_zone_and_pure_black_on_white() {
    let code = render_qr(b"quiet", EcLevel::M).unwrap();
    let img = image::load_from_memory(&code.to_png(render::DEFAULT_MODULE_PX)).unwrap().to_luma8();
    let px = render::DEFAULT_MODULE_PX;
    assert_eq!(img.width(), (code.width() as u32 + 8) * px);
    assert!(img.pixels().all(|p| p.0[0] == 0 || p.0[0] == 255));
    let border = 4 * px;
    for y in 0..img.height() {
        for x in 0..img.width() {
            let inside = (border..img.width() - border).contains(&x) && (border..img.height() - border).contains(&y);
            if !inside {
                assert_eq!(img.get_pixel(x, y).0[0], 255, "quiet zone dark at {x},{y}");
            }
        }
    }
    // Top-left finder pattern starts right after the quiet zone.
    assert_eq!(img.get_pixel(border, border).0[0], 0);
}

#[test]
fn terminal_rendering_shows_every_module_with_explicit_colours() {
    let code = render_qr(b"terminal", EcLevel::M).unwrap();
    let text = code.to_terminal();
    let side = code.width() + 8;
    let picture = code.to_image(1);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), side.div_ceil(2));
    for (r, row) in rows.iter().enumerate() {
        assert!(row.starts_with("\x1b[97;107m"), "quiet zone is white on white: {row:?}");
        assert!(row.ends_with("\x1b[0m"));
        // Replay the colour changes and compare each cell with the picture.
        let (mut fg_dark, mut bg_dark, mut x) = (false, false, 0);
        let mut rest = *row;
        while let Some(c) = rest.chars().next() {
            if let Some(after) = rest.strip_prefix("\x1b[") {
                let end = after.find('m').unwrap();
                for p in after[..end].split(';') {
                    match p {
                        "30" => fg_dark = true,
                        "97" => fg_dark = false,
                        "40" => bg_dark = true,
                        "107" => bg_dark = false,
                        _ => {}
                    }
                }
                rest = &after[end + 1..];
                continue;
            }
            rest = &rest[c.len_utf8()..];
            // The lower half block: foreground below, background above;
            // a space is one colour, its background, with no glyph to show
            // a font's seams.
            let (upper, lower) = match c {
                '▄' => (bg_dark, fg_dark),
                ' ' => (bg_dark, bg_dark),
                other => panic!("unexpected {other:?} in {row:?}"),
            };
            let dark = |y: usize| picture.get_pixel(x as u32, y as u32).0[0] == 0;
            assert_eq!(upper, dark(2 * r), "cell ({x}, {r}) upper");
            if 2 * r + 1 < side {
                assert_eq!(lower, dark(2 * r + 1), "cell ({x}, {r}) lower");
            }
            x += 1;
        }
        assert_eq!(x, side, "row {r}");
    }
}

#[test]
fn dark_mode_code_is_read() {
    let payload = pseudo_random(300, 42);
    let mut img = render_qr(&payload, EcLevel::M).unwrap().to_image(5);
    image::imageops::invert(&mut img);
    assert_eq!(scan_one(&png_of(&img)).bytes, payload);
}

#[test]
fn small_code_in_a_large_busy_screenshot_is_read() {
    let payload = pseudo_random(370, 3);
    let code = render_qr(&payload, EcLevel::M).unwrap().to_image(3);
    let mut shot = GrayImage::from_fn(3840, 2160, |x, y| Luma([if (x / 37 + y / 23) % 5 == 0 { 90 } else { 235 }]));
    image::imageops::overlay(&mut shot, &code, 2900, 1500);
    assert_eq!(scan_one(&png_of(&shot)).bytes, payload);
}

#[test]
fn jpeg_screenshot_is_read() {
    let payload = pseudo_random(370, 9);
    let code = render_qr(&payload, EcLevel::M).unwrap().to_image(4);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 60)
        .write_image(code.as_raw(), code.width(), code.height(), image::ExtendedColorType::L8)
        .unwrap();
    assert_eq!(scan_one(&jpeg).bytes, payload);
}

#[test]
fn two_codes_in_one_picture_are_both_found() {
    let a = render_qr(b"first code", EcLevel::M).unwrap().to_image(6);
    let b = render_qr(b"second code", EcLevel::M).unwrap().to_image(6);
    let mut shot = GrayImage::from_pixel(a.width() + b.width() + 40, a.height().max(b.height()), Luma([255]));
    image::imageops::overlay(&mut shot, &a, 0, 0);
    image::imageops::overlay(&mut shot, &b, (a.width() + 40) as i64, 0);
    let mut found: Vec<Vec<u8>> =
        scan_image_bytes(&png_of(&shot), "two").unwrap().into_iter().map(|f| f.bytes).collect();
    found.sort();
    assert_eq!(found, vec![b"first code".to_vec(), b"second code".to_vec()]);
}

#[test]
fn picture_without_a_code_says_so() {
    let plain = GrayImage::from_fn(640, 480, |x, y| Luma([((x ^ y) & 0xff) as u8]));
    let err = scan_image_bytes(&png_of(&plain), "plain.png").unwrap_err();
    assert!(matches!(err, ScanError::NoCode { .. }), "{err:?}");
    assert!(err.to_string().starts_with("no QR code found in plain.png"), "{err}");
}

#[test]
fn text_is_not_an_image() {
    let err = scan_image_bytes(b"just some text, not a picture\n", "notes.txt").unwrap_err();
    assert!(matches!(err, ScanError::NotAnImage { .. }), "{err:?}");
    assert!(err.to_string().contains("notes.txt is not an image"), "{err}");
}

#[test]
fn truncated_png_is_reported_not_panicked() {
    let png = render_qr(b"cut", EcLevel::M).unwrap().to_png(8);
    for cut in [8, 30, png.len() / 2, png.len() - 12] {
        let err = scan_image_bytes(&png[..cut], "cut.png").unwrap_err();
        assert!(matches!(err, ScanError::Corrupt { .. } | ScanError::NotAnImage { .. }), "cut {cut}: {err:?}");
    }
}

#[test]
fn huge_dimensions_are_refused_before_decoding() {
    // A valid PNG header claiming 60000×60000 pixels: decoding it would need
    // 3.6 GB; it must be refused from the header alone.
    let png = super::hostile::png_declaring(60_000, 60_000, 0);
    let err = scan_image_bytes(&png, "bomb.png").unwrap_err();
    assert!(matches!(err, ScanError::TooManyPixels { w: 60_000, h: 60_000, .. }), "{err:?}");
}

#[test]
fn oversized_file_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.png");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(scan::MAX_FILE_BYTES + 1).unwrap();
    let err = scan_path(&path).unwrap_err();
    assert!(matches!(err, ScanError::FileTooLarge { .. }), "{err:?}");
}

#[test]
fn atomic_write_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("code.png");
    write_atomic(&path, b"first").unwrap();
    write_atomic(&path, b"second").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"second");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// Red on maroon (WCAG contrast 2.7:1), blurred with σ 3 px on 5 px
/// modules: what the photo corpus's `blur-logo` pictures hold. Read through
/// the brightest channel, sharpened; luma halves the contrast.
#[test]
fn a_blurred_red_on_maroon_code_is_read_in_colour() {
    let payload = b"https://example.org/red-on-maroon".to_vec();
    let code = render_qr(&payload, EcLevel::Q).unwrap().to_image(5);
    let rgb = image::RgbImage::from_fn(code.width(), code.height(), |x, y| {
        image::Rgb(if code.get_pixel(x, y).0[0] < 128 { [128, 0, 0] } else { [255, 0, 0] })
    });
    let blurred = image::imageops::blur(&rgb, 3.0);
    let rgba: Vec<u8> = blurred.pixels().flat_map(|p| [p.0[0], p.0[1], p.0[2], 255]).collect();
    let found = scan::scan_rgba(blurred.width(), blurred.height(), &rgba, "red on maroon").unwrap();
    assert_eq!(found[0].bytes, payload);

    let picture = scan::Picture::from_interleaved(blurred.width(), blurred.height(), &rgba, 4);
    assert!(picture.brightest.is_some(), "a red picture is coloured");
    let without_sharpening: Vec<scan::Stage> =
        scan::Stage::ALL.iter().copied().filter(|s| *s != scan::Stage::Sharpened).collect();
    let deadline = std::time::Instant::now() + scan::SCAN_BUDGET;
    assert!(
        scan::scan_picture_with(&picture, &without_sharpening, deadline).is_err(),
        "if this reads without the sharpened stage, the test no longer shows what the stage is for"
    );
}

/// ZXing blackbox photos (`fixtures/zxing`, qrcode-4) in the rotations the
/// bounded scanner once lost or never read; each read needs one of the
/// looks spent only where a code was seen but did not read: the negative's
/// binarization (a light card on a dark table: 34 at 0° and 180°), rqrr on
/// the quarter-turned enlarged copy (08 at 0°, 14 at 90°) or on the
/// seams-closed copy (08 at 180°). In a release build each gets the
/// scanner's real budget; a debug build a generous one.
#[test]
fn blackbox_photos_won_back_read_within_the_budget() {
    let budget = if cfg!(debug_assertions) { std::time::Duration::from_secs(60) } else { scan::SCAN_BUDGET };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/zxing");
    for (name, turns) in
        [("qrcode-4_08", 0), ("qrcode-4_08", 2), ("qrcode-4_14", 1), ("qrcode-4_34", 0), ("qrcode-4_34", 2)]
    {
        let expected = std::fs::read(dir.join(format!("{name}.txt"))).unwrap();
        let img = image::open(dir.join(format!("{name}.png"))).unwrap();
        let picture = scan::Picture::from_image(&img).rotated(turns);
        let started = std::time::Instant::now();
        let found = scan::scan_picture_with(&picture, &scan::Stage::ALL, started + budget);
        let took = started.elapsed();
        let found = found.unwrap_or_else(|miss| panic!("{name} turned {}°: {miss:?} after {took:?}", turns * 90));
        assert_eq!(found.len(), 1, "{name} turned {}°", turns * 90);
        assert_eq!(found[0].bytes, expected, "{name} turned {}°", turns * 90);
        assert!(took < budget, "{name} turned {}°: {took:?}", turns * 90);
    }
}

/// BT.601 luma, as zxing-cpp computes it; grey pictures get no colour plane.
#[test]
fn grey_is_bt601_luma_and_grey_pictures_have_no_colour_plane() {
    let rgb = [255u8, 0, 0, 0, 255, 0, 0, 0, 255, 200, 200, 200];
    let picture = scan::Picture::from_interleaved(4, 1, &rgb, 3);
    assert_eq!(picture.gray.as_raw(), &[76, 150, 29, 200]);
    let grey = [90u8; 3 * 64];
    assert!(scan::Picture::from_interleaved(8, 8, &grey, 3).brightest.is_none());
}

/// Issue 14's budget for codes that cross networks: one host and one
/// server-reflexive candidate fit version 4 at EC M (what a phone camera
/// reads from across a desk); with a relay candidate too, version 5.
#[test]
fn codes_with_stun_and_turn_candidates_stay_small() {
    use crate::signal::candidate::{Address, Candidate, CandidateType, Transport};
    use crate::signal::compact::{Description, Setup};
    use crate::signal::{self, Kind};
    let v4 = |a: [u8; 4]| Address::V4(std::net::Ipv4Addr::from(a));
    let candidate =
        |address, port, kind, related| Candidate { address, port, kind, transport: Transport::Udp, related };
    let host = candidate(v4([192, 168, 1, 10]), 40000, CandidateType::Host, None);
    let srflx = candidate(v4([203, 0, 113, 7]), 40001, CandidateType::Srflx, Some((v4([192, 168, 1, 10]), 40000)));
    let relay = candidate(v4([198, 51, 100, 9]), 49160, CandidateType::Relay, Some((v4([203, 0, 113, 7]), 40001)));
    for (candidates, most) in [(vec![host.clone(), srflx.clone()], 4), (vec![host, srflx, relay], 5)] {
        for answer in [false, true] {
            let fingerprint: [u8; 32] = std::array::from_fn(|i| i as u8 ^ 0xa5);
            let (ufrag, pwd) = signal::derive_credentials(&fingerprint);
            let d = Description {
                fingerprint,
                ufrag,
                pwd,
                setup: if answer { Setup::Active } else { Setup::ActPass },
                mid: "0".into(),
                sctp_port: 5000,
                max_message_size: 65536,
                ice_lite: false,
                candidates: candidates.clone(),
            };
            let kind = if answer { Kind::Answer } else { Kind::Offer };
            let payload = signal::encode(kind, &d.to_sdp(), answer.then_some([1, 2, 3, 4]));
            let version = render_qr(&payload, EcLevel::M).unwrap().version();
            let kinds: Vec<_> = candidates.iter().map(|c| c.kind).collect();
            assert!(version <= most, "{kind} with {kinds:?}: {} B, version {version} > {most}", payload.len());
        }
    }
}
