//! The only module that touches the `webrtc` crate. Everything it exposes is
//! our own type, so a webrtc upgrade changes this module and nothing else.
//!
//! Split by what a pairing goes through: what webrtc is told (config.rs:
//! packet sizes, ICE timers, the certificate, the STUN and TURN servers),
//! NAT helpers (nat.rs), the sockets webrtc runs on (runtime.rs,
//! error_queue.rs, turns.rs), what the STUN and TURN servers said
//! (servers.rs), the open data channel (channel.rs). What stays here is `Peer`: build, gather, offer, answer
//! and connect.

mod channel;
mod config;
mod error_queue;
mod nat;
mod runtime;
mod servers;
mod turns;

use channel::pump;
pub use channel::{Channel, ChannelSender, Received};
use config::sctp_mtu;
pub use config::{default_bind_addrs, pmtu_probe_sizes, sctp_mtu_for_link};
pub use config::{Identity, TurnAddress, TurnServer, TurnTransport};

use nat::{keep_mappings, nat_obstacle, udp_addrs};

use crate::signal::Payload;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use webrtc::data_channel::DataChannel;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
    RTCSessionDescription,
};

/// Largest message qrpair sends. webrtc-rs and browsers accept 64 KiB
/// (max-message-size 65536, checked with `>`), so the frame header fits.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Outstanding bytes per channel before `send` waits: real back-pressure with
/// bounded memory. Above the largest receive window the kernel grants by
/// default (2.8 MiB of a 4 MiB buffer), so the sender always has more to
/// send; 4 MiB only held 1 MiB more (sender peak RSS 28.7 -> 27.7 MiB, same
/// rate, 1 GiB over a 1500-byte veth).
const SEND_BUFFER_LIMIT: usize = 3 << 20;
/// Messages received but not yet consumed; when full, polling stops and SCTP
/// stops acknowledging, so a slow stdout slows the sender instead of growing
/// a queue.
const RECEIVE_QUEUE: usize = 16;
/// A lost link shows as `Disconnected` after ~5 s; allow this much more for it
/// to come back before calling the peer gone.
const DISCONNECT_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not set up WebRTC: {0}")]
    Setup(String),
    #[error("the other side's description was refused: {0}")]
    RemoteRefused(String),
    #[error(
        "could not connect to the peer at {0}: are both machines on the same network, and is no firewall dropping UDP?"
    )]
    ConnectFailed(String),
    #[error("timed out after {:.1} s waiting for the data channel to open (peer at {}): are both machines on the same network?", .0.as_secs_f64(), .1)]
    ConnectTimeout(Duration, String),
    #[error("connection to the peer was lost")]
    Lost,
    #[error("could not connect: {0}")]
    NeedsRelay(String),
    #[error("could not use the TURN server: {0}")]
    Turn(String),
    #[error("{0}")]
    NoRelay(String),
}

/// How a peer binds and gathers.
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// Local addresses to offer as host candidates (port chosen by the OS).
    pub bind: Vec<IpAddr>,
    /// STUN servers for server-reflexive candidates; empty for an offline LAN.
    pub stun: Vec<String>,
    /// TURN servers for relay candidates, when no direct path exists.
    pub turn: Vec<TurnServer>,
    /// Offer relay candidates only (`--relay`): neither side learns the
    /// other's addresses, only the relay's.
    pub relay_only: bool,
    /// How long a person may take to carry the other QR over; ICE must not
    /// give up before that.
    pub patience: Duration,
    /// The path's link MTU when the user knows it (`--mtu`).
    pub mtu: Option<u32>,
    /// This side's certificate; `None` makes a fresh one for the pairing.
    pub identity: Option<Identity>,
}

/// Checks `QRPAIR_TURN_CA` (the CA a self-hosted `turns:` server's
/// certificate is checked against) before anything is shown.
pub fn check_turn_ca() -> Result<(), String> {
    turns::client_config().map(|_| ())
}

enum Event {
    Gathered,
    DataChannel(Arc<dyn DataChannel>),
}

struct Handler {
    events: mpsc::UnboundedSender<Event>,
    state: watch::Sender<RTCPeerConnectionState>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.events.send(Event::Gathered);
        }
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::debug!(%state, "peer connection state");
        let _ = self.state.send(state);
    }
    // Runs on the driver task: hand the channel over, never poll it here.
    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let _ = self.events.send(Event::DataChannel(channel));
    }
}

/// One side of a pairing, from building the connection until the data
/// channel opens.
pub struct Peer {
    pc: Arc<dyn PeerConnection>,
    events: mpsc::UnboundedReceiver<Event>,
    state: watch::Receiver<RTCPeerConnectionState>,
    /// The offerer creates the channel; the answerer receives it.
    channel: Option<Arc<dyn DataChannel>>,
    remote_addrs: String,
    /// Our candidates and the other side's, to name the cause when ICE
    /// cannot connect.
    local_candidates: Vec<crate::signal::Candidate>,
    remote_candidates: Vec<crate::signal::Candidate>,
    /// SHA-256 of our certificate, as our description carries it.
    fingerprint: [u8; 32],
    runtime: Arc<runtime::BufferedRuntime>,
    /// Where our mapping refreshes go while we wait: the other side's
    /// candidates, once known.
    refresh_targets: watch::Sender<Vec<SocketAddr>>,
    peer_port: Arc<runtime::PeerPort>,
    /// The first TLS failure with a `turns:` server, if there are any.
    turn_failures: Option<watch::Receiver<Option<String>>>,
    /// What a person should know about the code before it is shown: a
    /// STUN or TURN server that gave nothing, and what the code reaches.
    notes: Vec<String>,
}

impl Peer {
    /// Builds a peer, creates the offer and returns it once gathering is done.
    pub async fn offer(opts: &PeerOptions) -> Result<(Peer, String), Error> {
        let mut peer = Peer::build(opts).await?;
        let channel = peer.pc.create_data_channel("qrpair", None).await.map_err(setup)?;
        peer.channel = Some(channel);
        let offer = peer.pc.create_offer(None).await.map_err(setup)?;
        let sdp = peer.set_local_and_gather(offer, opts).await?;
        Ok((peer, sdp))
    }

    /// Builds a peer, applies the remote offer and returns our answer.
    pub async fn answer(opts: &PeerOptions, offer: &Payload) -> Result<(Peer, String), Error> {
        let mut peer = Peer::build(opts).await?;
        peer.trust_large_probes(offer);
        peer.remote_addrs = describe_candidates(&offer.summary.candidates);
        peer.remote_candidates = offer.summary.candidates.clone();
        peer.refresh_targets.send_replace(udp_addrs(&offer.summary.candidates));
        let offer = RTCSessionDescription::offer(offer.sdp.clone()).map_err(refused)?;
        peer.pc.set_remote_description(offer).await.map_err(refused)?;
        let answer = peer.pc.create_answer(None).await.map_err(setup)?;
        let sdp = peer.set_local_and_gather(answer, opts).await?;
        Ok((peer, sdp))
    }

    /// What a person should know before the code is shown (see `servers`).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The SHA-256 fingerprint of our certificate, which our description
    /// carries: with the other side's, it makes the authentication code.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// Applies the answer on the offering side.
    pub async fn accept_answer(&mut self, answer: &Payload) -> Result<(), Error> {
        self.trust_large_probes(answer);
        self.remote_addrs = describe_candidates(&answer.summary.candidates);
        self.remote_candidates = answer.summary.candidates.clone();
        let answer = RTCSessionDescription::answer(answer.sdp.clone()).map_err(refused)?;
        self.pc.set_remote_description(answer).await.map_err(refused)
    }

    /// Another qrpair reads any datagram up to 64 KiB, so probes may go as
    /// large as the path allows. Called before the remote description is
    /// applied: the association, and so probing, can only start after.
    fn trust_large_probes(&self, remote: &Payload) {
        if remote.made_by_qrpair {
            self.runtime.cap_datagrams(usize::MAX);
        }
    }

    /// Waits until the data channel is open, or the connection fails, or
    /// `limit` passes.
    pub async fn open(mut self, limit: Duration) -> Result<Channel, Error> {
        let remote = self.remote_addrs.clone();
        let opened = tokio::time::timeout(limit, self.wait_open()).await;
        let failure = match opened {
            Ok(Ok(channel)) => return Ok(channel),
            Ok(Err(e)) => e,
            Err(_) => Error::ConnectTimeout(limit, remote),
        };
        let _ = self.pc.close().await;
        match (&failure, nat_obstacle(&self.local_candidates, &self.remote_candidates)) {
            (Error::ConnectFailed(_) | Error::ConnectTimeout(..), Some(cause)) => Err(Error::NeedsRelay(cause)),
            _ => Err(failure),
        }
    }

    async fn wait_open(&mut self) -> Result<Channel, Error> {
        let channel = match self.channel.take() {
            Some(c) => c,
            None => loop {
                tokio::select! {
                    ev = self.events.recv() => match ev {
                        Some(Event::DataChannel(c)) => break c,
                        Some(Event::Gathered) => {}
                        None => return Err(Error::Lost),
                    },
                    failed = wait_failed(self.state.clone()) => {
                        let _ = failed;
                        return Err(Error::ConnectFailed(self.remote_addrs.clone()));
                    }
                }
            },
        };
        let (tx, rx) = mpsc::channel(RECEIVE_QUEUE);
        let (open_tx, open_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(pump(channel.clone(), tx, open_tx));
        tokio::select! {
            opened = open_rx => {
                if opened.is_err() {
                    return Err(Error::ConnectFailed(self.remote_addrs.clone()));
                }
            }
            _ = wait_failed(self.state.clone()) => {
                return Err(Error::ConnectFailed(self.remote_addrs.clone()));
            }
        }
        Ok(Channel {
            pc: self.pc.clone(),
            dc: channel,
            incoming: rx,
            state: self.state.clone(),
            peer_port: self.peer_port.clone(),
        })
    }

    async fn build(opts: &PeerOptions) -> Result<Peer, Error> {
        // The certificate comes first so its fingerprint can seed the ICE
        // credentials: a description whose credentials follow from its
        // fingerprint needs no bytes for them in the QR.
        let identity = match &opts.identity {
            Some(identity) => identity.clone(),
            None => Identity::generate()?,
        };
        let (certificate, fingerprint) = (identity.certificate, identity.fingerprint);
        let (ufrag, pwd) = crate::signal::derive_credentials(&fingerprint);
        let settings = config::setting_engine(opts, ufrag, pwd);
        // `turns:` servers are given to webrtc as UDP servers at their
        // address; the runtime's sockets carry that traffic over TLS.
        let over_tls: Vec<TurnAddress> =
            opts.turn.iter().map(|t| t.address.clone()).filter(|a| a.transport == TurnTransport::Tls).collect();
        let runtime = Arc::new(runtime::BufferedRuntime::new());
        servers::expect_all(&runtime.servers(), &opts.stun, &opts.turn).await;
        let (tls_turn, plain_urls) = if over_tls.is_empty() {
            (None, Vec::new())
        } else {
            let (tls, plain) = turns::TlsTurn::new(&over_tls, runtime.servers()).await.map_err(Error::Turn)?;
            (Some(tls), plain)
        };
        let config = config::rtc_configuration(opts, certificate, plain_urls);
        let (events_tx, events) = mpsc::unbounded_channel();
        let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
        let bind: Vec<String> = opts.bind.iter().map(|ip| SocketAddr::new(*ip, 0).to_string()).collect();
        let turn_failures = tls_turn.as_ref().map(|tls| tls.failures());
        if let Some(tls) = tls_turn {
            runtime.carry_turns(tls);
        }
        if sctp_mtu(opts).is_none() {
            // Probing is on: until the other side's description shows it
            // is qrpair, it may be a browser that large probes would kill.
            runtime.cap_datagrams(runtime::BROWSER_SAFE_DATAGRAM);
        }
        let peer_port = runtime.peer_port();
        let pc = PeerConnectionBuilder::new()
            .with_configuration(config)
            .with_setting_engine(settings)
            .with_handler(Arc::new(Handler { events: events_tx, state: state_tx }))
            .with_runtime(runtime.clone())
            .with_udp_addrs(bind)
            .with_data_channel_send_buffer_limit(SEND_BUFFER_LIMIT)
            // The driver (sockets, DTLS, SCTP: all per-packet work) gets a
            // thread and a single-threaded runtime of its own instead of
            // hopping between the shared workers, which wake and steal
            // from each other around it: 7-8 % less CPU per GiB for both
            // sides in three alternating runs (LAN default packets), rate
            // and peak RSS within the noise.
            .with_dedicated_reactor_pool_size(1)
            .build()
            .await
            .map_err(|e| Error::Setup(format!("{e} (could not bind any of the chosen addresses? see --bind)")))?;
        let (refresh_targets, _) = watch::channel(Vec::new());
        Ok(Peer {
            pc: Arc::new(pc),
            events,
            state,
            channel: None,
            remote_addrs: String::new(),
            local_candidates: Vec::new(),
            remote_candidates: Vec::new(),
            fingerprint,
            runtime,
            refresh_targets,
            peer_port,
            turn_failures,
            notes: Vec::new(),
        })
    }

    async fn set_local_and_gather(&mut self, desc: RTCSessionDescription, opts: &PeerOptions) -> Result<String, Error> {
        let started = std::time::Instant::now();
        self.pc.set_local_description(desc).await.map_err(setup)?;
        // Host candidates take under a millisecond; an unreachable STUN
        // server would hold completion ~11 s, so the wait is capped and the
        // description read anyway (it carries what was gathered so far).
        let cap =
            if opts.stun.is_empty() && opts.turn.is_empty() { Duration::from_secs(2) } else { Duration::from_secs(4) };
        let events = &mut self.events;
        let mut early_channels = Vec::new();
        // A `turns:` server whose certificate does not verify ends this
        // here, with the reason, rather than as a missing relay later.
        let mut turn_failures = self.turn_failures.clone();
        let tls_failed = async {
            match turn_failures.as_mut() {
                Some(rx) => match rx.wait_for(|f| f.is_some()).await {
                    Ok(failure) => failure.clone().unwrap_or_default(),
                    Err(_) => std::future::pending().await,
                },
                None => std::future::pending().await,
            }
        };
        let gathered = async {
            while let Some(ev) = events.recv().await {
                match ev {
                    Event::Gathered => break,
                    Event::DataChannel(c) => early_channels.push(c),
                }
            }
        };
        let failure = tokio::time::timeout(cap, async {
            tokio::select! {
                failure = tls_failed => Some(failure),
                _ = gathered => None,
            }
        })
        .await;
        if let Ok(Some(failure)) = failure {
            return Err(Error::Turn(failure));
        }
        if let Some(c) = early_channels.pop() {
            self.channel = Some(c);
        }
        let desc = self.pc.local_description().await.ok_or_else(|| Error::Setup("no local description".into()))?;
        tracing::debug!(sdp = %desc.sdp, "local description");
        // A relay candidate names the address it was allocated from (the
        // machine's own, behind its NAT) as its related address; with
        // `--relay` that is exactly what the other side must not learn, and
        // ICE does not need it (RFC 8839 §5.1: for diagnostics only).
        let sdp = if opts.relay_only { nat::without_related_addresses(&desc.sdp) } else { desc.sdp };
        self.local_candidates = crate::signal::SdpSummary::parse(&sdp).candidates;
        let heard = self.runtime.servers().finish();
        self.notes = servers::verdict(&heard, opts.relay_only, &self.local_candidates, started.elapsed())
            .map_err(Error::NoRelay)?;
        // UDP servers only: a `turns:` server's mapping is its TCP connection.
        let servers: Vec<SocketAddr> =
            heard.iter().filter(|h| h.kind != servers::Kind::TurnTls).flat_map(|h| h.addrs.clone()).collect();
        tokio::spawn(keep_mappings(
            self.runtime.udp_sockets(),
            servers,
            self.refresh_targets.subscribe(),
            self.state.clone(),
        ));
        Ok(sdp)
    }

    pub async fn close(self) {
        let _ = self.pc.close().await;
    }
}

/// Resolves when the connection has definitely failed or closed.
async fn wait_failed(mut state: watch::Receiver<RTCPeerConnectionState>) {
    let _ = state.wait_for(|s| matches!(s, RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed)).await;
}

fn describe_candidates(candidates: &[crate::signal::Candidate]) -> String {
    if candidates.is_empty() {
        return "no address (the description lists no candidates)".into();
    }
    candidates.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ")
}

fn setup(e: impl std::fmt::Display) -> Error {
    Error::Setup(e.to_string())
}

fn refused(e: impl std::fmt::Display) -> Error {
    Error::RemoteRefused(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::nat::*;
    use super::*;

    fn options(bind: &[&str], mtu: Option<u32>) -> PeerOptions {
        let bind = bind.iter().map(|ip| ip.parse().unwrap()).collect();
        PeerOptions {
            bind,
            stun: vec![],
            turn: vec![],
            relay_only: false,
            patience: Duration::from_secs(1),
            mtu,
            identity: None,
        }
    }

    fn cand(addr: &str, kind: &str) -> crate::signal::Candidate {
        let sa: SocketAddr = addr.parse().unwrap();
        crate::signal::Candidate::parse(&format!("1 1 udp 1 {} {} typ {kind}", sa.ip(), sa.port())).unwrap()
    }

    #[test]
    fn a_nat_that_changes_ports_is_named_on_the_right_side() {
        let preserving = [cand("10.1.0.2:41000", "host"), cand("198.51.100.1:41000", "srflx")];
        let changing = [cand("10.2.0.2:42000", "host"), cand("198.51.100.2:23712", "srflx")];
        let lan_only = [cand("10.2.0.2:42000", "host")];
        assert_eq!(nat_obstacle(&preserving, &preserving), None);
        let both = nat_obstacle(&changing, &changing).unwrap();
        assert!(both.starts_with("both sides are behind NATs that change ports per destination"), "{both}");
        assert!(both.contains("a relay (TURN server) is needed; see --turn"), "{both}");
        assert!(nat_obstacle(&changing, &preserving).unwrap().starts_with("this side"));
        assert!(nat_obstacle(&preserving, &changing).unwrap().starts_with("the other side"));
        // Without a public address on both sides there is nothing to compare.
        assert_eq!(nat_obstacle(&changing, &lan_only), None);
        // A relay gets through any NAT: not the cause.
        let relayed = [changing[0].clone(), changing[1].clone(), cand("198.51.100.100:50000", "relay")];
        assert_eq!(nat_obstacle(&relayed, &changing), None);
    }

    #[test]
    fn stun_urls_name_the_server_to_refresh() {
        assert_eq!(stun_host_port("stun:198.51.100.100:3479").as_deref(), Some("198.51.100.100:3479"));
        assert_eq!(stun_host_port("stun:stun.example.org").as_deref(), Some("stun.example.org:3478"));
        assert_eq!(stun_host_port("stun:[2001:db8::1]:3479?transport=udp").as_deref(), Some("[2001:db8::1]:3479"));
        assert_eq!(stun_host_port("stun:[2001:db8::1]").as_deref(), Some("[2001:db8::1]:3478"));
        assert_eq!(stun_host_port("stun:2001:db8::1").as_deref(), Some("[2001:db8::1]:3478"));
        assert_eq!(stun_host_port("turn:198.51.100.100:3478"), None);
    }

    #[test]
    fn relay_only_descriptions_do_not_name_the_machine() {
        let sdp = "v=0\r\na=candidate:1 1 udp 16777215 198.51.100.100 49870 typ relay raddr 10.1.0.2 rport 42149\r\n\
                   a=candidate:2 1 udp 16777215 198.51.100.100 49871 typ relay raddr 10.1.0.2 rport 42150 generation 0\r\n\
                   a=end-of-candidates\r\n";
        let hidden = without_related_addresses(sdp);
        assert_eq!(
            hidden,
            "v=0\r\na=candidate:1 1 udp 16777215 198.51.100.100 49870 typ relay\r\n\
             a=candidate:2 1 udp 16777215 198.51.100.100 49871 typ relay generation 0\r\n\
             a=end-of-candidates\r\n"
        );
        assert!(!hidden.contains("10.1.0.2"));
    }

    #[test]
    fn keepalives_are_well_formed_stun() {
        let m = bare_stun(0x0011);
        assert_eq!(&m[..4], &[0x00, 0x11, 0, 0]);
        assert_eq!(&m[4..8], &[0x21, 0x12, 0xA4, 0x42]);
    }

    #[test]
    fn packets_fit_the_link_and_one_dtls_record() {
        // An Ethernet frame less IPv6, UDP and the DTLS record's overhead.
        assert_eq!(sctp_mtu_for_link(1500), 1415);
        assert_eq!(sctp_mtu_for_link(9000), 8915);
        assert_eq!(sctp_mtu_for_link(65535), 16384);
    }

    #[test]
    fn probes_cover_ethernet_and_jumbo_frames_over_either_ip() {
        let sizes = pmtu_probe_sizes();
        // 1500 over IPv4 and IPv6, 9000 likewise, loopback's cap.
        for size in [1435, 1415, 8935, 8915, 16384] {
            assert!(sizes.contains(&size), "{size} in {sizes:?}");
        }
        assert!(sizes.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn large_packets_only_where_the_path_is_known() {
        assert_eq!(sctp_mtu(&options(&["127.0.0.1"], None)), Some(16384));
        assert_eq!(sctp_mtu(&options(&["::1", "127.0.0.1"], None)), Some(16384));
        // A LAN address may lead anywhere: webrtc's default, sized for any path.
        assert_eq!(sctp_mtu(&options(&["127.0.0.1", "192.168.1.4"], None)), None);
        assert_eq!(sctp_mtu(&options(&["192.168.1.4"], None)), None);
        assert_eq!(sctp_mtu(&options(&["127.0.0.1"], Some(1500))), Some(1415));
    }

    /// The seam for a stored identity: the certificate given is the one the
    /// description names, and the ICE credentials follow from it.
    #[tokio::test]
    async fn a_given_identity_is_the_one_the_description_carries() {
        let identity = Identity::generate().unwrap();
        let opts = PeerOptions { identity: Some(identity.clone()), ..options(&["127.0.0.1"], None) };
        let (peer, sdp) = Peer::offer(&opts).await.unwrap();
        assert_eq!(peer.fingerprint(), identity.fingerprint());
        let summary = crate::signal::SdpSummary::parse(&sdp);
        let named =
            summary.fingerprint.and_then(|f| crate::signal::parse_fingerprint_hex(f.trim_start_matches("sha-256 ")));
        assert_eq!(named, Some(identity.fingerprint()));
        let (ufrag, _) = crate::signal::derive_credentials(&identity.fingerprint());
        assert_eq!(summary.ice_ufrag, Some(ufrag));
        peer.close().await;
        // Without one, each pairing gets its own.
        let (other, _) = Peer::offer(&options(&["127.0.0.1"], None)).await.unwrap();
        assert_ne!(other.fingerprint(), identity.fingerprint());
        other.close().await;
    }
}
