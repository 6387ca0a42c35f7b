//! Session frames: one type byte, then the body.

/// 4: the manifest, the receiver's answer and its results go in pieces;
/// small files go packed, many to a message.
pub const PROTOCOL_VERSION: u8 = 4;

const TAG_HELLO: u8 = 1;
pub(super) const TAG_DATA: u8 = 2;
const TAG_EOF: u8 = 3;
const TAG_BYE: u8 = 4;
const TAG_CONTROL: u8 = 5;
const TAG_COMMIT: u8 = 6;
const TAG_REVEAL: u8 = 7;
pub(super) const TAG_FILES: u8 = 8;
const TAG_STOP: u8 = 9;
/// A stop reason longer than this is cut: it is shown to a person.
pub const MAX_STOP_REASON: usize = 300;
/// Length of a nonce and of its commitment.
pub const NONCE_LEN: usize = 32;

/// What a side is doing, carried in its hello so mismatched commands are
/// named instead of misread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Pipe or chat.
    Stream,
    Send,
    Receive,
}

impl Role {
    fn byte(self) -> u8 {
        match self {
            Role::Stream => 0,
            Role::Send => 1,
            Role::Receive => 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// First frame each side sends.
    Hello { version: u8, role: Role },
    /// A file-transfer control message (JSON).
    Control(&'a [u8]),
    /// Bytes for the peer's output.
    Data(&'a [u8]),
    /// Small whole files, packed: records of index (u32 LE), length (u32
    /// LE), BLAKE3 digest (32 bytes) and the file's bytes.
    Files(&'a [u8]),
    /// The hash of our nonce for the authentication code, sent before we
    /// learn the peer's nonce.
    Commit(&'a [u8; NONCE_LEN]),
    /// The nonce itself, sent once the peer's commitment is in.
    Reveal(&'a [u8; NONCE_LEN]),
    /// The sender's input ended: this direction is finished.
    Eof,
    /// Both directions are finished on the sender's side.
    Bye,
    /// The sender cannot go on (its output was closed, say): stop sending.
    /// The body is a short reason for the person on the other side.
    Stop(&'a [u8]),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("an empty message")]
    Empty,
    #[error("a message of unknown type {0}")]
    UnknownType(u8),
    #[error("a malformed {0} message")]
    Malformed(&'static str),
    #[error("data after the end of its stream")]
    DataAfterEof,
}

impl<'a> Frame<'a> {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Frame::Hello { version, role } => vec![TAG_HELLO, *version, role.byte()],
            Frame::Control(json) => {
                let mut v = Vec::with_capacity(json.len() + 1);
                v.push(TAG_CONTROL);
                v.extend_from_slice(json);
                v
            }
            Frame::Data(d) => [&[TAG_DATA][..], d].concat(),
            Frame::Files(d) => [&[TAG_FILES][..], d].concat(),
            Frame::Commit(h) => [&[TAG_COMMIT][..], &h[..]].concat(),
            Frame::Reveal(n) => [&[TAG_REVEAL][..], &n[..]].concat(),
            Frame::Eof => vec![TAG_EOF],
            Frame::Bye => vec![TAG_BYE],
            Frame::Stop(reason) => {
                let reason = &reason[..reason.len().min(MAX_STOP_REASON)];
                [&[TAG_STOP][..], reason].concat()
            }
        }
    }

    pub fn decode(bytes: &'a [u8]) -> Result<Self, FrameError> {
        let (&tag, body) = bytes.split_first().ok_or(FrameError::Empty)?;
        match tag {
            TAG_HELLO => match body {
                [version] => Ok(Frame::Hello { version: *version, role: Role::Stream }),
                // Later versions may append capabilities after the role.
                [version, role, ..] => {
                    let role = match role {
                        0 => Role::Stream,
                        1 => Role::Send,
                        2 => Role::Receive,
                        _ => return Err(FrameError::Malformed("hello")),
                    };
                    Ok(Frame::Hello { version: *version, role })
                }
                [] => Err(FrameError::Malformed("hello")),
            },
            TAG_CONTROL => Ok(Frame::Control(body)),
            TAG_DATA => Ok(Frame::Data(body)),
            TAG_FILES => Ok(Frame::Files(body)),
            TAG_COMMIT => body.try_into().map(Frame::Commit).map_err(|_| FrameError::Malformed("commitment")),
            TAG_REVEAL => body.try_into().map(Frame::Reveal).map_err(|_| FrameError::Malformed("nonce")),
            TAG_EOF if body.is_empty() => Ok(Frame::Eof),
            TAG_EOF => Err(FrameError::Malformed("end-of-stream")),
            TAG_BYE if body.is_empty() => Ok(Frame::Bye),
            TAG_BYE => Err(FrameError::Malformed("goodbye")),
            TAG_STOP => Ok(Frame::Stop(&body[..body.len().min(MAX_STOP_REASON)])),
            other => Err(FrameError::UnknownType(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let data = [0u8, 1, 2, 255];
        for f in [
            Frame::Hello { version: 7, role: Role::Stream },
            Frame::Hello { version: 1, role: Role::Receive },
            Frame::Control(b"{}"),
            Frame::Data(&data),
            Frame::Data(&[]),
            Frame::Files(&data),
            Frame::Commit(&[7; NONCE_LEN]),
            Frame::Reveal(&[9; NONCE_LEN]),
            Frame::Eof,
            Frame::Bye,
            Frame::Stop(b"output closed"),
        ] {
            assert_eq!(Frame::decode(&f.encode()).unwrap(), f);
        }
    }

    #[test]
    fn bad_frames_are_named() {
        assert_eq!(Frame::decode(&[]), Err(FrameError::Empty));
        assert_eq!(Frame::decode(&[99]), Err(FrameError::UnknownType(99)));
        assert_eq!(Frame::decode(&[TAG_HELLO]), Err(FrameError::Malformed("hello")));
        assert_eq!(Frame::decode(&[TAG_EOF, 0]), Err(FrameError::Malformed("end-of-stream")));
        assert_eq!(Frame::decode(&[TAG_BYE, 1]), Err(FrameError::Malformed("goodbye")));
    }
}
