//! The parts of SDP qrpair reads or rewrites: which lines a data-channel peer
//! needs, and a summary (fingerprint, candidates) for `qrpair decode`.

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

/// One ICE candidate as a person reading `qrpair decode` wants to see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub address: String,
    pub port: u16,
    pub protocol: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// Which networks a code's candidates can be reached from, in words, so a
/// person can tell before pairing whether a code made at home will work from
/// the office (it will not with host addresses alone).
pub fn reach(candidates: &[Candidate]) -> &'static str {
    let has = |kind: &str| candidates.iter().any(|c| c.kind == kind);
    let ips: Vec<std::net::IpAddr> = candidates.iter().filter_map(|c| c.address.parse().ok()).collect();
    if has("relay") {
        "through a TURN relay, so from any network, NATs of every kind included"
    } else if candidates.iter().any(|c| c.kind == "host" && c.address.parse().is_ok_and(|ip| is_public(&ip))) {
        "directly at a public address, from any network whose NAT lets it out"
    } else if has("srflx") {
        "across NATs that keep one port per socket (a public address learned from STUN), and on the same network"
    } else if ips.is_empty() {
        "nowhere: the code carries no address"
    } else if ips.iter().all(|ip| ip.is_loopback()) {
        "this machine only (loopback)"
    } else {
        "the same network only (private addresses); to cross NATs, make the code with --stun"
    }
}

/// Routable on the internet: not loopback, private (RFC 1918, ULA),
/// link-local or CGNAT shared space.
fn is_public(ip: &std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || (a == 100 && (64..128).contains(&b)))
        }
        std::net::IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback() || v6.is_unspecified() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80)
        }
    }
}

impl std::fmt::Display for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.address.contains(':') { format!("[{}]", self.address) } else { self.address.clone() };
        write!(f, "{host}:{} {} {}", self.port, self.protocol, self.kind)
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
                if let Some(c) = parse_candidate(v) {
                    if !summary.candidates.contains(&c) {
                        summary.candidates.push(c);
                    }
                }
            }
        }
        summary
    }
}

/// `foundation component protocol priority address port typ type [...]`
fn parse_candidate(value: &str) -> Option<Candidate> {
    let fields: Vec<&str> = value.split_whitespace().collect();
    if fields.len() < 8 || fields[1] != "1" || fields[6] != "typ" {
        return None;
    }
    Some(Candidate {
        address: fields[4].to_string(),
        port: fields[5].parse().ok()?,
        protocol: fields[2].to_ascii_lowercase(),
        kind: fields[7].to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(address: &str, kind: &str) -> Candidate {
        Candidate { address: address.into(), port: 9, protocol: "udp".into(), kind: kind.into() }
    }

    #[test]
    fn reach_names_what_the_candidates_allow() {
        let lan = candidate("192.168.1.4", "host");
        assert!(reach(&[lan.clone(), candidate("fd00::2", "host")]).starts_with("the same network only"));
        assert!(reach(&[candidate("100.80.1.2", "host")]).starts_with("the same network only"), "CGNAT space");
        assert!(reach(&[candidate("fe80::1", "host")]).starts_with("the same network only"));
        assert_eq!(reach(&[candidate("127.0.0.1", "host"), candidate("::1", "host")]), "this machine only (loopback)");
        assert!(reach(&[lan.clone(), candidate("2001:db8:a::2", "host")]).starts_with("directly at a public address"));
        assert!(reach(&[candidate("203.0.113.7", "host")]).starts_with("directly at a public address"));
        assert!(reach(&[lan.clone(), candidate("203.0.113.7", "srflx")]).starts_with("across NATs that keep"));
        assert!(reach(&[candidate("203.0.113.7", "host"), candidate("203.0.113.7", "srflx")])
            .starts_with("directly at a public address"));
        assert!(reach(&[lan, candidate("203.0.113.7", "srflx"), candidate("203.0.113.9", "relay")])
            .starts_with("through a TURN relay"));
        assert_eq!(reach(&[]), "nowhere: the code carries no address");
    }
}
