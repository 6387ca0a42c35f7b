//! TURN over TLS (`turns:`), carried under webrtc instead of inside it.
//!
//! webrtc-rs 0.21's relayer speaks to TURN servers over UDP only. A
//! `turns:HOST:PORT` server is therefore handed to it as a UDP server at
//! the server's address, and the sockets qrpair gives webrtc (see
//! `runtime.rs`) carry whatever they send to that address over a TLS
//! connection instead: one per local socket, as the UDP 5-tuple would be,
//! so each TURN client keeps its own allocation. Every datagram the TURN
//! client sends is a whole STUN message or a ChannelData message already
//! padded to 4 bytes (RFC 8656 §12.5), so it goes on the stream as it is;
//! what the server sends back is cut at the same boundaries and handed to
//! webrtc as datagrams from the server's address. Only this leg is TLS:
//! the allocation relays UDP, so the peer's side of the relay is unchanged.
//!
//! The server's certificate is checked against the public web roots
//! (webpki-roots) plus the CA in `QRPAIR_TURN_CA`, if set (a self-hosted
//! server). A certificate that does not verify ends the pairing at once
//! with the reason: never a silent fallback, never an unchecked connection.

use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio_rustls::rustls::{self, pki_types::ServerName, ClientConfig};
use webrtc::runtime::{AsyncUdpSocket, RecvMeta, Transmit};

/// The environment variable naming a PEM file of extra CA certificates.
pub const CA_VAR: &str = "QRPAIR_TURN_CA";
/// A CA bundle is a few KiB; the whole web PKI's roots are about 200 KiB.
const CA_FILE_LIMIT: u64 = 1 << 20;
/// How long the TCP connection to the server may take, and then the TLS
/// handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Messages from the server not yet read by webrtc; past this they are
/// dropped, as a full UDP receive queue would drop them.
const INBOUND_LIMIT: usize = 4096;

/// The `turns:` servers of one peer, and the first TLS failure met.
pub struct TlsTurn {
    targets: Vec<Target>,
    config: Arc<ClientConfig>,
    handle: tokio::runtime::Handle,
    failure: watch::Sender<Option<String>>,
    servers: Arc<super::servers::ServerLog>,
}

impl std::fmt::Debug for TlsTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTurn").field("targets", &self.targets).finish()
    }
}

#[derive(Debug, Clone)]
struct Target {
    /// The server's address: webrtc is told `turn:ADDR?transport=udp`.
    addr: SocketAddr,
    /// The name its certificate must carry (a DNS name or an IP address).
    name: ServerName<'static>,
    url: String,
}

/// The roots a `turns:` server's certificate is checked against: the public
/// web roots, and the certificates in `QRPAIR_TURN_CA` if it is set.
pub fn client_config() -> Result<Arc<ClientConfig>, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = std::env::var_os(CA_VAR).filter(|p| !p.is_empty()) {
        let shown = std::path::Path::new(&path).display().to_string();
        let pem = crate::files::read_regular(std::path::Path::new(&path), CA_FILE_LIMIT)
            .map_err(|e| format!("{CA_VAR}={shown} {e}: point it at the CA certificate's PEM file"))?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| format!("{CA_VAR}={shown} is not a PEM certificate file: {e}"))?;
            roots.add(cert).map_err(|e| format!("{CA_VAR}={shown} holds a certificate rustls refuses: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!("{CA_VAR}={shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS for turns: could not be set up: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

impl TlsTurn {
    /// Resolves each `turns:` server; returns the tunnel and, for each,
    /// the `turn:ADDR?transport=udp` URL webrtc is to be given instead.
    pub async fn new(
        over_tls: &[super::TurnAddress],
        servers: Arc<super::servers::ServerLog>,
    ) -> Result<(Arc<TlsTurn>, Vec<String>), String> {
        let config = client_config()?;
        let mut targets = Vec::new();
        let mut plain = Vec::new();
        for address in over_tls {
            let (host, port, url) = (&address.host, address.port, address.url());
            let name = match host.parse::<IpAddr>() {
                Ok(ip) => ServerName::IpAddress(ip.into()),
                Err(_) => ServerName::try_from(host.clone()).map_err(|e| format!("{url}: {e}"))?,
            };
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| format!("the TURN server {host} could not be resolved: {e}"))?
                .collect();
            let addr = addrs
                .iter()
                .find(|a| a.is_ipv4())
                .or(addrs.first())
                .copied()
                .ok_or_else(|| format!("the TURN server {host} has no address"))?;
            plain.push(format!("turn:{addr}?transport=udp"));
            servers.expect(&url, super::servers::Kind::TurnTls, Ok(vec![addr]));
            targets.push(Target { addr, name, url });
        }
        let (failure, _) = watch::channel(None);
        let tls = TlsTurn { targets, config, handle: tokio::runtime::Handle::current(), failure, servers };
        Ok((Arc::new(tls), plain))
    }

    /// The first TLS failure (a certificate that does not verify, a
    /// handshake the server refuses), once there is one.
    pub fn failures(&self) -> watch::Receiver<Option<String>> {
        self.failure.subscribe()
    }

    fn target(&self, addr: SocketAddr) -> Option<&Target> {
        self.targets.iter().find(|t| t.addr == addr)
    }

    /// `socket`, with what it sends to a `turns:` server carried over TLS.
    pub fn wrap(self: &Arc<Self>, socket: Arc<dyn AsyncUdpSocket>) -> Arc<dyn AsyncUdpSocket> {
        let Ok(local) = socket.local_addr() else { return socket };
        Arc::new(Tunneled {
            inner: socket,
            local,
            tls: self.clone(),
            links: Mutex::new(HashMap::new()),
            inbound: Arc::new(Inbound::default()),
        })
    }
}

/// Messages from the servers, waiting for webrtc's next receive.
#[derive(Default)]
struct Inbound {
    queue: Mutex<VecDeque<(SocketAddr, Vec<u8>)>>,
    waker: Mutex<Option<Waker>>,
}

impl Inbound {
    fn push(&self, from: SocketAddr, message: Vec<u8>) {
        {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            if queue.len() >= INBOUND_LIMIT {
                return;
            }
            queue.push_back((from, message));
        }
        if let Some(waker) = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            waker.wake();
        }
    }

    fn pop(&self) -> Option<(SocketAddr, Vec<u8>)> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
    }

    fn register(&self, waker: &Waker) {
        let mut slot = self.waker.lock().unwrap_or_else(|e| e.into_inner());
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }
}

#[derive(Debug)]
struct Tunneled {
    inner: Arc<dyn AsyncUdpSocket>,
    local: SocketAddr,
    tls: Arc<TlsTurn>,
    /// One TLS connection per server, opened on the first message to it.
    links: Mutex<HashMap<SocketAddr, mpsc::UnboundedSender<Vec<u8>>>>,
    inbound: Arc<Inbound>,
}

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inbound")
    }
}

impl Tunneled {
    fn send(&self, target: &Target, message: Vec<u8>) {
        let mut links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        let link = links.entry(target.addr).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let (target, local, tls, inbound) = (target.clone(), self.local, self.tls.clone(), self.inbound.clone());
            self.tls.handle.spawn(async move {
                match carry(local.ip(), &target, &tls, rx, &inbound).await {
                    Ok(()) => {}
                    // Reported as the pairing's error: not twice.
                    Err(Reason::Tls(message)) => {
                        tracing::debug!(server = %target.url, %local, "TURN over TLS: {message}");
                        tls.failure.send_if_modified(|slot| slot.is_none() && slot.replace(message).is_none());
                    }
                    // As a UDP server that does not answer: no relay from it.
                    Err(Reason::Network(message)) => {
                        tracing::debug!("TURN over TLS from {local}: {message}");
                        tls.servers.unreachable(target.addr, &message);
                    }
                    Err(Reason::Ended(message)) => {
                        tracing::debug!(server = %target.url, %local, "TURN over TLS: {message}")
                    }
                }
            });
            tx
        });
        // A closed link loses the message, as the network would: the TURN
        // client's own timeouts take it from there.
        let _ = link.send(message);
    }

    fn take_inbound(&self, bufs: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta]) -> Option<usize> {
        let (Some(buf), Some(m)) = (bufs.first_mut(), meta.first_mut()) else { return None };
        let (from, message) = self.inbound.pop()?;
        let n = message.len().min(buf.len());
        buf[..n].copy_from_slice(&message[..n]);
        *m = RecvMeta::default();
        m.addr = from;
        m.len = n;
        m.stride = n;
        m.dst_ip = Some(self.local.ip());
        Some(1)
    }
}

impl AsyncUdpSocket for Tunneled {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        let Some(target) = self.tls.target(transmit.destination) else {
            return self.inner.poll_send(cx, transmit);
        };
        let segment = transmit.segment_size.unwrap_or(transmit.contents.len()).max(1);
        for datagram in transmit.contents.chunks(segment) {
            self.send(target, datagram.to_vec());
        }
        Poll::Ready(Ok(transmit.contents.len()))
    }
    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        if let Some(n) = self.take_inbound(bufs, meta) {
            return Poll::Ready(Ok(n));
        }
        match self.inner.poll_recv(cx, bufs, meta) {
            Poll::Pending => {
                self.inbound.register(cx.waker());
                // A message may have come in before the waker was set.
                match self.take_inbound(bufs, meta) {
                    Some(n) => Poll::Ready(Ok(n)),
                    None => Poll::Pending,
                }
            }
            ready => ready,
        }
    }
    fn max_gso_segments(&self) -> usize {
        self.inner.max_gso_segments()
    }
    fn max_gro_segments(&self) -> usize {
        self.inner.max_gro_segments()
    }
}

#[derive(Debug)]
enum Reason {
    /// The TLS handshake failed: the pairing cannot use this server.
    Tls(String),
    /// The connection could not be made: like a UDP server that does not
    /// answer, the relay is simply missing.
    Network(String),
    /// The connection broke after the handshake.
    Ended(String),
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Tls(m) | Reason::Network(m) | Reason::Ended(m) => f.write_str(m),
        }
    }
}

/// One connection to `target` from `local_ip`, for as long as both ends
/// keep it: messages from `outgoing` go out, messages from the server into
/// `inbound`.
async fn carry(
    local_ip: IpAddr,
    target: &Target,
    tls: &TlsTurn,
    outgoing: mpsc::UnboundedReceiver<Vec<u8>>,
    inbound: &Inbound,
) -> Result<(), Reason> {
    let tcp = connect_tcp(local_ip, target).await?;
    // The stream TURN runs over: TLS here; TURN over plain TCP (RFC 6062's
    // control connection) would hand `tcp` to `pump` as it is.
    let stream = secure(tcp, target, tls).await?;
    pump(stream, target, tls, outgoing, inbound).await
}

async fn connect_tcp(local_ip: IpAddr, target: &Target) -> Result<tokio::net::TcpStream, Reason> {
    let url = &target.url;
    let socket = if target.addr.is_ipv4() { tokio::net::TcpSocket::new_v4() } else { tokio::net::TcpSocket::new_v6() }
        .map_err(|e| Reason::Network(format!("no TCP socket: {e}")))?;
    // From the same address as the UDP socket it stands for, so the
    // relay is reached through the same interface.
    if local_ip.is_ipv4() == target.addr.is_ipv4() {
        let _ = socket.bind(SocketAddr::new(local_ip, 0));
    }
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(target.addr))
        .await
        .map_err(|_| Reason::Network(format!("no TCP connection to {url} within {} s", CONNECT_TIMEOUT.as_secs())))?
        .map_err(|e| Reason::Network(format!("no TCP connection to {url}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

async fn secure(
    tcp: tokio::net::TcpStream,
    target: &Target,
    tls: &TlsTurn,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, Reason> {
    let url = &target.url;
    let started = std::time::Instant::now();
    // A server that takes the connection and never answers the hello is
    // one that does not answer: no relay from it, as over UDP.
    let handshake = tokio_rustls::TlsConnector::from(tls.config.clone()).connect(target.name.clone(), tcp);
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, handshake)
        .await
        .map_err(|_| Reason::Network(format!("no TLS handshake from {url} within {} s", CONNECT_TIMEOUT.as_secs())))?
        .map_err(|e| Reason::Tls(handshake_failure(url, &e)))?;
    tracing::debug!(server = %url, ms = started.elapsed().as_millis() as u64, "TURN over TLS connected");
    Ok(stream)
}

/// Carries messages both ways over an established stream to the server,
/// cut at STUN and ChannelData boundaries on the way in.
async fn pump(
    stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite,
    target: &Target,
    tls: &TlsTurn,
    mut outgoing: mpsc::UnboundedReceiver<Vec<u8>>,
    inbound: &Inbound,
) -> Result<(), Reason> {
    let url = &target.url;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let send = async {
        while let Some(message) = outgoing.recv().await {
            writer.write_all(&message).await?;
            while let Ok(message) = outgoing.try_recv() {
                writer.write_all(&message).await?;
            }
            writer.flush().await?;
        }
        // webrtc let go of the socket: close the TLS session properly.
        writer.shutdown().await
    };
    let receive = async {
        let mut buf = Vec::with_capacity(64 * 1024);
        loop {
            while let Some(len) = message_len(&buf)? {
                if buf.len() < len {
                    break;
                }
                let rest = buf.split_off(len);
                let message = std::mem::replace(&mut buf, rest);
                tls.servers.observe(target.addr, &message);
                inbound.push(target.addr, message);
            }
            if reader.read_buf(&mut buf).await? == 0 {
                return Ok::<(), io::Error>(());
            }
        }
    };
    tokio::select! {
        r = send => r,
        r = receive => r,
    }
    .map_err(|e| Reason::Ended(format!("the TLS connection to {url} ended: {e}")))
}

/// The length of the message `buf` starts with, once its header is there
/// (RFC 8656 §12.5: a stream carries STUN messages and ChannelData padded
/// to 4 bytes, told apart by their first two bits).
fn message_len(buf: &[u8]) -> io::Result<Option<usize>> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let length = u16::from_be_bytes([buf[2], buf[3]]) as usize;
    match buf[0] >> 6 {
        0b00 => Ok(Some(20 + length)),
        0b01 => Ok(Some(4 + length.div_ceil(4) * 4)),
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, "the server sent something that is not TURN")),
    }
}

/// One line saying why the handshake failed and, for a certificate that
/// does not verify, what to do about it.
fn handshake_failure(url: &str, e: &io::Error) -> String {
    let detail = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match detail {
        Some(rustls::Error::InvalidCertificate(why)) => format!(
            "the TURN server {url} presented a certificate qrpair does not trust ({why:?}): for a server with its own CA, set {CA_VAR}=/path/to/ca.pem"
        ),
        Some(other) => format!("the TLS handshake with the TURN server {url} failed: {other}"),
        None => format!("the TLS handshake with the TURN server {url} failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_cut_into_stun_and_padded_channel_data() {
        assert_eq!(message_len(&[0x01, 0x01]).unwrap(), None);
        // A Binding success with 12 bytes of attributes.
        assert_eq!(message_len(&[0x01, 0x01, 0x00, 0x0c]).unwrap(), Some(32));
        // ChannelData with 5 bytes of data takes 8 on a stream.
        assert_eq!(message_len(&[0x40, 0x00, 0x00, 0x05]).unwrap(), Some(12));
        assert_eq!(message_len(&[0x40, 0x01, 0x00, 0x04]).unwrap(), Some(8));
        assert!(message_len(&[0x80, 0x00, 0x00, 0x00]).is_err());
    }
}
