//! What webrtc is told for one pairing: packet sizes and path MTU probes,
//! the SCTP receive window, ICE's timers and waits, the certificate, the
//! STUN and TURN servers, the addresses to bind. `Peer::build` (mod.rs) assembles a connection from
//! these; nothing here opens a socket.

use super::{runtime, setup, Error, PeerOptions};
use rtc::peer_connection::certificate::CertificateParams;
use std::net::IpAddr;
use std::time::Duration;
use webrtc::peer_connection::{
    RTCCertificate, RTCConfiguration, RTCConfigurationBuilder, RTCIceServer, RTCIceTransportPolicy, SettingEngine,
    SettingEngineBuilder,
};

/// The largest plaintext one DTLS record carries (2^14 bytes, RFC 6347).
pub(super) const MAX_SCTP_MTU: u32 = 16 * 1024;
/// How long a relayed pair waits before it may be nominated, so that a
/// direct pair that works (a LAN, port-preserving NATs) wins over the relay.
/// Direct pairs through NATs validated 23-28 ms after the answer in the NAT
/// lab; rtc-ice's default, 2 s, made a relayed channel open 2.8 s after it.
const RELAY_ACCEPTANCE_WAIT: Duration = Duration::from_millis(500);
/// UDP's header and a DTLS record's header, nonce and tag.
const UDP_DTLS_OVERHEAD: u32 = 8 + 13 + 8 + 16;

/// ICE, SCTP and DTLS settings for a pairing whose ICE credentials follow
/// from its certificate's fingerprint.
pub(super) fn setting_engine(opts: &PeerOptions, ufrag: String, pwd: String) -> SettingEngine {
    let settings = SettingEngineBuilder::new()
        .with_ice_credentials(ufrag, pwd)
        // Any other mode binds 224.0.0.251:5353, which fails on a LAN
        // with no default route: the very case qrpair exists for.
        .with_multicast_dns_mode(rtc_ice::mdns::MulticastDnsMode::Disabled)
        // A person carries the answer back; ICE must outlast them.
        // Keepalives are due every 500 ms and checked on a tick of the
        // same period, so one leaves at most a second after the last:
        // a peer that vanishes without a word (a closed browser tab)
        // refuses it, which is how its leaving is noticed. At 1 s the
        // tick let two seconds pass (Chromium tab closed: noticed after
        // 2.0 s; now 1.0-1.2 s).
        .with_ice_timeouts(
            Some(Duration::from_secs(5)),
            Some(opts.patience + Duration::from_secs(30)),
            Some(Duration::from_millis(500)),
        )
        // Checks every 20 ms instead of 200 ms: the channel opens
        // hundreds of milliseconds sooner (about 600 ms → 220 ms measured).
        .with_ice_connection_attempts(Some(Duration::from_millis(20)), None)
        // rtc-ice holds a working pair through a NAT for 500 ms before
        // nominating it (server-reflexive) in case a better one answers;
        // through two NATs only these pairs ever work, so waiting only
        // delays the channel (open 516 ms → 25 ms after the answer, tests/integration/nat.rs).
        .with_srflx_acceptance_min_wait(Some(Duration::ZERO))
        // A browser hides its host addresses behind mDNS names qrpair
        // does not resolve, so its only usable address is the one its
        // checks come from: a peer-reflexive candidate. webrtc waits 1 s
        // before nominating one (for a better pair to show up); host
        // pairs wait 0, and so does this, which is the same address.
        .with_prflx_acceptance_min_wait(Some(Duration::ZERO))
        // With only relay candidates there is no direct pair to wait for.
        .with_relay_acceptance_min_wait(Some(if opts.relay_only { Duration::ZERO } else { RELAY_ACCEPTANCE_WAIT }))
        // Sized to the UDP receive buffer, which it must never overrun
        // (loss would stall the stream): see `sctp_receive_window`.
        .with_sctp_max_receive_buffer_size(sctp_receive_window());
    match sctp_mtu(opts) {
        Some(mtu) => settings.with_sctp_mtu(mtu),
        // Packets start at webrtc's 1.2 KB, which crosses any path, and
        // grow to the largest probe the peer acknowledges (a few ms on a
        // LAN): the link's real MTU without the user knowing it.
        None => settings.with_sctp_pmtu_probe_sizes(pmtu_probe_sizes()),
    }
    .build()
}

/// How qrpair speaks to a TURN server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnTransport {
    /// `turn:`: UDP, which webrtc speaks itself.
    Udp,
    /// `turns:`: TLS over TCP, carried under webrtc by turns.rs (webrtc-rs
    /// relays over UDP only). Plain TCP would be another arm of the same
    /// stream carrier.
    Tls,
}

/// Where a TURN server is, parsed once from `--turn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnAddress {
    /// A DNS name or an IP address, IPv6 without brackets.
    pub host: String,
    pub port: u16,
    pub transport: TurnTransport,
}

impl TurnAddress {
    /// `HOST:PORT`, IPv6 in brackets.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `turn:HOST:PORT?transport=udp` or `turns:HOST:PORT`.
    pub fn url(&self) -> String {
        match self.transport {
            TurnTransport::Udp => format!("turn:{}?transport=udp", self.host_port()),
            TurnTransport::Tls => format!("turns:{}", self.host_port()),
        }
    }
}

/// A TURN server and the long-term credentials it wants.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnServer {
    pub address: TurnAddress,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for TurnServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password, not even in a debug log.
        f.debug_struct("TurnServer").field("address", &self.address).field("username", &self.username).finish()
    }
}

/// The certificate, the ICE servers and the policy: STUN as given, each
/// TURN server with its credentials, a `turns:` one as the UDP URL its
/// tunnel stands for (`tls_as_udp`, in the order they were given).
pub(super) fn rtc_configuration(
    opts: &PeerOptions,
    certificate: RTCCertificate,
    tls_as_udp: Vec<String>,
) -> RTCConfiguration {
    let mut config = RTCConfigurationBuilder::new().with_certificates(vec![certificate]);
    let mut servers = Vec::new();
    if !opts.stun.is_empty() {
        servers.push(RTCIceServer { urls: opts.stun.clone(), ..Default::default() });
    }
    let mut tls_as_udp = tls_as_udp.into_iter();
    for turn in &opts.turn {
        let url = match turn.address.transport {
            TurnTransport::Udp => turn.address.url(),
            TurnTransport::Tls => tls_as_udp.next().unwrap_or_default(),
        };
        servers.push(RTCIceServer {
            urls: vec![url],
            username: turn.username.clone(),
            credential: turn.password.clone(),
        });
    }
    if !servers.is_empty() {
        config = config.with_ice_servers(servers);
    }
    if opts.relay_only {
        config = config.with_ice_transport_policy(RTCIceTransportPolicy::Relay);
    }
    config.build()
}

/// What one SCTP packet may hold on a link of `link_mtu` bytes: the IP
/// packet less IPv6's header (the larger), UDP's, and a DTLS record's
/// header, nonce and tag; never past one DTLS record's plaintext.
pub fn sctp_mtu_for_link(link_mtu: u32) -> u32 {
    link_mtu.saturating_sub(40 + UDP_DTLS_OVERHEAD).min(MAX_SCTP_MTU)
}

/// Link MTUs worth a probe: IPv6's minimum, tunnels (WireGuard 1420, PPPoE
/// 1492, IPsec and VXLAN around 1400-1480), Ethernet, jumbo frames, and
/// loopback (which one DTLS record's 16 KiB caps).
const PROBED_LINK_MTUS: [u32; 8] = [1280, 1400, 1420, 1480, 1492, 1500, 9000, 65535];

/// The SCTP packet sizes path MTU discovery tries (RFC 8899 probes, in
/// vendor/rtc-sctp): each probed link MTU with IPv6's header and with
/// IPv4's, since the probe measures the real packet whichever it is.
pub fn pmtu_probe_sizes() -> Vec<u32> {
    let mut sizes: Vec<u32> = PROBED_LINK_MTUS
        .iter()
        .flat_map(|&link| [sctp_mtu_for_link(link), link.saturating_sub(20 + UDP_DTLS_OVERHEAD).min(MAX_SCTP_MTU)])
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

/// The packet size for this pairing; `None` starts at webrtc's default (1191
/// bytes, fits any path down to IPv6's 1280 minimum through a TURN relay)
/// and lets path MTU discovery raise it.
pub(super) fn sctp_mtu(opts: &PeerOptions) -> Option<u32> {
    match opts.mtu {
        Some(link) => Some(sctp_mtu_for_link(link)),
        // Only a peer on this same host can reach loopback-only candidates,
        // and loopback carries 64 KiB datagrams: one full DTLS record per
        // packet moves 13x the data of a 1.2 KB packet for the same
        // per-packet work (README's speed table).
        None if !opts.bind.is_empty() && opts.bind.iter().all(|ip| ip.is_loopback()) => Some(MAX_SCTP_MTU),
        None => None,
    }
}

/// Every non-loopback, non-link-local interface address; loopback when there
/// is nothing else, so two processes on one offline machine still pair.
pub fn default_bind_addrs() -> Vec<IpAddr> {
    let mut addrs: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified() && !is_link_local(ip))
        .collect();
    addrs.sort();
    addrs.dedup();
    if addrs.is_empty() {
        addrs.push(IpAddr::from([127, 0, 0, 1]));
    }
    addrs
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// The SCTP receive window: what may be in flight towards this side. The
/// kernel charges each queued datagram its buffer's true size against twice
/// the granted figure; a lone 1.4 KB datagram costs up to three times its
/// payload, so a window of a third of that (two thirds of the granted
/// figure) fits the socket even when the reader stalls for a whole window.
/// It was a third of the granted figure, half of what fits: with Linux's
/// default 208 KiB limit 1 GiB over a 1500-byte veth ran at 222-231 MiB/s,
/// now 242-254; with a 4 MiB limit 339-358, now 399-412, CPU per GiB 4.9
/// -> 4.5, no datagram dropped in any run (/proc/net/snmp RcvbufErrors).
/// Twice the granted figure dropped 84-94 datagrams a run and fell to 53
/// MiB/s.
fn sctp_receive_window() -> u32 {
    static WINDOW: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *WINDOW.get_or_init(|| {
        let granted = runtime::granted_receive_buffer();
        let window = (granted * 2 / 3).clamp(64 * 1024, 4 << 20) as u32;
        tracing::debug!(granted, window, "UDP receive buffer and SCTP window");
        window
    })
}

/// This side's DTLS certificate and the SHA-256 fingerprint its
/// descriptions carry (the ICE credentials derive from it). Without one in
/// `PeerOptions`, each pairing makes a fresh one; a stored identity (a
/// remembered peer) is given there instead.
#[derive(Clone)]
pub struct Identity {
    pub(super) certificate: RTCCertificate,
    pub(super) fingerprint: [u8; 32],
}

impl Identity {
    /// A fresh ECDSA P-256 certificate.
    pub fn generate() -> Result<Identity, Error> {
        let (certificate, fingerprint) = generate_certificate()?;
        Ok(Identity { certificate, fingerprint })
    }

    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The fingerprint is public (every code carries it); the key is not shown.
        let hex: Vec<String> = self.fingerprint[..4].iter().map(|b| format!("{b:02X}")).collect();
        write!(f, "Identity(sha-256 {}:…)", hex.join(":"))
    }
}

/// A fresh ECDSA P-256 certificate and its SHA-256 fingerprint.
fn generate_certificate() -> Result<(RTCCertificate, [u8; 32]), Error> {
    let provider = rtc::crypto::default_provider().map_err(setup)?;
    let params = CertificateParams::new(vec!["qrpair".to_owned()]).map_err(setup)?;
    let certificate =
        RTCCertificate::generate(provider.crypto(), rtc::crypto::SignatureScheme::EcdsaP256Sha256, params)
            .map_err(setup)?;
    let fingerprints = certificate.get_fingerprints(provider.crypto()).map_err(setup)?;
    let hex = fingerprints.first().map(|f| f.value.clone()).unwrap_or_default();
    let fingerprint = crate::signal::parse_fingerprint_hex(&hex)
        .ok_or_else(|| Error::Setup(format!("unexpected certificate fingerprint {hex:?}")))?;
    Ok((certificate, fingerprint))
}
