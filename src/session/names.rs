//! File names from the wire. A manifest is written by the other machine,
//! so every name is checked before anything touches the disk: relative,
//! no `..`, no empty or dot components, no control or escape characters,
//! bounded lengths, nothing that draws blank. A manifest with one bad name
//! is refused whole, and so is one whose names clash on some disk: two
//! that one case- or normalisation-insensitive disk (macOS, Windows, a
//! FAT or exFAT stick) stores as one, or a file that another entry needs
//! to be a folder.

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
    #[error("the names {0:?} and {1:?} differ only in case or in how accents are encoded: on macOS, Windows or a USB stick they are one file, so one would overwrite the other; rename one of them")]
    SameOnSomeDisks(String, String),
    #[error("{0:?} is a file, but {1:?} needs it to be a folder")]
    FileAndFolder(String, String),
    #[error("the name \"{0}\" holds a run of {1} spaces, enough to push the end of the name out of view")]
    LongBlank(String, usize),
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
    let mut before = None;
    if name.chars().any(|c| crate::text::is_invisible_after(before.replace(c), c)) {
        let shown: String = crate::text::printable(name).chars().take(160).collect();
        return Err(NameError::Invisible(shown));
    }
    if let Some(run) = longest_blank_run(name).filter(|&run| run > MAX_BLANK_RUN) {
        let shown: String = crate::text::printable(name).chars().take(160).collect();
        return Err(NameError::LongBlank(shown, run));
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

/// `report.pdf` and forty spaces then `.exe` shows as `report.pdf` in
/// most file dialogs. Four spaces in a row still pass: people do type
/// them, and they hide nothing.
pub const MAX_BLANK_RUN: usize = 4;

fn longest_blank_run(name: &str) -> Option<usize> {
    let mut run = 0;
    let mut longest = 0;
    for c in name.chars() {
        run = if crate::text::is_white_space(c) { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    (longest > 0).then_some(longest)
}

/// What a name becomes on a disk that ignores case and Unicode
/// normalisation: NFC, full case folding, NFC again (folding can undo a
/// composition). Two names with the same key are one file there.
pub fn fold_key(name: &str) -> String {
    let nfc = icu_normalizer::ComposingNormalizerBorrowed::new_nfc();
    let composed = nfc.normalize(name);
    let folded = icu_casemap::CaseMapper::new().fold_string(&composed).into_owned();
    nfc.normalize(&folded).into_owned()
}

/// Refuses a list of names (each already through `sanitize`) that would
/// collide on some disk: the same name twice, two names with one
/// `fold_key`, or a file with something under it (`x` and `x/y`). Every
/// receiving disk then sees the same verdict, before anything is written.
pub fn check_clashes<'a>(names: impl Iterator<Item = (&'a str, bool)>) -> Result<(), NameError> {
    let mut keyed: Vec<(String, &str, bool)> = names.map(|(name, dir)| (fold_key(name), name, dir)).collect();
    // Part by part, so everything under `x/` sorts right after `x` (and
    // before `x-a`, which plain byte order would put between them).
    keyed.sort_by(|a, b| a.0.split('/').cmp(b.0.split('/')));
    for pair in keyed.windows(2) {
        let ((key, name, dir), (next_key, next_name, _)) = (&pair[0], &pair[1]);
        if key == next_key {
            return Err(if name == next_name {
                NameError::Duplicate(name.to_string())
            } else {
                NameError::SameOnSomeDisks(name.to_string(), next_name.to_string())
            });
        }
        if !dir
            && next_key.len() > key.len()
            && next_key.starts_with(key.as_str())
            && next_key.as_bytes()[key.len()] == b'/'
        {
            return Err(NameError::FileAndFolder(name.to_string(), next_name.to_string()));
        }
    }
    Ok(())
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

    /// Issue 21: these passed the old list and were written as they came.
    #[test]
    fn names_that_draw_blank_are_refused() {
        for c in ['\u{3164}', '\u{2800}', '\u{034f}', '\u{fe00}', '\u{115f}', '\u{1160}', '\u{ffa0}'] {
            let name = format!("invoice{c}{c}.pdf{c}{c}.exe");
            assert!(matches!(sanitize(&name), Err(NameError::Invisible(_))), "{c:?}");
        }
        let padded = format!("report.pdf{}.exe", " ".repeat(40));
        let refused = sanitize(&padded).unwrap_err();
        assert!(matches!(refused, NameError::LongBlank(_, 40)), "{refused:?}");
        let em_spaces = format!("report.pdf{}.exe", "\u{2003}".repeat(10));
        assert!(matches!(sanitize(&em_spaces), Err(NameError::LongBlank(_, 10))));
        // What people really type still passes: a few spaces, a no-break
        // space, macOS's U+202F in screenshot names, an emoji with its selector.
        for fine in [
            "a    b.txt",
            "Screenshot 2026-12-06 at 10.00.00\u{202f}AM.png",
            "caf\u{e9} \u{a0}menu.pdf",
            "\u{2764}\u{fe0f}.txt",
        ] {
            assert!(sanitize(fine).is_ok(), "{fine:?}");
        }
    }

    #[test]
    fn names_one_disk_would_store_as_one_clash() {
        let clash = |names: &[(&str, bool)]| check_clashes(names.iter().copied());
        assert_eq!(
            clash(&[("A.txt", false), ("a.txt", false)]),
            Err(NameError::SameOnSomeDisks("A.txt".into(), "a.txt".into()))
        );
        // Composed é (U+00E9) and e + U+0301.
        assert!(matches!(clash(&[("caf\u{e9}", false), ("cafe\u{301}", false)]), Err(NameError::SameOnSomeDisks(..))));
        assert!(matches!(clash(&[("Stra\u{df}e", false), ("STRASSE", false)]), Err(NameError::SameOnSomeDisks(..))));
        assert!(matches!(clash(&[("d/x", false), ("D", true), ("d/X", false)]), Err(NameError::SameOnSomeDisks(..))));
        assert_eq!(clash(&[("x", false), ("x", false)]), Err(NameError::Duplicate("x".into())));
        assert_eq!(
            clash(&[("x", false), ("x-a", false), ("x/y", false)]),
            Err(NameError::FileAndFolder("x".into(), "x/y".into()))
        );
        assert_eq!(clash(&[("x", false), ("X/y/z", false)]), Err(NameError::FileAndFolder("x".into(), "X/y/z".into())));
        assert!(clash(&[("x", true), ("x-a", false), ("x/y", false), ("x.txt", false), ("y", false)]).is_ok());
    }
}
