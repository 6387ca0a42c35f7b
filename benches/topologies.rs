//! Pairing across the topologies of docs/NETWORKS.md, in the namespace labs
//! the tests use (tests/common): how long the data channel takes to open
//! once the offerer applies the answer, and the rate of one stream through
//! `--pipe` (offerer to answerer, BLAKE3-checked), for
//!
//! - a plain LAN: two namespaces joined by a veth pair, host candidates;
//! - two port-preserving NATs with `--stun` (a direct path through both);
//! - two symmetric NATs with `--turn` (every byte through coturn).
//!
//!     sudo cargo bench --bench topologies            # 64 MiB, 3 runs each
//!     QRPAIR_BENCH_MIB=256 cargo bench --bench topologies
//!
//! Needs root, `ip`, `nft` and coturn's `turnserver` (.ci/run installs them);
//! without them it says so and measures nothing.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

mod common;
// The tests' labs, shared rather than copied.
#[allow(dead_code)]
#[path = "../tests/common/nat.rs"]
mod nat;
#[allow(dead_code)]
#[path = "../tests/common/netns.rs"]
mod netns;

use nat::{Nat, NatLab};

const BIN: &str = env!("CARGO_BIN_EXE_qrpair");
const RUNS: usize = 3;
const TURN_USER: &str = "bench";
const TURN_PASSWORD: &str = "bench-pw";

/// Where each side runs and what it is given beyond the pairing itself.
struct Topology {
    what: &'static str,
    /// `ip netns exec NS` for the offerer and the answerer.
    namespaces: [String; 2],
    extra: Vec<String>,
}

fn qrpair(dir: &Path, namespace: &str, args: &[&str], stdin: Stdio, stdout: Stdio, log: &str) -> std::process::Child {
    Command::new("ip")
        .args(["netns", "exec", namespace, BIN])
        .args(args)
        .current_dir(dir)
        .env("QRPAIR_LOG", "qrpair=info")
        .env("QRPAIR_TURN_USER", TURN_USER)
        .env("QRPAIR_TURN_PASSWORD", TURN_PASSWORD)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(std::fs::File::create(dir.join(log)).unwrap())
        .spawn()
        .unwrap()
}

/// (channel open after the answer is applied, ms; MiB/s from the answer
/// being applied until the answerer has written the last byte).
fn one_run(dir: &Path, t: &Topology, payload: &Path, mib: usize, digest: &blake3::Hash) -> (f64, f64) {
    for f in ["offer.png", "answer.png", "received.bin"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let extra: Vec<&str> = t.extra.iter().map(String::as_str).collect();
    let offer_args = [&["offer", "--pipe", "--qr-out", "offer.png", "--answer", "answer.png"][..], &extra].concat();
    let offerer = qrpair(
        dir,
        &t.namespaces[0],
        &offer_args,
        std::fs::File::open(payload).unwrap().into(),
        Stdio::null(),
        "offerer.log",
    );
    common::wait_for(&dir.join("offer.png"));
    let answer_args = [&["answer", "offer.png", "--pipe", "--qr-out", "answer.png"][..], &extra].concat();
    let answerer = qrpair(
        dir,
        &t.namespaces[1],
        &answer_args,
        Stdio::null(),
        std::fs::File::create(dir.join("received.bin")).unwrap().into(),
        "answerer.log",
    );
    common::wait_for(&dir.join("answer.png"));
    let applied = Instant::now();
    let answered = answerer.wait_with_output().unwrap();
    let secs = applied.elapsed().as_secs_f64();
    let offered = offerer.wait_with_output().unwrap();
    let log = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    assert!(
        answered.status.success() && offered.status.success(),
        "{}: offerer {:?}, answerer {:?}\n{}\n{}",
        t.what,
        offered.status,
        answered.status,
        log("offerer.log"),
        log("answerer.log")
    );
    let received = std::fs::read(dir.join("received.bin")).unwrap();
    assert_eq!(blake3::hash(&received), *digest, "{}: the stream arrived corrupted", t.what);
    let offerer_log = log("offerer.log");
    let at = offerer_log.find("open_ms=").expect("open_ms logged") + "open_ms=".len();
    let open = offerer_log[at..].split_whitespace().next().and_then(|v| v.parse().ok()).expect("a number");
    (open, mib as f64 / secs)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let mib: usize = std::env::var("QRPAIR_BENCH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    let dir = tempfile::tempdir().unwrap();
    let payload = dir.path().join("payload.bin");
    let mut bytes = vec![0u8; mib << 20];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for chunk in bytes.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(&payload, &bytes).unwrap();
    let digest = blake3::hash(&bytes);
    drop(bytes);

    // Each lab lives until the end, so the rows alternate run by run.
    let lan = netns::Lan::for_test(200, "topologies bench (LAN)");
    let stun_lab = NatLab::for_test_prefixed("qb", 201, "topologies bench (STUN)", [Nat::EndpointIndependent; 2]);
    let turn_lab = NatLab::for_test_prefixed("qb", 202, "topologies bench (TURN)", [Nat::Symmetric; 2]);
    let mut topologies = Vec::new();
    if let Some(lan) = &lan {
        topologies.push(Topology {
            what: "one LAN (two namespaces on a veth pair), host candidates",
            namespaces: [lan.a.clone(), lan.b.clone()],
            extra: vec![],
        });
    }
    let mut stun_lab = stun_lab;
    if let Some(lab) = stun_lab.as_mut() {
        let stun = lab.start_stun().expect("STUN server");
        topologies.push(Topology {
            what: "two port-preserving NATs, `--stun` (direct)",
            namespaces: lab.peers.clone(),
            extra: vec!["--stun".into(), stun],
        });
    }
    let mut turn_lab = turn_lab;
    if let Some(lab) = turn_lab.as_mut() {
        let turn = lab.start_turn(TURN_USER, TURN_PASSWORD).expect("TURN server");
        topologies.push(Topology {
            what: "two symmetric NATs, `--turn` (relayed by coturn)",
            namespaces: lab.peers.clone(),
            extra: vec!["--turn".into(), turn.clone()],
        });
        topologies.push(Topology {
            what: "same, `--turn --relay` on both sides",
            namespaces: lab.peers.clone(),
            extra: vec!["--turn".into(), turn, "--relay".into()],
        });
    }
    if topologies.is_empty() {
        println!("no topology could be built (root, ip, nft and turnserver are needed): nothing measured");
        return;
    }
    let mut opens = vec![Vec::new(); topologies.len()];
    let mut rates = vec![Vec::new(); topologies.len()];
    for _ in 0..RUNS {
        for (i, t) in topologies.iter().enumerate() {
            let (open, rate) = one_run(dir.path(), t, &payload, mib, &digest);
            opens[i].push(open);
            rates[i].push(rate);
        }
    }
    let list = |v: &[f64]| v.iter().map(|x| format!("{x:.0}")).collect::<Vec<_>>().join(", ");
    println!("| topology ({RUNS} runs, {mib} MiB through --pipe) | channel open after the answer, ms | MiB/s, answer applied to last byte |");
    println!("|---|---|---|");
    for (i, t) in topologies.iter().enumerate() {
        println!(
            "| {} | {:.0} ({}) | {:.0} ({}) |",
            t.what,
            median(opens[i].clone()),
            list(&opens[i]),
            median(rates[i].clone()),
            list(&rates[i])
        );
    }
}
