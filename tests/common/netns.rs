//! Two network namespaces joined by a veth pair, for tests that need a
//! network of their own. Creating them needs root; outside CI a test without
//! it is skipped with a message, under CI it fails.

use std::process::Command;

/// Two namespaces, `<name>a` (10.77.N.1) and `<name>b` (10.77.N.2), joined
/// by a veth pair; removed on drop.
pub struct Lan {
    pub a: String,
    pub b: String,
    /// The veth ends inside `a` and `b`.
    pub dev_a: String,
    pub dev_b: String,
    /// An address on the LAN's subnet that no host has.
    pub unused_addr: String,
}

pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

impl Lan {
    /// The namespaces for one test, or `None` after printing why the test is
    /// skipped (not root, outside CI). Under CI a failure is fatal.
    pub fn for_test(offset: u32, test: &str) -> Option<Lan> {
        lab_for_test(test, "create network namespaces", || Lan::create_tagged(offset))
    }

    fn create_tagged(offset: u32) -> Result<Lan, String> {
        let tag = (std::process::id() + offset) % 250;
        let (va, vb) = (format!("qv{tag}a"), format!("qv{tag}b"));
        let lan = Lan {
            a: format!("qrp{tag}a"),
            b: format!("qrp{tag}b"),
            dev_a: va.clone(),
            dev_b: vb.clone(),
            unused_addr: format!("10.77.{tag}.99"),
        };
        let (addr_a, addr_b) = (format!("10.77.{tag}.1/24"), format!("10.77.{tag}.2/24"));
        let _ = ip(&["netns", "del", &lan.a]);
        let _ = ip(&["netns", "del", &lan.b]);
        ip(&["netns", "add", &lan.a])?;
        ip(&["netns", "add", &lan.b])?;
        ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb])?;
        ip(&["link", "set", &va, "netns", &lan.a])?;
        ip(&["link", "set", &vb, "netns", &lan.b])?;
        for (ns, dev, addr) in [(&lan.a, &va, &addr_a), (&lan.b, &vb, &addr_b)] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(lan)
    }

    /// Pulls the cable: the link goes down on both ends.
    pub fn cut(&self) {
        ip(&["-n", &self.a, "link", "set", &self.dev_a, "down"]).unwrap();
        ip(&["-n", &self.b, "link", "set", &self.dev_b, "down"]).unwrap();
    }

    pub fn reconnect(&self) {
        ip(&["-n", &self.a, "link", "set", &self.dev_a, "up"]).unwrap();
        ip(&["-n", &self.b, "link", "set", &self.dev_b, "up"]).unwrap();
    }

    pub fn exec<'a>(&self, ns: &'a str) -> [&'a str; 4] {
        ["ip", "netns", "exec", ns]
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.a]);
        let _ = ip(&["netns", "del", &self.b]);
    }
}

/// A network made by `create` for one test, or `None` after printing why the
/// test is skipped: not root, or `create` failed. Under CI either is fatal,
/// so a machine that cannot build the network never passes by skipping.
pub fn lab_for_test<T>(test: &str, needs: &str, create: impl FnOnce() -> Result<T, String>) -> Option<T> {
    if !is_root() {
        if std::env::var_os("CI").is_some() {
            panic!("CI must run the {test} test as root: creating network namespaces needs it");
        }
        eprintln!("SKIPPED {test} test: creating network namespaces needs root (CI runs as root)");
        return None;
    }
    match create() {
        Ok(lab) => Some(lab),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED {test} test: {e}");
            None
        }
        Err(e) => panic!("CI must be able to {needs}: {e}"),
    }
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
