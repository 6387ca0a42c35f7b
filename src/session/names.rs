//! File names from the wire. A manifest is written by the other machine,
//! so every name is checked before anything touches the disk: relative,
//! no `..`, no empty or dot components, no control or escape characters,
//! bounded lengths. A manifest with one bad name is refused whole.

use std::path::PathBuf;

pub const MAX_ENTRIES: usize = 100_000;
pub const MAX_PATH_BYTES: usize = 4096;
pub const MAX_COMPONENT_BYTES: usize = 255;
/// All the names of one manifest together: what the receiver holds in
/// memory for them is bounded by this, not by 100 000 × 4096.
pub const MAX_NAME_BYTES: usize = 32 << 20;
/// A file being received is written under its name plus this, with its
/// record (which sender's file it is) under its name plus `RECORD_SUFFIX`.
/// No name in a manifest may end like either.
pub const PARTIAL_SUFFIX: &str = ".qrpair.part";
pub const RECORD_SUFFIX: &str = ".qrpair.part.id";

/// True for the names qrpair keeps for its own partial files.
pub fn is_reserved(file_name: &str) -> bool {
    file_name.ends_with(PARTIAL_SUFFIX) || file_name.ends_with(RECORD_SUFFIX)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the manifest lists {0} entries, more than the {MAX_ENTRIES} qrpair accepts")]
    TooMany(usize),
    #[error("the name {0:?} is absolute; only names inside the receiving folder are accepted")]
    Absolute(String),
    #[error("the name {0:?} climbs out of the receiving folder with `..`")]
    Climbs(String),
    #[error("the name {0:?} has an empty or `.` part")]
    EmptyPart(String),
    #[error("the name {0:?} holds control or escape characters")]
    Control(String),
    #[error("the name \"{0}\" holds invisible or direction-changing characters (shown as \\u{{…}})")]
    Invisible(String),
    #[error("the name {0:?} is too long")]
    TooLong(String),
    #[error("the name {0:?} appears twice in the manifest")]
    Duplicate(String),
    #[error("the manifest's sizes add up to more than any disk holds")]
    TotalTooLarge,
    #[error("the name {0:?} ends like qrpair's own partial files ({PARTIAL_SUFFIX}, {RECORD_SUFFIX})")]
    Reserved(String),
    #[error("the manifest's names add up to more than {} MiB", MAX_NAME_BYTES >> 20)]
    NamesTooLong,
}

/// The relative path a wire name stands for, or why it is refused. Names
/// use `/` between parts on the wire, whatever the sending system.
pub fn sanitize(name: &str) -> Result<PathBuf, NameError> {
    let shown: String = name.chars().take(80).map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect();
    if name.len() > MAX_PATH_BYTES {
        return Err(NameError::TooLong(shown));
    }
    if name.chars().any(|c| c.is_control() || c == '\u{1b}') {
        return Err(NameError::Control(shown));
    }
    // `invoice_\u{202e}fdp.exe` would be shown as `invoice_exe.pdf`.
    if name.chars().any(crate::text::is_invisible) {
        let shown: String = crate::text::printable(name).chars().take(160).collect();
        return Err(NameError::Invisible(shown));
    }
    if name.starts_with('/') || name.starts_with('\\') || name.get(1..2) == Some(":") {
        return Err(NameError::Absolute(shown));
    }
    let mut path = PathBuf::new();
    for part in name.split('/') {
        match part {
            ".." => return Err(NameError::Climbs(shown)),
            "" | "." => return Err(NameError::EmptyPart(shown)),
            p if p.contains('\\') => return Err(NameError::Climbs(shown)),
            p if p.len() > MAX_COMPONENT_BYTES => return Err(NameError::TooLong(shown)),
            p if is_reserved(p) => return Err(NameError::Reserved(shown)),
            p => path.push(p),
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass() {
        assert_eq!(sanitize("a/b c/naïve ✓.txt").unwrap(), PathBuf::from("a").join("b c").join("naïve ✓.txt"));
        assert_eq!(sanitize(".hidden").unwrap(), PathBuf::from(".hidden"));
    }

    #[test]
    fn hostile_names_are_refused() {
        assert!(matches!(sanitize("../escape"), Err(NameError::Climbs(_))));
        assert!(matches!(sanitize("a/../../b"), Err(NameError::Climbs(_))));
        assert!(matches!(sanitize("/etc/passwd"), Err(NameError::Absolute(_))));
        assert!(matches!(sanitize("C:\\Windows"), Err(NameError::Absolute(_))));
        assert!(matches!(sanitize("a\\..\\b"), Err(NameError::Climbs(_))));
        assert!(matches!(sanitize("a//b"), Err(NameError::EmptyPart(_))));
        assert!(matches!(sanitize("a/./b"), Err(NameError::EmptyPart(_))));
        assert!(matches!(sanitize(""), Err(NameError::EmptyPart(_))));
        assert!(matches!(sanitize("evil\u{1b}[31m.txt"), Err(NameError::Control(_))));
        assert!(matches!(sanitize("line\nbreak"), Err(NameError::Control(_))));
        assert!(matches!(sanitize(&"x".repeat(300)), Err(NameError::TooLong(_))));
        assert!(matches!(sanitize(&"d/".repeat(3000)), Err(NameError::TooLong(_))));
        assert!(matches!(sanitize("a/b.txt.qrpair.part"), Err(NameError::Reserved(_))));
        assert!(matches!(sanitize("b.txt.qrpair.part.id"), Err(NameError::Reserved(_))));
        assert!(sanitize("b.txt.part").is_ok());
        let rlo = sanitize("invoice_\u{202e}fdp.exe").unwrap_err();
        assert_eq!(
            rlo.to_string(),
            "the name \"invoice_\\u{202e}fdp.exe\" holds invisible or direction-changing characters (shown as \\u{…})"
        );
        for c in ['\u{200b}', '\u{2028}', '\u{2029}', '\u{2066}', '\u{feff}', '\u{e0041}'] {
            assert!(matches!(sanitize(&format!("a{c}b")), Err(NameError::Invisible(_))), "{c:?}");
        }
    }
}
