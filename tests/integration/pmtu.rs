//! Path MTU discovery on paths of known MTU: a veth pair at 1280, 1500 and
//! 9000 bytes, and a router whose route between two 9000-byte links carries
//! only 1400. Each sends a file with default settings (no --mtu), checks it
//! arrives whole within a bound, and reads from the logs the largest packet
//! size each side's probes had acknowledged: it must be what the path
//! carries, no more (DATA would be lost) and no less (probing broke).

use crate::common::mtu::MtuPath;
use crate::common::pairing::Pairing;
use crate::common::*;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);
/// UDP's header, IPv4's, and the DTLS record's (header, nonce, tag): what
/// an SCTP packet of a link-sized datagram leaves room for.
const IPV4_UDP_DTLS: u32 = 20 + 8 + 13 + 8 + 16;

/// The SCTP packet size (a multiple of 4) that fills a `link`-byte IPv4 packet.
fn sctp_size(link: u32) -> u32 {
    (link - IPV4_UDP_DTLS) & !3
}

/// The same over IPv6, whose header is 20 bytes longer.
fn sctp_size_ipv6(link: u32) -> u32 {
    (link - IPV4_UDP_DTLS - 20) & !3
}

struct Settled {
    /// Largest size the sender's probes had acknowledged, and when.
    sender: (u32, u64),
    receiver: (u32, u64),
    secs: f64,
    sender_log: String,
}

/// Largest acknowledged probe in a log: (bytes, ms after the search began).
fn largest_acknowledged(log: &str) -> Option<(u32, u64)> {
    log.lines()
        .filter_map(|l| {
            let rest = l.split("path MTU probe acknowledged: ").nth(1)?;
            let size = rest.split('-').next()?.parse().ok()?;
            let ms = rest.split("after ").nth(1)?.split(' ').next()?.parse().ok()?;
            Some((size, ms))
        })
        .max()
}

fn send_across(path: &MtuPath, extra: &[&str]) -> Settled {
    let sb = Sandbox::new();
    let payload = random_bytes(24 << 20, 0x6d74);
    sb.write("payload.bin", &payload);
    std::fs::create_dir(sb.path("inbox")).unwrap();
    let log = "qrpair=info,rtc_sctp::association::pmtud=debug";
    let (in_a, in_b) = (path.exec(&path.a), path.exec(&path.b));
    let pairing = Pairing::new(&sb)
        .tags("sender", "receiver")
        .offerer(&["--bind", &path.addr_a, "--send", "payload.bin"])
        .answerer(&["--bind", &path.addr_b, "--receive", "inbox", "--yes"])
        .both(extra)
        .through(&in_a, &in_b)
        .env_both("QRPAIR_LOG", log)
        .limit(LIMIT)
        .start();
    // From the receiver's start, as a person would time it.
    let started = Instant::now();
    let (s, r) = pairing.finish();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!((s.code(), r.code()), (0, 0), "sender:\n{}\nreceiver:\n{}", s.stderr, r.stderr);
    let got = std::fs::read(sb.path("inbox/payload.bin")).unwrap();
    assert!(got == payload, "the received file differs");
    Settled {
        sender: largest_acknowledged(&s.stderr).unwrap_or((0, 0)),
        receiver: largest_acknowledged(&r.stderr).unwrap_or((0, 0)),
        secs,
        sender_log: s.stderr,
    }
}

/// Probing settles on what `link` carries, at once (the probes fit, so the
/// first answers confirm them), and the file gets through in good time.
fn settles_on(path: &MtuPath, link: u32) {
    settles_at(path, link, sctp_size(link));
}

fn settles_at(path: &MtuPath, link: u32, want: u32) {
    let settled = send_across(path, &[]);
    assert_eq!(
        settled.sender.0, want,
        "sender's largest acknowledged probe on a {link}-byte path:\n{}",
        settled.sender_log
    );
    assert_eq!(settled.receiver.0, want, "receiver's largest acknowledged probe on a {link}-byte path");
    // The probes go out as the association opens and the answers come back
    // within a round trip; a second would mean a probe had to be repeated.
    assert!(settled.sender.1 < 1000, "settled after {} ms", settled.sender.1);
    // 24 MiB: well under a second on an idle machine; the bound is a stall
    // (a lost oversized packet resent forever), not a rate.
    assert!(settled.secs < 30.0, "24 MiB took {:.1} s on a {link}-byte path", settled.secs);
}

#[test]
fn probing_settles_on_a_1280_byte_link() {
    let Some(path) = MtuPath::direct(20, "pmtu 1280", 1280) else { return };
    settles_on(&path, 1280);
}

#[test]
fn probing_settles_on_an_ethernet_link() {
    let Some(path) = MtuPath::direct(21, "pmtu 1500", 1500) else { return };
    settles_on(&path, 1500);
}

#[test]
fn probing_settles_on_jumbo_frames() {
    let Some(path) = MtuPath::direct(22, "pmtu 9000", 9000) else { return };
    settles_on(&path, 9000);
}

/// IPv6's longer header: the probe sized for IPv4 on Ethernet is lost,
/// the one sized for IPv6 is the largest that fits.
#[test]
fn probing_settles_on_an_ethernet_link_over_ipv6() {
    let Some(path) = MtuPath::direct_ipv6(26, "pmtu 1500 IPv6", 1500) else { return };
    settles_at(&path, 1500, sctp_size_ipv6(1500));
}

/// Both ends have 9000-byte interfaces, the router between them forwards
/// 1400: the larger probes are lost in the middle (the router answers with
/// ICMP "fragmentation needed", which must not take the socket down) and
/// DATA keeps to what was acknowledged, so nothing stalls.
#[test]
fn probing_finds_a_narrower_hop_between_two_jumbo_links() {
    let Some(path) = MtuPath::routed(23, "pmtu router", 9000, 1400) else { return };
    settles_on(&path, 1400);
}

/// The same narrow hop, but the router sends no ICMP (a firewall drops
/// it): the larger probes just vanish, and each is given up after its
/// third try. Data never waits on them.
#[test]
fn probing_finds_a_narrower_hop_that_sends_no_icmp() {
    let Some(path) = MtuPath::routed_silent(25, "pmtu silent router", 9000, 1400) else { return };
    settles_on(&path, 1400);
}

/// `--mtu` is an override: no probes, the stated size.
#[test]
fn a_stated_mtu_turns_probing_off() {
    let Some(path) = MtuPath::direct(24, "pmtu --mtu", 9000) else { return };
    let settled = send_across(&path, &["--mtu", "1500"]);
    assert_eq!((settled.sender.0, settled.receiver.0), (0, 0), "{}", settled.sender_log);
}
