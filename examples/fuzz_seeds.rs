//! Writes the fuzzers' seed inputs into fixtures/fuzz/TARGET/ from the
//! project's fixtures: valid payloads, tokens, descriptions, small QR
//! pictures and well-formed sender exchanges, so each fuzzer starts past
//! the first checks. The stable test suite replays the same files.
//!
//!     cargo run --release --example fuzz_seeds

use qrpair::signal::{self, Kind};
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let out = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join("fuzz").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let mut sdps = Vec::new();
    for entry in std::fs::read_dir(root.join("sdp")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let (kind, sdp) = signal::parse_sdp_json(&text).unwrap_or((Kind::Offer, text.clone()));
        sdps.push((path.file_stem().unwrap().to_string_lossy().into_owned(), kind, sdp));
    }
    for (name, kind, sdp) in &sdps {
        let tag = (*kind == Kind::Answer).then_some([1, 2, 3, 4]);
        let compact = signal::encode(*kind, sdp, tag);
        let deflate = signal::encode_deflate(*kind, sdp, tag);
        out("decode_payload", &format!("{name}.compact"), &compact);
        out("decode_payload", &format!("{name}.deflate"), &deflate);
        out("decode_token", &format!("{name}.token"), signal::encode_token(&compact).as_bytes());
        out("decode_token", &format!("{name}.json"), signal::to_sdp_json(*kind, sdp).as_bytes());
        out("sdp_rebuild", &format!("{name}.sdp"), sdp.as_bytes());
    }
    for (name, kind, sdp) in sdps.iter().take(3) {
        let code = qrpair::qr::render_qr(&signal::encode(*kind, sdp, None), qrpair::qr::EcLevel::L).unwrap();
        out("scan_image", &format!("{name}.png"), &code.to_png(2));
    }
    // Pictures that once made the scanner search for minutes: small enough
    // for the fuzzer's length limit, and a slow or hungry regression fails
    // its -timeout / -rss_limit_mb.
    for (name, picture) in [
        ("finder-tiling-200", qrpair::qr::hostile::finder_tiling(200, 12)),
        ("finder-tiling-300", qrpair::qr::hostile::finder_tiling(300, 12)),
    ] {
        let mut png = Vec::new();
        picture.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        out("scan_image", &format!("{name}.png"), &png);
    }
    for (i, seed) in qrpair::fuzzing::session_seeds().iter().enumerate() {
        out("session_messages", &format!("exchange-{i}.bin"), seed);
    }
}
