//! The offer, answer and demo commands: glue between the source of a code,
//! the peer, the QR on screen and the session. Kept out of `main.rs` so the
//! demo and tests drive the same code the binary runs. Each command is a
//! few steps in order, sharing the helpers here (showing a code, waiting
//! for the other's, the authentication code). The commands that only look
//! at codes (decode, encode) are in `codes`.

mod codes;
pub use codes::{decode, decode_every, decode_raw, encode, AnyCode, Decoded};

use crate::peer::{self, Peer, PeerOptions};
use crate::qr::{self, EcLevel};
use crate::session::{self, Mode, Protocol, Totals};
use crate::signal::{self, Kind};
use crate::source::{self, Obtained, Source, Waiting, Want};
use crate::{ui, Error};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Once both descriptions are applied, ICE on a LAN takes well under a
/// second; past this the addresses are simply unreachable.
const CONNECT_LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: Vec<IpAddr>,
    pub stun: Vec<String>,
    pub turn: Vec<peer::TurnServer>,
    /// `--relay`: only relay candidates.
    pub relay_only: bool,
    pub mtu: Option<u32>,
    pub timeout: Duration,
    pub qr_out: PathBuf,
    pub ec: EcLevel,
    pub mode: Mode,
    /// Also print our description as the browser's JSON, for pasting into
    /// a browser console.
    pub sdp_json: bool,
    /// Ask the person to confirm the authentication string before any data
    /// is read or written.
    pub verify: bool,
    /// Files instead of a pipe or chat.
    pub transfer: Option<Transfer>,
    /// Makes the future that ends a transfer early (the program's Ctrl-C).
    /// Started only once files stream; see `transfer::send`.
    pub interrupt: fn() -> Interrupt,
    /// Where a pipe or chat writes what the peer sends. The binary gives
    /// standard output that really closes at the end of the peer's
    /// direction (`| sha256sum` sees EOF while our input still flows),
    /// which takes a process-wide step the library leaves to it.
    pub output: fn() -> Output,
}

pub type Output = Box<dyn tokio::io::AsyncWrite + Unpin + Send>;

pub type Interrupt = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// For callers with nothing to interrupt a transfer.
pub fn never_interrupted() -> Interrupt {
    Box::pin(std::future::pending())
}

#[derive(Debug, Clone)]
pub enum Transfer {
    Send { paths: Vec<PathBuf>, view: ui::progress::View },
    Receive { dir: PathBuf, existing: session::transfer::Existing, ask: bool, view: ui::progress::View },
}

impl Settings {
    fn peer_options(&self) -> PeerOptions {
        let bind = if self.bind.is_empty() { peer::default_bind_addrs() } else { self.bind.clone() };
        PeerOptions {
            bind,
            stun: self.stun.clone(),
            turn: self.turn.clone(),
            relay_only: self.relay_only,
            patience: self.timeout,
            mtu: self.mtu,
            identity: None,
        }
    }
}

/// Renders the payload, writes the PNG atomically and shows code and token.
pub fn publish(kind: Kind, payload: &[u8], path: &Path, ec: EcLevel) -> Result<qr::RenderedQr, Error> {
    let code = qr::render_qr(payload, ec).map_err(|e| Error::Other(e.to_string()))?;
    qr::write_atomic(path, &code.to_png(qr::render::DEFAULT_MODULE_PX)).map_err(|e| {
        let message = format!("cannot write the {kind} QR to {}: {e}", path.display());
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Usage(message)
        } else {
            Error::Other(message)
        }
    })?;
    Ok(code)
}

/// Encodes our description, writes the PNG and shows the code, the token
/// and (with --sdp-json) the browser JSON.
fn show(kind: Kind, sdp: &str, tag: Option<[u8; signal::TAG_LEN]>, settings: &Settings) -> Result<(), Error> {
    let payload = signal::encode(kind, sdp, tag);
    let code = publish(kind, &payload, &settings.qr_out, settings.ec)?;
    let intro = match kind {
        Kind::Offer => ui::CodeIntro {
            long: "Offer: show this code to the other machine (or send it the PNG or token), then run `qrpair answer <image or token>` there.",
            short: "OFFER. On the other machine run `qrpair answer` with a screenshot of this code, the PNG or the token.",
        },
        Kind::Answer => ui::CodeIntro {
            long: "Answer: show this code to the offering machine (or send it the PNG or token).",
            short: "ANSWER. Give the offering machine a screenshot of this code, the PNG or the token.",
        },
    };
    ui::present_code(&intro, &code, &signal::encode_token(&payload), &settings.qr_out, payload.len());
    if settings.sdp_json {
        ui::present_json(&signal::to_sdp_json(kind, sdp));
        // The JSON is what a browser needs; the PNG was written anyway.
        let png = std::path::absolute(&settings.qr_out).unwrap_or_else(|_| settings.qr_out.clone());
        ui::note(&format!("the {kind} is also saved as a QR code in {} (for another qrpair)", png.display()));
        if kind == Kind::Offer {
            // Measured: Chromium answering fails its own DTLS handshake
            // 222 s after it made its answer (vendor/QRPAIR-PATCH.md).
            ui::note("a Chromium page that answers gives up 3.7 minutes after making its answer: bring the answer back before then");
        }
    }
    Ok(())
}

/// How the session talks: qrpair's framing with another qrpair, or plain
/// messages with a browser or another app (which cannot speak it).
fn protocol_for(remote: &signal::Payload) -> Protocol {
    if remote.made_by_qrpair {
        Protocol::Framed
    } else {
        ui::note("the other side is not qrpair (a browser?): plain messages, no end-of-stream signalling");
        Protocol::Plain
    }
}

pub async fn offer(settings: &Settings, answer_from: Option<Source>) -> Result<Totals, Error> {
    let deadline = Instant::now() + settings.timeout;
    let (mut peer, sdp) = Peer::offer(&settings.peer_options()).await?;
    peer.notes().iter().for_each(|n| ui::note(n));
    show(Kind::Offer, &sdp, None, settings)?;
    let ours = peer.fingerprint();
    let answer = match obtain_answer(answer_from, deadline, settings.timeout, signal::offer_tag(&ours)).await {
        Ok(a) => a,
        Err(e) => {
            peer.close().await;
            return Err(e);
        }
    };
    tracing::info!(from = %answer.origin, "answer read");
    if let Err(e) = peer.accept_answer(&answer.payload).await {
        peer.close().await;
        return Err(e.into());
    }
    ui::note("answer accepted, connecting…");
    let applied = Instant::now();
    let channel = peer.open(CONNECT_LIMIT.min(remaining(deadline))).await?;
    tracing::info!(open_ms = applied.elapsed().as_secs_f64() * 1e3, "data channel open after the answer was applied");
    let protocol = protocol_for(&answer.payload);
    let channel = connected(channel, ours, &answer.payload, settings.verify, protocol, true).await?;
    run_session(channel, settings, protocol).await
}

/// Where the answering side gets the offer.
pub enum OfferFrom {
    /// An image, token, JSON, or `-`, which must be there now.
    Source(Source),
    /// The first new image in this folder that holds an offer.
    Watch(PathBuf),
}

pub async fn answer(settings: &Settings, offer_from: OfferFrom) -> Result<Totals, Error> {
    let deadline = Instant::now() + settings.timeout;
    let offer = match offer_from {
        OfferFrom::Source(from) => source::read_now(&from, Some(Want::offer()))?,
        OfferFrom::Watch(dir) => {
            if !dir.is_dir() {
                return Err(Error::Usage(format!("--watch {}: not a folder", dir.display())));
            }
            source::wait_for(&Source::Dir(dir), Want::offer(), deadline, &mut note_waiting)
                .await?
                .ok_or_else(|| Error::Timeout(humantime::format_duration(settings.timeout).to_string(), "an offer"))?
        }
    };
    let (peer, sdp) = Peer::answer(&settings.peer_options(), &offer.payload).await?;
    peer.notes().iter().for_each(|n| ui::note(n));
    show(Kind::Answer, &sdp, offer.payload.answer_tag(), settings)?;
    let ours = peer.fingerprint();
    let channel = peer.open(remaining(deadline)).await.map_err(|e| match e {
        peer::Error::ConnectTimeout(..) => Error::Timeout(
            humantime::format_duration(settings.timeout).to_string(),
            "the offering side to read this answer (an offer pairs once: if another machine answered it first, ask for a fresh offer)",
        ),
        other => other.into(),
    })?;
    let protocol = protocol_for(&offer.payload);
    let channel = connected(channel, ours, &offer.payload, settings.verify, protocol, false).await?;
    run_session(channel, settings, protocol).await
}

/// Shows the authentication string; with --verify, asks the person to
/// compare it with the other screen before anything is read or written.
async fn connected(
    mut channel: peer::Channel,
    ours: [u8; signal::FINGERPRINT_LEN],
    theirs: &signal::Payload,
    verify: bool,
    protocol: Protocol,
    we_offered: bool,
) -> Result<peer::Channel, Error> {
    let nonces = match protocol {
        Protocol::Framed => match session::exchange_nonces(&mut channel).await {
            Ok((ours, theirs)) => Some(if we_offered { (ours, theirs) } else { (theirs, ours) }),
            Err(e) => {
                channel.close().await;
                return Err(e.into());
            }
        },
        Protocol::Plain => None,
    };
    let question = match protocol {
        Protocol::Framed => {
            let (offer, answer) = if we_offered { (Some(ours), theirs.sha256) } else { (theirs.sha256, Some(ours)) };
            let code = match (offer, answer) {
                (Some(offer), Some(answer)) => Some(signal::authentication_string(&offer, &answer, nonces)),
                _ => None,
            };
            let shown = code.as_deref().unwrap_or("(none: the other side has no SHA-256 fingerprint)");
            ui::note(&format!("connected. Both screens must show the same code: {shown}"));
            format!("Does the other screen show {shown}? [y/N] ")
        }
        Protocol::Plain => {
            // A browser shows no code; what its page can show is its own
            // certificate's fingerprint, which its description gave us.
            let fingerprint = theirs.summary.fingerprint.as_deref().unwrap_or("(none given)");
            ui::note(&format!(
                "connected to a browser, which shows no code to compare. {}",
                browser_check(fingerprint)
            ));
            format!("Does the page's certificate fingerprint read {fingerprint}? [y/N] ")
        }
    };
    if !verify {
        return Ok(channel);
    }
    let answer = tokio::task::spawn_blocking(move || ui::prompt_line(&question)).await;
    match answer {
        Ok(Some(Ok(line))) if matches!(line.trim(), "y" | "Y" | "yes" | "Yes") => Ok(channel),
        Ok(Some(Ok(_))) => {
            channel.close().await;
            Err(Error::NotVerified)
        }
        _ => {
            channel.close().await;
            Err(Error::Usage("--verify needs a terminal to ask on".into()))
        }
    }
}

/// What a person can compare with a browser peer instead of a code.
pub fn browser_check(fingerprint: &str) -> String {
    format!(
        "To make sure it is your page: its own certificate's fingerprint must read {fingerprint} \
         (in the page: the a=fingerprint line of pc.localDescription.sdp)"
    )
}

async fn run_session(channel: peer::Channel, settings: &Settings, protocol: Protocol) -> Result<Totals, Error> {
    use session::transfer;
    match &settings.transfer {
        Some(Transfer::Send { paths, view }) => {
            let r =
                transfer::send(channel, paths, ui::progress::observer(*view).as_mut(), (settings.interrupt)()).await;
            let r = json_error_too(*view, r)?;
            return Ok(Totals { sent: r.bytes, received: 0 });
        }
        Some(Transfer::Receive { dir, existing, ask, view }) => {
            let consent: Option<transfer::Consent> = ask.then(|| {
                Box::new(|question: &str| {
                    ui::prompt_line(question).and_then(Result::ok).map(|l| matches!(l.trim(), "y" | "Y" | "yes"))
                }) as transfer::Consent
            });
            let opts = transfer::ReceiveOptions { dir: dir.clone(), existing: *existing, consent };
            let r =
                transfer::receive(channel, opts, ui::progress::observer(*view).as_mut(), (settings.interrupt)()).await;
            let r = json_error_too(*view, r)?;
            return Ok(Totals { sent: 0, received: r.bytes });
        }
        None => {}
    }
    let mode = settings.mode;
    if protocol == Protocol::Plain {
        // What a page's onmessage gets (README, "With a browser").
        ui::note(match mode {
            Mode::Chat => "each line goes to the page as one string message; its messages are shown as lines",
            Mode::Pipe => "the bytes go to the page as binary messages (an ArrayBuffer or Blob in onmessage); whatever it sends, string or binary, comes out here as bytes",
        });
    }
    if mode == Mode::Chat && ui::stdin_is_terminal() {
        ui::note("chat: type a line and press Enter to send it; Ctrl-D leaves");
    }
    let totals = session::run(channel, mode, protocol, tokio::io::stdin(), (settings.output)()).await?;
    tracing::info!(sent = totals.sent, received = totals.received, "session finished");
    Ok(totals)
}

/// With --json, a failed transfer ends with an error event on stdout too.
fn json_error_too<T>(
    view: ui::progress::View,
    result: Result<T, session::transfer::TransferError>,
) -> Result<T, Error> {
    result.map_err(|e| {
        let e = Error::from(e);
        if view == ui::progress::View::Json {
            ui::progress::json_error(&e.to_string(), e.exit_code());
        }
        e
    })
}

/// What a wait for a code is doing, as a note on the terminal.
fn note_waiting(waiting: Waiting<'_>) {
    ui::note(&ui::printable(&waiting.to_string()));
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

async fn obtain_answer(
    answer_from: Option<Source>,
    deadline: Instant,
    timeout: Duration,
    our_offer_tag: [u8; signal::TAG_LEN],
) -> Result<Obtained, Error> {
    let timed_out = || Error::Timeout(humantime::format_duration(timeout).to_string(), "the answer");
    let want = Want::answer_to(our_offer_tag);
    if let Some(from) = answer_from {
        return source::wait_for(&from, want, deadline, &mut note_waiting).await?.ok_or_else(timed_out);
    }
    loop {
        let asked = tokio::task::spawn_blocking(|| ui::prompt_line("Answer (image, token or JSON): "));
        let line = match tokio::time::timeout(remaining(deadline), asked).await {
            Err(_) => return Err(timed_out()),
            Ok(Err(e)) => return Err(Error::Other(e.to_string())),
            Ok(Ok(None)) => {
                return Err(Error::Usage(
                    "no --answer given and no terminal to ask on: pass --answer PATH|DIR|TOKEN".into(),
                ))
            }
            Ok(Ok(Some(Err(e)))) => return Err(Error::Other(format!("reading the terminal failed: {e}"))),
            Ok(Ok(Some(Ok(line)))) if line.is_empty() => {
                return Err(Error::Usage("the terminal closed before an answer was given".into()))
            }
            Ok(Ok(Some(Ok(line)))) => line,
        };
        let spec = line.trim();
        if spec.is_empty() {
            continue;
        }
        match source::read_now(&Source::parse(spec), Some(want)) {
            Ok(a) => return Ok(a),
            // A person at a prompt gets to try again; a script gets exit 3.
            Err(e) => ui::note(&format!("{}; try again", ui::printable(&e.to_string()))),
        }
    }
}

/// One step of the demo and how long it took.
pub struct Step {
    pub what: String,
    pub took: Duration,
}

/// The whole job in one process: two peers on loopback exchange real PNG
/// files through a temporary folder, open the channel and talk both ways.
pub async fn demo(ec: EcLevel) -> Result<(Vec<Step>, Vec<(String, qr::RenderedQr)>, [String; 2]), Error> {
    let dir = tempfile::tempdir().map_err(|e| Error::Other(format!("cannot create a temporary folder: {e}")))?;
    let opts = PeerOptions {
        bind: vec![IpAddr::from([127, 0, 0, 1])],
        stun: vec![],
        turn: vec![],
        relay_only: false,
        patience: Duration::from_secs(60),
        mtu: None,
        identity: None,
    };
    let mut steps = Vec::new();
    let mut codes = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |what: String, steps: &mut Vec<Step>| {
        steps.push(Step { what, took: clock.elapsed() });
        clock = Instant::now();
    };

    let (mut offerer, offer_sdp) = Peer::offer(&opts).await?;
    let offer_png = dir.path().join("offer.png");
    let payload = signal::encode(Kind::Offer, &offer_sdp, None);
    codes.push(("offer".to_string(), publish(Kind::Offer, &payload, &offer_png, ec)?));
    lap(format!("offerer: gather, encode {} B, write offer.png", payload.len()), &mut steps);

    let offer = source::read_now(&Source::File(offer_png.clone()), Some(Want::offer()))?;
    lap("answerer: scan offer.png, decode".to_string(), &mut steps);
    let (answerer, answer_sdp) = Peer::answer(&opts, &offer.payload).await?;
    let answer_png = dir.path().join("answer.png");
    let payload = signal::encode(Kind::Answer, &answer_sdp, offer.payload.answer_tag());
    codes.push(("answer".to_string(), publish(Kind::Answer, &payload, &answer_png, ec)?));
    lap(format!("answerer: apply offer, gather, encode {} B, write answer.png", payload.len()), &mut steps);

    let our_tag = signal::offer_tag(&offerer.fingerprint());
    let answer = source::read_now(&Source::File(answer_png.clone()), Some(Want::answer_to(our_tag)))?;
    offerer.accept_answer(&answer.payload).await?;
    lap("offerer: scan answer.png, decode, apply".to_string(), &mut steps);

    let (a, b) = tokio::join!(offerer.open(CONNECT_LIMIT), answerer.open(CONNECT_LIMIT));
    let (a, b) = (a?, b?);
    lap("both: ICE, DTLS, SCTP, data channel open".to_string(), &mut steps);

    let to_answerer = b"hello from the offering peer\n".to_vec();
    let to_offerer = b"hello from the answering peer\n".to_vec();
    let (mut got_by_offerer, mut got_by_answerer) = (Vec::new(), Vec::new());
    let (ra, rb) = tokio::join!(
        session::run(a, Mode::Pipe, Protocol::Framed, std::io::Cursor::new(to_answerer.clone()), &mut got_by_offerer),
        session::run(b, Mode::Pipe, Protocol::Framed, std::io::Cursor::new(to_offerer.clone()), &mut got_by_answerer),
    );
    ra?;
    rb?;
    lap("both: one message each way, orderly close".to_string(), &mut steps);
    if got_by_answerer != to_answerer || got_by_offerer != to_offerer {
        return Err(Error::Other("demo: a message arrived damaged".into()));
    }
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    Ok((steps, codes, [text(&got_by_answerer), text(&got_by_offerer)]))
}
