use super::outgoing::CHUNKS_IN_FLIGHT;
use super::{io, Entry, Event, Existing, Observer, Report, TransferError};
use crate::session::names;
use crate::text::printable;
use bytes::Bytes;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// One `.part` being received: writes and hashing happen on a blocking
/// thread so the disk never holds up the channel.
pub(super) struct PartWriter {
    chunks: mpsc::Sender<Bytes>,
    writer: JoinHandle<std::io::Result<String>>,
    /// Synced to disk by the writer itself; otherwise by `Verified::flush`.
    pub(super) synced: bool,
}

/// Where a file being received goes until its digest is checked.
pub(super) enum Landing {
    /// `NAME.qrpair.part`, written as it arrives.
    Disk(PartWriter),
    /// A file of at most one chunk, sent whole.
    Memory(Vec<u8>),
}

/// Files up to this size are made durable in batches (one `syncfs` for
/// many), larger ones each with its own `fsync`.
pub(super) const BATCHED_FILE_BYTES: u64 = 1 << 20;
/// At most this many verified files wait for their batch's sync and rename.
pub(super) const VERIFIED_BATCH: usize = 256;

impl PartWriter {
    /// Keeps the first `offset` bytes of `file` (a resumed prefix), hashing
    /// them, and appends from there; `sync`: fsync when done.
    pub(super) fn start(file: std::fs::File, offset: u64, sync: bool) -> Self {
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
            let mut written = offset;
            while let Some(bytes) = rx.blocking_recv() {
                hasher.update(&bytes);
                file.write_all(&bytes)?;
                if sync {
                    start_writeback(&file, written, bytes.len() as u64);
                }
                written += bytes.len() as u64;
            }
            if sync {
                file.sync_all()?;
            }
            Ok(hasher.finalize().to_hex().to_string())
        });
        PartWriter { chunks, writer, synced: sync }
    }

    pub(super) async fn write(&mut self, bytes: Bytes) -> std::io::Result<()> {
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
    pub(super) async fn finish(self) -> std::io::Result<String> {
        drop(self.chunks);
        self.writer.await.map_err(std::io::Error::other)?
    }
}

/// Written bytes the disk is asked to take while the transfer goes on.
const WRITEBACK_WINDOW: u64 = 8 << 20;

/// Each time the file crosses a `WRITEBACK_WINDOW` boundary, asks the kernel
/// to start writing the previous window out, without waiting for it.
/// Otherwise a large file sits dirty in the page cache (Linux starts on its
/// own only at a tenth of memory) and the closing fsync writes it all while
/// the person watches a finished progress bar: 0.5 s for 1 GiB here, minutes
/// for a large file on a USB stick.
fn start_writeback(file: &std::fs::File, at: u64, len: u64) {
    if (at + len) / WRITEBACK_WINDOW > at / WRITEBACK_WINDOW && at >= WRITEBACK_WINDOW {
        let window = (at / WRITEBACK_WINDOW - 1) * WRITEBACK_WINDOW;
        crate::sys::start_writeback(file, window, WRITEBACK_WINDOW);
    }
}

/// Small files whose digests matched, made durable and renamed to their
/// names in batches on a blocking thread while the next batch arrives: an
/// fsync per file in line with the channel made 100 000 tiny files a
/// disk-bound crawl. The promise stays: a file is under its final name only
/// once what was verified is on disk, and is reported done only then.
pub(super) struct Verified {
    existing: Existing,
    dir: PathBuf,
    files: Vec<(usize, PathBuf, String)>,
    in_flight: Option<JoinHandle<Result<Vec<(usize, String, PathBuf)>, TransferError>>>,
}

/// Threads that fsync one batch together: concurrent fsyncs share journal
/// commits.
pub(super) const SYNC_THREADS: usize = 4;

impl Verified {
    pub(super) fn new(existing: Existing, dir: PathBuf) -> Self {
        Verified { existing, dir, files: Vec::new(), in_flight: None }
    }

    pub(super) async fn push(
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

    pub(super) fn start(&mut self) {
        let batch = std::mem::take(&mut self.files);
        let existing = self.existing;
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
                let landed = place(part, &target, existing)?;
                forget_partial(&target);
                done.push((index, blake3, landed));
            }
            Ok(done)
        }));
    }

    /// Waits for the batch being synced and reports its files done.
    pub(super) async fn settle(
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
        for (index, blake3, landed) in done {
            report.files += 1;
            let saved_as = renamed(&self.dir, &landed, &entries[index]);
            observer.event(Event::FileDone { path: entries[index].path.clone(), blake3, ok: true, saved_as });
        }
        Ok(())
    }

    /// Everything verified so far gets its name.
    pub(super) async fn flush(
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

/// True when `path`, or its longest existing ancestor, resolves to a place
/// inside `root` (already canonical). Parts that do not exist yet will be
/// created as plain folders under that ancestor.
pub(super) fn resolves_inside(root: &Path, path: &Path) -> bool {
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

/// `NAME` + `suffix`; a name too long for that (most filesystems allow
/// 255 bytes) is cut, with a digest of the whole name so the result stays
/// the same for the same file (resume finds it) and differs for others.
pub(super) fn with_suffix(target: &Path, suffix: &str) -> PathBuf {
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
pub(super) fn part_path(target: &Path) -> PathBuf {
    with_suffix(target, names::PARTIAL_SUFFIX)
}

/// The record saying which sender's file a partial file belongs to.
pub(super) fn record_path(target: &Path) -> PathBuf {
    with_suffix(target, names::RECORD_SUFFIX)
}

/// What a partial file's record holds.
#[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct PartialRecord {
    qrpair_partial: u8,
    name: String,
    size: u64,
    source: String,
}

impl PartialRecord {
    pub(super) fn of(entry: &Entry) -> Self {
        PartialRecord { qrpair_partial: 1, name: entry.path.clone(), size: entry.size, source: entry.source.clone() }
    }
}

/// A plain file with one name, owned by us: what qrpair itself creates. A
/// hard link (more than one name) or a symbolic link may lead outside DIR.
pub(super) fn made_here(meta: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions.
        meta.is_file() && meta.nlink() == 1 && meta.uid() == crate::sys::effective_uid()
    }
    #[cfg(not(unix))]
    meta.is_file()
}

pub(super) fn open_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true);
    // A symbolic link at one of our names is never followed.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    options
}

pub(super) fn read_record(path: &Path) -> Option<PartialRecord> {
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
pub(super) enum Partial {
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

pub(super) fn inspect_partial(target: &Path, entry: &Entry, overwrite: bool) -> Partial {
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
pub(super) fn open_partial(target: &Path, entry: &Entry, offset: u64, replace: bool) -> std::io::Result<std::fs::File> {
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
pub(super) fn forget_partial(target: &Path) {
    let _ = std::fs::remove_file(record_path(target));
}

/// `name (1).ext`, `name (2).ext`, … : the first that is not on the disk
/// (nor a partial file of another transfer writing it right now) and not
/// `taken` by another file of this transfer.
pub(super) fn free_name(target: &Path, taken: impl Fn(&Path) -> bool) -> PathBuf {
    let stem = target.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let ext = target.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    let on_disk = |p: &Path| std::fs::symlink_metadata(p).is_ok();
    (1..)
        .map(|i| target.with_file_name(format!("{stem} ({i}){ext}")))
        .find(|p| !on_disk(p) && !on_disk(&part_path(p)) && !on_disk(&record_path(p)) && !taken(p))
        .unwrap_or_else(|| target.to_path_buf())
}

/// Gives a verified file its name. Unless told to overwrite, a name taken
/// since the plan was made (another program, another qrpair choosing the
/// same free name) is never replaced: with --rename the file takes the
/// next free name, otherwise it stays whole under its partial name.
/// Returns where it landed.
pub(super) fn place(part: &Path, target: &Path, existing: Existing) -> Result<PathBuf, TransferError> {
    if existing == Existing::Overwrite {
        std::fs::rename(part, target).map_err(io(target))?;
        return Ok(target.to_path_buf());
    }
    let mut landing = target.to_path_buf();
    loop {
        match rename_no_replace(part, &landing) {
            Ok(()) => return Ok(landing),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && existing == Existing::Rename => {
                landing = free_name(target, |_| false);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(TransferError::Exists(format!(
                    "{} appeared while it was being received; what arrived is kept whole as {}: move one of them",
                    printable(&target.display().to_string()),
                    printable(&part.display().to_string())
                )))
            }
            Err(e) => return Err(io(target)(e)),
        }
    }
}

/// The name a file was saved under, relative to `dir`, when it is not the
/// sender's.
pub(super) fn renamed(dir: &Path, landed: &Path, entry: &Entry) -> Option<String> {
    let relative = landed.strip_prefix(dir).ok()?;
    let shown: Vec<_> = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect();
    let shown = shown.join("/");
    (shown != entry.path).then_some(shown)
}

/// `rename` that fails with `AlreadyExists` instead of replacing `to`.
fn rename_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    match crate::sys::rename_no_replace(from, to) {
        // Systems and filesystems without it (some FUSE and network ones)
        // take the check-then-rename below.
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {}
        done => return done,
    }
    if std::fs::symlink_metadata(to).is_ok() {
        return Err(std::io::ErrorKind::AlreadyExists.into());
    }
    std::fs::rename(from, to)
}
