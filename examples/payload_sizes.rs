//! Prints, for every description in fixtures/sdp (and for qrpair offers with
//! 1-4 IPv4 host candidates, and with the candidates --stun, --turn and IPv6 add): the raw SDP size, the ways other tools carry
//! it (base64 of the JSON, as the pion and webrtc-rs examples paste it;
//! gzip-style deflate + base64), qrpair's payload, and the QR version each
//! needs at EC levels L and M.
//!
//!     cargo run --release --example payload_sizes

use base64::{engine::general_purpose::STANDARD, Engine};
use flate2::{write::DeflateEncoder, Compression};
use qrpair::qr::{render_qr, EcLevel};
use qrpair::signal::{self, Kind};
use std::io::Write;

fn versions(bytes: &[u8]) -> String {
    let v = |ec| render_qr(bytes, ec).map(|c| c.version().to_string()).unwrap_or_else(|_| "-".into());
    format!("{:>2}/{:>2}", v(EcLevel::L), v(EcLevel::M))
}

fn row(name: &str, kind: Kind, sdp: &str, tag: Option<[u8; 4]>) {
    let json = signal::to_sdp_json(kind, sdp);
    let b64_json = STANDARD.encode(json.as_bytes());
    let mut deflater = DeflateEncoder::new(Vec::new(), Compression::best());
    let _ = deflater.write_all(json.as_bytes());
    let deflated_b64 = STANDARD.encode(deflater.finish().unwrap_or_default());
    let ours = signal::encode(kind, sdp, tag);
    println!(
        "| {name:<40} | {:>5} | {:>5} {} | {:>5} {} | {:>4} {} | {:>5} |",
        sdp.len(),
        b64_json.len(),
        versions(b64_json.as_bytes()),
        deflated_b64.len(),
        versions(deflated_b64.as_bytes()),
        ours.len(),
        versions(&ours),
        signal::encode_token(&ours).len(),
    );
}

fn main() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sdp");
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("fixtures/sdp").flatten().map(|e| e.path()).collect();
    entries.sort();
    println!("QR version shown as L/M. Sizes in bytes; token in characters.\n");
    println!(
        "| description                              |   SDP | base64(JSON) v L/M | deflate+b64 v L/M | qrpair v L/M | token |"
    );
    println!(
        "|------------------------------------------|------:|-------------------:|------------------:|-------------:|------:|"
    );
    for path in entries {
        let name = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let (kind, sdp) = match signal::parse_sdp_json(&text) {
            Ok(parsed) => parsed,
            Err(_) if text.starts_with("v=0") => {
                (if name.contains("answer") { Kind::Answer } else { Kind::Offer }, text)
            }
            Err(_) => continue,
        };
        row(&name, kind, &sdp, None);
    }
    // qrpair's own descriptions: credentials derived from the fingerprint.
    for n in 1..=4u8 {
        let hosts: Vec<String> =
            (0..n).map(|i| format!("192.168.1.{} {} typ host", 10 + i, 40000 + i as u16)).collect();
        let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
        row(&format!("qrpair offer, {n} IPv4 host"), Kind::Offer, &qrpair_sdp(&hosts, false), None);
        row(&format!("qrpair answer, {n} IPv4 host"), Kind::Answer, &qrpair_sdp(&hosts, true), Some([1, 2, 3, 4]));
    }
    // Across networks: what --stun (srflx) and --turn (relay) add, and IPv6.
    let host = "192.168.1.10 40000 typ host";
    let srflx = "203.0.113.7 40000 typ srflx raddr 192.168.1.10 rport 40000";
    let relay = "198.51.100.9 49160 typ relay raddr 203.0.113.7 rport 40000";
    let v6 = "2001:db8:a::2 40002 typ host";
    for (name, candidates) in [
        ("host + srflx", vec![host, srflx]),
        ("host + srflx + relay", vec![host, srflx, relay]),
        ("relay only (--relay)", vec![relay]),
        ("1 IPv6 host", vec![v6]),
        ("IPv4 + IPv6 host + srflx", vec![host, v6, srflx]),
    ] {
        row(&format!("qrpair offer, {name}"), Kind::Offer, &qrpair_sdp(&candidates, false), None);
        row(&format!("qrpair answer, {name}"), Kind::Answer, &qrpair_sdp(&candidates, true), Some([1, 2, 3, 4]));
    }
}

/// A description as qrpair makes it, with these candidates (`ADDRESS PORT
/// typ KIND [raddr …]`, component 1 and its redundant component 2).
fn qrpair_sdp(candidates: &[&str], answer: bool) -> String {
    let fingerprint: [u8; 32] = std::array::from_fn(|i| i as u8 ^ 0x5a);
    let (ufrag, pwd) = signal::derive_credentials(&fingerprint);
    let hex: Vec<String> = fingerprint.iter().map(|b| format!("{b:02X}")).collect();
    let mut sdp = format!(
        "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 {}\r\na=group:BUNDLE 0\r\n\
         m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=setup:{}\r\na=mid:0\r\n\
         a=sendrecv\r\na=sctp-port:5000\r\na=max-message-size:65536\r\na=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\n",
        hex.join(":"),
        if answer { "active" } else { "actpass" }
    );
    for (i, candidate) in candidates.iter().enumerate() {
        for component in 1..=2 {
            sdp.push_str(&format!("a=candidate:{i} {component} udp 2130706431 {candidate}\r\n"));
        }
    }
    sdp.push_str("a=end-of-candidates\r\n");
    sdp
}
