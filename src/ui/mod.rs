//! What the person at the terminal sees: the QR block, the token, prompts,
//! and output that is safe to print.

pub mod progress;

use crate::qr::RenderedQr;
use std::io::{BufRead, IsTerminal, Write};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;

/// Replaces control characters (ANSI escapes included) so text from the
/// peer or from a scanned code cannot drive the terminal, and shows
/// invisible characters as `\u{202e}`, so `invoice_\u{202e}fdp.exe` cannot
/// pass for `invoice_exe.pdf`, nor a zero-width space go unseen.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\t' {
            out.push('\u{fffd}');
        } else if is_invisible(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Unicode's format characters (general category Cf: direction overrides
/// and isolates, zero-width space and joiners, the byte-order mark, tags, …)
/// and the line and paragraph separators: characters that change how text
/// around them looks, or take no room, without being seen.
pub fn is_invisible(c: char) -> bool {
    // Cf as of Unicode 15.1, plus U+2028 (Zl) and U+2029 (Zp).
    const RANGES: &[(u32, u32)] = &[
        (0x00ad, 0x00ad),
        (0x0600, 0x0605),
        (0x061c, 0x061c),
        (0x06dd, 0x06dd),
        (0x070f, 0x070f),
        (0x0890, 0x0891),
        (0x08e2, 0x08e2),
        (0x180e, 0x180e),
        (0x200b, 0x200f),
        (0x2028, 0x202e),
        (0x2060, 0x2064),
        (0x2066, 0x206f),
        (0xfeff, 0xfeff),
        (0xfff9, 0xfffb),
        (0x110bd, 0x110bd),
        (0x110cd, 0x110cd),
        (0x13430, 0x1343f),
        (0x1bca0, 0x1bca3),
        (0x1d173, 0x1d17a),
        (0xe0001, 0xe0001),
        (0xe0020, 0xe007f),
    ];
    let c = c as u32;
    RANGES.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// Shows a code for the other person: terminal block and token on stderr
/// (stdout carries only channel data), plus where the PNG was written.
pub fn present_code(title: &str, qr: &RenderedQr, token: &str, png_path: &std::path::Path, payload_len: usize) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "\n{title}");
    let _ = write!(err, "{}", qr.to_terminal());
    let _ = writeln!(
        err,
        "QR version {} ({}×{} modules, EC {}), {} bytes, saved to {}",
        qr.version(),
        qr.width(),
        qr.width(),
        qr.ec_level(),
        payload_len,
        png_path.display()
    );
    let _ = writeln!(err, "token: {token}\n");
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

/// Standard output that really closes on shutdown, so a reader downstream
/// (`| sha256sum`) sees end-of-file as soon as the peer's direction ends,
/// while our own input may still be flowing.
pub struct ClosingStdout {
    inner: tokio::io::Stdout,
    closed: bool,
}

impl ClosingStdout {
    pub fn new() -> Self {
        ClosingStdout { inner: tokio::io::stdout(), closed: false }
    }
}

impl Default for ClosingStdout {
    fn default() -> Self {
        Self::new()
    }
}

impl AsyncWrite for ClosingStdout {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        if !self.closed {
            self.closed = true;
            close_stdout_fd();
        }
        Poll::Ready(Ok(()))
    }
}

/// Points fd 1 at /dev/null: our end of the pipe closes, and any stray
/// later write (a log line) goes nowhere instead of failing.
fn close_stdout_fd() {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
            // SAFETY: dup2 on two valid descriptors; fd 1 is replaced atomically.
            unsafe {
                libc::dup2(null.as_raw_fd(), 1);
            }
        }
    }
}

/// Like `printable`, but keeps line breaks.
pub fn printable_lines(text: &str) -> String {
    text.split('\n').map(printable).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_and_direction_changing_characters_are_shown_escaped() {
        assert_eq!(printable("invoice_\u{202e}fdp.exe"), "invoice_\\u{202e}fdp.exe");
        assert_eq!(
            printable("a\u{200b}b\u{2028}c\u{2029}d\u{feff}\u{2066}"),
            "a\\u{200b}b\\u{2028}c\\u{2029}d\\u{feff}\\u{2066}"
        );
        assert_eq!(printable("tag\u{e0041}"), "tag\\u{e0041}");
        assert_eq!(printable("esc\u{1b}[2J\ttab"), "esc\u{fffd}[2J\ttab");
        assert_eq!(printable("naïve ✓ 東京 مرحبا"), "naïve ✓ 東京 مرحبا");
        assert_eq!(printable_lines("a\u{202e}\nb"), "a\\u{202e}\nb");
    }
}
