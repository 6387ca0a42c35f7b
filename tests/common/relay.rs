//! A bad network in user space: a UDP relay on loopback that loses and
//! delays packets, for kernels without `sch_netem` (this project's CI
//! machines among them). The test carries the codes between the two
//! processes and rewrites their candidates to the relay's two sockets, so
//! neither side ever learns the other's real port: every packet, ICE checks
//! included, crosses the relay.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Relay {
    /// Where the answerer is told the offerer is.
    pub for_answerer: SocketAddr,
    /// Where the offerer is told the answerer is.
    pub for_offerer: SocketAddr,
    cut: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    pub dropped: Arc<AtomicU64>,
    pub forwarded: Arc<AtomicU64>,
}

impl Relay {
    /// Relays between the answerer (whoever writes to `for_answerer` first)
    /// and the offerer at `offerer`, losing `loss` of the packets in each
    /// direction and delaying the rest by `delay`.
    pub fn start(offerer: SocketAddr, loss: f64, delay: Duration) -> Relay {
        let facing_answerer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let facing_offerer = UdpSocket::bind("127.0.0.1:0").unwrap();
        for s in [&facing_answerer, &facing_offerer] {
            s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        }
        let relay = Relay {
            for_answerer: facing_answerer.local_addr().unwrap(),
            for_offerer: facing_offerer.local_addr().unwrap(),
            cut: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(AtomicBool::new(false)),
            dropped: Arc::new(AtomicU64::new(0)),
            forwarded: Arc::new(AtomicU64::new(0)),
        };
        let answerer: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
        let (a, o) = (Arc::new(facing_answerer), Arc::new(facing_offerer));
        // Answerer → offerer: learn the answerer's address from what arrives.
        relay.direction(a.clone(), o.clone(), loss, delay, {
            let answerer = answerer.clone();
            move |from| {
                *answerer.lock().unwrap() = Some(from);
                Some(offerer)
            }
        });
        relay.direction(o, a, loss, delay, move |_| *answerer.lock().unwrap());
        relay
    }

    fn direction(
        &self,
        from: Arc<UdpSocket>,
        to: Arc<UdpSocket>,
        loss: f64,
        delay: Duration,
        destination: impl Fn(SocketAddr) -> Option<SocketAddr> + Send + 'static,
    ) {
        let (queue, delayed) = mpsc::channel::<(Instant, SocketAddr, Vec<u8>)>();
        let (cut, stop, dropped, forwarded) =
            (self.cut.clone(), self.stop.clone(), self.dropped.clone(), self.forwarded.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !stop.load(Ordering::Relaxed) {
                let Ok((n, sender)) = from.recv_from(&mut buf) else { continue };
                let Some(dest) = destination(sender) else { continue };
                if cut.load(Ordering::Relaxed) || rand::random::<f64>() < loss {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                if queue.send((Instant::now() + delay, dest, buf[..n].to_vec())).is_err() {
                    return;
                }
            }
        });
        // A constant delay keeps the queue in order: one sleeper per direction.
        std::thread::spawn(move || {
            for (due, dest, packet) in delayed {
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                if to.send_to(&packet, dest).is_ok() {
                    forwarded.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }

    /// Drops everything from now on, as a pulled cable would.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::Relaxed);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The same code with every candidate's port replaced by `to`'s, and its
/// address by `to`'s: what a courier who knows about the relay would carry.
pub fn redirect(code: &str, to: SocketAddr) -> String {
    let bytes = qrpair::signal::token::decode_token(code.trim()).unwrap();
    let payload = qrpair::signal::decode(&bytes).unwrap();
    let sdp: String = payload
        .sdp
        .lines()
        .map(|line| match line.strip_prefix("a=candidate:") {
            Some(rest) => {
                // foundation component transport priority address port typ ...
                let mut fields: Vec<String> = rest.split(' ').map(str::to_owned).collect();
                fields[4] = to.ip().to_string();
                fields[5] = to.port().to_string();
                format!("a=candidate:{}\r\n", fields.join(" "))
            }
            None => format!("{line}\r\n"),
        })
        .collect();
    let rewritten = qrpair::signal::encode(payload.kind, &sdp, payload.tag);
    qrpair::signal::token::encode_token(&rewritten)
}

/// The address of the first candidate in a code.
pub fn first_candidate(code: &str) -> SocketAddr {
    let bytes = qrpair::signal::token::decode_token(code.trim()).unwrap();
    let payload = qrpair::signal::decode(&bytes).unwrap();
    let line = payload.sdp.lines().find_map(|l| l.strip_prefix("a=candidate:")).expect("a candidate");
    let fields: Vec<&str> = line.split(' ').collect();
    format!("{}:{}", fields[4], fields[5]).parse().unwrap()
}
