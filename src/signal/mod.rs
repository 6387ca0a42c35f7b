//! What goes into the QR code: a versioned binary payload carrying a session
//! description, and the text token that carries the same bytes.
//!
//! Pure and synchronous on purpose: everything here takes bytes and returns
//! values, so it can be unit-tested and fuzzed without a network.

mod addresses;
pub mod candidate;
pub mod compact;
pub mod json;
mod sdp;
pub mod token;

pub use compact::{derive_credentials, offer_tag, parse_fingerprint_hex, Description, FINGERPRINT_LEN, TAG_LEN};
pub use json::{looks_like_json, parse_sdp_json, to_sdp_json, JsonError};

pub use addresses::{classify as classify_address, Class as AddressClass};
pub use candidate::{Address, Candidate, CandidateType, Transport};
pub use sdp::{minimize_sdp, reach, SdpSummary};
pub use token::{decode_token, encode_token, find_token, looks_like_token, TokenError, TOKEN_PREFIX};

use flate2::{write::DeflateEncoder, Compression, Decompress, FlushDecompress, Status};
use std::io::Write;

/// Inflated descriptions larger than this are refused: a real data-channel
/// description is well under 2 KiB, and the cap keeps a hostile payload
/// (a deflate bomb) from allocating without bound.
pub const MAX_SDP_BYTES: usize = 16 * 1024;

/// Format version carried in the high nibble of the header byte: 1 is the
/// deflated SDP text, 2 the compact binary form.
const FORMAT_DEFLATE: u8 = 1;
const FORMAT_COMPACT: u8 = 2;
const KIND_ANSWER_BIT: u8 = 0x01;
/// Compact form only: the body has a presence byte and tagged candidates.
const EXTENDED_BIT: u8 = 0x02;
/// The body starts (after the fingerprint, in the compact form) with the
/// tag of the offer this answer belongs to.
const TAG_BIT: u8 = 0x04;
/// A payload setting this was made by a newer qrpair and is refused rather
/// than misread.
const RESERVED_FLAGS: u8 = 0x08;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Offer,
    Answer,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Offer => "offer",
            Kind::Answer => "answer",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which body a payload carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Form {
    Compact,
    Deflate,
    /// Not a QR payload at all: a browser's JSON description.
    SdpJson,
}

/// A decoded payload: which side made it, the session description it
/// stands for, and what the rest of qrpair needs to know of that
/// description, parsed once here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub kind: Kind,
    pub sdp: String,
    /// For an answer made by qrpair: the tag of the offer it answers.
    pub tag: Option<[u8; TAG_LEN]>,
    pub form: Form,
    /// Fingerprint as written, ICE user fragment, setup role, candidates.
    pub summary: SdpSummary,
    /// The SHA-256 DTLS fingerprint's bytes; `None` for another hash.
    pub sha256: Option<[u8; FINGERPRINT_LEN]>,
    /// Made by qrpair (its ICE credentials follow from its fingerprint), so
    /// it speaks qrpair's framing; otherwise a browser or another app.
    pub made_by_qrpair: bool,
}

impl Payload {
    /// Parses `sdp` once, refusing a description that could never connect
    /// (see `check_usable`).
    pub fn new(kind: Kind, sdp: String, tag: Option<[u8; TAG_LEN]>, form: Form) -> Result<Payload, Error> {
        let summary = SdpSummary::parse(&sdp);
        Payload::with_summary(kind, sdp, summary, tag, form)
    }

    /// For a description whose summary is already known (the compact form
    /// unpacks the values themselves; reading them back out of the SDP it
    /// rebuilt would be a second parse of the same thing).
    fn with_summary(
        kind: Kind,
        sdp: String,
        summary: SdpSummary,
        tag: Option<[u8; TAG_LEN]>,
        form: Form,
    ) -> Result<Payload, Error> {
        usable(&summary)?;
        let sha256 = summary.fingerprint.as_deref().and_then(sha256_bytes);
        let made_by_qrpair = match (sha256, &summary.ice_ufrag, &summary.ice_pwd) {
            (Some(fingerprint), Some(ufrag), Some(pwd)) => {
                derive_credentials(&fingerprint) == (ufrag.clone(), pwd.clone())
            }
            _ => false,
        };
        Ok(Payload { kind, sdp, tag, form, summary, sha256, made_by_qrpair })
    }

    /// The tag an answer to this offer carries; `None` when the offer has
    /// no SHA-256 fingerprint to derive it from.
    pub fn answer_tag(&self) -> Option<[u8; TAG_LEN]> {
        self.sha256.as_ref().map(offer_tag)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("the QR code is empty, so it is not a qrpair payload")]
    Empty,
    #[error("this QR code is not a qrpair payload — it says: {0}")]
    ForeignText(String),
    #[error("this QR code holds {0} bytes that are not a qrpair payload")]
    ForeignBinary(usize),
    #[error("payload format version {0} is not known to this qrpair {v}: if the other machine runs a newer qrpair, update this one; otherwise this is not a qrpair code", v = env!("CARGO_PKG_VERSION"))]
    UnknownVersion(u8),
    #[error("payload uses flags this qrpair does not know (header 0x{0:02x}): if the other machine runs a newer qrpair, update this one; otherwise this is not a qrpair code")]
    UnknownFlags(u8),
    #[error("payload is truncated or corrupt (the compressed description does not inflate): scan or copy it again")]
    Corrupt,
    #[error(transparent)]
    Compact(#[from] compact::CompactError),
    #[error(
        "this answer belongs to a different offer: scan the answer made for the offer this machine is showing now"
    )]
    OtherOffer,
    #[error("payload inflates to more than {MAX_SDP_BYTES} bytes, which no real description needs: refusing it")]
    TooLarge,
    #[error("payload does not hold a session description: {0}")]
    NotSdp(&'static str),
    #[error("this is an {found}, but an {expected} was expected: {hint}")]
    WrongKind { found: Kind, expected: Kind, hint: &'static str },
    #[error("this description can never connect: {0}")]
    Unusable(String),
}

/// Packs a session description into the QR payload: the compact form when
/// it carries the description exactly, else (or when smaller) the deflated
/// text. `tag` marks an answer with the offer it answers.
pub fn encode(kind: Kind, sdp: &str, tag: Option<[u8; TAG_LEN]>) -> Vec<u8> {
    let deflated = encode_deflate(kind, sdp, tag);
    match encode_compact(kind, sdp, tag) {
        Some(compact) if compact.len() <= deflated.len() => compact,
        _ => deflated,
    }
}

fn header(format: u8, kind: Kind, tag: Option<[u8; TAG_LEN]>) -> u8 {
    let mut h = format << 4;
    if kind == Kind::Answer {
        h |= KIND_ANSWER_BIT;
    }
    if tag.is_some() {
        h |= TAG_BIT;
    }
    h
}

/// The deflated form, which carries any description.
pub fn encode_deflate(kind: Kind, sdp: &str, tag: Option<[u8; TAG_LEN]>) -> Vec<u8> {
    let minimal = minimize_sdp(sdp);
    let mut out = vec![header(FORMAT_DEFLATE, kind, tag)];
    if let Some(t) = tag {
        out.extend_from_slice(&t);
    }
    let mut enc = DeflateEncoder::new(&mut out, Compression::best());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(minimal.as_bytes());
    let _ = enc.finish();
    out
}

/// The compact form, or `None` when the description has something it cannot
/// carry. Only returned after checking that it unpacks to the same values.
pub fn encode_compact(kind: Kind, sdp: &str, tag: Option<[u8; TAG_LEN]>) -> Option<Vec<u8>> {
    let description = Description::from_sdp(sdp).ok()?;
    let answer = kind == Kind::Answer;
    let (body, extended) = description.pack(answer);
    let mut out = vec![header(FORMAT_COMPACT, kind, tag) | if extended { EXTENDED_BIT } else { 0 }];
    out.extend_from_slice(&description.fingerprint);
    if let Some(t) = tag {
        out.extend_from_slice(&t);
    }
    out.extend_from_slice(&body);
    let round_trip = Description::unpack(description.fingerprint, &body, extended, answer).ok()?;
    (round_trip == description).then_some(out)
}

/// Unpacks a QR payload. Never panics; allocates at most `MAX_SDP_BYTES` (+ a
/// small read buffer) whatever the input.
pub fn decode(bytes: &[u8]) -> Result<Payload, Error> {
    let (&header, body) = bytes.split_first().ok_or(Error::Empty)?;
    let version = header >> 4;
    if version != FORMAT_DEFLATE && version != FORMAT_COMPACT {
        return Err(foreign_or_unknown(bytes, version));
    }
    if header & RESERVED_FLAGS != 0 || (version == FORMAT_DEFLATE && header & EXTENDED_BIT != 0) {
        return Err(unknown_flags_or_foreign(bytes, header));
    }
    let kind = if header & KIND_ANSWER_BIT != 0 { Kind::Answer } else { Kind::Offer };
    if version == FORMAT_COMPACT {
        return decode_compact(header, body, kind);
    }
    let (tag, body) = split_tag(header, body).ok_or(Error::Corrupt)?;
    let sdp = inflate_capped(body)?;
    let sdp = String::from_utf8(sdp).map_err(|_| Error::NotSdp("it is not text"))?;
    if !sdp.starts_with("v=0") {
        return Err(Error::NotSdp("it does not start with v=0"));
    }
    if sdp.lines().all(|l| !l.starts_with("m=")) {
        return Err(Error::NotSdp("it has no media section"));
    }
    Payload::new(kind, sdp, tag, Form::Deflate)
}

/// Refuses, with the reason, a description qrpair's WebRTC stack would
/// accept now and fail on later (after the other person has waited out the
/// timeout): a DTLS fingerprint hash other than SHA-256, SHA-384 or SHA-512,
/// and candidates whose address is neither an IP address nor an mDNS
/// `.local` name.
pub fn check_usable(sdp: &str) -> Result<(), Error> {
    usable(&SdpSummary::parse(sdp))
}

fn usable(summary: &SdpSummary) -> Result<(), Error> {
    let Some(fingerprint) = &summary.fingerprint else {
        return Err(Error::Unusable("it has no DTLS fingerprint, so the connection could not be authenticated".into()));
    };
    let hash = fingerprint.split_once(' ').map_or(fingerprint.as_str(), |(hash, _)| hash);
    if !["sha-256", "sha-384", "sha-512"].iter().any(|ok| hash.eq_ignore_ascii_case(ok)) {
        let hash: String = hash.chars().take(16).collect();
        return Err(Error::Unusable(format!(
            "its DTLS fingerprint uses {hash}, which WebRTC no longer accepts (SHA-256 or stronger is needed)"
        )));
    }
    for candidate in &summary.candidates {
        if let Address::Name(name) = &candidate.address {
            if candidate.address.is_local_name() {
                continue;
            }
            let shown: String = name.chars().take(64).collect();
            return Err(Error::Unusable(format!(
                "candidate address {shown:?} is a host name; only IP addresses and .local names can be used"
            )));
        }
    }
    Ok(())
}

fn split_tag(header: u8, body: &[u8]) -> Option<(Option<[u8; TAG_LEN]>, &[u8])> {
    if header & TAG_BIT == 0 {
        return Some((None, body));
    }
    let (tag, rest) = body.split_at_checked(TAG_LEN)?;
    Some((tag.try_into().ok(), rest))
}

fn decode_compact(header: u8, body: &[u8], kind: Kind) -> Result<Payload, Error> {
    let (fingerprint, rest) = body.split_at_checked(FINGERPRINT_LEN).ok_or(compact::CompactError::Truncated)?;
    let fingerprint: [u8; FINGERPRINT_LEN] = fingerprint.try_into().map_err(|_| compact::CompactError::Truncated)?;
    let (tag, rest) = split_tag(header, rest).ok_or(compact::CompactError::Truncated)?;
    let description = Description::unpack(fingerprint, rest, header & EXTENDED_BIT != 0, kind == Kind::Answer)?;
    Payload::with_summary(kind, description.to_sdp(), description.summary(), tag, Form::Compact)
}

/// For the offering side: refuses an answer that says it was made for
/// another offer (`our_tag`: `offer_tag` of our own fingerprint). Answers
/// without a tag (converted from a browser's own description) cannot be
/// checked and pass; the DTLS fingerprint still authenticates whoever
/// connects.
pub fn check_answer_belongs(answer: &Payload, our_tag: [u8; TAG_LEN]) -> Result<(), Error> {
    match answer.tag {
        Some(tag) if tag != our_tag => Err(Error::OtherOffer),
        _ => Ok(()),
    }
}

/// `"sha-256 AB:CD:…"` as a description writes it, as bytes.
fn sha256_bytes(fp: &str) -> Option<[u8; FINGERPRINT_LEN]> {
    let (hash, hex) = fp.split_once(' ')?;
    if !hash.eq_ignore_ascii_case("sha-256") {
        return None;
    }
    parse_fingerprint_hex(hex)
}

/// A short string both people can compare by voice or by eye: six digits
/// from both SHA-256 DTLS fingerprints (the offer's, then the answer's).
/// DTLS already refuses any peer whose certificate does not match the
/// fingerprint in the QR; the string checks that the QR itself came from
/// the person you think (a code swapped on the way would give the two
/// screens different strings).
///
/// Between two qrpair peers, `nonces` (the offerer's, then the answerer's,
/// exchanged commit-then-reveal once the channel is open) go in too: without
/// them, someone relaying both codes could try certificates until the two
/// screens agreed. A browser peer has no nonces to give.
pub fn authentication_string(
    offer: &[u8; FINGERPRINT_LEN],
    answer: &[u8; FINGERPRINT_LEN],
    nonces: Option<([u8; 32], [u8; 32])>,
) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    match nonces {
        Some((offerer, answerer)) => {
            hasher.update(b"qrpair authentication string v2");
            hasher.update(offer);
            hasher.update(answer);
            hasher.update(offerer);
            hasher.update(answerer);
        }
        None => {
            hasher.update(b"qrpair authentication string v1");
            hasher.update(offer);
            hasher.update(answer);
        }
    }
    let digest = hasher.finalize();
    let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 1_000_000;
    format!("{:03} {:03}", n / 1000, n % 1000)
}

/// Decodes and checks that the payload is of the kind this step needs, with a
/// message telling the user which code to hand over instead.
pub fn decode_expecting(bytes: &[u8], expected: Kind) -> Result<Payload, Error> {
    let payload = decode(bytes)?;
    if payload.kind != expected {
        let hint = match expected {
            Kind::Answer => "give this side the answer QR shown by the other machine, not its own offer",
            Kind::Offer => "give this side the offer QR from the machine that ran `qrpair offer`",
        };
        return Err(Error::WrongKind { found: payload.kind, expected, hint });
    }
    Ok(payload)
}

/// Raw inflate that insists on a complete stream: a truncated token must be
/// reported as damaged, not decoded into half a description.
fn inflate_capped(body: &[u8]) -> Result<Vec<u8>, Error> {
    let mut inflater = Decompress::new(false);
    let mut out = Vec::with_capacity(1024);
    loop {
        if out.len() == out.capacity() {
            if out.len() > MAX_SDP_BYTES {
                return Err(Error::TooLarge);
            }
            out.reserve(out.len().min(MAX_SDP_BYTES + 1 - out.len()).max(1));
        }
        let consumed = inflater.total_in() as usize;
        let produced = out.len();
        let status =
            inflater.decompress_vec(&body[consumed..], &mut out, FlushDecompress::None).map_err(|_| Error::Corrupt)?;
        if out.len() > MAX_SDP_BYTES {
            return Err(Error::TooLarge);
        }
        match status {
            Status::StreamEnd => {
                return if (inflater.total_in() as usize) == body.len() { Ok(out) } else { Err(Error::Corrupt) };
            }
            Status::Ok | Status::BufError => {
                let stalled = inflater.total_in() as usize == consumed && out.len() == produced;
                if stalled {
                    return Err(Error::Corrupt);
                }
            }
        }
    }
}

fn unknown_flags_or_foreign(bytes: &[u8], header: u8) -> Error {
    match foreign_or_unknown(bytes, header >> 4) {
        Error::UnknownVersion(_) => Error::UnknownFlags(header),
        other => other,
    }
}

/// A QR from another app usually holds text (a URL, Wi-Fi credentials); quote
/// it so the user recognises what they scanned.
fn foreign_or_unknown(bytes: &[u8], version: u8) -> Error {
    if let Ok(text) = std::str::from_utf8(bytes) {
        if text.chars().all(|c| !c.is_control() || c == '\n' || c == '\r' || c == '\t') {
            let mut shown: String = text.chars().take(80).map(|c| if c.is_control() { ' ' } else { c }).collect();
            if text.chars().count() > 80 {
                shown.push('…');
            }
            return Error::ForeignText(shown);
        }
    }
    // Our versions are small; a high nibble far beyond them means the bytes
    // were never a qrpair header.
    if version == 0 || version > FORMAT_COMPACT + 2 {
        Error::ForeignBinary(bytes.len())
    } else {
        Error::UnknownVersion(version)
    }
}

#[cfg(test)]
mod tests;
