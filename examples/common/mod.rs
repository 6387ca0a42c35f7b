//! What the picture generators share: a seeded xorshift, so a corpus is
//! made again byte for byte, and real qrpair payloads to put in it.

use qrpair::signal::{self, Kind};

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next() % (hi - lo + 1) as u64) as u32
    }
}

/// A qrpair offer (n IPv4 host candidates) or its answer, as real payload bytes.
pub fn qrpair_payload(rng: &mut Rng, n: usize, answer: bool) -> Vec<u8> {
    let fingerprint: [u8; 32] = std::array::from_fn(|_| rng.next() as u8);
    let (ufrag, pwd) = signal::derive_credentials(&fingerprint);
    let hex: Vec<String> = fingerprint.iter().map(|b| format!("{b:02X}")).collect();
    let mut sdp = format!(
        "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 {}\r\na=group:BUNDLE 0\r\n\
         m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=setup:{}\r\na=mid:0\r\n\
         a=sctp-port:5000\r\na=max-message-size:65536\r\na=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\n",
        hex.join(":"),
        if answer { "active" } else { "actpass" }
    );
    for i in 0..n {
        let port = 30000 + (rng.next() % 30000) as u16;
        sdp.push_str(&format!(
            "a=candidate:{i} 1 udp 2130706431 192.168.{}.{} {port} typ host\r\n",
            rng.range(0, 9),
            rng.range(2, 250)
        ));
    }
    let kind = if answer { Kind::Answer } else { Kind::Offer };
    signal::encode(kind, &sdp, answer.then(|| [rng.next() as u8, 1, 2, 3]))
}
