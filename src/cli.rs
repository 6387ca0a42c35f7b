//! Command-line definitions and help text. No behaviour lives here.

use crate::peer::{TurnAddress, TurnTransport};
use crate::qr::EcLevel;
use crate::source::Source;
use clap::{Args, Parser, Subcommand};
use std::net::IpAddr;
use std::path::PathBuf;

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  anything else (I/O error, internal error)
  2  usage error (bad flags, no answer source and no terminal to ask on)
  3  bad input: unreadable image, no QR code, a QR that is not a qrpair payload,
     a damaged token, an offer where an answer was expected (and vice versa),
     an answer made for another offer, files that already exist, a hostile
     file list or a peer breaking the session protocol
  4  connection failed, was lost, or timed out
  130  interrupted (Ctrl-C) during a transfer; the receiver keeps NAME.qrpair.part";

#[derive(Debug, Parser)]
#[command(
    name = "qrpair",
    version = env!("QRPAIR_VERSION"),
    about = "Pair two machines over WebRTC with a QR code as the only signaling channel",
    long_about = "Pair two machines over WebRTC with a QR code as the only signaling channel: no server, works on an offline LAN.\n\n\
        On one machine run `qrpair offer`; show its QR (or send the PNG or token) to the other machine and run \
        `qrpair answer <image-or-token>` there; bring the answer QR back to the offerer. A DTLS-encrypted data \
        channel then carries a byte pipe or a chat.",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show an offer QR, wait for the answer, then open the channel
    #[command(after_help = EXIT_CODES_HELP)]
    Offer {
        /// Where to write the offer QR as PNG (written atomically; only a regular file is
        /// replaced, never a link, device or folder)
        #[arg(long, value_name = "PATH", default_value = "qrpair-offer.png")]
        qr_out: PathBuf,
        /// The answer: an image, a file holding a token, a token, or a folder in which
        /// the first new image holding the answer is taken; waits until it appears.
        /// Without it, asks on the terminal.
        #[arg(long, value_name = "SOURCE", value_parser = parse_source)]
        answer: Option<Source>,
        #[command(flatten)]
        common: Common,
    },
    /// Read an offer (image or token), show the answer QR, then open the channel
    #[command(after_help = EXIT_CODES_HELP)]
    Answer {
        /// The offer: an image (PNG, JPEG, WebP, GIF, BMP), a token, a browser's JSON description,
        /// a file holding a token or JSON, or - for an image or one line on stdin
        #[arg(value_name = "SOURCE", required_unless_present = "watch", value_parser = parse_source)]
        source: Option<Source>,
        /// Wait for the first new image in DIR that holds an offer (a screenshots folder)
        #[arg(long, value_name = "DIR", conflicts_with = "source")]
        watch: Option<PathBuf>,
        /// Where to write the answer QR as PNG (written atomically)
        #[arg(long, value_name = "PATH", default_value = "qrpair-answer.png")]
        qr_out: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Show what a QR code (image or token) holds
    #[command(after_help = EXIT_CODES_HELP)]
    Decode {
        /// An image or a token
        #[arg(value_name = "SOURCE", value_parser = parse_source)]
        source: Source,
        /// Print one JSON object instead of text (with --all: one per line): kind, payload_bytes,
        /// qr_version, ec_level, source, form, answers_offer, made_by_qrpair, fingerprint,
        /// candidates [{address, port, protocol, type}], sdp_bytes
        #[arg(long, conflicts_with = "raw")]
        json: bool,
        /// List every QR code in the picture, qrpair's or not
        #[arg(long, conflicts_with_all = ["raw", "sdp", "sdp_json"])]
        all: bool,
        /// Write the exact bytes of the first QR code found to stdout (any QR code, not only qrpair's)
        #[arg(long, conflicts_with_all = ["sdp", "sdp_json"])]
        raw: bool,
        /// Print the full session description the code stands for (rebuilt from the compact form)
        #[arg(long, conflicts_with_all = ["json", "sdp_json"])]
        sdp: bool,
        /// Print it as a browser's JSON on one line ({"type":"offer","sdp":"..."}), ready to paste into setRemoteDescription
        #[arg(long, conflicts_with = "json")]
        sdp_json: bool,
    },
    /// Turn a description (a browser's JSON, a token, an image) into a qrpair QR code and token
    #[command(after_help = EXIT_CODES_HELP)]
    Encode {
        /// A browser's JSON description ({"type":"offer","sdp":"..."}), a file holding one, a token, an image, or - for one line of stdin
        #[arg(value_name = "SOURCE", value_parser = parse_source)]
        source: Source,
        /// Where to write the QR as PNG (written atomically)
        #[arg(long, value_name = "PATH", default_value = "qrpair-code.png")]
        qr_out: PathBuf,
        /// QR error-correction level
        #[arg(long, value_enum, default_value_t = EcLevel::M)]
        ec: EcLevel,
    },
    /// Pair two peers on this machine through real PNG files, send a message each way
    Demo {
        /// QR error-correction level
        #[arg(long, value_enum, default_value_t = EcLevel::M)]
        ec: EcLevel,
    },
    /// Print a completion script for SHELL to stdout,
    /// e.g. `qrpair completions bash > ~/.local/share/bash-completion/completions/qrpair`
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout, e.g. `qrpair man > qrpair.1`
    Man,
}

#[derive(Debug, Args)]
pub struct Common {
    /// Local address to offer to the peer (repeatable); default: every
    /// non-loopback interface address, or loopback if there is none
    #[arg(long, value_name = "IP", value_parser = parse_bind)]
    pub bind: Vec<IpAddr>,
    /// STUN server for a public address, e.g. stun:stun.example.org:3478 (repeatable);
    /// default: none, host addresses only (offline LAN)
    #[arg(long, value_name = "URL", value_parser = parse_stun)]
    pub stun: Vec<String>,
    /// TURN relay for when no direct path exists (both sides behind NATs that
    /// change ports), e.g. turn:turn.example.org:3478 (repeatable; UDP), or
    /// turns:turn.example.org:443 for TURN over TLS where only TLS gets out
    /// (a self-hosted server's CA in QRPAIR_TURN_CA=/path/ca.pem). The
    /// credentials come from QRPAIR_TURN_USER and QRPAIR_TURN_PASSWORD, kept off
    /// the command line where other users can read them (turn:USER:PASS@HOST
    /// works too, but shows them there). The relay carries the encrypted bytes
    /// and cannot read them
    #[arg(long, value_name = "URL", value_parser = parse_turn)]
    pub turn: Vec<TurnArg>,
    /// Offer only the --turn relay's address: neither machine learns the other's
    /// addresses (each code shows the relay's), at the cost of every byte going
    /// through the relay. Needs --turn on this side. If no TURN server gives a
    /// relay address, no code is shown: qrpair says why (wrong credentials,
    /// no answer) and exits 4
    #[arg(long)]
    pub relay: bool,
    /// Largest IP packet the path between the two machines carries, as
    /// `ip link` shows it (e.g. 1500, 9000 for jumbo frames), and no probing.
    /// Default: found by itself: packets start at 1.2 KB (fit any path) and
    /// grow to the largest size the peer acknowledges a probe of (1500,
    /// 9000, ...: path MTU discovery, within a round trip on a LAN; -v
    /// prints it); 16 KiB packets when every --bind address is loopback.
    /// Above 1500 the peer must read large datagrams (qrpair on Linux 5.0+,
    /// browsers)
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(576..=65535))]
    pub mtu: Option<u32>,
    /// How long to wait for the other side in all (e.g. 90s, 10m, 1h). An answer
    /// carried back minutes later still connects; once both codes are applied, the
    /// connection itself must come up within 30 s
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// QR error-correction level
    #[arg(long, value_enum, default_value_t = EcLevel::M)]
    pub ec: EcLevel,
    /// Byte pipe: stdin to the peer's stdout and back (default when stdin is not a terminal)
    #[arg(long, conflicts_with = "chat")]
    pub pipe: bool,
    /// Line chat (default when stdin is a terminal)
    #[arg(long)]
    pub chat: bool,
    /// Also print our description as a browser's JSON ({"type":"offer","sdp":"..."}) on one line,
    /// to paste into a browser console; the other side's JSON is accepted wherever a SOURCE is
    #[arg(long)]
    pub sdp_json: bool,
    /// Send these files and folders (recursively) instead of a pipe or chat
    #[arg(long, value_name = "PATH", num_args = 1.., conflicts_with_all = ["pipe", "chat", "receive"])]
    pub send: Vec<PathBuf>,
    /// Receive files into DIR (default: the current folder) instead of a pipe or chat
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = ".", conflicts_with_all = ["pipe", "chat"])]
    pub receive: Option<PathBuf>,
    /// Accept the offered files without asking
    #[arg(long, requires = "receive")]
    pub yes: bool,
    /// Replace files that already exist (default: refuse and name them)
    #[arg(long, requires = "receive", conflicts_with = "rename")]
    pub overwrite: bool,
    /// Keep existing files and save new ones as "name (1).ext"
    #[arg(long, requires = "receive")]
    pub rename: bool,
    /// With --send/--receive: one JSON event per line on stdout (manifest, file_started,
    /// progress, file_done with its BLAKE3 digest, done, error)
    #[arg(long)]
    pub json: bool,
    /// With --send/--receive: no progress output
    #[arg(long, conflicts_with = "json")]
    pub quiet: bool,
    /// After connecting, ask on the terminal whether both screens show the same
    /// authentication code before any data is read or written
    #[arg(long)]
    pub verify: bool,
}

/// An address a peer can send to: not "any", broadcast or multicast,
/// which would be offered as candidates nobody can reach.
/// Never refuses: what a SOURCE word is (stdin, clipboard, token, file,
/// folder) is decided once here, and reading it says what is wrong.
fn parse_source(text: &str) -> Result<Source, String> {
    Ok(Source::parse(text))
}

fn parse_bind(text: &str) -> Result<IpAddr, String> {
    let ip: IpAddr =
        text.trim().parse().map_err(|e| format!("{e} (give an IP address of this machine, e.g. 192.168.1.20)"))?;
    let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    if ip.is_unspecified() {
        return Err("means every address: leave --bind out to offer every address of this machine".into());
    }
    if broadcast || ip.is_multicast() {
        return Err(
            "is a broadcast or multicast address, which no peer can connect to: give an address of this machine".into(),
        );
    }
    Ok(ip)
}

/// `stun:HOST[:PORT]` (or `stuns:`), checked here so a typo is named as
/// such rather than surfacing as a failure to bind.
fn parse_stun(text: &str) -> Result<String, String> {
    let text = text.trim();
    let hint = "expected stun:HOST[:PORT], e.g. stun:stun.example.org:3478";
    let rest = text
        .strip_prefix("stun:")
        .or_else(|| text.strip_prefix("stuns:"))
        .ok_or_else(|| format!("not a STUN URL ({hint})"))?;
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, _)) if !host.ends_with(']') && host.contains(':') => (rest, None),
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    let host_ok = !host.is_empty()
        && !host.starts_with("//")
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if !host_ok || !port_ok {
        return Err(format!("not a STUN URL ({hint})"));
    }
    Ok(text.to_string())
}

/// A `--turn` server, with the credentials its URL may carry as `USER:PASS@`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnArg {
    pub address: TurnAddress,
    pub credentials: Option<(String, String)>,
}

/// `turn:[USER:PASS@]HOST[:PORT][?transport=udp]` (UDP to the server) or
/// `turns:[USER:PASS@]HOST[:PORT][?transport=tcp]` (TLS over TCP to the
/// server, port 5349 by default); plain TCP (`turn:…?transport=tcp`) is
/// refused here because the WebRTC stack would skip it silently.
fn parse_turn(text: &str) -> Result<TurnArg, String> {
    let text = text.trim();
    let hint = "expected turn:HOST[:PORT] or turns:HOST[:PORT], e.g. turn:turn.example.org:3478";
    let (tls, rest) = match (text.strip_prefix("turns:"), text.strip_prefix("turn:")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        _ => return Err(format!("not a TURN URL ({hint})")),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    // webrtc 0.21's relayer skips TCP URLs with only a log line: the code
    // would carry no relay and pairing fail later for no visible reason, so
    // they are refused here instead. `turns:` is TLS over TCP by definition
    // and is carried by qrpair itself (src/peer/turns.rs).
    match (tls, query) {
        (_, None) | (false, Some("transport=udp")) | (true, Some("transport=tcp")) => {}
        (false, Some(_)) => {
            return Err(
                "TURN over plain TCP is not supported: use turn:HOST[:PORT] (UDP) or turns:HOST[:PORT] (TLS)".into()
            )
        }
        (true, Some(_)) => return Err("turns: is TURN over TLS on TCP: leave out ?transport=".into()),
    }
    let (credentials, server) = match rest.rsplit_once('@') {
        Some((cred, server)) => {
            let (user, pass) =
                cred.split_once(':').ok_or_else(|| format!("credentials must be USER:PASSWORD@ ({hint})"))?;
            (Some((user.to_string(), pass.to_string())), server)
        }
        None => (None, rest),
    };
    let stun_form = parse_stun(&format!("stun:{server}")).map_err(|_| format!("not a TURN URL ({hint})"))?;
    let (host, port) = split_host_port(&stun_form["stun:".len()..]);
    let (transport, default_port) = if tls { (TurnTransport::Tls, 5349) } else { (TurnTransport::Udp, 3478) };
    let port = match port {
        Some(port) => port.parse().map_err(|_| format!("not a TURN URL ({hint})"))?,
        None => default_port,
    };
    Ok(TurnArg { address: TurnAddress { host: host.to_string(), port, transport }, credentials })
}

/// `HOST[:PORT]` → host (IPv6 without brackets) and port, if given.
fn split_host_port(server: &str) -> (&str, Option<&str>) {
    if let Some(v6) = server.strip_prefix('[') {
        let (host, after) = v6.split_once(']').unwrap_or((v6, ""));
        return (host, after.strip_prefix(':'));
    }
    match server.rsplit_once(':') {
        // More than one colon and no brackets: a bare IPv6 address.
        Some((host, _)) if host.contains(':') => (server, None),
        Some((host, port)) => (host, Some(port)),
        None => (server, None),
    }
}

pub const MAX_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let parsed = match text.parse::<u64>() {
        Ok(secs) => Ok(std::time::Duration::from_secs(secs)),
        Err(_) => humantime::parse_duration(text).map_err(|e| format!("{e} (examples: 90s, 10m, 1h)")),
    }?;
    if parsed.is_zero() {
        return Err("must be more than zero".into());
    }
    // Deadlines are instants in the future: an absurd duration would
    // overflow them, and nobody waits a month for a QR code.
    if parsed > MAX_TIMEOUT {
        return Err(format!("is more than qrpair waits (at most {} days)", MAX_TIMEOUT.as_secs() / 86_400));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_urls_lose_their_credentials_and_name_udp() {
        let plain = parse_turn("turn:turn.example.org").unwrap();
        let udp = |host: &str, port| TurnAddress { host: host.into(), port, transport: TurnTransport::Udp };
        assert_eq!(plain, TurnArg { address: udp("turn.example.org", 3478), credentials: None });
        assert_eq!(plain.address.url(), "turn:turn.example.org:3478?transport=udp");
        let with = parse_turn("turn:alice:pa:ss@198.51.100.100:3479?transport=udp").unwrap();
        assert_eq!(with.address.url(), "turn:198.51.100.100:3479?transport=udp");
        assert_eq!(with.credentials, Some(("alice".into(), "pa:ss".into())));
        assert_eq!(parse_turn("turn:2001:db8::1").unwrap().address, udp("2001:db8::1", 3478));
        assert_eq!(
            parse_turn("turn:[2001:db8::1]:3479").unwrap().address.url(),
            "turn:[2001:db8::1]:3479?transport=udp"
        );
        // TURN over TLS: port 5349 unless given, credentials kept apart.
        assert_eq!(parse_turn("turns:turn.example.org").unwrap().address.url(), "turns:turn.example.org:5349");
        let tls = parse_turn("turns:alice:pw@198.51.100.100:443?transport=tcp").unwrap();
        assert_eq!(
            tls,
            TurnArg {
                address: TurnAddress { host: "198.51.100.100".into(), port: 443, transport: TurnTransport::Tls },
                credentials: Some(("alice".into(), "pw".into()))
            }
        );
        assert_eq!(parse_turn("turns:[2001:db8::1]").unwrap().address.url(), "turns:[2001:db8::1]:5349");
        assert!(parse_turn("turns:turn.example.org?transport=udp").is_err());
        // What webrtc-rs 0.21 would skip without a word is refused with the reason.
        assert!(parse_turn("turn:turn.example.org?transport=tcp").unwrap_err().contains("plain TCP is not supported"));
        for bad in ["stun:turn.example.org", "turn:", "turn:host:0", "turn:alice@host", "turn://host"] {
            assert!(parse_turn(bad).is_err(), "{bad} was accepted");
        }
    }
}
