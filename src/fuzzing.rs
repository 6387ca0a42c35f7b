//! The bodies of the fuzz targets (`fuzz/`), here so that the stable test
//! suite replays every seed and every input that ever crashed one
//! (`fixtures/fuzz/`, tests/integration/fuzz_regressions.rs) through the same code.
//! Each panics only on a real defect: a broken invariant or a crash.

use crate::qr;
use crate::session::link::ScriptedLink;
use crate::session::transfer::{self, Entry, Event, Existing, Observer, ReceiveOptions};
use crate::signal::{self, Description, Form, Kind};

/// Arbitrary bytes as a scanned QR payload: whatever decodes rebuilds into
/// a description that re-encodes to the same description.
pub fn payload(data: &[u8]) {
    if let Ok(payload) = signal::decode(data) {
        if payload.form == Form::Compact {
            let description = Description::from_sdp(&payload.sdp).expect("a rebuilt description parses");
            let again = signal::encode(payload.kind, &payload.sdp, payload.tag);
            let back = signal::decode(&again).expect("re-encoded payload decodes");
            assert_eq!(Description::from_sdp(&back.sdp).expect("parses"), description);
        }
    }
}

/// Arbitrary text as a token or a browser's JSON description.
pub fn token(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(bytes) = signal::decode_token(text) {
        let _ = signal::decode(&bytes);
    }
    if let Ok((kind, sdp)) = signal::parse_sdp_json(text) {
        let _ = signal::decode(&signal::encode(kind, &sdp, None));
    }
}

/// Arbitrary text as a session description from any peer: whatever
/// `decode` would take as a description (text starting `v=0` with a media
/// section, within the inflate cap) must come back from packing for a QR,
/// and equal to the original when the compact form was used.
pub fn sdp(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let plausible =
        text.starts_with("v=0") && text.lines().any(|l| l.starts_with("m=")) && text.len() <= signal::MAX_SDP_BYTES;
    for kind in [Kind::Offer, Kind::Answer] {
        let packed = signal::encode(kind, &text, None);
        let unpacked = match signal::decode(&packed) {
            Ok(unpacked) => unpacked,
            Err(e) => {
                // Refused on purpose: a description that can never connect
                // (a host-name candidate, a weak fingerprint hash).
                let unusable = signal::check_usable(&text).is_err();
                assert!(!plausible || unusable, "a description did not survive packing: {e}");
                continue;
            }
        };
        assert_eq!(unpacked.kind, kind);
        if unpacked.form == Form::Compact {
            let original = Description::from_sdp(&text).expect("compact form only for parseable descriptions");
            assert_eq!(Description::from_sdp(&unpacked.sdp).expect("rebuilt parses"), original);
        }
    }
    if let Ok(parsed) = signal::Payload::new(Kind::Offer, text.to_string(), None, Form::Deflate) {
        let _ = parsed.answer_tag();
    }
    let _ = signal::to_sdp_json(Kind::Offer, &text);
}

/// Arbitrary bytes as an image file handed to `decode` or `--answer`.
pub fn image(data: &[u8]) {
    let _ = qr::scan::scan_image_bytes(data, "fuzz input");
}

/// Arbitrary bytes as the messages a hostile sender sends a receiver:
/// each message is a 2-byte little-endian length and that many bytes. The
/// receiver must end without panicking and write nothing outside its
/// folder; a file that looks complete holds exactly the bytes whose digest
/// the sender announced; no file is verified twice; and a session that
/// ends well has verified every file its manifest announced. Returns how
/// many files were verified and kept.
pub fn session(data: &[u8]) -> usize {
    let Ok(root) = tempfile::tempdir() else { return 0 };
    let inbox = root.path().join("inbox");
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return 0 };
    let link = ScriptedLink::new(split_messages(data));
    let opts = ReceiveOptions { dir: inbox.clone(), existing: Existing::Overwrite, consent: None };
    let mut seen = Collect::default();
    let outcome = runtime.block_on(transfer::receive(link, opts, &mut seen, std::future::pending()));
    drop(runtime);
    let outside: Vec<_> = std::fs::read_dir(root.path())
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).filter(|n| n != "inbox").collect())
        .unwrap_or_default();
    assert!(outside.is_empty(), "written outside the receiving folder: {outside:?}");
    for (path, digest) in &seen.done {
        let bytes = std::fs::read(inbox.join(path)).expect("a file reported complete exists");
        assert_eq!(blake3::hash(&bytes).to_hex().as_str(), digest, "{path} does not hold what was verified");
    }
    let distinct: std::collections::HashSet<_> = seen.done.iter().map(|(p, _)| p).collect();
    assert_eq!(distinct.len(), seen.done.len(), "a file was verified twice");
    if let Ok(report) = outcome {
        assert_eq!(Some(seen.done.len()), seen.announced, "a session ended well with files missing");
        assert_eq!(report.files, seen.done.len());
    }
    seen.done.len()
}

#[derive(Default)]
struct Collect {
    announced: Option<usize>,
    done: Vec<(String, String)>,
}

impl Observer for Collect {
    fn event(&mut self, event: Event) {
        match event {
            Event::Manifest { files, .. } => self.announced = Some(files),
            Event::FileDone { path, blake3, ok: true, .. } => self.done.push((path, blake3)),
            _ => {}
        }
    }
}

fn split_messages(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while data.len() >= 2 {
        let len = u16::from_le_bytes([data[0], data[1]]) as usize;
        let body = &data[2..];
        let take = len.min(body.len());
        out.push(body[..take].to_vec());
        data = &body[take..];
    }
    out
}

/// Exchanges a well-behaved sender would have, as `session` inputs: seeds
/// that take the fuzzer past the greeting and the manifest.
pub fn session_seeds() -> Vec<Vec<u8>> {
    use crate::session::{Frame, Role, PROTOCOL_VERSION};
    let control = |v: serde_json::Value| Frame::Control(v.to_string().as_bytes()).encode();
    let file = |path: &str, body: &[u8]| {
        let entries = vec![Entry { path: path.into(), size: body.len() as u64, dir: false, source: String::new() }];
        vec![
            Frame::Hello { version: PROTOCOL_VERSION, role: Role::Send }.encode(),
            control(serde_json::json!({"t": "manifest", "entries": entries, "more": false})),
            control(serde_json::json!({"t": "file_start", "index": 0, "offset": 0})),
            Frame::Data(body).encode(),
            control(serde_json::json!({"t": "file_end", "index": 0, "blake3": blake3::hash(body).to_hex().as_str()})),
            control(serde_json::json!({"t": "done"})),
            Frame::Bye.encode(),
        ]
    };
    let join = |messages: Vec<Vec<u8>>| -> Vec<u8> {
        messages.iter().flat_map(|m| [&(m.len() as u16).to_le_bytes()[..], m].concat()).collect()
    };
    vec![
        join(file("a.txt", b"hello\n")),
        join(file("dir/sub/b.bin", &[0, 1, 2, 255])),
        join(file("empty", b"")),
        join(file("../escape", b"x")),
    ]
}
