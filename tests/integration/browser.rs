//! A real browser pairing with qrpair: headless Chromium (Debian's
//! `chromium`, driven by playwright-core from npm) runs the standard
//! RTCPeerConnection data-channel flow, and `tests/browser/pair.mjs` pairs it
//! with qrpair both ways, through --sdp-json and through the compact QR.
//! `.ci/run` installs Chromium and the npm package. As root, the whole run
//! happens in a network namespace of its own, so neither side can reach
//! anything but the other. Chromium gathers no host candidates at all on a
//! host without a default route (measured: zero candidates in a namespace
//! with only loopback, or with an addressed interface but no route), so the
//! namespace gets a veth pair whose two ends both stay inside it and a
//! default route over it.

use std::path::Path;
use std::process::Command;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn skip_or_fail(why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("CI must run the browser test: {why}");
    }
    eprintln!("SKIPPED browser interop test: {why}");
}

struct IsolatedNet(String);

impl IsolatedNet {
    fn create() -> Option<IsolatedNet> {
        let name = format!("qrpbr{}", std::process::id());
        let ok = |args: &[&str]| {
            Command::new("ip").args(args).stderr(std::process::Stdio::null()).status().is_ok_and(|s| s.success())
        };
        let _ = ok(&["netns", "del", &name]);
        let steps: [&[&str]; 7] = [
            &["netns", "add", &name],
            &["-n", &name, "link", "set", "lo", "up"],
            &["-n", &name, "link", "add", "qbra", "type", "veth", "peer", "name", "qbrb"],
            &["-n", &name, "addr", "add", "10.78.0.1/24", "dev", "qbra"],
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

#[test]
fn chromium_pairs_with_qrpair_both_ways_through_json_and_compact_codes() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return skip_or_fail(&format!("{chromium} is missing (apt-get install chromium)"));
    }
    if !here.join("node_modules/playwright-core").exists() {
        return skip_or_fail("playwright-core is missing (cd tests/browser && npm ci)");
    }
    let work = tempfile::tempdir().unwrap();
    let netns = if is_root() { IsolatedNet::create() } else { None };
    let mut cmd = match &netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", &ns.0, "node"]);
            c
        }
        None => Command::new("node"),
    };
    let out = cmd
        .arg(here.join("pair.mjs"))
        .arg(env!("CARGO_BIN_EXE_qrpair"))
        .arg(work.path())
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "browser pairing failed:\n{stdout}\n{stderr}");
    for label in [
        "browser offers, qrpair answers (JSON)",
        "qrpair offers, browser answers (JSON)",
        "browser offers, qrpair answers (compact QR)",
        "qrpair offers, browser answers (compact QR)",
    ] {
        assert!(stdout.contains(&format!("ok - {label}")), "missing: {label}\n{stdout}");
    }
    if netns.is_none() {
        eprintln!("note: not root, so the browser test ran outside an isolated namespace");
    }
}
