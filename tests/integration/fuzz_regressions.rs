//! Every fuzz seed and every input that ever made a fuzzer fail, replayed
//! through the same bodies (`qrpair::fuzzing`) on the stable toolchain.
//! A crash found by `fuzz/run.sh` goes into fixtures/fuzz/TARGET/ and stays
//! here as a regression test.

use std::path::Path;

fn replay(target: &str, body: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fuzz").join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| body(&bytes));
        assert!(outcome.is_ok(), "{target} fails on {}", path.display());
        count += 1;
    }
    assert!(count > 0, "no inputs for {target}");
    count
}

#[test]
fn payload_inputs() {
    replay("decode_payload", qrpair::fuzzing::payload);
}

#[test]
fn token_inputs() {
    replay("decode_token", qrpair::fuzzing::token);
}

#[test]
fn sdp_inputs() {
    replay("sdp_rebuild", qrpair::fuzzing::sdp);
}

#[test]
fn image_inputs() {
    replay("scan_image", qrpair::fuzzing::image);
}

#[test]
fn session_inputs() {
    replay("session_messages", |data| {
        qrpair::fuzzing::session(data);
    });
}

/// The session body's own checks must be able to fail: a well-formed
/// exchange really lands a verified file, and the climbing one is refused.
#[test]
fn session_seeds_exercise_the_receiver() {
    let seeds = qrpair::fuzzing::session_seeds();
    let kept: Vec<usize> = seeds.iter().map(|seed| qrpair::fuzzing::session(seed)).collect();
    // a.txt, dir/sub/b.bin and an empty file land; "../escape" does not.
    assert_eq!(kept, [1, 1, 1, 0]);
    // Cut anywhere, the exchange keeps the file exactly when the sender's
    // digest (the fifth message: hello, manifest, start, data, end) arrived.
    let exchange = &seeds[0];
    let mut verified_at = 0;
    for _ in 0..5 {
        verified_at += 2 + u16::from_le_bytes([exchange[verified_at], exchange[verified_at + 1]]) as usize;
    }
    for cut in 0..exchange.len() {
        let kept = qrpair::fuzzing::session(&exchange[..cut]);
        assert_eq!(kept, usize::from(cut >= verified_at), "cut at {cut} of {}", exchange.len());
    }
}
