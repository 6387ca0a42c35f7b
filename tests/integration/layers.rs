//! The layering of docs/ARCHITECTURE.md, checked: each module of the
//! library uses only modules below it, so no import runs back up.

use std::collections::BTreeSet;
use std::path::Path;

/// Top to bottom, as in docs/ARCHITECTURE.md.
const LAYERS: &[&str] =
    &["cli", "fuzzing", "pairing", "error", "source", "ui", "session", "peer", "qr", "signal", "text", "files", "sys"];

/// Every `crate::NAME` a source file mentions (in paths and in
/// `use crate::{a, b::c}` groups), `Error` and `exit` counting as `error`.
fn used_modules(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            top_level_items(group)
        } else {
            vec![rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("")]
        };
        for name in names {
            let module = match name {
                "Error" | "exit" => "error",
                other => other,
            };
            if !module.is_empty() {
                used.insert(module.to_string());
            }
        }
    }
    used
}

/// The first path segment of each item of a `{…}` group, nested groups
/// skipped: `qr::{self}, text}` gives `qr`, `text`.
fn top_level_items(group: &str) -> Vec<&str> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.into_iter().map(|item| item.trim().split("::").next().unwrap_or("").trim()).collect()
}

fn sources_of(module: &str) -> Vec<std::path::PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let single = src.join(format!("{module}.rs"));
    if single.exists() {
        files.push(single);
    }
    let mut folders = vec![src.join(module)];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn no_module_uses_one_above_it() {
    let mut violations = Vec::new();
    for (level, module) in LAYERS.iter().enumerate() {
        let files = sources_of(module);
        assert!(!files.is_empty(), "no source for module {module}: update LAYERS and docs/ARCHITECTURE.md");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for used in used_modules(&text) {
                match LAYERS.iter().position(|m| *m == used) {
                    Some(other) if other <= level && used != *module => {
                        violations.push(format!("{} uses crate::{used}", file.display()))
                    }
                    Some(_) => {}
                    None => {
                        violations.push(format!("{} uses crate::{used}, which LAYERS does not place", file.display()))
                    }
                }
            }
        }
    }
    assert!(violations.is_empty(), "imports that run back up:\n{}", violations.join("\n"));
}

#[test]
fn every_library_module_has_a_place() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    for line in lib.lines() {
        let declared = line.trim().trim_start_matches("pub ").strip_prefix("mod ").map(|m| m.trim_end_matches(';'));
        if let Some(module) = declared {
            assert!(LAYERS.contains(&module), "module {module} is missing from LAYERS (and docs/ARCHITECTURE.md)");
        }
    }
}

#[test]
fn the_checker_sees_grouped_and_plain_paths() {
    let seen =
        used_modules("use crate::{ui, Error};\nlet x = crate::signal::decode(b);\nuse crate::{qr::{self}, text};");
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["error", "qr", "signal", "text", "ui"]);
}

/// `unsafe` is denied crate-wide (lib.rs, main.rs) and allowed in `sys`
/// alone; no other file may lift the denial or hold an unsafe block.
#[test]
fn unsafe_code_lives_in_sys_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for root in ["lib.rs", "main.rs"] {
        let text = std::fs::read_to_string(src.join(root)).unwrap();
        assert!(text.contains("#![deny(unsafe_code)]"), "src/{root} must deny unsafe code");
    }
    let mut stack = vec![src.clone()];
    let mut offenders = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && path != src.join("sys.rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let code: String =
                    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
                if ["unsafe {", "unsafe fn", "unsafe impl", "allow(unsafe_code)"].iter().any(|u| code.contains(u)) {
                    offenders.push(path.display().to_string());
                }
            }
        }
    }
    assert!(offenders.is_empty(), "unsafe outside src/sys.rs: {offenders:?}");
}
