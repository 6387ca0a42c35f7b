//! What goes into the QR code: a versioned binary payload carrying a session
//! description, and the text token that carries the same bytes.
//!
//! Pure and synchronous on purpose: everything here takes bytes and returns
//! values, so it can be unit-tested and fuzzed without a network.

mod sdp;
pub mod token;

pub use sdp::{minimize_sdp, Candidate, SdpSummary};
pub use token::{decode_token, encode_token, looks_like_token, TokenError, TOKEN_PREFIX};

use flate2::{write::DeflateEncoder, Compression, Decompress, FlushDecompress, Status};
use std::io::Write;

/// Inflated descriptions larger than this are refused: a real data-channel
/// description is well under 2 KiB, and the cap keeps a hostile payload
/// (a deflate bomb) from allocating without bound.
pub const MAX_SDP_BYTES: usize = 16 * 1024;

/// Format version carried in the high nibble of the header byte.
const FORMAT_DEFLATE: u8 = 1;
const KIND_ANSWER_BIT: u8 = 0x01;
/// Bits 1..=3 are reserved flags; a payload setting them was made by a newer
/// qrpair and is refused rather than misread.
const RESERVED_FLAGS: u8 = 0x0e;

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

/// A decoded payload: which side made it and the session description it
/// stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub kind: Kind,
    pub sdp: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("the QR code is empty, so it is not a qrpair payload")]
    Empty,
    #[error("this QR code is not a qrpair payload — it says: {0}")]
    ForeignText(String),
    #[error("this QR code holds {0} bytes that are not a qrpair payload")]
    ForeignBinary(usize),
    #[error("payload format version {0} is not known to this qrpair {v}: update qrpair on this machine", v = env!("CARGO_PKG_VERSION"))]
    UnknownVersion(u8),
    #[error("payload uses flags this qrpair does not know (header 0x{0:02x}): update qrpair on this machine")]
    UnknownFlags(u8),
    #[error("payload is truncated or corrupt (the compressed description does not inflate): scan or copy it again")]
    Corrupt,
    #[error("payload inflates to more than {MAX_SDP_BYTES} bytes, which no real description needs: refusing it")]
    TooLarge,
    #[error("payload does not hold a session description: {0}")]
    NotSdp(&'static str),
    #[error("this is an {found}, but an {expected} was expected: {hint}")]
    WrongKind {
        found: Kind,
        expected: Kind,
        hint: &'static str,
    },
}

/// Packs a session description into the QR payload.
pub fn encode(kind: Kind, sdp: &str) -> Vec<u8> {
    let minimal = minimize_sdp(sdp);
    let header = (FORMAT_DEFLATE << 4)
        | if kind == Kind::Answer {
            KIND_ANSWER_BIT
        } else {
            0
        };
    let mut out = vec![header];
    let mut enc = DeflateEncoder::new(&mut out, Compression::best());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(minimal.as_bytes());
    let _ = enc.finish();
    out
}

/// Unpacks a QR payload. Never panics; allocates at most `MAX_SDP_BYTES` (+ a
/// small read buffer) whatever the input.
pub fn decode(bytes: &[u8]) -> Result<Payload, Error> {
    let (&header, body) = bytes.split_first().ok_or(Error::Empty)?;
    let version = header >> 4;
    if version != FORMAT_DEFLATE {
        return Err(foreign_or_unknown(bytes, version));
    }
    if header & RESERVED_FLAGS != 0 {
        return Err(Error::UnknownFlags(header));
    }
    let kind = if header & KIND_ANSWER_BIT != 0 {
        Kind::Answer
    } else {
        Kind::Offer
    };
    let sdp = inflate_capped(body)?;
    let sdp = String::from_utf8(sdp).map_err(|_| Error::NotSdp("it is not text"))?;
    if !sdp.starts_with("v=0") {
        return Err(Error::NotSdp("it does not start with v=0"));
    }
    if sdp.lines().all(|l| !l.starts_with("m=")) {
        return Err(Error::NotSdp("it has no media section"));
    }
    Ok(Payload { kind, sdp })
}

/// Decodes and checks that the payload is of the kind this step needs, with a
/// message telling the user which code to hand over instead.
pub fn decode_expecting(bytes: &[u8], expected: Kind) -> Result<Payload, Error> {
    let payload = decode(bytes)?;
    if payload.kind != expected {
        let hint = match expected {
            Kind::Answer => {
                "give this side the answer QR shown by the other machine, not its own offer"
            }
            Kind::Offer => "give this side the offer QR from the machine that ran `qrpair offer`",
        };
        return Err(Error::WrongKind {
            found: payload.kind,
            expected,
            hint,
        });
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
        let status = inflater
            .decompress_vec(&body[consumed..], &mut out, FlushDecompress::None)
            .map_err(|_| Error::Corrupt)?;
        if out.len() > MAX_SDP_BYTES {
            return Err(Error::TooLarge);
        }
        match status {
            Status::StreamEnd => {
                return if (inflater.total_in() as usize) == body.len() {
                    Ok(out)
                } else {
                    Err(Error::Corrupt)
                };
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

/// A QR from another app usually holds text (a URL, Wi-Fi credentials); quote
/// it so the user recognises what they scanned.
fn foreign_or_unknown(bytes: &[u8], version: u8) -> Error {
    if let Ok(text) = std::str::from_utf8(bytes) {
        if text
            .chars()
            .all(|c| !c.is_control() || c == '\n' || c == '\r' || c == '\t')
        {
            let mut shown: String = text
                .chars()
                .take(80)
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            if text.chars().count() > 80 {
                shown.push('…');
            }
            return Error::ForeignText(shown);
        }
    }
    // Our versions are small; a high nibble far beyond them means the bytes
    // were never a qrpair header.
    if version > FORMAT_DEFLATE + 3 {
        Error::ForeignBinary(bytes.len())
    } else {
        Error::UnknownVersion(version)
    }
}

#[cfg(test)]
mod tests;
