//! The screen a person photographs or screenshots: the code with its whole
//! quiet zone on the left and the few words that matter to its right, so a
//! version-4 code and everything around it fit an 80×24 terminal without a
//! line wrapping or scrolling away.

use unicode_width::UnicodeWidthStr;

/// Columns between the code and the words beside it.
const GUTTER: usize = 2;
/// Narrower than this, the words go below the code instead of beside it.
const MIN_SIDE_COLUMN: usize = 24;

/// The terminal's size as (columns, rows), when stderr is one.
pub fn terminal_size() -> Option<(usize, usize)> {
    let (columns, rows) = crate::sys::terminal_size(&std::io::stderr())?;
    (columns > 0 && rows > 0).then_some((columns as usize, rows as usize))
}

/// What goes beside the code. `heading` and `lines` are wrapped to the
/// column; `token` is broken anywhere (line breaks inside a token are
/// ignored when it is read back).
pub struct Words<'a> {
    pub heading: &'a str,
    pub lines: &'a [String],
    pub token: &'a str,
}

/// The whole screen for a terminal `columns` wide and `rows` high. `code`
/// holds the code's rows as printed (with colour escapes) and `code_width`
/// their width in columns.
pub fn compose(code: &[String], code_width: usize, words: &Words<'_>, columns: usize, rows: usize) -> Vec<String> {
    let mut out = Vec::new();
    if columns < code_width {
        // A wrapped code is stripes nobody can scan: say so instead.
        let note = format!(
            "This terminal is {columns} columns wide and the code needs {code_width}: widen it, or use the PNG or the token."
        );
        out.extend(wrap(&note, columns));
        out.extend(words_column(words, columns));
        return out;
    }
    let side = columns.saturating_sub(code_width + GUTTER);
    if side < MIN_SIDE_COLUMN {
        out.extend(code.iter().cloned());
        out.extend(words_column(words, columns));
    } else {
        let column = words_column(words, side);
        let height = code.len().max(column.len());
        for i in 0..height {
            let left = code.get(i).map_or_else(|| " ".repeat(code_width), Clone::clone);
            match column.get(i) {
                Some(text) => out.push(format!("{left}{}{text}", " ".repeat(GUTTER))),
                None => out.push(left),
            }
        }
    }
    if out.len() + 1 > rows {
        out.push(format!("(the code is {} rows high: make the terminal taller to see all of it)", code.len()));
    }
    out
}

fn words_column(words: &Words<'_>, width: usize) -> Vec<String> {
    let mut column = wrap(words.heading, width);
    for line in words.lines {
        column.push(String::new());
        column.extend(wrap(line, width));
    }
    column.push(String::new());
    column.extend(break_anywhere(words.token, width));
    column
}

/// Word-wraps `text` to `width` columns; words longer than a line are
/// broken.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let needed = if line.is_empty() { word.width() } else { line.width() + 1 + word.width() };
        if needed <= width {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        let mut pieces = break_anywhere(word, width);
        line = pieces.pop().unwrap_or_default();
        lines.extend(pieces);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

fn break_anywhere(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut pieces = Vec::new();
    let mut piece = String::new();
    for c in text.chars() {
        if piece.width() + c.to_string().width() > width && !piece.is_empty() {
            pieces.push(std::mem::take(&mut piece));
        }
        piece.push(c);
    }
    if !piece.is_empty() {
        pieces.push(piece);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(rows: usize, width: usize) -> Vec<String> {
        (0..rows).map(|_| "▀".repeat(width)).collect()
    }

    fn token() -> String {
        format!("qrp:{}.Ab", "x".repeat(52))
    }

    #[test]
    fn a_version_4_code_and_its_words_fit_80_by_24() {
        let lines = vec!["PNG: qrpair-offer.png".to_string()];
        let token = token();
        let words = Words {
            heading: "Offer: show this code to the other machine, then run `qrpair answer <code>` there.",
            lines: &lines,
            token: &token,
        };
        let screen = compose(&code(21, 41), 41, &words, 80, 24);
        assert!(screen.len() <= 22, "{} lines", screen.len());
        assert!(screen.iter().all(|l| l.width() <= 80), "{screen:#?}");
        let joined: String = screen.iter().map(|l| l.trim_start_matches('▀').trim()).collect::<Vec<_>>().concat();
        assert!(screen.iter().take(21).all(|l| l.starts_with(&"▀".repeat(41))), "{screen:#?}");
        assert!(joined.contains(&token), "the token is not all there: {screen:#?}");
    }

    #[test]
    fn a_terminal_narrower_than_the_code_gets_no_code() {
        let token = token();
        let words = Words { heading: "Offer", lines: &[], token: &token };
        let screen = compose(&code(19, 37), 37, &words, 36, 24);
        assert!(screen.iter().all(|l| !l.contains('▀')), "{screen:#?}");
        assert!(screen[0].contains("36 columns"), "{screen:#?}");
        assert!(screen.iter().all(|l| l.width() <= 36), "{screen:#?}");
    }

    #[test]
    fn wrapping_keeps_words_and_breaks_only_what_cannot_fit() {
        assert_eq!(wrap("one two three", 7), vec!["one two", "three"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 10), vec![""]);
    }
}
