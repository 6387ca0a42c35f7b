//! The one error type a command ends with, and the exit code a script sees
//! for it. It wraps every layer's errors, so it sits above them all: no
//! layer below `pairing` uses it.

use crate::{peer, session, source};

/// Everything that can end a qrpair command, grouped by the exit code a
/// script sees.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Source(#[from] source::SourceError),
    #[error(transparent)]
    Peer(#[from] peer::Error),
    #[error(transparent)]
    Session(#[from] session::Error),
    #[error(transparent)]
    Transfer(#[from] session::transfer::TransferError),
    #[error("timed out after {0} waiting for {1}: start again and bring the code over sooner, or raise --timeout")]
    Timeout(String, &'static str),
    #[error("the codes were not confirmed to match, so the connection was closed: pair again, and make sure each QR comes from the machine you meant")]
    NotVerified,
    #[error("{0} does not exist: nothing was offered")]
    MissingFile(String),
    #[error("{0}")]
    Other(String),
}

pub mod exit {
    pub const OK: i32 = 0;
    pub const OTHER: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const BAD_INPUT: i32 = 3;
    pub const CONNECTION: i32 = 4;
    /// Ctrl-C during a transfer, after telling the peer (128 + SIGINT).
    pub const INTERRUPTED: i32 = 130;
}

impl Error {
    fn exit_code_of_session(e: &session::Error) -> i32 {
        match e {
            session::Error::Peer(_) | session::Error::PeerLeftEarly | session::Error::NoGoodbye(_) => exit::CONNECTION,
            session::Error::Protocol(_) | session::Error::BadCommitment => exit::BAD_INPUT,
            _ => exit::OTHER,
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Source(_) => exit::BAD_INPUT,
            Error::Peer(peer::Error::Setup(_)) => exit::OTHER,
            Error::Peer(peer::Error::RemoteRefused(_)) => exit::BAD_INPUT,
            Error::Peer(_) => exit::CONNECTION,
            Error::Session(s) => Error::exit_code_of_session(s),
            Error::Transfer(t) => {
                use session::transfer::TransferError as T;
                match t {
                    T::Session(s) => Error::exit_code_of_session(s),
                    T::HostileManifest(_) | T::Exists(_) | T::OutsideDir(_) | T::Protocol(_) | T::AfterDone(_) => {
                        exit::BAD_INPUT
                    }
                    T::BadSource(_) => exit::BAD_INPUT,
                    T::NobodyToAsk => exit::USAGE,
                    T::Interrupted | T::Idle(_) | T::Stalled(_) => exit::CONNECTION,
                    T::Cancelled(_) => exit::INTERRUPTED,
                    T::Refused(_) | T::PeerStopped(_) | T::Declined | T::Io { .. } | T::Mismatch(_) => exit::OTHER,
                    T::TooLarge(_) => exit::OTHER,
                }
            }
            Error::Timeout(..) | Error::NotVerified => exit::CONNECTION,
            Error::MissingFile(_) => exit::BAD_INPUT,
            Error::Other(_) => exit::OTHER,
        }
    }
}
