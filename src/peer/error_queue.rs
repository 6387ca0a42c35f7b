//! The socket's error queue (Linux IP_RECVERR): where ICMP reports about
//! earlier datagrams wait, read by `runtime::WatchedSocket` once a socket
//! call has failed. Raw libc, kept apart from the runtime that uses it.

#[cfg(target_os = "linux")]
mod linux {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    use std::os::fd::AsRawFd;

    /// Asks the kernel to queue ICMP errors on this socket.
    pub fn enable(socket: &std::net::UdpSocket, v6: bool) {
        let on: libc::c_int = 1;
        let set = |level, name| {
            // SAFETY: a valid descriptor and a c_int option of the right size.
            unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    level,
                    name,
                    (&on as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            }
        };
        set(libc::IPPROTO_IP, libc::IP_RECVERR);
        if v6 {
            set(libc::IPPROTO_IPV6, libc::IPV6_RECVERR);
        }
    }

    /// The next queued error: where the datagram it is about was going, and
    /// its errno. `None` once the queue is empty.
    pub fn next(socket: &std::net::UdpSocket) -> Option<(Option<SocketAddr>, i32)> {
        // SAFETY: every pointer in `hdr` points into locals that outlive the
        // call; the kernel writes at most the lengths given.
        unsafe {
            let mut name: libc::sockaddr_storage = std::mem::zeroed();
            let mut data = [0u8; 64];
            let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
            let mut control = [0u64; 64];
            let mut hdr: libc::msghdr = std::mem::zeroed();
            hdr.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_iov = &mut iov;
            hdr.msg_iovlen = 1;
            hdr.msg_control = control.as_mut_ptr().cast();
            hdr.msg_controllen = std::mem::size_of_val(&control) as _;
            if libc::recvmsg(socket.as_raw_fd(), &mut hdr, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) < 0 {
                return None;
            }
            let destination = match name.ss_family as libc::c_int {
                libc::AF_INET => {
                    let a = &*(&name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>();
                    let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                    Some(SocketAddr::new(IpAddr::V4(ip), u16::from_be(a.sin_port)))
                }
                libc::AF_INET6 => {
                    let a = &*(&name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>();
                    let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                    let ip = ip.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(ip));
                    Some(SocketAddr::new(ip, u16::from_be(a.sin6_port)))
                }
                _ => None,
            };
            let mut errno = 0;
            let mut cmsg = libc::CMSG_FIRSTHDR(&hdr);
            while !cmsg.is_null() {
                let c = &*cmsg;
                if (c.cmsg_level == libc::IPPROTO_IP && c.cmsg_type == libc::IP_RECVERR)
                    || (c.cmsg_level == libc::IPPROTO_IPV6 && c.cmsg_type == libc::IPV6_RECVERR)
                {
                    let ee = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::sock_extended_err>());
                    errno = ee.ee_errno as i32;
                }
                cmsg = libc::CMSG_NXTHDR(&hdr, cmsg);
            }
            Some((destination, errno))
        }
    }
}

#[cfg(target_os = "linux")]
pub use linux::{enable, next};

#[cfg(not(target_os = "linux"))]
pub fn enable(_: &std::net::UdpSocket, _: bool) {}

#[cfg(not(target_os = "linux"))]
pub fn next(_: &std::net::UdpSocket) -> Option<(Option<std::net::SocketAddr>, i32)> {
    None
}
