//! Two private LANs, each behind a NAT router, on a shared "internet"
//! segment with a STUN/TURN server (coturn) on it: the topology people meet
//! when pairing a home with an office. Everything lives in network
//! namespaces the test creates and removes on drop.
//!
//! ```text
//!  <tag>pa 10.1.0.2 ── lan│<tag>ra│wan 198.51.100.1 ─┐
//!                                                    ├─ br0 <tag>w 198.51.100.100 (coturn)
//!  <tag>pb 10.2.0.2 ── lan│<tag>rb│wan 198.51.100.2 ─┘
//! ```
//!
//! A side with `Nat::None` has no router: its peer sits on the bridge itself
//! at 198.51.100.11 (side a) or .12 (side b).
//!
//! Each router masquerades what leaves its WAN side (nftables) and, like a
//! home router, drops what arrives there unasked. `Nat::EndpointIndependent`
//! keeps the source port (`masquerade`: one public port per socket, whatever
//! the destination); `Nat::Symmetric` picks a random port per destination
//! (`masquerade random,fully-random`, as carrier-grade NATs do). Conntrack's
//! UDP timeouts are set inside each router to realistic values: 30 s for a
//! mapping that saw no reply, 120 s once it carried traffic both ways.

use super::netns::{ip, lab_for_test};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// Port-preserving, endpoint-independent mapping (most home routers).
    EndpointIndependent,
    /// A new random port per destination ("symmetric").
    Symmetric,
    /// No NAT at all: the machine sits on the internet segment with a public
    /// address (198.51.100.1x), as a server or a university desktop does.
    /// Its side's router namespace stays empty.
    None,
}

pub const SERVER_ADDR: &str = "198.51.100.100";
/// The address of side `i`'s machine when it has no NAT (`Nat::None`).
pub fn public_addr(i: usize) -> String {
    format!("198.51.100.1{}", i + 1)
}
pub const UNREPLIED_TIMEOUT_S: u32 = 30;
pub const ASSURED_TIMEOUT_S: u32 = 120;

pub struct NatLab {
    /// The internet segment (bridge and server).
    pub internet: String,
    pub routers: [String; 2],
    /// The two peers' namespaces, `a` behind `routers[0]`.
    pub peers: [String; 2],
    /// The server on the internet segment, when started.
    server: Option<Child>,
    pub server_port: u16,
    pub server_log: std::path::PathBuf,
    /// Certificate, key and port when the server also speaks TLS.
    tls: Option<(String, String, String)>,
}

fn run(prefix: &[&str], program: &str, args: &[&str], input: Option<&str>) -> Result<(), String> {
    let mut cmd = Command::new(prefix.first().copied().unwrap_or(program));
    if !prefix.is_empty() {
        cmd.args(&prefix[1..]).arg(program);
    }
    cmd.args(args).stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {program}: {e}"))?;
    if let Some(text) = input {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{program} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

impl NatLab {
    /// The lab for one test, or `None` after printing why the test is skipped
    /// (not root, or no nft/coturn outside CI). Under CI a failure is fatal.
    pub fn for_test(offset: u32, test: &str, nats: [Nat; 2]) -> Option<NatLab> {
        NatLab::for_test_prefixed("qn", offset, test, nats)
    }

    /// As `for_test`, with namespaces named `<prefix><tag>…`: the TURN tests
    /// use their own prefix, so they never meet another test's namespaces.
    pub fn for_test_prefixed(prefix: &str, offset: u32, test: &str, nats: [Nat; 2]) -> Option<NatLab> {
        let tag = (std::process::id() + offset) % 250;
        lab_for_test(test, "build the NAT lab (ip, nft, conntrack, coturn)", || NatLab::create(prefix, tag, nats))
    }

    fn create(prefix: &str, tag: u32, nats: [Nat; 2]) -> Result<NatLab, String> {
        let name = |what: &str| format!("{prefix}{tag}{what}");
        let lab = NatLab {
            internet: name("w"),
            routers: [name("ra"), name("rb")],
            peers: [name("pa"), name("pb")],
            server: None,
            server_port: 3478 + (tag as u16 % 100),
            server_log: std::env::temp_dir().join(format!("qrpair-coturn-{prefix}{tag}.log")),
            tls: None,
        };
        // From here on, Drop removes whatever was made.
        for ns in lab.all() {
            let _ = ip(&["netns", "del", &ns]);
            ip(&["netns", "add", &ns])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        let w = lab.internet.clone();
        ip(&["-n", &w, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &w, "link", "set", "br0", "up"])?;
        ip(&["-n", &w, "addr", "add", &format!("{SERVER_ADDR}/24"), "dev", "br0"])?;
        // A server on the internet has a default route. Without one, relaying
        // a check to a peer's private address fails with ENETUNREACH, and
        // coturn 4.6.1 then sends nothing more from that relay socket (strace:
        // no sendto at all afterwards): no relayed pair ever works. With it,
        // such packets leave towards a gateway nobody answers, as they would.
        ip(&["-n", &w, "route", "add", "default", "via", "198.51.100.254"])?;
        for (i, nat) in nats.iter().enumerate() {
            let (router, peer, n) = (&lab.routers[i], &lab.peers[i], i + 1);
            let port = format!("p{n}");
            if *nat == Nat::None {
                ip(&["link", "add", "eth0", "netns", peer, "type", "veth", "peer", "name", &port, "netns", &w])?;
                ip(&["-n", &w, "link", "set", &port, "master", "br0", "up"])?;
                ip(&["-n", peer, "addr", "add", &format!("{}/24", public_addr(i)), "dev", "eth0"])?;
                ip(&["-n", peer, "link", "set", "eth0", "up"])?;
                continue;
            }
            // Created inside the namespaces: no name is ever taken in the
            // root namespace, so tests run side by side.
            ip(&["link", "add", "wan", "netns", router, "type", "veth", "peer", "name", &port, "netns", &w])?;
            ip(&["-n", &w, "link", "set", &port, "master", "br0", "up"])?;
            ip(&["-n", router, "addr", "add", &format!("198.51.100.{n}/24"), "dev", "wan"])?;
            ip(&["-n", router, "link", "set", "wan", "up"])?;
            ip(&["link", "add", "lan", "netns", router, "type", "veth", "peer", "name", "eth0", "netns", peer])?;
            ip(&["-n", router, "addr", "add", &format!("10.{n}.0.1/24"), "dev", "lan"])?;
            ip(&["-n", router, "link", "set", "lan", "up"])?;
            ip(&["-n", peer, "addr", "add", &format!("10.{n}.0.2/24"), "dev", "eth0"])?;
            ip(&["-n", peer, "link", "set", "eth0", "up"])?;
            ip(&["-n", peer, "route", "add", "default", "via", &format!("10.{n}.0.1")])?;
            let in_router = ["ip", "netns", "exec", router.as_str()];
            run(&in_router, "sysctl", &["-qw", "net.ipv4.ip_forward=1"], None)?;
            let masquerade = match nat {
                Nat::EndpointIndependent => "masquerade",
                Nat::Symmetric => "masquerade random,fully-random",
                Nat::None => unreachable!("a side without NAT has no router"),
            };
            let rules = format!(
                "table ip qrpair {{\n\
                 chain postrouting {{ type nat hook postrouting priority srcnat; oifname \"wan\" {masquerade}; }}\n\
                 chain inbound {{ type filter hook input priority filter; iifname \"wan\" ct state new drop; }}\n\
                 chain forward {{ type filter hook forward priority filter; iifname \"wan\" ct state new drop; }}\n\
                 }}\n"
            );
            run(&in_router, "nft", &["-f", "-"], Some(&rules))?;
            // Per namespace since Linux 4.x: the host's own values stay as they are.
            run(
                &in_router,
                "sysctl",
                &[
                    "-qw",
                    &format!("net.netfilter.nf_conntrack_udp_timeout={UNREPLIED_TIMEOUT_S}"),
                    &format!("net.netfilter.nf_conntrack_udp_timeout_stream={ASSURED_TIMEOUT_S}"),
                ],
                None,
            )?;
        }
        Ok(lab)
    }

    fn all(&self) -> Vec<String> {
        let mut v = vec![self.internet.clone()];
        v.extend(self.routers.iter().cloned());
        v.extend(self.peers.iter().cloned());
        v
    }

    /// `ip netns exec <peer i>`, for `Sandbox::cmd_with`.
    pub fn exec(&self, i: usize) -> [&str; 4] {
        ["ip", "netns", "exec", &self.peers[i]]
    }

    /// Starts coturn on the internet segment as a STUN server only (no
    /// credentials, no relaying) and waits until it answers.
    pub fn start_stun(&mut self) -> Result<String, String> {
        self.start_server(&["--stun-only", "--no-auth"])?;
        Ok(format!("stun:{SERVER_ADDR}:{}", self.server_port))
    }

    /// Starts coturn as a TURN relay (and STUN server) with long-term
    /// credentials; returns the `turn:` URL. The one-command equivalent is in
    /// docs/NETWORKS.md.
    pub fn start_turn(&mut self, user: &str, password: &str) -> Result<String, String> {
        let account = format!("{user}:{password}");
        self.start_server(&[
            "--lt-cred-mech",
            "--user",
            &account,
            "--realm",
            "qrpair.test",
            "--min-port",
            "49152",
            "--max-port",
            "49999",
        ])?;
        Ok(format!("turn:{SERVER_ADDR}:{}", self.server_port))
    }

    /// As `start_turn`, with TURN over TLS as well on `tls_port`, with
    /// the certificate and key in `tls_dir` (`server.pem`, `server.key`);
    /// returns the `turns:` URL.
    pub fn start_turns(
        &mut self,
        user: &str,
        password: &str,
        tls_dir: &std::path::Path,
        tls_port: u16,
    ) -> Result<String, String> {
        let (cert, key) = (tls_dir.join("server.pem"), tls_dir.join("server.key"));
        let port = tls_port.to_string();
        self.tls = Some((cert.to_string_lossy().to_string(), key.to_string_lossy().to_string(), port));
        self.start_turn(user, password)?;
        self.wait_tcp_listening(tls_port)?;
        Ok(format!("turns:{SERVER_ADDR}:{tls_port}"))
    }

    /// Both routers drop UDP to the server: only TCP (TLS) reaches it.
    pub fn block_udp_to_server(&self) -> Result<(), String> {
        let rules = format!(
            "table ip qrpair_no_udp {{\n\
             chain forward {{ type filter hook forward priority filter; ip daddr {SERVER_ADDR} meta l4proto udp drop; }}\n\
             }}\n"
        );
        for router in &self.routers {
            run(&["ip", "netns", "exec", router.as_str()], "nft", &["-f", "-"], Some(&rules))?;
        }
        Ok(())
    }

    fn wait_tcp_listening(&mut self, port: u16) -> Result<(), String> {
        let start = Instant::now();
        let needle = format!("{SERVER_ADDR}:{port}");
        loop {
            let out = Command::new("ip")
                .args(["netns", "exec", &self.internet, "ss", "-Hltn"])
                .output()
                .map_err(|e| format!("cannot run ss: {e}"))?;
            if String::from_utf8_lossy(&out.stdout).contains(&needle) {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(10) {
                let log = std::fs::read_to_string(&self.server_log).unwrap_or_default();
                return Err(format!("turnserver is not listening on TCP {needle} after 10 s: {log}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn start_server(&mut self, mode: &[&str]) -> Result<(), String> {
        let port = self.server_port.to_string();
        let log = self.server_log.to_string_lossy().to_string();
        let _ = std::fs::remove_file(&self.server_log);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.internet, "turnserver", "-n", "--no-cli", "--no-dtls"]);
        match &self.tls {
            Some((cert, key, tls_port)) => cmd.args(["--cert", cert, "--pkey", key, "--tls-listening-port", tls_port]),
            None => cmd.arg("--no-tls"),
        };
        cmd.args(["--listening-ip", SERVER_ADDR, "--listening-port", &port, "--log-file", &log, "--simple-log"])
            .args(["--no-software-attribute", "--pidfile", "/dev/null"])
            .args(mode)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.server = Some(cmd.spawn().map_err(|e| format!("cannot start turnserver (apt-get install coturn): {e}"))?);
        self.wait_listening()
    }

    /// Until the server's UDP port is bound in its namespace.
    fn wait_listening(&mut self) -> Result<(), String> {
        let start = Instant::now();
        let needle = format!("{SERVER_ADDR}:{}", self.server_port);
        loop {
            let out = Command::new("ip")
                .args(["netns", "exec", &self.internet, "ss", "-Hlun"])
                .output()
                .map_err(|e| format!("cannot run ss: {e}"))?;
            if String::from_utf8_lossy(&out.stdout).contains(&needle) {
                return Ok(());
            }
            if let Some(status) = self.server.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                let log = std::fs::read_to_string(&self.server_log).unwrap_or_default();
                return Err(format!("turnserver exited ({status}): {log}"));
            }
            if start.elapsed() > Duration::from_secs(10) {
                return Err(format!("turnserver is not listening on {needle} after 10 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The router's UDP conntrack entries, for a failure message.
    pub fn conntrack(&self, i: usize) -> String {
        let out = Command::new("ip").args(["netns", "exec", &self.routers[i], "conntrack", "-L", "-p", "udp"]).output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).to_string()).unwrap_or_default()
    }
}

impl Drop for NatLab {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
        // Removing a namespace ends its veth pairs and rules with it.
        for ns in self.all() {
            let _ = ip(&["netns", "del", &ns]);
        }
        let _ = std::fs::remove_file(&self.server_log);
    }
}
