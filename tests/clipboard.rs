//! `clipboard` as a SOURCE, on a real X server (Xvfb, started here): an
//! image copied to the clipboard, a token copied as text, and a pairing
//! where both codes travel only through the clipboard. `.ci/run` installs
//! xvfb; without it the test skips with a reason (and fails under CI).

mod common;

use common::*;
use std::process::Child;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Option<Xvfb> {
        let (child, number) = start_xvfb("1280x720x24")?;
        Some(Xvfb { child, display: format!(":{number}") })
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn copy_image(clipboard: &mut arboard::Clipboard, png: &std::path::Path) {
    let rgba = image::open(png).unwrap().to_rgba8();
    let (w, h) = (rgba.width() as usize, rgba.height() as usize);
    clipboard.set_image(arboard::ImageData { width: w, height: h, bytes: rgba.into_raw().into() }).unwrap();
}

#[test]
fn codes_travel_through_the_clipboard() {
    let Some(x) = Xvfb::start() else {
        if std::env::var_os("CI").is_some() {
            panic!("CI must run the clipboard test: Xvfb is missing or did not start (apt-get install xvfb)");
        }
        eprintln!("SKIPPED clipboard test: Xvfb is missing or did not start");
        return;
    };
    // The test process owns the clipboard (arboard serves it from a thread)
    // while qrpair, a separate X client, reads it.
    std::env::set_var("DISPLAY", &x.display);
    let mut clipboard = arboard::Clipboard::new().expect("clipboard on Xvfb");
    let sb = Sandbox::new();
    let with_display = |mut c: std::process::Command| {
        c.env("DISPLAY", &x.display);
        c
    };

    // Nothing useful on the clipboard: a clear error, exit 3.
    clipboard.set_text("just some words").unwrap();
    let run = sb.finish(sb.spawn(with_display(sb.cmd(&["decode", "clipboard"])), b"", "empty"), "empty", LIMIT);
    assert_eq!(run.code(), 3, "{}", run.stderr);
    assert!(run.stderr.contains("the clipboard holds neither an image nor a qrpair token"), "{}", run.stderr);

    // A pairing where both codes go through the clipboard: the offerer
    // waits on it; the answerer reads the offer from it.
    let offerer = sb.spawn(
        with_display(sb.cmd(&[
            "offer",
            "--pipe",
            "--bind",
            "127.0.0.1",
            "--qr-out",
            "offer.png",
            "--answer",
            "clipboard",
            "--timeout",
            "40s",
        ])),
        b"from the offerer\n",
        "offerer",
    );
    sb.wait_for_file("offer.png", LIMIT);
    sb.wait_for_stderr("offerer", "waiting for the answer on the clipboard", LIMIT);
    copy_image(&mut clipboard, &sb.path("offer.png"));
    let answerer = sb.spawn(
        with_display(sb.cmd(&["answer", "clipboard", "--pipe", "--bind", "127.0.0.1", "--qr-out", "answer.png"])),
        b"from the answerer\n",
        "answerer",
    );
    sb.wait_for_file("answer.png", LIMIT);
    // The answer travels as text this time: its token.
    let token = token_in(&sb.wait_for_stderr("answerer", "token: ", LIMIT));
    clipboard.set_text(&token).unwrap();
    let ans = sb.finish(answerer, "answerer", LIMIT);
    let off = sb.finish(offerer, "offerer", LIMIT);
    assert_eq!((off.code(), ans.code()), (0, 0), "{}\n{}", off.stderr, ans.stderr);
    assert_eq!(off.stdout, b"from the answerer\n");
    assert_eq!(ans.stdout, b"from the offerer\n");

    // decode reads a clipboard image too.
    copy_image(&mut clipboard, &sb.path("answer.png"));
    let run =
        sb.finish(sb.spawn(with_display(sb.cmd(&["decode", "--json", "clipboard"])), b"", "decode"), "decode", LIMIT);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(v["kind"], "answer");
}
