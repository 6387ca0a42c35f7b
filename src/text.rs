//! Text from outside (a peer's words and file names, a scanned code) made
//! safe to print. Shared by `session`, which words its errors with it, and
//! `ui`, which shows everything else.

/// Replaces control characters (ANSI escapes included) so text from the
/// peer or from a scanned code cannot drive the terminal, and shows
/// invisible characters as `\u{202e}`, so `invoice_\u{202e}fdp.exe` cannot
/// pass for `invoice_exe.pdf`, nor a zero-width space go unseen.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut before = None;
    for c in text.chars() {
        if c.is_control() && c != '\t' {
            out.push('\u{fffd}');
        } else if is_invisible_after(before, c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
        before = Some(c);
    }
    out
}

/// Characters that change how the text around them looks, or take no
/// room, without being seen: Unicode's format characters (general category
/// Cf: direction overrides and isolates, zero-width space and joiners, the
/// byte-order mark, tags, …), everything Unicode calls Default_Ignorable
/// (variation selectors, U+034F, the Hangul fillers U+115F, U+1160, U+3164,
/// U+FFA0), the line and paragraph separators, and the braille blank
/// U+2800, a letter that draws nothing. The sets come from ICU4X's copy of
/// the Unicode data, so a new Unicode release is a dependency update, not
/// a hand-kept list.
///
/// A variation selector right after an emoji only picks how the emoji is
/// drawn (`❤️` is U+2764 U+FE0F): it is left alone there, or every heart
/// typed on a phone would show as an escape.
pub fn is_invisible(c: char) -> bool {
    is_invisible_after(None, c)
}

/// `is_invisible`, knowing the character before `c`.
pub fn is_invisible_after(before: Option<char>, c: char) -> bool {
    use icu_properties::props::{DefaultIgnorableCodePoint, Emoji, GeneralCategory};
    use icu_properties::{CodePointMapData, CodePointSetData};
    if c.is_ascii() {
        return false;
    }
    if matches!(c, '\u{fe0e}' | '\u{fe0f}') && before.is_some_and(|b| CodePointSetData::new::<Emoji>().contains(b)) {
        return false;
    }
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{2800}')
        || CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
        || CodePointMapData::<GeneralCategory>::new().get(c) == GeneralCategory::Format
}

/// True for any character Unicode counts as white space (U+0020, the
/// no-break spaces, U+2000–U+200A, the ideographic space, …).
pub fn is_white_space(c: char) -> bool {
    icu_properties::CodePointSetData::new::<icu_properties::props::WhiteSpace>().contains(c)
}

/// A peer's reason cut to what one line of a terminal deserves.
pub fn capped(mut reason: String) -> String {
    const MAX_REASON_CHARS: usize = 300;
    if let Some((cut, _)) = reason.char_indices().nth(MAX_REASON_CHARS) {
        reason.truncate(cut);
        reason.push('…');
    }
    reason
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

    /// Issue 21: letters that draw nothing passed the old list of format
    /// characters, so `invoice\u{3164}\u{3164}.pdf\u{3164}.exe` was shown as is.
    #[test]
    fn blank_looking_letters_and_ignorables_are_shown_escaped() {
        for c in [
            '\u{3164}',
            '\u{2800}',
            '\u{034f}',
            '\u{fe00}',
            '\u{fe0f}',
            '\u{115f}',
            '\u{1160}',
            '\u{ffa0}',
            '\u{e0100}',
        ] {
            assert!(is_invisible(c), "{c:?}");
            assert_eq!(printable(&format!("a{c}b")), format!("a\\u{{{:x}}}b", c as u32));
        }
        assert_eq!(printable("invoice\u{3164}.pdf\u{3164}.exe"), "invoice\\u{3164}.pdf\\u{3164}.exe");
        // An emoji's own presentation selector is not hidden text.
        assert_eq!(printable("I \u{2764}\u{fe0f} it"), "I \u{2764}\u{fe0f} it");
        for c in ['a', 'é', ' ', '\u{00a0}', '\u{202f}', '東', '\u{2764}'] {
            assert!(!is_invisible(c), "{c:?}");
        }
        assert!(is_white_space('\u{2003}') && is_white_space(' ') && !is_white_space('x'));
    }
}
