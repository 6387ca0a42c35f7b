//! What the person at the terminal sees: the QR block, the token, prompts,
//! and output that is safe to print.

pub mod progress;
pub mod screen;

pub use crate::text::{printable, printable_lines};

use crate::qr::RenderedQr;
use std::io::{BufRead, IsTerminal, Write};

/// Shows a code for the other person: terminal block and token on stderr
/// (stdout carries only channel data), plus where the PNG was written. On a
/// terminal the words sit beside the code so that the whole screen fits
/// (`ui::screen`); elsewhere (a log, a script) one fact per line.
pub fn present_code(
    intro: &CodeIntro<'_>,
    qr: &RenderedQr,
    token: &str,
    png_path: &std::path::Path,
    payload_len: usize,
) {
    let details = format!(
        "QR version {} ({}×{} modules, EC {}), {} bytes, saved to {}",
        qr.version(),
        qr.width(),
        qr.width(),
        qr.ec_level(),
        payload_len,
        png_path.display()
    );
    let mut err = std::io::stderr().lock();
    let Some((columns, rows)) = screen::terminal_size() else {
        let _ = writeln!(err, "\n{}", intro.long);
        let _ = write!(err, "{}", qr.to_terminal());
        let _ = writeln!(err, "{details}");
        let _ = writeln!(err, "token: {token}\n");
        return;
    };
    tracing::info!("{details}");
    let code: Vec<String> = qr.to_terminal().lines().map(str::to_string).collect();
    let code_width = qr.width() + 2 * crate::qr::render::QUIET_ZONE;
    let lines = [format!("PNG: {}", printable(&png_path.display().to_string()))];
    let words = screen::Words { heading: intro.short, lines: &lines, token };
    let _ = writeln!(err);
    for line in screen::compose(&code, code_width, &words, columns, rows) {
        let _ = writeln!(err, "{line}");
    }
}

/// The words that introduce a code: `long` for a log, `short` beside the
/// code on a terminal.
pub struct CodeIntro<'a> {
    pub long: &'a str,
    pub short: &'a str,
}

/// The browser's JSON form of our description, on a line of its own so it
/// can be copied whole into a browser console.
pub fn present_json(json: &str) {
    eprintln!("Browser JSON (paste into the other side's setRemoteDescription):\n{json}\n");
}

pub fn note(message: &str) {
    eprintln!("qrpair: {message}");
}

/// Asks on the controlling terminal (not stdin, which may be the data pipe).
/// `None` when there is no terminal to ask on.
pub fn prompt_line(question: &str) -> Option<std::io::Result<String>> {
    let tty = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty").ok()?;
    let mut writer = match tty.try_clone() {
        Ok(w) => w,
        Err(e) => return Some(Err(e)),
    };
    if write!(writer, "{question}").and_then(|_| writer.flush()).is_err() {
        return None;
    }
    let mut line = String::new();
    Some(std::io::BufReader::new(tty).read_line(&mut line).map(|_| line))
}

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}
