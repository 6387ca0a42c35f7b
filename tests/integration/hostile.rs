//! A crafted peer: this test pairs with a real `qrpair answer --receive`
//! process through the library, then speaks the session protocol the way an
//! attacker would — names that climb out of the folder, absolute paths,
//! escape sequences, data that does not match what was announced. The
//! receiver must refuse with exit 3 and write nothing anywhere.

use crate::common::*;
use qrpair::peer::{Channel, Peer, PeerOptions, Received};
use qrpair::session::{Frame, Role, PROTOCOL_VERSION};
use qrpair::signal::{self, Kind};
use std::path::Path;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// Pairs with `qrpair answer --receive inbox --yes` in `sb`, plays `frames`
/// at it as fast as it can, and returns every control message it sent back
/// together with the receiver's run.
fn play(sb: &Sandbox, frames: Vec<Vec<u8>>) -> (Vec<String>, Run) {
    play_with(sb, frames, &[])
}

/// `play`, with environment variables for the receiver.
fn play_with(sb: &Sandbox, frames: Vec<Vec<u8>>, env: &[(&str, &str)]) -> (Vec<String>, Run) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let opts = PeerOptions {
            bind: vec!["127.0.0.1".parse().unwrap()],
            stun: vec![],
            turn: vec![],
            relay_only: false,
            patience: LIMIT,
            mtu: None,
            identity: None,
        };
        let (mut peer, offer_sdp) = Peer::offer(&opts).await.unwrap();
        let token = signal::token::encode_token(&signal::encode(Kind::Offer, &offer_sdp, None));
        let mut cmd =
            sb.cmd(&["answer", &token, "--bind", "127.0.0.1", "--qr-out", "answer.png", "--receive", "inbox", "--yes"]);
        cmd.envs(env.iter().copied());
        let receiver = sb.spawn(cmd, b"", "receiver");
        let answer_png = sb.wait_for_file("answer.png", LIMIT);
        let want = qrpair::source::Want::answer_to(signal::offer_tag(&peer.fingerprint()));
        let answer = qrpair::source::read_file(&answer_png, Some(want)).unwrap();
        peer.accept_answer(&answer.payload).await.unwrap();
        let mut channel = peer.open(LIMIT).await.unwrap();
        qrpair::session::exchange_nonces(&mut channel).await.unwrap();
        for frame in frames {
            // The receiver may hang up half-way: that is its right.
            if channel.send(&frame).await.is_err() {
                break;
            }
        }
        let replies = controls(&mut channel).await;
        channel.close().await;
        (replies, sb.finish(receiver, "receiver", LIMIT))
    })
}

async fn controls(channel: &mut Channel) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(Ok(Received::Message(m))) = tokio::time::timeout(LIMIT, channel.recv()).await {
        if let Ok(Frame::Control(json)) = Frame::decode(&m) {
            out.push(String::from_utf8_lossy(json).into_owned());
        }
    }
    out
}

fn hello() -> Vec<u8> {
    Frame::Hello { version: PROTOCOL_VERSION, role: Role::Send }.encode()
}

fn control(json: serde_json::Value) -> Vec<u8> {
    Frame::Control(json.to_string().as_bytes()).encode()
}

fn data(bytes: &[u8]) -> Vec<u8> {
    Frame::Data(bytes).encode()
}

/// A manifest, then the attack carried through as if it had been accepted.
fn manifest_and_file(paths: &[&str]) -> Vec<Vec<u8>> {
    let entries: Vec<_> = paths.iter().map(|p| serde_json::json!({"path": p, "size": 6, "dir": false})).collect();
    let mut frames = vec![hello(), control(serde_json::json!({"t": "manifest", "entries": entries, "more": false}))];
    for index in 0..paths.len() {
        frames.push(control(serde_json::json!({"t": "file_start", "index": index, "offset": 0})));
        frames.push(data(b"owned\n"));
        frames.push(control(
            serde_json::json!({"t": "file_end", "index": index, "blake3": blake3::hash(b"owned\n").to_hex().as_str()}),
        ));
    }
    frames.push(control(serde_json::json!({"t": "done"})));
    frames
}

/// Every file and folder under `dir`, relative.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries {
            let path = e.unwrap().path();
            out.push(path.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            if path.is_dir() {
                out.extend(
                    listing(&path).into_iter().map(|p| format!("{}/{p}", path.file_name().unwrap().to_string_lossy())),
                );
            }
        }
    }
    out.sort();
    out
}

/// What the receiver said once connected (before that, stderr holds the
/// answer QR drawn with colour escapes of our own).
fn after_connecting(run: &Run) -> &str {
    run.stderr.split_once("Both screens must show the same code").map_or(run.stderr.as_str(), |(_, rest)| rest)
}

fn assert_refused(sb: &Sandbox, replies: &[String], run: &Run, needle: &str) {
    let said = after_connecting(run);
    assert_eq!(run.code(), 3, "receiver said:\n{said}");
    assert!(replies.iter().any(|r| r.contains("\"refuse\"")), "no refusal sent back: {replies:?}");
    assert!(said.contains(needle), "stderr does not name {needle:?}:\n{said}");
    assert!(!said.contains('\u{1b}'), "raw escape reached the terminal:\n{said:?}");
    assert_eq!(listing(&sb.path("inbox")), Vec::<String>::new(), "something was written to the inbox");
}

#[test]
fn a_manifest_climbing_out_of_the_folder_is_refused_and_nothing_is_written() {
    let sb = Sandbox::new();
    let (replies, run) = play(&sb, manifest_and_file(&["fine.txt", "../escape.txt"]));
    assert_refused(&sb, &replies, &run, "../escape.txt");
    assert!(!sb.path("escape.txt").exists());
}

#[test]
fn a_manifest_with_an_absolute_path_is_refused_and_nothing_is_written() {
    let sb = Sandbox::new();
    let target = sb.path("owned.txt");
    let (replies, run) = play(&sb, manifest_and_file(&[target.to_str().unwrap()]));
    assert_refused(&sb, &replies, &run, "owned.txt");
    assert!(!target.exists(), "{} was written", target.display());
}

#[test]
fn a_manifest_with_escape_sequences_or_hidden_climbs_is_refused() {
    for bad in ["a/../../climb.txt", "title\u{1b}]0;pwned\u{7}.txt", "back\\..\\slash.txt", "./", ""] {
        let sb = Sandbox::new();
        let (replies, run) = play(&sb, manifest_and_file(&["ok.txt", bad]));
        let said = after_connecting(&run);
        assert_eq!(run.code(), 3, "{bad:?}: receiver said:\n{said}");
        assert!(replies.iter().any(|r| r.contains("\"refuse\"")), "{bad:?}: {replies:?}");
        assert!(!said.contains('\u{1b}'), "{bad:?}: raw escape reached the terminal: {said:?}");
        assert_eq!(listing(&sb.path("inbox")), Vec::<String>::new(), "{bad:?}: something was written");
        assert!(!sb.path("climb.txt").exists());
    }
}

#[test]
fn more_data_than_announced_is_refused_and_no_complete_file_appears() {
    let sb = Sandbox::new();
    let entries = serde_json::json!([{"path": "small.txt", "size": 2, "dir": false}]);
    let frames = vec![
        hello(),
        control(serde_json::json!({"t": "manifest", "entries": entries, "more": false})),
        control(serde_json::json!({"t": "file_start", "index": 0, "offset": 0})),
        data(&[b'x'; 4096]),
        control(
            serde_json::json!({"t": "file_end", "index": 0, "blake3": blake3::hash(&[b'x'; 4096]).to_hex().as_str()}),
        ),
        control(serde_json::json!({"t": "done"})),
    ];
    let (_, run) = play(&sb, frames);
    assert_eq!(run.code(), 3, "{}", after_connecting(&run));
    assert!(run.stderr.contains("more data than the manifest"), "{}", after_connecting(&run));
    assert!(!sb.path("inbox/small.txt").exists(), "a complete-looking file appeared");
}

#[test]
fn a_file_start_outside_the_manifest_and_garbage_frames_are_refused() {
    for attack in [
        vec![control(serde_json::json!({"t": "file_start", "index": 7, "offset": 0}))],
        vec![control(serde_json::json!({"t": "file_start", "index": 0, "offset": 1u64 << 40}))],
        vec![vec![0xff, 0x00, 0x13, 0x37]],
        vec![Frame::Control(b"{not json").encode()],
    ] {
        let sb = Sandbox::new();
        let entries = serde_json::json!([{"path": "a.txt", "size": 6, "dir": false}]);
        let mut frames =
            vec![hello(), control(serde_json::json!({"t": "manifest", "entries": entries, "more": false}))];
        frames.extend(attack);
        let started = std::time::Instant::now();
        let (_, run) = play(&sb, frames);
        eprintln!("attack took {:?}", started.elapsed());
        assert_eq!(run.code(), 3, "{}", after_connecting(&run));
        assert!(!sb.path("inbox/a.txt").exists(), "a complete-looking file appeared");
    }
}

fn two_file_manifest() -> Vec<Vec<u8>> {
    let entries = serde_json::json!([
        {"path": "a.txt", "size": 6, "dir": false},
        {"path": "b.txt", "size": 6, "dir": false},
    ]);
    vec![hello(), control(serde_json::json!({"t": "manifest", "entries": entries, "more": false}))]
}

fn whole_file(index: usize, body: &[u8]) -> Vec<Vec<u8>> {
    vec![
        control(serde_json::json!({"t": "file_start", "index": index, "offset": 0})),
        data(body),
        control(serde_json::json!({"t": "file_end", "index": index, "blake3": blake3::hash(body).to_hex().as_str()})),
    ]
}

/// A sender that stops talking mid-file but keeps the connection: the
/// receiver used to wait forever.
#[test]
fn a_sender_that_goes_silent_mid_file_is_given_up_on() {
    let sb = Sandbox::new();
    // Larger than one chunk, so what arrives is written as it comes.
    let entries = serde_json::json!([{"path": "a.txt", "size": 100_000, "dir": false}]);
    let mut frames = vec![hello(), control(serde_json::json!({"t": "manifest", "entries": entries, "more": false}))];
    frames.push(control(serde_json::json!({"t": "file_start", "index": 0, "offset": 0})));
    frames.push(data(b"own"));
    let started = std::time::Instant::now();
    let (replies, run) = play_with(&sb, frames, &[("QRPAIR_IDLE_SECS", "2")]);
    let said = after_connecting(&run);
    assert_eq!(run.code(), 4, "receiver said:\n{said}");
    assert!(said.contains("nothing heard from the peer for 2s while the transfer was under way"), "{said}");
    assert!(replies.iter().any(|r| r.contains("heard nothing from this side")), "{replies:?}");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    assert_eq!(std::fs::read(sb.path("inbox/a.txt.qrpair.part")).unwrap(), b"own", "what arrived is kept for resume");
    assert!(!sb.path("inbox/a.txt").exists());
}

/// `done` before every announced file: the receiver used to exit 0 with
/// b.txt missing.
#[test]
fn done_before_every_announced_file_is_refused() {
    let sb = Sandbox::new();
    let mut frames = two_file_manifest();
    frames.extend(whole_file(0, b"first\n"));
    frames.push(control(serde_json::json!({"t": "done"})));
    let (_, run) = play(&sb, frames);
    let said = after_connecting(&run);
    assert_eq!(run.code(), 3, "receiver said:\n{said}");
    assert!(
        said.contains("the sender said it was done, but 1 of the 2 file(s) never arrived (the first: b.txt)"),
        "{said}"
    );
    assert!(!said.contains("done: "), "{said}");
    assert_eq!(std::fs::read(sb.path("inbox/a.txt")).unwrap(), b"first\n");
    assert_eq!(listing(&sb.path("inbox")), ["a.txt"]);
}

/// A second start for a finished file used to write it again over the
/// verified one.
#[test]
fn a_finished_file_is_not_written_again() {
    let sb = Sandbox::new();
    let mut frames = two_file_manifest();
    frames.extend(whole_file(0, b"first\n"));
    frames.extend(whole_file(0, b"evil!\n"));
    frames.extend(whole_file(1, b"other\n"));
    frames.push(control(serde_json::json!({"t": "done"})));
    let (_, run) = play(&sb, frames);
    let said = after_connecting(&run);
    assert_eq!(run.code(), 3, "receiver said:\n{said}");
    assert!(said.contains("a.txt was sent a second time"), "{said}");
    assert_eq!(std::fs::read(sb.path("inbox/a.txt")).unwrap(), b"first\n");
    assert!(!sb.path("inbox/b.txt").exists());
}

/// `invoice_<U+202E>fdp.exe` arrived and was shown as `invoice_exe.pdf`;
/// a zero-width space passed unseen. Refused, and shown escaped.
#[test]
fn names_with_invisible_or_direction_changing_characters_are_refused_and_shown_escaped() {
    for (bad, shown) in [
        ("invoice_\u{202e}fdp.exe", "invoice_\\u{202e}fdp.exe"),
        ("pay\u{200b}pal.txt", "pay\\u{200b}pal.txt"),
        ("line\u{2028}break.txt", "line\\u{2028}break.txt"),
    ] {
        let sb = Sandbox::new();
        let (replies, run) = play(&sb, manifest_and_file(&["ok.txt", bad]));
        assert_refused(&sb, &replies, &run, shown);
        let said = after_connecting(&run);
        assert!(said.contains("holds invisible or direction-changing characters"), "{said}");
        let raw = bad.chars().find(|c| !c.is_ascii()).unwrap();
        assert!(!said.contains(raw), "{bad:?}: the raw character reached the terminal: {said:?}");
    }
}
