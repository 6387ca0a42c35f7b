//! The operating-system calls std does not offer, each behind a safe
//! function. The only module allowed `unsafe` (lib.rs and main.rs deny it
//! everywhere else), so every raw call and its SAFETY argument is in one
//! place to review. Policy (when to call, what a failure means) stays with
//! the callers.

#![allow(unsafe_code)]

use std::path::Path;

/// The terminal's size as (columns, rows), when `fd` is a terminal.
pub fn terminal_size(fd: &impl std::os::fd::AsRawFd) -> Option<(u16, u16)> {
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes a winsize into the valid pointer given.
    let ok = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size) } == 0;
    ok.then_some((size.ws_col, size.ws_row))
}

/// Makes descriptor `target` (1 for stdout) refer to what `file` refers to,
/// atomically: a later write to `target` goes to `file`.
pub fn replace_descriptor(file: &std::fs::File, target: i32) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: dup2 on two descriptors; `file` is open for the call's length,
    // and replacing `target` is what the caller asks for.
    if unsafe { libc::dup2(file.as_raw_fd(), target) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Clears O_NONBLOCK on `file`: it was only wanted for opening.
pub fn set_blocking(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: fcntl on an open descriptor with integer arguments only.
    let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Waits until `file` has something to read or its writer has come and
/// gone, at most `timeout`; false when the time ran out. On Linux a FIFO
/// that no writer has opened yet is not readable, so this waits for one.
pub fn wait_readable(file: &std::fs::File, timeout: std::time::Duration) -> bool {
    use std::os::fd::AsRawFd;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let mut fds = libc::pollfd { fd: file.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one pollfd that outlives the call, and its count.
        let rc = unsafe { libc::poll(&mut fds, 1, left.as_millis().min(i32::MAX as u128) as libc::c_int) };
        if rc < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        return rc > 0;
    }
}

/// Asks the kernel to start writing `len` bytes from `offset` of `file` to
/// the disk now, without waiting (Linux `sync_file_range`); elsewhere, and
/// on failure, nothing happens and a later fsync does the work.
pub fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain syscall on an open descriptor, no pointers.
        unsafe {
            libc::sync_file_range(
                file.as_raw_fd(),
                offset as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// The user this process acts as, for checking who owns a file.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no arguments and cannot fail.
    unsafe { libc::geteuid() }
}

/// `rename` that fails with `AlreadyExists` instead of replacing `to`
/// (Linux `renameat2(RENAME_NOREPLACE)`). `Unsupported` where neither the
/// system nor the filesystem offers it: the caller then decides.
pub fn rename_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
        let (from_c, to_c) = (c(from)?, c(to)?);
        // SAFETY: two NUL-terminated paths that outlive the call.
        let done = unsafe {
            libc::renameat2(libc::AT_FDCWD, from_c.as_ptr(), libc::AT_FDCWD, to_c.as_ptr(), libc::RENAME_NOREPLACE)
        };
        if done == 0 {
            return Ok(());
        }
        let error = std::io::Error::last_os_error();
        // Filesystems without RENAME_NOREPLACE (some FUSE and network ones).
        if matches!(error.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)) {
            return Err(std::io::Error::new(std::io::ErrorKind::Unsupported, error));
        }
        Err(error)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (from, to);
        Err(std::io::ErrorKind::Unsupported.into())
    }
}

/// An integer socket option (`getsockopt`), e.g. the path MTU the kernel
/// knows for a connected socket.
pub fn socket_option(socket: &impl std::os::fd::AsRawFd, level: i32, name: i32) -> Option<i32> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a descriptor and a c_int-sized out parameter with its length.
    let rc =
        unsafe { libc::getsockopt(socket.as_raw_fd(), level, name, (&mut value as *mut libc::c_int).cast(), &mut len) };
    (rc == 0).then_some(value)
}

/// Sets an integer socket option (`setsockopt`); false if the kernel refused.
pub fn set_socket_option(socket: &impl std::os::fd::AsRawFd, level: i32, name: i32, value: i32) -> bool {
    let value: libc::c_int = value;
    // SAFETY: a descriptor and a c_int option of the size given.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

/// The next error queued on a socket with IP_RECVERR (an ICMP report about
/// an earlier datagram): where that datagram was going, and the errno.
/// `None` once the queue is empty, and on systems without such a queue.
pub fn next_queued_error(socket: &std::net::UdpSocket) -> Option<(Option<std::net::SocketAddr>, i32)> {
    #[cfg(target_os = "linux")]
    {
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
        use std::os::fd::AsRawFd;
        // SAFETY: every pointer in `hdr` points into locals that outlive the
        // call; the kernel writes at most the lengths given, and the control
        // messages are walked with the CMSG macros within `msg_controllen`.
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
    #[cfg(not(target_os = "linux"))]
    {
        let _ = socket;
        None
    }
}

/// glibc's malloc trim threshold: freed memory below this stays with the
/// process instead of going back to the system at once. Process-wide, so
/// only main.rs calls it, before any other thread starts.
pub fn set_malloc_trim_threshold(bytes: i32) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; the caller guarantees
    // no other thread exists yet, as glibc asks.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, bytes);
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = bytes;
}

/// A FIFO at `path`, for tests of inputs that are pipes.
#[doc(hidden)]
pub fn make_fifo(path: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: a NUL-terminated path that outlives the call.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_no_replace_refuses_to_replace_and_renames_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
        std::fs::write(&a, b"a").unwrap();
        std::fs::write(&b, b"b").unwrap();
        let refused = rename_no_replace(&a, &b).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::AlreadyExists, "{refused}");
        assert_eq!(std::fs::read(&b).unwrap(), b"b");
        rename_no_replace(&a, &c).unwrap();
        assert!(!a.exists());
        assert_eq!(std::fs::read(&c).unwrap(), b"a");
    }

    #[test]
    fn socket_options_read_back_what_was_set_and_errors_queue_nothing_unasked() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(set_socket_option(&socket, libc::SOL_SOCKET, libc::SO_RCVBUF, 65536));
        // Linux doubles the value for its own bookkeeping.
        assert!(socket_option(&socket, libc::SOL_SOCKET, libc::SO_RCVBUF).unwrap() >= 65536);
        assert_eq!(next_queued_error(&socket), None);
        assert_eq!(
            effective_uid(),
            std::fs::metadata("/proc/self")
                .map(|m| {
                    use std::os::unix::fs::MetadataExt;
                    m.uid()
                })
                .unwrap()
        );
    }

    #[test]
    fn a_fifo_is_made_and_a_descriptor_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        make_fifo(&fifo).unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        let file = tempfile::tempfile().unwrap();
        let spare = std::fs::File::open("/dev/null").unwrap();
        use std::os::fd::AsRawFd;
        replace_descriptor(&file, spare.as_raw_fd()).unwrap();
        assert!(terminal_size(&spare).is_none(), "a file is no terminal");
    }
}
