//! `qrpair decode` and `qrpair encode`: what a code holds, and any
//! description as qrpair's code. No peer and no network: a source in, a
//! report or a QR out.

use super::publish;
use crate::qr::{self, EcLevel};
use crate::signal::{self, Kind};
use crate::source::{self, Source};
use crate::Error;
use std::path::Path;

/// What `qrpair decode` reports about a code.
#[derive(Debug, serde::Serialize)]
pub struct Decoded {
    pub kind: Kind,
    pub payload_bytes: usize,
    /// `None` for a description too large for any QR code (it can still
    /// be passed on as its JSON).
    pub qr_version: Option<u8>,
    pub ec_level: String,
    /// "image", "token" or "json"
    pub source: &'static str,
    /// "compact", "deflate" or "sdpjson"
    pub form: signal::Form,
    /// The offer tag an answer carries, in hex.
    pub answers_offer: Option<String>,
    pub made_by_qrpair: bool,
    pub fingerprint: Option<String>,
    pub candidates: Vec<signal::Candidate>,
    /// Which networks the candidates can be reached from (`signal::reach`).
    pub reach: String,
    pub sdp_bytes: usize,
}

pub fn decode(from: &Source) -> Result<(Decoded, String), Error> {
    let obtained = source::read_now(from, None)?;
    // A token has no picture; report the code qrpair would draw for it.
    let (qr_version, ec, source) = match obtained.qr {
        Some((v, ec)) => (Some(v), ec, "image"),
        None => {
            let source = if obtained.payload.form == signal::Form::SdpJson { "json" } else { "token" };
            (qr::render_qr(&obtained.raw, EcLevel::M).ok().map(|code| code.version()), EcLevel::M, source)
        }
    };
    let decoded = Decoded {
        kind: obtained.payload.kind,
        payload_bytes: obtained.raw.len(),
        qr_version,
        ec_level: ec.to_string(),
        source,
        form: obtained.payload.form,
        answers_offer: obtained.payload.tag.map(|t| t.iter().map(|b| format!("{b:02x}")).collect()),
        made_by_qrpair: obtained.payload.made_by_qrpair,
        fingerprint: obtained.payload.summary.fingerprint,
        reach: signal::reach(&obtained.payload.summary.candidates),
        candidates: obtained.payload.summary.candidates,
        sdp_bytes: obtained.payload.sdp.len(),
    };
    Ok((decoded, obtained.payload.sdp))
}

/// `qrpair encode`: any description as our QR code and token.
pub fn encode(from: &Source, qr_out: &Path, ec: EcLevel) -> Result<(Kind, qr::RenderedQr, String, usize), Error> {
    let obtained = source::read_now(from, None)?;
    let kind = obtained.payload.kind;
    let tag = obtained.payload.tag;
    let payload = signal::encode(kind, &obtained.payload.sdp, tag);
    let code = publish(kind, &payload, qr_out, ec)?;
    Ok((kind, code, signal::encode_token(&payload), payload.len()))
}

/// One code found by `decode --all`.
#[derive(Debug, serde::Serialize)]
pub struct AnyCode {
    /// "offer", "answer", or "foreign" for a code that is not qrpair's
    pub kind: String,
    pub payload_bytes: usize,
    pub qr_version: Option<u8>,
    pub ec_level: Option<String>,
    /// For a foreign code that holds text: the text.
    pub text: Option<String>,
    #[serde(skip)]
    pub summary: String,
}

/// Every code in the source, whether qrpair's or not.
pub fn decode_every(from: &Source) -> Result<Vec<AnyCode>, Error> {
    let codes = source::read_raw(from)?;
    Ok(codes
        .into_iter()
        .map(|(bytes, qr)| {
            let (version, ec) = (qr.map(|q| q.0), qr.map(|q| q.1.to_string()));
            let at = qr.map(|(v, ec)| format!(", QR version {v}, EC {ec}")).unwrap_or_default();
            match signal::decode(&bytes) {
                Ok(p) => AnyCode {
                    kind: p.kind.to_string(),
                    payload_bytes: bytes.len(),
                    qr_version: version,
                    ec_level: ec,
                    text: None,
                    summary: format!("qrpair {}, {} bytes{at}", p.kind, bytes.len()),
                },
                Err(e) => {
                    let text = std::str::from_utf8(&bytes).ok().map(str::to_string);
                    AnyCode {
                        kind: "foreign".into(),
                        payload_bytes: bytes.len(),
                        qr_version: version,
                        ec_level: ec,
                        summary: format!("not qrpair ({e}), {} bytes{at}", bytes.len()),
                        text,
                    }
                }
            }
        })
        .collect())
}

/// The exact bytes of the first code in the source, whatever app made it.
pub fn decode_raw(from: &Source) -> Result<Vec<u8>, Error> {
    let mut codes = source::read_raw(from)?;
    Ok(codes.swap_remove(0).0)
}
