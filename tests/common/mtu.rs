//! Paths with a known MTU, for path MTU discovery: two namespaces on one
//! veth pair of a given MTU, or two namespaces each on a link to a router
//! whose route between them carries less than either end's interface.
//!
//! ```text
//!  direct:  <tag>a 10.79.T.1 ──── mtu M ──── 10.79.T.2 <tag>b
//!  routed:  <tag>a 10.79.T.2 ─ mtu M ─ 10.79.T.1 <tag>r 10.79.T.129 ─ mtu M ─ 10.79.T.130 <tag>b
//!                                       (routes through the router: mtu N < M)
//! ```
//!
//! The router forwards at most N bytes each way and answers a larger packet
//! with ICMP "fragmentation needed", as a real one does (qrpair's datagrams
//! carry DF), or, `silent`, drops it without a word (a firewall eating ICMP:
//! the black hole RFC 8899 is about; needs nft). Everything is removed on
//! drop.

use super::netns::ip;

pub struct MtuPath {
    pub a: String,
    pub b: String,
    router: Option<String>,
    /// The addresses qrpair binds in `a` and `b`.
    pub addr_a: String,
    pub addr_b: String,
}

impl MtuPath {
    /// `a` and `b` on one veth pair of `mtu` bytes.
    pub fn direct(offset: u32, test: &str, mtu: u32) -> Option<MtuPath> {
        MtuPath::for_test(offset, test, |tag| MtuPath::create(tag, mtu, None))
    }

    /// As `direct`, bound to IPv6 addresses (fd00:79:T::1 and ::2): a
    /// 40-byte IP header instead of 20.
    pub fn direct_ipv6(offset: u32, test: &str, mtu: u32) -> Option<MtuPath> {
        MtuPath::for_test(offset, test, |tag| {
            let mut path = MtuPath::create(tag, mtu, None)?;
            for (ns, dev, host) in [(&path.a, format!("qpm{tag}va"), 1), (&path.b, format!("qpm{tag}vb"), 2)] {
                // nodad: usable at once, not after duplicate detection.
                ip(&["-n", ns, "addr", "add", &format!("fd00:79:{tag}::{host}/64"), "dev", &dev, "nodad"])?;
            }
            (path.addr_a, path.addr_b) = (format!("fd00:79:{tag}::1"), format!("fd00:79:{tag}::2"));
            Ok(path)
        })
    }

    /// `a` and `b` on `mtu`-byte links to a router that forwards at most
    /// `narrow` bytes between them.
    pub fn routed(offset: u32, test: &str, mtu: u32, narrow: u32) -> Option<MtuPath> {
        MtuPath::for_test(offset, test, |tag| MtuPath::create(tag, mtu, Some(narrow)))
    }

    /// As `routed`, with the router sending no ICMP at all.
    pub fn routed_silent(offset: u32, test: &str, mtu: u32, narrow: u32) -> Option<MtuPath> {
        MtuPath::for_test(offset, test, |tag| {
            let path = MtuPath::create(tag, mtu, Some(narrow))?;
            let r = path.router.as_deref().unwrap_or_default();
            nft(r, "add table ip qpm")?;
            nft(r, "add chain ip qpm out { type filter hook output priority 0; }")?;
            nft(r, "add rule ip qpm out icmp type destination-unreachable drop")?;
            Ok(path)
        })
    }

    fn for_test(offset: u32, test: &str, make: impl Fn(u32) -> Result<MtuPath, String>) -> Option<MtuPath> {
        let tag = (std::process::id() + offset) % 250;
        super::netns::lab_for_test(test, "create network namespaces", || make(tag))
    }

    fn create(tag: u32, mtu: u32, narrow: Option<u32>) -> Result<MtuPath, String> {
        let (a, b) = (format!("qpm{tag}a"), format!("qpm{tag}b"));
        let router = narrow.map(|_| format!("qpm{tag}r"));
        let (addr_a, addr_b) = match narrow {
            None => (format!("10.79.{tag}.1"), format!("10.79.{tag}.2")),
            Some(_) => (format!("10.79.{tag}.2"), format!("10.79.{tag}.130")),
        };
        // Built before anything can fail, so Drop removes what was made.
        let path = MtuPath { a, b, router, addr_a, addr_b };
        for ns in [Some(&path.a), Some(&path.b), path.router.as_ref()].into_iter().flatten() {
            let _ = ip(&["netns", "del", ns]);
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        let mtu = mtu.to_string();
        // One veth pair between two namespaces, both ends `mtu`, addressed.
        let link = |(ns1, dev1, addr1): (&str, &str, &str), (ns2, dev2, addr2): (&str, &str, &str)| {
            ip(&["link", "add", dev1, "type", "veth", "peer", "name", dev2])?;
            for (ns, dev, addr) in [(ns1, dev1, addr1), (ns2, dev2, addr2)] {
                ip(&["link", "set", dev, "netns", ns])?;
                ip(&["-n", ns, "addr", "add", addr, "dev", dev])?;
                ip(&["-n", ns, "link", "set", dev, "mtu", &mtu, "up"])?;
            }
            Ok::<(), String>(())
        };
        let (va, vb) = (format!("qpm{tag}va"), format!("qpm{tag}vb"));
        match (&path.router, narrow) {
            (Some(r), Some(narrow)) => {
                let (ra, rb) = (format!("qpm{tag}ra"), format!("qpm{tag}rb"));
                link((&path.a, &va, &format!("{}/25", path.addr_a)), (r, &ra, &format!("10.79.{tag}.1/25")))?;
                link((&path.b, &vb, &format!("{}/25", path.addr_b)), (r, &rb, &format!("10.79.{tag}.129/25")))?;
                ip(&["-n", &path.a, "route", "add", "default", "via", &format!("10.79.{tag}.1")])?;
                ip(&["-n", &path.b, "route", "add", "default", "via", &format!("10.79.{tag}.129")])?;
                sysctl_in(r, "net.ipv4.ip_forward", "1")?;
                // A forwarded packet is held to the route's MTU, not the
                // interface's: the narrow hop in the middle of the path.
                let narrow = narrow.to_string();
                ip(&["-n", r, "route", "replace", &format!("10.79.{tag}.128/25"), "dev", &rb, "mtu", &narrow])?;
                ip(&["-n", r, "route", "replace", &format!("10.79.{tag}.0/25"), "dev", &ra, "mtu", &narrow])?;
            }
            _ => link((&path.a, &va, &format!("{}/24", path.addr_a)), (&path.b, &vb, &format!("{}/24", path.addr_b)))?,
        }
        Ok(path)
    }

    pub fn exec<'a>(&self, ns: &'a str) -> [&'a str; 4] {
        ["ip", "netns", "exec", ns]
    }
}

fn nft(ns: &str, rule: &str) -> Result<(), String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "nft", rule])
        .output()
        .map_err(|e| format!("cannot run nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("nft {rule}: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Writes /proc/sys inside the namespace (no sysctl program needed).
fn sysctl_in(ns: &str, key: &str, value: &str) -> Result<(), String> {
    let file = format!("/proc/sys/{}", key.replace('.', "/"));
    let status = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "sh", "-c", &format!("echo {value} > {file}")])
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("could not set {key} in {ns}"))
    }
}

impl Drop for MtuPath {
    fn drop(&mut self) {
        for ns in [Some(&self.a), Some(&self.b), self.router.as_ref()].into_iter().flatten() {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}
