//! What a person reads, held to snapshots in `fixtures/snapshots/`: the
//! help of every command, `decode` of a fixed code, and README's exit-code
//! table and synopsis against what the binary and `qrpair::exit` say. A
//! change to any of them fails here until the snapshot is accepted on
//! purpose:
//!
//!     QRPAIR_BLESS=1 cargo test --release --test integration snapshots::

use crate::common::Sandbox;
use std::path::PathBuf;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

fn snapshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/snapshots").join(name)
}

/// Compares `actual` with the snapshot `name`, or writes it under QRPAIR_BLESS.
fn matches_snapshot(name: &str, actual: &str) -> Result<(), String> {
    let path = snapshot_path(name);
    if std::env::var_os("QRPAIR_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return Ok(());
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected == actual {
        return Ok(());
    }
    let first = expected.lines().zip(actual.lines()).position(|(e, a)| e != a).unwrap_or(0);
    Err(format!(
        "{name} differs from fixtures/snapshots/{name} at line {}:\n  snapshot: {:?}\n  now:      {:?}\n\
         If the change is meant, accept it: QRPAIR_BLESS=1 cargo test --release --test integration snapshots::",
        first + 1,
        expected.lines().nth(first).unwrap_or("(end)"),
        actual.lines().nth(first).unwrap_or("(end)"),
    ))
}

fn stdout_of(sb: &Sandbox, args: &[&str]) -> String {
    let run = sb.run(args, b"", LIMIT);
    assert_eq!(run.code(), 0, "qrpair {args:?}: {}", run.stderr);
    String::from_utf8(run.stdout).unwrap()
}

#[test]
fn every_command_s_help_matches_its_snapshot() {
    let sb = Sandbox::new();
    let mut differences = Vec::new();
    for command in ["", "offer", "answer", "decode", "encode", "demo", "completions", "man"] {
        let args: Vec<&str> = command.split_whitespace().chain(["--help"]).collect();
        let name = format!("help-{}.txt", if command.is_empty() { "qrpair" } else { command });
        if let Err(e) = matches_snapshot(&name, &stdout_of(&sb, &args)) {
            differences.push(e);
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n\n"));
}

#[test]
fn decode_of_a_fixed_code_matches_its_snapshot() {
    let sb = Sandbox::new();
    let picture = format!("{}/fixtures/screenshots/1080p-answer.png", env!("CARGO_MANIFEST_DIR"));
    let human = stdout_of(&sb, &["decode", &picture]).replace(env!("CARGO_MANIFEST_DIR"), "$ROOT");
    let json = stdout_of(&sb, &["decode", "--json", &picture]).replace(env!("CARGO_MANIFEST_DIR"), "$ROOT");
    let results =
        [matches_snapshot("decode-1080p-answer.txt", &human), matches_snapshot("decode-1080p-answer.json", &json)];
    let differences: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(differences.is_empty(), "{}", differences.join("\n\n"));
}

/// The section of README.md under `heading`, up to the next heading.
fn readme_section(heading: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find(heading).unwrap_or_else(|| panic!("README.md has no {heading:?}"));
    let rest = &readme[start + heading.len()..];
    rest[..rest.find("\n## ").unwrap_or(rest.len())].to_string()
}

#[test]
fn readme_s_exit_codes_are_the_ones_qrpair_uses() {
    let table = readme_section("## Exit codes");
    let documented: Vec<i32> =
        table.lines().filter_map(|line| line.strip_prefix("| ")?.split(" |").next()?.trim().parse().ok()).collect();
    use qrpair::exit;
    let used = [exit::OK, exit::OTHER, exit::USAGE, exit::BAD_INPUT, exit::CONNECTION, exit::INTERRUPTED];
    assert_eq!(documented, used, "README.md's exit-code table against qrpair::exit:\n{table}");
}

#[test]
fn readme_s_synopsis_names_every_command() {
    let sb = Sandbox::new();
    let help = stdout_of(&sb, &["--help"]);
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 6, "no commands found in:\n{help}");
    let synopsis = readme_section("## Commands");
    for command in commands {
        assert!(
            synopsis.contains(&format!("qrpair {command}")),
            "README's synopsis lacks `qrpair {command}`:\n{synopsis}"
        );
    }
}
