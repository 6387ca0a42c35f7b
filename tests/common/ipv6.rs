//! Two machines with only global IPv6 addresses, on two networks joined by
//! a router: no IPv4 path between them and no NAT, as on an IPv6-only
//! mobile network or a campus that routes v6 end to end.
//!
//! ```text
//!  <tag>a 2001:db8:a::2 ── eth0│ la <tag>r lb │eth0 ── <tag>b 2001:db8:b::2
//! ```
//!
//! Addresses are added without duplicate address detection, so they are
//! usable at once instead of tentative for a second or two.

use super::netns::{ip, lab_for_test};
use std::process::Command;

pub const PEER_ADDRS: [&str; 2] = ["2001:db8:a::2", "2001:db8:b::2"];
const ROUTER_ADDRS: [&str; 2] = ["2001:db8:a::1", "2001:db8:b::1"];

pub struct Ipv6Lab {
    pub router: String,
    pub peers: [String; 2],
}

impl Ipv6Lab {
    /// The lab for one test, or `None` after printing why the test is
    /// skipped (not root, outside CI). Under CI a failure is fatal.
    pub fn for_test(offset: u32, test: &str) -> Option<Ipv6Lab> {
        let tag = (std::process::id() + offset) % 250;
        lab_for_test(test, "build the IPv6 lab", || Ipv6Lab::create(tag))
    }

    fn create(tag: u32) -> Result<Ipv6Lab, String> {
        let lab = Ipv6Lab { router: format!("q6{tag}r"), peers: [format!("q6{tag}a"), format!("q6{tag}b")] };
        // From here on, Drop removes whatever was made.
        for ns in lab.all() {
            let _ = ip(&["netns", "del", &ns]);
            ip(&["netns", "add", &ns])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        let r = lab.router.clone();
        let forwarding = Command::new("ip")
            .args(["netns", "exec", &r, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"])
            .status()
            .map_err(|e| format!("cannot run sysctl: {e}"))?;
        if !forwarding.success() {
            return Err("cannot turn on IPv6 forwarding in the router namespace".into());
        }
        for (i, side) in ["la", "lb"].iter().enumerate() {
            let peer = &lab.peers[i];
            ip(&["link", "add", side, "netns", &r, "type", "veth", "peer", "name", "eth0", "netns", peer])?;
            ip(&["-n", &r, "addr", "add", &format!("{}/64", ROUTER_ADDRS[i]), "dev", side, "nodad"])?;
            ip(&["-n", &r, "link", "set", side, "up"])?;
            ip(&["-n", peer, "addr", "add", &format!("{}/64", PEER_ADDRS[i]), "dev", "eth0", "nodad"])?;
            ip(&["-n", peer, "link", "set", "eth0", "up"])?;
            ip(&["-n", peer, "-6", "route", "add", "default", "via", ROUTER_ADDRS[i]])?;
        }
        Ok(lab)
    }

    fn all(&self) -> Vec<String> {
        vec![self.router.clone(), self.peers[0].clone(), self.peers[1].clone()]
    }

    /// `ip netns exec <peer i>`, for `Sandbox::cmd_with`.
    pub fn exec(&self, i: usize) -> [&str; 4] {
        ["ip", "netns", "exec", &self.peers[i]]
    }
}

impl Drop for Ipv6Lab {
    fn drop(&mut self) {
        for ns in self.all() {
            let _ = ip(&["netns", "del", &ns]);
        }
    }
}
