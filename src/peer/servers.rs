//! What the STUN and TURN servers said while candidates were gathered.
//!
//! webrtc-rs only logs why a server gave no candidate, and a code made
//! without the relay or the public address a person asked for fails much
//! later, at the other side, with nothing to say why. So the sockets show
//! each STUN message a server sends during gathering to a `ServerLog`
//! (responses only: the first bytes and two attributes are read), and the
//! reason is told before the code is shown: the credentials refused (a 401
//! to the request that carried them), another refusal with its code, a
//! connection that could not be made, or silence.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rtc_stun::error_code::ErrorCodeAttribute;
use rtc_stun::message::{
    Getter, Message, CLASS_ERROR_RESPONSE, CLASS_SUCCESS_RESPONSE, METHOD_ALLOCATE, METHOD_BINDING,
};

/// STUN's 401 Unauthorized: the first answers every unauthenticated
/// Allocate (it carries the realm and nonce); a second answers credentials
/// the server refuses.
const UNAUTHORIZED: u16 = 401;
/// How many refusals one server's record keeps.
const KEPT_REFUSALS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Stun,
    Turn,
    /// TURN over TLS: reached over TCP.
    TurnTls,
}

/// One server asked for, and what it said.
#[derive(Debug, Clone)]
pub struct Heard {
    pub url: String,
    pub kind: Kind,
    pub addrs: Vec<SocketAddr>,
    /// Why its address could not be found, if it could not.
    pub unresolved: Option<String>,
    /// A Binding success: the server reported our public address.
    pub mapped: bool,
    /// An Allocate success: a relay address.
    pub allocated: bool,
    /// Error responses, in order: code and reason phrase.
    pub refusals: Vec<(u16, String)>,
    /// The connection to it could not be made (TURN over TLS).
    pub unreachable: Option<String>,
}

impl Heard {
    fn new(url: &str, kind: Kind, addrs: Result<Vec<SocketAddr>, String>) -> Heard {
        let (addrs, unresolved) = match addrs {
            Ok(addrs) if !addrs.is_empty() => (addrs, None),
            Ok(_) => (Vec::new(), Some("has no address".to_string())),
            Err(e) => (Vec::new(), Some(e)),
        };
        Heard {
            url: url.to_string(),
            kind,
            addrs,
            unresolved,
            mapped: false,
            allocated: false,
            refusals: Vec::new(),
            unreachable: None,
        }
    }

    /// Whether it gave what it was asked for: a relay, or our public address.
    pub fn served(&self) -> bool {
        match self.kind {
            Kind::Stun => self.mapped,
            Kind::Turn | Kind::TurnTls => self.allocated,
        }
    }

    /// Why it gave nothing, in words, after `waited`; `None` if it served.
    pub fn problem(&self, waited: Duration) -> Option<String> {
        if self.served() {
            return None;
        }
        let what = match self.kind {
            Kind::Stun => "the STUN server",
            Kind::Turn | Kind::TurnTls => "the TURN server",
        };
        // UDP is the default: said only when it is not.
        let url = crate::text::printable(self.url.trim_end_matches("?transport=udp"));
        let reason = if let Some(why) = &self.unresolved {
            format!("could not be found: {}", crate::text::printable(why))
        } else if let Some(why) = &self.unreachable {
            format!("could not be reached: {}", crate::text::printable(why))
        } else if self.refusals.iter().filter(|(code, _)| *code == UNAUTHORIZED).count() >= 2 {
            "refused the user name and password (401 Unauthorized): check QRPAIR_TURN_USER and QRPAIR_TURN_PASSWORD"
                .to_string()
        } else if let Some((code, phrase)) = self.refusals.iter().rfind(|(code, _)| *code != UNAUTHORIZED) {
            let asked = if self.kind == Kind::Stun { "our public address" } else { "a relay" };
            format!("refused {asked}: {code} {}", crate::text::capped(crate::text::printable(phrase)))
        } else if self.refusals.is_empty() {
            let port = self.addrs.first().map(|a| a.port()).unwrap_or(3478);
            let transport = if self.kind == Kind::TurnTls { "TCP" } else { "UDP" };
            format!(
                "did not answer within {:.0} s: is it running, and does {transport} port {port} get through?",
                waited.as_secs_f64()
            )
        } else {
            format!("answered but gave no relay address within {:.0} s", waited.as_secs_f64())
        };
        Some(format!("{what} {url} {reason}"))
    }
}

/// The servers of one peer and what each said, while `listening`.
#[derive(Debug, Default)]
pub struct ServerLog {
    listening: AtomicBool,
    heard: Mutex<Vec<Heard>>,
}

impl ServerLog {
    /// Expects `url` at `addrs` (or records why it has none) and listens.
    pub fn expect(&self, url: &str, kind: Kind, addrs: Result<Vec<SocketAddr>, String>) {
        self.lock().push(Heard::new(url, kind, addrs));
        self.listening.store(true, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Heard>> {
        self.heard.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// While gathering: after it, the sockets need not show anything.
    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::Relaxed)
    }

    /// Shown each datagram the sockets receive while `listening`: only
    /// STUN responses from a server are read.
    pub fn observe(&self, from: SocketAddr, datagram: &[u8]) {
        // A STUN message begins with two zero bits; ChannelData and DTLS do not.
        if !self.listening() || datagram.len() < 20 || datagram[0] & 0xC0 != 0 {
            return;
        }
        let mut heard = self.lock();
        let Some(server) = heard.iter_mut().find(|h| h.addrs.contains(&from)) else { return };
        let mut message = Message::new();
        if message.unmarshal_binary(datagram).is_err() {
            return;
        }
        match (message.typ.method, message.typ.class) {
            (METHOD_BINDING, CLASS_SUCCESS_RESPONSE) => server.mapped = true,
            (METHOD_ALLOCATE, CLASS_SUCCESS_RESPONSE) => server.allocated = true,
            (METHOD_BINDING | METHOD_ALLOCATE, CLASS_ERROR_RESPONSE) if server.refusals.len() < KEPT_REFUSALS => {
                let mut error = ErrorCodeAttribute::default();
                if error.get_from(&message).is_ok() {
                    let phrase = String::from_utf8_lossy(&error.reason).into_owned();
                    server.refusals.push((error.code.0, phrase));
                }
            }
            _ => {}
        }
    }

    /// A connection to the server at `addr` could not be made.
    pub fn unreachable(&self, addr: SocketAddr, why: &str) {
        if let Some(server) = self.lock().iter_mut().find(|h| h.addrs.contains(&addr)) {
            server.unreachable.get_or_insert_with(|| why.to_string());
        }
    }

    /// Stops listening and returns what each server said.
    pub fn finish(&self) -> Vec<Heard> {
        self.listening.store(false, Ordering::Relaxed);
        self.lock().clone()
    }
}

/// How long a server's name may take to resolve before it counts as not found.
const RESOLVE_LIMIT: Duration = Duration::from_secs(3);

/// Expects each STUN and `turn:` server (turns.rs expects the `turns:`
/// ones, which it resolves itself).
pub async fn expect_all(log: &ServerLog, stun: &[String], turn: &[super::TurnServer]) {
    let stun = stun.iter().map(|url| (url.clone(), Kind::Stun, super::nat::stun_host_port(url)));
    let turn = turn
        .iter()
        .filter(|t| t.address.transport == super::TurnTransport::Udp)
        .map(|t| (t.address.url(), Kind::Turn, Some(t.address.host_port())));
    for (url, kind, host_port) in stun.chain(turn) {
        let addrs = match host_port {
            Some(host_port) => match tokio::time::timeout(RESOLVE_LIMIT, tokio::net::lookup_host(host_port)).await {
                Ok(Ok(addrs)) => Ok(addrs.collect()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("its name did not resolve within {} s", RESOLVE_LIMIT.as_secs())),
            },
            None => Err("is not a stun: URL".to_string()),
        };
        log.expect(&url, kind, addrs);
    }
}

/// What gathering came to, once `waited`: a line for each server that gave
/// nothing, saying what the code can still reach; or, with `--relay` and no
/// relay address, the error that stops the code from being shown at all.
pub fn verdict(
    heard: &[Heard],
    relay_only: bool,
    candidates: &[crate::signal::Candidate],
    waited: Duration,
) -> Result<Vec<String>, String> {
    // With --relay no STUN request is made: its silence means nothing.
    let problems: Vec<String> =
        heard.iter().filter(|h| !(relay_only && h.kind == Kind::Stun)).filter_map(|h| h.problem(waited)).collect();
    if relay_only && !candidates.iter().any(|c| c.kind == crate::signal::CandidateType::Relay) {
        let why = if problems.is_empty() {
            format!("no TURN server gave a relay address within {:.0} s", waited.as_secs_f64())
        } else {
            problems.join("; ")
        };
        return Err(format!("{why}; with --relay the code can carry nothing else, so none was made"));
    }
    let reach = crate::signal::reach(candidates);
    Ok(problems.into_iter().map(|p| format!("{p}; the code reaches {reach}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc_stun::message::{MessageType, Setter, TransactionId};
    use rtc_stun::textattrs::TextAttribute;

    const SERVER: &str = "198.51.100.7:3478";

    fn response(
        method: rtc_stun::message::Method,
        class: rtc_stun::message::MessageClass,
        error: Option<(u16, &str)>,
    ) -> Vec<u8> {
        let mut m = Message::new();
        let mut setters: Vec<Box<dyn Setter>> =
            vec![Box::new(TransactionId::new()), Box::new(MessageType::new(method, class))];
        if let Some((code, reason)) = error {
            setters.push(Box::new(ErrorCodeAttribute {
                code: rtc_stun::error_code::ErrorCode(code),
                reason: reason.as_bytes().to_vec(),
            }));
            setters.push(Box::new(TextAttribute::new(rtc_stun::attributes::ATTR_REALM, "lab".into())));
        }
        m.build(&setters).unwrap();
        m.raw
    }

    fn log_of(kind: Kind) -> ServerLog {
        let log = ServerLog::default();
        log.expect("turn:198.51.100.7:3478", kind, Ok(vec![SERVER.parse().unwrap()]));
        log
    }

    #[test]
    fn a_second_401_means_the_credentials_were_refused() {
        let log = log_of(Kind::Turn);
        let unauthorized = response(METHOD_ALLOCATE, CLASS_ERROR_RESPONSE, Some((401, "Unauthorized")));
        log.observe(SERVER.parse().unwrap(), &unauthorized);
        // From another address, or after gathering: not this server's word.
        log.observe("198.51.100.8:3478".parse().unwrap(), &unauthorized);
        let first = log.lock()[0].problem(Duration::from_secs(4)).unwrap();
        assert!(first.ends_with("answered but gave no relay address within 4 s"), "{first}");
        log.observe(SERVER.parse().unwrap(), &unauthorized);
        let heard = log.finish();
        log.observe(SERVER.parse().unwrap(), &unauthorized);
        assert_eq!(heard[0].refusals.len(), 2);
        assert_eq!(
            heard[0].problem(Duration::from_secs(4)).unwrap(),
            "the TURN server turn:198.51.100.7:3478 refused the user name and password (401 Unauthorized): \
             check QRPAIR_TURN_USER and QRPAIR_TURN_PASSWORD"
        );
    }

    #[test]
    fn other_refusals_are_named_with_their_code_and_escaped_phrase() {
        let log = log_of(Kind::Turn);
        for error in [(401, "Unauthorized"), (486, "Allocation Quota Reached\u{1b}[31m")] {
            log.observe(SERVER.parse().unwrap(), &response(METHOD_ALLOCATE, CLASS_ERROR_RESPONSE, Some(error)));
        }
        let problem = log.finish()[0].problem(Duration::from_secs(4)).unwrap();
        assert_eq!(
            problem,
            "the TURN server turn:198.51.100.7:3478 refused a relay: 486 Allocation Quota Reached\u{fffd}[31m"
        );
        let stun = ServerLog::default();
        stun.expect("stun:198.51.100.7:3478", Kind::Stun, Ok(vec![SERVER.parse().unwrap()]));
        let refusal = response(METHOD_BINDING, CLASS_ERROR_RESPONSE, Some((420, "Unknown Attribute")));
        stun.observe(SERVER.parse().unwrap(), &refusal);
        assert_eq!(
            stun.finish()[0].problem(Duration::ZERO).unwrap(),
            "the STUN server stun:198.51.100.7:3478 refused our public address: 420 Unknown Attribute"
        );
    }

    #[test]
    fn silence_unreachable_and_success_are_told_apart() {
        let silent = log_of(Kind::Turn);
        assert_eq!(
            silent.finish()[0].problem(Duration::from_millis(3900)).unwrap(),
            "the TURN server turn:198.51.100.7:3478 did not answer within 4 s: is it running, and does UDP port \
             3478 get through?"
        );
        let tls = log_of(Kind::TurnTls);
        tls.unreachable(SERVER.parse().unwrap(), "connection refused");
        assert!(tls.finish()[0].problem(Duration::ZERO).unwrap().ends_with("could not be reached: connection refused"));
        let served = log_of(Kind::Turn);
        served.observe(SERVER.parse().unwrap(), &response(METHOD_ALLOCATE, CLASS_SUCCESS_RESPONSE, None));
        assert_eq!(served.finish()[0].problem(Duration::ZERO), None);
        let stun = ServerLog::default();
        stun.expect("stun:198.51.100.7", Kind::Stun, Ok(vec![SERVER.parse().unwrap()]));
        stun.observe(SERVER.parse().unwrap(), &response(METHOD_BINDING, CLASS_SUCCESS_RESPONSE, None));
        assert_eq!(stun.finish()[0].problem(Duration::ZERO), None);
        let nowhere = ServerLog::default();
        nowhere.expect("stun:nowhere.invalid", Kind::Stun, Err("failed to lookup address".into()));
        assert_eq!(
            nowhere.finish()[0].problem(Duration::ZERO).unwrap(),
            "the STUN server stun:nowhere.invalid could not be found: failed to lookup address"
        );
    }

    #[test]
    fn with_relay_a_missing_relay_stops_the_code_and_without_it_is_a_note() {
        let cand = |address: &str, kind: &str| {
            crate::signal::Candidate::parse(&format!("1 1 udp 1 {address} 50000 typ {kind}")).unwrap()
        };
        let log = log_of(Kind::Turn);
        log.expect("stun:198.51.100.9:3478", Kind::Stun, Ok(vec!["198.51.100.9:3478".parse().unwrap()]));
        let heard = log.finish();
        let waited = Duration::from_secs(4);
        let err = verdict(&heard, true, &[], waited).unwrap_err();
        assert!(err.starts_with("the TURN server turn:198.51.100.7:3478 did not answer within 4 s"), "{err}");
        assert!(err.ends_with("with --relay the code can carry nothing else, so none was made"), "{err}");
        assert!(!err.contains("STUN"), "{err}");
        let notes = verdict(&heard, false, &[cand("192.168.1.20", "host")], waited).unwrap();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].starts_with("the TURN server turn:198.51.100.7:3478 did not answer"), "{notes:?}");
        assert!(notes[1].starts_with("the STUN server stun:198.51.100.9:3478 did not answer"), "{notes:?}");
        assert!(notes[1].ends_with("; the code reaches the same network only (private addresses); to cross NATs, make the code with --stun"), "{notes:?}");
        // A relay from another server: no error, a note for the one that failed.
        let notes = verdict(&heard, true, &[cand("203.0.113.5", "relay")], waited).unwrap();
        assert_eq!(notes.len(), 1, "{notes:?}");
    }
}
