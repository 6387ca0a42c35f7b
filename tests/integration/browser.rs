//! Real browsers pairing with qrpair: headless Chromium (Debian's `chromium`,
//! driven by playwright-core from npm) and headless Firefox (Debian's
//! `firefox-esr`, driven by puppeteer-core over WebDriver BiDi) run the
//! standard RTCPeerConnection data-channel flow with default settings, and
//! `tests/browser/pair.mjs` pairs each with qrpair both ways, through
//! --sdp-json and through the compact QR, and with the answer carried back
//! late (the browser checking qrpair's candidates all that time).
//! `.ci/run` installs both browsers and the npm packages.
//!
//! As root, each run happens in a network namespace of its own, so neither
//! side can reach anything but the other. Chromium gathers no host
//! candidates at all on a host without a default route (measured: zero
//! candidates in a namespace with only loopback, or with an addressed
//! interface but no route), so the namespace gets a veth pair whose two ends
//! both stay inside it and a default route over it; qrpair binds that
//! interface's address, as it would a LAN's. Without root, Chromium runs on
//! loopback (a flag lets it use it) and the Firefox tests skip: Firefox does
//! not check loopback candidates.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The address of the namespace's interface, which qrpair binds there.
const NAMESPACE_ADDR: &str = "10.78.0.1";
/// The late-answer delay CI runs: past both browsers' old give-up times
/// (Chromium 15-16 s, Firefox ~8 s, before qrpair answered early checks).
const LATE_MS: u64 = 45_000;
/// The channel must open this soon after the answer is applied (measured:
/// 12-127 ms on a quiet machine; 1.6 s when a browser's retransmissions had
/// to be waited for, 22 s after a late answer). Below the 1.6 s failure, but
/// loose against a loaded 2-core CI machine: with the whole suite running
/// beside it, "browser offers, qrpair answers" opened after 537, 587 and
/// 590 ms in three runs of 2026-12-06 (65-77 ms alone, the same before and
/// after that day's changes), and 500 ms failed them.
const OPEN_LIMIT_MS: u64 = 1_000;
/// qrpair must end the chat this soon after a tab closes: a closed port is
/// known after two refused packets, and qrpair sends at least one a second.
const LEAVE_LIMIT_MS: u64 = 3_000;

fn skip_or_fail(why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("CI must run the browser test: {why}");
    }
    eprintln!("SKIPPED browser interop test: {why}");
}

struct IsolatedNet(String);

impl IsolatedNet {
    fn create(tag: &str) -> Option<IsolatedNet> {
        let name = format!("qrpbr{}{tag}", std::process::id());
        let ok = |args: &[&str]| {
            Command::new("ip").args(args).stderr(std::process::Stdio::null()).status().is_ok_and(|s| s.success())
        };
        let _ = ok(&["netns", "del", &name]);
        let addr = format!("{NAMESPACE_ADDR}/24");
        let steps: [&[&str]; 7] = [
            &["netns", "add", &name],
            &["-n", &name, "link", "set", "lo", "up"],
            &["-n", &name, "link", "add", "qbra", "type", "veth", "peer", "name", "qbrb"],
            &["-n", &name, "addr", "add", &addr, "dev", "qbra"],
            &["-n", &name, "link", "set", "qbra", "up"],
            &["-n", &name, "link", "set", "qbrb", "up"],
            &["-n", &name, "route", "add", "default", "dev", "qbra"],
        ];
        // Dropped (and the namespace removed) on every path, even half-built.
        let created = steps.iter().all(|args| ok(args));
        let net = IsolatedNet(name.clone());
        created.then_some(net)
    }
}

impl Drop for IsolatedNet {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).stderr(std::process::Stdio::null()).status();
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Browser {
    Chromium,
    Firefox,
}

impl Browser {
    fn name(self) -> &'static str {
        match self {
            Browser::Chromium => "chromium",
            Browser::Firefox => "firefox",
        }
    }

    /// The executable, or why the test cannot run.
    fn executable(self) -> Result<PathBuf, String> {
        let (var, default, package, driver) = match self {
            Browser::Chromium => ("CHROMIUM", "/usr/bin/chromium", "chromium", "playwright-core"),
            Browser::Firefox => ("FIREFOX", "/usr/bin/firefox-esr", "firefox-esr", "puppeteer-core"),
        };
        let path = PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.into()));
        if !path.exists() {
            return Err(format!("{} is missing (apt-get install {package})", path.display()));
        }
        if !here().join("node_modules").join(driver).exists() {
            return Err(format!("{driver} is missing (cd tests/browser && npm ci)"));
        }
        Ok(path)
    }
}

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Runs pair.mjs for one browser; `None` when it was skipped. Panics with
/// the script's output when a pairing fails.
fn pair(browser: Browser, args: &[&str]) -> Option<String> {
    let executable = match browser.executable() {
        Ok(p) => p,
        Err(why) => {
            skip_or_fail(&why);
            return None;
        }
    };
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let tag = format!("{}{}", &browser.name()[..2], RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let netns = if crate::common::netns::is_root() { IsolatedNet::create(&tag) } else { None };
    if netns.is_none() && browser == Browser::Firefox {
        skip_or_fail("Firefox needs the test's network namespace (root and iproute2): it does not check loopback");
        return None;
    }
    let work = tempfile::tempdir().unwrap();
    let mut cmd = match &netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", &ns.0, "node"]);
            c
        }
        None => Command::new("node"),
    };
    let bind = if netns.is_some() { NAMESPACE_ADDR } else { "127.0.0.1" };
    let out = cmd
        .arg(here().join("pair.mjs"))
        .arg(env!("CARGO_BIN_EXE_qrpair"))
        .arg(work.path())
        .args(["--browser", browser.name(), "--bind", bind])
        .args(args)
        .env(if browser == Browser::Chromium { "CHROMIUM" } else { "FIREFOX" }, &executable)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "{} pairing failed:\n{stdout}\n{stderr}", browser.name());
    if netns.is_none() {
        eprintln!("note: not root, so the browser test ran outside an isolated namespace");
    }
    Some(stdout)
}

/// Each label printed as passed, and the channel open soon enough after its
/// answer was applied.
fn expect_ok(browser: Browser, stdout: &str, labels: &[String]) {
    for label in labels {
        let prefix = format!("ok - {}: {label} (open ", browser.name());
        let line =
            stdout.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("missing: {prefix}\n{stdout}"));
        let ms: u64 = line[prefix.len()..].split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(u64::MAX);
        assert!(ms <= OPEN_LIMIT_MS, "{line}: open after {ms} ms, limit {OPEN_LIMIT_MS} ms");
    }
}

fn all_combinations(browser: Browser) {
    let Some(stdout) = pair(browser, &[]) else { return };
    let labels = [
        "browser offers, qrpair answers (JSON)",
        "qrpair offers, browser answers (JSON)",
        "browser offers, qrpair answers (compact QR)",
        "qrpair offers, browser answers (compact QR)",
    ];
    expect_ok(browser, &stdout, &labels.map(String::from));
}

/// Both browsers at once, each answer carried back `late_ms` after it was
/// made, qrpair offering and the browser offering.
fn late_answers(late_ms: u64) {
    let late = late_ms.to_string();
    let runs: Vec<_> = [Browser::Chromium, Browser::Firefox]
        .into_iter()
        .map(|browser| {
            let late = late.clone();
            std::thread::spawn(move || (browser, pair(browser, &["--late", &late])))
        })
        .collect();
    let secs = late_ms as f64 / 1000.0;
    // Every run ends (and removes its namespace) before any failure is raised.
    let results: Vec<_> = runs.into_iter().map(|run| run.join()).collect();
    for result in results {
        let (browser, stdout) = result.unwrap_or_else(|e| std::panic::resume_unwind(e));
        let Some(stdout) = stdout else { continue };
        let labels = [
            format!("qrpair offers, browser answers, answer carried back after {secs} s"),
            format!("browser offers, qrpair answers, answer carried back after {secs} s"),
        ];
        expect_ok(browser, &stdout, &labels);
    }
}

#[test]
fn chromium_pairs_with_qrpair_both_ways_through_json_and_compact_codes() {
    all_combinations(Browser::Chromium);
}

#[test]
fn firefox_pairs_with_qrpair_both_ways_through_json_and_compact_codes() {
    all_combinations(Browser::Firefox);
}

/// Closing the tab is how a person leaves a page. Chromium then sends
/// nothing (no DTLS close_notify, no SCTP ABORT: measured), but its socket
/// closes and refuses qrpair's next packets; Firefox's closing reaches qrpair at once. Either
/// way qrpair ends the chat as the peer leaving (exit 0, its farewell line)
/// within a keepalive or two (measured: Chromium 1.0-1.2 s, Firefox 60 ms;
/// before, Chromium's close was exit 4 "connection to the peer was lost"
/// after 15 s).
fn tab_closed(browser: Browser) {
    let Some(stdout) = pair(browser, &["--only", "b-json,q-json", "--leave", "tab"]) else { return };
    let labels = ["browser offers, qrpair answers (JSON)", "qrpair offers, browser answers (JSON)"];
    expect_ok(browser, &stdout, &labels.map(String::from));
    for label in labels {
        let line = stdout.lines().find(|l| l.contains(label)).unwrap_or_default();
        let ms: u64 = line
            .split("qrpair ended ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no leaving time in {line:?}"));
        assert!(line.ends_with("after the browser left (tab closed)"), "{line}");
        assert!(ms <= LEAVE_LIMIT_MS, "{line}: qrpair took {ms} ms to notice, limit {LEAVE_LIMIT_MS} ms");
    }
}

#[test]
fn chromium_tab_closing_ends_the_chat_as_the_peer_leaving() {
    tab_closed(Browser::Chromium);
}

#[test]
fn firefox_tab_closing_ends_the_chat_as_the_peer_leaving() {
    tab_closed(Browser::Firefox);
}

#[test]
fn browsers_connect_when_the_answer_is_carried_back_after_45_s() {
    late_answers(LATE_MS);
}

/// The README's promise at human scale; `cargo test --release --test
/// browser -- --ignored` (about 3.5 minutes, both browsers at once).
#[test]
#[ignore]
fn browsers_connect_when_the_answer_is_carried_back_after_3_minutes() {
    late_answers(180_000);
}
