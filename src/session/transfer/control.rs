use super::{Entry, TransferError};
use crate::peer::Received;
use crate::session::frame::{Frame, Role, PROTOCOL_VERSION};
use crate::session::link::Link;
use crate::session::Error as SessionError;
use crate::text::printable;
use std::time::Duration;

pub(super) const BYE_WAIT: Duration = Duration::from_secs(30);
/// A control message is one data-channel message: its JSON, after the type
/// byte, is at most this long. Anything larger is refused unread.
pub(super) const MAX_CONTROL_BYTES: usize = crate::peer::MAX_MESSAGE - 1;
/// Lists go out in pieces of at most this much JSON (well inside
/// `MAX_CONTROL_BYTES`, with room for the message around the list).
pub(super) const LIST_CHUNK_BYTES: usize = 48 * 1024;
/// Once a transfer is under way (the manifest sent or received), this
/// long without a single message from the peer ends it: a peer that hangs
/// while keeping the connection open must not hold us forever. While the
/// receiver's person is being asked, it says so every few seconds.
pub const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// Overrides `IDLE_LIMIT` (seconds, fractions allowed): for tests.
pub(super) const IDLE_LIMIT_VAR: &str = "QRPAIR_IDLE_SECS";

/// How often a side with nothing to say says `still_here`: well inside
/// the peer's idle limit (assumed to be ours).
pub(super) fn keepalive(idle: Duration) -> Duration {
    (idle / 3).min(Duration::from_secs(10))
}

/// Awaits `work` (a person's answer, an fsync), telling the peer every so
/// often that we are still here, so its idle limit measures the peer's
/// silence, not our disk or our person.
pub(super) async fn still_here<T>(
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

pub(super) fn idle_limit() -> Duration {
    std::env::var(IDLE_LIMIT_VAR)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(IDLE_LIMIT, Duration::from_secs_f64)
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub(super) enum Control {
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

pub(super) async fn send_control(channel: &impl Link, c: &Control) -> Result<(), TransferError> {
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
pub(super) fn runs<T: serde::Serialize>(items: &[T]) -> Result<Vec<std::ops::Range<usize>>, TransferError> {
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

pub(super) enum Incoming {
    Control(Control),
    Data(bytes::Bytes),
    Files(bytes::Bytes),
    Bye,
}

/// The next message from the peer, waiting at most `idle` for it.
pub(super) async fn next(channel: &mut impl Link, idle: Duration) -> Result<Incoming, TransferError> {
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
                let reason = printable(&capped(String::from_utf8_lossy(reason).into_owned()));
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
pub(super) async fn greet(channel: &mut impl Link, ours: Role, want: Role) -> Result<(), TransferError> {
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
            Ok(Control::Refuse { reason }) => Err(TransferError::Refused(peer_words(want, reason))),
            _ => Err(TransferError::Protocol("no hello first".into())),
        },
        _ => Err(TransferError::Protocol("no hello first".into())),
    }
}

/// Closes politely: goodbye both ways, then the channel. After both
/// sides' `done` only a goodbye is due: anything else (more data, say) is
/// a peer not speaking the protocol, and the transfer does not end as a
/// success, though the files already verified stay.
pub(super) async fn finish(mut channel: impl Link, peer: Role) -> Result<(), TransferError> {
    let _ = channel.send(&Frame::Bye.encode()).await;
    let after = tokio::time::timeout(BYE_WAIT, next(&mut channel, BYE_WAIT)).await;
    channel.close().await;
    match after {
        Ok(Ok(Incoming::Control(Control::Refuse { reason }))) => Err(TransferError::Refused(peer_words(peer, reason))),
        Ok(Ok(Incoming::Control(_) | Incoming::Data(_) | Incoming::Files(_))) => {
            Err(TransferError::AfterDone(if peer == Role::Send { "sender" } else { "receiver" }))
        }
        // A goodbye, or a peer gone without one: everything was settled.
        Ok(Ok(Incoming::Bye) | Err(_)) | Err(_) => Ok(()),
    }
}

/// What the other side is told when this side stops with `error`; `None`
/// when the connection itself failed (nobody to tell) or the peer already
/// knows.
pub(super) fn reason_for_peer(error: &TransferError, role: Role) -> Option<String> {
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

pub(super) use crate::text::capped;

/// The other side's explanation, quoted and escaped: a hostile peer's
/// "refuse" must never read as qrpair's own words, nor drive the terminal.
pub(super) fn peer_words(peer: Role, reason: String) -> String {
    let who = match peer {
        Role::Send => "the sender",
        Role::Receive => "the receiver",
        Role::Stream => "the peer",
    };
    format!("{who} said: \"{}\"", printable(&capped(reason)))
}

/// When sending fails mid-file, the receiver has usually just said why
/// (disk full, a refused name) and closed: its words beat "connection lost".
pub(super) async fn why_the_receiver_stopped(channel: &mut impl Link) -> Option<TransferError> {
    let reason = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            match next(channel, Duration::from_secs(1)).await {
                Ok(Incoming::Control(Control::Refuse { reason })) => return Some(peer_words(Role::Receive, reason)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    });
    reason.await.ok().flatten().map(TransferError::Refused)
}

/// Ends the session after `error`: the peer hears why, at once, and the
/// channel closes as soon as that message is delivered.
pub(super) async fn abandon(channel: impl Link, error: &TransferError, role: Role) {
    if let Some(reason) = reason_for_peer(error, role).map(capped) {
        if send_control(&channel, &Control::Refuse { reason }).await.is_ok() {
            channel.drain().await;
        }
    }
    channel.close().await;
}
