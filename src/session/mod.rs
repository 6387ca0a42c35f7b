//! The protocol spoken over the data channel, and the pipe and chat modes.
//!
//! Every message is one frame: a type byte, then its body. Ordered, reliable
//! delivery comes from the channel, so frames need no sequence numbers.

mod frame;
pub mod link;
pub mod names;
pub mod transfer;

pub use frame::{Frame, FrameError, Role, NONCE_LEN, PROTOCOL_VERSION};

use crate::peer::{self, Received};
use link::{Link, LinkSender};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Data frames carry at most this much, so a frame stays within one
/// data-channel message.
pub const DATA_CHUNK: usize = peer::MAX_MESSAGE - 16;
/// After both directions are finished, how long to wait for the peer's
/// goodbye before concluding it vanished.
const BYE_WAIT: Duration = Duration::from_secs(30);
/// A chat line without a newline is shown once it reaches this length, so a
/// peer cannot make us buffer without bound.
const MAX_CHAT_LINE: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Byte-exact: input → peer's output, both directions, half-close on EOF.
    Pipe,
    /// Lines, the peer's marked as theirs; either side leaving ends the chat.
    Chat,
}

/// What the peer speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Another qrpair: framed messages with half-close and goodbye.
    Framed,
    /// A browser or another app: each message is data (chat: one line);
    /// the session ends when either side closes the channel.
    Plain,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Peer(#[from] peer::Error),
    #[error("the peer sent something qrpair does not understand: {0}")]
    Protocol(#[from] FrameError),
    #[error("the peer speaks session protocol version {0}, this qrpair speaks {PROTOCOL_VERSION}: use the same qrpair version on both machines")]
    Version(u8),
    #[error("the peer's nonce does not match what it committed to: something between the two machines is interfering; the connection was closed, pair again")]
    BadCommitment,
    #[error("the peer closed the connection before all data was exchanged: the output is incomplete")]
    PeerLeftEarly,
    #[error("{}", role_mismatch(*.0, *.1))]
    RoleMismatch(Role, Role),
    #[error("the peer did not confirm the end of the session within {:.0} s: the output may be incomplete", .0.as_secs_f64())]
    NoGoodbye(Duration),
    /// The peer's words, already escaped: quoted so they never read as ours.
    #[error("the peer stopped, saying: \"{0}\"")]
    PeerStopped(String),
    #[error("reading input failed: {0}")]
    Input(std::io::Error),
    #[error("writing output failed: {0}")]
    Output(std::io::Error),
}

fn role_mismatch(ours: Role, theirs: Role) -> String {
    let what = |r: Role| match r {
        Role::Stream => "a pipe or chat",
        Role::Send => "sending files (--send)",
        Role::Receive => "receiving files (--receive)",
    };
    format!(
        "this side is {} but the other side is {}: use --send on one side and --receive on the other, or neither",
        what(ours),
        what(theirs)
    )
}

/// Byte counts of a finished session.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub sent: u64,
    pub received: u64,
}

/// Runs a session until both directions are finished and the peer has said
/// goodbye. `input` feeds the peer; what the peer sends goes to `output`.
pub async fn run<L, R, W>(channel: L, mode: Mode, protocol: Protocol, input: R, output: W) -> Result<Totals, Error>
where
    L: Link,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    match protocol {
        Protocol::Framed => run_framed(channel, mode, input, output).await,
        Protocol::Plain => run_plain(channel, mode, input, output).await,
    }
}

async fn run_framed<L, R, W>(mut channel: L, mode: Mode, input: R, output: W) -> Result<Totals, Error>
where
    L: Link,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    channel.send(&Frame::Hello { version: PROTOCOL_VERSION, role: Role::Stream }.encode()).await?;
    let mut sink = Sink::new(mode, output);
    let mut reader = tokio::spawn(send_input(channel.sender(), input));
    let mut totals = Totals::default();
    let mut sent_eof = false;
    let mut peer_eof = false;
    let mut bye_sent = false;
    let outcome = loop {
        if sent_eof && peer_eof && !bye_sent {
            channel.send(&Frame::Bye.encode()).await?;
            bye_sent = true;
        }
        let received = tokio::select! {
            biased;
            done = &mut reader, if !sent_eof => {
                match done {
                    Ok(Ok(n)) => { totals.sent = n; sent_eof = true; continue; }
                    Ok(Err(e)) => break Err(e),
                    Err(_) => break Err(Error::Input(std::io::Error::other("input task stopped"))),
                }
            }
            r = channel.recv() => r,
            // Only while no message is waiting: delivered bytes leave
            // standard output's buffer as soon as the channel goes quiet,
            // without a flush after every chunk of a fast stream.
            flushed = sink.flush_pending(), if sink.dirty => match flushed {
                Ok(()) => continue,
                Err(e) if is_broken_pipe(&e) => break stop_for_closed_output(&channel, &reader).await,
                Err(e) => break Err(e),
            },
            _ = tokio::time::sleep(BYE_WAIT), if bye_sent => break Err(Error::NoGoodbye(BYE_WAIT)),
        };
        match received? {
            Received::Closed if bye_sent => break Ok(()),
            Received::Closed => break Err(Error::PeerLeftEarly),
            Received::Message(bytes) => match Frame::decode(&bytes)? {
                Frame::Hello { version, .. } if version != PROTOCOL_VERSION => break Err(Error::Version(version)),
                Frame::Hello { role: Role::Stream, .. } => {}
                Frame::Hello { role, .. } => break Err(Error::RoleMismatch(Role::Stream, role)),
                Frame::Control(_) => break Err(FrameError::UnknownType(5).into()),
                Frame::Files(_) => break Err(FrameError::UnknownType(8).into()),
                Frame::Commit(_) | Frame::Reveal(_) => {
                    break Err(FrameError::Malformed("authentication step after the exchange").into())
                }
                Frame::Data(data) => {
                    if peer_eof {
                        break Err(FrameError::DataAfterEof.into());
                    }
                    totals.received += data.len() as u64;
                    match sink.write(data).await {
                        Ok(()) => {}
                        Err(e) if is_broken_pipe(&e) => break stop_for_closed_output(&channel, &reader).await,
                        Err(e) => break Err(e),
                    }
                }
                Frame::Stop(reason) => {
                    let reason =
                        crate::text::printable(&crate::text::capped(String::from_utf8_lossy(reason).into_owned()));
                    break Err(Error::PeerStopped(reason));
                }
                Frame::Eof => {
                    sink.finish(sent_eof).await?;
                    peer_eof = true;
                    if mode == Mode::Chat && !sent_eof {
                        reader.abort();
                        channel.send(&Frame::Eof.encode()).await?;
                        sent_eof = true;
                    }
                }
                Frame::Bye if bye_sent => break Ok(()),
                // The peer is done before us: only possible once it has our
                // EOF, which our own loop is about to notice.
                Frame::Bye => {}
            },
        }
    };
    reader.abort();
    channel.close().await;
    outcome.map(|()| totals)
}

/// With a peer that has no framing: a browser page's `dc.send(text)` arrives
/// as one message, shown as one chat line (or written as is to a pipe).
async fn run_plain<L, R, W>(mut channel: L, mode: Mode, input: R, output: W) -> Result<Totals, Error>
where
    L: Link,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    let mut sink = Sink::new(mode, output);
    let mut reader = tokio::spawn(send_plain(channel.sender(), mode, input));
    let mut totals = Totals::default();
    let mut input_done = false;
    let outcome = loop {
        tokio::select! {
            biased;
            done = &mut reader, if !input_done => match done {
                Ok(Ok(n)) => {
                    totals.sent = n;
                    input_done = true;
                    // A plain peer cannot be told "my side is done" except by
                    // closing; in a chat, leaving is exactly that.
                    if mode == Mode::Chat {
                        channel.drain().await;
                        break Ok(());
                    }
                }
                Ok(Err(e)) => break Err(e),
                Err(_) => break Err(Error::Input(std::io::Error::other("input task stopped"))),
            },
            r = channel.recv() => match r? {
                Received::Message(bytes) => {
                    totals.received += bytes.len() as u64;
                    match mode {
                        Mode::Chat => sink.show_line(&bytes).await?,
                        Mode::Pipe => sink.write(&bytes).await?,
                    }
                }
                Received::Closed => {
                    sink.finish(false).await?;
                    break Ok(());
                }
            },
            flushed = sink.flush_pending(), if sink.dirty => flushed?,
        }
    };
    reader.abort();
    channel.close().await;
    outcome.map(|()| totals)
}

async fn send_plain<R: AsyncRead + Unpin>(sender: impl LinkSender, mode: Mode, input: R) -> Result<u64, Error> {
    use tokio::io::AsyncBufReadExt;
    let mut input = tokio::io::BufReader::with_capacity(DATA_CHUNK, input);
    let mut total = 0u64;
    loop {
        match mode {
            Mode::Chat => {
                let mut line = Vec::new();
                let n =
                    (&mut input).take(MAX_CHAT_LINE as u64).read_until(b'\n', &mut line).await.map_err(Error::Input)?;
                if n == 0 {
                    return Ok(total);
                }
                total += n as u64;
                let text = String::from_utf8_lossy(&line);
                sender.send_text(text.trim_end_matches(['\r', '\n'])).await?;
            }
            Mode::Pipe => {
                let chunk = input.fill_buf().await.map_err(Error::Input)?;
                if chunk.is_empty() {
                    return Ok(total);
                }
                let n = chunk.len();
                sender.send(chunk).await?;
                input.consume(n);
                total += n as u64;
            }
        }
    }
}

async fn send_input<R: AsyncRead + Unpin>(sender: impl LinkSender, mut input: R) -> Result<u64, Error> {
    let mut buf = vec![0u8; DATA_CHUNK + 1];
    let mut total = 0u64;
    loop {
        buf[0] = frame::TAG_DATA;
        let n = input.read(&mut buf[1..]).await.map_err(Error::Input)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        sender.send(&buf[..=n]).await?;
    }
    sender.send(&Frame::Eof.encode()).await?;
    Ok(total)
}

fn is_broken_pipe(e: &Error) -> bool {
    matches!(e, Error::Output(io) if io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Our reader left (`| head`): like a command in a shell pipeline, that
/// ends this side quietly, and the peer is told at once rather than after
/// the connection times out.
async fn stop_for_closed_output(
    channel: &impl Link,
    reader: &tokio::task::JoinHandle<Result<u64, Error>>,
) -> Result<(), Error> {
    reader.abort();
    let _ = channel.send(&Frame::Stop(OUTPUT_CLOSED.as_bytes()).encode()).await;
    channel.drain().await;
    Ok(())
}

/// What a side whose output was closed tells its peer.
const OUTPUT_CLOSED: &str =
    "its output was closed before it read everything (a `| head` or a closed program there), so the rest was not delivered";

/// Where the peer's bytes go: verbatim for a pipe, as marked lines for chat.
struct Sink<W> {
    mode: Mode,
    out: W,
    partial: Vec<u8>,
    /// Written but not yet flushed.
    dirty: bool,
}

impl<W: AsyncWrite + Unpin> Sink<W> {
    fn new(mode: Mode, out: W) -> Self {
        Sink { mode, out, partial: Vec::new(), dirty: false }
    }

    /// Cancel-safe: an interrupted flush leaves `dirty` set and is resumed
    /// by the next call.
    async fn flush_pending(&mut self) -> Result<(), Error> {
        self.out.flush().await.map_err(Error::Output)?;
        self.dirty = false;
        Ok(())
    }

    async fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        match self.mode {
            // Standard output holds bytes until a newline; an interactive
            // pipe (a shell over the channel) needs each chunk when it
            // arrives, so the session flushes whenever the channel is quiet.
            Mode::Pipe => {
                self.out.write_all(data).await.map_err(Error::Output)?;
                self.dirty = true;
                Ok(())
            }
            Mode::Chat => {
                self.partial.extend_from_slice(data);
                while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = self.partial.drain(..=end).collect();
                    self.show_line(&line[..end]).await?;
                }
                if self.partial.len() >= MAX_CHAT_LINE {
                    let line = std::mem::take(&mut self.partial);
                    self.show_line(&line).await?;
                }
                self.out.flush().await.map_err(Error::Output)
            }
        }
    }

    async fn show_line(&mut self, line: &[u8]) -> Result<(), Error> {
        let text = crate::text::printable(&String::from_utf8_lossy(line));
        self.out.write_all(format!("peer> {text}\n").as_bytes()).await.map_err(Error::Output)
    }

    /// `we_left`: our side ended first, and this is the peer's reply.
    async fn finish(&mut self, we_left: bool) -> Result<(), Error> {
        if self.mode == Mode::Chat {
            if !self.partial.is_empty() {
                let line = std::mem::take(&mut self.partial);
                self.show_line(&line).await?;
            }
            let farewell: &[u8] = if we_left { b"-- chat closed\n" } else { b"-- the peer left the chat\n" };
            self.out.write_all(farewell).await.map_err(Error::Output)?;
        }
        self.out.flush().await.map_err(Error::Output)?;
        // Half-close: a reader downstream of stdout sees EOF now, while our
        // own input may still be flowing to the peer.
        self.out.shutdown().await.map_err(Error::Output)
    }
}

/// Both sides' random contributions to the authentication code, exchanged
/// commit-then-reveal. Each side fixes its nonce (sends its hash) before it
/// sees the other's, so whoever sits between two pairings cannot search for
/// a certificate or a nonce that gives both screens the same code: the last
/// honest nonce is always revealed after the intruder has committed.
/// Returns (ours, theirs).
pub async fn exchange_nonces(channel: &mut impl Link) -> Result<([u8; NONCE_LEN], [u8; NONCE_LEN]), Error> {
    let mut ours = [0u8; NONCE_LEN];
    getrandom::getrandom(&mut ours).map_err(|e| Error::Input(std::io::Error::other(e.to_string())))?;
    channel.send(&Frame::Commit(&commitment(&ours)).encode()).await?;
    let committed = exchange_step(channel, |f| if let Frame::Commit(c) = f { Some(**c) } else { None }).await?;
    channel.send(&Frame::Reveal(&ours).encode()).await?;
    let theirs = exchange_step(channel, |f| if let Frame::Reveal(n) = f { Some(**n) } else { None }).await?;
    if commitment(&theirs) != committed {
        return Err(Error::BadCommitment);
    }
    Ok((ours, theirs))
}

fn commitment(nonce: &[u8; NONCE_LEN]) -> [u8; NONCE_LEN] {
    use sha2::Digest;
    sha2::Sha256::new().chain_update(b"qrpair code commitment v1").chain_update(nonce).finalize().into()
}

/// The next message, which must be the step `pick` accepts. An older
/// qrpair starts with its hello instead: that says which version it is.
async fn exchange_step(
    channel: &mut impl Link,
    pick: impl Fn(&Frame<'_>) -> Option<[u8; NONCE_LEN]>,
) -> Result<[u8; NONCE_LEN], Error> {
    let bytes = match channel.recv().await? {
        Received::Message(b) => b,
        Received::Closed => return Err(Error::PeerLeftEarly),
    };
    let frame = Frame::decode(&bytes)?;
    match (pick(&frame), frame) {
        (Some(value), _) => Ok(value),
        (None, Frame::Hello { version, .. }) if version != PROTOCOL_VERSION => Err(Error::Version(version)),
        (None, _) => Err(Error::Protocol(FrameError::Malformed("authentication exchange"))),
    }
}

#[cfg(test)]
mod tests;
