//! What a person sees: `qrpair offer` and `qrpair answer` in a real 80×24
//! terminal (tmux), read back from the screen the way a screenshot would:
//! the whole code with its quiet zone, each line unwrapped, the token, the
//! PNG's path and the prompt all on screen at once, and the code on screen
//! decoding to the same payload as the token beside it.

use crate::common::Sandbox;
use std::process::Command;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

/// A tmux server of the test's own (its own socket), killed on drop.
struct Terminal {
    socket: String,
}

impl Terminal {
    fn start(sb: &Sandbox, name: &str, args: &[&str], columns: u32, rows: u32) -> Option<Terminal> {
        if Command::new("tmux").arg("-V").output().is_err() {
            if std::env::var_os("CI").is_some() {
                panic!("CI must run the terminal test: tmux is missing");
            }
            eprintln!("SKIPPED: no tmux");
            return None;
        }
        let socket = format!("qrpair-test-{}-{name}", std::process::id());
        let command = format!(
            "cd '{}' && '{}' {} ; sleep 60",
            sb.dir.path().display(),
            crate::common::bin(),
            args.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(" ")
        );
        let status = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d", "-x", &columns.to_string()])
            .args(["-y", &rows.to_string(), "-s", name])
            .arg(command)
            .env_remove("TMUX")
            .env("TERM", "xterm-256color")
            .status()
            .expect("tmux runs");
        assert!(status.success());
        Some(Terminal { socket })
    }

    /// The screen, lines as shown, with colour escapes (`-e`).
    fn capture(&self) -> String {
        let out = Command::new("tmux").args(["-L", &self.socket, "capture-pane", "-p", "-e", "-N"]).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    /// The screen once every row of a code `side` modules high is drawn.
    fn wait_for_code(&self, side: usize) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture();
            let drawn = cells(&screen).iter().filter(|r| r.first().is_some_and(Cell::in_code)).count();
            if drawn >= side.div_ceil(2) {
                return screen;
            }
            assert!(start.elapsed() < LIMIT, "the code never finished drawing:\n{}", plain(&screen));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_for(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture();
            if plain(&screen).contains(needle) {
                return screen;
            }
            assert!(start.elapsed() < LIMIT, "{needle:?} never appeared on:\n{}", plain(&screen));
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).output();
    }
}

/// One screen cell: its character and whether its foreground and background
/// are dark.
#[derive(Clone, Copy)]
struct Cell {
    ch: char,
    fg_dark: bool,
    bg_dark: bool,
    /// The cell has a background colour of its own (the code's cells do;
    /// text does not).
    bg_set: bool,
}

impl Cell {
    /// The two modules a code cell shows, upper then lower.
    fn modules(&self) -> (bool, bool) {
        match self.ch {
            '▀' => (self.fg_dark, self.bg_dark),
            '▄' => (self.bg_dark, self.fg_dark),
            '█' => (self.fg_dark, self.fg_dark),
            _ => (self.bg_dark, self.bg_dark),
        }
    }

    fn in_code(&self) -> bool {
        self.bg_set && matches!(self.ch, '▀' | '▄' | '█' | ' ')
    }
}

/// Splits captured lines into cells, following the SGR colour changes qrpair
/// and tmux emit (30/40 black, 97/107 bright white, 0/39/49 reset).
fn cells(screen: &str) -> Vec<Vec<Cell>> {
    let (mut fg_dark, mut bg_dark, mut bg_set) = (false, false, false);
    screen
        .lines()
        .map(|line| {
            let mut row = Vec::new();
            let mut chars = line.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '\x1b' && chars.peek() == Some(&'[') {
                    chars.next();
                    let mut params = String::new();
                    for p in chars.by_ref() {
                        if p.is_ascii_alphabetic() {
                            break;
                        }
                        params.push(p);
                    }
                    for code in params.split(';') {
                        match code {
                            "" | "0" => (fg_dark, bg_dark, bg_set) = (false, false, false),
                            "30" => fg_dark = true,
                            "97" | "37" | "39" => fg_dark = false,
                            "40" => (bg_dark, bg_set) = (true, true),
                            "107" | "47" => (bg_dark, bg_set) = (false, true),
                            "49" => (bg_dark, bg_set) = (false, false),
                            _ => {}
                        }
                    }
                    continue;
                }
                row.push(Cell { ch: c, fg_dark, bg_dark, bg_set });
            }
            row
        })
        .collect()
}

fn plain(screen: &str) -> String {
    cells(screen).iter().map(|r| r.iter().map(|c| c.ch).collect::<String>()).collect::<Vec<_>>().join("\n")
}

/// Checks everything a person needs is on the 80×24 screen and returns the
/// payload the on-screen code decodes to.
fn check_screen(screen: &str, kind: &str, expect_side: usize, png: &str) -> Vec<u8> {
    let rows = cells(screen);
    let text = plain(screen);
    assert!(rows.len() <= 24, "{} lines:\n{text}", rows.len());
    for (i, row) in rows.iter().enumerate() {
        assert!(row.len() <= 80, "line {i} is {} columns:\n{text}", row.len());
    }
    // The code: lines starting with coloured cells, every one the full
    // width of code plus quiet zone, and all of its rows.
    let code_rows: Vec<&Vec<Cell>> = rows.iter().filter(|r| r.first().is_some_and(Cell::in_code)).collect();
    assert_eq!(code_rows.len(), expect_side.div_ceil(2), "code rows on screen:\n{text}");
    let mut grid = vec![vec![false; expect_side]; expect_side];
    for (r, row) in code_rows.iter().enumerate() {
        let cells = row.iter().take_while(|c| c.in_code()).count();
        assert_eq!(cells, expect_side, "code row {r} is {cells} cells wide:\n{text}");
        for (x, cell) in row.iter().take(expect_side).enumerate() {
            let (upper, lower) = cell.modules();
            grid[2 * r][x] = upper;
            if 2 * r + 1 < expect_side {
                grid[2 * r + 1][x] = lower;
            }
        }
    }
    // The whole 4-module quiet zone is light.
    for (y, line) in grid.iter().enumerate() {
        for (x, &dark) in line.iter().enumerate() {
            let inside = (4..expect_side - 4).contains(&x) && (4..expect_side - 4).contains(&y);
            assert!(inside || !dark, "quiet zone dark at ({x}, {y})");
        }
    }
    assert!(text.contains(kind), "no heading {kind:?}:\n{text}");
    assert!(text.contains(&format!("PNG: {png}")), "no PNG path:\n{text}");
    // The token, broken over lines beside the code, read back as a person
    // would copy it.
    let right: String = rows
        .iter()
        .map(|r| r.iter().skip_while(|c| c.in_code()).map(|c| c.ch).collect::<String>().trim().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let start = right.find("qrp:").unwrap_or_else(|| panic!("no token on screen:\n{text}"));
    let token_text: String = right[start..].split("\n\n").next().unwrap().to_string();
    let from_token = qrpair::signal::decode_token(&token_text).unwrap_or_else(|e| panic!("{e}: {token_text:?}"));
    // The code as a picture, 4 px a module, scanned like a screenshot.
    let scale = 4;
    let image = image::GrayImage::from_fn((expect_side * scale) as u32, (expect_side * scale) as u32, |x, y| {
        image::Luma([if grid[y as usize / scale][x as usize / scale] { 0 } else { 255 }])
    });
    let mut png_bytes = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut png_bytes), image::ImageFormat::Png).unwrap();
    let found = qrpair::qr::scan_image_bytes(&png_bytes, "screen").expect("the code on screen reads");
    assert_eq!(found[0].bytes, from_token, "the code and the token beside it differ");
    from_token
}

#[test]
fn offer_and_answer_screens_fit_80_by_24_with_v3_and_v4_codes() {
    let sb = Sandbox::new();
    // One loopback candidate: 39 bytes, version 3 (29 modules + quiet zone).
    let offer = Terminal::start(&sb, "offer", &["offer", "--bind", "127.0.0.1", "--qr-out", "offer.png"], 80, 24);
    let Some(offer) = offer else { return };
    let screen = offer.wait_for("Answer (image, token or JSON):");
    let payload = check_screen(&screen, "OFFER", 37, "offer.png");
    assert_eq!(payload.len(), 39);

    // Four candidates: 57 bytes, version 4 (33 modules + quiet zone).
    let four = ["--bind", "127.0.0.1", "--bind", "127.0.0.2", "--bind", "127.0.0.3", "--bind", "127.0.0.4"];
    let mut args = vec!["offer", "--qr-out", "offer4.png"];
    args.extend(four);
    let offer4 = Terminal::start(&sb, "offer4", &args, 80, 24).unwrap();
    let screen = offer4.wait_for("Answer (image, token or JSON):");
    let payload = check_screen(&screen, "OFFER", 41, "offer4.png");
    assert_eq!(payload.len(), 57);

    // The answer to the first offer, on a screen of its own.
    let answer = Terminal::start(
        &sb,
        "answer",
        &["answer", "offer.png", "--bind", "127.0.0.1", "--qr-out", "answer.png", "--timeout", "20s"],
        80,
        24,
    )
    .unwrap();
    answer.wait_for("PNG: answer.png");
    let screen = answer.wait_for_code(41);
    let payload = check_screen(&screen, "ANSWER", 41, "answer.png");
    let decoded = qrpair::signal::decode(&payload).unwrap();
    assert_eq!(decoded.kind, qrpair::signal::Kind::Answer, "{screen}");
}

#[test]
fn a_terminal_too_narrow_for_the_code_says_so_instead_of_printing_stripes() {
    let sb = Sandbox::new();
    let Some(term) = Terminal::start(&sb, "narrow", &["offer", "--bind", "127.0.0.1", "--qr-out", "offer.png"], 36, 24)
    else {
        return;
    };
    let screen = term.wait_for("Answer");
    let text = plain(&screen);
    assert!(!cells(&screen).iter().flatten().any(Cell::in_code), "a code was printed into 36 columns:\n{text}");
    assert!(text.contains("36 columns wide"), "{text}");
    assert!(text.contains("qrp:"), "no token:\n{text}");
}
