//! The text token: the same payload bytes as the QR, for pasting into a chat
//! or a terminal when a picture is inconvenient.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

/// Short, unlikely to start a file name, and tells a reader what it is.
pub const TOKEN_PREFIX: &str = "qrp:";

/// Tokens longer than this cannot be ours (the payload is far smaller), so
/// they are refused before decoding anything.
const MAX_TOKEN_CHARS: usize = 8 * 1024;

pub fn encode_token(payload: &[u8]) -> String {
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(payload))
}

pub fn looks_like_token(text: &str) -> bool {
    text.trim().starts_with(TOKEN_PREFIX)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("not a qrpair token (tokens start with `{TOKEN_PREFIX}`)")]
    MissingPrefix,
    #[error("token is too long ({0} characters) to be a qrpair token")]
    TooLong(usize),
    #[error("token is damaged (not valid base64 at character {0}): copy the whole token again")]
    BadBase64(usize),
    #[error("token is empty after `{TOKEN_PREFIX}`: copy the whole token again")]
    Empty,
}

/// Returns the payload bytes. Whitespace and line breaks inside the token are
/// ignored, because terminals and chat apps wrap long lines.
pub fn decode_token(text: &str) -> Result<Vec<u8>, TokenError> {
    let body = text
        .trim()
        .strip_prefix(TOKEN_PREFIX)
        .ok_or(TokenError::MissingPrefix)?;
    if body.len() > MAX_TOKEN_CHARS {
        return Err(TokenError::TooLong(body.len()));
    }
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Err(TokenError::Empty);
    }
    URL_SAFE_NO_PAD
        .decode(compact.as_bytes())
        .map_err(|e| match e {
            base64::DecodeError::InvalidByte(at, _) => TokenError::BadBase64(at + 1),
            _ => TokenError::BadBase64(compact.len()),
        })
}
