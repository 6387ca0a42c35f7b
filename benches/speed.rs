//! Two real qrpair processes on loopback: how long the data channel takes
//! to open once the offerer applies the answer, and the end-to-end rate of
//! one large file (hashing and disk writes included) next to a plain TCP
//! copy doing the same work, with each process's peak RSS.
//!
//!     cargo bench --bench speed            # 1 GiB three times, 5 openings
//!     QRPAIR_BENCH_MIB=256 cargo bench --bench speed
//!     QRPAIR_BENCH_FILES=98000 cargo bench --bench speed    # also a tree of small files (99 079 entries with its folders; 100 000 is the limit)
//!     QRPAIR_BENCH_BASELINE=/path/to/older/qrpair cargo bench --bench speed   # the same file with another build, alternating, for a before/after ratio
//!
//! As root, the rows between non-loopback addresses run in network
//! namespaces the benchmark makes, each with the CPU seconds both sides
//! spent: in one namespace (packets take the loopback path) with --mtu 1500
//! and --mtu 9000, and between two namespaces joined by a veth pair of MTU
//! 1500 and of 9000 with default settings, where path MTU discovery has to
//! find the size (the sender's log gives the size and when it was
//! acknowledged). With QRPAIR_BENCH_BASELINE those two rows also run the
//! older build, alternating.
//!
//! The same namespace, and the veth pair of MTU 1500, then time in the
//! same rounds whichever of these are installed (none is required):
//!
//!     socat                                   # a plain TCP copy, no hashing, no fsync
//!     QRPAIR_BENCH_WORMHOLE_VENV=/tmp/perf/venv   # magic-wormhole: bin/wormhole and bin/twistd
//!                                             # (pip install magic-wormhole magic-wormhole-mailbox-server
//!                                             #  magic-wormhole-transit-relay); this is the default path
//!     QRPAIR_BENCH_WORMHOLE_RS=/tmp/perf/cargo/bin/wormhole-rs   # wormhole-rs (cargo install magic-wormhole-cli)
//!
//! Both wormholes use a mailbox and transit relay the benchmark starts on
//! the sending side's address, and connect directly over the non-loopback
//! addresses, as two machines on a LAN would.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_qrpair");

thread_local! {
    /// The build under measurement: this one, or the baseline for a moment.
    static UNDER_TEST: std::cell::Cell<&'static str> = const { std::cell::Cell::new(BIN) };
    /// The network namespace the next process runs in, when not this one.
    static INSIDE: std::cell::Cell<Option<&'static str>> = const { std::cell::Cell::new(None) };
}

/// Where a transfer's two processes run (namespace) and what they bind.
#[derive(Clone, Copy)]
struct Place {
    sender: (Option<&'static str>, &'static str),
    receiver: (Option<&'static str>, &'static str),
}

const LOOPBACK: Place = Place { sender: (None, "127.0.0.1"), receiver: (None, "127.0.0.1") };

fn qrpair(dir: &Path, args: &[&str], log: &Path) -> std::process::Child {
    let mut command = match INSIDE.get() {
        Some(namespace) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", namespace, UNDER_TEST.get()]);
            c
        }
        None => Command::new(UNDER_TEST.get()),
    };
    command
        .args(args)
        .current_dir(dir)
        // What -v logs. Debug for the path MTU module would raise the `log`
        // crate's level for the whole webrtc stack, whose per-packet
        // debug! calls then each ask the subscriber: 3-5 % more CPU.
        .env("QRPAIR_LOG", "qrpair=info,rtc_sctp::association::pmtud=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// (channel open after the answer is applied, ms; the whole scripted
/// pairing from starting the answerer until both have exited, ms: reading
/// the offer, answering, the offerer picking up answer.png, opening, and
/// closing).
fn open_latency(dir: &Path) -> (f64, f64) {
    for f in ["offer.png", "answer.png"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let offerer = qrpair(
        dir,
        &["offer", "--pipe", "--bind", "127.0.0.1", "--qr-out", "offer.png", "--answer", "answer.png"],
        &dir.join("o.log"),
    );
    common::wait_for(&dir.join("offer.png"));
    let started = Instant::now();
    let answerer = qrpair(
        dir,
        &["answer", "offer.png", "--pipe", "--bind", "127.0.0.1", "--qr-out", "answer.png"],
        &dir.join("a.log"),
    );
    common::wait_with_rss(answerer);
    common::wait_with_rss(offerer);
    let whole = started.elapsed().as_secs_f64() * 1e3;
    let log = std::fs::read_to_string(dir.join("o.log")).unwrap();
    let at = log.find("open_ms=").expect("open_ms logged") + "open_ms=".len();
    let open = log[at..].split_whitespace().next().and_then(|t| t.parse().ok()).expect("a number after open_ms=");
    (open, whole)
}

fn make_file(path: &Path, mib: usize) -> String {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let digest = common::write_pseudo_random(&mut f, mib as u64, 0x9e37_79b9_7f4a_7c15);
    f.flush().unwrap();
    digest
}

/// A namespace of the benchmark's own with one non-loopback address (on a
/// veth pair whose two ends stay inside it, MTU 9000): two processes bound
/// to it use the packet size two machines on a LAN get, on the same kernel
/// path as loopback.
struct LanNamespace(&'static str);

const LAN_ADDRESS: &str = "10.203.0.1";

impl LanNamespace {
    fn create() -> Option<LanNamespace> {
        let name: &'static str = Box::leak(format!("qrpbench{}", std::process::id()).into_boxed_str());
        let ip =
            |args: &[&str]| Command::new("ip").args(args).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
        let made = ip(&["netns", "add", name])
            && ip(&["-n", name, "link", "set", "lo", "up"])
            && ip(&["-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1"])
            && ip(&["-n", name, "link", "set", "v0", "mtu", "9000", "up"])
            && ip(&["-n", name, "link", "set", "v1", "mtu", "9000", "up"])
            && ip(&["-n", name, "addr", "add", &format!("{LAN_ADDRESS}/24"), "dev", "v0"]);
        let namespace = LanNamespace(name);
        made.then_some(namespace)
    }
}

impl Drop for LanNamespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", self.0]).status();
    }
}

/// Two namespaces joined by a veth pair of `mtu`: packets cross a real
/// (virtual) link of that size, so the path's MTU is what probing finds.
struct VethPair {
    place: Place,
}

impl VethPair {
    fn create(mtu: u32, subnet: u8) -> Option<VethPair> {
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        let pid = std::process::id();
        let (a, b) = (leak(format!("qrpbench{pid}m{mtu}a")), leak(format!("qrpbench{pid}m{mtu}b")));
        let (addr_a, addr_b) = (leak(format!("10.204.{subnet}.1")), leak(format!("10.204.{subnet}.2")));
        let (va, vb) = (format!("qrpb{pid}m{mtu}a"), format!("qrpb{pid}m{mtu}b"));
        let (va, vb) = (va[va.len().saturating_sub(15)..].to_string(), vb[vb.len().saturating_sub(15)..].to_string());
        let ip =
            |args: &[&str]| Command::new("ip").args(args).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
        let pair = VethPair { place: Place { sender: (Some(a), addr_a), receiver: (Some(b), addr_b) } };
        let mtu = mtu.to_string();
        let made = ip(&["netns", "add", a])
            && ip(&["netns", "add", b])
            && ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb])
            && [(a, &va, addr_a), (b, &vb, addr_b)].iter().all(|(ns, dev, addr)| {
                ip(&["link", "set", dev, "netns", ns])
                    && ip(&["-n", ns, "link", "set", "lo", "up"])
                    && ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])
                    && ip(&["-n", ns, "link", "set", dev, "mtu", &mtu, "up"])
            });
        made.then_some(pair)
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        for ns in [self.place.sender.0, self.place.receiver.0].into_iter().flatten() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// From the last sender's log: the largest packet size its path MTU probes
/// had acknowledged, and how many ms after the search began (logged 10 ms
/// after the acknowledgement, so one round's answers make one line).
fn settled_size(dir: &Path) -> Option<(u32, u64)> {
    let log = std::fs::read_to_string(dir.join("s.log")).ok()?;
    log.lines()
        .filter_map(|l| {
            let rest = l.split("path MTU: ").nth(1)?;
            let size = rest.split('-').next()?.parse().ok()?;
            let ms = rest.split(", ").nth(1)?.split(' ').next()?.parse().ok()?;
            Some((size, ms))
        })
        .max()
}

/// (seconds, sender RSS KiB, receiver RSS KiB, CPU seconds of both, the received file)
fn qrpair_transfer<'a>(dir: &Path, file: &'a Path, place: Place, extra: &[&'a str]) -> (f64, i64, i64, f64, PathBuf) {
    for f in ["offer.png", "answer.png"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let inbox = dir.join("inbox");
    let _ = std::fs::remove_dir_all(&inbox);
    std::fs::create_dir(&inbox).unwrap();
    let start = Instant::now();
    let file_arg = file.to_str().unwrap();
    let with_extra = |args: &[&'a str]| [args, extra].concat();
    let bind = place.sender.1;
    INSIDE.set(place.sender.0);
    let sender = qrpair(
        dir,
        &with_extra(&[
            "offer",
            "--bind",
            bind,
            "--qr-out",
            "offer.png",
            "--answer",
            "answer.png",
            "--quiet",
            "--send",
            file_arg,
        ]),
        &dir.join("s.log"),
    );
    common::wait_for(&dir.join("offer.png"));
    let bind = place.receiver.1;
    INSIDE.set(place.receiver.0);
    let receiver = qrpair(
        dir,
        &with_extra(&[
            "answer",
            "offer.png",
            "--bind",
            bind,
            "--qr-out",
            "answer.png",
            "--quiet",
            "--receive",
            "inbox",
            "--yes",
        ]),
        &dir.join("r.log"),
    );
    INSIDE.set(None);
    let (rc_r, rss_r, cpu_r) = common::wait_with_usage(receiver);
    let (rc_s, rss_s, cpu_s) = common::wait_with_usage(sender);
    assert_eq!((rc_s, rc_r), (0, 0), "transfer failed; see {}", dir.display());
    (start.elapsed().as_secs_f64(), rss_s, rss_r, cpu_s + cpu_r, inbox.join(file.file_name().unwrap()))
}

/// The yardstick: the same bytes over a loopback TCP socket, each side
/// doing what qrpair does: the sender hashes what it reads, the receiver
/// hashes what it writes and syncs the file to disk.
fn tcp_copy(dir: &Path, file: &Path) -> f64 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let out = dir.join("tcp-copy.bin");
    let start = Instant::now();
    let file = file.to_path_buf();
    let sender = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        let mut source = std::fs::File::open(file).unwrap();
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = source.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            stream.write_all(&buf[..n]).unwrap();
        }
        hasher.finalize()
    });
    let (mut stream, _) = listener.accept().unwrap();
    let mut sink = std::fs::File::create(&out).unwrap();
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        sink.write_all(&buf[..n]).unwrap();
    }
    sink.sync_all().unwrap();
    assert_eq!(sender.join().unwrap(), hasher.finalize(), "TCP copy differs");
    let secs = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(out);
    secs
}

fn blake3_of(path: &Path) -> String {
    let mut hasher = blake3::Hasher::new();
    std::io::copy(&mut std::fs::File::open(path).unwrap(), &mut hasher).unwrap();
    hasher.finalize().to_hex().to_string()
}

/// Another transfer tool timed beside qrpair in the LAN namespace.
#[derive(Clone, Copy)]
enum Peer {
    Socat,
    Wormhole,
    WormholeRs,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Socat => "socat TCP copy (no hashing, no fsync)",
            Peer::Wormhole => "magic-wormhole (Python), direct connection",
            Peer::WormholeRs => "wormhole-rs, direct connection",
        }
    }
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(program)).find(|p| p.is_file())
}

fn wormhole_venv() -> PathBuf {
    std::env::var_os("QRPAIR_BENCH_WORMHOLE_VENV").map(PathBuf::from).unwrap_or_else(|| "/tmp/perf/venv".into())
}

fn wormhole_rs() -> Option<PathBuf> {
    std::env::var_os("QRPAIR_BENCH_WORMHOLE_RS")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/tmp/perf/cargo/bin/wormhole-rs")))
        .filter(|p| p.is_file())
        .or_else(|| on_path("wormhole-rs"))
}

/// The tools found on this machine.
fn peers_installed() -> Vec<Peer> {
    let mut found = Vec::new();
    if on_path("socat").is_some() {
        found.push(Peer::Socat);
    }
    let venv = wormhole_venv();
    if venv.join("bin/wormhole").is_file() && venv.join("bin/twistd").is_file() {
        found.push(Peer::Wormhole);
    }
    if wormhole_rs().is_some() {
        found.push(Peer::WormholeRs);
    }
    found
}

const MAILBOX_PORT: u16 = 14000;
const RELAY_PORT: u16 = 14001;
const SOCAT_PORT: u16 = 14002;

fn in_namespace(namespace: &str, program: &Path) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", namespace]).arg(program);
    c
}

/// Waits until something listens on port inside the namespace
/// (asked of `ss`: socat would take a probe connection as its one client).
fn wait_port(namespace: &str, port: u16) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        let out =
            Command::new("ip").args(["netns", "exec", namespace, "ss", "-Hltn", &format!("sport = :{port}")]).output();
        if out.is_ok_and(|o| !o.stdout.is_empty()) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// The wormholes' mailbox and transit relay, running while this lives.
struct WormholeServers(Vec<std::process::Child>);

impl WormholeServers {
    /// In the sending side's namespace, on its address (`place.sender`).
    fn start(place: Place, dir: &Path) -> Option<WormholeServers> {
        let (Some(namespace), address) = place.sender else { return None };
        let twistd = wormhole_venv().join("bin/twistd");
        let srv = dir.join(format!("srv-{address}"));
        std::fs::create_dir_all(&srv).ok()?;
        let mut children = Vec::new();
        for (plugin, port, extra) in
            [("wormhole-mailbox", MAILBOX_PORT, Some("--channel-db=relay.sqlite")), ("transitrelay", RELAY_PORT, None)]
        {
            let mut c = in_namespace(namespace, &twistd);
            c.args(["-n", &format!("--pidfile={plugin}.pid"), &format!("--logfile={plugin}.log"), plugin])
                .arg(format!("--port=tcp:{port}:interface={address}"))
                .args(extra)
                .current_dir(&srv)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            children.push(c.spawn().ok()?);
        }
        let servers = WormholeServers(children);
        (wait_port(namespace, MAILBOX_PORT) && wait_port(namespace, RELAY_PORT)).then_some(servers)
    }
}

impl Drop for WormholeServers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Reads `log` until a wormhole code follows "code is:" (colours stripped).
fn wait_code(log: &Path) -> String {
    let start = Instant::now();
    loop {
        let raw = std::fs::read_to_string(log).unwrap_or_default();
        let mut text = String::new();
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                chars.by_ref().find(|c| c.is_ascii_alphabetic());
            } else {
                text.push(c);
            }
        }
        if let Some(at) = text.find("code is:") {
            let rest = text[at + "code is:".len()..].trim_start();
            let code: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
            if code.contains('-') && rest.len() > code.len() {
                return code;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no wormhole code in {}", log.display());
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// (seconds, CPU seconds of both sides, the received file) for one
/// transfer with another tool, inside the namespace.
fn peer_transfer(peer: Peer, place: Place, dir: &Path, file: &Path) -> (f64, f64, PathBuf) {
    let ((Some(sender_ns), server), (Some(receiver_ns), receiver_address)) = (place.sender, place.receiver) else {
        panic!("other tools run only between namespaces");
    };
    let inbox = dir.join("inbox");
    let _ = std::fs::remove_dir_all(&inbox);
    std::fs::create_dir(&inbox).unwrap();
    let received = inbox.join(file.file_name().unwrap());
    let quiet = |c: &mut Command, log: &str| {
        c.stdin(Stdio::null()).stdout(std::fs::File::create(dir.join(format!("{log}.out"))).unwrap());
        c.stderr(std::fs::File::create(dir.join(format!("{log}.err"))).unwrap());
    };
    let relay_url = format!("ws://{server}:{MAILBOX_PORT}/v1");
    let start = Instant::now();
    let (sender, receiver) = match peer {
        Peer::Socat => {
            let socat = on_path("socat").unwrap();
            let mut r = in_namespace(receiver_ns, &socat);
            r.args(["-u", &format!("TCP-LISTEN:{SOCAT_PORT},bind={receiver_address},reuseaddr")])
                .arg(format!("CREATE:{}", received.display()));
            quiet(&mut r, "peer-r");
            let receiver = r.spawn().unwrap();
            assert!(wait_port(receiver_ns, SOCAT_PORT), "socat never listened");
            let mut s = in_namespace(sender_ns, &socat);
            s.args(["-u", &format!("OPEN:{}", file.display()), &format!("TCP:{receiver_address}:{SOCAT_PORT}")]);
            quiet(&mut s, "peer-s");
            (s.spawn().unwrap(), receiver)
        }
        Peer::Wormhole => {
            let wormhole = wormhole_venv().join("bin/wormhole");
            let transit = format!("tcp:{server}:{RELAY_PORT}");
            let mut s = in_namespace(sender_ns, &wormhole);
            s.args(["--relay-url", &relay_url, "--transit-helper", &transit, "send", "--hide-progress"]).arg(file);
            quiet(&mut s, "peer-s");
            let sender = s.spawn().unwrap();
            let code = wait_code(&dir.join("peer-s.err"));
            let mut r = in_namespace(receiver_ns, &wormhole);
            r.args([
                "--relay-url",
                &relay_url,
                "--transit-helper",
                &transit,
                "receive",
                "--accept-file",
                "--hide-progress",
                &code,
            ])
            .current_dir(&inbox);
            quiet(&mut r, "peer-r");
            (sender, r.spawn().unwrap())
        }
        Peer::WormholeRs => {
            let wrs = wormhole_rs().unwrap();
            let relay = format!("tcp://{server}:{RELAY_PORT}");
            let mut s = in_namespace(sender_ns, &wrs);
            s.args(["send", "--rendezvous-server", &relay_url, "--relay-server", &relay]).arg(file);
            quiet(&mut s, "peer-s");
            let sender = s.spawn().unwrap();
            let code = wait_code(&dir.join("peer-s.out"));
            let mut r = in_namespace(receiver_ns, &wrs);
            r.args([
                "receive",
                "--rendezvous-server",
                &relay_url,
                "--relay-server",
                &relay,
                "--noconfirm",
                "--out-dir",
            ])
            .arg(&inbox)
            .arg(&code);
            quiet(&mut r, "peer-r");
            (sender, r.spawn().unwrap())
        }
    };
    let (rc_r, _, cpu_r) = common::wait_with_usage(receiver);
    let (rc_s, _, cpu_s) = common::wait_with_usage(sender);
    assert_eq!((rc_s, rc_r), (0, 0), "{} failed; see {}", peer.name(), dir.display());
    (start.elapsed().as_secs_f64(), cpu_s + cpu_r, received)
}

const RUNS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes --bench; nothing else is taken from the command line.
    let mib: usize = std::env::var("QRPAIR_BENCH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    let dir = tempfile::tempdir().unwrap();
    let (opens, pairings): (Vec<f64>, Vec<f64>) = (0..5).map(|_| open_latency(dir.path())).unzip();
    println!("| measure | result |\n|---|---|");
    let spread = |v: &[f64]| {
        let (min, max) = v.iter().fold((f64::MAX, 0.0f64), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
        format!("median {:.0} ms (min {min:.0}, max {max:.0})", median(v.to_vec()))
    };
    println!("| data channel open after the answer is applied (5 runs) | {} |", spread(&opens));
    println!(
        "| scripted pairing through PNG files (`--answer answer.png`), answerer start to both exited (5 runs) | {} |",
        spread(&pairings)
    );
    let file = dir.path().join("payload.bin");
    let digest = make_file(&file, mib);
    // Alternating runs, so a burst of load on this shared machine hits all.
    let lan = LanNamespace::create();
    let (veth1500, veth9000) = (VethPair::create(1500, 15), VethPair::create(9000, 90));
    if lan.is_none() || veth1500.is_none() || veth9000.is_none() {
        println!("| (rows between non-loopback addresses skipped: they need root and `ip` for namespaces) | |");
    }
    let one_namespace = lan.as_ref().map(|namespace| Place {
        sender: (Some(namespace.0), LAN_ADDRESS),
        receiver: (Some(namespace.0), LAN_ADDRESS),
    });
    // (what, where, extra arguments, also run the baseline build)
    let routes: Vec<(String, Place, &[&str], bool)> = [
        (format!("{mib} MiB file, qrpair --send/--receive on loopback (16 KiB packets), pairing included"), Some(LOOPBACK), &[][..], true),
        ("same, two non-loopback addresses in one namespace (the loopback path), default settings: probing finds 16 KiB".to_string(), one_namespace, &[][..], false),
        ("same, one namespace, --mtu 1280 (the 1.2 KB packets qrpair sends before probing proves more, or on a path nothing is known about)".to_string(), one_namespace, &["--mtu", "1280"][..], true),
        ("same, one namespace, --mtu 1500 (Ethernet-sized packets, no probing)".to_string(), one_namespace, &["--mtu", "1500"][..], false),
        ("same, one namespace, --mtu 9000 (jumbo-sized packets, no probing)".to_string(), one_namespace, &["--mtu", "9000"][..], false),
        ("same, two namespaces over a veth pair with MTU 1500, default settings (path MTU discovery)".to_string(), veth1500.as_ref().map(|v| v.place), &[][..], true),
        ("same, two namespaces over a veth pair with MTU 9000, default settings (path MTU discovery)".to_string(), veth9000.as_ref().map(|v| v.place), &[][..], true),
    ]
    .into_iter()
    .filter_map(|(what, place, extra, compare)| Some((what, place?, extra, compare)))
    .collect();
    let (mut tcp, mut rss_s, mut rss_r) = (Vec::new(), 0, 0);
    let mut rates = vec![Vec::new(); routes.len()];
    let mut cpu = vec![Vec::new(); routes.len()];
    let mut settled = vec![Vec::new(); routes.len()];
    let baseline: Option<&'static str> =
        std::env::var("QRPAIR_BENCH_BASELINE").ok().map(|path| &*Box::leak(path.into_boxed_str()));
    let mut before = vec![Vec::new(); routes.len()];
    let mut before_cpu = vec![Vec::new(); routes.len()];
    // The other tools run where qrpair's LAN rows do: two addresses in one
    // namespace (TCP there takes the loopback path, 64 KiB segments), and
    // across the veth pair of MTU 1500, as between two machines.
    let installed = peers_installed();
    let wormholes = installed.iter().any(|p| matches!(p, Peer::Wormhole | Peer::WormholeRs));
    let mut servers = Vec::new();
    let mut peers: Vec<(Peer, Place, &str)> = Vec::new();
    for (place, label) in [
        (one_namespace, "between the same non-loopback addresses"),
        (veth1500.as_ref().map(|v| v.place), "across the veth pair with MTU 1500 (two namespaces)"),
    ] {
        let Some(place) = place else { continue };
        let started = if wormholes { WormholeServers::start(place, dir.path()) } else { None };
        for peer in &installed {
            if matches!(peer, Peer::Socat) || started.is_some() {
                peers.push((*peer, place, label));
            }
        }
        servers.extend(started);
    }
    let mut peer_rates = vec![Vec::new(); peers.len()];
    let mut peer_cpu = vec![Vec::new(); peers.len()];
    for _ in 0..RUNS {
        tcp.push(mib as f64 / tcp_copy(dir.path(), &file));
        for (i, (_, place, extra, compare)) in routes.iter().enumerate() {
            if let (Some(older), true) = (baseline, compare) {
                UNDER_TEST.set(older);
                let (secs, _, _, seconds, received) = qrpair_transfer(dir.path(), &file, *place, extra);
                UNDER_TEST.set(BIN);
                assert_eq!(blake3_of(&received), digest, "received file differs (baseline)");
                before[i].push(mib as f64 / secs);
                before_cpu[i].push(seconds * 1024.0 / mib as f64);
            }
            let (secs, s, r, seconds, received) = qrpair_transfer(dir.path(), &file, *place, extra);
            assert_eq!(blake3_of(&received), digest, "received file differs");
            rates[i].push(mib as f64 / secs);
            cpu[i].push(seconds * 1024.0 / mib as f64);
            settled[i].extend(settled_size(dir.path()));
            (rss_s, rss_r) = (rss_s.max(s), rss_r.max(r));
        }
        for (k, (peer, place, _)) in peers.iter().enumerate() {
            let (secs, seconds, received) = peer_transfer(*peer, *place, dir.path(), &file);
            assert_eq!(blake3_of(&received), digest, "received file differs ({})", peer.name());
            peer_rates[k].push(mib as f64 / secs);
            peer_cpu[k].push(seconds * 1024.0 / mib as f64);
        }
    }
    drop(servers);
    let runs = |v: &[f64]| v.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", ");
    for (i, (what, ..)) in routes.iter().enumerate() {
        let probing = match settled[i].iter().max() {
            Some((size, _)) => format!(
                "; probing settled on {size}-byte SCTP packets, acknowledged {} ms after it began",
                settled[i].iter().map(|(_, ms)| ms.to_string()).collect::<Vec<_>>().join(", ")
            ),
            None => String::new(),
        };
        println!(
            "| {what} ({RUNS} runs) | median {:.0} MiB/s ({}); {:.1} CPU s/GiB, both sides{probing} |",
            median(rates[i].clone()),
            runs(&rates[i]),
            median(cpu[i].clone())
        );
    }
    println!(
        "| same file, plain TCP copy hashing on both sides, disk write + fsync ({RUNS} runs) | median {:.0} MiB/s ({}) |",
        median(tcp.clone()),
        runs(&tcp)
    );
    for (k, (peer, _, label)) in peers.iter().enumerate() {
        println!(
            "| same file, {}, {label} ({RUNS} runs) | median {:.0} MiB/s ({}); {:.1} CPU s/GiB, both sides |",
            peer.name(),
            median(peer_rates[k].clone()),
            runs(&peer_rates[k]),
            median(peer_cpu[k].clone())
        );
    }
    if let Some(older) = baseline {
        for (i, (what, ..)) in routes.iter().enumerate().filter(|(i, _)| !before[*i].is_empty()) {
            let ratio = median(rates[i].clone()) / median(before[i].clone());
            let cpu_ratio = median(cpu[i].clone()) / median(before_cpu[i].clone());
            println!(
                "| {what}, with {older} (baseline, alternating) | median {:.0} MiB/s ({}); {:.1} CPU s/GiB; this build / baseline = {ratio:.2} (rate), {cpu_ratio:.2} (CPU) |",
                median(before[i].clone()),
                runs(&before[i]),
                median(before_cpu[i].clone())
            );
        }
    }
    println!("| peak RSS, sender / receiver (largest of the runs) | {} MiB / {} MiB |", rss_s / 1024, rss_r / 1024);
    let files: usize = std::env::var("QRPAIR_BENCH_FILES").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    if files > 0 {
        many_files(dir.path(), files);
    }
}

/// `count` small files (0–48 bytes) with ~150-byte names, 100 to a folder,
/// 10 folders to a group: per-file cost, not bandwidth.
fn many_files(dir: &Path, count: usize) {
    let tree = dir.join("many");
    let long = "a-rather-long-file-name-that-makes-every-manifest-entry-heavy-".repeat(2);
    let mut sent = Vec::with_capacity(count);
    for i in 0..count {
        let folder = tree.join(format!("group {:03}", i / 1000)).join(format!("sub {:02}", (i / 100) % 10));
        if i % 100 == 0 {
            std::fs::create_dir_all(&folder).unwrap();
        }
        let path = folder.join(format!("{long}-{i:06}.txt"));
        let body = format!("file {i}\n").repeat(i % 7);
        std::fs::write(&path, &body).unwrap();
        sent.push((path.strip_prefix(dir).unwrap().to_path_buf(), blake3::hash(body.as_bytes())));
    }
    let (secs, rss_s, rss_r, _, received) = qrpair_transfer(dir, &tree, LOOPBACK, &[]);
    let inbox = received.parent().unwrap();
    for (path, digest) in &sent {
        assert_eq!(blake3::hash(&std::fs::read(inbox.join(path)).unwrap()), *digest, "{} differs", path.display());
    }
    println!(
        "| {count} small files, ~150-byte names, in {} folders, pairing included | {secs:.1} s, {:.0} files/s, peak RSS {} / {} MiB |",
        count.div_ceil(100) + count.div_ceil(1000) + 1,
        count as f64 / secs,
        rss_s / 1024,
        rss_r / 1024
    );
}
