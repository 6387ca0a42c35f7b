//! Two people, two dark-theme xterms, nothing between them but screenshots:
//! each side is given only a capture of the other's whole screen, and the
//! pairing must work every time. Runs real xterm windows on Xvfb displays
//! of the test's own and captures them with ImageMagick's `import`, as
//! `.ci/run` installs them.

use crate::common::Sandbox;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(40);

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// An X server of its own, stopped on drop.
struct Display {
    number: u32,
    server: Child,
}

impl Display {
    fn start() -> Display {
        let (server, number) = crate::common::start_xvfb("900x560x24").expect("Xvfb starts");
        Display { number, server }
    }

    fn name(&self) -> String {
        format!(":{}", self.number)
    }

    /// The whole screen, written atomically to `path` (the other side may
    /// be watching for it).
    fn capture(&self, path: &Path) {
        let tmp = path.with_extension("tmp.png");
        let status = Command::new("import")
            .args(["-display", &self.name(), "-window", "root"])
            .arg(&tmp)
            .status()
            .expect("import runs");
        assert!(status.success());
        std::fs::rename(&tmp, path).unwrap();
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// xterm with the Tango dark palette (the failing theme), running
/// `script` in `dir` with stderr on the terminal.
fn xterm(display: &Display, dir: &Path, font_px: u32, script: &str) -> Child {
    Command::new("xterm")
        .args(["-geometry", "80x24+0+0", "-fa", &format!("DejaVu Sans Mono:pixelsize={font_px}")])
        .args(["-bg", "#1e1e1e", "-fg", "#d3d7cf", "-xrm", "XTerm*color0: #2e3436", "-xrm", "XTerm*color15: #eeeeec"])
        .args(["-e", "sh", "-c", &format!("cd '{}' && {script}; sleep 30", dir.display())])
        .env("DISPLAY", display.name())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("xterm starts")
}

/// Screenshots `display` into `path` until the shot holds a code qrpair
/// reads: the terminal has drawn it. 20 s at most.
fn capture_once_readable(display: &Display, path: &Path) {
    let start = Instant::now();
    loop {
        display.capture(path);
        if qrpair::qr::scan::scan_path(path).is_ok_and(|found| !found.is_empty()) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{} never showed a readable code", path.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < LIMIT, "{} did not appear", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_dark_xterms_pair_through_screenshots_of_each_other() {
    for tool in ["Xvfb", "xterm", "import"] {
        if !have(tool) {
            if std::env::var_os("CI").is_some() {
                panic!("CI must run the terminal pairing test: {tool} is missing");
            }
            eprintln!("SKIPPED: {tool} is missing");
            return;
        }
    }
    for font_px in [8, 10, 12, 16] {
        let sb = Sandbox::new();
        let dir = sb.dir.path();
        let bin = crate::common::bin();
        let (a_screen, b_screen) = (Display::start(), Display::start());
        let mut a = xterm(
            &a_screen,
            dir,
            font_px,
            &format!("echo from-A | '{bin}' offer --pipe --bind 127.0.0.1 --qr-out a.png --answer shot-of-b.png --timeout 40s > got-by-a ; echo $? > a.rc"),
        );
        wait_for(&dir.join("a.png"));
        capture_once_readable(&a_screen, &dir.join("shot-of-a.png"));
        let mut b = xterm(
            &b_screen,
            dir,
            font_px,
            &format!("echo from-B | '{bin}' answer shot-of-a.png --pipe --bind 127.0.0.1 --qr-out b.png --timeout 40s > got-by-b ; echo $? > b.rc"),
        );
        wait_for(&dir.join("b.png"));
        capture_once_readable(&b_screen, &dir.join("shot-of-b.png"));
        wait_for(&dir.join("a.rc"));
        wait_for(&dir.join("b.rc"));
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let outcome = format!(
            "{font_px} px: a.rc {} b.rc {} got-by-a {:?} got-by-b {:?}",
            read("a.rc").trim(),
            read("b.rc").trim(),
            read("got-by-a"),
            read("got-by-b")
        );
        let _ = (a.kill(), b.kill(), a.wait(), b.wait());
        assert_eq!(read("a.rc").trim(), "0", "{outcome}");
        assert_eq!(read("b.rc").trim(), "0", "{outcome}");
        assert_eq!(read("got-by-a"), "from-B\n", "{outcome}");
        assert_eq!(read("got-by-b"), "from-A\n", "{outcome}");
    }
}
