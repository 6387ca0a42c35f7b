//! The receiving side: take the manifest, decide where each file lands,
//! accept, then take the stream one message at a time.
//!
//! One file (about 550 lines) for one job, in the order it happens: the
//! plan (`Plan::make`) and the stream (`Stream`, one method per message)
//! share the plan's indices, so apart they would only pass them back and
//! forth. Control messages, landing on disk and the manifest's checks are
//! already their own modules.

use super::control::{greet, keepalive, next, peer_words, runs, send_control, still_here, Control, Incoming};
use super::landing::{
    forget_partial, free_name, inspect_partial, open_partial, part_path, place, renamed, resolves_inside, Landing,
    PartWriter, Partial, Verified, BATCHED_FILE_BYTES,
};
use super::manifest::{check_manifest, manifest_event};
use super::outgoing::unpack;
use super::{io, Consent, Entry, Event, Existing, Observer, ReceiveOptions, Report, TransferError};
use crate::session::frame::Role;
use crate::session::link::Link;
use crate::session::names::NameError;
use crate::session::{names, Error as SessionError, DATA_CHUNK};
use crate::text::printable;
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(super) async fn receive_all<C: std::future::Future<Output = ()>>(
    channel: &mut impl Link,
    mut opts: ReceiveOptions,
    observer: &mut dyn Observer,
    cancel: C,
    idle: Duration,
) -> Result<Report, TransferError> {
    greet(channel, Role::Receive, Role::Send).await?;
    let entries = read_manifest(channel, idle).await?;
    let relative = check_manifest(&entries)?;
    observer.event(manifest_event(&entries));
    if let Some(ask) = opts.consent.take() {
        ask_the_person(channel, idle, ask, &entries, &opts.dir).await?;
    }
    let plan = Plan::make(entries, relative, &opts)?;
    plan.make_room(&opts.dir).await?;
    let resume: Vec<(usize, u64)> = plan.offsets.iter().copied().enumerate().filter(|&(_, o)| o > 0).collect();
    let pieces = runs(&resume)?;
    let last = pieces.len() - 1;
    for (i, range) in pieces.into_iter().enumerate() {
        send_control(channel, &Control::Accept { resume: resume[range].to_vec(), more: i < last }).await?;
    }

    // Ctrl-C counts from here: before, a prompt may be reading the terminal.
    tokio::select! {
        received = take_the_files(channel, &plan, observer, idle) => received,
        _ = cancel => Err(TransferError::Cancelled(Role::Receive)),
    }
}

async fn take_the_files(
    channel: &mut impl Link,
    plan: &Plan,
    observer: &mut dyn Observer,
    idle: Duration,
) -> Result<Report, TransferError> {
    let mut stream = Stream::new(plan);
    let streamed = stream.run(channel, observer, idle).await;
    let Stream { mut report, failed, current, mut verified, .. } = stream;
    drop(current);
    // However the stream ended, verified files get their names. After a
    // failure the peer is gone or not to be trusted: no keepalives.
    let flushed = if streamed.is_ok() {
        still_here(&*channel, idle, verified.flush(&plan.entries, observer, &mut report)).await.and_then(|r| r)
    } else {
        verified.flush(&plan.entries, observer, &mut report).await
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

/// The manifest, in as many pieces as the sender sends, within the limits
/// on entries and name bytes as they arrive (not after).
async fn read_manifest(channel: &mut impl Link, idle: Duration) -> Result<Vec<Entry>, TransferError> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut name_bytes = 0usize;
    loop {
        match next(channel, idle).await? {
            Incoming::Control(Control::Manifest { entries: piece, more }) => {
                // Every piece but the last carries something, so the entry
                // limit bounds the pieces too: no endless empty ones.
                if piece.is_empty() && more {
                    return Err(TransferError::Protocol("an empty piece of the manifest".into()));
                }
                if entries.len() + piece.len() > names::MAX_ENTRIES {
                    return Err(NameError::TooMany(entries.len() + piece.len()).into());
                }
                name_bytes += piece.iter().map(|e| e.path.len() + e.source.len()).sum::<usize>();
                if name_bytes > names::MAX_NAME_BYTES {
                    return Err(NameError::NamesTooLong.into());
                }
                entries.extend(piece);
                if !more {
                    return Ok(entries);
                }
            }
            Incoming::Control(Control::Refuse { reason }) => {
                return Err(TransferError::Refused(peer_words(Role::Send, reason)))
            }
            _ => return Err(TransferError::Protocol("expected the sender's manifest".into())),
        }
    }
}

async fn ask_the_person(
    channel: &mut impl Link,
    idle: Duration,
    ask: Consent,
    entries: &[Entry],
    dir: &Path,
) -> Result<(), TransferError> {
    let total = entries.iter().fold(0u64, |total, e| total.saturating_add(e.size));
    let files = entries.iter().filter(|e| !e.dir).count();
    let mut listing: Vec<String> = entries.iter().take(5).map(|e| printable(&e.path)).collect();
    if entries.len() > 5 {
        listing.push(format!("… and {} more", entries.len() - 5));
    }
    let summary =
        format!("{files} file(s), {} folder(s), {total} bytes: {}", entries.len() - files, listing.join(", "));
    // A person may take minutes: the sender hears that we are asking,
    // well within its idle limit.
    let question = format!("Receive {summary} into {}? [y/N] ", dir.display());
    let prompt = tokio::task::spawn_blocking(move || ask(&question));
    match still_here(channel, idle, prompt).await?.ok().flatten() {
        Some(true) => Ok(()),
        Some(false) => Err(TransferError::Declined),
        None => Err(TransferError::NobodyToAsk),
    }
}

/// Where each entry of the manifest lands, and how much of it is already
/// there.
struct Plan {
    entries: Vec<Entry>,
    targets: Vec<PathBuf>,
    offsets: Vec<u64>,
    /// A `.qrpair.part` of ours that cannot be resumed and is written over.
    replace: Vec<bool>,
    /// What a verified file does when its name was taken meanwhile.
    existing: Existing,
    dir: PathBuf,
}

/// Up to ten names, then how many more.
fn listing(mut names: Vec<String>) -> String {
    let count = names.len();
    names.truncate(10);
    if count > names.len() {
        names.push(format!("… and {} more", count - names.len()));
    }
    names.join(", ")
}

impl Plan {
    /// Refuses, before anything is written, when a name is taken (unless
    /// --overwrite or --rename) or a partial file in the way is not ours.
    fn make(entries: Vec<Entry>, relative: Vec<PathBuf>, opts: &ReceiveOptions) -> Result<Plan, TransferError> {
        let mut targets: Vec<PathBuf> = relative.into_iter().map(|rel| opts.dir.join(rel)).collect();
        let mut offsets = Vec::with_capacity(entries.len());
        let mut replace = vec![false; entries.len()];
        let mut existing = Vec::new();
        let mut folders = Vec::new();
        let mut foreign = Vec::new();
        // A new name for a file must be free of the disk and of every other
        // name this transfer writes: renaming `x.bin` to `x (1).bin` while
        // the sender also sends `x (1).bin` would lose one of them.
        let mut claimed: std::collections::HashSet<String> =
            targets.iter().map(|t| names::fold_key(&t.to_string_lossy())).collect();
        for (index, entry) in entries.iter().enumerate() {
            let target = &mut targets[index];
            let mut offset = 0;
            if !entry.dir {
                let in_the_way = std::fs::symlink_metadata(&*target).ok();
                if in_the_way.is_some() || target.exists() {
                    match opts.existing {
                        Existing::Refuse => existing.push(printable(&entry.path)),
                        Existing::Overwrite if in_the_way.is_some_and(|m| m.is_dir()) => {
                            folders.push(printable(&entry.path))
                        }
                        Existing::Overwrite => {}
                        Existing::Rename => {
                            *target = free_name(target, |candidate| {
                                claimed.contains(&names::fold_key(&candidate.to_string_lossy()))
                            });
                            claimed.insert(names::fold_key(&target.to_string_lossy()));
                        }
                    }
                }
                match inspect_partial(target, entry, opts.existing == Existing::Overwrite) {
                    Partial::Absent => {}
                    Partial::Resume(n) => offset = n,
                    Partial::Replace => replace[index] = true,
                    Partial::Foreign(path) => foreign.push(path),
                }
            }
            offsets.push(offset);
        }
        if let Some(first) = foreign.first() {
            let more = if foreign.len() > 1 { format!(" (and {} more)", foreign.len() - 1) } else { String::new() };
            let reason = format!(
                "{}{more} is in the way and was not made by qrpair for this file (a link, another user's file, or no record): move it away or use --overwrite",
                printable(&first.display().to_string())
            );
            return Err(TransferError::Exists(reason));
        }
        if !folders.is_empty() {
            let reason = format!(
                "{} in {} is a folder, and --overwrite replaces files only: move it away, or use --rename",
                listing(folders),
                opts.dir.display()
            );
            return Err(TransferError::Exists(reason));
        }
        if !existing.is_empty() {
            let reason =
                format!("already in {}: {} (use --overwrite or --rename)", opts.dir.display(), listing(existing));
            return Err(TransferError::Exists(reason));
        }
        Ok(Plan { entries, targets, offsets, replace, existing: opts.existing, dir: opts.dir.clone() })
    }

    /// Clean names are not enough: a symbolic link already inside DIR could
    /// lead a clean name elsewhere. Every target must resolve inside DIR
    /// before anything is created.
    async fn make_room(&self, dir: &Path) -> Result<(), TransferError> {
        tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
        let root = dir.canonicalize().map_err(io(dir))?;
        if let Some((entry, _)) = self.entries.iter().zip(&self.targets).find(|(_, t)| !resolves_inside(&root, t)) {
            let reason =
                format!("{} would land outside {} through a symbolic link", printable(&entry.path), dir.display());
            return Err(TransferError::OutsideDir(reason));
        }
        let folder_of = |(entry, target): (&Entry, &'_ PathBuf)| {
            if entry.dir {
                target.clone()
            } else {
                target.parent().unwrap_or(dir).to_path_buf()
            }
        };
        let folders: std::collections::BTreeSet<PathBuf> =
            self.entries.iter().zip(&self.targets).map(folder_of).collect();
        // A file where a folder must go would fail the writes half way,
        // after other files had landed: found here, nothing is written.
        let mut looked = std::collections::HashSet::new();
        for folder in &folders {
            let mut at = folder.as_path();
            while looked.insert(at.to_path_buf()) {
                match std::fs::metadata(at) {
                    Ok(meta) if meta.is_dir() => break,
                    Ok(_) => {
                        let shown = at.strip_prefix(dir).unwrap_or(at).display().to_string();
                        let reason = format!(
                            "{} in {} is a file, and the sender's files need it to be a folder: move it away, or receive into another folder",
                            printable(&shown),
                            dir.display()
                        );
                        return Err(TransferError::Exists(reason));
                    }
                    Err(_) => match at.parent() {
                        Some(parent) => at = parent,
                        None => break,
                    },
                }
            }
        }
        for folder in &folders {
            tokio::fs::create_dir_all(folder).await.map_err(io(folder))?;
        }
        Ok(())
    }
}

/// The slowest disk a resumed prefix is assumed to be read from (a USB 2
/// stick) by the sender before it sends more of the file.
const PREFIX_HASH_BYTES_PER_SEC: u64 = 20 << 20;

/// The receiver's state while files stream.
struct Stream<'a> {
    plan: &'a Plan,
    report: Report,
    failed: Vec<usize>,
    /// Files whose end (verified or not) has been seen: each comes once.
    ended: Vec<bool>,
    /// The file being streamed: its index, where it goes, bytes so far.
    current: Option<(usize, Landing, u64)>,
    verified: Verified,
}

impl<'a> Stream<'a> {
    fn new(plan: &'a Plan) -> Self {
        Stream {
            plan,
            report: Report::default(),
            failed: Vec::new(),
            ended: vec![false; plan.entries.len()],
            current: None,
            verified: Verified::new(plan.existing, plan.dir.clone()),
        }
    }

    /// Until the sender's done. Once the sender has sent everything, it
    /// waits for our word while the last of its data may still be crossing
    /// a slow link: as long as data arrives, it hears from us at least
    /// every `keepalive(idle)`.
    async fn run(
        &mut self,
        channel: &mut impl Link,
        observer: &mut dyn Observer,
        idle: Duration,
    ) -> Result<(), TransferError> {
        let mut said = tokio::time::Instant::now();
        let mut progress_due = said + idle;
        loop {
            if said.elapsed() >= keepalive(idle) {
                send_control(channel, &Control::StillHere).await?;
                said = tokio::time::Instant::now();
            }
            // Keepalives prove the link, not progress: a sender that only
            // says `still_here` holds the receiver as surely as silence.
            let Ok(incoming) = tokio::time::timeout_at(progress_due, next(channel, idle)).await else {
                return Err(TransferError::Stalled(idle));
            };
            let incoming = match incoming {
                Err(TransferError::Session(SessionError::Peer(_) | SessionError::PeerLeftEarly)) => {
                    return Err(TransferError::Interrupted)
                }
                other => other?,
            };
            // Before the first new byte of a resumed file, the sender reads
            // and hashes the prefix we already hold, at disk speed.
            let prefix_time = match &incoming {
                Incoming::Control(Control::FileStart { offset, .. }) => {
                    Duration::from_secs(offset / PREFIX_HASH_BYTES_PER_SEC)
                }
                _ => Duration::ZERO,
            };
            match incoming {
                Incoming::Control(Control::FileStart { index, offset }) => self.file_start(index, offset, observer)?,
                Incoming::Data(bytes) => self.data(bytes, observer).await?,
                Incoming::Control(Control::FileEnd { index, blake3 }) => {
                    self.file_end(channel, index, blake3, observer, idle).await?
                }
                Incoming::Files(body) => self.packed_files(channel, &body, observer, idle).await?,
                Incoming::Control(Control::Done) => return self.done(),
                Incoming::Bye => return Err(SessionError::PeerLeftEarly.into()),
                Incoming::Control(Control::Refuse { reason }) => {
                    return Err(TransferError::PeerStopped(peer_words(Role::Send, reason)))
                }
                Incoming::Control(_) => return Err(TransferError::Protocol("unexpected control message".into())),
            }
            // Counted from here, so time our own disk took is not the sender's.
            progress_due = tokio::time::Instant::now() + idle + prefix_time;
        }
    }

    fn not_in_a_file(&self, what: &str) -> Result<(), TransferError> {
        match &self.current {
            Some((open, ..)) => {
                let open = printable(&self.plan.entries[*open].path);
                Err(TransferError::Protocol(format!("{what} before {open} ended")))
            }
            None => Ok(()),
        }
    }

    fn first_time(&mut self, index: usize) -> Result<(), TransferError> {
        if std::mem::replace(&mut self.ended[index], true) {
            let name = printable(&self.plan.entries[index].path);
            return Err(TransferError::Protocol(format!("{name} was sent a second time")));
        }
        Ok(())
    }

    fn file_start(&mut self, index: usize, offset: u64, observer: &mut dyn Observer) -> Result<(), TransferError> {
        let plan = self.plan;
        if index >= plan.entries.len() || plan.entries[index].dir || offset != plan.offsets[index] {
            return Err(TransferError::Protocol("a file start that does not match the manifest".into()));
        }
        self.not_in_a_file("a new file started")?;
        if self.ended[index] {
            let name = printable(&plan.entries[index].path);
            return Err(TransferError::Protocol(format!("{name} was sent a second time")));
        }
        let (entry, target) = (&plan.entries[index], &plan.targets[index]);
        let landing = if offset == 0 && entry.size <= DATA_CHUNK as u64 {
            // Kept in memory until its digest is checked: nothing on disk,
            // and no writer thread, for a small file.
            Landing::Memory(Vec::new())
        } else {
            let file = open_partial(target, entry, offset, plan.replace[index]).map_err(io(&part_path(target)))?;
            Landing::Disk(PartWriter::start(file, offset, entry.size > BATCHED_FILE_BYTES))
        };
        observer.event(Event::FileStarted { path: entry.path.clone(), size: entry.size, offset });
        self.report.resumed_bytes += offset;
        self.current = Some((index, landing, offset));
        Ok(())
    }

    async fn data(&mut self, bytes: Bytes, observer: &mut dyn Observer) -> Result<(), TransferError> {
        let Some((index, landing, written)) = self.current.as_mut() else {
            return Err(TransferError::Protocol("file data outside a file".into()));
        };
        let entry = &self.plan.entries[*index];
        *written += bytes.len() as u64;
        if *written > entry.size {
            return Err(TransferError::Protocol("more data than the manifest's size".into()));
        }
        self.report.bytes += bytes.len() as u64;
        let done = *written;
        match landing {
            Landing::Disk(writer) => writer.write(bytes).await.map_err(io(&part_path(&self.plan.targets[*index])))?,
            Landing::Memory(kept) => kept.extend_from_slice(&bytes),
        }
        observer.event(Event::Progress { path: entry.path.clone(), done, size: entry.size });
        Ok(())
    }

    async fn file_end(
        &mut self,
        channel: &mut impl Link,
        index: usize,
        blake3: String,
        observer: &mut dyn Observer,
        idle: Duration,
    ) -> Result<(), TransferError> {
        let plan = self.plan;
        let Some((open_index, landing, written)) = self.current.take() else {
            return Err(TransferError::Protocol("file end outside a file".into()));
        };
        if open_index != index {
            return Err(TransferError::Protocol("file end for another file".into()));
        }
        self.ended[index] = true;
        let (entry, target) = (&plan.entries[index], &plan.targets[index]);
        let part = part_path(target);
        let (ours, synced, kept) = match landing {
            Landing::Disk(writer) => {
                let synced = writer.synced;
                (still_here(&*channel, idle, writer.finish()).await?.map_err(io(&part))?, synced, None)
            }
            Landing::Memory(kept) => (blake3::hash(&kept).to_hex().to_string(), false, Some(kept)),
        };
        // A file that shrank on the sender's disk hashes the same on both
        // sides but is not the file the manifest announced.
        let ok = ours == blake3 && written == entry.size;
        let mut saved_as = None;
        if let Some(kept) = kept {
            if !ok {
                self.failed.push(index);
                observer.event(Event::FileDone { path: entry.path.clone(), blake3: ours, ok, saved_as: None });
                return Ok(());
            }
            let mut file = open_partial(target, entry, 0, plan.replace[index]).map_err(io(&part))?;
            std::io::Write::write_all(&mut file, &kept).map_err(io(&part))?;
        }
        if ok && !synced {
            let pushed = self.verified.push((index, target.clone(), ours), &plan.entries, observer, &mut self.report);
            return still_here(&*channel, idle, pushed).await?;
        }
        if ok {
            let (part, target, existing) = (part.clone(), target.clone(), plan.existing);
            let landed = tokio::task::spawn_blocking(move || place(&part, &target, existing))
                .await
                .map_err(|e| io(&plan.targets[index])(std::io::Error::other(e)))??;
            saved_as = renamed(&plan.dir, &landed, entry);
            self.report.files += 1;
        } else {
            // A bad prefix would poison a resume: nothing is kept.
            let _ = tokio::fs::remove_file(&part).await;
            self.failed.push(index);
        }
        forget_partial(target);
        observer.event(Event::FileDone { path: entry.path.clone(), blake3: ours, ok, saved_as });
        Ok(())
    }

    /// One message holding many small files, each whole with its digest.
    async fn packed_files(
        &mut self,
        channel: &mut impl Link,
        body: &[u8],
        observer: &mut dyn Observer,
        idle: Duration,
    ) -> Result<(), TransferError> {
        let plan = self.plan;
        self.not_in_a_file("whole files sent")?;
        for (index, digest, data) in unpack(body)? {
            if index >= plan.entries.len() || plan.entries[index].dir || plan.offsets[index] != 0 {
                return Err(TransferError::Protocol("a packed file that does not match the manifest".into()));
            }
            let (entry, target) = (&plan.entries[index], &plan.targets[index]);
            self.first_time(index)?;
            if data.len() as u64 > entry.size {
                return Err(TransferError::Protocol("more data than the manifest's size".into()));
            }
            observer.event(Event::FileStarted { path: entry.path.clone(), size: entry.size, offset: 0 });
            let done = data.len() as u64;
            observer.event(Event::Progress { path: entry.path.clone(), done, size: entry.size });
            self.report.bytes += data.len() as u64;
            let ours = blake3::hash(data);
            // A file that shrank on the sender's disk is not the one announced.
            if ours.as_bytes() != &digest || data.len() as u64 != entry.size {
                self.failed.push(index);
                let blake3 = ours.to_hex().to_string();
                observer.event(Event::FileDone { path: entry.path.clone(), blake3, ok: false, saved_as: None });
                continue;
            }
            let part = part_path(target);
            let mut file = open_partial(target, entry, 0, plan.replace[index]).map_err(io(&part))?;
            std::io::Write::write_all(&mut file, data).map_err(io(&part))?;
            let verified_file = (index, target.clone(), ours.to_hex().to_string());
            let pushed = self.verified.push(verified_file, &plan.entries, observer, &mut self.report);
            still_here(&*channel, idle, pushed).await??;
        }
        Ok(())
    }

    /// Nothing counts as received that did not arrive whole.
    fn done(&self) -> Result<(), TransferError> {
        if let Some((open, ..)) = &self.current {
            let open = printable(&self.plan.entries[*open].path);
            return Err(TransferError::Protocol(format!("the sender said it was done in the middle of {open}")));
        }
        let files = self.plan.entries.iter().filter(|e| !e.dir).count();
        let mut missing = self.plan.entries.iter().zip(&self.ended).filter(|(e, ended)| !e.dir && !**ended);
        if let Some((first, _)) = missing.next() {
            return Err(TransferError::Protocol(format!(
                "the sender said it was done, but {} of the {files} file(s) never arrived (the first: {}); they were not received",
                1 + missing.count(),
                printable(&first.path)
            )));
        }
        Ok(())
    }
}
