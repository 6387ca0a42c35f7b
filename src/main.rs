//! The qrpair command: arguments in, one error line and an exit code out;
//! everything else is the library.

#![deny(unsafe_code)]

use clap::Parser;
use qrpair::cli::{Cli, Command, Common};
use qrpair::pairing::{self, Settings};
use qrpair::session::Mode;
use qrpair::{exit, ui, Error};
use std::io::Write;
use std::path::PathBuf;

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            std::process::exit(if e.use_stderr() { exit::USAGE } else { exit::OK });
        }
    };
    init_logging(cli.verbose);
    keep_freed_memory();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("qrpair: cannot start the async runtime: {e}");
            std::process::exit(exit::OTHER);
        }
    };
    let code = match runtime.block_on(run(cli.command)) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("qrpair: {}", ui::printable(&e.to_string()));
            e.exit_code()
        }
    };
    let _ = std::io::stdout().flush();
    // Exit without dropping the runtime: a blocked stdin read would hold its
    // shutdown open until the user pressed a key.
    std::process::exit(code);
}

fn init_logging(verbose: u8) {
    // The webrtc stack warns about conditions that are normal here (a
    // closing peer, an unset TLS server name); only -vv shows them.
    // The packet size path MTU discovery settles on (vendor/rtc-sctp) is
    // the one line of the stack's own shown with -v.
    let level = match verbose {
        0 => "qrpair=warn",
        1 => "qrpair=info,rtc_sctp::association::pmtud=info",
        _ => "qrpair=debug,info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("QRPAIR_LOG").unwrap_or_else(|_| level.into());
    // Colour only for a person: log files and pipes get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi)
        .init();
}

/// The --turn servers with their credentials: from the URL, else from
/// QRPAIR_TURN_USER and QRPAIR_TURN_PASSWORD.
fn turn_servers(args: &[qrpair::cli::TurnArg]) -> Result<Vec<qrpair::peer::TurnServer>, Error> {
    let from_env = || match (std::env::var("QRPAIR_TURN_USER"), std::env::var("QRPAIR_TURN_PASSWORD")) {
        (Ok(user), Ok(password)) if !user.is_empty() => Some((user, password)),
        _ => None,
    };
    if args.iter().any(|arg| arg.address.transport == qrpair::peer::TurnTransport::Tls) {
        qrpair::peer::check_turn_ca().map_err(Error::Usage)?;
    }
    args.iter()
        .map(|arg| {
            let (username, password) = arg.credentials.clone().or_else(from_env).ok_or_else(|| {
                Error::Usage(
                    "--turn needs credentials: set QRPAIR_TURN_USER and QRPAIR_TURN_PASSWORD in the environment".into(),
                )
            })?;
            Ok(qrpair::peer::TurnServer { address: arg.address.clone(), username, password })
        })
        .collect()
}

fn settings(common: Common, qr_out: PathBuf) -> Result<Settings, Error> {
    if common.relay && common.turn.is_empty() {
        return Err(Error::Usage(
            "--relay offers only a TURN relay's address, and no relay was given: add --turn turn:HOST:PORT".into(),
        ));
    }
    if common.turn.iter().any(|t| t.credentials.is_some()) {
        ui::note("the TURN password in --turn is visible to other users of this machine (ps); QRPAIR_TURN_USER and QRPAIR_TURN_PASSWORD are not");
    }
    let view = qrpair::ui::progress::View::choose(common.json, common.quiet);
    let mode = if common.pipe {
        Mode::Pipe
    } else if common.chat || ui::stdin_is_terminal() {
        Mode::Chat
    } else {
        Mode::Pipe
    };
    Ok(Settings {
        bind: common.bind,
        stun: common.stun,
        turn: turn_servers(&common.turn)?,
        relay_only: common.relay,
        mtu: common.mtu,
        timeout: common.timeout,
        qr_out,
        ec: common.ec,
        mode,
        sdp_json: common.sdp_json,
        verify: common.verify,
        interrupt: ctrl_c,
        output: closing_stdout,
        transfer: if !common.send.is_empty() {
            Some(pairing::Transfer::Send { paths: common.send, view })
        } else {
            common.receive.map(|dir| pairing::Transfer::Receive {
                dir,
                existing: if common.overwrite {
                    qrpair::session::transfer::Existing::Overwrite
                } else if common.rename {
                    qrpair::session::transfer::Existing::Rename
                } else {
                    qrpair::session::transfer::Existing::Refuse
                },
                ask: !common.yes,
                view,
            })
        },
    })
}

/// The first Ctrl-C during a transfer ends it politely (the peer is told,
/// the `.part` kept, exit 130); a second one ends the process at once.
fn ctrl_c() -> pairing::Interrupt {
    Box::pin(async {
        if tokio::signal::ctrl_c().await.is_err() {
            return std::future::pending().await;
        }
        tokio::spawn(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(exit::INTERRUPTED);
            }
        });
    })
}

async fn run(command: Command) -> Result<(), Error> {
    if let Command::Offer { common, .. } | Command::Answer { common, .. } = &command {
        // Refused before pairing, not after the other person has done their part.
        if let Some(missing) = common.send.iter().find(|p| std::fs::symlink_metadata(p).is_err()) {
            return Err(Error::MissingFile(missing.display().to_string()));
        }
        // Links, devices, clashing names: all the sender can check, before its QR.
        if !common.send.is_empty() {
            qrpair::session::transfer::check_sources(&common.send, &mut |note| ui::note(note))?;
        }
        if common.verify && std::fs::File::open("/dev/tty").is_err() {
            return Err(Error::Usage("--verify needs a terminal to ask on, and there is none".into()));
        }
    }
    match command {
        Command::Offer { qr_out, answer, common } => {
            pairing::offer(&settings(common, qr_out)?, answer).await?;
        }
        Command::Answer { source, watch, qr_out, common } => {
            let from = match (source, watch) {
                (Some(spec), _) => pairing::OfferFrom::Source(spec),
                (None, Some(dir)) => pairing::OfferFrom::Watch(dir),
                (None, None) => return Err(Error::Usage("give the offer as SOURCE or --watch DIR".into())),
            };
            pairing::answer(&settings(common, qr_out)?, from).await?;
        }
        Command::Decode { source, json, raw, sdp, sdp_json, all: true } => {
            decode_all(&source, json, raw || sdp || sdp_json)?
        }
        Command::Decode { source, json, raw, sdp, sdp_json, all: false } => {
            let form = if sdp_json {
                DecodeAs::SdpJson
            } else if sdp {
                DecodeAs::Sdp
            } else if json {
                DecodeAs::Json
            } else {
                DecodeAs::Text
            };
            decode(&source, raw, form)?
        }
        Command::Encode { source, qr_out, ec } => {
            let (kind, code, token, len) = pairing::encode(&source, &qr_out, ec)?;
            let title = format!("{kind}:");
            ui::present_code(&ui::CodeIntro { long: &title, short: &title }, &code, &token, &qr_out, len);
        }
        Command::Demo { ec } => demo(ec).await?,
        Command::Completions { shell } => {
            let mut definition = <qrpair::cli::Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut definition, "qrpair", &mut script);
            to_stdout(&script)?;
        }
        Command::Man => {
            let definition = <qrpair::cli::Cli as clap::CommandFactory>::command();
            let mut page = Vec::new();
            clap_mangen::Man::new(definition)
                .render(&mut page)
                .map_err(|e| Error::Other(format!("cannot render the manual page: {e}")))?;
            to_stdout(&page)?;
        }
    }
    Ok(())
}

/// What `decode` prints about a code.
#[derive(PartialEq)]
enum DecodeAs {
    Text,
    Json,
    Sdp,
    SdpJson,
}

fn decode(source: &qrpair::source::Source, raw: bool, form: DecodeAs) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    let written = if raw {
        out.write_all(&pairing::decode_raw(source)?)
    } else {
        let (d, description) = pairing::decode(source)?;
        if form == DecodeAs::Sdp {
            out.write_all(ui::printable_lines(&description.replace("\r\n", "\n")).replace('\n', "\r\n").as_bytes())
        } else if form == DecodeAs::SdpJson {
            // JSON escapes every control character: safe on any terminal.
            writeln!(out, "{}", qrpair::signal::to_sdp_json(d.kind, &description))
        } else if form == DecodeAs::Json {
            let line = serde_json::to_string(&d).map_err(|e| Error::Other(e.to_string()))?;
            writeln!(out, "{line}")
        } else {
            let mut text = format!(
                "kind: {}\npayload: {} bytes, {:?} form ({}, from {})\nmade by: {}\nfingerprint: {}\n",
                d.kind,
                d.payload_bytes,
                d.form,
                match d.qr_version {
                    Some(v) => format!("QR version {v}, EC {}", d.ec_level),
                    None => "too large for any QR code".to_string(),
                },
                d.source,
                if d.made_by_qrpair { "qrpair" } else { "another app (a browser?)" },
                d.fingerprint.as_deref().unwrap_or("none")
            );
            if let Some(tag) = &d.answers_offer {
                text.push_str(&format!("answers offer: {tag}\n"));
            }
            text.push_str("candidates:\n");
            for c in &d.candidates {
                text.push_str(&format!("  {c}\n"));
            }
            text.push_str(&format!("reachable: {}\n", d.reach));
            out.write_all(ui::printable_lines(&text).as_bytes())
        }
    };
    stdout_written(written.and_then(|_| out.flush()))
}

fn to_stdout(bytes: &[u8]) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    stdout_written(out.write_all(bytes).and_then(|_| out.flush()))
}

/// A reader that stopped early (`qrpair decode … | head -1`) is not an
/// error, as for any command in a pipeline.
fn stdout_written(written: std::io::Result<()>) -> Result<(), Error> {
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Other(format!("writing to stdout failed: {e}")))
        }
        _ => Ok(()),
    }
}

fn decode_all(source: &qrpair::source::Source, json: bool, _excluded: bool) -> Result<(), Error> {
    let codes = pairing::decode_every(source)?;
    let mut out = String::new();
    for (i, code) in codes.iter().enumerate() {
        if json {
            out.push_str(&serde_json::to_string(code).map_err(|e| Error::Other(e.to_string()))?);
            out.push('\n');
        } else {
            out.push_str(&format!("code {}: {}\n", i + 1, code.summary));
        }
    }
    to_stdout(ui::printable_lines(&out).as_bytes())
}

async fn demo(ec: qrpair::qr::EcLevel) -> Result<(), Error> {
    to_stdout(b"qrpair demo: two peers on loopback pair through real PNG files in a temporary folder.\n\n")?;
    let (steps, codes, messages) = pairing::demo(ec).await?;
    let mut text = String::new();
    for (name, code) in &codes {
        text.push_str(&format!(
            "{name} QR (version {}, {}×{} modules, EC {}):\n",
            code.version(),
            code.width(),
            code.width(),
            code.ec_level()
        ));
        text.push_str(&code.to_terminal());
    }
    text.push_str(&format!(
        "\nmessages delivered:\n  offerer → answerer: {:?}\n  answerer → offerer: {:?}\n\n",
        messages[0], messages[1]
    ));
    text.push_str(&format!("{:>10}  step\n", "time"));
    let mut total = std::time::Duration::ZERO;
    for step in &steps {
        total += step.took;
        text.push_str(&format!("{:>8.1}ms  {}\n", step.took.as_secs_f64() * 1000.0, step.what));
    }
    text.push_str(&format!("{:>8.1}ms  total\n\ndemo ok\n", total.as_secs_f64() * 1000.0));
    to_stdout(text.as_bytes())
}

/// Keeps memory the transfer frees for its next buffers instead of handing
/// it back to the kernel at once. Every 64 KiB message is a fresh buffer on
/// both sides; with glibc's defaults (trim above 128 KiB of free top) its
/// pages went back and were faulted in and zeroed again: 33 649 page faults
/// on the receiver of 256 MiB over a 1500-byte veth, about 1 500 with a
/// trim threshold, and CPU per GiB for both sides 5.40 -> 5.20 s (8
/// alternating runs). 8 MiB rather than more: with 64 MiB, a 16 MiB top pad
/// and a 4 MiB mmap threshold the receiver on loopback peaked at 26-32 MiB,
/// with 8 MiB alone at 22-23 (17-19 with glibc's defaults), same rate and
/// CPU. Process-wide, so it is set here, before any thread starts.
fn keep_freed_memory() {
    qrpair::sys::set_malloc_trim_threshold(8 << 20);
}

/// Standard output that really closes on shutdown, so a reader downstream
/// (`| sha256sum`) sees end-of-file as soon as the peer's direction ends,
/// while our own input may still be flowing.
struct ClosingStdout {
    inner: tokio::io::Stdout,
    closed: bool,
}

/// What a pipe or chat session writes the peer's bytes to (`Settings::output`).
fn closing_stdout() -> pairing::Output {
    Box::new(ClosingStdout { inner: tokio::io::stdout(), closed: false })
}

impl tokio::io::AsyncWrite for ClosingStdout {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match std::pin::Pin::new(&mut self.inner).poll_flush(cx) {
            std::task::Poll::Ready(Ok(())) => {}
            other => return other,
        }
        if !self.closed {
            self.closed = true;
            close_stdout_fd();
        }
        std::task::Poll::Ready(Ok(()))
    }
}

/// Points fd 1 at /dev/null: our end of the pipe closes, and any stray
/// later write (a log line) goes nowhere instead of failing. Process-wide,
/// so the binary does it, not the library.
fn close_stdout_fd() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = qrpair::sys::replace_descriptor(&null, 1);
    }
}
