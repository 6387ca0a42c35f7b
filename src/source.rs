//! Where a code comes from: an image file, a file holding a token, a pasted
//! token, or a folder where a screenshot will appear. Turns any of them into
//! a checked payload of the expected kind.

use crate::qr::{self, Found, ScanError};
use crate::signal::{self, Kind, Payload};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

const POLL: Duration = Duration::from_millis(200);
/// A file modified this recently may still be being written by the tool
/// that makes it; a read that fails is retried instead of reported.
const SETTLE: Duration = Duration::from_secs(2);
/// Files this large cannot hold a token; they are read as images only.
const MAX_TOKEN_FILE: u64 = 16 * 1024;
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "webp", "gif", "bmp", "txt"];

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error("{what}: {source}")]
    Signal { what: String, source: signal::Error },
    #[error("{what}: {source}")]
    Token {
        what: String,
        source: signal::TokenError,
    },
    #[error("{0} does not exist, and is not a qrpair token (tokens start with `{p}`)", p = signal::TOKEN_PREFIX)]
    Missing(String),
}

/// A payload, where it came from, and the QR it was read from (if any).
#[derive(Debug, Clone)]
pub struct Obtained {
    pub payload: Payload,
    pub raw: Vec<u8>,
    pub origin: String,
    pub qr: Option<(u8, qr::EcLevel)>,
}

/// The raw bytes of every code in a source, for `decode` (any QR, not only
/// ours). A token yields its payload bytes and no QR metadata.
pub fn read_raw(spec: &str) -> Result<Vec<(Vec<u8>, Option<(u8, qr::EcLevel)>)>, SourceError> {
    if signal::looks_like_token(spec) {
        let bytes = signal::decode_token(spec).map_err(|source| SourceError::Token {
            what: "token".into(),
            source,
        })?;
        return Ok(vec![(bytes, None)]);
    }
    let path = Path::new(spec);
    if !path.exists() {
        return Err(SourceError::Missing(spec.to_string()));
    }
    if let Some(token) = token_in_file(path) {
        let bytes = signal::decode_token(&token).map_err(|source| SourceError::Token {
            what: path.display().to_string(),
            source,
        })?;
        return Ok(vec![(bytes, None)]);
    }
    let found = qr::scan_path(path)?;
    Ok(found
        .into_iter()
        .map(|f| (f.bytes, Some((f.version, f.ec))))
        .collect())
}

/// Reads a source that must exist now (the answerer's offer, `decode`).
pub fn read_now(spec: &str, expected: Option<Kind>) -> Result<Obtained, SourceError> {
    if signal::looks_like_token(spec) {
        return from_token(spec, "token", expected);
    }
    let path = Path::new(spec);
    if !path.exists() {
        return Err(SourceError::Missing(spec.to_string()));
    }
    read_file(path, expected)
}

fn from_token(text: &str, what: &str, expected: Option<Kind>) -> Result<Obtained, SourceError> {
    let raw = signal::decode_token(text).map_err(|source| SourceError::Token {
        what: what.into(),
        source,
    })?;
    let payload = check(&raw, what, expected)?;
    Ok(Obtained {
        payload,
        raw,
        origin: what.to_string(),
        qr: None,
    })
}

fn check(raw: &[u8], what: &str, expected: Option<Kind>) -> Result<Payload, SourceError> {
    let result = match expected {
        Some(kind) => signal::decode_expecting(raw, kind),
        None => signal::decode(raw),
    };
    result.map_err(|source| SourceError::Signal {
        what: what.to_string(),
        source,
    })
}

fn token_in_file(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_TOKEN_FILE {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    signal::looks_like_token(&text).then_some(text)
}

/// An image (or a text file holding a token). With several codes in the
/// picture, the first that is a qrpair payload of the expected kind wins;
/// failing that, the most telling error.
pub fn read_file(path: &Path, expected: Option<Kind>) -> Result<Obtained, SourceError> {
    let what = path.display().to_string();
    if let Some(token) = token_in_file(path) {
        return from_token(&token, &what, expected);
    }
    let found = qr::scan_path(path)?;
    pick(found, &what, expected)
}

fn pick(found: Vec<Found>, what: &str, expected: Option<Kind>) -> Result<Obtained, SourceError> {
    let mut first_error = None;
    let mut wrong_kind = None;
    for f in found {
        match check(&f.bytes, what, expected) {
            Ok(payload) => {
                return Ok(Obtained {
                    payload,
                    raw: f.bytes,
                    origin: what.to_string(),
                    qr: Some((f.version, f.ec)),
                })
            }
            Err(
                e @ SourceError::Signal {
                    source: signal::Error::WrongKind { .. },
                    ..
                },
            ) => {
                wrong_kind.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(wrong_kind.or(first_error).unwrap_or_else(|| {
        ScanError::NoCode {
            what: what.to_string(),
        }
        .into()
    }))
}

/// Waits for a code to appear at `spec`: a file that does not exist yet, a
/// file still being written, or (for a folder) the first new image in it
/// that holds a code of the expected kind. Gives up at `deadline`.
pub async fn wait_for(
    spec: &str,
    expected: Kind,
    deadline: Instant,
) -> Result<Option<Obtained>, SourceError> {
    if signal::looks_like_token(spec) {
        return from_token(spec, "token", Some(expected)).map(Some);
    }
    let path = PathBuf::from(spec);
    if path.is_dir() {
        return watch_dir(&path, expected, deadline).await;
    }
    let mut announced = false;
    while Instant::now() < deadline {
        if path.is_file() {
            match read_file(&path, Some(expected)) {
                Ok(o) => return Ok(Some(o)),
                Err(e) if still_settling(&path, &e) => {}
                Err(e) => return Err(e),
            }
        } else if !announced {
            crate::ui::note(&format!("waiting for {} to appear…", path.display()));
            announced = true;
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(None)
}

fn still_settling(path: &Path, err: &SourceError) -> bool {
    let recent = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(|t| SystemTime::now().duration_since(t).unwrap_or_default() < SETTLE)
        .unwrap_or(false);
    let incomplete = match err {
        SourceError::Scan(s) => s.maybe_incomplete() || matches!(s, ScanError::NoCode { .. }),
        _ => false,
    };
    recent && incomplete
}

async fn watch_dir(
    dir: &Path,
    expected: Kind,
    deadline: Instant,
) -> Result<Option<Obtained>, SourceError> {
    crate::ui::note(&format!(
        "waiting for a new image with the {expected} in {}…",
        dir.display()
    ));
    let before = snapshot(dir);
    let mut rejected: HashMap<PathBuf, SystemTime> = HashMap::new();
    while Instant::now() < deadline {
        let mut fresh: Vec<(PathBuf, SystemTime)> = snapshot(dir)
            .into_iter()
            .filter(|(p, t)| before.get(p) != Some(t) && rejected.get(p) != Some(t))
            .collect();
        fresh.sort_by_key(|(_, t)| *t);
        for (path, modified) in fresh {
            match read_file(&path, Some(expected)) {
                Ok(o) => return Ok(Some(o)),
                Err(e) if still_settling(&path, &e) => {}
                Err(e) => {
                    crate::ui::note(&format!(
                        "skipping {}",
                        crate::ui::printable(&e.to_string())
                    ));
                    rejected.insert(path, modified);
                }
            }
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(None)
}

fn snapshot(dir: &Path) -> HashMap<PathBuf, SystemTime> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return HashMap::new();
    };
    entries
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().to_ascii_lowercase();
            !name.starts_with('.')
                && name
                    .rsplit_once('.')
                    .is_some_and(|(_, ext)| IMAGE_EXTENSIONS.contains(&ext))
        })
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            meta.is_file()
                .then(|| (e.path(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)))
        })
        .collect()
}
