//! qrpair patch: packetization-layer path MTU discovery (RFC 8899 §6.2 for
//! SCTP): a HEARTBEAT padded with a PAD chunk (RFC 4820) to a candidate
//! packet size; its HEARTBEAT-ACK proves a packet that large crosses the
//! path (and the peer's DTLS and SCTP stacks) whole. Only an acknowledged
//! size is used for DATA, so a probe lost on a narrower path costs nothing
//! but the probe: it is not data, holds no TSN and is never retransmitted
//! as data. A peer that does not know PAD drops the probe (RFC 9260 has it
//! skip the chunk; webrtc-rs before this patch dropped the whole packet),
//! and the association keeps its base size.
//!
//! All candidates above the confirmed size are probed at once, so the path
//! settles within one round trip when the largest fits and within
//! `MAX_PROBES` probe timeouts otherwise; data keeps flowing at the largest
//! size confirmed so far meanwhile.

use crate::chunk::Chunk;
use crate::chunk::chunk_header::{CHUNK_HEADER_SIZE, ChunkHeader};
use crate::chunk::chunk_heartbeat::ChunkHeartbeat;
use crate::chunk::chunk_type::ChunkType;
use crate::packet::{CommonHeader, Packet};
use crate::param::param_heartbeat_info::ParamHeartbeatInfo;
use bytes::{BufMut, Bytes, BytesMut};
use shared::error::Result;
use std::any::Any;
use std::fmt;
use std::time::{Duration, Instant};

/// RFC 4820 PAD chunk type: the top bits `10` tell any receiver that does
/// not know it to skip it and go on with the packet.
pub(crate) const CT_PAD: ChunkType = ChunkType(0x84);
/// RFC 8899 §5.1.2 MAX_PROBES.
const MAX_PROBES: u8 = 3;
/// RFC 8899 §5.1.1 PMTU_RAISE_TIMER: sizes that failed are tried again
/// this long after the search ended (a path can widen).
const RAISE_AFTER: Duration = Duration::from_secs(600);
/// Probe timeouts stay within these: short enough that a transfer gains
/// its packet size in the first seconds, long enough that an
/// acknowledgement queued behind a socket buffer of data still counts.
const PROBE_TIMEOUT_MIN: Duration = Duration::from_millis(500);
const PROBE_TIMEOUT_MAX: Duration = Duration::from_secs(3);
/// How long after an acknowledgement the new size is logged, so the
/// answers to one round make one line.
const REPORT_AFTER: Duration = Duration::from_millis(10);
/// HEARTBEAT information of a probe: magic, probe id, size.
const MAGIC: &[u8; 4] = b"PMTU";
const INFO_LEN: usize = 12;
/// Common header, HEARTBEAT chunk carrying the info, PAD chunk header.
const PROBE_OVERHEAD: u32 =
    12 + (CHUNK_HEADER_SIZE as u32 + 4 + INFO_LEN as u32) + CHUNK_HEADER_SIZE as u32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Searching { sent: u8 },
    Confirmed,
    Failed,
}

#[derive(Debug, Clone)]
struct Candidate {
    size: u32,
    outcome: Outcome,
}

/// The search state of one association's send direction.
#[derive(Debug, Default)]
pub(crate) struct Plpmtud {
    base: u32,
    confirmed: u32,
    candidates: Vec<Candidate>,
    next_id: u32,
    /// When the outstanding probes count as lost, or when failed sizes are
    /// tried again once the search has ended.
    deadline: Option<Instant>,
    /// The deadline is the raise timer, not a probe timeout.
    raise_due: bool,
    /// A raise not yet logged: the answers to one round of probes arrive
    /// together, and only the largest is worth a line.
    unreported: Option<Instant>,
    started: Option<Instant>,
}

impl Plpmtud {
    /// `sizes` are SCTP packet sizes to try above `base`; none disables it.
    pub(crate) fn new(base: u32, sizes: &[u32]) -> Self {
        let mut sizes: Vec<u32> = sizes
            .iter()
            .map(|s| s & !3)
            .filter(|s| *s > base && *s > PROBE_OVERHEAD)
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
        Plpmtud {
            base,
            confirmed: base,
            candidates: sizes
                .into_iter()
                .map(|size| Candidate {
                    size,
                    outcome: Outcome::Searching { sent: 0 },
                })
                .collect(),
            next_id: 1,
            deadline: None,
            raise_due: false,
            unreported: None,
            started: None,
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// The probes due at `now` (the association is established): packet
    /// bytes, each exactly its candidate's size.
    pub(crate) fn poll_probes(
        &mut self,
        now: Instant,
        rto: Duration,
        header: &CommonHeader,
        out: &mut Vec<Bytes>,
    ) {
        if self.unreported.is_some_and(|at| now >= at + REPORT_AFTER) {
            self.unreported = None;
            log::info!(
                "path MTU: {}-byte SCTP packets, {} ms after probing began",
                self.confirmed,
                self.started
                    .map_or(0, |s| now.duration_since(s).as_millis())
            );
        }
        if self.candidates.is_empty() || self.deadline.is_some_and(|d| d > now) {
            return;
        }
        if std::mem::take(&mut self.raise_due) {
            for c in &mut self.candidates {
                if c.outcome == Outcome::Failed && c.size > self.confirmed {
                    c.outcome = Outcome::Searching { sent: 0 };
                }
            }
        }
        let started = *self.started.get_or_insert(now);
        let mut probing = false;
        for c in &mut self.candidates {
            let Outcome::Searching { sent } = c.outcome else {
                continue;
            };
            if c.size <= self.confirmed {
                continue;
            }
            if sent >= MAX_PROBES {
                c.outcome = Outcome::Failed;
                log::debug!(
                    "no acknowledgement for {MAX_PROBES} probes of {} bytes",
                    c.size
                );
                continue;
            }
            c.outcome = Outcome::Searching { sent: sent + 1 };
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1).max(1);
            if let Ok(p) = probe_packet(header, id, c.size) {
                out.push(p);
                probing = true;
            }
        }
        if probing {
            self.deadline = Some(now + rto.clamp(PROBE_TIMEOUT_MIN, PROBE_TIMEOUT_MAX));
            return;
        }
        log::info!(
            "path MTU search done after {} ms: {}-byte SCTP packets",
            now.duration_since(started).as_millis(),
            self.confirmed
        );
        self.deadline = Some(now + RAISE_AFTER);
        self.raise_due = true;
        self.started = None;
        self.unreported = None;
    }

    /// A HEARTBEAT-ACK arrived; returns the new packet size when it
    /// acknowledges a probe larger than the size in use. A late answer to
    /// an earlier probe of a size proves that size just as well.
    pub(crate) fn on_heartbeat_ack(&mut self, info: &[u8], now: Instant) -> Option<u32> {
        if info.len() != INFO_LEN || &info[..4] != MAGIC {
            return None;
        }
        let id = u32::from_be_bytes(info[4..8].try_into().ok()?);
        let size = u32::from_be_bytes(info[8..12].try_into().ok()?);
        if id == 0 || id >= self.next_id {
            return None;
        }
        let c = self.candidates.iter_mut().find(|c| c.size == size)?;
        c.outcome = Outcome::Confirmed;
        if size <= self.confirmed {
            return None;
        }
        self.confirmed = size;
        self.unreported = Some(now);
        log::debug!(
            "path MTU probe acknowledged: {size}-byte SCTP packets after {} ms",
            self.started
                .map_or(0, |s| now.duration_since(s).as_millis())
        );
        let confirmed = self.confirmed;
        if !self
            .candidates
            .iter()
            .any(|c| matches!(c.outcome, Outcome::Searching { .. }) && c.size > confirmed)
        {
            // Nothing larger left to try: the search ends now.
            self.deadline = Some(now);
        }
        Some(size)
    }

    /// Repeated loss at the confirmed size (RFC 8899 §4.3 black hole): back
    /// to the base size and search again. Returns the base when it changed.
    pub(crate) fn on_black_hole(&mut self, now: Instant) -> Option<u32> {
        if self.confirmed == self.base {
            return None;
        }
        log::info!(
            "repeated loss with {}-byte packets: back to {} and probing again",
            self.confirmed,
            self.base
        );
        self.confirmed = self.base;
        for c in &mut self.candidates {
            c.outcome = Outcome::Searching { sent: 0 };
        }
        self.deadline = Some(now);
        self.raise_due = false;
        self.started = None;
        Some(self.base)
    }
}

/// A HEARTBEAT whose information names the probe, padded to `size` bytes.
fn probe_packet(header: &CommonHeader, id: u32, size: u32) -> Result<Bytes> {
    let mut info = BytesMut::with_capacity(INFO_LEN);
    info.put_slice(MAGIC);
    info.put_u32(id);
    info.put_u32(size);
    let heartbeat = ChunkHeartbeat {
        params: vec![Box::new(ParamHeartbeatInfo {
            heartbeat_information: info.freeze(),
        })],
    };
    let pad = ChunkPad {
        len: (size - PROBE_OVERHEAD) as usize,
    };
    let mut buf = BytesMut::with_capacity(size as usize);
    Packet::write_framed(
        header,
        [&heartbeat as &dyn Chunk, &pad as &dyn Chunk].into_iter(),
        &mut buf,
        true,
    )?;
    debug_assert_eq!(buf.len(), size as usize);
    Ok(buf.freeze())
}

/// RFC 4820 PAD chunk: zeros the receiver ignores.
#[derive(Debug)]
struct ChunkPad {
    len: usize,
}

impl fmt::Display for ChunkPad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PAD {}", self.len)
    }
}

impl Chunk for ChunkPad {
    fn header(&self) -> ChunkHeader {
        ChunkHeader {
            typ: CT_PAD,
            flags: 0,
            value_length: self.len as u16,
        }
    }
    fn unmarshal(raw: &Bytes) -> Result<Self> {
        Ok(ChunkPad {
            len: raw.len().saturating_sub(CHUNK_HEADER_SIZE),
        })
    }
    fn marshal_to(&self, buf: &mut BytesMut) -> Result<usize> {
        self.header().marshal_to(buf)?;
        buf.put_bytes(0, self.len);
        Ok(buf.len())
    }
    fn check(&self) -> Result<()> {
        Ok(())
    }
    fn value_length(&self) -> usize {
        self.len
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> CommonHeader {
        CommonHeader {
            source_port: 5000,
            destination_port: 5000,
            verification_tag: 7,
        }
    }

    fn info_of(packet: &Bytes) -> Bytes {
        // common header 12, HEARTBEAT chunk header 4, param header 4
        packet.slice(20..20 + INFO_LEN)
    }

    #[test]
    fn probes_are_exactly_their_size_and_parse_with_the_pad_skipped() {
        let p = probe_packet(&header(), 9, 1432).unwrap();
        assert_eq!(p.len(), 1432);
        let packet = crate::packet::PartialDecode::unmarshal(&p)
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(packet.chunks.len(), 1, "PAD skipped, HEARTBEAT kept");
    }

    #[test]
    fn the_largest_acknowledged_size_wins_and_lost_sizes_fail_after_three_probes() {
        let t0 = Instant::now();
        let rto = Duration::from_millis(200);
        let mut d = Plpmtud::new(1191, &[1432, 8932, 16384]);
        let mut out = vec![];
        d.poll_probes(t0, rto, &header(), &mut out);
        assert_eq!(
            out.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [1432, 8932, 16384]
        );
        // Nothing new before the probe timeout.
        let mut again = vec![];
        d.poll_probes(t0 + Duration::from_millis(10), rto, &header(), &mut again);
        assert!(again.is_empty());
        assert_eq!(d.on_heartbeat_ack(&info_of(&out[0]), t0), Some(1432));
        assert_eq!(
            d.on_heartbeat_ack(&info_of(&out[0]), t0),
            None,
            "an ack counts once"
        );
        let mut t = t0;
        for round in 2..=3 {
            t += PROBE_TIMEOUT_MIN;
            let mut retry = vec![];
            d.poll_probes(t, rto, &header(), &mut retry);
            assert_eq!(
                retry.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8932, 16384],
                "round {round}"
            );
        }
        t += PROBE_TIMEOUT_MIN;
        let mut last = vec![];
        d.poll_probes(t, rto, &header(), &mut last);
        assert!(last.is_empty());
        assert_eq!(d.confirmed, 1432);
        assert_eq!(d.poll_timeout(), Some(t + RAISE_AFTER));
        // A black hole drops to the base and starts over.
        assert_eq!(d.on_black_hole(t), Some(1191));
        let mut restart = vec![];
        d.poll_probes(t, rto, &header(), &mut restart);
        assert_eq!(restart.len(), 3);
    }

    #[test]
    fn a_late_ack_for_an_earlier_probe_still_confirms_its_size() {
        let t0 = Instant::now();
        let mut d = Plpmtud::new(1191, &[8932]);
        let mut first = vec![];
        d.poll_probes(t0, Duration::ZERO, &header(), &mut first);
        let mut second = vec![];
        d.poll_probes(
            t0 + PROBE_TIMEOUT_MIN,
            Duration::ZERO,
            &header(),
            &mut second,
        );
        assert_eq!(d.on_heartbeat_ack(&info_of(&first[0]), t0), Some(8932));
        assert_eq!(d.on_heartbeat_ack(&info_of(&second[0]), t0), None);
    }

    #[test]
    fn other_heartbeats_are_not_probes() {
        let mut d = Plpmtud::new(1191, &[8932]);
        assert_eq!(d.on_heartbeat_ack(b"anything else", Instant::now()), None);
    }
}
