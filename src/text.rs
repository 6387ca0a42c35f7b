//! Text from outside (a peer's words and file names, a scanned code) made
//! safe to print. Shared by `session`, which words its errors with it, and
//! `ui`, which shows everything else.

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
