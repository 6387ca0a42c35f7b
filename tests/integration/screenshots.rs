//! Every screenshot-like fixture (made by `examples/make_screenshots.rs`:
//! busy UI, 720p to 4K, scaled, JPEG, dark mode, rotated, perspective,
//! blur, noise, several codes) must give back its exact payload, and that
//! payload must be a qrpair code.

use std::path::Path;

#[test]
fn every_screenshot_fixture_decodes_to_its_exact_payload() {
    every_fixture_decodes_exactly("fixtures/screenshots", 24);
}

/// Real captures of `qrpair offer` in xterm under Xvfb (DejaVu Sans Mono
/// 8–16 px, light and dark themes; as taken, at 50 % and 200 %, and as JPEG
/// q60), expected bytes from zxing-cpp. `upper-half-*` were drawn with the
/// upper half block, whose glyph leaves a light seam at the top of every
/// cell; `lower-half-*` with the lower half block qrpair draws now.
#[test]
fn every_terminal_capture_decodes_to_its_exact_payload() {
    every_fixture_decodes_exactly("fixtures/terminal", 64);
}

fn every_fixture_decodes_exactly(folder: &str, at_least: usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
    entries.sort();
    for image in entries {
        if !matches!(image.extension().and_then(|e| e.to_str()), Some("png" | "jpg")) {
            continue;
        }
        let expected = std::fs::read(image.with_extension("bin")).unwrap();
        assert!(qrpair::signal::decode(&expected).is_ok(), "{}: fixture payload is not a qrpair code", image.display());
        match qrpair::qr::scan_path(&image) {
            // Every code in these pictures is a qrpair code: anything read
            // that does not decode as one is bytes that are not a code's
            // content (codewords, a misread), worse than a miss.
            Ok(found) if found.iter().any(|f| qrpair::signal::decode(&f.bytes).is_err()) => {
                failures.push(format!("{}: a wrong payload was returned", image.display()))
            }
            Ok(found) if found.iter().any(|f| qrpair::source::content(f.bytes.clone()) == expected) => {}
            Ok(found) => failures.push(format!("{}: read {} other code(s)", image.display(), found.len())),
            Err(e) => failures.push(format!("{}: {e}", image.display())),
        }
        checked += 1;
    }
    assert!(checked >= at_least, "only {checked} fixtures");
    assert!(failures.is_empty(), "{} of {checked} failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn several_codes_in_one_picture_prefer_the_expected_kind() {
    // 1080p-three-codes holds three offers; `read_file` with an answer
    // expected must refuse with the kind error, not the first foreign code.
    let image = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/screenshots/1080p-three-codes.jpg");
    let found = qrpair::qr::scan_path(&image).unwrap();
    assert_eq!(found.len(), 3, "all three codes are listed");
    let err = qrpair::source::read_file(&image, Some(qrpair::source::Want::offer())).map(|o| o.payload.kind);
    assert_eq!(err.unwrap(), qrpair::signal::Kind::Offer);
}
