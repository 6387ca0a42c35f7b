use super::control::{runs, send_control, Control, MAX_CONTROL_BYTES};
use super::landing::{
    forget_partial, free_name, inspect_partial, open_partial, part_path, place, record_path, resolves_inside,
    with_suffix, Partial,
};
use super::manifest::check_manifest;
use super::outgoing::Pack;
use super::receive::receive_all;
use super::send::send_all;
use super::{receive, Entry, Event, Existing, Observer, ReceiveOptions, Report, TransferError};
use crate::session::frame::{Frame, Role, PROTOCOL_VERSION};
use crate::session::names;
use crate::session::names::NameError;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[test]
fn hostile_manifests_are_refused_whole() {
    let ok = Entry { path: "photos/a.jpg".into(), size: 3, dir: false, source: String::new() };
    for bad in ["../escape", "/etc/passwd", "a/../../b", "x\u{1b}[2J"] {
        let entries = vec![ok.clone(), Entry { path: bad.into(), size: 1, dir: false, source: String::new() }];
        assert!(check_manifest(&entries).is_err(), "{bad:?} accepted");
    }
    let huge = vec![
        Entry { path: "a".into(), size: u64::MAX, dir: false, source: String::new() },
        Entry { path: "b".into(), size: 1, dir: false, source: String::new() },
    ];
    assert!(matches!(check_manifest(&huge), Err(NameError::TotalTooLarge)));
    let dup = vec![ok.clone(), ok.clone()];
    assert!(matches!(check_manifest(&dup), Err(NameError::Duplicate(_))));
    assert_eq!(check_manifest(&[ok]).unwrap(), vec![PathBuf::from("photos").join("a.jpg")]);
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_inside_the_folder_cannot_lead_outside() {
    let outside = tempfile::tempdir().unwrap();
    let inbox = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), inbox.path().join("tree")).unwrap();
    let root = inbox.path().canonicalize().unwrap();
    assert!(!resolves_inside(&root, &inbox.path().join("tree/passwd")));
    assert!(!resolves_inside(&root, &inbox.path().join("tree/new/deeper.txt")));
    assert!(resolves_inside(&root, &inbox.path().join("plain/new.txt")));
    assert!(resolves_inside(&root, &inbox.path().join("file.txt")));
}

#[test]
fn lists_go_in_pieces_that_fit_one_message() {
    let entries: Vec<Entry> = (0..5000)
        .map(|i| Entry {
            path: format!("{}/{i}", "long-name-".repeat(20)),
            size: i,
            dir: false,
            source: "0".repeat(32),
        })
        .collect();
    let pieces = runs(&entries).unwrap();
    assert!(pieces.len() > 1);
    assert_eq!(pieces.iter().map(|r| r.len()).sum::<usize>(), entries.len());
    for range in pieces {
        let c = Control::Manifest { entries: entries[range].to_vec(), more: true };
        assert!(serde_json::to_vec(&c).unwrap().len() <= MAX_CONTROL_BYTES);
    }
    assert_eq!(runs::<usize>(&[]).unwrap(), vec![0..0]);
}

/// webrtc's answer to an oversized message reads "connection lost".
#[test]
fn a_message_too_large_for_the_channel_is_not_a_lost_connection() {
    let link = crate::session::link::ScriptedLink::new([]);
    let huge = Control::Refuse { reason: "x".repeat(MAX_CONTROL_BYTES) };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let sent = runtime.block_on(send_control(&link, &huge));
    assert!(matches!(sent, Err(TransferError::TooLarge(_))), "{sent:?}");
    assert!(link.sent.lock().unwrap().is_empty());
}

struct Events(Vec<Event>);
impl Observer for Events {
    fn event(&mut self, event: Event) {
        self.0.push(event);
    }
}

fn control(v: serde_json::Value) -> Vec<u8> {
    Frame::Control(v.to_string().as_bytes()).encode()
}

fn hello(role: Role) -> Vec<u8> {
    Frame::Hello { version: PROTOCOL_VERSION, role }.encode()
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// Receives from a scripted sender into a fresh folder, with a short idle limit.
fn receive_scripted(link: ScriptedLink) -> (tempfile::TempDir, Result<Report, TransferError>, Vec<Event>) {
    let dir = tempfile::tempdir().unwrap();
    let opts = ReceiveOptions { dir: dir.path().join("inbox"), existing: Existing::Refuse, consent: None };
    let mut events = Events(Vec::new());
    let mut link = link;
    let idle = Duration::from_millis(300);
    let outcome = block_on(receive_all(&mut link, opts, &mut events, std::future::pending(), idle));
    (dir, outcome, events.0)
}

fn a_file(index: usize, body: &[u8]) -> Vec<Vec<u8>> {
    vec![
        control(serde_json::json!({"t": "file_start", "index": index, "offset": 0})),
        Frame::Data(body).encode(),
        control(serde_json::json!({"t": "file_end", "index": index, "blake3": blake3::hash(body).to_hex().as_str()})),
    ]
}

fn two_files() -> Vec<Vec<u8>> {
    let entries = serde_json::json!([
        {"path": "a.txt", "size": 2, "dir": false},
        {"path": "b.txt", "size": 2, "dir": false},
    ]);
    vec![hello(Role::Send), control(serde_json::json!({"t": "manifest", "entries": entries, "more": false}))]
}

use crate::session::link::ScriptedLink;

#[test]
fn a_receiver_whose_sender_hangs_gives_up_and_keeps_the_part() {
    // Larger than one chunk, so it is written as it arrives.
    let entries = serde_json::json!([{"path": "a.txt", "size": 100_000, "dir": false}]);
    let mut script =
        vec![hello(Role::Send), control(serde_json::json!({"t": "manifest", "entries": entries, "more": false}))];
    script.push(control(serde_json::json!({"t": "file_start", "index": 0, "offset": 0})));
    script.push(Frame::Data(b"a").encode());
    let started = std::time::Instant::now();
    let (dir, outcome, _) = receive_scripted(ScriptedLink::then_silent(script));
    assert!(matches!(outcome, Err(TransferError::Idle(_))), "{outcome:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(std::fs::read(dir.path().join("inbox/a.txt.qrpair.part")).unwrap(), b"a");
    assert!(!dir.path().join("inbox/a.txt").exists());
}

#[test]
fn done_before_every_file_arrived_is_an_error_not_a_success() {
    let mut script = two_files();
    script.extend(a_file(0, b"a\n"));
    script.push(control(serde_json::json!({"t": "done"})));
    let (dir, outcome, events) = receive_scripted(ScriptedLink::new(script));
    let Err(TransferError::Protocol(why)) = outcome else { panic!("{outcome:?}") };
    assert!(why.contains("1 of the 2 file(s) never arrived (the first: b.txt)"), "{why}");
    assert!(!events.iter().any(|e| matches!(e, Event::Done { .. })));
    assert_eq!(std::fs::read(dir.path().join("inbox/a.txt")).unwrap(), b"a\n");
    assert!(!dir.path().join("inbox/b.txt").exists());

    // In the middle of a file.
    let mut script = two_files();
    script.push(control(serde_json::json!({"t": "file_start", "index": 0, "offset": 0})));
    script.push(Frame::Data(b"a").encode());
    script.push(control(serde_json::json!({"t": "done"})));
    let (dir, outcome, _) = receive_scripted(ScriptedLink::new(script));
    let Err(TransferError::Protocol(why)) = outcome else { panic!("{outcome:?}") };
    assert!(why.contains("done in the middle of a.txt"), "{why}");
    assert!(!dir.path().join("inbox/a.txt").exists());
}

#[test]
fn a_finished_file_cannot_be_sent_again_over_itself() {
    let mut script = two_files();
    script.extend(a_file(0, b"a\n"));
    script.extend(a_file(0, b"X\n"));
    let (dir, outcome, _) = receive_scripted(ScriptedLink::new(script));
    let Err(TransferError::Protocol(why)) = outcome else { panic!("{outcome:?}") };
    assert!(why.contains("a.txt was sent a second time"), "{why}");
    assert_eq!(std::fs::read(dir.path().join("inbox/a.txt")).unwrap(), b"a\n");
    // Nor can a second file start while one is open.
    let mut script = two_files();
    script.push(control(serde_json::json!({"t": "file_start", "index": 0, "offset": 0})));
    script.extend(a_file(1, b"b\n"));
    let (_, outcome, _) = receive_scripted(ScriptedLink::new(script));
    let Err(TransferError::Protocol(why)) = outcome else { panic!("{outcome:?}") };
    assert!(why.contains("started before a.txt ended"), "{why}");
}

fn packed(files: &[(usize, &[u8])]) -> Vec<u8> {
    let mut pack = Pack::new();
    for (index, body) in files {
        pack.add(*index, body, &blake3::hash(body));
    }
    pack.take().unwrap().to_vec()
}

#[test]
fn small_files_arrive_packed_and_each_is_checked() {
    let mut script = two_files();
    script.push(packed(&[(0, b"a\n"), (1, b"b\n")]));
    script.push(control(serde_json::json!({"t": "done"})));
    let (dir, outcome, _) = receive_scripted(ScriptedLink::new(script));
    assert_eq!(outcome.unwrap().files, 2);
    assert_eq!(std::fs::read(dir.path().join("inbox/a.txt")).unwrap(), b"a\n");
    assert_eq!(std::fs::read(dir.path().join("inbox/b.txt")).unwrap(), b"b\n");
    assert_eq!(std::fs::read_dir(dir.path().join("inbox")).unwrap().count(), 2, "no partial files left");

    // A wrong digest or a short file: not kept. Too long, a repeat, a
    // cut record: refused.
    let mut bad = packed(&[(0, b"a\n")]);
    bad[10] ^= 1;
    for (extra, outcome_is) in [
        (vec![bad, packed(&[(1, b"b")])], "mismatch"),
        (vec![packed(&[(0, b"a\n!")])], "more data than the manifest's size"),
        (vec![packed(&[(0, b"a\n"), (0, b"a\n")])], "a.txt was sent a second time"),
        (vec![packed(&[(0, b"a\n")])[..20].to_vec()], "malformed packed-files"),
        (vec![packed(&[(7, b"a\n")])], "does not match the manifest"),
    ] {
        let mut script = two_files();
        script.extend(extra);
        script.push(control(serde_json::json!({"t": "done"})));
        let (dir, outcome, _) = receive_scripted(ScriptedLink::new(script));
        match outcome {
            Err(TransferError::Mismatch(2)) => assert_eq!(outcome_is, "mismatch"),
            Err(TransferError::Protocol(why)) => assert!(why.contains(outcome_is), "{why}"),
            other => panic!("{outcome_is}: {other:?}"),
        }
        assert!(!dir.path().join("inbox/a.txt").exists() || outcome_is == "a.txt was sent a second time");
        assert!(!dir.path().join("inbox/b.txt").exists());
    }
}

fn send_scripted(link: ScriptedLink) -> Result<Report, TransferError> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.txt"), b"x\n").unwrap();
    let mut link = link;
    let paths = [dir.path().join("x.txt")];
    block_on(send_all(&mut link, &paths, &mut Events(Vec::new()), std::future::pending(), Duration::from_millis(300)))
}

/// A sender that cannot begin says why; the receiver used to answer
/// "no hello first" and blame it for breaking the protocol.
#[test]
fn a_sender_that_stops_before_its_hello_is_heard() {
    let refuse = control(serde_json::json!({"t": "refuse", "reason": "the sender stopped: x.txt: gone"}));
    let (_, outcome, _) = receive_scripted(ScriptedLink::new([refuse]));
    let Err(TransferError::Refused(why)) = outcome else { panic!("{outcome:?}") };
    assert_eq!(why, "the sender said: \"the sender stopped: x.txt: gone\"");
}

#[test]
fn a_sender_whose_receiver_hangs_gives_up_but_waits_while_it_asks() {
    let outcome = send_scripted(ScriptedLink::then_silent([hello(Role::Receive)]));
    assert!(matches!(outcome, Err(TransferError::Idle(_))), "{outcome:?}");
    // The receiver's "still asking" keeps the sender waiting for the answer.
    let asking = control(serde_json::json!({"t": "still_here"}));
    let script = vec![
        hello(Role::Receive),
        asking.clone(),
        asking,
        control(serde_json::json!({"t": "accept", "resume": [], "more": false})),
        control(serde_json::json!({"t": "done"})),
    ];
    let report = send_scripted(ScriptedLink::new(script)).unwrap();
    assert_eq!(report.files, 1);
}

#[cfg(unix)]
#[test]
fn only_a_partial_file_qrpair_made_for_the_same_file_is_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("a.txt");
    let entry = Entry { path: "a.txt".into(), size: 10, dir: false, source: "s1".into() };
    assert_eq!(inspect_partial(&target, &entry, false), Partial::Absent);
    std::io::Write::write_all(&mut open_partial(&target, &entry, 0, false).unwrap(), b"abc").unwrap();
    assert_eq!(inspect_partial(&target, &entry, false), Partial::Resume(3));
    // The sender's file changed: ours, but restarted from scratch.
    let changed = Entry { source: "s2".into(), ..entry.clone() };
    assert_eq!(inspect_partial(&target, &changed, false), Partial::Replace);
    // A second name for it (a hard link) makes it foreign.
    std::fs::hard_link(part_path(&target), dir.path().join("elsewhere")).unwrap();
    assert_eq!(inspect_partial(&target, &entry, false), Partial::Foreign(part_path(&target)));
    assert_eq!(inspect_partial(&target, &entry, true), Partial::Replace);
    std::io::Write::write_all(&mut open_partial(&target, &entry, 0, true).unwrap(), b"new").unwrap();
    assert_eq!(std::fs::read(dir.path().join("elsewhere")).unwrap(), b"abc", "written through a link");
    // A file at our name without a record is not ours.
    forget_partial(&target);
    assert_eq!(inspect_partial(&target, &entry, false), Partial::Foreign(part_path(&target)));
}

/// A 250-byte name plus `.qrpair.part.id` would not fit in 255 bytes.
#[test]
fn partial_file_names_fit_even_for_the_longest_names() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["short.txt".to_string(), "é".repeat(127), "x".repeat(255)] {
        let target = dir.path().join(&name);
        for path in [part_path(&target), record_path(&target)] {
            let file_name = path.file_name().unwrap().to_str().unwrap();
            assert!(file_name.len() <= 255, "{file_name}");
            assert!(names::is_reserved(file_name), "{file_name}");
            assert_eq!(path, with_suffix(&target, &file_name[file_name.rfind(".qrpair").unwrap()..]));
        }
        let entry = Entry { path: name.clone(), size: 10, dir: false, source: "s".into() };
        std::io::Write::write_all(&mut open_partial(&target, &entry, 0, false).unwrap(), b"abc").unwrap();
        assert_eq!(inspect_partial(&target, &entry, false), Partial::Resume(3));
    }
    assert_ne!(part_path(&dir.path().join("x".repeat(255))), part_path(&dir.path().join("x".repeat(254))));
}

#[test]
fn free_name_skips_existing_files_and_parts() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("report.pdf");
    std::fs::write(&target, b"x").unwrap();
    std::fs::write(dir.path().join("report (1).pdf"), b"x").unwrap();
    std::fs::write(dir.path().join("report (2).pdf.qrpair.part"), b"x").unwrap();
    assert_eq!(free_name(&target, |_| false), dir.path().join("report (3).pdf"));
    let taken_by_this_transfer = dir.path().join("report (3).pdf");
    assert_eq!(free_name(&target, |p| p == taken_by_this_transfer), dir.path().join("report (4).pdf"));
    std::fs::write(dir.path().join("report (4).pdf.qrpair.part.id"), b"x").unwrap();
    assert_eq!(free_name(&target, |p| p == taken_by_this_transfer), dir.path().join("report (5).pdf"));
}

/// Receives from a scripted sender into `inbox` under `dir`, as `existing` says.
fn receive_into(dir: &Path, existing: Existing, link: ScriptedLink) -> (Result<Report, TransferError>, Vec<Event>) {
    let opts = ReceiveOptions { dir: dir.join("inbox"), existing, consent: None };
    let mut events = Events(Vec::new());
    let mut link = link;
    let outcome =
        block_on(receive_all(&mut link, opts, &mut events, std::future::pending(), Duration::from_millis(300)));
    (outcome, events.0)
}

fn manifest(entries: serde_json::Value) -> Vec<Vec<u8>> {
    vec![hello(Role::Send), control(serde_json::json!({"t": "manifest", "entries": entries, "more": false}))]
}

/// A file sent in 64 KiB messages: large enough for the disk path.
fn a_large_file(index: usize, body: &[u8]) -> Vec<Vec<u8>> {
    let mut script = vec![control(serde_json::json!({"t": "file_start", "index": index, "offset": 0}))];
    script.extend(body.chunks(64 << 10).map(|piece| Frame::Data(piece).encode()));
    script.push(control(
        serde_json::json!({"t": "file_end", "index": index, "blake3": blake3::hash(body).to_hex().as_str()}),
    ));
    script
}

/// Issue 21: with `rn/x.bin` already there, incoming `x.bin` was renamed to
/// `x (1).bin` and incoming `x (1).bin` then overwrote it, both sides
/// reporting success. Both the disk path (2 MB, its own fsync) and the
/// batched small-file path are checked.
#[test]
fn renaming_never_gives_two_incoming_files_one_name() {
    for size in [2_000_000usize, 40] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("inbox/rn")).unwrap();
        std::fs::write(dir.path().join("inbox/rn/x.bin"), b"already here").unwrap();
        let first: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let second: Vec<u8> = (0..size).map(|i| (i % 241) as u8 ^ 0x55).collect();
        let mut script = manifest(serde_json::json!([
            {"path": "rn", "size": 0, "dir": true},
            {"path": "rn/x.bin", "size": size, "dir": false},
            {"path": "rn/x (1).bin", "size": size, "dir": false},
        ]));
        script.extend(a_large_file(1, &first));
        script.extend(a_large_file(2, &second));
        script.push(control(serde_json::json!({"t": "done"})));
        let (outcome, events) = receive_into(dir.path(), Existing::Rename, ScriptedLink::new(script));
        assert_eq!(outcome.unwrap().files, 2, "{size}");
        let inbox = dir.path().join("inbox/rn");
        assert_eq!(std::fs::read(inbox.join("x.bin")).unwrap(), b"already here");
        assert_eq!(std::fs::read(inbox.join("x (1).bin")).unwrap(), second, "{size}");
        assert_eq!(std::fs::read(inbox.join("x (2).bin")).unwrap(), first, "{size}");
        let saved: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::FileDone { path, saved_as, ok: true, .. } => Some((path.as_str(), saved_as.as_deref())),
                _ => None,
            })
            .collect();
        assert!(saved.contains(&("rn/x.bin", Some("rn/x (2).bin"))), "{saved:?}");
        assert!(saved.contains(&("rn/x (1).bin", None)), "{saved:?}");
    }
}

/// A name taken after the plan was made (another program, another
/// transfer) is never written over: --rename moves on, otherwise the file
/// stays whole under its partial name.
#[test]
fn a_name_taken_while_the_file_arrived_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("a.txt.qrpair.part");
    let target = dir.path().join("a.txt");
    std::fs::write(&part, b"arrived").unwrap();
    std::fs::write(&target, b"theirs").unwrap();
    let Err(TransferError::Exists(why)) = place(&part, &target, Existing::Refuse) else { panic!() };
    assert!(why.contains("appeared while it was being received"), "{why}");
    assert_eq!(std::fs::read(&target).unwrap(), b"theirs");
    assert_eq!(std::fs::read(&part).unwrap(), b"arrived");
    assert_eq!(place(&part, &target, Existing::Rename).unwrap(), dir.path().join("a (1).txt"));
    assert_eq!(std::fs::read(&target).unwrap(), b"theirs");
    assert_eq!(std::fs::read(dir.path().join("a (1).txt")).unwrap(), b"arrived");
}

fn nothing_written(dir: &Path, expected: &[&str]) {
    let mut found: Vec<String> = walk(&dir.join("inbox"));
    found.sort();
    assert_eq!(found, expected);
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        out.push(name.clone());
        if entry.file_type().unwrap().is_dir() {
            out.extend(walk(&entry.path()).into_iter().map(|n| format!("{name}/{n}")));
        }
    }
    out
}

/// Issue 21: `x` plus `x/y`, a file onto a folder with --overwrite, a
/// folder where a file is: each failed half way after other files had
/// landed. Now each is refused before anything is written.
#[test]
fn clashes_are_found_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut script = manifest(serde_json::json!([
        {"path": "a.txt", "size": 2, "dir": false},
        {"path": "x", "size": 2, "dir": false},
        {"path": "x/y", "size": 2, "dir": false},
    ]));
    script.extend(a_file(0, b"a\n"));
    let (outcome, _) = receive_into(dir.path(), Existing::Refuse, ScriptedLink::new(script));
    let Err(TransferError::HostileManifest(NameError::FileAndFolder(file, under))) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!((file.as_str(), under.as_str()), ("x", "x/y"));
    assert!(!dir.path().join("inbox").exists());

    let script = manifest(serde_json::json!([
        {"path": "A.txt", "size": 2, "dir": false},
        {"path": "a.txt", "size": 2, "dir": false},
    ]));
    let (outcome, _) = receive_into(dir.path(), Existing::Refuse, ScriptedLink::new(script));
    assert!(matches!(outcome, Err(TransferError::HostileManifest(NameError::SameOnSomeDisks(..)))), "{outcome:?}");

    // A folder where the sender has a file, with --overwrite.
    std::fs::create_dir_all(dir.path().join("inbox/report.pdf/kept")).unwrap();
    let mut script = manifest(serde_json::json!([
        {"path": "a.txt", "size": 2, "dir": false},
        {"path": "report.pdf", "size": 2, "dir": false},
    ]));
    script.extend(a_file(0, b"a\n"));
    let (outcome, _) = receive_into(dir.path(), Existing::Overwrite, ScriptedLink::new(script));
    let Err(TransferError::Exists(why)) = outcome else { panic!("{outcome:?}") };
    assert!(why.contains("report.pdf in ") && why.contains("is a folder"), "{why}");
    nothing_written(dir.path(), &["report.pdf", "report.pdf/kept"]);

    // A file where the sender's files need a folder, whatever the flags.
    std::fs::write(dir.path().join("inbox/photos"), b"mine").unwrap();
    for existing in [Existing::Refuse, Existing::Overwrite, Existing::Rename] {
        let mut script = manifest(serde_json::json!([
            {"path": "a.txt", "size": 2, "dir": false},
            {"path": "new/b.txt", "size": 2, "dir": false},
            {"path": "photos/deep/c.jpg", "size": 2, "dir": false},
        ]));
        script.extend(a_file(0, b"a\n"));
        let (outcome, _) = receive_into(dir.path(), existing, ScriptedLink::new(script));
        let Err(TransferError::Exists(why)) = outcome else { panic!("{outcome:?}") };
        assert!(why.starts_with("photos in ") && why.contains("is a file"), "{why}");
        nothing_written(dir.path(), &["photos", "report.pdf", "report.pdf/kept"]);
    }
}

/// Issue 21: a sender dripping `still_here` in the middle of a file held
/// the receiver for minutes. Keepalives prove the link, not progress.
#[test]
fn keepalives_without_data_do_not_hold_the_receiver() {
    let mut script = manifest(serde_json::json!([{"path": "a.txt", "size": 100_000, "dir": false}]));
    script.push(control(serde_json::json!({"t": "file_start", "index": 0, "offset": 0})));
    script.push(Frame::Data(b"a").encode());
    script.extend(std::iter::repeat_n(control(serde_json::json!({"t": "still_here"})), 60));
    let mut link = ScriptedLink::then_silent(script);
    link.pace = Some(Duration::from_millis(25));
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (outcome, _) = receive_into(dir.path(), Existing::Refuse, link);
    assert!(matches!(outcome, Err(TransferError::Stalled(_))), "{outcome:?}");
    assert!(started.elapsed() < Duration::from_millis(1400), "{:?}", started.elapsed());
    assert_eq!(std::fs::read(dir.path().join("inbox/a.txt.qrpair.part")).unwrap(), b"a");
}

#[test]
fn endless_empty_pieces_of_a_list_are_refused() {
    let mut script = vec![hello(Role::Send)];
    script.extend(std::iter::repeat_n(control(serde_json::json!({"t": "manifest", "entries": [], "more": true})), 5));
    let dir = tempfile::tempdir().unwrap();
    let (outcome, _) = receive_into(dir.path(), Existing::Refuse, ScriptedLink::then_silent(script));
    let Err(TransferError::Protocol(why)) = outcome else { panic!("{outcome:?}") };
    assert!(why.contains("empty piece"), "{why}");

    let empty_accept = control(serde_json::json!({"t": "accept", "resume": [], "more": true}));
    let outcome = send_scripted(ScriptedLink::then_silent([hello(Role::Receive), empty_accept.clone(), empty_accept]));
    assert!(matches!(outcome, Err(TransferError::Protocol(_))), "{outcome:?}");
}

/// Issue 21: a hostile reason printed as `qrpair: <text>`, as if qrpair said it.
#[test]
fn a_peer_s_reason_is_quoted_as_its_words() {
    let refuse =
        control(serde_json::json!({"t": "refuse", "reason": format!("qrpair: disk full\u{1b}[2J{}", "x".repeat(500))}));
    let (_, outcome, _) = receive_scripted(ScriptedLink::new([hello(Role::Send), refuse]));
    let Err(TransferError::Refused(why)) = outcome else { panic!("{outcome:?}") };
    assert!(why.starts_with("the sender said: \"qrpair: disk full\u{fffd}[2Jxxx"), "{why}");
    assert!(why.ends_with("x…\""), "{why}");
    assert!(why.chars().count() < 330, "{}", why.chars().count());
}

/// Issue 21: data after the sender's `done` was ignored and the transfer
/// ended as a success.
#[test]
fn anything_but_a_goodbye_after_done_is_a_protocol_error() {
    let mut script = two_files();
    script.push(packed(&[(0, b"a\n"), (1, b"b\n")]));
    script.push(control(serde_json::json!({"t": "done"})));
    script.push(Frame::Data(b"more").encode());
    let dir = tempfile::tempdir().unwrap();
    let opts = ReceiveOptions { dir: dir.path().join("inbox"), existing: Existing::Refuse, consent: None };
    let outcome = block_on(receive(ScriptedLink::new(script), opts, &mut Events(Vec::new()), std::future::pending()));
    assert!(matches!(outcome, Err(TransferError::AfterDone("sender"))), "{outcome:?}");
    // What was verified before stays.
    assert_eq!(std::fs::read(dir.path().join("inbox/a.txt")).unwrap(), b"a\n");
    assert_eq!(std::fs::read(dir.path().join("inbox/b.txt")).unwrap(), b"b\n");

    // A goodbye is what is due.
    let mut script = two_files();
    script.push(packed(&[(0, b"a\n"), (1, b"b\n")]));
    script.push(control(serde_json::json!({"t": "done"})));
    script.push(Frame::Bye.encode());
    let dir = tempfile::tempdir().unwrap();
    let opts = ReceiveOptions { dir: dir.path().join("inbox"), existing: Existing::Refuse, consent: None };
    let outcome = block_on(receive(ScriptedLink::new(script), opts, &mut Events(Vec::new()), std::future::pending()));
    assert_eq!(outcome.unwrap().files, 2);
}
