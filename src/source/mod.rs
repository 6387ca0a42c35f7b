//! Where a code comes from: an image file, a file holding a token, a pasted
//! token, or a folder where a screenshot will appear. Turns any of them into
//! a checked payload of the expected kind. The scanner hands back bytes;
//! what they are (a qrpair payload, a foreign code's text) is decided here.

use crate::qr::{self, Found, ScanError};
use crate::signal::{self, Kind, Payload};
use std::path::{Path, PathBuf};
use std::time::Instant;

mod watch;
pub use watch::{wait_for, Waiting};

/// Where a code comes from, as a SOURCE word names it; parsed once, so each
/// way of reading is one `match` (a camera would be one more arm).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `-`: an image, or one line holding a token or a JSON description.
    Stdin,
    /// `clipboard`: the image or text on the system clipboard.
    Clipboard,
    /// A token or a browser's JSON description, given as the word itself.
    Text(String),
    /// An image or a file holding a token or JSON (which may not exist yet).
    File(PathBuf),
    /// A folder where a screenshot holding the code will be saved.
    Dir(PathBuf),
}

impl Source {
    /// Never fails: a word that is no token, JSON or existing folder names
    /// a file, and reading it says what is wrong.
    pub fn parse(spec: &str) -> Source {
        if spec == "-" {
            Source::Stdin
        } else if spec == CLIPBOARD {
            Source::Clipboard
        } else if is_text_source(spec) {
            Source::Text(spec.to_string())
        } else if Path::new(spec).is_dir() {
            Source::Dir(spec.into())
        } else {
            Source::File(spec.into())
        }
    }

    /// How errors and `decode` name it.
    fn what(&self) -> String {
        match self {
            Source::Stdin => "standard input".into(),
            Source::Clipboard => "the clipboard".into(),
            Source::Text(text) if signal::looks_like_json(text) => JSON.into(),
            Source::Text(_) => TOKEN.into(),
            Source::File(path) | Source::Dir(path) => path.display().to_string(),
        }
    }
}

/// Files this large cannot hold a token or a JSON description; they are
/// read as images only.
const MAX_TEXT_FILE: u64 = 64 * 1024;
/// How the picture formats qrpair reads begin.
const IMAGE_MAGIC: &[&[u8]] = &[b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"RIFF"];

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error("{}{source}", prefix(.what))]
    Signal { what: String, source: signal::Error },
    #[error("{}{source}", prefix(.what))]
    Token { what: String, source: signal::TokenError },
    #[error("{}{source}", prefix(.what))]
    Json { what: String, source: signal::JsonError },
    #[error("{0} does not exist, and is not a qrpair token (tokens start with `{p}`) or a JSON description", p = signal::TOKEN_PREFIX)]
    Missing(String),
    #[error("reading standard input failed: {0}")]
    Stdin(std::io::Error),
    #[error("cannot read the clipboard ({0}): is this a desktop session with DISPLAY set?")]
    Clipboard(String),
    #[error("the clipboard holds neither an image nor a qrpair token or JSON description: copy the screenshot or the token first")]
    ClipboardEmpty,
}

/// The SOURCE word for the system clipboard (`./clipboard` names a file).
pub const CLIPBOARD: &str = "clipboard";

/// The image on the clipboard (a screenshot copied with the usual key), or
/// its text if it holds a token or a browser's JSON.
fn from_clipboard(want: Option<Want>) -> Result<Obtained, SourceError> {
    const WHAT: &str = "the clipboard";
    let mut clipboard = arboard::Clipboard::new().map_err(|e| SourceError::Clipboard(e.to_string()))?;
    if let Ok(image) = clipboard.get_image() {
        let (w, h) = (image.width as u32, image.height as u32);
        let found = qr::scan::scan_rgba(w, h, &image.bytes, WHAT)?;
        return pick(found, WHAT, want);
    }
    match clipboard.get_text() {
        Ok(text) if is_text_source(&text) => from_text(&text, WHAT, want),
        Ok(_) | Err(arboard::Error::ContentNotAvailable) => Err(SourceError::ClipboardEmpty),
        Err(e) => Err(SourceError::Clipboard(e.to_string())),
    }
}

/// Names the file a problem is in; a pasted token or JSON names itself.
fn prefix(what: &str) -> String {
    if what == TOKEN || what == JSON {
        String::new()
    } else {
        format!("{what}: ")
    }
}

const TOKEN: &str = "token";
const JSON: &str = "JSON description";

/// What the caller needs: a code of this kind and, for an answer, one made
/// for this offer.
#[derive(Debug, Clone, Copy)]
pub struct Want {
    pub kind: Kind,
    /// When reading the answer to our own offer: that offer's tag
    /// (`signal::offer_tag` of our fingerprint), which the answer must carry.
    pub answering: Option<[u8; signal::TAG_LEN]>,
}

impl Want {
    pub fn offer() -> Want {
        Want { kind: Kind::Offer, answering: None }
    }
    pub fn answer_to(our_offer_tag: [u8; signal::TAG_LEN]) -> Want {
        Want { kind: Kind::Answer, answering: Some(our_offer_tag) }
    }
}

/// A payload, where it came from, and the QR it was read from (if any).
#[derive(Debug, Clone)]
pub struct Obtained {
    pub payload: Payload,
    pub raw: Vec<u8>,
    pub origin: String,
    pub qr: Option<(u8, qr::EcLevel)>,
}

/// The bytes of every code in a source, for `decode` (any QR, not only
/// ours). A token yields its payload bytes and no QR metadata.
pub fn read_raw(source: &Source) -> Result<Vec<(Vec<u8>, Option<(u8, qr::EcLevel)>)>, SourceError> {
    let found = match source {
        Source::Stdin => match read_stdin_source().map_err(SourceError::Stdin)? {
            StdinSource::Image(bytes) => qr::scan_image_bytes(&bytes, &source.what())?,
            StdinSource::Text(text) => return Ok(vec![(from_text(&text, &source.what(), None)?.raw, None)]),
        },
        Source::Clipboard | Source::Text(_) => return Ok(vec![(read_now(source, None)?.raw, None)]),
        Source::File(path) | Source::Dir(path) => {
            if !path.exists() {
                return Err(SourceError::Missing(source.what()));
            }
            match in_file(path)? {
                InFile::Text(text) => return Ok(vec![(from_text(&text, &source.what(), None)?.raw, None)]),
                InFile::Picture(bytes) => {
                    qr::scan::scan_image_bytes_by(bytes, &source.what(), Instant::now() + qr::scan::SCAN_BUDGET)?
                }
            }
        }
    };
    Ok(found.into_iter().map(|f| (content(f.bytes), Some((f.version, f.ec)))).collect())
}

/// Reads a source that must hold the code now (the answerer's offer,
/// `decode`). `-` reads one line (a token or a JSON description) from
/// standard input, leaving the rest of it for the session.
pub fn read_now(source: &Source, want: Option<Want>) -> Result<Obtained, SourceError> {
    match source {
        Source::Stdin => from_stdin(want),
        Source::Clipboard => from_clipboard(want),
        Source::Text(text) => from_text(text, &source.what(), want),
        Source::File(path) | Source::Dir(path) if !path.exists() => Err(SourceError::Missing(source.what())),
        Source::File(path) | Source::Dir(path) => read_file(path, want),
    }
}

/// What a code's bytes are: a qrpair payload and UTF-8 text as they are;
/// text a code holds in Kanji mode, which rqrr hands over in Shift JIS
/// without saying so, as UTF-8. Bytes that are not UTF-8, not a payload,
/// and read cleanly as Shift JIS with real double-byte characters and no
/// control characters are such text; binary fails one of those tests and
/// stays as it is.
pub fn content(bytes: Vec<u8>) -> Vec<u8> {
    if std::str::from_utf8(&bytes).is_ok() || signal::decode(&bytes).is_ok() {
        return bytes;
    }
    let Some(text) = encoding_rs::SHIFT_JIS.decode_without_bom_handling_and_without_replacement(&bytes) else {
        return bytes;
    };
    let wide = text.chars().filter(|c| !c.is_ascii()).count();
    let clean = text.chars().all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'));
    if wide >= 2 && clean {
        text.into_owned().into_bytes()
    } else {
        bytes
    }
}

fn is_text_source(text: &str) -> bool {
    signal::looks_like_token(text) || signal::looks_like_json(text)
}

/// A token, or a browser's JSON description (whose `raw` is then the payload
/// qrpair would make of it).
fn from_text(text: &str, what: &str, want: Option<Want>) -> Result<Obtained, SourceError> {
    if signal::looks_like_json(text) {
        let (kind, sdp) =
            signal::parse_sdp_json(text).map_err(|source| SourceError::Json { what: what.into(), source })?;
        let payload = Payload::new(kind, sdp, None, signal::Form::SdpJson)
            .map_err(|source| SourceError::Signal { what: what.into(), source })?;
        let raw = signal::encode(kind, &payload.sdp, None);
        if let Some(w) = want {
            if kind != w.kind {
                let source = signal::decode_expecting(&raw, w.kind).err().unwrap_or(signal::Error::Empty);
                return Err(SourceError::Signal { what: what.into(), source });
            }
        }
        return Ok(Obtained { payload, raw, origin: what.to_string(), qr: None });
    }
    let raw = signal::decode_token(text).map_err(|source| SourceError::Token { what: what.into(), source })?;
    let payload = check(&raw, what, want)?;
    Ok(Obtained { payload, raw, origin: what.to_string(), qr: None })
}

/// What `-` holds: an image (read to its end) or one line of text (a token
/// or JSON; the rest of standard input stays for the session).
enum StdinSource {
    Image(Vec<u8>),
    Text(String),
}

fn read_stdin_source() -> std::io::Result<StdinSource> {
    use std::io::{BufRead, Read};
    let mut stdin = std::io::stdin().lock();
    let head = stdin.fill_buf()?;
    let is_image = IMAGE_MAGIC.iter().any(|m| head.starts_with(m));
    if is_image {
        let mut bytes = Vec::new();
        (&mut stdin).take(qr::scan::MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
        return Ok(StdinSource::Image(bytes));
    }
    let mut line = Vec::new();
    (&mut stdin).take(MAX_TEXT_FILE).read_until(b'\n', &mut line)?;
    let text = String::from_utf8(line).map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not text"))?;
    Ok(StdinSource::Text(text.trim_end().to_string()))
}

fn from_stdin(want: Option<Want>) -> Result<Obtained, SourceError> {
    const WHAT: &str = "standard input";
    match read_stdin_source().map_err(SourceError::Stdin)? {
        StdinSource::Text(text) => from_text(&text, WHAT, want),
        StdinSource::Image(bytes) => pick(qr::scan_image_bytes(&bytes, WHAT)?, WHAT, want),
    }
}

fn check(raw: &[u8], what: &str, want: Option<Want>) -> Result<Payload, SourceError> {
    let result = match want {
        Some(w) => signal::decode_expecting(raw, w.kind).and_then(|p| match w.answering {
            Some(our_tag) => signal::check_answer_belongs(&p, our_tag).map(|()| p),
            None => Ok(p),
        }),
        None => signal::decode(raw),
    };
    result.map_err(|source| SourceError::Signal { what: what.to_string(), source })
}

/// What a file holds: a token or JSON description, or the bytes of a
/// picture for the scanner.
enum InFile {
    Text(String),
    Picture(Vec<u8>),
}

/// Reads `path` through one opening (a FIFO opened twice loses its writer),
/// at most the scanner's limit.
fn in_file(path: &Path) -> Result<InFile, SourceError> {
    let what = path.display().to_string();
    let file = crate::files::open_once(path).map_err(|source| ScanError::Io { path: what.clone(), source })?;
    let bytes = qr::scan::read_picture(file, &what)?;
    Ok(match text_in(&bytes) {
        Some(text) => InFile::Text(text),
        None => InFile::Picture(bytes),
    })
}

/// The token or JSON description a small text file holds, however it was
/// saved: UTF-8 with or without a byte-order mark, UTF-16 (Notepad,
/// PowerShell), or another ASCII-compatible encoding; a token may have other
/// text around it. Pictures are left to the scanner.
fn text_in(bytes: &[u8]) -> Option<String> {
    if bytes.len() as u64 > MAX_TEXT_FILE || IMAGE_MAGIC.iter().any(|m| bytes.starts_with(m)) {
        return None;
    }
    let text = decode_text(&bytes);
    let text = text.trim_start_matches('\u{feff}');
    if signal::looks_like_json(text) {
        return Some(text.to_string());
    }
    signal::find_token(text).map(str::to_string)
}

/// Text in whatever encoding a person's editor chose. Tokens and JSON are
/// ASCII, so anything that keeps ASCII readable is enough.
fn decode_text(bytes: &[u8]) -> String {
    if let Some((encoding, _)) = encoding_rs::Encoding::for_bom(bytes) {
        return encoding.decode_with_bom_removal(bytes).0.into_owned();
    }
    // UTF-16 without a mark: ASCII text leaves every other byte zero.
    let head = &bytes[..bytes.len().min(256)];
    let zeros_at = |parity: usize| head.iter().skip(parity).step_by(2).filter(|&&b| b == 0).count();
    let half = head.len() / 2;
    if half >= 2 && zeros_at(1) * 10 >= half * 9 {
        return encoding_rs::UTF_16LE.decode_without_bom_handling(bytes).0.into_owned();
    }
    if half >= 2 && zeros_at(0) * 10 >= half * 9 {
        return encoding_rs::UTF_16BE.decode_without_bom_handling(bytes).0.into_owned();
    }
    String::from_utf8_lossy(bytes).into_owned()
}

/// An image (or a text file holding a token). With several codes in the
/// picture, the first that is a qrpair payload of the expected kind wins;
/// failing that, the most telling error.
pub fn read_file(path: &Path, want: Option<Want>) -> Result<Obtained, SourceError> {
    read_file_by(path, want, Instant::now() + qr::scan::SCAN_BUDGET)
}

/// Like `read_file`, giving up on the picture at `deadline` (or after the
/// scanner's own budget, whichever is sooner).
fn read_file_by(path: &Path, want: Option<Want>, deadline: Instant) -> Result<Obtained, SourceError> {
    let what = path.display().to_string();
    let bytes = match in_file(path)? {
        InFile::Text(text) => return from_text(&text, &what, want),
        InFile::Picture(bytes) => bytes,
    };
    let deadline = deadline.min(Instant::now() + qr::scan::SCAN_BUDGET);
    let found = qr::scan::scan_image_bytes_by(bytes, &what, deadline)?;
    pick(found, &what, want)
}

fn pick(found: Vec<Found>, what: &str, want: Option<Want>) -> Result<Obtained, SourceError> {
    let mut first_error = None;
    let mut wrong_kind = None;
    for f in found {
        let bytes = content(f.bytes);
        match check(&bytes, what, want) {
            Ok(payload) => {
                return Ok(Obtained { payload, raw: bytes, origin: what.to_string(), qr: Some((f.version, f.ec)) })
            }
            Err(e @ SourceError::Signal { source: signal::Error::WrongKind { .. }, .. }) => {
                wrong_kind.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(wrong_kind.or(first_error).unwrap_or_else(|| ScanError::NoCode { what: what.to_string() }.into()))
}
