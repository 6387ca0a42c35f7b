//! The parts of SDP qrpair reads or rewrites: which lines a data-channel peer
//! needs, and a summary (fingerprint, candidates) for `qrpair decode`.

use super::addresses::{classify, Class};
use super::candidate::{Candidate, CandidateType};
use serde::Serialize;

/// Session-level and media-level attributes a data-channel peer acts on.
/// Everything else (msid-semantic, extmap-allow-mixed, ice-options, direction)
/// is either ignored for an application section or defaulted identically by
/// webrtc-rs and browsers, so dropping it only shrinks the QR.
const KEPT_ATTRIBUTES: &[&str] = &[
    "group",
    "fingerprint",
    "setup",
    "mid",
    "sctp-port",
    "max-message-size",
    "ice-ufrag",
    "ice-pwd",
    "ice-lite",
    "candidate",
    "end-of-candidates",
    "sctpmap",
];

/// Strips a description down to what a data-channel peer needs, normalising
/// line endings to CRLF. Media sections other than `application` are kept
/// whole: qrpair does not interpret them, so it must not damage them.
pub fn minimize_sdp(sdp: &str) -> String {
    let mut out = String::with_capacity(sdp.len());
    let mut in_application = false;
    for line in sdp.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        if let Some(media) = line.strip_prefix("m=") {
            in_application = media.starts_with("application");
        }
        let keep = match line.strip_prefix("a=") {
            None => true,
            Some(_) if !in_application && line_is_media_level(&out) => true,
            Some(attr) => keep_attribute(attr),
        };
        if keep {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out
}

fn line_is_media_level(out_so_far: &str) -> bool {
    out_so_far.contains("\r\nm=") || out_so_far.starts_with("m=")
}

fn keep_attribute(attr: &str) -> bool {
    let name = attr.split([':', ' ']).next().unwrap_or("");
    if !KEPT_ATTRIBUTES.contains(&name) {
        return false;
    }
    if name == "candidate" {
        // Only component 1 matters: data channels are always rtcp-muxed.
        return attr.split_whitespace().nth(1) == Some("1");
    }
    true
}

/// Which networks a code's candidates can be reached from, in words, so a
/// person can tell before pairing whether a code made at home will work from
/// the office (it will not with host addresses alone).
pub fn reach(candidates: &[Candidate]) -> String {
    let has = |kind: CandidateType| candidates.iter().any(|c| c.kind == kind);
    let hosts = || candidates.iter().filter(|c| c.kind == CandidateType::Host);
    let host_in = |class: Class| hosts().find_map(|c| c.address.ip().filter(|ip| classify(*ip).0 == class));
    let classes: Vec<Class> = candidates.iter().filter_map(|c| c.address.ip()).map(|ip| classify(ip).0).collect();
    if has(CandidateType::Relay) {
        "through a TURN relay, so from any network, NATs of every kind included".into()
    } else if host_in(Class::Public).is_some() {
        "directly at a public address, from any network whose NAT lets it out".into()
    } else if has(CandidateType::Srflx) {
        "across NATs that keep one port per socket (a public address learned from STUN), and on the same network".into()
    } else if let Some(ip) = host_in(Class::Test) {
        format!("directly at {ip}, {}: only a test network routes it", classify(ip).1)
    } else if candidates.iter().any(|c| c.address.is_local_name()) {
        "the same network only (mDNS .local names, which only that network resolves)".into()
    } else if classes.is_empty() {
        "nowhere: the code carries no address".into()
    } else if classes.iter().all(|c| *c == Class::Loopback) {
        "this machine only (loopback)".into()
    } else if classes.iter().all(|c| *c == Class::Unusable) {
        "nowhere: none of its addresses can be sent to (unspecified, multicast or reserved)".into()
    } else {
        "the same network only (private addresses); to cross NATs, make the code with --stun".into()
    }
}

/// What a description says about the peer: enough to check a QR by eye.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SdpSummary {
    /// `"sha-256 AB:CD:…"` as written in the description.
    pub fingerprint: Option<String>,
    pub ice_ufrag: Option<String>,
    /// Never shown: a secret of the session, though short-lived.
    #[serde(skip)]
    pub ice_pwd: Option<String>,
    pub setup: Option<String>,
    pub candidates: Vec<Candidate>,
}

impl SdpSummary {
    pub fn parse(sdp: &str) -> Self {
        let mut summary = SdpSummary::default();
        for line in sdp.lines().map(str::trim_end) {
            let Some(attr) = line.strip_prefix("a=") else {
                continue;
            };
            if let Some(v) = attr.strip_prefix("fingerprint:") {
                summary.fingerprint.get_or_insert_with(|| v.trim().to_string());
            } else if let Some(v) = attr.strip_prefix("ice-ufrag:") {
                summary.ice_ufrag.get_or_insert_with(|| v.trim().to_string());
            } else if let Some(v) = attr.strip_prefix("ice-pwd:") {
                summary.ice_pwd.get_or_insert_with(|| v.trim().to_string());
            } else if let Some(v) = attr.strip_prefix("setup:") {
                summary.setup.get_or_insert_with(|| v.trim().to_string());
            } else if let Some(v) = attr.strip_prefix("candidate:") {
                if let Some(c) = Candidate::parse(v) {
                    if !summary.candidates.contains(&c) {
                        summary.candidates.push(c);
                    }
                }
            }
        }
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(address: &str, kind: &str) -> Candidate {
        Candidate::parse(&format!("1 1 udp 1 {address} 9 typ {kind}")).unwrap()
    }

    #[test]
    fn reach_names_what_the_candidates_allow() {
        let lan = candidate("192.168.1.4", "host");
        assert!(reach(&[lan.clone(), candidate("fd00::2", "host")]).starts_with("the same network only"));
        assert!(reach(&[candidate("100.80.1.2", "host")]).starts_with("the same network only"), "CGNAT space");
        assert!(reach(&[candidate("fe80::1", "host")]).starts_with("the same network only"));
        assert_eq!(reach(&[candidate("127.0.0.1", "host"), candidate("::1", "host")]), "this machine only (loopback)");
        assert!(
            reach(&[lan.clone(), candidate("2a00:1450:4001::1", "host")]).starts_with("directly at a public address")
        );
        assert!(reach(&[candidate("8.8.8.8", "host")]).starts_with("directly at a public address"));
        assert!(reach(&[lan.clone(), candidate("8.8.8.8", "srflx")]).starts_with("across NATs that keep"));
        assert!(reach(&[candidate("8.8.8.8", "host"), candidate("8.8.8.8", "srflx")])
            .starts_with("directly at a public address"));
        assert!(reach(&[lan.clone(), candidate("8.8.8.8", "srflx"), candidate("9.9.9.9", "relay")])
            .starts_with("through a TURN relay"));
        assert_eq!(reach(&[]), "nowhere: the code carries no address");
        // Documentation and benchmarking ranges are no real network's: a code
        // carrying one is from a test network (or made up), and says so.
        assert_eq!(
            reach(&[lan.clone(), candidate("192.0.2.7", "host")]),
            "directly at 192.0.2.7, a documentation address (TEST-NET-1, RFC 5737): only a test network routes it"
        );
        assert_eq!(
            reach(&[candidate("2001:db8:a::2", "host")]),
            "directly at 2001:db8:a::2, a documentation address (RFC 3849): only a test network routes it"
        );
        assert!(reach(&[candidate("198.18.0.9", "host")]).contains("a benchmarking address (RFC 2544)"));
        // A browser hides its addresses behind mDNS names: same network, not nowhere.
        assert!(reach(&[candidate("0d2c4a3e-7f2b-4c55-9a43-8f0e3c1a2b4d.local", "host")])
            .starts_with("the same network only (mDNS .local names"));
        assert!(reach(&[candidate("224.0.0.1", "host"), candidate("0.0.0.0", "host")]).starts_with("nowhere: none of"));
    }
}
