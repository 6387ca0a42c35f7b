//! How a file transfer shows itself: progress bars on a terminal, plain
//! lines otherwise, one JSON event per line for scripts, or nothing.

use crate::session::transfer::{Event, Observer};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Bars on stderr (a terminal).
    Bars,
    /// One line per file on stderr.
    Text,
    /// One JSON object per event on stdout.
    Json,
    Quiet,
}

impl View {
    pub fn choose(json: bool, quiet: bool) -> View {
        if json {
            View::Json
        } else if quiet {
            View::Quiet
        } else if std::io::stderr().is_terminal() {
            View::Bars
        } else {
            View::Text
        }
    }
}

pub fn observer(view: View) -> Box<dyn Observer> {
    match view {
        View::Bars => Box::new(Bars::default()),
        View::Text => Box::new(Text),
        View::Json => Box::new(Json { last_progress: None }),
        View::Quiet => Box::new(Quiet),
    }
}

/// The error a script reading --json sees last.
pub fn json_error(message: &str, exit_code: i32) {
    let line = serde_json::json!({ "event": "error", "message": message, "exit_code": exit_code });
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

struct Quiet;
impl Observer for Quiet {
    fn event(&mut self, _: Event) {}
}

struct Text;
impl Observer for Text {
    fn event(&mut self, event: Event) {
        let show = |p: &str| super::printable(p);
        match event {
            Event::Manifest { files, folders, bytes } => {
                super::note(&format!("{files} file(s), {folders} folder(s), {bytes} bytes"))
            }
            Event::FileStarted { path, offset, .. } if offset > 0 => {
                super::note(&format!("{}: resuming after {offset} bytes", show(&path)))
            }
            Event::FileDone { path, blake3, ok: true, saved_as } => {
                super::note(&format!("{}{} (blake3 {blake3})", show(&path), saved_as_note(saved_as.as_deref())))
            }
            Event::FileDone { path, ok: false, .. } => {
                super::note(&format!("{}: BLAKE3 digest differs between the two sides; not kept", show(&path)))
            }
            Event::Done { files, bytes, resumed_bytes } => super::note(&format!(
                "done: {files} file(s), {bytes} bytes sent over the channel ({resumed_bytes} resumed)"
            )),
            _ => {}
        }
    }
}

/// `, saved as NAME (1).ext` when --rename found the sender's name taken.
fn saved_as_note(saved_as: Option<&str>) -> String {
    saved_as.map(|saved| format!(", saved as {}", super::printable(saved))).unwrap_or_default()
}

/// Progress lines at most this often; file boundaries are always shown.
const JSON_PROGRESS_EVERY: Duration = Duration::from_millis(250);

struct Json {
    last_progress: Option<Instant>,
}
impl Observer for Json {
    fn event(&mut self, event: Event) {
        if let Event::Progress { done, size, .. } = &event {
            let due = self.last_progress.is_none_or(|t| t.elapsed() >= JSON_PROGRESS_EVERY);
            if !due && done < size {
                return;
            }
            self.last_progress = Some(Instant::now());
        }
        if let Ok(line) = serde_json::to_string(&event) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

#[derive(Default)]
struct Bars {
    multi: Option<MultiProgress>,
    total: Option<ProgressBar>,
    /// The file being moved, and its bar: one at a time, so 100 000 files
    /// do not leave 100 000 bars on the screen (nor make each redraw slower).
    file: Option<(String, ProgressBar)>,
    started: bool,
    /// A few files stay listed when done; many are cleared as they go.
    keep: bool,
}

/// Up to this many files, each finished bar stays on the screen.
const KEEP_BARS: usize = 20;

impl Bars {
    fn finish_file(&mut self) {
        if let Some((_, bar)) = self.file.take() {
            if self.keep {
                bar.finish();
            } else {
                bar.finish_and_clear();
            }
        }
    }
}

impl Observer for Bars {
    fn event(&mut self, event: Event) {
        let style = |template: &str| {
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ")
        };
        match event {
            Event::Manifest { bytes, files, .. } => {
                self.keep = files <= KEEP_BARS;
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
                let total = multi.add(ProgressBar::new(bytes));
                total.set_style(style("total {bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}"));
                self.total = Some(total);
                self.multi = Some(multi);
            }
            Event::FileStarted { path, size, offset } => {
                self.finish_file();
                if let (Some(multi), Some(total)) = (&self.multi, &self.total) {
                    if !self.started {
                        // The rate counts from the first byte, not from the
                        // manifest (the person may have taken a while to say yes).
                        total.reset();
                        self.started = true;
                    }
                    let bar = multi.insert_before(total, ProgressBar::new(size));
                    bar.set_style(style("{msg:30!} {bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}"));
                    bar.set_message(super::printable(&path));
                    bar.set_position(offset);
                    total.inc(offset);
                    self.file = Some((path, bar));
                }
            }
            Event::Progress { path, done, .. } => {
                if let (Some((current, bar)), Some(total)) = (&self.file, &self.total) {
                    if *current == path {
                        total.inc(done.saturating_sub(bar.position()));
                        bar.set_position(done);
                    }
                }
            }
            Event::FileDone { path, ok, saved_as, .. } => {
                // Small files are reported done in batches, after later
                // files have started: only the current file's bar goes.
                if self.file.as_ref().is_some_and(|(current, _)| *current == path) {
                    self.finish_file();
                }
                let line = if !ok {
                    Some(format!("{}: BLAKE3 digest differs between the two sides; not kept", super::printable(&path)))
                } else {
                    saved_as.map(|saved| format!("{}{}", super::printable(&path), saved_as_note(Some(&saved))))
                };
                if let Some(line) = line {
                    match &self.multi {
                        Some(m) => drop(m.println(line)),
                        None => super::note(&line),
                    }
                }
            }
            Event::Done { .. } => {
                self.finish_file();
                if let Some(total) = self.total.take() {
                    total.finish();
                }
            }
        }
    }
}
