//! The socket's error queue (Linux IP_RECVERR): where ICMP reports about
//! earlier datagrams wait, read by `runtime::WatchedSocket` once a socket
//! call has failed. The raw calls are in `crate::sys`.

/// Asks the kernel to queue ICMP errors on this socket.
pub fn enable(socket: &std::net::UdpSocket, v6: bool) {
    #[cfg(target_os = "linux")]
    {
        crate::sys::set_socket_option(socket, libc::IPPROTO_IP, libc::IP_RECVERR, 1);
        if v6 {
            crate::sys::set_socket_option(socket, libc::IPPROTO_IPV6, libc::IPV6_RECVERR, 1);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (socket, v6);
}

/// The next queued error: where the datagram it is about was going, and
/// its errno. `None` once the queue is empty.
pub fn next(socket: &std::net::UdpSocket) -> Option<(Option<std::net::SocketAddr>, i32)> {
    crate::sys::next_queued_error(socket)
}
