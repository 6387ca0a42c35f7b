//! The text token: the same payload bytes as the QR, for pasting into a chat
//! or a terminal when a picture is inconvenient.
//!
//! `qrp:` + URL-safe base64 of the payload + `.` + two check characters.
//! The compact payload has no length field (n candidates are just n × 6
//! bytes), so a token cut at the wrong place could otherwise decode as a
//! shorter, valid offer; the check characters catch that and typos made
//! when copying a token by hand.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use sha2::Digest;

/// Short, unlikely to start a file name, and tells a reader what it is.
pub const TOKEN_PREFIX: &str = "qrp:";
const CHECK_SEPARATOR: char = '.';

/// Tokens longer than this cannot be ours (the payload is far smaller), so
/// they are refused before decoding anything.
const MAX_TOKEN_CHARS: usize = 8 * 1024;

fn check_chars(payload: &[u8]) -> String {
    let digest = sha2::Sha256::digest(payload);
    URL_SAFE_NO_PAD.encode(&digest[..2])[..2].to_string()
}

pub fn encode_token(payload: &[u8]) -> String {
    format!("{TOKEN_PREFIX}{}{CHECK_SEPARATOR}{}", URL_SAFE_NO_PAD.encode(payload), check_chars(payload))
}

pub fn looks_like_token(text: &str) -> bool {
    text.trim().starts_with(TOKEN_PREFIX)
}

/// The first token in a longer text (a saved chat message, a note with a
/// line after the token): from `qrp:` through the two check characters,
/// line breaks inside it included. `None` when the text holds no `qrp:`.
pub fn find_token(text: &str) -> Option<&str> {
    let start = text.find(TOKEN_PREFIX)?;
    let body = &text[start + TOKEN_PREFIX.len()..];
    let mut check_left: Option<usize> = None;
    for (i, c) in body.char_indices() {
        if c.is_whitespace() {
            continue;
        }
        match check_left {
            None if c == CHECK_SEPARATOR => check_left = Some(2),
            None if c.is_ascii_alphanumeric() || c == '-' || c == '_' => {}
            // The body ended without its check characters: let the decoder
            // say what is missing.
            None => return Some(&text[start..start + TOKEN_PREFIX.len() + i]),
            Some(n) => {
                if n == 1 {
                    return Some(&text[start..start + TOKEN_PREFIX.len() + i + c.len_utf8()]);
                }
                check_left = Some(n - 1);
            }
        }
    }
    Some(&text[start..])
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
    #[error("token is incomplete (its end, `.` and two check characters, is missing): copy the whole token again")]
    Incomplete,
    #[error("token is damaged (its check characters do not match): copy the whole token again")]
    CheckMismatch,
}

/// Returns the payload bytes. Whitespace and line breaks inside the token are
/// ignored, because terminals and chat apps wrap long lines.
pub fn decode_token(text: &str) -> Result<Vec<u8>, TokenError> {
    let body = text.trim().strip_prefix(TOKEN_PREFIX).ok_or(TokenError::MissingPrefix)?;
    if body.len() > MAX_TOKEN_CHARS {
        return Err(TokenError::TooLong(body.len()));
    }
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Err(TokenError::Empty);
    }
    let (data, check) = compact.rsplit_once(CHECK_SEPARATOR).ok_or(TokenError::Incomplete)?;
    if check.len() != 2 {
        return Err(TokenError::Incomplete);
    }
    let payload = URL_SAFE_NO_PAD.decode(data.as_bytes()).map_err(|e| match e {
        base64::DecodeError::InvalidByte(at, _) => TokenError::BadBase64(at + 1),
        _ => TokenError::BadBase64(data.len()),
    })?;
    if check_chars(&payload) != check {
        return Err(TokenError::CheckMismatch);
    }
    Ok(payload)
}
