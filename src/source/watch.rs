//! Waiting for a code: a file that does not exist yet or is still being
//! written, a folder where a screenshot will be saved, the clipboard.
//! About 500 lines, a fifth of them the tests of the folder wait; the three
//! waits share `Changes` and the settling rule, so they stay together.
//!
//! A folder is watched for changes (inotify and the like, through
//! `notify`) and only what an event names is looked at, so the wait costs
//! the same whether the folder holds nothing or 30 000 photos
//! (`cargo bench --bench watch_cost`). Opening and reading are not changes:
//! the wait's own reads of the folder would otherwise wake it again at
//! once, a busy loop that kept a core 55-71 % busy beside 3 000 files.

use super::{from_clipboard, read_file_by, read_now, Obtained, Source, SourceError, Want};
use crate::qr::ScanError;
use crate::signal::Kind;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

const POLL: Duration = Duration::from_millis(200);
/// With a watcher, polling is only the safety net (an event lost, a
/// filesystem that reports nothing, such as some network mounts); it looks
/// at the folder's own modification time, not at every file in it.
const POLL_WATCHED: Duration = Duration::from_secs(1);
/// A file modified this recently may still be being written by the tool
/// that makes it; a read that fails is retried instead of reported.
const SETTLE: Duration = Duration::from_secs(2);
/// Names remembered between two looks; past this (a burst of thousands of
/// files) the whole folder is looked at once instead.
const MAX_NAMED: usize = 1024;
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "webp", "gif", "bmp", "txt"];

/// What a wait has to tell the person while it goes on. `wait_for` never
/// prints: its caller decides how this is shown (a note on the terminal,
/// nothing in a test).
#[derive(Debug)]
pub enum Waiting<'a> {
    /// The file named does not exist yet.
    ForFile(&'a Path),
    /// A folder is watched for a new image holding a code of this kind.
    ForImageIn(&'a Path, Kind),
    /// The clipboard is polled for a code of this kind.
    ForClipboard(Kind),
    /// What the clipboard holds is not it (yet): often the code this side
    /// showed itself.
    NotYet(&'a SourceError),
    /// A new image in the folder holds no usable code; the wait goes on.
    Skipped(&'a SourceError),
}

impl std::fmt::Display for Waiting<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Waiting::ForFile(path) => write!(f, "waiting for {} to appear…", path.display()),
            Waiting::ForImageIn(dir, kind) => {
                write!(f, "waiting for a new image with the {kind} in {}…", dir.display())
            }
            Waiting::ForClipboard(kind) => {
                write!(f, "waiting for the {kind} on the clipboard (copy the screenshot or the token)…")
            }
            Waiting::NotYet(e) => write!(f, "not yet: {e}"),
            Waiting::Skipped(e) => write!(f, "skipping {e}"),
        }
    }
}

/// Waits for a code to appear at `source`: a file that does not exist yet,
/// a file still being written, the first new image in a folder, or the
/// clipboard, holding a code of the expected kind. Gives up at `deadline`
/// (`Ok(None)`). Standard input and a token are read at once.
pub async fn wait_for(
    source: &Source,
    want: Want,
    deadline: Instant,
    report: &mut (dyn FnMut(Waiting<'_>) + Send),
) -> Result<Option<Obtained>, SourceError> {
    match source {
        Source::Stdin | Source::Text(_) => read_now(source, Some(want)).map(Some),
        Source::Clipboard => watch_clipboard(want, deadline, report).await,
        Source::Dir(dir) => watch_dir(dir, want, deadline, report).await,
        Source::File(path) => watch_file(path, want, deadline, report).await,
    }
}

async fn watch_file(
    path: &Path,
    want: Want,
    deadline: Instant,
    report: &mut (dyn FnMut(Waiting<'_>) + Send),
) -> Result<Option<Obtained>, SourceError> {
    let mut announced = false;
    let changes = Changes::watch(path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")));
    while Instant::now() < deadline {
        let exists = std::fs::metadata(path).ok();
        if exists.as_ref().is_some_and(|m| !m.is_file()) {
            // A device or a pipe: there is nothing to wait for, read it now.
            return read_file_by(path, Some(want), deadline).map(Some);
        }
        if exists.is_some() {
            match read_file_by(path, Some(want), deadline) {
                Ok(o) => return Ok(Some(o)),
                Err(e) if still_settling(path, &e) => {}
                Err(e) => return Err(e),
            }
        } else if !announced {
            report(Waiting::ForFile(path));
            announced = true;
        }
        changes.next(deadline).await;
    }
    Ok(None)
}

/// What woke a wait.
#[derive(Debug, PartialEq, Eq)]
enum Wake {
    /// These paths were created, written or renamed.
    Named(Vec<PathBuf>),
    /// Something changed, but which files is not known (an event without
    /// names, the watcher's queue overflowed, too many names at once).
    Unknown,
    /// Nothing was reported before the poll came round.
    Poll,
}

/// Wakes a waiting loop when something changes in a folder, so a code saved
/// there is read at once rather than at the next poll; without a watcher
/// (a folder that does not exist yet, the inotify limit reached) the loop
/// polls every `POLL`.
struct Changes {
    watcher: Option<notify::RecommendedWatcher>,
    changed: Arc<tokio::sync::Notify>,
    reported: Arc<Mutex<Reported>>,
}

#[derive(Default)]
struct Reported {
    paths: HashSet<PathBuf>,
    unknown: bool,
}

/// Whether an event means there may be something new to read. Opening,
/// reading and closing without writing are not changes: the wait's own
/// `read_dir` and scans cause exactly those.
fn is_change(event: &notify::Event) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

impl Changes {
    fn watch(dir: &Path) -> Changes {
        use notify::Watcher;
        let changed = Arc::new(tokio::sync::Notify::new());
        let reported = Arc::new(Mutex::new(Reported::default()));
        let (wake, record) = (changed.clone(), reported.clone());
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            {
                let mut seen = record.lock().unwrap_or_else(|e| e.into_inner());
                match event {
                    Ok(event) if !is_change(&event) => return,
                    Ok(event) if !event.need_rescan() && !event.paths.is_empty() => {
                        if seen.paths.len() + event.paths.len() > MAX_NAMED {
                            seen.unknown = true;
                        } else {
                            seen.paths.extend(event.paths);
                        }
                    }
                    _ => seen.unknown = true,
                }
            }
            wake.notify_one();
        })
        .and_then(|mut watcher| watcher.watch(dir, notify::RecursiveMode::NonRecursive).map(|()| watcher));
        Changes { watcher: watcher.ok(), changed, reported }
    }

    /// Until something changed (a burst of writes counts once), the
    /// safety-net poll, or `deadline`.
    async fn next(&self, deadline: Instant) -> Wake {
        let poll = if self.watcher.is_some() { POLL_WATCHED } else { POLL };
        let wait = poll.min(deadline.saturating_duration_since(Instant::now()));
        tokio::select! {
            _ = self.changed.notified() => {
                // A file being written sends one event per write: let the
                // burst pass before reading.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            _ = tokio::time::sleep(wait) => {}
        }
        let mut seen = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        let seen = std::mem::take(&mut *seen);
        if seen.unknown {
            Wake::Unknown
        } else if seen.paths.is_empty() {
            Wake::Poll
        } else {
            let mut paths: Vec<PathBuf> = seen.paths.into_iter().collect();
            paths.sort();
            Wake::Named(paths)
        }
    }
}

fn still_settling(path: &Path, err: &SourceError) -> bool {
    let recent = std::fs::metadata(path).and_then(|m| m.modified()).is_ok_and(modified_lately);
    let incomplete = match err {
        SourceError::Scan(s) => s.maybe_incomplete() || matches!(s, ScanError::NoCode { .. }),
        _ => false,
    };
    recent && incomplete
}

fn modified_lately(t: SystemTime) -> bool {
    SystemTime::now().duration_since(t).unwrap_or_default() < SETTLE
}

/// Polls the clipboard until it holds the code wanted: what is there when
/// waiting starts (often the code this side showed) is not an error.
async fn watch_clipboard(
    want: Want,
    deadline: Instant,
    report: &mut (dyn FnMut(Waiting<'_>) + Send),
) -> Result<Option<Obtained>, SourceError> {
    report(Waiting::ForClipboard(want.kind));
    let mut last_note = String::new();
    while Instant::now() < deadline {
        match from_clipboard(Some(want)) {
            Ok(o) => return Ok(Some(o)),
            Err(e @ SourceError::Clipboard(_)) => return Err(e),
            Err(e) => {
                let text = e.to_string();
                if text != last_note && !matches!(e, SourceError::ClipboardEmpty) {
                    report(Waiting::NotYet(&e));
                }
                last_note = text;
            }
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(None)
}

/// A folder being watched: which versions of its images were already there
/// or already refused, so only new ones are read.
struct Folder {
    dir: PathBuf,
    /// `dir` from the root: the watcher names what changed that way.
    absolute: PathBuf,
    /// Image name → modification time of the version already seen.
    seen: HashMap<PathBuf, SystemTime>,
    /// New files that could not be read yet because they were still being
    /// written; looked at again on every wake.
    settling: HashSet<PathBuf>,
    /// The folder's own modification time at the last full look: a file
    /// created, removed or renamed in it changes this.
    stamp: Option<SystemTime>,
}

impl Folder {
    fn open(dir: &Path) -> Folder {
        let mut folder = Folder {
            dir: dir.to_path_buf(),
            absolute: std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()),
            seen: HashMap::new(),
            settling: HashSet::new(),
            stamp: None,
        };
        folder.stamp = folder.dir_modified();
        folder.seen = folder.images().collect();
        folder
    }

    fn dir_modified(&self) -> Option<SystemTime> {
        std::fs::metadata(&self.dir).and_then(|m| m.modified()).ok()
    }

    /// Every image-named regular file in the folder, with its modification time.
    fn images(&self) -> impl Iterator<Item = (PathBuf, SystemTime)> {
        std::fs::read_dir(&self.dir).into_iter().flatten().flatten().filter_map(|e| image_version(&e.path()))
    }

    /// The new images among what woke the wait, oldest first.
    fn fresh(&mut self, wake: Wake) -> Vec<(PathBuf, SystemTime)> {
        // By path, so a file both named and settling is looked at once.
        let found: BTreeMap<PathBuf, SystemTime> = match wake {
            Wake::Named(paths) => paths
                .iter()
                .filter(|p| p.parent().is_some_and(|parent| parent == self.absolute || parent == self.dir))
                .filter_map(|p| Some(self.dir.join(p.file_name()?)))
                .chain(self.settling.iter().cloned())
                .filter_map(|p| image_version(&p))
                .collect(),
            Wake::Poll if !self.changed_since_last_look() => {
                self.settling.iter().filter_map(|p| image_version(p)).collect()
            }
            Wake::Unknown | Wake::Poll => {
                self.stamp = self.dir_modified();
                self.images().collect()
            }
        };
        let mut fresh: Vec<(PathBuf, SystemTime)> =
            found.into_iter().filter(|(p, t)| self.seen.get(p) != Some(t)).collect();
        fresh.sort_by_key(|(_, t)| *t);
        fresh
    }

    /// The folder's time changed, or is too recent to tell (a coarse clock,
    /// such as FAT's 2 s, hides a second change in the same tick).
    fn changed_since_last_look(&self) -> bool {
        let now = self.dir_modified();
        now != self.stamp || now.is_some_and(modified_lately)
    }
}

/// `path` and its modification time, if it is a regular file named like an
/// image or a token file (hidden files are a tool's temporaries).
fn image_version(path: &Path) -> Option<(PathBuf, SystemTime)> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    let (_, ext) = name.rsplit_once('.')?;
    if name.starts_with('.') || !IMAGE_EXTENSIONS.contains(&ext) {
        return None;
    }
    let meta = std::fs::metadata(path).ok()?;
    meta.is_file().then(|| (path.to_path_buf(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)))
}

async fn watch_dir(
    dir: &Path,
    want: Want,
    deadline: Instant,
    report: &mut (dyn FnMut(Waiting<'_>) + Send),
) -> Result<Option<Obtained>, SourceError> {
    report(Waiting::ForImageIn(dir, want.kind));
    let changes = Changes::watch(dir);
    let mut folder = Folder::open(dir);
    let mut wake = Wake::Poll;
    while Instant::now() < deadline {
        for (path, modified) in folder.fresh(wake) {
            if Instant::now() >= deadline {
                break;
            }
            match read_file_by(&path, Some(want), deadline) {
                Ok(o) => return Ok(Some(o)),
                Err(e) if still_settling(&path, &e) => {
                    folder.settling.insert(path);
                }
                Err(e) => {
                    report(Waiting::Skipped(&e));
                    folder.settling.remove(&path);
                    folder.seen.insert(path, modified);
                }
            }
        }
        wake = changes.next(deadline).await;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_saved_in_a_watched_folder_wakes_the_wait_before_any_poll() {
        let dir = tempfile::tempdir().unwrap();
        let changes = Changes::watch(dir.path());
        assert!(changes.watcher.is_some(), "no watcher on a plain temporary folder");
        let far = Instant::now() + Duration::from_secs(3600);
        let target = dir.path().join("answer.png");
        let writer = tokio::task::spawn_blocking({
            let target = target.clone();
            move || {
                std::thread::sleep(Duration::from_millis(50));
                // As qrpair writes its PNGs: a temporary name, then a rename.
                let temporary = target.with_extension("part");
                std::fs::write(&temporary, b"\x89PNG").unwrap();
                std::fs::rename(&temporary, &target).unwrap();
            }
        });
        // Woken by the change, not by the one-second safety net, and told
        // which file it was.
        let started = Instant::now();
        let mut named = Vec::new();
        while started.elapsed() < POLL_WATCHED {
            match changes.next(far).await {
                Wake::Named(paths) => named.extend(paths),
                other => panic!("woken by {other:?}, not by the change"),
            }
            if named.contains(&target) {
                break;
            }
        }
        assert!(named.contains(&target), "{named:?}");
        writer.await.unwrap();
    }

    /// The wait's own look at the folder must not wake it: that was a
    /// busy loop, rescanning the folder as fast as it could.
    #[tokio::test]
    async fn reading_the_folder_and_its_files_does_not_wake_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..20 {
            std::fs::write(dir.path().join(format!("photo {i}.png")), b"\x89PNG not really").unwrap();
        }
        let changes = Changes::watch(dir.path());
        assert!(changes.watcher.is_some(), "no watcher on a plain temporary folder");
        let folder = Folder::open(dir.path());
        assert_eq!(folder.seen.len(), 20);
        for (path, _) in folder.images() {
            let _ = std::fs::read(path).unwrap();
        }
        assert_eq!(changes.next(Instant::now() + Duration::from_secs(3600)).await, Wake::Poll);
    }

    #[tokio::test]
    async fn only_new_versions_of_images_in_the_folder_itself_are_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.png");
        std::fs::write(&old, b"x").unwrap();
        let mut folder = Folder::open(dir.path());
        let new = dir.path().join("new.png");
        std::fs::write(&new, b"x").unwrap();
        std::fs::write(dir.path().join("notes.pdf"), b"x").unwrap();
        std::fs::write(dir.path().join(".hidden.png"), b"x").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/deeper.png"), b"x").unwrap();
        let named: Vec<PathBuf> = ["old.png", "new.png", "notes.pdf", ".hidden.png", "sub/deeper.png"]
            .iter()
            .map(|n| dir.path().join(n))
            .collect();
        let fresh: Vec<PathBuf> = folder.fresh(Wake::Named(named)).into_iter().map(|(p, _)| p).collect();
        assert_eq!(fresh, vec![new.clone()]);
        let unknown: Vec<PathBuf> = folder.fresh(Wake::Unknown).into_iter().map(|(p, _)| p).collect();
        assert_eq!(unknown, vec![new]);
        // A file overwritten in place is a new version.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&old, b"changed").unwrap();
        let rewritten: Vec<PathBuf> =
            folder.fresh(Wake::Named(vec![old.clone()])).into_iter().map(|(p, _)| p).collect();
        assert_eq!(rewritten, vec![old]);
    }

    /// The watcher names files from the root; a folder given as a relative
    /// path (`--answer shots`) must still see them, under the name given.
    #[tokio::test]
    async fn a_folder_given_as_a_relative_path_sees_what_the_watcher_names() {
        let dir = tempfile::Builder::new().prefix(".qrpair-watch-test").tempdir_in(".").unwrap();
        let relative = PathBuf::from(".").join(dir.path().file_name().unwrap());
        let mut folder = Folder::open(&relative);
        std::fs::write(relative.join("new.png"), b"x").unwrap();
        let named = vec![std::env::current_dir().unwrap().join(&relative).join("new.png")];
        let fresh: Vec<PathBuf> = folder.fresh(Wake::Named(named)).into_iter().map(|(p, _)| p).collect();
        assert_eq!(fresh, vec![relative.join("new.png")]);
    }

    #[tokio::test]
    async fn a_folder_that_does_not_exist_falls_back_to_polling() {
        let dir = tempfile::tempdir().unwrap();
        let changes = Changes::watch(&dir.path().join("not yet"));
        assert!(changes.watcher.is_none());
        let started = Instant::now();
        assert_eq!(changes.next(Instant::now() + Duration::from_secs(3600)).await, Wake::Poll);
        assert!(started.elapsed() < POLL_WATCHED, "polled at the unwatched rate");
    }

    /// Waiting is reported to the caller, never printed: a folder watched,
    /// an image in it that holds no code skipped (with why), then the code.
    #[tokio::test]
    async fn a_folder_wait_reports_what_it_skips_and_finds_the_code() {
        let dir = tempfile::tempdir().unwrap();
        let sdp = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sdp/qrpair_offer_3cands.sdp"))
            .unwrap();
        let offer = crate::signal::encode(Kind::Offer, &sdp, None);
        let token = crate::signal::encode_token(&offer);
        let source = Source::Dir(dir.path().to_path_buf());
        let writer = std::thread::spawn({
            let dir = dir.path().to_path_buf();
            move || {
                std::thread::sleep(Duration::from_millis(100));
                // Copied in with its old time kept (cp -p): not a file still
                // being written, so it is read once and skipped.
                std::fs::write(dir.join("cat.png"), b"\x89PNG not a picture").unwrap();
                let old = SystemTime::now() - Duration::from_secs(60);
                std::fs::File::options().write(true).open(dir.join("cat.png")).unwrap().set_modified(old).unwrap();
                std::thread::sleep(Duration::from_millis(100));
                std::fs::write(dir.join("offer.txt"), token).unwrap();
            }
        });
        let mut heard = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        let found = wait_for(&source, Want::offer(), deadline, &mut |w| heard.push(w.to_string())).await;
        writer.join().unwrap();
        let found = found.unwrap().expect("the offer saved in the folder");
        assert_eq!(found.raw, offer);
        assert_eq!(heard[0], format!("waiting for a new image with the offer in {}…", dir.path().display()));
        assert!(heard.iter().any(|h| h.starts_with("skipping ") && h.contains("cat.png")), "{heard:?}");
        assert_eq!(heard.len(), 2, "{heard:?}");
    }
}
