//! webrtc's tokio runtime with large UDP socket buffers, and an ear for the
//! peer's port closing.
//!
//! With the kernel's default buffers the SCTP window overruns the UDP
//! receive queue; every loss stalls the stream 200 ms to 1 s (measured on
//! loopback: 17-40 MiB/s, against 215-338 MiB/s with 4 MiB buffers).
//!
//! A browser tab that closes sends nothing at all (measured with Chromium
//! 156: no DTLS close_notify, no SCTP ABORT); its socket just closes, and
//! our next packet to it draws an ICMP port unreachable. Linux reports that
//! on an unconnected UDP socket only with IP_RECVERR, through the socket's
//! error queue, which these sockets read.

use super::error_queue;
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::watch;
use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, RecvMeta, Runtime, TokioRuntime,
    Transmit,
};

/// What qrpair asks the kernel for; Linux grants at most `rmem_max`.
pub const REQUESTED_SOCKET_BUFFER: usize = 4 << 20;

/// The largest datagram a browser survives. Chromium reads each decrypted
/// DTLS record into a 2048-byte buffer and fails the whole DTLS transport
/// on a longer one (measured: a 16 KiB path MTU probe took the connection
/// down within a second of opening); 29 bytes is the smallest record
/// overhead (header and tag), so no record past this holds more than 2048.
pub const BROWSER_SAFE_DATAGRAM: usize = 2048 + 13 + 16;

#[derive(Debug)]
pub struct BufferedRuntime {
    inner: TokioRuntime,
    peer: Arc<PeerPort>,
    /// A second handle on each UDP socket webrtc binds, so qrpair can keep
    /// NAT mappings alive from the very ports its candidates name.
    sockets: std::sync::Mutex<Vec<std::net::UdpSocket>>,
    /// Datagrams longer than this are dropped instead of sent (see
    /// `cap_datagrams`).
    cap: Arc<AtomicUsize>,
    /// `turns:` servers: what the sockets send them goes over TLS.
    tls_turn: std::sync::OnceLock<Arc<super::turns::TlsTurn>>,
    /// What the STUN and TURN servers answer while candidates are gathered.
    servers: Arc<super::servers::ServerLog>,
}

impl BufferedRuntime {
    pub fn new() -> Self {
        BufferedRuntime {
            inner: TokioRuntime,
            peer: Arc::new(PeerPort::default()),
            sockets: std::sync::Mutex::new(Vec::new()),
            cap: Arc::new(AtomicUsize::new(usize::MAX)),
            tls_turn: std::sync::OnceLock::new(),
            servers: Arc::new(super::servers::ServerLog::default()),
        }
    }

    /// Where the sockets report what the STUN and TURN servers said.
    pub fn servers(&self) -> Arc<super::servers::ServerLog> {
        self.servers.clone()
    }

    /// Sockets bound from now on carry their traffic to these `turns:`
    /// servers over TLS (see `turns.rs`).
    pub fn carry_turns(&self, tls: Arc<super::turns::TlsTurn>) {
        let _ = self.tls_turn.set(tls);
    }

    fn tunnel(&self, socket: Arc<dyn AsyncUdpSocket>) -> Arc<dyn AsyncUdpSocket> {
        match self.tls_turn.get() {
            Some(tls) => tls.wrap(socket),
            None => socket,
        }
    }

    /// From now on, datagrams longer than `max` are lost before they leave,
    /// as on a narrower path. While the peer may be a browser, path MTU
    /// probes past `BROWSER_SAFE_DATAGRAM` must not reach it; DATA never
    /// exceeds a size a probe proved, so only probes are ever dropped.
    pub fn cap_datagrams(&self, max: usize) {
        self.cap.store(max, Ordering::Relaxed);
    }

    /// The UDP sockets bound so far (shared descriptors, non-blocking).
    pub fn udp_sockets(&self) -> Vec<std::net::UdpSocket> {
        let held = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        held.iter().filter_map(|s| s.try_clone().ok()).collect()
    }

    /// Resolves once the peer's port is closed (see `PeerPort`).
    pub fn peer_port(&self) -> Arc<PeerPort> {
        self.peer.clone()
    }
}

/// What the sockets learn about the peer's port: the address its packets
/// come from, and whether it refuses ours (ICMP port unreachable). Two
/// refusals with nothing received from it in between mean its socket is
/// closed: a lost packet or a refusal from another of its addresses does
/// not count. The first refusal draws a second packet at once (see
/// `WatchedSocket::drain_errors`), so a closed port is known within a
/// round trip of the first.
#[derive(Debug)]
pub struct PeerPort {
    state: Mutex<PortState>,
    closed: watch::Sender<bool>,
}

#[derive(Debug, Default)]
struct PortState {
    source: Option<SocketAddr>,
    refusals: u32,
}

/// Refusals in a row that make the port closed.
const REFUSALS: u32 = 2;

impl Default for PeerPort {
    fn default() -> Self {
        PeerPort { state: Mutex::new(PortState::default()), closed: watch::channel(false).0 }
    }
}

impl PeerPort {
    fn heard_from(&self, addr: SocketAddr) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.source != Some(addr) || state.refusals != 0 {
            state.source = Some(addr);
            state.refusals = 0;
        }
    }

    /// Counts a refusal; true when it is the first one from the peer's
    /// port, to be confirmed.
    fn refused(&self, destination: SocketAddr) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.source != Some(destination) {
            return false;
        }
        state.refusals += 1;
        tracing::debug!(%destination, refusals = state.refusals, "the peer's port refused a packet (ICMP port unreachable)");
        if state.refusals >= REFUSALS {
            self.closed.send_replace(true);
        }
        state.refusals == 1
    }

    /// Resolves when the peer's port has closed; never otherwise.
    pub async fn closed(&self) {
        let mut rx = self.closed.subscribe();
        if rx.wait_for(|closed| *closed).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A socket that reads its error queue once a send or receive fails with an
/// ICMP report, and keeps oversized path-MTU probes from ending it.
#[derive(Debug)]
struct WatchedSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    /// The same socket (a duplicated descriptor), for the error queue.
    errors: std::net::UdpSocket,
    peer: Arc<PeerPort>,
    /// The largest UDP payload the route to each destination carries
    /// whole, learnt once per destination (see `split_oversized`).
    route_payload: Mutex<Vec<(SocketAddr, usize)>>,
    cap: Arc<AtomicUsize>,
    servers: Arc<super::servers::ServerLog>,
}

impl WatchedSocket {
    fn drain_errors(&self) {
        while let Some((destination, errno)) = error_queue::next(&self.errors) {
            if let (Some(destination), true) = (destination, errno == libc::ECONNREFUSED) {
                if self.peer.refused(destination) {
                    self.confirm_refusal(destination);
                }
            }
        }
    }

    /// Sends the peer's port a STUN Binding Indication, which a live ICE
    /// agent takes as a keepalive and ignores (RFC 8445 §11), so that a
    /// closed port refuses a second packet now rather than at the next
    /// keepalive. Otherwise a closed browser tab was noticed only one or two
    /// keepalives later (3.0 s after the tab closed, where an unacknowledged
    /// message's resend had made it 0.6-0.9 s).
    fn confirm_refusal(&self, destination: SocketAddr) {
        let mut indication = [0u8; 20];
        indication[..2].copy_from_slice(&0x0011u16.to_be_bytes());
        indication[4..8].copy_from_slice(&0x2112_A442u32.to_be_bytes());
        let _ = getrandom::getrandom(&mut indication[8..]);
        // The error queue names a v4 peer of a dual-stack socket without
        // its v4-mapped form.
        let destination = match (self.errors.local_addr(), destination) {
            (Ok(SocketAddr::V6(_)), SocketAddr::V4(v4)) => {
                SocketAddr::new(std::net::IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
            }
            _ => destination,
        };
        // A full socket buffer only delays the notice to the next keepalive.
        let _ = self.errors.send_to(&indication, destination);
    }
}

/// Errors that are ICMP reports about an earlier packet (IP_RECVERR hands
/// them to the next send or receive), not failures of this one: a port
/// refusing, and a host or network a router says it cannot reach (the
/// private address of a peer behind a NAT, say). Passed up, they would
/// stop webrtc reading the socket.
/// EMSGSIZE is a router's "fragmentation needed" (quinn-udp sets DF on
/// every datagram): path MTU probes draw it on a narrower path, and passed
/// up it made webrtc drop the socket and with it the connection.
pub(crate) fn reported_by_icmp(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ECONNREFUSED
                | libc::EHOSTUNREACH
                | libc::ENETUNREACH
                | libc::EHOSTDOWN
                | libc::ENETDOWN
                | libc::EMSGSIZE
        )
    )
}

/// A datagram larger than this host's interface takes fails with EMSGSIZE
/// (DF is set): a path MTU probe too large to leave, lost as it would be on
/// the wire.
fn too_large(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EMSGSIZE)
}

impl WatchedSocket {
    /// The largest UDP payload the route to `destination` carries (its
    /// interface's MTU, or a smaller path MTU the kernel has learnt), or
    /// `None` when it cannot be told.
    fn route_payload(&self, destination: SocketAddr) -> Option<usize> {
        let mut known = self.route_payload.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, n)) = known.iter().find(|(d, _)| *d == destination) {
            return Some(*n);
        }
        let local = self.inner.local_addr().ok()?;
        let probe = std::net::UdpSocket::bind(SocketAddr::new(local.ip(), 0)).ok()?;
        probe.connect(destination).ok()?;
        let mtu = route_mtu(&probe, destination.is_ipv6())?;
        let payload = mtu.saturating_sub(if destination.is_ipv6() { 48 } else { 28 });
        if known.len() >= 16 {
            known.remove(0);
        }
        known.push((destination, payload));
        Some(payload)
    }

    /// Whether this batch (UDP GSO) holds a datagram larger than the route
    /// carries: a path MTU probe followed by smaller DATA packets, which the
    /// driver batches behind it. Sent as one, the kernel refuses the whole
    /// batch (EINVAL) and quinn-udp then turns segmentation offload off for
    /// good; sent one by one, only the probe is lost.
    fn split_oversized(&self, transmit: &Transmit<'_>) -> bool {
        match transmit.segment_size {
            Some(segment) if segment < transmit.contents.len() => {
                segment > self.cap.load(Ordering::Relaxed)
                    || self.route_payload(transmit.destination).is_some_and(|payload| segment > payload)
            }
            _ => false,
        }
    }

    // The error queue is read only once a send or receive has failed with
    // an ICMP report: each report queued also fails the next socket call,
    // so none is missed, and the common path saves a recvmsg per call (on
    // a bulk transfer, one syscall in five).
    fn poll_send_one(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        if transmit.contents.len() > self.cap.load(Ordering::Relaxed) {
            return Poll::Ready(Ok(transmit.contents.len()));
        }
        // A pending error is reported instead of sending: read it, send
        // again (several ICMP reports may be waiting, one per attempt).
        for _ in 0..4 {
            match self.inner.poll_send(cx, transmit) {
                Poll::Ready(Err(e)) if reported_by_icmp(&e) => self.drain_errors(),
                other => return other,
            }
        }
        match self.inner.poll_send(cx, transmit) {
            Poll::Ready(Err(e)) if too_large(&e) => Poll::Ready(Ok(transmit.contents.len())),
            other => other,
        }
    }
}

#[cfg(target_os = "linux")]
fn route_mtu(socket: &std::net::UdpSocket, v6: bool) -> Option<usize> {
    let (level, name) = if v6 { (libc::IPPROTO_IPV6, libc::IPV6_MTU) } else { (libc::IPPROTO_IP, libc::IP_MTU) };
    crate::sys::socket_option(socket, level, name).filter(|mtu| *mtu > 0).map(|mtu| mtu as usize)
}

#[cfg(not(target_os = "linux"))]
fn route_mtu(_: &std::net::UdpSocket, _: bool) -> Option<usize> {
    None
}

impl AsyncUdpSocket for WatchedSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        if !self.split_oversized(transmit) {
            return self.poll_send_one(cx, transmit);
        }
        let segment = transmit.segment_size.unwrap_or(transmit.contents.len()).max(1);
        let mut sent = 0;
        for datagram in transmit.contents.chunks(segment) {
            let one = Transmit { segment_size: None, contents: datagram, ..*transmit };
            match self.poll_send_one(cx, &one) {
                Poll::Ready(Ok(_)) => sent += datagram.len(),
                // What did not fit the socket buffer now is lost, as a full
                // queue on the wire would lose it: SCTP resends.
                Poll::Pending if sent > 0 => return Poll::Ready(Ok(transmit.contents.len())),
                other => return other,
            }
        }
        Poll::Ready(Ok(sent))
    }
    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.inner.poll_recv(cx, bufs, meta) {
                Poll::Ready(Err(e)) if reported_by_icmp(&e) => self.drain_errors(),
                Poll::Ready(Ok(n)) => {
                    if let Some(m) = meta[..n].last() {
                        self.peer.heard_from(m.addr);
                    }
                    if self.servers.listening() {
                        for (buf, m) in bufs.iter().zip(&meta[..n]) {
                            for datagram in buf[..m.len.min(buf.len())].chunks(m.stride.max(1)) {
                                self.servers.observe(m.addr, datagram);
                            }
                        }
                    }
                    return Poll::Ready(Ok(n));
                }
                other => return other,
            }
        }
    }
    fn max_gso_segments(&self) -> usize {
        self.inner.max_gso_segments()
    }
    fn max_gro_segments(&self) -> usize {
        self.inner.max_gro_segments()
    }
}

/// The receive buffer the kernel actually grants a UDP socket that asks for
/// `REQUESTED_SOCKET_BUFFER` (Linux reports twice the usable size).
pub fn granted_receive_buffer() -> usize {
    let probe = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None);
    probe
        .and_then(|s| {
            s.set_recv_buffer_size(REQUESTED_SOCKET_BUFFER)?;
            s.recv_buffer_size()
        })
        .map(|reported| reported / 2)
        .unwrap_or(208 * 1024 / 2)
}

impl Runtime for BufferedRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.inner.spawn(future)
    }
    fn spawn_reactor(
        &self,
        reactor_pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.inner.spawn_reactor(reactor_pool_size, future)
    }
    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let sock = socket2::SockRef::from(&socket);
        // Best effort: a smaller grant only costs speed.
        let _ = sock.set_recv_buffer_size(REQUESTED_SOCKET_BUFFER);
        let _ = sock.set_send_buffer_size(REQUESTED_SOCKET_BUFFER);
        if let Ok(clone) = socket.try_clone() {
            self.sockets.lock().unwrap_or_else(|e| e.into_inner()).push(clone);
        }
        let Ok(errors) = socket.try_clone() else {
            return self.inner.wrap_udp_socket(socket).map(|s| self.tunnel(s));
        };
        error_queue::enable(&errors, socket.local_addr().is_ok_and(|a| a.is_ipv6()));
        let inner = self.inner.wrap_udp_socket(socket)?;
        Ok(self.tunnel(Arc::new(WatchedSocket {
            inner,
            errors,
            peer: self.peer.clone(),
            route_payload: Mutex::new(Vec::new()),
            cap: self.cap.clone(),
            servers: self.servers.clone(),
        })))
    }
    fn wrap_tcp_listener(&self, listener: std::net::TcpListener) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }
    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Arc<dyn AsyncTcpStream>>> + Send + 'a>> {
        self.inner.connect_tcp(remote_addr)
    }
    fn resolve_host<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        self.inner.resolve_host(host)
    }
    fn now(&self) -> std::time::Instant {
        self.inner.now()
    }
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.sleep(duration)
    }
    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }
    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future)
    }
    fn yield_now(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.yield_now()
    }
    fn name(&self) -> &'static str {
        "qrpair-tokio-buffered"
    }
}
