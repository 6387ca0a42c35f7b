//! The topologies besides two NATs (tests/integration/nat.rs): one machine
//! with a public address, and two machines that have only IPv6. Both pair
//! without any relay; these tests prove it and measure the open time. And
//! a file, not a pipe, across two NATs with STUN.

use crate::common::ipv6::{Ipv6Lab, PEER_ADDRS};
use crate::common::nat::{public_addr, Nat, NatLab};
use crate::common::pairing::Pairing;
use crate::common::*;
use crate::nat::{both_streams_arrived, candidates, open_ms, LOG};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(120);
const MIB: usize = 4 << 20;

/// Runs an offerer in namespace `exec[0]` and an answerer in `exec[1]`,
/// each piping `MIB` random bytes to the other, and checks both streams
/// arrived whole. Returns the sandbox (holding offer.png and answer.png)
/// and the channel open time the offerer logged.
fn pair_and_pipe(exec: [[&str; 4]; 2], extra: [&[&str]; 2], seed: u64) -> (Sandbox, f64) {
    let sb = Sandbox::new();
    let (a, b) = (random_bytes(MIB, seed), random_bytes(MIB, seed + 1));
    let (off, ans) = Pairing::new(&sb)
        .both(&["--pipe", "--timeout", "40s"])
        .offerer(extra[0])
        .answerer(extra[1])
        .through(&exec[0], &exec[1])
        .env_offerer(LOG.0, LOG.1)
        .inputs(&a, &b)
        .limit(LIMIT)
        .run();
    both_streams_arrived(&off, &ans, &a, &b);
    let open = open_ms(&off.stderr);
    (sb, open)
}

/// A machine with a public address (a server, a university desktop) and one
/// behind the worst kind of NAT: the NATed side's checks reach the public
/// address, the public side answers through the mapping those checks made,
/// and no relay is needed. Both directions of who offers are tried.
#[test]
fn a_public_address_pairs_with_a_symmetric_nat_without_a_relay() {
    for (offset, nats) in [(110, [Nat::None, Nat::Symmetric]), (111, [Nat::Symmetric, Nat::None])] {
        let Some(mut lab) = NatLab::for_test(offset, "public address", nats) else { return };
        let stun = lab.start_stun().expect("STUN server");
        let started = Instant::now();
        let with_stun: &[&str] = &["--stun", &stun];
        let (sb, open) = pair_and_pipe([lab.exec(0), lab.exec(1)], [with_stun, with_stun], offset as u64);
        let public = nats.iter().position(|n| *n == Nat::None).unwrap();
        let code = ["offer.png", "answer.png"][public];
        let kinds = candidates(&sb, code);
        assert!(kinds.contains(&("host".into(), public_addr(public))), "{code}: {kinds:?}");
        // The lab's "internet" is a documentation range (RFC 5737): decode
        // says the code is reached directly at that address, and that only a
        // test network routes it (with a global address it would say "from
        // any network"; src/signal/addresses.rs is tested on real ones).
        let text = sb.run(&["decode", code], b"", LIMIT);
        let expected = format!(
            "reachable: directly at {}, a documentation address (TEST-NET-2, RFC 5737): only a test network routes it",
            public_addr(public)
        );
        assert!(
            String::from_utf8_lossy(&text.stdout).contains(&expected),
            "decode should say the code is reached directly at its address:\n{}",
            String::from_utf8_lossy(&text.stdout)
        );
        eprintln!(
            "public address ({}) with a symmetric NAT, STUN: channel open {open:.0} ms, 4 MiB each way, all in {:.2} s",
            ["offering", "answering"][public],
            started.elapsed().as_secs_f64()
        );
        assert!(open < 400.0, "the channel opened {open} ms after the answer was applied");
    }
}

/// Nothing but IPv6: the default addresses qrpair binds must include the
/// global ones (not only link-local, which would not cross the router), and
/// the code must carry them.
#[test]
fn two_machines_with_only_ipv6_pair_through_a_router() {
    let Some(lab) = Ipv6Lab::for_test(112, "IPv6-only") else { return };
    let none: &[&str] = &[];
    let (sb, open) = pair_and_pipe([lab.exec(0), lab.exec(1)], [none, none], 112);
    for (code, own) in [("offer.png", PEER_ADDRS[0]), ("answer.png", PEER_ADDRS[1])] {
        let kinds = candidates(&sb, code);
        assert_eq!(
            kinds,
            vec![("host".to_string(), own.to_string())],
            "{code} should carry only its global IPv6 address"
        );
        let reach = &crate::nat::decoded(&sb, code)["reach"];
        let expected = format!("directly at {own}, a documentation address (RFC 3849): only a test network routes it");
        assert_eq!(reach.as_str().unwrap(), expected, "{code}");
    }
    eprintln!("IPv6 only, through a router: channel open {open:.0} ms, 4 MiB each way");
    assert!(open < 400.0, "the channel opened {open} ms after the answer was applied");
}

/// Files, not only pipes, across two home routers with STUN: the receiver
/// keeps exactly the bytes sent, under their name, and nothing half-written.
#[test]
fn behind_two_port_preserving_nats_stun_carries_a_file() {
    let Some(mut lab) = NatLab::for_test(113, "NAT/STUN file", [Nat::EndpointIndependent; 2]) else { return };
    let stun = lab.start_stun().expect("STUN server");
    let sb = Sandbox::new();
    let data = random_bytes(8 << 20, 113);
    sb.write("data.bin", &data);
    std::fs::create_dir(sb.path("inbox")).unwrap();
    let started = Instant::now();
    let (s, r) = Pairing::new(&sb)
        .tags("sender", "receiver")
        .both(&["--stun", &stun])
        .offerer(&["--send", "data.bin"])
        .answerer(&["--receive", "inbox", "--yes"])
        .through(&lab.exec(0), &lab.exec(1))
        .limit(LIMIT)
        .run();
    assert_eq!((s.code(), r.code()), (0, 0), "sender:\n{}\nreceiver:\n{}", s.stderr, r.stderr);
    let received = std::fs::read(sb.path("inbox/data.bin")).expect("the file arrived");
    assert_eq!(blake3::hash(&received), blake3::hash(&data), "the file arrived corrupted");
    assert_no_temp_files(&sb.path("inbox"));
    eprintln!("two port-preserving NATs, STUN: 8 MiB file, all in {:.2} s", started.elapsed().as_secs_f64());
}
