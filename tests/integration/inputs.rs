//! Odd and hostile inputs a careless or malicious user hands qrpair: each
//! gets a one-line message and a documented exit code, in bounded time and
//! memory, and never a panic or a replaced file.

use crate::common::Sandbox;
use std::time::{Duration, Instant};

/// Well above the 2 s budget, so a loaded CI machine does not fail the test,
/// and far below the minutes an unbounded search took.
const SCAN_LIMIT: Duration = Duration::from_secs(20);
const RSS_LIMIT_KIB: i64 = 256 * 1024;

#[test]
fn hostile_pictures_are_read_or_refused_in_bounded_time_and_memory() {
    let sb = Sandbox::new();
    for picture in qrpair::qr::hostile::all() {
        let name = format!("{}.png", picture.name.replace([' ', ','], "_"));
        let path = sb.path(&name);
        picture.image.save(&path).unwrap();
        let (run, rss) = sb.run_measured(&["decode", "--all", "--json", &name], SCAN_LIMIT);
        assert!(rss < RSS_LIMIT_KIB, "{}: peak RSS {} MiB", picture.name, rss / 1024);
        let stdout = String::from_utf8_lossy(&run.stdout);
        if picture.codes.is_empty() {
            assert_eq!(run.code(), 3, "{}: {}", picture.name, run.stderr);
            assert_eq!(run.stderr.lines().count(), 1, "{}: one line, got {}", picture.name, run.stderr);
            // On a loaded machine a big noise picture can reach the
            // scanner's budget before it has looked everywhere: giving up,
            // saying so, is as bounded an answer as "no code".
            assert!(
                run.stderr.contains("too many code-like shapes")
                    || run.stderr.contains("no QR code found")
                    || run.stderr.contains("gave up reading"),
                "{}: {}",
                picture.name,
                run.stderr
            );
        } else {
            assert_eq!(run.code(), 0, "{}: {}", picture.name, run.stderr);
            for code in &picture.codes {
                let text = serde_json::to_string(std::str::from_utf8(code).unwrap()).unwrap();
                assert!(stdout.contains(&text), "{}: {text} missing from\n{stdout}", picture.name);
            }
            assert_eq!(stdout.lines().count(), picture.codes.len(), "{}", picture.name);
        }
    }
}

#[test]
fn a_watched_folder_honours_timeout_while_a_hostile_picture_sits_in_it() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.path("shots")).unwrap();
    let child =
        sb.spawn(sb.cmd(&["offer", "--bind", "127.0.0.1", "--answer", "shots", "--timeout", "4s"]), b"", "offer");
    sb.wait_for_stderr("offer", "waiting for a new image", SCAN_LIMIT);
    qrpair::qr::hostile::finder_tiling(200, 12).save(sb.path("shots/tiling.png")).unwrap();
    qrpair::qr::hostile::noise(3000, 2, 7).save(sb.path("shots/noise.png")).unwrap();
    let start = Instant::now();
    let run = sb.finish(child, "offer", SCAN_LIMIT);
    assert_eq!(run.code(), 4, "{}", run.stderr);
    assert!(run.stderr.contains("timed out"), "{}", run.stderr);
    assert!(start.elapsed() < Duration::from_secs(8), "took {:?} past a 4 s timeout", start.elapsed());
}

#[test]
fn devices_and_endless_pipes_are_read_through_a_limit() {
    let sb = Sandbox::new();
    for source in ["/dev/zero", "/dev/urandom"] {
        let (run, rss) = sb.run_measured(&["decode", source], SCAN_LIMIT);
        assert_eq!(run.code(), 3, "{source}: {}", run.stderr);
        assert!(run.stderr.contains("more than 64 MiB"), "{source}: {}", run.stderr);
        assert!(rss < RSS_LIMIT_KIB, "{source}: peak RSS {} MiB", rss / 1024);
    }
    // A FIFO with a writer that never stops.
    let fifo = sb.path("endless");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let writer = std::thread::spawn({
        let fifo = fifo.clone();
        move || {
            use std::io::Write;
            let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) else { return };
            let block = vec![0x89u8; 1 << 16];
            while f.write_all(&block).is_ok() {}
        }
    });
    let (run, rss) = sb.run_measured(&["decode", "endless"], SCAN_LIMIT);
    assert_eq!(run.code(), 3, "{}", run.stderr);
    assert!(run.stderr.contains("more than 64 MiB"), "{}", run.stderr);
    assert!(rss < RSS_LIMIT_KIB, "fifo: peak RSS {} MiB", rss / 1024);
    writer.join().unwrap();
}

/// A code written once into a FIFO (`mkfifo code; producer > code &`,
/// or a shell's process substitution): read through one opening. Opening
/// it twice (once to see whether it holds text, once to scan it) closed
/// the first reader under the writer, which died of EPIPE, and the second
/// opening then waited forever for a writer.
#[test]
fn a_code_written_once_into_a_fifo_is_read() {
    let sb = Sandbox::new();
    let token = offer_token(&sb);
    let picture = std::fs::read(sb.path("made.png")).unwrap();
    for (name, content) in [("token-fifo", token.clone().into_bytes()), ("png-fifo", picture)] {
        let fifo = sb.path(name);
        qrpair::sys::make_fifo(&fifo).unwrap();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            // The producer starts a little after qrpair, as in a script.
            std::thread::sleep(std::time::Duration::from_millis(300));
            let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            f.write_all(&content).unwrap();
        });
        let run = sb.run(&["decode", "--json", name], b"", SCAN_LIMIT);
        assert_eq!(run.code(), 0, "{name}: {}", run.stderr);
        let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
        assert_eq!(v["kind"], "offer", "{name}: {v}");
        writer.join().expect("the writer was not cut off");
    }
}

fn fixture(name: &str) -> String {
    format!("{}/fixtures/sdp/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// An offer token made from a Chromium description, and the sandbox it was
/// made in.
fn offer_token(sb: &Sandbox) -> String {
    let run = sb.run(&["encode", &fixture("chromium_offer_ip_1.json"), "--qr-out", "made.png"], b"", SCAN_LIMIT);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    crate::common::token_in(&run.stderr)
}

#[test]
fn qr_out_replaces_only_regular_files_and_honours_the_umask() {
    let sb = Sandbox::new();
    let token = offer_token(&sb);
    std::fs::write(sb.path("target.txt"), b"keep me").unwrap();
    std::os::unix::fs::symlink(sb.path("target.txt"), sb.path("link.png")).unwrap();
    let fifo = std::ffi::CString::new(sb.path("fifo.png").to_str().unwrap()).unwrap();
    // SAFETY: a valid C string path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    std::fs::create_dir(sb.path("folder.png")).unwrap();
    for (out, what) in [("link.png", "symbolic link"), ("fifo.png", "not a regular file"), ("folder.png", "a folder")] {
        let run = sb.run(&["encode", &token, "--qr-out", out], b"", SCAN_LIMIT);
        assert_eq!(run.code(), 2, "{out}: {}", run.stderr);
        assert!(run.stderr.contains(what) && run.stderr.contains("choose another path"), "{out}: {}", run.stderr);
    }
    assert!(std::fs::symlink_metadata(sb.path("link.png")).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read(sb.path("target.txt")).unwrap(), b"keep me");
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(sb.path("fifo.png")).unwrap().file_type().is_fifo());
    crate::common::assert_no_temp_files(sb.dir.path());

    // A regular file is replaced, with 0666 less the umask.
    for (umask, mode) in [(0o022, 0o644), (0o077, 0o600)] {
        let mut cmd = sb.cmd(&["encode", &token, "--qr-out", "code.png"]);
        use std::os::unix::process::CommandExt;
        // SAFETY: umask is async-signal-safe and touches only the child.
        unsafe {
            cmd.pre_exec(move || {
                libc::umask(umask);
                Ok(())
            });
        }
        let run = sb.finish(sb.spawn(cmd, b"", "umask"), "umask", SCAN_LIMIT);
        assert_eq!(run.code(), 0, "{}", run.stderr);
        use std::os::unix::fs::PermissionsExt;
        let got = std::fs::metadata(sb.path("code.png")).unwrap().permissions().mode() & 0o777;
        assert_eq!(got, mode, "umask {umask:o}");
    }
}

#[test]
fn absurd_durations_and_addresses_are_usage_errors() {
    let sb = Sandbox::new();
    let cases: &[(&[&str], &str)] = &[
        (&["offer", "--timeout", "18446744073709551615"], "at most 30 days"),
        (&["offer", "--timeout", "99999999999h"], "at most 30 days"),
        (&["offer", "--bind", "0.0.0.0"], "every address"),
        (&["offer", "--bind", "255.255.255.255"], "broadcast or multicast"),
        (&["offer", "--bind", "224.0.0.1"], "broadcast or multicast"),
        (&["offer", "--bind", "ff02::1"], "broadcast or multicast"),
        (&["offer", "--stun", "stun.example.org"], "not a STUN URL"),
        (&["offer", "--stun", "stun:host:99999"], "not a STUN URL"),
    ];
    for (args, needle) in cases {
        let run = sb.run(args, b"", SCAN_LIMIT);
        assert_eq!(run.code(), 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn tokens_saved_as_people_save_them_are_read() {
    let sb = Sandbox::new();
    let token = offer_token(&sb);
    let utf16 = |text: &str, bom: bool| {
        let mut v: Vec<u8> = if bom { vec![0xff, 0xfe] } else { Vec::new() };
        v.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        v
    };
    let mut bom8 = vec![0xef, 0xbb, 0xbf];
    bom8.extend_from_slice(token.as_bytes());
    let wrapped = format!("{}\n{}\n", &token[..20], &token[20..]);
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("utf8-bom.txt", bom8),
        ("utf16-bom.txt", utf16(&format!("{token}\r\n"), true)),
        ("utf16-plain.txt", utf16(&token, false)),
        ("with-notes.txt", format!("{token}\nsent from my phone\nqrp:not-this-one.xx\n").into_bytes()),
        ("in-a-sentence.txt", format!("Here is my code: {token} (thanks)\n").into_bytes()),
        ("wrapped.txt", wrapped.into_bytes()),
    ];
    for (name, bytes) in files {
        sb.write(name, &bytes);
        let run = sb.run(&["decode", "--json", name], b"", SCAN_LIMIT);
        assert_eq!(run.code(), 0, "{name}: {}", run.stderr);
        let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
        assert_eq!(v["kind"], "offer", "{name}: {v}");
        assert_eq!(v["source"], "token", "{name}: {v}");
    }
}

#[test]
fn descriptions_that_can_never_connect_are_refused_before_pairing() {
    let sb = Sandbox::new();
    let json = std::fs::read_to_string(fixture("chromium_offer_ip_1.json")).unwrap();
    let sha1 = json.replacen("sha-256", "sha-1", 1);
    sb.write("sha1.json", sha1.as_bytes());
    let run = sb.run(&["answer", "sha1.json", "--bind", "127.0.0.1", "--timeout", "5s"], b"", SCAN_LIMIT);
    assert_eq!(run.code(), 3, "{}", run.stderr);
    assert!(run.stderr.contains("can never connect") && run.stderr.contains("sha-1"), "{}", run.stderr);
    assert!(!sb.path("qrpair-answer.png").exists(), "an answer was made for an unusable offer");
}

#[test]
fn pictures_and_payloads_are_named_for_what_they_are() {
    let sb = Sandbox::new();
    // A PNG header declaring 2^31 × 2^31 pixels.
    let png = qrpair::qr::hostile::png_declaring(1 << 31, 1 << 31, 2);
    sb.write("huge.png", &png);
    let run = sb.run(&["decode", "huge.png"], b"", SCAN_LIMIT);
    assert_eq!(run.code(), 3, "{}", run.stderr);
    assert!(run.stderr.contains("crop or scale it down"), "{}", run.stderr);

    // TIFF is a picture format qrpair does not read: say so, not "incomplete".
    sb.write("scan.tiff", b"II*\x00\x08\x00\x00\x00\x00\x00\x00\x00");
    let run = sb.run(&["decode", "scan.tiff"], b"", SCAN_LIMIT);
    assert_eq!(run.code(), 3, "{}", run.stderr);
    assert!(run.stderr.contains("Tiff pictures are not among them"), "{}", run.stderr);

    // A binary code from another app, starting with a zero byte.
    let code = qrpair::qr::render_qr(&[0x00, 0x42, 0x17, 0xff, 0x80, 0x01], qrpair::qr::EcLevel::M).unwrap();
    sb.write("binary.png", &code.to_png(4));
    let run = sb.run(&["answer", "binary.png", "--timeout", "5s"], b"", SCAN_LIMIT);
    assert_eq!(run.code(), 3, "{}", run.stderr);
    assert!(run.stderr.contains("not a qrpair payload") && !run.stderr.contains("update"), "{}", run.stderr);

    // A browser description too large for any QR code still decodes.
    let json = std::fs::read_to_string(fixture("chromium_offer_ip_1.json")).unwrap();
    // IPv6 candidates pack into 18 bytes each: 150 are more than the 2331
    // bytes a version-40 code holds at EC M.
    let padding: String = (0..150u64)
        .map(|i| {
            let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            format!(
                "a=candidate:{i} 1 udp 1 2001:db8:{:x}:{:x}::{:x} {} typ host\\r\\n",
                x >> 48,
                (x >> 32) & 0xffff,
                x & 0xffff,
                1024 + i
            )
        })
        .collect();
    let big = json.replacen("a=candidate:", &format!("{padding}a=candidate:"), 1);
    sb.write("big.json", big.as_bytes());
    let run = sb.run(&["decode", "big.json"], b"", SCAN_LIMIT);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(String::from_utf8_lossy(&run.stdout).contains("too large for any QR code"), "{:?}", run.stdout);
}

/// QRPAIR_TURN_CA names a file qrpair reads before anything is shown: a
/// device, a FIFO no one writes and a 4 GiB sparse file are each refused at
/// once (exit 2) without reading them, never read into memory or waited on.
#[test]
fn a_turn_ca_that_is_a_device_a_fifo_or_huge_is_refused_before_anything() {
    let sb = Sandbox::new();
    let fifo = sb.path("ca-fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let sparse = sb.path("ca-huge.pem");
    std::fs::File::create(&sparse).unwrap().set_len(4 << 30).unwrap();
    let cases = [
        (std::path::PathBuf::from("/dev/zero"), "is not a regular file"),
        (fifo, "is not a regular file"),
        (sparse, "is larger than 1 MiB"),
    ];
    for (ca, why) in cases {
        let mut cmd = sb.cmd(&["offer", "--pipe", "--bind", "127.0.0.1", "--turn", "turns:127.0.0.1:5349"]);
        cmd.env("QRPAIR_TURN_USER", "u").env("QRPAIR_TURN_PASSWORD", "p").env("QRPAIR_TURN_CA", &ca);
        let (run, rss) = sb.run_measured_cmd(cmd, Duration::from_secs(10));
        assert_eq!(run.code(), 2, "{}: {}", ca.display(), run.stderr);
        let lines: Vec<&str> = run.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{}", run.stderr);
        assert!(lines[0].starts_with(&format!("qrpair: QRPAIR_TURN_CA={} {why}", ca.display())), "{}", run.stderr);
        assert!(lines[0].contains("point it at the CA certificate's PEM file"), "{}", run.stderr);
        assert!(run.stdout.is_empty(), "a code was shown: {}", String::from_utf8_lossy(&run.stdout));
        assert!(rss < 64 * 1024, "{}: peak RSS {} MiB", ca.display(), rss / 1024);
    }
}
