//! One ICE candidate type, parsed by one function, for everything that reads
//! candidates: the compact form packs it, `qrpair decode` shows it, and the
//! peer looks at its kind and transport to explain a failure.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
    /// `<uuid>.local`, the name browsers publish instead of the address.
    Mdns([u8; 16]),
    /// Any other name: not resolvable by a peer that only has the QR, so
    /// `check_usable` refuses a description that carries one.
    Name(String),
}

impl Address {
    pub fn parse(text: &str) -> Address {
        if let Ok(v4) = text.parse() {
            return Address::V4(v4);
        }
        if let Ok(v6) = text.parse() {
            return Address::V6(v6);
        }
        match parse_mdns_uuid(text) {
            Some(uuid) => Address::Mdns(uuid),
            None => Address::Name(text.to_string()),
        }
    }

    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Address::V4(a) => Some(IpAddr::V4(*a)),
            Address::V6(a) => Some(IpAddr::V6(*a)),
            Address::Mdns(_) | Address::Name(_) => None,
        }
    }

    /// An mDNS `.local` name, in any spelling (only the canonical one packs
    /// into `Mdns`).
    pub fn is_local_name(&self) -> bool {
        match self {
            Address::Mdns(_) => true,
            Address::Name(n) => n.to_ascii_lowercase().ends_with(".local"),
            _ => false,
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::V4(a) => write!(f, "{a}"),
            Address::V6(a) => write!(f, "{a}"),
            Address::Mdns(u) => {
                for (i, b) in u.iter().enumerate() {
                    if matches!(i, 4 | 6 | 8 | 10) {
                        f.write_char('-')?;
                    }
                    write!(f, "{b:02x}")?;
                }
                f.write_str(".local")
            }
            Address::Name(n) => f.write_str(n),
        }
    }
}

/// Only the lowercase canonical form packs into 16 bytes; anything else
/// would not rebuild to the same name.
fn parse_mdns_uuid(text: &str) -> Option<[u8; 16]> {
    let uuid = text.strip_suffix(".local")?;
    let bytes = uuid.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut hex = Vec::with_capacity(32);
    for (i, &c) in bytes.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if c != b'-' {
                return None;
            }
        } else {
            hex.push(match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                _ => return None,
            });
        }
    }
    for (i, pair) in hex.chunks(2).enumerate() {
        out[i] = pair[0] << 4 | pair[1];
    }
    Some(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateType {
    Host,
    Srflx,
    Prflx,
    Relay,
}

impl CandidateType {
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateType::Host => "host",
            CandidateType::Srflx => "srflx",
            CandidateType::Prflx => "prflx",
            CandidateType::Relay => "relay",
        }
    }

    fn parse(text: &str) -> Option<CandidateType> {
        [CandidateType::Host, CandidateType::Srflx, CandidateType::Prflx, CandidateType::Relay]
            .into_iter()
            .find(|t| t.as_str() == text)
    }

    /// RFC 8445 recommended type preferences.
    pub fn preference(self) -> u32 {
        match self {
            CandidateType::Host => 126,
            CandidateType::Prflx => 110,
            CandidateType::Srflx => 100,
            CandidateType::Relay => 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    TcpActive,
    TcpPassive,
    TcpSo,
}

impl Transport {
    pub fn protocol(self) -> &'static str {
        if self == Transport::Udp {
            "udp"
        } else {
            "tcp"
        }
    }

    /// The `tcptype` extension (RFC 6544) a TCP candidate line carries.
    pub fn tcptype(self) -> Option<&'static str> {
        match self {
            Transport::Udp => None,
            Transport::TcpActive => Some("active"),
            Transport::TcpPassive => Some("passive"),
            Transport::TcpSo => Some("so"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub address: Address,
    pub port: u16,
    pub kind: CandidateType,
    pub transport: Transport,
    /// `raddr`/`rport`: where a reflexive or relayed candidate comes from.
    pub related: Option<(Address, u16)>,
}

impl Candidate {
    /// `foundation 1 protocol priority address port typ type [raddr a rport p]
    /// [tcptype t] [extensions]`, the value of an `a=candidate:` line.
    /// Foundation, priority and extensions (generation, network-cost, ufrag)
    /// are left out: they are re-synthesised or irrelevant to a single-shot
    /// exchange. `None` for component 2 (data channels are rtcp-muxed), an
    /// unknown type or transport, or a line that does not follow the grammar.
    pub fn parse(value: &str) -> Option<Candidate> {
        let f: Vec<&str> = value.split_whitespace().collect();
        if f.len() < 8 || f[1] != "1" || f[6] != "typ" {
            return None;
        }
        let kind = CandidateType::parse(f[7])?;
        let address = Address::parse(f[4]);
        let port = f[5].parse().ok()?;
        let (mut raddr, mut rport, mut tcptype) = (None, None, None);
        for pair in f[8..].chunks(2) {
            match pair {
                ["raddr", a] => raddr = Some(Address::parse(a)),
                ["rport", p] => rport = Some(p.parse().ok()?),
                ["tcptype", t] => tcptype = Some(*t),
                [_, _] => {}
                _ => return None,
            }
        }
        let transport = match (f[2].to_ascii_lowercase().as_str(), tcptype) {
            ("udp", None) => Transport::Udp,
            ("tcp", Some("active")) => Transport::TcpActive,
            ("tcp", Some("passive")) => Transport::TcpPassive,
            ("tcp", Some("so")) => Transport::TcpSo,
            _ => return None,
        };
        let related = match (raddr, rport) {
            (Some(a), Some(p)) => Some((a, p)),
            (None, None) => None,
            _ => return None,
        };
        if matches!(&address, Address::Name(n) if n.is_empty()) {
            return None;
        }
        Some(Candidate { address, port, kind, transport, related })
    }

    /// False for a candidate that tells the other side nothing it can use:
    /// an active TCP candidate (RFC 6544) has the discard port 9 for a port
    /// and is never checked; its checks reach the other side from an address
    /// that side learns then. Firefox lists one per host candidate (19 B
    /// each with mDNS names: fixtures/sdp/firefox_offer_mdns_1.json packed to
    /// 110 B, QR version 7, with it and 91 B, version 6, without).
    pub fn usable_by_a_peer(&self) -> bool {
        self.transport != Transport::TcpActive
    }

    /// The UDP socket address, for a UDP candidate with an IP address.
    pub fn udp_addr(&self) -> Option<std::net::SocketAddr> {
        if self.transport != Transport::Udp {
            return None;
        }
        Some(std::net::SocketAddr::new(self.address.ip()?, self.port))
    }
}

/// `203.0.113.7:40001 udp srflx`, as `qrpair decode` and error messages
/// show a candidate.
impl std::fmt::Display for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.address {
            Address::V6(a) => write!(f, "[{a}]")?,
            other => write!(f, "{other}")?,
        }
        write!(f, ":{} {} {}", self.port, self.transport.protocol(), self.kind.as_str())
    }
}

/// `{"address", "port", "protocol", "type"}` in `qrpair decode --json`.
impl serde::Serialize for Candidate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Candidate", 4)?;
        s.serialize_field("address", &self.address.to_string())?;
        s.serialize_field("port", &self.port)?;
        s.serialize_field("protocol", self.transport.protocol())?;
        s.serialize_field("type", self.kind.as_str())?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_parse_reads_what_browsers_and_webrtc_rs_write() {
        let chromium = Candidate::parse(
            "1840965416 1 udp 1677729535 203.0.113.7 40001 typ srflx raddr 192.168.1.10 rport 40000 generation 0 \
             network-cost 999",
        )
        .unwrap();
        assert_eq!(chromium.address, Address::V4(Ipv4Addr::new(203, 0, 113, 7)));
        assert_eq!((chromium.port, chromium.kind, chromium.transport), (40001, CandidateType::Srflx, Transport::Udp));
        assert_eq!(chromium.related, Some((Address::V4(Ipv4Addr::new(192, 168, 1, 10)), 40000)));
        assert_eq!(chromium.to_string(), "203.0.113.7:40001 udp srflx");
        assert_eq!(chromium.udp_addr(), Some("203.0.113.7:40001".parse().unwrap()));

        let firefox = Candidate::parse("2 1 TCP 2105458943 fd00::5 9 typ host tcptype active").unwrap();
        assert_eq!(firefox.transport, Transport::TcpActive);
        assert!(!firefox.usable_by_a_peer());
        assert_eq!(firefox.udp_addr(), None);
        assert_eq!(firefox.to_string(), "[fd00::5]:9 tcp host");

        let mdns =
            Candidate::parse("3 1 udp 2122260223 0d2c4a3e-7f2b-4c55-9a43-8f0e3c1a2b4d.local 5000 typ host").unwrap();
        assert!(matches!(mdns.address, Address::Mdns(_)) && mdns.address.is_local_name());
        assert_eq!(mdns.address.to_string(), "0d2c4a3e-7f2b-4c55-9a43-8f0e3c1a2b4d.local");

        for broken in [
            "1 2 udp 1 10.0.0.1 5000 typ host",                // component 2
            "1 1 udp 1 10.0.0.1 5000 typ nonsense",            // unknown type
            "1 1 udp 1 10.0.0.1 99999 typ host",               // port out of range
            "1 1 tcp 1 10.0.0.1 5000 typ host",                // TCP without tcptype
            "1 1 udp 1 10.0.0.1 5000 typ srflx raddr 1.2.3.4", // raddr without rport
            "1 1 udp 1 10.0.0.1 5000 host",
        ] {
            assert_eq!(Candidate::parse(broken), None, "{broken}");
        }
    }

    #[test]
    fn json_keeps_the_shape_decode_has_always_printed() {
        let c = Candidate::parse("1 1 udp 1 2001:db8::1 5000 typ relay raddr 10.0.0.1 rport 6000").unwrap();
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"address":"2001:db8::1","port":5000,"protocol":"udp","type":"relay"}"#
        );
    }
}
