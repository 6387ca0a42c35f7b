//! Files over the channel: a manifest the receiver checks and accepts,
//! then each file streamed and hashed (BLAKE3) on both sides, written as
//! `NAME.qrpair.part` and renamed only once the digests match. A partial
//! file left by a broken transfer is resumed when qrpair can tell it made
//! it for this very file: its record `NAME.qrpair.part.id` names the
//! sender's file (path, size and a digest of its identity on the sender's
//! disk), and neither is a link. The receiver reports its length, the
//! sender hashes that prefix locally and sends only the rest. Anything else
//! at those names is never written to without `--overwrite`.
//!
//! What crosses the channel (manifest, accept with resume offsets, file
//! data or packed small files, results, done) is written down for a second
//! implementation in docs/PROTOCOL.md. Modules: `control` (the JSON
//! messages and keepalives), `manifest` (what the sender offers and the
//! receiver checks), `outgoing` (reading and packing on the sender),
//! `landing` (partial files, resume records, fsync batches on the
//! receiver), `send` and `receive` (each side's steps).

use crate::session::frame::Role;
use crate::session::link::Link;
use crate::session::names::NameError;
use crate::session::Error as SessionError;
use control::{abandon, finish, idle_limit};
use receive::receive_all;
use send::send_all;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod control;
mod landing;
mod manifest;
mod outgoing;
mod receive;
mod send;
#[cfg(test)]
mod tests;

pub use control::IDLE_LIMIT;
pub use manifest::{build_manifest, check_manifest, check_sources};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Entry {
    /// Relative, `/`-separated.
    pub path: String,
    /// 0 for a directory.
    pub size: u64,
    pub dir: bool,
    /// Which file this is on the sender's disk (a digest of its device,
    /// inode, size and modification time), so a partial file is resumed
    /// only for the same file. Empty when unknown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("the sender's manifest was refused: {0}")]
    HostileManifest(#[from] NameError),
    /// The receiver's own words.
    #[error("{0}")]
    Refused(String),
    #[error("files offered but there is no terminal to ask on: pass --yes to accept without asking")]
    NobodyToAsk,
    #[error("declined: nothing was written")]
    Declined,
    #[error("{0}")]
    Exists(String),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{0} file(s) arrived with a different BLAKE3 digest than the sender's and were not kept: send them again")]
    Mismatch(usize),
    #[error("the peer sent a message out of order: {0}")]
    Protocol(String),
    #[error("refused: {0}")]
    OutsideDir(String),
    #[error("the connection broke off mid-transfer; what arrived is kept as NAME.qrpair.part: pair again and send the same files to resume")]
    Interrupted,
    #[error("{0}; what arrived is kept as NAME.qrpair.part: pair again and send the same files to resume")]
    PeerStopped(String),
    #[error("{}", cancelled(*.0))]
    Cancelled(Role),
    #[error("nothing heard from the peer for {} while the transfer was under way: it may have hung; pair again and send the same files to resume", humantime::format_duration(*.0))]
    Idle(Duration),
    #[error("the sender kept the connection open but sent no file data for {}: it may have hung; what arrived is kept as NAME.qrpair.part: pair again and send the same files to resume", humantime::format_duration(*.0))]
    Stalled(Duration),
    #[error("the {0} sent more after the transfer was over; the files reported done were verified and are kept, but do not trust this peer")]
    AfterDone(&'static str),
    /// Something given to --send that cannot be sent as it is.
    #[error("{0}")]
    BadSource(String),
    #[error("a {0}-byte control message does not fit in one data-channel message: this is a bug in qrpair, please report it")]
    TooLarge(usize),
}

fn cancelled(role: Role) -> &'static str {
    if role == Role::Receive {
        "interrupted: what arrived is kept as NAME.qrpair.part; pair again and send the same files to resume"
    } else {
        "interrupted: the receiver keeps what arrived as NAME.qrpair.part; pair again and send the same files to resume"
    }
}

/// What to do with a file that already exists in the receiving folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    Refuse,
    Overwrite,
    Rename,
}

/// Asks the person whether to accept a manifest; `None` when nobody can be
/// asked (no terminal).
pub type Consent = Box<dyn Fn(&str) -> Option<bool> + Send>;

pub struct ReceiveOptions {
    pub dir: PathBuf,
    pub existing: Existing,
    /// `None` accepts without asking (--yes).
    pub consent: Option<Consent>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Report {
    pub files: usize,
    pub bytes: u64,
    pub resumed_bytes: u64,
}

/// What a transfer reports as it goes; `ui` shows it as text, progress
/// bars, or JSON lines.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Manifest {
        files: usize,
        folders: usize,
        bytes: u64,
    },
    FileStarted {
        path: String,
        size: u64,
        offset: u64,
    },
    /// Bytes of the current file done so far (resumed prefix included).
    Progress {
        path: String,
        done: u64,
        size: u64,
    },
    FileDone {
        path: String,
        blake3: String,
        ok: bool,
        /// Where the receiver saved it, `/`-separated under its folder,
        /// when that is not `path` (--rename found the name taken).
        #[serde(skip_serializing_if = "Option::is_none")]
        saved_as: Option<String>,
    },
    Done {
        files: usize,
        bytes: u64,
        resumed_bytes: u64,
    },
}

pub trait Observer: Send {
    fn event(&mut self, event: Event);
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TransferError + '_ {
    move |source| TransferError::Io { path: path.display().to_string(), source }
}

/// Sends the files and folders at `paths`. `cancel` (Ctrl-C, say) is
/// polled only once files stream: until then the receiver's person may be
/// answering a prompt, and the future is not even started, so a signal
/// handler it would install does not take Ctrl-C away from that prompt.
pub async fn send(
    mut channel: impl Link,
    paths: &[PathBuf],
    observer: &mut dyn Observer,
    cancel: impl std::future::Future<Output = ()>,
) -> Result<Report, TransferError> {
    let outcome = send_all(&mut channel, paths, observer, cancel, idle_limit()).await;
    conclude(channel, outcome, Role::Send, observer).await
}

/// Closes after a whole exchange: a goodbye when it went through (also when
/// digests differed: the peer has the results), a reason otherwise.
async fn conclude(
    channel: impl Link,
    outcome: Result<Report, TransferError>,
    role: Role,
    observer: &mut dyn Observer,
) -> Result<Report, TransferError> {
    let peer = if role == Role::Send { Role::Receive } else { Role::Send };
    match outcome {
        Ok(report) => {
            finish(channel, peer).await?;
            observer.event(Event::Done {
                files: report.files,
                bytes: report.bytes,
                resumed_bytes: report.resumed_bytes,
            });
            Ok(report)
        }
        Err(error @ TransferError::Mismatch(_)) => {
            finish(channel, peer).await?;
            Err(error)
        }
        Err(error) => {
            abandon(channel, &error, role).await;
            Err(error)
        }
    }
}

/// Receives into `opts.dir`; `cancel` as for `send`, polled only once
/// files stream (a consent prompt comes before).
pub async fn receive(
    mut channel: impl Link,
    opts: ReceiveOptions,
    observer: &mut dyn Observer,
    cancel: impl std::future::Future<Output = ()>,
) -> Result<Report, TransferError> {
    let outcome = receive_all(&mut channel, opts, observer, cancel, idle_limit()).await;
    conclude(channel, outcome, Role::Receive, observer).await
}
