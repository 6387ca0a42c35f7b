//! The compact form: a session description reduced to the values that vary
//! between data-channel peers, packed as bytes, and rebuilt into an SDP that
//! webrtc-rs and browsers accept.
//!
//! One file on purpose (about 750 lines): the packer, the unpacker and the
//! rebuilt SDP are three views of one byte layout, and a change to the
//! layout has to touch all three; kept together they cannot drift apart.
//!
//! Body layout after the header byte (all integers big-endian):
//!
//! ```text
//! fingerprint  32 B   SHA-256 of the DTLS certificate
//! tag           4 B   only if the header's TAG bit is set (answers)
//! -- short form (header EXTENDED bit clear) --
//! n × (IPv4 4 B + port 2 B)         udp host candidates; credentials derived
//! -- extended form (EXTENDED bit set) --
//! presence      1 B   which optional fields follow (bits below)
//! [credentials]       ufrag and pwd, 6 bits a character, each length-prefixed
//! [setup 1 B] [mid: len + bytes] [sctp-port 2 B]
//! [max-message-size: 1 B exponent of a power of two, or 0xff + 4 B]
//! count         1 B   then each candidate: flags 1 B, address, port 2 B,
//!                     [related address, related port]
//! ```

use super::candidate::{Address, Candidate, CandidateType, Transport};
use super::sdp::{self as sdp_text, SdpSummary};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

pub const FINGERPRINT_LEN: usize = 32;
pub const TAG_LEN: usize = 4;
/// More candidates than any real host has interfaces; a bound for decoding.
const MAX_CANDIDATES: usize = 32;
const DEFAULT_MID: &str = "0";
const DEFAULT_SCTP_PORT: u16 = 5000;
/// RFC 8841: a peer that states no max-message-size is taken to accept 64 KiB.
const DEFAULT_MAX_MESSAGE_SIZE: u32 = 65536;

const HAS_CREDENTIALS: u8 = 0x01;
const HAS_SETUP: u8 = 0x02;
const HAS_MID: u8 = 0x04;
const HAS_SCTP_PORT: u8 = 0x08;
const HAS_MAX_MESSAGE_SIZE: u8 = 0x10;
const ICE_LITE: u8 = 0x20;
const PRESENCE_KNOWN: u8 = 0x3f;
/// max-message-size byte meaning "a big-endian u32 follows".
const MMS_LITERAL: u8 = 0xff;

/// A candidate's type and transport as the flags byte numbers them.
const KINDS: [CandidateType; 4] =
    [CandidateType::Host, CandidateType::Srflx, CandidateType::Prflx, CandidateType::Relay];
const TRANSPORTS: [Transport; 4] = [Transport::Udp, Transport::TcpActive, Transport::TcpPassive, Transport::TcpSo];

/// The address family as the flags byte numbers it.
fn family(address: &Address) -> u8 {
    match address {
        Address::V4(_) => 0,
        Address::V6(_) => 1,
        Address::Mdns(_) => 2,
        Address::Name(_) => 3,
    }
}

/// The ICE-credential alphabet (RFC 8839 ice-char), which is also base64's.
const ICE_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    ActPass,
    Active,
    Passive,
}

impl Setup {
    fn as_str(self) -> &'static str {
        match self {
            Setup::ActPass => "actpass",
            Setup::Active => "active",
            Setup::Passive => "passive",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "actpass" => Some(Setup::ActPass),
            "active" => Some(Setup::Active),
            "passive" => Some(Setup::Passive),
            _ => None,
        }
    }
    fn default_for(answer: bool) -> Self {
        if answer {
            Setup::Active
        } else {
            Setup::ActPass
        }
    }
}

/// Everything a data-channel description says that matters (candidates no
/// peer can use left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    pub fingerprint: [u8; FINGERPRINT_LEN],
    pub ufrag: String,
    pub pwd: String,
    pub setup: Setup,
    pub mid: String,
    pub sctp_port: u16,
    pub max_message_size: u32,
    pub ice_lite: bool,
    pub candidates: Vec<Candidate>,
}

/// Why a description cannot take the compact form (it then travels deflated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

impl Description {
    /// Reads a description, refusing anything the compact form would lose:
    /// media sections, several sections, unknown attributes, other hashes.
    pub fn from_sdp(sdp: &str) -> Result<Description, Unsupported> {
        let nope = |why: &str| Unsupported(why.to_string());
        let minimal = sdp_text::minimize_sdp(sdp);
        let mut fingerprint = None;
        let (mut ufrag, mut pwd, mut setup, mut mid, mut sctp_port, mut mms) = (None, None, None, None, None, None);
        let mut ice_lite = false;
        let mut candidates = Vec::new();
        let mut media_sections = 0;
        let mut bundle = None;
        for line in minimal.lines() {
            let (key, value) = line.split_at(line.find('=').ok_or_else(|| nope("malformed line"))? + 1);
            match key {
                "v=" | "o=" | "s=" | "t=" | "c=" => {}
                "m=" => {
                    media_sections += 1;
                    if !value.starts_with("application ") || !value.ends_with(" UDP/DTLS/SCTP webrtc-datachannel") {
                        return Err(nope("not a data-channel section"));
                    }
                }
                "a=" => {
                    let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                    match name {
                        "group" => bundle = Some(arg.to_string()),
                        "fingerprint" => {
                            let (hash, hex) = arg.split_once(' ').ok_or_else(|| nope("malformed fingerprint"))?;
                            if !hash.eq_ignore_ascii_case("sha-256") {
                                return Err(nope("fingerprint hash is not SHA-256"));
                            }
                            if fingerprint
                                .replace(parse_fingerprint_hex(hex).ok_or_else(|| nope("malformed fingerprint"))?)
                                .is_some()
                            {
                                return Err(nope("several fingerprints"));
                            }
                        }
                        "ice-ufrag" => ufrag = Some(arg.to_string()),
                        "ice-pwd" => pwd = Some(arg.to_string()),
                        "setup" => setup = Some(Setup::parse(arg).ok_or_else(|| nope("unknown setup role"))?),
                        "mid" => mid = Some(arg.to_string()),
                        "sctp-port" => sctp_port = Some(arg.parse().map_err(|_| nope("bad sctp-port"))?),
                        "max-message-size" => mms = Some(arg.parse().map_err(|_| nope("bad max-message-size"))?),
                        "ice-lite" => ice_lite = true,
                        "candidate" => {
                            let c = Candidate::parse(arg)
                                .filter(|c| !matches!(&c.address, Address::Name(n) if n.len() > 255))
                                .ok_or_else(|| nope("candidate the compact form cannot carry"))?;
                            if c.usable_by_a_peer() {
                                candidates.push(c);
                            }
                        }
                        "end-of-candidates" => {}
                        _ => return Err(nope("attribute the compact form cannot carry")),
                    }
                }
                _ => return Err(nope("line the compact form cannot carry")),
            }
        }
        if media_sections != 1 {
            return Err(nope("not exactly one data-channel section"));
        }
        let mid = mid.unwrap_or_else(|| DEFAULT_MID.to_string());
        if let Some(group) = bundle {
            if group != format!("BUNDLE {mid}") {
                return Err(nope("unusual BUNDLE group"));
            }
        }
        // A machine with a public address learns from STUN the address it
        // already has: the server-reflexive candidate repeats the host one
        // (RFC 8445 5.1.3 calls it redundant) and would cost 7-19 bytes of
        // the code for nothing.
        let hosts: Vec<(Address, u16, Transport)> = candidates
            .iter()
            .filter(|c| c.kind == CandidateType::Host)
            .map(|c| (c.address.clone(), c.port, c.transport))
            .collect();
        candidates
            .retain(|c| c.kind == CandidateType::Host || !hosts.contains(&(c.address.clone(), c.port, c.transport)));
        if candidates.len() > MAX_CANDIDATES {
            return Err(nope("too many candidates"));
        }
        let (ufrag, pwd) = (ufrag.ok_or_else(|| nope("no ice-ufrag"))?, pwd.ok_or_else(|| nope("no ice-pwd"))?);
        if !packable(&ufrag) || !packable(&pwd) {
            return Err(nope("ICE credentials outside the ICE alphabet"));
        }
        if mid.is_empty() || mid.len() > 32 || !mid.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(nope("unusual mid"));
        }
        Ok(Description {
            fingerprint: fingerprint.ok_or_else(|| nope("no fingerprint"))?,
            ufrag,
            pwd,
            setup: setup.ok_or_else(|| nope("no setup role"))?,
            mid,
            sctp_port: sctp_port.unwrap_or(DEFAULT_SCTP_PORT),
            max_message_size: mms.unwrap_or(DEFAULT_MAX_MESSAGE_SIZE),
            ice_lite,
            candidates,
        })
    }

    /// What `SdpSummary::parse(&self.to_sdp())` would find, without writing
    /// and re-reading the text.
    pub fn summary(&self) -> SdpSummary {
        let hex: Vec<String> = self.fingerprint.iter().map(|b| format!("{b:02X}")).collect();
        let mut candidates: Vec<Candidate> = Vec::with_capacity(self.candidates.len());
        for c in &self.candidates {
            if !candidates.contains(c) {
                candidates.push(c.clone());
            }
        }
        SdpSummary {
            fingerprint: Some(format!("sha-256 {}", hex.join(":"))),
            ice_ufrag: Some(self.ufrag.clone()),
            ice_pwd: Some(self.pwd.clone()),
            setup: Some(self.setup.as_str().to_string()),
            candidates,
        }
    }

    /// A full SDP for this description, accepted by webrtc-rs and Chromium.
    pub fn to_sdp(&self) -> String {
        let session_id = u64::from_be_bytes(self.fingerprint[..8].try_into().unwrap_or([0; 8])) >> 2;
        let mut s = String::with_capacity(600);
        let _ = write!(s, "v=0\r\no=- {session_id} 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
        let _ = write!(s, "a=group:BUNDLE {}\r\n", self.mid);
        if self.ice_lite {
            s.push_str("a=ice-lite\r\n");
        }
        s.push_str("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n");
        for (i, c) in self.candidates.iter().enumerate() {
            let local_pref = 65535 - i as u32;
            let priority = (c.kind.preference() << 24) | (local_pref << 8) | 255;
            let protocol = c.transport.protocol();
            let _ = write!(
                s,
                "a=candidate:{} 1 {protocol} {priority} {} {} typ {}",
                i + 1,
                c.address,
                c.port,
                c.kind.as_str()
            );
            if let Some((addr, port)) = &c.related {
                let _ = write!(s, " raddr {addr} rport {port}");
            }
            if let Some(tcptype) = c.transport.tcptype() {
                let _ = write!(s, " tcptype {tcptype}");
            }
            s.push_str("\r\n");
        }
        let _ = write!(s, "a=ice-ufrag:{}\r\na=ice-pwd:{}\r\n", self.ufrag, self.pwd);
        let hex: Vec<String> = self.fingerprint.iter().map(|b| format!("{b:02X}")).collect();
        let _ = write!(s, "a=fingerprint:sha-256 {}\r\n", hex.join(":"));
        let _ = write!(s, "a=setup:{}\r\na=mid:{}\r\n", self.setup.as_str(), self.mid);
        let _ = write!(s, "a=sctp-port:{}\r\na=max-message-size:{}\r\n", self.sctp_port, self.max_message_size);
        s.push_str("a=end-of-candidates\r\n");
        s
    }
}

/// `AB:CD:…`, the 32 colon-separated hex bytes of a SHA-256 fingerprint, as
/// SDP and webrtc's certificate both write it; nothing else is accepted.
pub fn parse_fingerprint_hex(hex: &str) -> Option<[u8; FINGERPRINT_LEN]> {
    let mut out = [0u8; FINGERPRINT_LEN];
    let mut n = 0;
    for part in hex.trim().split(':') {
        if n == FINGERPRINT_LEN || part.len() != 2 {
            return None;
        }
        out[n] = u8::from_str_radix(part, 16).ok()?;
        n += 1;
    }
    (n == FINGERPRINT_LEN).then_some(out)
}

fn packable(cred: &str) -> bool {
    !cred.is_empty() && cred.len() <= 255 && cred.bytes().all(|b| ICE_ALPHABET.contains(&b))
}

/// ICE credentials derived from the certificate fingerprint, so a qrpair
/// description needs no bytes for them. The values are not secret (the QR
/// is visible to anyone who sees it either way); they only need to be
/// well-formed and distinct per certificate.
pub fn derive_credentials(fingerprint: &[u8; FINGERPRINT_LEN]) -> (String, String) {
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"qrpair ice credentials v1"), fingerprint);
    let mut ufrag = [0u8; 8];
    let mut pwd = [0u8; 24];
    // Output lengths far below HKDF's limit: expand cannot fail.
    let _ = hk.expand(b"ufrag", &mut ufrag);
    let _ = hk.expand(b"pwd", &mut pwd);
    let text = |bytes: &[u8]| bytes.iter().map(|b| ICE_ALPHABET[(b & 63) as usize] as char).collect::<String>();
    (text(&ufrag), text(&pwd))
}

/// Which offer an answer belongs to.
pub fn offer_tag(offer_fingerprint: &[u8; FINGERPRINT_LEN]) -> [u8; TAG_LEN] {
    use sha2::Digest;
    let digest = sha2::Sha256::new().chain_update(b"qrpair offer tag v1").chain_update(offer_fingerprint).finalize();
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&digest[..TAG_LEN]);
    tag
}

impl Description {
    pub fn has_derived_credentials(&self) -> bool {
        let (u, p) = derive_credentials(&self.fingerprint);
        self.ufrag == u && self.pwd == p
    }

    /// True when the short form (fingerprint and IPv4 udp host candidates
    /// only) says everything.
    fn fits_short_form(&self, answer: bool) -> bool {
        self.has_derived_credentials()
            && self.setup == Setup::default_for(answer)
            && self.mid == DEFAULT_MID
            && self.sctp_port == DEFAULT_SCTP_PORT
            && self.max_message_size == DEFAULT_MAX_MESSAGE_SIZE
            && !self.ice_lite
            && self.candidates.iter().all(|c| {
                matches!(c.address, Address::V4(_))
                    && c.kind == CandidateType::Host
                    && c.transport == Transport::Udp
                    && c.related.is_none()
            })
    }

    /// Packs the body; returns it and whether it took the extended form.
    pub fn pack(&self, answer: bool) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(128);
        if self.fits_short_form(answer) {
            for c in &self.candidates {
                if let Address::V4(a) = c.address {
                    out.extend_from_slice(&a.octets());
                    out.extend_from_slice(&c.port.to_be_bytes());
                }
            }
            return (out, false);
        }
        let mut presence = 0u8;
        let mut fields = Vec::new();
        if !self.has_derived_credentials() {
            presence |= HAS_CREDENTIALS;
            pack_credential(&mut fields, &self.ufrag);
            pack_credential(&mut fields, &self.pwd);
        }
        if self.setup != Setup::default_for(answer) {
            presence |= HAS_SETUP;
            fields.push(match self.setup {
                Setup::ActPass => 0,
                Setup::Active => 1,
                Setup::Passive => 2,
            });
        }
        if self.mid != DEFAULT_MID {
            presence |= HAS_MID;
            fields.push(self.mid.len() as u8);
            fields.extend_from_slice(self.mid.as_bytes());
        }
        if self.sctp_port != DEFAULT_SCTP_PORT {
            presence |= HAS_SCTP_PORT;
            fields.extend_from_slice(&self.sctp_port.to_be_bytes());
        }
        if self.max_message_size != DEFAULT_MAX_MESSAGE_SIZE {
            presence |= HAS_MAX_MESSAGE_SIZE;
            // Browsers use powers of two (Chromium 262144, Firefox 1073741823
            // is the exception): one byte for the exponent, else escape + u32.
            if self.max_message_size.is_power_of_two() {
                fields.push(self.max_message_size.trailing_zeros() as u8);
            } else {
                fields.push(MMS_LITERAL);
                fields.extend_from_slice(&self.max_message_size.to_be_bytes());
            }
        }
        if self.ice_lite {
            presence |= ICE_LITE;
        }
        out.push(presence);
        out.extend_from_slice(&fields);
        out.push(self.candidates.len() as u8);
        for c in &self.candidates {
            let kind = KINDS.iter().position(|t| *t == c.kind).unwrap_or(0) as u8;
            let transport = TRANSPORTS.iter().position(|t| *t == c.transport).unwrap_or(0) as u8;
            let related = if c.related.is_some() { 0x40 } else { 0 };
            out.push(family(&c.address) | kind << 2 | transport << 4 | related);
            pack_address(&mut out, &c.address);
            out.extend_from_slice(&c.port.to_be_bytes());
            if let Some((addr, port)) = &c.related {
                out.push(family(addr));
                pack_address(&mut out, addr);
                out.extend_from_slice(&port.to_be_bytes());
            }
        }
        (out, true)
    }

    /// Unpacks a body made by `pack`. Every length is checked against what
    /// is left, so hostile input ends in an error, never a panic, and never
    /// allocates more than the input's size allows.
    pub fn unpack(
        fingerprint: [u8; FINGERPRINT_LEN],
        body: &[u8],
        extended: bool,
        answer: bool,
    ) -> Result<Description, CompactError> {
        let (ufrag, pwd) = derive_credentials(&fingerprint);
        let mut d = Description {
            fingerprint,
            ufrag,
            pwd,
            setup: Setup::default_for(answer),
            mid: DEFAULT_MID.to_string(),
            sctp_port: DEFAULT_SCTP_PORT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            ice_lite: false,
            candidates: Vec::new(),
        };
        if !extended {
            if body.len() % 6 != 0 || body.len() / 6 > MAX_CANDIDATES {
                return Err(CompactError::Truncated);
            }
            for chunk in body.chunks_exact(6) {
                d.candidates.push(Candidate {
                    address: Address::V4(Ipv4Addr::new(chunk[0], chunk[1], chunk[2], chunk[3])),
                    port: u16::from_be_bytes([chunk[4], chunk[5]]),
                    kind: CandidateType::Host,
                    transport: Transport::Udp,
                    related: None,
                });
            }
            return Ok(d);
        }
        let mut r = Reader(body);
        let presence = r.byte()?;
        if presence & !PRESENCE_KNOWN != 0 {
            return Err(CompactError::UnknownField(presence));
        }
        if presence & HAS_CREDENTIALS != 0 {
            d.ufrag = unpack_credential(&mut r)?;
            d.pwd = unpack_credential(&mut r)?;
        }
        if presence & HAS_SETUP != 0 {
            d.setup = match r.byte()? {
                0 => Setup::ActPass,
                1 => Setup::Active,
                2 => Setup::Passive,
                _ => return Err(CompactError::BadValue("setup role")),
            };
        }
        if presence & HAS_MID != 0 {
            let len = r.byte()? as usize;
            let mid = std::str::from_utf8(r.take(len)?).map_err(|_| CompactError::BadValue("mid"))?;
            if mid.is_empty() || !mid.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(CompactError::BadValue("mid"));
            }
            d.mid = mid.to_string();
        }
        if presence & HAS_SCTP_PORT != 0 {
            d.sctp_port = r.u16()?;
        }
        if presence & HAS_MAX_MESSAGE_SIZE != 0 {
            d.max_message_size = match r.byte()? {
                exponent @ 0..=31 => 1u32 << exponent,
                MMS_LITERAL => u32::from_be_bytes(r.take(4)?.try_into().map_err(|_| CompactError::Truncated)?),
                _ => return Err(CompactError::BadValue("max-message-size")),
            };
        }
        d.ice_lite = presence & ICE_LITE != 0;
        let count = r.byte()? as usize;
        if count > MAX_CANDIDATES {
            return Err(CompactError::BadValue("candidate count"));
        }
        for _ in 0..count {
            let flags = r.byte()?;
            if flags & 0x80 != 0 {
                return Err(CompactError::BadCandidate);
            }
            let address = unpack_address(&mut r, flags & 3)?;
            let port = r.u16()?;
            let related = if flags & 0x40 != 0 {
                let family = r.byte()?;
                Some((unpack_address(&mut r, family)?, r.u16()?))
            } else {
                None
            };
            d.candidates.push(Candidate {
                address,
                port,
                kind: KINDS[((flags >> 2) & 3) as usize],
                transport: TRANSPORTS[((flags >> 4) & 3) as usize],
                related,
            });
        }
        if !r.0.is_empty() {
            return Err(CompactError::TrailingBytes(r.0.len()));
        }
        Ok(d)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompactError {
    #[error("payload is truncated: scan or copy it again")]
    Truncated,
    #[error("payload has {0} unexpected bytes at its end: scan or copy it again")]
    TrailingBytes(usize),
    #[error("payload carries fields this qrpair does not know (0x{0:02x}): update qrpair on this machine")]
    UnknownField(u8),
    #[error("payload holds a bad candidate")]
    BadCandidate,
    #[error("payload holds a bad {0}")]
    BadValue(&'static str),
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CompactError> {
        if self.0.len() < n {
            return Err(CompactError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn byte(&mut self) -> Result<u8, CompactError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, CompactError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
}

fn pack_address(out: &mut Vec<u8>, address: &Address) {
    match address {
        Address::V4(a) => out.extend_from_slice(&a.octets()),
        Address::V6(a) => out.extend_from_slice(&a.octets()),
        Address::Mdns(u) => out.extend_from_slice(u),
        Address::Name(n) => {
            out.push(n.len() as u8);
            out.extend_from_slice(n.as_bytes());
        }
    }
}

fn unpack_address(r: &mut Reader<'_>, family: u8) -> Result<Address, CompactError> {
    Ok(match family {
        0 => Address::V4(<[u8; 4]>::try_from(r.take(4)?).map_err(|_| CompactError::Truncated)?.into()),
        1 => Address::V6(<[u8; 16]>::try_from(r.take(16)?).map_err(|_| CompactError::Truncated)?.into()),
        2 => Address::Mdns(<[u8; 16]>::try_from(r.take(16)?).map_err(|_| CompactError::Truncated)?),
        3 => {
            let len = r.byte()? as usize;
            let name = std::str::from_utf8(r.take(len)?).map_err(|_| CompactError::BadCandidate)?;
            // A name is spliced into SDP text: it must not smuggle lines or fields.
            if name.is_empty()
                || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
            {
                return Err(CompactError::BadCandidate);
            }
            Address::Name(name.to_string())
        }
        _ => return Err(CompactError::BadCandidate),
    })
}

fn pack_credential(out: &mut Vec<u8>, cred: &str) {
    out.push(cred.len() as u8);
    let mut acc = 0u32;
    let mut bits = 0;
    for b in cred.bytes() {
        let v = ICE_ALPHABET.iter().position(|&c| c == b).unwrap_or(0) as u32;
        acc = acc << 6 | v;
        bits += 6;
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if bits > 0 {
        out.push((acc << (8 - bits)) as u8);
    }
}

fn unpack_credential(r: &mut Reader<'_>) -> Result<String, CompactError> {
    let len = r.byte()? as usize;
    if len == 0 {
        return Err(CompactError::BadValue("ICE credential"));
    }
    let packed = r.take((len * 6).div_ceil(8))?;
    let mut out = String::with_capacity(len);
    let (mut acc, mut bits, mut bytes) = (0u32, 0, packed.iter());
    while out.len() < len {
        if bits < 6 {
            acc = acc << 8 | *bytes.next().ok_or(CompactError::Truncated)? as u32;
            bits += 8;
        }
        bits -= 6;
        out.push(ICE_ALPHABET[((acc >> bits) & 63) as usize] as char);
    }
    Ok(out)
}
