//! The sending side: announce the manifest, learn what the receiver already
//! holds, stream the rest, then hear which files arrived intact.

use super::control::{
    greet, keepalive, next, peer_words, runs, send_control, why_the_receiver_stopped, Control, Incoming,
};
use super::manifest::{build_manifest, manifest_event};
use super::outgoing::{read_ahead, read_small, Pack, PACKED_FILE_MAX};
use super::{io, Entry, Event, Observer, Report, TransferError};
use crate::session::frame::Role;
use crate::session::link::Link;
use crate::session::Error as SessionError;
use bytes::BytesMut;
use std::path::PathBuf;
use std::time::Duration;

pub(super) async fn send_all<C: std::future::Future<Output = ()>>(
    channel: &mut impl Link,
    paths: &[PathBuf],
    observer: &mut dyn Observer,
    cancel: C,
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
    let offsets = read_acceptance(channel, &entries, idle).await?;
    // Ctrl-C counts from here: before, the receiver's person may be asked.
    tokio::select! {
        sent = stream_files(channel, &entries, &sources, &offsets, observer, idle) => sent,
        _ = cancel => Err(TransferError::Cancelled(Role::Send)),
    }
}

/// The receiver's yes, with how much of each file it already holds.
async fn read_acceptance(
    channel: &mut impl Link,
    entries: &[Entry],
    idle: Duration,
) -> Result<Vec<u64>, TransferError> {
    let mut offsets = vec![0u64; entries.len()];
    let mut resumed = 0usize;
    loop {
        match next(channel, idle).await? {
            Incoming::Control(Control::Accept { resume, more }) => {
                // Each file is resumed once at most, so each piece but the
                // last names one: the manifest bounds the pieces.
                resumed += resume.len();
                if (resume.is_empty() && more) || resumed > entries.len() {
                    return Err(TransferError::Protocol("more pieces of the receiver's answer than files".into()));
                }
                for (index, offset) in resume {
                    match entries.get(index) {
                        Some(entry) if !entry.dir => offsets[index] = offset.min(entry.size),
                        _ => return Err(TransferError::Protocol("a resume offset for no file of the manifest".into())),
                    }
                }
                if !more {
                    return Ok(offsets);
                }
            }
            Incoming::Control(Control::Refuse { reason }) => {
                return Err(TransferError::Refused(peer_words(Role::Receive, reason)))
            }
            _ => return Err(TransferError::Protocol("expected the receiver's answer to the manifest".into())),
        }
    }
}

/// A message that carries file bytes. When the channel refuses it, the
/// receiver has usually just said why: that reason beats "connection lost".
async fn send_bytes(channel: &mut impl Link, message: BytesMut) -> Result<(), TransferError> {
    match channel.send_owned(message).await {
        Ok(()) => Ok(()),
        Err(lost) => Err(why_the_receiver_stopped(channel).await.unwrap_or(SessionError::from(lost).into())),
    }
}

async fn stream_files(
    channel: &mut impl Link,
    entries: &[Entry],
    sources: &[PathBuf],
    offsets: &[u64],
    observer: &mut dyn Observer,
    idle: Duration,
) -> Result<Report, TransferError> {
    let mut report = Report::default();
    let mut digests = vec![String::new(); entries.len()];
    let mut pack = Pack::new();
    for (index, (entry, source)) in entries.iter().zip(sources).enumerate() {
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
                    send_bytes(channel, frame).await?;
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
            send_bytes(channel, frame).await?;
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
            send_bytes(channel, chunk).await?;
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
        send_bytes(channel, frame).await?;
    }
    send_control(channel, &Control::Done).await?;
    let failed = read_results(channel, entries, idle).await?;
    let mut mismatches = 0;
    for (index, entry) in entries.iter().enumerate().filter(|(_, e)| !e.dir) {
        let ok = !failed[index];
        let blake3 = std::mem::take(&mut digests[index]);
        observer.event(Event::FileDone { path: entry.path.clone(), blake3, ok, saved_as: None });
        mismatches += usize::from(!ok);
    }
    if mismatches > 0 {
        return Err(TransferError::Mismatch(mismatches));
    }
    Ok(report)
}

/// The receiver's verdict: the files that failed, then its done.
async fn read_results(channel: &mut impl Link, entries: &[Entry], idle: Duration) -> Result<Vec<bool>, TransferError> {
    let mut failed = vec![false; entries.len()];
    let mut reported = 0usize;
    loop {
        match next(channel, idle).await? {
            Incoming::Control(Control::Results { failed: indices }) => {
                reported += indices.len();
                if indices.is_empty() || reported > entries.len() {
                    return Err(TransferError::Protocol("more pieces of the receiver's results than files".into()));
                }
                for index in indices {
                    match entries.get(index) {
                        Some(entry) if !entry.dir => failed[index] = true,
                        _ => return Err(TransferError::Protocol("a result for no file of the manifest".into())),
                    }
                }
            }
            Incoming::Control(Control::Done) => return Ok(failed),
            // It stopped after everything was sent (a write failed): its words.
            Incoming::Control(Control::Refuse { reason }) => {
                return Err(TransferError::Refused(peer_words(Role::Receive, reason)))
            }
            _ => return Err(TransferError::Protocol("expected the receiver's results".into())),
        }
    }
}
