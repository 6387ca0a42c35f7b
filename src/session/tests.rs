//! Pipe, chat and the commit-reveal exchange against a scripted peer: exact
//! exchanges, what we send checked frame by frame, no network.

use super::link::ScriptedLink;
use super::*;

fn hello(role: Role) -> Vec<u8> {
    Frame::Hello { version: PROTOCOL_VERSION, role }.encode()
}

fn data(bytes: &[u8]) -> Vec<u8> {
    Frame::Data(bytes).encode()
}

fn eof() -> Vec<u8> {
    Frame::Eof.encode()
}

fn bye() -> Vec<u8> {
    Frame::Bye.encode()
}

type Record = std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>;

/// What we sent, as frames named in words (data with its bytes).
fn sent_of(record: &Record) -> Vec<String> {
    record
        .lock()
        .unwrap()
        .iter()
        .map(|m| match Frame::decode(m).unwrap() {
            Frame::Hello { role, .. } => format!("hello {role:?}"),
            Frame::Data(d) => format!("data {}", String::from_utf8_lossy(d)),
            Frame::Eof => "eof".into(),
            Frame::Bye => "bye".into(),
            Frame::Stop(reason) => format!("stop {}", String::from_utf8_lossy(reason)),
            Frame::Commit(_) => "commit".into(),
            Frame::Reveal(_) => "reveal".into(),
            other => format!("{other:?}"),
        })
        .collect()
}

/// A session over `link` with `input`; returns the outcome and what was
/// written to our output. The link is shared so what we sent can be read.
async fn session(
    link: ScriptedLink,
    mode: Mode,
    protocol: Protocol,
    input: &'static [u8],
) -> (Result<Totals, Error>, String, Record) {
    let record = link.sent.clone();
    let mut output = Vec::new();
    let outcome = run(link, mode, protocol, input, &mut output).await;
    (outcome, String::from_utf8(output).unwrap(), record)
}

#[tokio::test]
async fn a_pipe_carries_both_ways_half_closes_and_ends_on_the_goodbye() {
    // The peer answers as qrpair does: its data and EOF at once, its
    // goodbye only after ours (hello, data, eof, bye = 4 messages).
    let link = ScriptedLink::gated([(0, hello(Role::Stream)), (0, data(b"from the peer\n")), (0, eof()), (4, bye())]);
    let (outcome, output, record) = session(link, Mode::Pipe, Protocol::Framed, b"to the peer").await;
    assert_eq!(outcome.unwrap(), Totals { sent: 11, received: 14 });
    assert_eq!(output, "from the peer\n");
    assert_eq!(sent_of(&record), ["hello Stream", "data to the peer", "eof", "bye"]);
}

#[tokio::test]
async fn a_peer_that_leaves_before_its_goodbye_means_incomplete_output() {
    let link = ScriptedLink::new([hello(Role::Stream), data(b"half")]);
    let (outcome, output, _) = session(link, Mode::Pipe, Protocol::Framed, b"").await;
    assert!(matches!(outcome, Err(Error::PeerLeftEarly)), "{outcome:?}");
    assert_eq!(output, "half");
}

#[tokio::test]
async fn a_peer_in_another_mode_or_version_or_breaking_the_stream_is_named() {
    let link = ScriptedLink::new([hello(Role::Send)]);
    let (outcome, _, _) = session(link, Mode::Pipe, Protocol::Framed, b"").await;
    let e = outcome.unwrap_err();
    assert!(matches!(e, Error::RoleMismatch(Role::Stream, Role::Send)), "{e:?}");
    assert!(e.to_string().contains("use --send on one side and --receive on the other"), "{e}");

    let link = ScriptedLink::new([Frame::Hello { version: PROTOCOL_VERSION + 1, role: Role::Stream }.encode()]);
    let (outcome, _, _) = session(link, Mode::Pipe, Protocol::Framed, b"").await;
    assert!(matches!(outcome, Err(Error::Version(v)) if v == PROTOCOL_VERSION + 1), "{outcome:?}");

    let link = ScriptedLink::new([hello(Role::Stream), eof(), data(b"late")]);
    let (outcome, _, _) = session(link, Mode::Pipe, Protocol::Framed, b"").await;
    assert!(matches!(outcome, Err(Error::Protocol(FrameError::DataAfterEof))), "{outcome:?}");

    let link = ScriptedLink::new([hello(Role::Stream), Frame::Commit(&[7; NONCE_LEN]).encode()]);
    let (outcome, _, _) = session(link, Mode::Pipe, Protocol::Framed, b"").await;
    assert!(matches!(outcome, Err(Error::Protocol(FrameError::Malformed(_)))), "{outcome:?}");
}

#[tokio::test]
async fn a_peer_s_stop_is_quoted_as_its_words_and_escaped() {
    let link = ScriptedLink::new([hello(Role::Stream), Frame::Stop(b"disk full\x1b[2J\nqrpair: all done").encode()]);
    let (outcome, _, _) = session(link, Mode::Pipe, Protocol::Framed, b"").await;
    let text = outcome.unwrap_err().to_string();
    assert!(text.starts_with("the peer stopped, saying: \"disk full"), "{text}");
    assert!(!text.contains('\x1b') && !text.contains('\n'), "control characters reached the terminal: {text:?}");
}

/// Our reader went away (`| head`): this side ends quietly and tells the
/// peer why, instead of leaving it to time out.
#[tokio::test]
async fn a_closed_output_stops_the_peer_with_the_reason() {
    struct Closed;
    impl tokio::io::AsyncWrite for Closed {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            _: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::task::Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }
    let link = ScriptedLink::then_silent([hello(Role::Stream), data(b"more than anyone reads")]);
    let record = link.sent.clone();
    let outcome = run(link, Mode::Pipe, Protocol::Framed, tokio::io::empty(), Closed).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    let frames = sent_of(&record);
    assert_eq!(frames.last().unwrap(), &format!("stop {OUTPUT_CLOSED}"), "{frames:?}");
}

/// Input that has not ended (a person still at the keyboard): `lines` are
/// typed, then nothing, while the writing end stays open.
fn still_typing(lines: &'static [u8]) -> (tokio::io::DuplexStream, tokio::io::DuplexStream) {
    let (mut keyboard, input) = tokio::io::duplex(1024);
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let _ = keyboard.write_all(lines).await;
        std::future::pending::<()>().await;
        drop(keyboard);
    });
    let (_unused, other) = tokio::io::duplex(1);
    (input, other)
}

#[tokio::test]
async fn chat_marks_the_peer_s_lines_escapes_them_and_says_who_left() {
    let link = ScriptedLink::gated([
        (0, hello(Role::Stream)),
        (0, data(b"hi there\nsecond line, in two ")),
        (0, data(b"messages\n\x1b]0;owned\x07\n")),
        (0, eof()),
        // Our side answers the peer's leaving with its own EOF, then bye.
        (3, bye()),
    ]);
    let record = link.sent.clone();
    let (input, _) = still_typing(b"");
    let mut output = Vec::new();
    let outcome = run(link, Mode::Chat, Protocol::Framed, input, &mut output).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(
        String::from_utf8(output).unwrap(),
        "peer> hi there\npeer> second line, in two messages\npeer> \u{fffd}]0;owned\u{fffd}\n-- the peer left the chat\n"
    );
    assert_eq!(sent_of(&record), ["hello Stream", "eof", "bye"]);
}

/// A browser page speaks no framing: each message is a line of the chat,
/// and what we type goes out as one text message per line.
#[tokio::test]
async fn a_plain_peer_s_messages_are_lines_and_ours_go_out_as_text() {
    let link = ScriptedLink::gated([(2, b"hello from the page".to_vec())]);
    let record = link.sent.clone();
    let (input, _) = still_typing(b"one\ntwo\n");
    let mut output = Vec::new();
    let outcome = run(link, Mode::Chat, Protocol::Plain, input, &mut output).await;
    assert_eq!(outcome.unwrap().received, 19);
    assert_eq!(record.lock().unwrap().clone(), [b"one".to_vec(), b"two".to_vec()]);
    assert_eq!(String::from_utf8(output).unwrap(), "peer> hello from the page\n-- the peer left the chat\n");

    // A pipe to a plain peer: its messages are written as they are.
    let link = ScriptedLink::new([b"line one".to_vec(), b"line two".to_vec()]);
    let (input, _) = still_typing(b"");
    let mut output = Vec::new();
    let outcome = run(link, Mode::Pipe, Protocol::Plain, input, &mut output).await;
    assert_eq!(outcome.unwrap().received, 16);
    assert_eq!(output, b"line oneline two");
}

#[tokio::test]
async fn the_commit_reveal_exchange_checks_the_peer_s_nonce_against_its_commitment() {
    let theirs = [42u8; NONCE_LEN];
    let honest =
        ScriptedLink::gated([(1, Frame::Commit(&commitment(&theirs)).encode()), (2, Frame::Reveal(&theirs).encode())]);
    let mut link = honest;
    let (ours, got) = exchange_nonces(&mut link).await.unwrap();
    assert_eq!(got, theirs);
    // What we sent: our commitment first, then the nonce it commits to.
    let sent = link.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0], Frame::Commit(&commitment(&ours)).encode());
    assert_eq!(sent[1], Frame::Reveal(&ours).encode());

    // A nonce other than the one committed to: someone in between.
    let mut link = ScriptedLink::gated([
        (1, Frame::Commit(&commitment(&theirs)).encode()),
        (2, Frame::Reveal(&[43u8; NONCE_LEN]).encode()),
    ]);
    assert!(matches!(exchange_nonces(&mut link).await, Err(Error::BadCommitment)));

    // An older qrpair starts with its hello: its version is named.
    let mut link = ScriptedLink::new([Frame::Hello { version: PROTOCOL_VERSION - 1, role: Role::Stream }.encode()]);
    assert!(matches!(exchange_nonces(&mut link).await, Err(Error::Version(v)) if v == PROTOCOL_VERSION - 1));

    // Gone before revealing.
    let mut link = ScriptedLink::new([Frame::Commit(&commitment(&theirs)).encode()]);
    assert!(matches!(exchange_nonces(&mut link).await, Err(Error::PeerLeftEarly)));
}

/// Both directions done and our goodbye sent, the peer says nothing more:
/// the session gives up after `BYE_WAIT`, saying the output may be
/// incomplete, rather than hanging.
#[tokio::test(start_paused = true)]
async fn a_peer_that_never_says_goodbye_is_given_up_on() {
    let link = ScriptedLink::then_silent([hello(Role::Stream), eof()]);
    let (outcome, _, record) = session(link, Mode::Pipe, Protocol::Framed, b"").await;
    assert!(matches!(outcome, Err(Error::NoGoodbye(wait)) if wait == BYE_WAIT), "{outcome:?}");
    assert_eq!(sent_of(&record), ["hello Stream", "eof", "bye"]);
}
