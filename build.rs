//! The version `qrpair --version` prints: the package's, and the commit it
//! was built from when built from a git checkout.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let version = match commit {
        Some(commit) => format!("{} (commit {commit})", env!("CARGO_PKG_VERSION")),
        None => env!("CARGO_PKG_VERSION").to_string(),
    };
    println!("cargo:rustc-env=QRPAIR_VERSION={version}");
    // A new commit moves HEAD or the branch it names. Asking git where
    // those live also covers worktrees, whose `.git` is a file.
    for name in ["HEAD", "refs/heads", "packed-refs"] {
        let located = Command::new("git").args(["rev-parse", "--git-path", name]).output().ok();
        if let Some(path) = located.filter(|o| o.status.success()).and_then(|o| String::from_utf8(o.stdout).ok()) {
            let path = path.trim();
            if std::path::Path::new(path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
