//! webrtc's tokio runtime with large UDP socket buffers.
//!
//! With the kernel's default buffers the SCTP window overruns the UDP
//! receive queue; every loss stalls the stream 200 ms to 1 s (measured on
//! loopback: 17-40 MiB/s, against 215-338 MiB/s with 4 MiB buffers).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, Runtime, TokioRuntime,
};

/// What qrpair asks the kernel for; Linux grants at most `rmem_max`.
pub const REQUESTED_SOCKET_BUFFER: usize = 4 << 20;

#[derive(Debug)]
pub struct BufferedRuntime {
    inner: TokioRuntime,
    /// A second handle on each UDP socket webrtc binds, so qrpair can keep
    /// NAT mappings alive from the very ports its candidates name.
    sockets: std::sync::Mutex<Vec<std::net::UdpSocket>>,
}

impl BufferedRuntime {
    pub fn new() -> Self {
        BufferedRuntime { inner: TokioRuntime, sockets: std::sync::Mutex::new(Vec::new()) }
    }

    /// The UDP sockets bound so far (shared descriptors, non-blocking).
    pub fn udp_sockets(&self) -> Vec<std::net::UdpSocket> {
        let held = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        held.iter().filter_map(|s| s.try_clone().ok()).collect()
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
        self.inner.wrap_udp_socket(socket)
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
