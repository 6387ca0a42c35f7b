use super::{io, Entry, Event, TransferError};
use crate::session::names;
use crate::session::names::NameError;
use std::path::{Path, PathBuf};

/// Lists files and folders under each path; names are relative to the
/// path's parent, so `--send photos` arrives as `photos/...`. A path given
/// on the command line is followed if it is a symbolic link (as `cp -r`
/// does); links met inside a folder are skipped with a note. Everything the
/// receiver would refuse is refused here, naming the path, before pairing.
pub fn build_manifest(paths: &[PathBuf]) -> Result<(Vec<Entry>, Vec<PathBuf>), TransferError> {
    collect(paths, &mut |_| {})
}

/// Checks what `--send` was given, before any QR is shown: the same walk
/// as the transfer's; `note` hears what will be skipped (links, devices).
pub fn check_sources(paths: &[PathBuf], note: &mut dyn FnMut(&str)) -> Result<(), TransferError> {
    collect(paths, note).map(|_| ())
}

pub(super) fn collect(
    paths: &[PathBuf],
    note: &mut dyn FnMut(&str),
) -> Result<(Vec<Entry>, Vec<PathBuf>), TransferError> {
    let mut entries = Vec::new();
    let mut sources = Vec::new();
    let mut name_bytes = 0usize;
    let shown = |p: &Path| crate::text::printable(&p.display().to_string());
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
                    crate::text::printable(&name)
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
    // This disk may tell `A.txt` from `a.txt`; the receiver's may not, and
    // it refuses such a list whole: say so now, not after pairing.
    if let Err(clash) = names::check_clashes(entries.iter().map(|e| (e.path.as_str(), e.dir))) {
        return Err(TransferError::BadSource(format!("cannot send these together: {clash}")));
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
    let relative = entries.iter().map(|e| names::sanitize(&e.path)).collect::<Result<Vec<_>, _>>()?;
    names::check_clashes(entries.iter().map(|e| (e.path.as_str(), e.dir)))?;
    Ok(relative)
}

pub(super) fn manifest_event(entries: &[Entry]) -> Event {
    let files = entries.iter().filter(|e| !e.dir).count();
    let bytes = entries.iter().fold(0u64, |total, e| total.saturating_add(e.size));
    Event::Manifest { files, folders: entries.len() - files, bytes }
}

/// Which file this is on our disk, for the receiver's resume record.
pub(super) fn source_identity(meta: &std::fs::Metadata) -> String {
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
