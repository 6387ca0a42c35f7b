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
//! The exchange (protocol version 4), every control message one JSON object
//! within one data-channel message:
//!
//! ```text
//! sender                                   receiver
//! manifest {entries, more: true}  …  ──▶
//! manifest {entries, more: false}    ──▶   (checks names, asks the person)
//!                                    ◀──   accept {resume: [[index, offset]…], more}  …
//! file_start {index, offset}, data…, file_end {index, blake3}   (each file) ──▶
//!   or, for files under 64 KiB sent whole: one binary message holding many
//!   records of index, length, BLAKE3 digest and bytes                      ──▶
//! done                               ──▶
//!                                    ◀──   results {failed: [index…]} …, done
//! ```
//!
//! Either side may send `still_here` whenever it has nothing else to say
//! for a while (the receiver asking its person, syncing, or receiving while
//! the sender waits after its done; the sender hashing a long resumed
//! prefix): a peer silent for `IDLE_LIMIT` is given up on.
//!
//! Lists (manifest, resume offsets, failures) go in pieces of at most
//! `LIST_CHUNK_BYTES` of JSON, so 100 000 entries pass; the receiver sends
//! nothing while files stream, so neither side waits on the other mid-way.

use super::frame::{Frame, Role, PROTOCOL_VERSION};
use super::link::Link;
use super::names::{self, NameError};
use super::{Error as SessionError, DATA_CHUNK};
use crate::peer::Received;
use bytes::{Bytes, BytesMut};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const BYE_WAIT: Duration = Duration::from_secs(30);
/// A control message is one data-channel message: its JSON, after the type
/// byte, is at most this long. Anything larger is refused unread.
const MAX_CONTROL_BYTES: usize = crate::peer::MAX_MESSAGE - 1;
/// Lists go out in pieces of at most this much JSON (well inside
/// `MAX_CONTROL_BYTES`, with room for the message around the list).
const LIST_CHUNK_BYTES: usize = 48 * 1024;
/// Once a transfer is under way (the manifest sent or received), this
/// long without a single message from the peer ends it: a peer that hangs
/// while keeping the connection open must not hold us forever. While the
/// receiver's person is being asked, it says so every few seconds.
pub const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// Overrides `IDLE_LIMIT` (seconds, fractions allowed): for tests.
const IDLE_LIMIT_VAR: &str = "QRPAIR_IDLE_SECS";

/// How often a side with nothing to say says `still_here`: well inside
/// the peer's idle limit (assumed to be ours).
fn keepalive(idle: Duration) -> Duration {
    (idle / 3).min(Duration::from_secs(10))
}

/// Awaits `work` (a person's answer, an fsync), telling the peer every so
/// often that we are still here, so its idle limit measures the peer's
/// silence, not our disk or our person.
async fn still_here<T>(
    channel: &impl Link,
    idle: Duration,
    work: impl std::future::Future<Output = T>,
) -> Result<T, TransferError> {
    tokio::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return Ok(done),
            _ = tokio::time::sleep(keepalive(idle)) => send_control(channel, &Control::StillHere).await?,
        }
    }
}

fn idle_limit() -> Duration {
    std::env::var(IDLE_LIMIT_VAR)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(IDLE_LIMIT, Duration::from_secs_f64)
}

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

#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Control {
    /// A piece of the manifest; the last has `more: false`.
    Manifest {
        entries: Vec<Entry>,
        more: bool,
    },
    /// A piece of the receiver's yes: `[index, offset]` for each file it
    /// holds a prefix of; the last has `more: false`.
    Accept {
        resume: Vec<(usize, u64)>,
        more: bool,
    },
    /// "Nothing to send yet, but still here": the receiver while its person
    /// is asked, the sender while it hashes a long resumed prefix. Resets
    /// the other side's idle limit, and is otherwise ignored.
    StillHere,
    Refuse {
        reason: String,
    },
    FileStart {
        index: usize,
        offset: u64,
    },
    FileEnd {
        index: usize,
        blake3: String,
    },
    /// After the sender's `done`: files whose digest or length differed.
    Results {
        failed: Vec<usize>,
    },
    Done,
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

async fn send_control(channel: &impl Link, c: &Control) -> Result<(), TransferError> {
    let json = serde_json::to_vec(c).map_err(|e| TransferError::Protocol(e.to_string()))?;
    // webrtc refuses a message past its limit with an error that reads
    // like a lost connection: never let one get that far.
    if json.len() > MAX_CONTROL_BYTES {
        return Err(TransferError::TooLarge(json.len()));
    }
    channel.send(&Frame::Control(&json).encode()).await.map_err(SessionError::from)?;
    Ok(())
}

/// Splits `items` into consecutive runs whose JSON stays within
/// `LIST_CHUNK_BYTES`; always at least one run (maybe empty).
fn runs<T: serde::Serialize>(items: &[T]) -> Result<Vec<std::ops::Range<usize>>, TransferError> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        let len = serde_json::to_vec(item).map_err(|e| TransferError::Protocol(e.to_string()))?.len() + 1;
        if i > start && bytes + len > LIST_CHUNK_BYTES {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += len;
    }
    out.push(start..items.len());
    Ok(out)
}

enum Incoming {
    Control(Control),
    Data(bytes::Bytes),
    Files(bytes::Bytes),
    Bye,
}

/// The next message from the peer, waiting at most `idle` for it.
async fn next(channel: &mut impl Link, idle: Duration) -> Result<Incoming, TransferError> {
    loop {
        let received = tokio::time::timeout(idle, channel.recv()).await.map_err(|_| TransferError::Idle(idle))?;
        let bytes = match received.map_err(SessionError::from)? {
            Received::Message(b) => b,
            Received::Closed => return Err(SessionError::PeerLeftEarly.into()),
        };
        match Frame::decode(&bytes).map_err(SessionError::from)? {
            Frame::Control(json) if json.len() <= MAX_CONTROL_BYTES => match serde_json::from_slice(json) {
                Ok(Control::StillHere) => continue,
                Ok(control) => return Ok(Incoming::Control(control)),
                Err(e) => return Err(TransferError::Protocol(format!("bad control message: {e}"))),
            },
            Frame::Control(_) => return Err(TransferError::Protocol("oversized control message".into())),
            Frame::Data(_) => return Ok(Incoming::Data(bytes.slice(1..))),
            Frame::Files(_) => return Ok(Incoming::Files(bytes.slice(1..))),
            Frame::Bye => return Ok(Incoming::Bye),
            Frame::Stop(reason) => {
                let reason = crate::ui::printable(&String::from_utf8_lossy(reason));
                return Err(SessionError::PeerStopped(reason).into());
            }
            Frame::Hello { .. } | Frame::Eof => continue,
            Frame::Commit(_) | Frame::Reveal(_) => {
                return Err(TransferError::Protocol("an authentication step after the exchange".into()))
            }
        }
    }
}

/// Sends our hello and checks the peer's: same version, the opposite role.
async fn greet(channel: &mut impl Link, ours: Role, want: Role) -> Result<(), TransferError> {
    channel.send(&Frame::Hello { version: PROTOCOL_VERSION, role: ours }.encode()).await.map_err(SessionError::from)?;
    let bytes = match channel.recv().await.map_err(SessionError::from)? {
        Received::Message(b) => b,
        Received::Closed => return Err(SessionError::PeerLeftEarly.into()),
    };
    match Frame::decode(&bytes).map_err(SessionError::from)? {
        Frame::Hello { version, .. } if version != PROTOCOL_VERSION => Err(SessionError::Version(version).into()),
        Frame::Hello { role, .. } if role == want => Ok(()),
        Frame::Hello { role, .. } => Err(SessionError::RoleMismatch(ours, role).into()),
        // It stopped before it began (say, its files could not be read):
        // its words, not a protocol error of ours.
        Frame::Control(json) => match serde_json::from_slice(json) {
            Ok(Control::Refuse { reason }) => Err(TransferError::Refused(peer_words(reason))),
            _ => Err(TransferError::Protocol("no hello first".into())),
        },
        _ => Err(TransferError::Protocol("no hello first".into())),
    }
}

/// Closes politely: goodbye both ways, then the channel.
async fn finish(mut channel: impl Link) {
    let _ = channel.send(&Frame::Bye.encode()).await;
    let _ = tokio::time::timeout(BYE_WAIT, async {
        while let Ok(Incoming::Control(_) | Incoming::Data(_) | Incoming::Files(_)) = next(&mut channel, BYE_WAIT).await
        {
        }
    })
    .await;
    channel.close().await;
}

/// What the other side is told when this side stops with `error`; `None`
/// when the connection itself failed (nobody to tell) or the peer already
/// knows.
fn reason_for_peer(error: &TransferError, role: Role) -> Option<String> {
    let side = if role == Role::Send { "sender" } else { "receiver" };
    match error {
        TransferError::Session(SessionError::Peer(_) | SessionError::PeerLeftEarly | SessionError::NoGoodbye(_))
        | TransferError::Interrupted
        | TransferError::Refused(_)
        | TransferError::PeerStopped(..)
        | TransferError::Mismatch(_) => None,
        TransferError::HostileManifest(e) => Some(format!("the receiver refused the files: unsafe file name: {e}")),
        TransferError::Declined => Some("the receiver declined the files".into()),
        TransferError::Cancelled(_) => Some(format!("the {side} was interrupted")),
        TransferError::Idle(idle) => Some(format!(
            "the {side} heard nothing from this side for {} and stopped",
            humantime::format_duration(*idle)
        )),
        TransferError::NobodyToAsk => {
            Some("the receiver had no terminal to confirm on and no --yes: nothing was received".into())
        }
        TransferError::Exists(reason) | TransferError::OutsideDir(reason) => {
            Some(format!("the receiver refused the files: {reason}"))
        }
        other => Some(format!("the {side} stopped: {other}")),
    }
}

/// The other side's explanation, as much of it as one line of a terminal
/// deserves; escapes are neutralised where it is printed.
fn peer_words(mut reason: String) -> String {
    const MAX_REASON_CHARS: usize = 300;
    if let Some((cut, _)) = reason.char_indices().nth(MAX_REASON_CHARS) {
        reason.truncate(cut);
        reason.push('…');
    }
    reason
}

/// When sending fails mid-file, the receiver has usually just said why
/// (disk full, a refused name) and closed: its words beat "connection lost".
async fn why_the_receiver_stopped(channel: &mut impl Link) -> Option<TransferError> {
    let reason = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            match next(channel, Duration::from_secs(1)).await {
                Ok(Incoming::Control(Control::Refuse { reason })) => return Some(peer_words(reason)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    });
    reason.await.ok().flatten().map(TransferError::Refused)
}

/// Ends the session after `error`: the peer hears why, at once, and the
/// channel closes as soon as that message is delivered.
async fn abandon(channel: impl Link, error: &TransferError, role: Role) {
    if let Some(reason) = reason_for_peer(error, role).map(peer_words) {
        if send_control(&channel, &Control::Refuse { reason }).await.is_ok() {
            channel.drain().await;
        }
    }
    channel.close().await;
}

/// Lists files and folders under each path; names are relative to the
/// path's parent, so `--send photos` arrives as `photos/...`. A path given
/// on the command line is followed if it is a symbolic link (as `cp -r`
/// does); links met inside a folder are skipped with a note. Everything the
/// receiver would refuse is refused here, naming the path, before pairing.
pub fn build_manifest(paths: &[PathBuf]) -> Result<(Vec<Entry>, Vec<PathBuf>), TransferError> {
    collect(paths, &mut |_| {})
}

/// Checks what `--send` was given, before any QR is shown: the same walk
/// as the transfer's, its notes (skipped links, devices) shown now.
pub fn check_sources(paths: &[PathBuf]) -> Result<(), TransferError> {
    collect(paths, &mut |note| crate::ui::note(note)).map(|_| ())
}

fn collect(paths: &[PathBuf], note: &mut dyn FnMut(&str)) -> Result<(Vec<Entry>, Vec<PathBuf>), TransferError> {
    let mut entries = Vec::new();
    let mut sources = Vec::new();
    let mut name_bytes = 0usize;
    let shown = |p: &Path| crate::ui::printable(&p.display().to_string());
    let bad = |p: &Path, why: &str| TransferError::BadSource(format!("{}: {why}", shown(p)));
    let mut walk_stack: Vec<(PathBuf, String, bool)> = Vec::new();
    let mut top_names: Vec<(String, PathBuf, &Path)> = Vec::new();
    for path in paths {
        // `/`, `..` and the like have no name of their own: the folder's.
        let canonical = path.canonicalize().map_err(io(path))?;
        let own = path
            .file_name()
            .or(canonical.file_name())
            .ok_or_else(|| bad(path, "has no name to send it under: send the files and folders inside it instead"))?;
        let name = own.to_str().ok_or_else(|| bad(path, "its name is not valid UTF-8: rename it"))?.to_string();
        let meta = std::fs::metadata(path).map_err(io(path))?;
        if !meta.is_dir() && !meta.is_file() {
            return Err(bad(
                path,
                "is not a regular file or folder (a device, pipe or socket): qrpair sends files and folders only",
            ));
        }
        if let Some((_, other, given)) = top_names.iter().find(|(n, ..)| *n == name) {
            let why = if canonical == *other {
                "is given twice: give it once".to_string()
            } else {
                format!(
                    "has the same name as {}, and both would arrive as {}: send one of them separately, or rename it",
                    shown(given),
                    crate::ui::printable(&name)
                )
            };
            return Err(bad(path, &why));
        }
        top_names.push((name.clone(), canonical, path));
        walk_stack.push((path.clone(), name, true));
        while let Some((path, name, given)) = walk_stack.pop() {
            let meta = if given { std::fs::metadata(&path) } else { std::fs::symlink_metadata(&path) };
            let meta = meta.map_err(io(&path))?;
            if meta.is_dir() || meta.is_file() {
                if let Err(e) = names::sanitize(&name) {
                    return Err(bad(&path, &format!("cannot be sent: {e}")));
                }
                name_bytes += name.len();
                if entries.len() == names::MAX_ENTRIES || name_bytes > names::MAX_NAME_BYTES {
                    return Err(TransferError::BadSource(format!(
                        "more than {} files and folders (or {} MiB of names) to send at once: send them in parts",
                        names::MAX_ENTRIES,
                        names::MAX_NAME_BYTES >> 20
                    )));
                }
            }
            if meta.is_dir() {
                entries.push(Entry { path: name.clone(), size: 0, dir: true, source: String::new() });
                sources.push(path.clone());
                let mut children: Vec<_> = std::fs::read_dir(&path).map_err(io(&path))?.flatten().collect();
                // Popped from the end: pushed in reverse, walked in name order.
                children.sort_by_key(|c| std::cmp::Reverse(c.file_name()));
                for child in children {
                    let child_path = child.path();
                    let Some(child_name) = child.file_name().to_str().map(str::to_string) else {
                        return Err(bad(&child_path, "its name is not valid UTF-8: rename it or leave it out"));
                    };
                    if names::is_reserved(&child_name) {
                        note(&format!(
                            "skipping {} (a partial file of an unfinished qrpair transfer)",
                            shown(&child_path)
                        ));
                        continue;
                    }
                    walk_stack.push((child_path, format!("{name}/{child_name}"), false));
                }
            } else if meta.is_file() {
                // Unreadable now is unreadable after pairing: say so now.
                std::fs::File::open(&path).map_err(io(&path))?;
                entries.push(Entry { path: name, size: meta.len(), dir: false, source: source_identity(&meta) });
                sources.push(path);
            } else if meta.file_type().is_symlink() {
                note(&format!(
                    "skipping {} (a symbolic link inside a folder; give it on the command line to send what it leads to)",
                    shown(&path)
                ));
            } else {
                note(&format!("skipping {} (not a regular file or folder)", shown(&path)));
            }
        }
    }
    Ok((entries, sources))
}

/// Checks every name of a received manifest; refuses the whole manifest
/// on the first bad one.
pub fn check_manifest(entries: &[Entry]) -> Result<Vec<PathBuf>, NameError> {
    if entries.len() > names::MAX_ENTRIES {
        return Err(NameError::TooMany(entries.len()));
    }
    if entries.iter().try_fold(0u64, |total, e| total.checked_add(e.size)).is_none() {
        return Err(NameError::TotalTooLarge);
    }
    // A clean name has one spelling (no empty or `.` parts), so equal
    // paths are equal strings: no second copy of every name.
    let mut seen = std::collections::HashSet::with_capacity(entries.len());
    entries
        .iter()
        .map(|e| {
            let p = names::sanitize(&e.path)?;
            if !seen.insert(e.path.as_str()) {
                return Err(NameError::Duplicate(e.path.clone()));
            }
            Ok(p)
        })
        .collect()
}

fn manifest_event(entries: &[Entry]) -> Event {
    let files = entries.iter().filter(|e| !e.dir).count();
    let bytes = entries.iter().fold(0u64, |total, e| total.saturating_add(e.size));
    Event::Manifest { files, folders: entries.len() - files, bytes }
}

/// Chunks in flight between the disk and the channel on either side: enough
/// to keep the channel busy while the disk and the hash catch up, a few MiB
/// at most.
const CHUNKS_IN_FLIGHT: usize = 16;

/// Reads and hashes `size` bytes of `file` on a blocking thread, so disk
/// reads and hashing overlap with sending. The first `offset` bytes (the
/// receiver's `.part`) are hashed from our copy but not sent: if the two
/// differ, the final digests differ. Each chunk is a ready data frame.
fn read_ahead(
    file: std::fs::File,
    offset: u64,
    size: u64,
) -> (mpsc::Receiver<BytesMut>, JoinHandle<std::io::Result<String>>) {
    let (chunks, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let reader = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut hasher = blake3::Hasher::new();
        // A file that grows while it is sent is cut at the announced size.
        let mut file = file.take(size);
        std::io::copy(&mut (&mut file).take(offset), &mut hasher)?;
        // Sized to what is left: a tiny file costs a tiny buffer.
        while file.limit() > 0 {
            let mut chunk = BytesMut::zeroed(file.limit().min(DATA_CHUNK as u64) as usize + 1);
            chunk[0] = super::frame::TAG_DATA;
            let n = read_full(&mut file, &mut chunk[1..])?;
            if n == 0 {
                break;
            }
            chunk.truncate(n + 1);
            hasher.update(&chunk[1..]);
            // The sending side has stopped; it reports why.
            if chunks.blocking_send(chunk).is_err() {
                break;
            }
        }
        Ok(hasher.finalize().to_hex().to_string())
    });
    (rx, reader)
}

/// A small file read at once: its bytes after a type byte, and its digest.
/// A file that grew is cut at the announced size.
fn read_small(file: std::fs::File, size: u64) -> std::io::Result<(BytesMut, blake3::Hash)> {
    let mut chunk = BytesMut::zeroed(size as usize + 1);
    chunk[0] = super::frame::TAG_DATA;
    let n = read_full(&mut std::io::Read::take(file, size), &mut chunk[1..])?;
    chunk.truncate(n + 1);
    let digest = blake3::hash(&chunk[1..]);
    Ok((chunk, digest))
}

/// Per packed file: index, length, digest.
const PACKED_HEADER: usize = 4 + 4 + 32;
/// Files up to this size go packed, many to a message (with its type byte,
/// one such file alone still fits).
const PACKED_FILE_MAX: u64 = (crate::peer::MAX_MESSAGE - 1 - PACKED_HEADER) as u64;

/// Small whole files collected into one message: for 100 000 tiny files,
/// a hundred messages instead of three hundred thousand.
struct Pack {
    frame: BytesMut,
}

impl Pack {
    fn new() -> Self {
        Pack { frame: BytesMut::new() }
    }

    fn fits(&self, len: usize) -> bool {
        self.frame.len().max(1) + PACKED_HEADER + len <= crate::peer::MAX_MESSAGE
    }

    fn add(&mut self, index: usize, data: &[u8], digest: &blake3::Hash) {
        use bytes::BufMut;
        if self.frame.is_empty() {
            self.frame.put_u8(super::frame::TAG_FILES);
        }
        self.frame.put_u32_le(index as u32);
        self.frame.put_u32_le(data.len() as u32);
        self.frame.put_slice(digest.as_bytes());
        self.frame.put_slice(data);
    }

    fn take(&mut self) -> Option<BytesMut> {
        (!self.frame.is_empty()).then(|| std::mem::take(&mut self.frame))
    }
}

/// The records of a packed-files message, or why it is malformed.
fn unpack(mut body: &[u8]) -> Result<Vec<(usize, [u8; 32], &[u8])>, TransferError> {
    let malformed = || TransferError::Protocol("a malformed packed-files message".into());
    let mut out = Vec::new();
    while !body.is_empty() {
        if body.len() < PACKED_HEADER {
            return Err(malformed());
        }
        let index = u32::from_le_bytes(body[0..4].try_into().map_err(|_| malformed())?) as usize;
        let len = u32::from_le_bytes(body[4..8].try_into().map_err(|_| malformed())?) as usize;
        let digest: [u8; 32] = body[8..40].try_into().map_err(|_| malformed())?;
        let rest = &body[PACKED_HEADER..];
        if len > rest.len() {
            return Err(malformed());
        }
        out.push((index, digest, &rest[..len]));
        body = &rest[len..];
    }
    Ok(out)
}

/// Fills `buf` unless the end comes first: full chunks keep messages few.
fn read_full(file: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// One `.part` being received: writes and hashing happen on a blocking
/// thread so the disk never holds up the channel.
struct PartWriter {
    chunks: mpsc::Sender<Bytes>,
    writer: JoinHandle<std::io::Result<String>>,
    /// Synced to disk by the writer itself; otherwise by `Verified::flush`.
    synced: bool,
}

/// Where a file being received goes until its digest is checked.
enum Landing {
    /// `NAME.qrpair.part`, written as it arrives.
    Disk(PartWriter),
    /// A file of at most one chunk, sent whole.
    Memory(Vec<u8>),
}

/// Files up to this size are made durable in batches (one `syncfs` for
/// many), larger ones each with its own `fsync`.
const BATCHED_FILE_BYTES: u64 = 1 << 20;
/// At most this many verified files wait for their batch's sync and rename.
const VERIFIED_BATCH: usize = 256;

impl PartWriter {
    /// Keeps the first `offset` bytes of `file` (a resumed prefix), hashing
    /// them, and appends from there; `sync`: fsync when done.
    fn start(file: std::fs::File, offset: u64, sync: bool) -> Self {
        let (chunks, mut rx) = mpsc::channel::<Bytes>(CHUNKS_IN_FLIGHT);
        let writer = tokio::task::spawn_blocking(move || {
            use std::io::{Seek, Write};
            let mut file = file;
            file.set_len(offset)?;
            let mut hasher = blake3::Hasher::new();
            let copied = std::io::copy(&mut std::io::Read::take(&mut file, offset), &mut hasher)?;
            if copied != offset {
                return Err(std::io::Error::other("the partial file shrank while it was read"));
            }
            file.seek(std::io::SeekFrom::Start(offset))?;
            while let Some(bytes) = rx.blocking_recv() {
                hasher.update(&bytes);
                file.write_all(&bytes)?;
            }
            if sync {
                file.sync_all()?;
            }
            Ok(hasher.finalize().to_hex().to_string())
        });
        PartWriter { chunks, writer, synced: sync }
    }

    async fn write(&mut self, bytes: Bytes) -> std::io::Result<()> {
        if self.chunks.send(bytes).await.is_ok() {
            return Ok(());
        }
        // The writer stopped early: only an error stops it.
        match (&mut self.writer).await {
            Ok(Err(e)) => Err(e),
            Ok(Ok(_)) => Err(std::io::Error::other("the file writer stopped early")),
            Err(e) => Err(std::io::Error::other(e)),
        }
    }

    /// Waits for the last write (and the sync, if its own) and returns the
    /// BLAKE3 digest of the whole file.
    async fn finish(self) -> std::io::Result<String> {
        drop(self.chunks);
        self.writer.await.map_err(std::io::Error::other)?
    }
}

/// Small files whose digests matched, made durable and renamed to their
/// names in batches on a blocking thread while the next batch arrives: an
/// fsync per file in line with the channel made 100 000 tiny files a
/// disk-bound crawl. The promise stays: a file is under its final name only
/// once what was verified is on disk, and is reported done only then.
#[derive(Default)]
struct Verified {
    files: Vec<(usize, PathBuf, String)>,
    in_flight: Option<JoinHandle<Result<Vec<(usize, String)>, TransferError>>>,
}

/// Threads that fsync one batch together: concurrent fsyncs share journal
/// commits.
const SYNC_THREADS: usize = 4;

impl Verified {
    async fn push(
        &mut self,
        file: (usize, PathBuf, String),
        entries: &[Entry],
        observer: &mut dyn Observer,
        report: &mut Report,
    ) -> Result<(), TransferError> {
        self.files.push(file);
        if self.files.len() >= VERIFIED_BATCH {
            self.settle(entries, observer, report).await?;
            self.start();
        }
        Ok(())
    }

    fn start(&mut self) {
        let batch = std::mem::take(&mut self.files);
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            let parts: Vec<PathBuf> = batch.iter().map(|(_, target, _)| part_path(target)).collect();
            let per_thread = parts.len().div_ceil(SYNC_THREADS).max(1);
            std::thread::scope(|scope| {
                let syncing: Vec<_> = parts
                    .chunks(per_thread)
                    .map(|some| {
                        scope.spawn(move || {
                            for part in some {
                                std::fs::File::open(part).and_then(|f| f.sync_data()).map_err(io(part))?;
                            }
                            Ok::<_, TransferError>(())
                        })
                    })
                    .collect();
                syncing.into_iter().try_for_each(|t| {
                    t.join().unwrap_or_else(|_| {
                        Err(io(Path::new("a batch of received files"))(std::io::Error::other("a sync thread stopped")))
                    })
                })
            })?;
            let mut done = Vec::with_capacity(batch.len());
            for ((index, target, blake3), part) in batch.into_iter().zip(&parts) {
                std::fs::rename(part, &target).map_err(io(&target))?;
                forget_partial(&target);
                done.push((index, blake3));
            }
            Ok(done)
        }));
    }

    /// Waits for the batch being synced and reports its files done.
    async fn settle(
        &mut self,
        entries: &[Entry],
        observer: &mut dyn Observer,
        report: &mut Report,
    ) -> Result<(), TransferError> {
        let Some(in_flight) = self.in_flight.take() else { return Ok(()) };
        let done = in_flight.await.map_err(|e| TransferError::Io {
            path: "a batch of received files".into(),
            source: std::io::Error::other(e),
        })??;
        for (index, blake3) in done {
            report.files += 1;
            observer.event(Event::FileDone { path: entries[index].path.clone(), blake3, ok: true });
        }
        Ok(())
    }

    /// Everything verified so far gets its name.
    async fn flush(
        &mut self,
        entries: &[Entry],
        observer: &mut dyn Observer,
        report: &mut Report,
    ) -> Result<(), TransferError> {
        self.settle(entries, observer, report).await?;
        if !self.files.is_empty() {
            self.start();
            self.settle(entries, observer, report).await?;
        }
        Ok(())
    }
}

pub async fn send(
    mut channel: impl Link,
    paths: &[PathBuf],
    observer: &mut dyn Observer,
) -> Result<Report, TransferError> {
    let streaming = tokio::sync::Notify::new();
    let outcome = tokio::select! {
        outcome = send_all(&mut channel, paths, observer, &streaming, idle_limit()) => outcome,
        _ = interrupted(&streaming) => Err(TransferError::Cancelled(Role::Send)),
    };
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
    match outcome {
        Ok(report) => {
            finish(channel).await;
            observer.event(Event::Done {
                files: report.files,
                bytes: report.bytes,
                resumed_bytes: report.resumed_bytes,
            });
            Ok(report)
        }
        Err(error @ TransferError::Mismatch(_)) => {
            finish(channel).await;
            Err(error)
        }
        Err(error) => {
            abandon(channel, &error, role).await;
            Err(error)
        }
    }
}

/// Ctrl-C once files are streaming. Not before: until then a prompt may be
/// reading the terminal, and catching SIGINT would leave the person no way
/// out of it. A second Ctrl-C ends the process without the polite close.
async fn interrupted(streaming: &tokio::sync::Notify) {
    streaming.notified().await;
    if tokio::signal::ctrl_c().await.is_err() {
        return std::future::pending().await;
    }
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(crate::exit::INTERRUPTED);
        }
    });
}

async fn send_all(
    channel: &mut impl Link,
    paths: &[PathBuf],
    observer: &mut dyn Observer,
    streaming: &tokio::sync::Notify,
    idle: Duration,
) -> Result<Report, TransferError> {
    let (entries, sources) = build_manifest(paths)?;
    greet(channel, Role::Send, Role::Receive).await?;
    observer.event(manifest_event(&entries));
    let pieces = runs(&entries)?;
    let last = pieces.len() - 1;
    for (i, range) in pieces.into_iter().enumerate() {
        send_control(channel, &Control::Manifest { entries: entries[range].to_vec(), more: i < last }).await?;
    }
    let mut offsets = vec![0u64; entries.len()];
    loop {
        match next(channel, idle).await? {
            Incoming::Control(Control::Accept { resume, more }) => {
                for (index, offset) in resume {
                    match entries.get(index) {
                        Some(entry) if !entry.dir => offsets[index] = offset.min(entry.size),
                        _ => return Err(TransferError::Protocol("a resume offset for no file of the manifest".into())),
                    }
                }
                if !more {
                    break;
                }
            }
            Incoming::Control(Control::Refuse { reason }) => return Err(TransferError::Refused(peer_words(reason))),
            _ => return Err(TransferError::Protocol("expected the receiver's answer to the manifest".into())),
        }
    }
    streaming.notify_one();
    let mut report = Report::default();
    let mut digests = vec![String::new(); entries.len()];
    let mut pack = Pack::new();
    for (index, (entry, source)) in entries.iter().zip(&sources).enumerate() {
        if entry.dir {
            continue;
        }
        let offset = offsets[index];
        let file = std::fs::File::open(source).map_err(io(source))?;
        if offset == 0 && entry.size <= PACKED_FILE_MAX {
            let (chunk, digest) = read_small(file, entry.size).map_err(io(source))?;
            let data = &chunk[1..];
            if !pack.fits(data.len()) {
                if let Some(frame) = pack.take() {
                    if let Err(lost) = channel.send_owned(frame).await {
                        return Err(why_the_receiver_stopped(channel).await.unwrap_or(SessionError::from(lost).into()));
                    }
                }
            }
            pack.add(index, data, &digest);
            observer.event(Event::FileStarted { path: entry.path.clone(), size: entry.size, offset });
            observer.event(Event::Progress { path: entry.path.clone(), done: data.len() as u64, size: entry.size });
            report.bytes += data.len() as u64;
            digests[index] = digest.to_hex().to_string();
            report.files += 1;
            continue;
        }
        if let Some(frame) = pack.take() {
            if let Err(lost) = channel.send_owned(frame).await {
                return Err(why_the_receiver_stopped(channel).await.unwrap_or(SessionError::from(lost).into()));
            }
        }
        send_control(channel, &Control::FileStart { index, offset }).await?;
        observer.event(Event::FileStarted { path: entry.path.clone(), size: entry.size, offset });
        report.resumed_bytes += offset;
        let (mut chunks, reader) = read_ahead(file, offset, entry.size);
        let mut done = offset;
        loop {
            // Hashing a long resumed prefix (or a stalled disk) sends
            // nothing for a while: the receiver hears we are still here.
            let chunk = match tokio::time::timeout(keepalive(idle), chunks.recv()).await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(_) => {
                    send_control(channel, &Control::StillHere).await?;
                    continue;
                }
            };
            let n = chunk.len() as u64 - 1;
            if let Err(lost) = channel.send_owned(chunk).await {
                return Err(why_the_receiver_stopped(channel).await.unwrap_or(SessionError::from(lost).into()));
            }
            report.bytes += n;
            done += n;
            observer.event(Event::Progress { path: entry.path.clone(), done, size: entry.size });
        }
        let blake3 = match reader.await {
            Ok(Ok(digest)) => digest,
            Ok(Err(e)) => return Err(io(source)(e)),
            Err(e) => return Err(io(source)(std::io::Error::other(e))),
        };
        send_control(channel, &Control::FileEnd { index, blake3: blake3.clone() }).await?;
        digests[index] = blake3;
        report.files += 1;
    }
    if let Some(frame) = pack.take() {
        if let Err(lost) = channel.send_owned(frame).await {
            return Err(why_the_receiver_stopped(channel).await.unwrap_or(SessionError::from(lost).into()));
        }
    }
    send_control(channel, &Control::Done).await?;
    // The receiver's verdict: the files that failed, then its done.
    let mut failed = vec![false; entries.len()];
    loop {
        match next(channel, idle).await? {
            Incoming::Control(Control::Results { failed: indices }) => {
                for index in indices {
                    match entries.get(index) {
                        Some(entry) if !entry.dir => failed[index] = true,
                        _ => return Err(TransferError::Protocol("a result for no file of the manifest".into())),
                    }
                }
            }
            Incoming::Control(Control::Done) => break,
            // It stopped after everything was sent (a write failed): its words.
            Incoming::Control(Control::Refuse { reason }) => return Err(TransferError::Refused(peer_words(reason))),
            _ => return Err(TransferError::Protocol("expected the receiver's results".into())),
        }
    }
    let mut mismatches = 0;
    for (index, entry) in entries.iter().enumerate().filter(|(_, e)| !e.dir) {
        let ok = !failed[index];
        observer.event(Event::FileDone { path: entry.path.clone(), blake3: std::mem::take(&mut digests[index]), ok });
        mismatches += usize::from(!ok);
    }
    if mismatches > 0 {
        return Err(TransferError::Mismatch(mismatches));
    }
    Ok(report)
}

/// True when `path`, or its longest existing ancestor, resolves to a place
/// inside `root` (already canonical). Parts that do not exist yet will be
/// created as plain folders under that ancestor.
fn resolves_inside(root: &Path, path: &Path) -> bool {
    let mut existing = path;
    loop {
        if std::fs::symlink_metadata(existing).is_ok() {
            return existing.canonicalize().map(|c| c.starts_with(root)).unwrap_or(false);
        }
        match existing.parent() {
            Some(parent) => existing = parent,
            None => return false,
        }
    }
}

/// Which file this is on our disk, for the receiver's resume record.
fn source_identity(meta: &std::fs::Metadata) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"qrpair source identity v1");
    hasher.update(&meta.len().to_le_bytes());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        for n in [meta.dev(), meta.ino(), meta.mtime() as u64, meta.mtime_nsec() as u64] {
            hasher.update(&n.to_le_bytes());
        }
    }
    #[cfg(not(unix))]
    if let Ok(Ok(t)) = meta.modified().map(|t| t.duration_since(std::time::UNIX_EPOCH)) {
        hasher.update(&t.as_nanos().to_le_bytes());
    }
    hasher.finalize().to_hex()[..32].to_string()
}

/// `NAME` + `suffix`; a name too long for that (most filesystems allow
/// 255 bytes) is cut, with a digest of the whole name so the result stays
/// the same for the same file (resume finds it) and differs for others.
fn with_suffix(target: &Path, suffix: &str) -> PathBuf {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if name.len() + suffix.len() <= names::MAX_COMPONENT_BYTES {
        return target.with_file_name(format!("{name}{suffix}"));
    }
    let digest = blake3::hash(name.as_bytes()).to_hex();
    let mut cut = names::MAX_COMPONENT_BYTES - suffix.len() - 9;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    target.with_file_name(format!("{}~{}{suffix}", &name[..cut], &digest[..8]))
}

/// Where a file is written until its digest is checked.
fn part_path(target: &Path) -> PathBuf {
    with_suffix(target, names::PARTIAL_SUFFIX)
}

/// The record saying which sender's file a partial file belongs to.
fn record_path(target: &Path) -> PathBuf {
    with_suffix(target, names::RECORD_SUFFIX)
}

/// What a partial file's record holds.
#[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct PartialRecord {
    qrpair_partial: u8,
    name: String,
    size: u64,
    source: String,
}

impl PartialRecord {
    fn of(entry: &Entry) -> Self {
        PartialRecord { qrpair_partial: 1, name: entry.path.clone(), size: entry.size, source: entry.source.clone() }
    }
}

/// A plain file with one name, owned by us: what qrpair itself creates. A
/// hard link (more than one name) or a symbolic link may lead outside DIR.
fn made_here(meta: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions.
        meta.is_file() && meta.nlink() == 1 && meta.uid() == unsafe { libc::geteuid() }
    }
    #[cfg(not(unix))]
    meta.is_file()
}

fn open_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true);
    // A symbolic link at one of our names is never followed.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    options
}

fn read_record(path: &Path) -> Option<PartialRecord> {
    use std::io::Read;
    let file = open_options().write(false).open(path).ok()?;
    if !made_here(&file.metadata().ok()?) {
        return None;
    }
    let mut text = Vec::new();
    file.take(4096).read_to_end(&mut text).ok()?;
    serde_json::from_slice(&text).ok()
}

/// What is at a file's partial-file names before the transfer.
#[derive(Debug, PartialEq, Eq)]
enum Partial {
    /// Nothing: start from scratch.
    Absent,
    /// Ours, for this very file: resume after this many bytes.
    Resume(u64),
    /// Ours but for another file (or another version of it), or in the way
    /// with --overwrite: removed, then started from scratch.
    Replace,
    /// Something qrpair did not make (or a link): left alone, refused.
    Foreign(PathBuf),
}

fn inspect_partial(target: &Path, entry: &Entry, overwrite: bool) -> Partial {
    let (part, record) = (part_path(target), record_path(target));
    let part_meta = std::fs::symlink_metadata(&part).ok();
    let record_meta = std::fs::symlink_metadata(&record).ok();
    if part_meta.is_none() && record_meta.is_none() {
        return Partial::Absent;
    }
    let ours = read_record(&record).filter(|r| r.qrpair_partial == 1);
    match (&part_meta, ours) {
        (Some(meta), Some(r)) if made_here(meta) && r == PartialRecord::of(entry) && !entry.source.is_empty() => {
            Partial::Resume(meta.len().min(entry.size))
        }
        (meta, Some(_)) if meta.as_ref().is_none_or(made_here) => Partial::Replace,
        _ if overwrite => Partial::Replace,
        (Some(meta), _) if !made_here(meta) || record_meta.is_none() => Partial::Foreign(part),
        _ => Partial::Foreign(record),
    }
}

/// Opens the partial file for `entry`: ours from `offset` on, or a new one
/// (after removing what `Partial::Replace` allowed). A new one is created
/// with its record first, so a partial file without a record is never ours.
fn open_partial(target: &Path, entry: &Entry, offset: u64, replace: bool) -> std::io::Result<std::fs::File> {
    let (part, record) = (part_path(target), record_path(target));
    if offset > 0 {
        let file = open_options().open(&part)?;
        if !made_here(&file.metadata()?) {
            return Err(std::io::Error::other("changed since the transfer began: no longer a file qrpair made here"));
        }
        return Ok(file);
    }
    if replace {
        for path in [&part, &record] {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    let json = serde_json::to_vec(&PartialRecord::of(entry)).map_err(std::io::Error::other)?;
    std::io::Write::write_all(&mut open_options().create_new(true).open(&record)?, &json)?;
    open_options().create_new(true).open(&part)
}

/// After a file's end: its record goes (the partial file was renamed or removed).
fn forget_partial(target: &Path) {
    let _ = std::fs::remove_file(record_path(target));
}

/// `name (1).ext`, `name (2).ext`, … : the first that does not exist.
fn free_name(target: &Path) -> PathBuf {
    let stem = target.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let ext = target.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    (1..)
        .map(|i| target.with_file_name(format!("{stem} ({i}){ext}")))
        .find(|p| !p.exists() && !part_path(p).exists())
        .unwrap_or_else(|| target.to_path_buf())
}

pub async fn receive(
    mut channel: impl Link,
    opts: ReceiveOptions,
    observer: &mut dyn Observer,
) -> Result<Report, TransferError> {
    let streaming = tokio::sync::Notify::new();
    let outcome = tokio::select! {
        outcome = receive_all(&mut channel, opts, observer, &streaming, idle_limit()) => outcome,
        _ = interrupted(&streaming) => Err(TransferError::Cancelled(Role::Receive)),
    };
    conclude(channel, outcome, Role::Receive, observer).await
}

async fn receive_all(
    channel: &mut impl Link,
    mut opts: ReceiveOptions,
    observer: &mut dyn Observer,
    streaming: &tokio::sync::Notify,
    idle: Duration,
) -> Result<Report, TransferError> {
    greet(channel, Role::Receive, Role::Send).await?;
    let mut entries: Vec<Entry> = Vec::new();
    let mut name_bytes = 0usize;
    loop {
        match next(channel, idle).await? {
            Incoming::Control(Control::Manifest { entries: piece, more }) => {
                if entries.len() + piece.len() > names::MAX_ENTRIES {
                    return Err(NameError::TooMany(entries.len() + piece.len()).into());
                }
                name_bytes += piece.iter().map(|e| e.path.len()).sum::<usize>();
                if name_bytes > names::MAX_NAME_BYTES {
                    return Err(NameError::NamesTooLong.into());
                }
                entries.extend(piece);
                if !more {
                    break;
                }
            }
            Incoming::Control(Control::Refuse { reason }) => return Err(TransferError::Refused(peer_words(reason))),
            _ => return Err(TransferError::Protocol("expected the sender's manifest".into())),
        }
    }
    let relative = match check_manifest(&entries) {
        Ok(r) => r,
        Err(e) => {
            return Err(e.into());
        }
    };
    let total = entries.iter().fold(0u64, |total, e| total.saturating_add(e.size));
    let files = entries.iter().filter(|e| !e.dir).count();
    let mut listing: Vec<String> = entries.iter().take(5).map(|e| crate::ui::printable(&e.path)).collect();
    if entries.len() > 5 {
        listing.push(format!("… and {} more", entries.len() - 5));
    }
    let summary =
        format!("{files} file(s), {} folder(s), {total} bytes: {}", entries.len() - files, listing.join(", "));
    observer.event(manifest_event(&entries));
    if let Some(ask) = opts.consent.take() {
        // A person may take minutes: the sender hears that we are asking,
        // well within its idle limit.
        let question = format!("Receive {summary} into {}? [y/N] ", opts.dir.display());
        let prompt = tokio::task::spawn_blocking(move || ask(&question));
        let answer = still_here(channel, idle, prompt).await?.ok().flatten();
        match answer {
            Some(true) => {}
            answer => {
                let error = if answer.is_none() { TransferError::NobodyToAsk } else { TransferError::Declined };
                return Err(error);
            }
        }
    }
    // Where each entry goes, and how much of it is already here.
    let mut targets = Vec::with_capacity(entries.len());
    let mut offsets: Vec<u64> = Vec::with_capacity(entries.len());
    let mut replace = vec![false; entries.len()];
    let mut existing = Vec::new();
    let mut foreign = Vec::new();
    for (index, (entry, rel)) in entries.iter().zip(relative).enumerate() {
        let mut target = opts.dir.join(rel);
        let mut offset = 0;
        if !entry.dir {
            if target.exists() {
                match opts.existing {
                    Existing::Refuse => existing.push(crate::ui::printable(&entry.path)),
                    Existing::Overwrite => {}
                    Existing::Rename => target = free_name(&target),
                }
            }
            match inspect_partial(&target, entry, opts.existing == Existing::Overwrite) {
                Partial::Absent => {}
                Partial::Resume(n) => offset = n,
                Partial::Replace => replace[index] = true,
                Partial::Foreign(path) => foreign.push(path),
            }
        }
        targets.push(target);
        offsets.push(offset);
    }
    if let Some(first) = foreign.first() {
        let more = if foreign.len() > 1 { format!(" (and {} more)", foreign.len() - 1) } else { String::new() };
        let reason = format!(
            "{}{more} is in the way and was not made by qrpair for this file (a link, another user's file, or no record): move it away or use --overwrite",
            crate::ui::printable(&first.display().to_string())
        );
        return Err(TransferError::Exists(reason));
    }
    if !existing.is_empty() {
        let count = existing.len();
        existing.truncate(10);
        if count > existing.len() {
            existing.push(format!("… and {} more", count - existing.len()));
        }
        let reason =
            format!("already in {}: {} (use --overwrite or --rename)", opts.dir.display(), existing.join(", "));
        return Err(TransferError::Exists(reason));
    }
    // Clean names are not enough: a symbolic link already inside DIR could
    // lead a clean name elsewhere. Every target must resolve inside DIR
    // before anything is created.
    tokio::fs::create_dir_all(&opts.dir).await.map_err(io(&opts.dir))?;
    let root = opts.dir.canonicalize().map_err(io(&opts.dir))?;
    if let Some((entry, _)) = entries.iter().zip(&targets).find(|(_, t)| !resolves_inside(&root, t)) {
        let reason = format!(
            "{} would land outside {} through a symbolic link",
            crate::ui::printable(&entry.path),
            opts.dir.display()
        );
        return Err(TransferError::OutsideDir(reason));
    }
    for (entry, target) in entries.iter().zip(&targets) {
        let dir = if entry.dir { target.as_path() } else { target.parent().unwrap_or(&opts.dir) };
        tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
    }
    let resume: Vec<(usize, u64)> = offsets.iter().copied().enumerate().filter(|&(_, o)| o > 0).collect();
    let pieces = runs(&resume)?;
    let last = pieces.len() - 1;
    for (i, range) in pieces.into_iter().enumerate() {
        send_control(channel, &Control::Accept { resume: resume[range].to_vec(), more: i < last }).await?;
    }
    streaming.notify_one();

    let mut report = Report::default();
    let mut failed = Vec::new();
    // Files whose end (verified or not) has been seen: each comes once.
    let mut ended = vec![false; entries.len()];
    let mut current: Option<(usize, Landing, u64)> = None;
    let mut verified = Verified::default();
    // However the stream ends, verified files get their names.
    // Once the sender has sent everything (and its done), it waits for our
    // word while the last of its data may still be crossing a slow link:
    // as long as data arrives, it hears from us at least this often.
    let mut said = tokio::time::Instant::now();
    let streamed: Result<(), TransferError> = async {
    loop {
        if said.elapsed() >= keepalive(idle) {
            send_control(channel, &Control::StillHere).await?;
            said = tokio::time::Instant::now();
        }
        let incoming = match next(channel, idle).await {
            Err(TransferError::Session(SessionError::Peer(_) | SessionError::PeerLeftEarly)) => {
                return Err(TransferError::Interrupted)
            }
            other => other?,
        };
        match incoming {
            Incoming::Control(Control::FileStart { index, offset }) => {
                if index >= entries.len() || entries[index].dir || offset != offsets[index] {
                    return Err(TransferError::Protocol("a file start that does not match the manifest".into()));
                }
                if let Some((open, ..)) = &current {
                    let open = crate::ui::printable(&entries[*open].path);
                    return Err(TransferError::Protocol(format!("a new file started before {open} ended")));
                }
                if ended[index] {
                    let name = crate::ui::printable(&entries[index].path);
                    return Err(TransferError::Protocol(format!("{name} was sent a second time")));
                }
                let landing = if offset == 0 && entries[index].size <= DATA_CHUNK as u64 {
                    // Kept in memory until its digest is checked: nothing
                    // on disk, and no writer thread, for a small file.
                    Landing::Memory(Vec::new())
                } else {
                    let part = part_path(&targets[index]);
                    let file = open_partial(&targets[index], &entries[index], offset, replace[index])
                        .map_err(io(&part))?;
                    let sync = entries[index].size > BATCHED_FILE_BYTES;
                    Landing::Disk(PartWriter::start(file, offset, sync))
                };
                observer.event(Event::FileStarted {
                    path: entries[index].path.clone(),
                    size: entries[index].size,
                    offset,
                });
                report.resumed_bytes += offset;
                current = Some((index, landing, offset));
            }
            Incoming::Data(bytes) => {
                let Some((index, writer, written)) = current.as_mut() else {
                    return Err(TransferError::Protocol("file data outside a file".into()));
                };
                *written += bytes.len() as u64;
                if *written > entries[*index].size {
                    return Err(TransferError::Protocol("more data than the manifest's size".into()));
                }
                report.bytes += bytes.len() as u64;
                match writer {
                    Landing::Disk(writer) => writer.write(bytes).await.map_err(io(&part_path(&targets[*index])))?,
                    Landing::Memory(kept) => kept.extend_from_slice(&bytes),
                }
                let entry = &entries[*index];
                observer.event(Event::Progress { path: entry.path.clone(), done: *written, size: entry.size });
            }
            Incoming::Control(Control::FileEnd { index, blake3 }) => {
                let Some((open_index, writer, written)) = current.take() else {
                    return Err(TransferError::Protocol("file end outside a file".into()));
                };
                if open_index != index {
                    return Err(TransferError::Protocol("file end for another file".into()));
                }
                ended[index] = true;
                let part = part_path(&targets[index]);
                let (ours, synced, kept) = match writer {
                    Landing::Disk(writer) => {
                        let synced = writer.synced;
                        (still_here(&*channel, idle, writer.finish()).await?.map_err(io(&part))?, synced, None)
                    }
                    Landing::Memory(kept) => (blake3::hash(&kept).to_hex().to_string(), false, Some(kept)),
                };
                // A file that shrank on the sender's disk hashes the same on
                // both sides but is not the file the manifest announced.
                let ok = ours == blake3 && written == entries[index].size;
                if let Some(kept) = kept {
                    if ok {
                        let mut file =
                            open_partial(&targets[index], &entries[index], 0, replace[index]).map_err(io(&part))?;
                        std::io::Write::write_all(&mut file, &kept).map_err(io(&part))?;
                    } else {
                        failed.push(index);
                        observer.event(Event::FileDone { path: entries[index].path.clone(), blake3: ours, ok });
                        continue;
                    }
                }
                if ok && !synced {
                    let pushed = verified.push((index, targets[index].clone(), ours), &entries, observer, &mut report);
                    still_here(&*channel, idle, pushed).await??;
                    continue;
                }
                if ok {
                    tokio::fs::rename(&part, &targets[index]).await.map_err(io(&targets[index]))?;
                    report.files += 1;
                } else {
                    // A bad prefix would poison a resume: nothing is kept.
                    let _ = tokio::fs::remove_file(&part).await;
                    failed.push(index);
                }
                forget_partial(&targets[index]);
                observer.event(Event::FileDone { path: entries[index].path.clone(), blake3: ours, ok });
            }
            Incoming::Files(body) => {
                if let Some((open, ..)) = &current {
                    let open = crate::ui::printable(&entries[*open].path);
                    return Err(TransferError::Protocol(format!("whole files sent before {open} ended")));
                }
                for (index, digest, data) in unpack(&body)? {
                    if index >= entries.len() || entries[index].dir || offsets[index] != 0 {
                        return Err(TransferError::Protocol("a packed file that does not match the manifest".into()));
                    }
                    let (entry, target) = (&entries[index], &targets[index]);
                    if ended[index] {
                        let name = crate::ui::printable(&entry.path);
                        return Err(TransferError::Protocol(format!("{name} was sent a second time")));
                    }
                    if data.len() as u64 > entry.size {
                        return Err(TransferError::Protocol("more data than the manifest's size".into()));
                    }
                    ended[index] = true;
                    observer.event(Event::FileStarted { path: entry.path.clone(), size: entry.size, offset: 0 });
                    let done = data.len() as u64;
                    observer.event(Event::Progress { path: entry.path.clone(), done, size: entry.size });
                    report.bytes += data.len() as u64;
                    let ours = blake3::hash(data);
                    // A file that shrank on the sender's disk is not the one announced.
                    if ours.as_bytes() != &digest || data.len() as u64 != entry.size {
                        failed.push(index);
                        let blake3 = ours.to_hex().to_string();
                        observer.event(Event::FileDone { path: entry.path.clone(), blake3, ok: false });
                        continue;
                    }
                    let part = part_path(target);
                    let mut file = open_partial(target, entry, 0, replace[index]).map_err(io(&part))?;
                    std::io::Write::write_all(&mut file, data).map_err(io(&part))?;
                    let verified_file = (index, target.clone(), ours.to_hex().to_string());
                    let pushed = verified.push(verified_file, &entries, observer, &mut report);
                    still_here(&*channel, idle, pushed).await??;
                }
            }
            Incoming::Control(Control::Done) => {
                // Nothing counts as received that did not arrive whole.
                if let Some((open, ..)) = &current {
                    let open = crate::ui::printable(&entries[*open].path);
                    return Err(TransferError::Protocol(format!(
                        "the sender said it was done in the middle of {open}"
                    )));
                }
                let mut missing = entries.iter().zip(&ended).filter(|(e, ended)| !e.dir && !**ended);
                if let Some((first, _)) = missing.next() {
                    return Err(TransferError::Protocol(format!(
                        "the sender said it was done, but {} of the {files} file(s) never arrived (the first: {}); they were not received",
                        1 + missing.count(),
                        crate::ui::printable(&first.path)
                    )));
                }
                break;
            }
            Incoming::Bye => return Err(SessionError::PeerLeftEarly.into()),
            Incoming::Control(Control::Refuse { reason }) => {
                return Err(TransferError::PeerStopped(peer_words(reason)))
            }
            Incoming::Control(_) => return Err(TransferError::Protocol("unexpected control message".into())),
        }
    }
    Ok(())
    }
    .await;
    drop(current);
    // After a failure the peer is gone or not to be trusted: no keepalives.
    let flushed = if streamed.is_ok() {
        still_here(&*channel, idle, verified.flush(&entries, observer, &mut report)).await.and_then(|r| r)
    } else {
        verified.flush(&entries, observer, &mut report).await
    };
    streamed?;
    flushed?;
    for range in runs(&failed)? {
        if !range.is_empty() {
            send_control(channel, &Control::Results { failed: failed[range].to_vec() }).await?;
        }
    }
    send_control(channel, &Control::Done).await?;
    if !failed.is_empty() {
        return Err(TransferError::Mismatch(failed.len()));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_manifests_are_refused_whole() {
        let ok = Entry { path: "photos/a.jpg".into(), size: 3, dir: false, source: String::new() };
        for bad in ["../escape", "/etc/passwd", "a/../../b", "x\u{1b}[2J"] {
            let entries = vec![ok.clone(), Entry { path: bad.into(), size: 1, dir: false, source: String::new() }];
            assert!(check_manifest(&entries).is_err(), "{bad:?} accepted");
        }
        let huge = vec![
            Entry { path: "a".into(), size: u64::MAX, dir: false, source: String::new() },
            Entry { path: "b".into(), size: 1, dir: false, source: String::new() },
        ];
        assert!(matches!(check_manifest(&huge), Err(NameError::TotalTooLarge)));
        let dup = vec![ok.clone(), ok.clone()];
        assert!(matches!(check_manifest(&dup), Err(NameError::Duplicate(_))));
        assert_eq!(check_manifest(&[ok]).unwrap(), vec![PathBuf::from("photos").join("a.jpg")]);
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_inside_the_folder_cannot_lead_outside() {
        let outside = tempfile::tempdir().unwrap();
        let inbox = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), inbox.path().join("tree")).unwrap();
        let root = inbox.path().canonicalize().unwrap();
        assert!(!resolves_inside(&root, &inbox.path().join("tree/passwd")));
        assert!(!resolves_inside(&root, &inbox.path().join("tree/new/deeper.txt")));
        assert!(resolves_inside(&root, &inbox.path().join("plain/new.txt")));
        assert!(resolves_inside(&root, &inbox.path().join("file.txt")));
    }

    #[test]
    fn lists_go_in_pieces_that_fit_one_message() {
        let entries: Vec<Entry> = (0..5000)
            .map(|i| Entry {
                path: format!("{}/{i}", "long-name-".repeat(20)),
                size: i,
                dir: false,
                source: "0".repeat(32),
            })
            .collect();
        let pieces = runs(&entries).unwrap();
        assert!(pieces.len() > 1);
        assert_eq!(pieces.iter().map(|r| r.len()).sum::<usize>(), entries.len());
        for range in pieces {
            let c = Control::Manifest { entries: entries[range].to_vec(), more: true };
            assert!(serde_json::to_vec(&c).unwrap().len() <= MAX_CONTROL_BYTES);
        }
        assert_eq!(runs::<usize>(&[]).unwrap(), vec![0..0]);
    }

    /// webrtc's answer to an oversized message reads "connection lost".
    #[test]
    fn a_message_too_large_for_the_channel_is_not_a_lost_connection() {
        let link = crate::session::link::ScriptedLink::new([]);
        let huge = Control::Refuse { reason: "x".repeat(MAX_CONTROL_BYTES) };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let sent = runtime.block_on(send_control(&link, &huge));
        assert!(matches!(sent, Err(TransferError::TooLarge(_))), "{sent:?}");
        assert!(link.sent.lock().unwrap().is_empty());
    }

    struct Events(Vec<Event>);
    impl Observer for Events {
        fn event(&mut self, event: Event) {
            self.0.push(event);
        }
    }

    fn control(v: serde_json::Value) -> Vec<u8> {
        Frame::Control(v.to_string().as_bytes()).encode()
    }

    fn hello(role: Role) -> Vec<u8> {
        Frame::Hello { version: PROTOCOL_VERSION, role }.encode()
    }

    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
    }

    /// Receives from a scripted sender into a fresh folder, with a short idle limit.
    fn receive_scripted(link: ScriptedLink) -> (tempfile::TempDir, Result<Report, TransferError>, Vec<Event>) {
        let dir = tempfile::tempdir().unwrap();
        let opts = ReceiveOptions { dir: dir.path().join("inbox"), existing: Existing::Refuse, consent: None };
        let mut events = Events(Vec::new());
        let mut link = link;
        let streaming = tokio::sync::Notify::new();
        let idle = Duration::from_millis(300);
        let outcome = block_on(receive_all(&mut link, opts, &mut events, &streaming, idle));
        (dir, outcome, events.0)
    }

    fn a_file(index: usize, body: &[u8]) -> Vec<Vec<u8>> {
        vec![
            control(serde_json::json!({"t": "file_start", "index": index, "offset": 0})),
            Frame::Data(body).encode(),
            control(
                serde_json::json!({"t": "file_end", "index": index, "blake3": blake3::hash(body).to_hex().as_str()}),
            ),
        ]
    }

    fn two_files() -> Vec<Vec<u8>> {
        let entries = serde_json::json!([
            {"path": "a.txt", "size": 2, "dir": false},
            {"path": "b.txt", "size": 2, "dir": false},
        ]);
        vec![hello(Role::Send), control(serde_json::json!({"t": "manifest", "entries": entries, "more": false}))]
    }

    use crate::session::link::ScriptedLink;

    #[test]
    fn a_receiver_whose_sender_hangs_gives_up_and_keeps_the_part() {
        // Larger than one chunk, so it is written as it arrives.
        let entries = serde_json::json!([{"path": "a.txt", "size": 100_000, "dir": false}]);
        let mut script =
            vec![hello(Role::Send), control(serde_json::json!({"t": "manifest", "entries": entries, "more": false}))];
        script.push(control(serde_json::json!({"t": "file_start", "index": 0, "offset": 0})));
        script.push(Frame::Data(b"a").encode());
        let started = std::time::Instant::now();
        let (dir, outcome, _) = receive_scripted(ScriptedLink::then_silent(script));
        assert!(matches!(outcome, Err(TransferError::Idle(_))), "{outcome:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(std::fs::read(dir.path().join("inbox/a.txt.qrpair.part")).unwrap(), b"a");
        assert!(!dir.path().join("inbox/a.txt").exists());
    }

    #[test]
    fn done_before_every_file_arrived_is_an_error_not_a_success() {
        let mut script = two_files();
        script.extend(a_file(0, b"a\n"));
        script.push(control(serde_json::json!({"t": "done"})));
        let (dir, outcome, events) = receive_scripted(ScriptedLink::new(script));
        let Err(TransferError::Protocol(why)) = outcome else { panic!("{outcome:?}") };
        assert!(why.contains("1 of the 2 file(s) never arrived (the first: b.txt)"), "{why}");
        assert!(!events.iter().any(|e| matches!(e, Event::Done { .. })));
        assert_eq!(std::fs::read(dir.path().join("inbox/a.txt")).unwrap(), b"a\n");
        assert!(!dir.path().join("inbox/b.txt").exists());

        // In the middle of a file.
        let mut script = two_files();
        script.push(control(serde_json::json!({"t": "file_start", "index": 0, "offset": 0})));
        script.push(Frame::Data(b"a").encode());
        script.push(control(serde_json::json!({"t": "done"})));
        let (dir, outcome, _) = receive_scripted(ScriptedLink::new(script));
        let Err(TransferError::Protocol(why)) = outcome else { panic!("{outcome:?}") };
        assert!(why.contains("done in the middle of a.txt"), "{why}");
        assert!(!dir.path().join("inbox/a.txt").exists());
    }

    #[test]
    fn a_finished_file_cannot_be_sent_again_over_itself() {
        let mut script = two_files();
        script.extend(a_file(0, b"a\n"));
        script.extend(a_file(0, b"X\n"));
        let (dir, outcome, _) = receive_scripted(ScriptedLink::new(script));
        let Err(TransferError::Protocol(why)) = outcome else { panic!("{outcome:?}") };
        assert!(why.contains("a.txt was sent a second time"), "{why}");
        assert_eq!(std::fs::read(dir.path().join("inbox/a.txt")).unwrap(), b"a\n");
        // Nor can a second file start while one is open.
        let mut script = two_files();
        script.push(control(serde_json::json!({"t": "file_start", "index": 0, "offset": 0})));
        script.extend(a_file(1, b"b\n"));
        let (_, outcome, _) = receive_scripted(ScriptedLink::new(script));
        let Err(TransferError::Protocol(why)) = outcome else { panic!("{outcome:?}") };
        assert!(why.contains("started before a.txt ended"), "{why}");
    }

    fn packed(files: &[(usize, &[u8])]) -> Vec<u8> {
        let mut pack = Pack::new();
        for (index, body) in files {
            pack.add(*index, body, &blake3::hash(body));
        }
        pack.take().unwrap().to_vec()
    }

    #[test]
    fn small_files_arrive_packed_and_each_is_checked() {
        let mut script = two_files();
        script.push(packed(&[(0, b"a\n"), (1, b"b\n")]));
        script.push(control(serde_json::json!({"t": "done"})));
        let (dir, outcome, _) = receive_scripted(ScriptedLink::new(script));
        assert_eq!(outcome.unwrap().files, 2);
        assert_eq!(std::fs::read(dir.path().join("inbox/a.txt")).unwrap(), b"a\n");
        assert_eq!(std::fs::read(dir.path().join("inbox/b.txt")).unwrap(), b"b\n");
        assert_eq!(std::fs::read_dir(dir.path().join("inbox")).unwrap().count(), 2, "no partial files left");

        // A wrong digest or a short file: not kept. Too long, a repeat, a
        // cut record: refused.
        let mut bad = packed(&[(0, b"a\n")]);
        bad[10] ^= 1;
        for (extra, outcome_is) in [
            (vec![bad, packed(&[(1, b"b")])], "mismatch"),
            (vec![packed(&[(0, b"a\n!")])], "more data than the manifest's size"),
            (vec![packed(&[(0, b"a\n"), (0, b"a\n")])], "a.txt was sent a second time"),
            (vec![packed(&[(0, b"a\n")])[..20].to_vec()], "malformed packed-files"),
            (vec![packed(&[(7, b"a\n")])], "does not match the manifest"),
        ] {
            let mut script = two_files();
            script.extend(extra);
            script.push(control(serde_json::json!({"t": "done"})));
            let (dir, outcome, _) = receive_scripted(ScriptedLink::new(script));
            match outcome {
                Err(TransferError::Mismatch(2)) => assert_eq!(outcome_is, "mismatch"),
                Err(TransferError::Protocol(why)) => assert!(why.contains(outcome_is), "{why}"),
                other => panic!("{outcome_is}: {other:?}"),
            }
            assert!(!dir.path().join("inbox/a.txt").exists() || outcome_is == "a.txt was sent a second time");
            assert!(!dir.path().join("inbox/b.txt").exists());
        }
    }

    fn send_scripted(link: ScriptedLink) -> Result<Report, TransferError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.txt"), b"x\n").unwrap();
        let mut link = link;
        let streaming = tokio::sync::Notify::new();
        let paths = [dir.path().join("x.txt")];
        block_on(send_all(&mut link, &paths, &mut Events(Vec::new()), &streaming, Duration::from_millis(300)))
    }

    /// A sender that cannot begin says why; the receiver used to answer
    /// "no hello first" and blame it for breaking the protocol.
    #[test]
    fn a_sender_that_stops_before_its_hello_is_heard() {
        let refuse = control(serde_json::json!({"t": "refuse", "reason": "the sender stopped: x.txt: gone"}));
        let (_, outcome, _) = receive_scripted(ScriptedLink::new([refuse]));
        let Err(TransferError::Refused(why)) = outcome else { panic!("{outcome:?}") };
        assert_eq!(why, "the sender stopped: x.txt: gone");
    }

    #[test]
    fn a_sender_whose_receiver_hangs_gives_up_but_waits_while_it_asks() {
        let outcome = send_scripted(ScriptedLink::then_silent([hello(Role::Receive)]));
        assert!(matches!(outcome, Err(TransferError::Idle(_))), "{outcome:?}");
        // The receiver's "still asking" keeps the sender waiting for the answer.
        let asking = control(serde_json::json!({"t": "still_here"}));
        let script = vec![
            hello(Role::Receive),
            asking.clone(),
            asking,
            control(serde_json::json!({"t": "accept", "resume": [], "more": false})),
            control(serde_json::json!({"t": "done"})),
        ];
        let report = send_scripted(ScriptedLink::new(script)).unwrap();
        assert_eq!(report.files, 1);
    }

    #[cfg(unix)]
    #[test]
    fn only_a_partial_file_qrpair_made_for_the_same_file_is_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.txt");
        let entry = Entry { path: "a.txt".into(), size: 10, dir: false, source: "s1".into() };
        assert_eq!(inspect_partial(&target, &entry, false), Partial::Absent);
        std::io::Write::write_all(&mut open_partial(&target, &entry, 0, false).unwrap(), b"abc").unwrap();
        assert_eq!(inspect_partial(&target, &entry, false), Partial::Resume(3));
        // The sender's file changed: ours, but restarted from scratch.
        let changed = Entry { source: "s2".into(), ..entry.clone() };
        assert_eq!(inspect_partial(&target, &changed, false), Partial::Replace);
        // A second name for it (a hard link) makes it foreign.
        std::fs::hard_link(part_path(&target), dir.path().join("elsewhere")).unwrap();
        assert_eq!(inspect_partial(&target, &entry, false), Partial::Foreign(part_path(&target)));
        assert_eq!(inspect_partial(&target, &entry, true), Partial::Replace);
        std::io::Write::write_all(&mut open_partial(&target, &entry, 0, true).unwrap(), b"new").unwrap();
        assert_eq!(std::fs::read(dir.path().join("elsewhere")).unwrap(), b"abc", "written through a link");
        // A file at our name without a record is not ours.
        forget_partial(&target);
        assert_eq!(inspect_partial(&target, &entry, false), Partial::Foreign(part_path(&target)));
    }

    /// A 250-byte name plus `.qrpair.part.id` would not fit in 255 bytes.
    #[test]
    fn partial_file_names_fit_even_for_the_longest_names() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["short.txt".to_string(), "é".repeat(127), "x".repeat(255)] {
            let target = dir.path().join(&name);
            for path in [part_path(&target), record_path(&target)] {
                let file_name = path.file_name().unwrap().to_str().unwrap();
                assert!(file_name.len() <= 255, "{file_name}");
                assert!(names::is_reserved(file_name), "{file_name}");
                assert_eq!(path, with_suffix(&target, &file_name[file_name.rfind(".qrpair").unwrap()..]));
            }
            let entry = Entry { path: name.clone(), size: 10, dir: false, source: "s".into() };
            std::io::Write::write_all(&mut open_partial(&target, &entry, 0, false).unwrap(), b"abc").unwrap();
            assert_eq!(inspect_partial(&target, &entry, false), Partial::Resume(3));
        }
        assert_ne!(part_path(&dir.path().join("x".repeat(255))), part_path(&dir.path().join("x".repeat(254))));
    }

    #[test]
    fn free_name_skips_existing_files_and_parts() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("report.pdf");
        std::fs::write(&target, b"x").unwrap();
        std::fs::write(dir.path().join("report (1).pdf"), b"x").unwrap();
        std::fs::write(dir.path().join("report (2).pdf.qrpair.part"), b"x").unwrap();
        assert_eq!(free_name(&target), dir.path().join("report (3).pdf"));
    }
}
