//! Getting through NATs while a person carries a code: where the STUN
//! servers are, keeping the mappings our description names alive, and
//! naming the NAT when nothing gets through. Split from mod.rs, which
//! builds and drives the connection.

use crate::signal::CandidateType;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::watch;
use webrtc::peer_connection::RTCPeerConnectionState;

/// How often the ports named in our description are refreshed while a
/// person carries a code over. A NAT forgets a UDP mapping that saw no
/// reply after about 30 s (Linux conntrack's default, and most home
/// routers'); refreshing at half that keeps both our public address and the
/// hole towards the other side's open for as long as it takes.
const MAPPING_REFRESH: Duration = Duration::from_secs(15);

/// `stun:HOST[:PORT][?query]` → `HOST:PORT` (3478 by default, IPv6 in
/// brackets); `None` for other schemes.
pub(super) fn stun_host_port(url: &str) -> Option<String> {
    let rest = url.strip_prefix("stun:")?;
    let rest = rest.split('?').next().unwrap_or(rest);
    if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = after.strip_prefix(':').unwrap_or("3478");
        return Some(format!("[{host}]:{port}"));
    }
    if rest.parse::<std::net::Ipv6Addr>().is_ok() {
        return Some(format!("[{rest}]:3478"));
    }
    Some(match rest.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => format!("{host}:{port}"),
        _ => format!("{rest}:3478"),
    })
}

/// The UDP addresses among candidates.
pub(super) fn udp_addrs(candidates: &[crate::signal::Candidate]) -> Vec<SocketAddr> {
    candidates.iter().filter_map(crate::signal::Candidate::udp_addr).collect()
}

/// A STUN message with no attributes: a Binding request (a server answers
/// it, refreshing our mapping both ways) or a Binding indication (RFC 8445
/// §11's keepalive: nobody answers, ICE agents ignore it).
pub(super) fn bare_stun(message_type: u16) -> [u8; 20] {
    let mut m = [0u8; 20];
    m[..2].copy_from_slice(&message_type.to_be_bytes());
    m[4..8].copy_from_slice(&0x2112_A442u32.to_be_bytes());
    let _ = getrandom::getrandom(&mut m[8..]);
    m
}

/// Until the connection is up (or gone), refreshes every `MAPPING_REFRESH`
/// from each of our sockets: the mapping the STUN server reported (so our
/// public address in the code stays ours) and the one towards each of the
/// other side's addresses (so its checks, once it has our answer, are let in
/// as replies rather than dropped as strangers).
pub(super) async fn keep_mappings(
    sockets: Vec<std::net::UdpSocket>,
    servers: Vec<SocketAddr>,
    targets: watch::Receiver<Vec<SocketAddr>>,
    mut state: watch::Receiver<RTCPeerConnectionState>,
) {
    if sockets.is_empty() {
        return;
    }
    let settled = |s: &RTCPeerConnectionState| {
        matches!(s, RTCPeerConnectionState::Connected | RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed)
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(MAPPING_REFRESH) => {}
            _ = state.wait_for(settled) => return,
        }
        let peers = targets.borrow().clone();
        let mut sent = 0;
        for socket in &sockets {
            let Ok(local) = socket.local_addr() else { continue };
            let family = |a: &&SocketAddr| a.is_ipv4() == local.is_ipv4();
            for server in servers.iter().filter(family) {
                sent += usize::from(send_despite_reports(socket, &bare_stun(0x0001), *server));
            }
            for peer in peers.iter().filter(family) {
                sent += usize::from(send_despite_reports(socket, &bare_stun(0x0011), *peer));
            }
        }
        tracing::debug!(sent, "refreshed NAT mappings while waiting");
    }
}

/// Sends one datagram. Our sockets ask for ICMP reports (runtime.rs: a
/// closed browser tab is noticed so), and the kernel hands a pending report
/// (say, a router that cannot reach the other side's private address) to
/// the next send instead of sending it: that send is tried again, or the
/// mapping it should refresh would lapse.
pub(super) fn send_despite_reports(socket: &std::net::UdpSocket, bytes: &[u8], to: SocketAddr) -> bool {
    for _ in 0..4 {
        match socket.send_to(bytes, to) {
            Ok(_) => return true,
            Err(e) if super::runtime::reported_by_icmp(&e) => continue,
            Err(_) => return false,
        }
    }
    false
}

/// When both descriptions say why direct connection cannot work: a NAT
/// that gave our socket a different public port than its own is very
/// likely one that picks a port per destination ("symmetric"), and the
/// other side's checks then go to a port that was never opened for it.
/// Only a relay gets through; with one on either side there is nothing to
/// add.
pub(super) fn nat_obstacle(ours: &[crate::signal::Candidate], theirs: &[crate::signal::Candidate]) -> Option<String> {
    if ours.iter().chain(theirs).any(|c| c.kind == CandidateType::Relay) {
        return None;
    }
    let (we, they) = (translated_ports(ours)?, translated_ports(theirs)?);
    let who = match (we, they) {
        (true, true) => "both sides are behind NATs that change ports per destination",
        (true, false) => "this side is behind a NAT that changes ports per destination",
        (false, true) => "the other side is behind a NAT that changes ports per destination",
        (false, false) => return None,
    };
    Some(format!(
        "{who}, which a direct connection cannot cross: a relay (TURN server) is needed; see --turn (both sides: \
         --turn turn:HOST:PORT, with QRPAIR_TURN_USER and QRPAIR_TURN_PASSWORD set), or pair the two machines on \
         one network (e.g. one joins the other's Wi-Fi or phone hotspot)"
    ))
}

/// `Some(true)` when no public (server-reflexive) port equals one of our
/// own ports; `None` without a public address to compare.
pub(super) fn translated_ports(candidates: &[crate::signal::Candidate]) -> Option<bool> {
    let mut public = candidates.iter().filter(|c| c.kind == CandidateType::Srflx).peekable();
    public.peek()?;
    let own: Vec<u16> = candidates.iter().filter(|c| c.kind == CandidateType::Host).map(|c| c.port).collect();
    Some(public.all(|c| !own.contains(&c.port)))
}

/// `sdp` with the `raddr`/`rport` fields of its candidate lines removed.
pub(super) fn without_related_addresses(sdp: &str) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        if !line.starts_with("a=candidate:") {
            out.push_str(line);
            continue;
        }
        let ending = &line[line.trim_end_matches(['\r', '\n']).len()..];
        let mut fields = line.trim_end_matches(['\r', '\n']).split(' ').peekable();
        let mut kept = Vec::new();
        while let Some(field) = fields.next() {
            if field == "raddr" || field == "rport" {
                fields.next();
                continue;
            }
            kept.push(field);
        }
        out.push_str(&kept.join(" "));
        out.push_str(ending);
    }
    out
}
