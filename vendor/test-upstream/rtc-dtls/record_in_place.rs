//! qrpair's tests of its change 8 to rtc-dtls (vendor/QRPAIR-PATCH.md 8,
//! vendor/patches/rtc-dtls/0008-records-sealed-in-place.patch): application
//! records sealed straight into their datagram and, with AES-GCM, sealed and
//! opened in place (`CryptoGcm::seal_record`, `open_record_in_place` and the
//! `CipherSuite` methods of the same names that `DTLSConn` calls).
//!
//! vendor/test-upstream.sh copies this file into a pristine rtc-dtls 0.21.1
//! with qrpair's patches applied and runs it beside the crate's own tests.
//! It uses only rtc-dtls's public API, and checks the patched path against
//! an independent AES-GCM (the RustCrypto `aes-gcm` crate) and against the
//! crate's unpatched general path (`encrypt`, `decrypt`), which the patch
//! leaves as it was:
//!
//! - the records `seal_record` makes are byte for byte those `encrypt` makes
//!   from the same nonce, for every length from 0 to 600 and larger ones up
//!   to the 16 KiB record limit, and `aes-gcm` opens them with the additional
//!   data RFC 5246 §6.2.3.3 / RFC 6347 §4.1.2.1 define, computed here;
//! - `open_record_in_place` opens what `aes-gcm` seals, returning where the
//!   plaintext lies, and agrees with `decrypt`;
//! - it rejects a record with any authenticated byte changed (header type,
//!   version, epoch, sequence number; explicit nonce; ciphertext; tag) and
//!   every truncation, without panicking;
//! - two `Endpoint`s that completed a handshake exchange records of many
//!   sizes both ways, one datagram per write of exactly the AES-GCM record's
//!   size; replays, forged and truncated records deliver nothing and do not
//!   stop the genuine record that follows; the same exchange over CCM,
//!   CCM-8, CBC and ChaCha20-Poly1305 takes the defaulted general path.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Nonce};
use bytes::BytesMut;
use rtc_dtls::cipher_suite::CipherSuiteId;
use rtc_dtls::config::{ConfigBuilder, HandshakeConfig};
use rtc_dtls::content::ContentType;
use rtc_dtls::crypto::crypto_gcm::CryptoGcm;
use rtc_dtls::crypto::Certificate;
use rtc_dtls::crypto_provider::{self, CryptoError, RTCCrypto, RTCCryptoProvider, RTCRandom};
use rtc_dtls::endpoint::{Endpoint, EndpointEvent};
use rtc_dtls::record_layer::record_layer_header::{
    RecordLayerHeader, PROTOCOL_VERSION1_2, RECORD_LAYER_HEADER_SIZE,
};
use shared::TransportProtocol;

const NONCE_EXPLICIT: usize = 8;
const TAG: usize = 16;
const MAX_PLAINTEXT: usize = 16384;

/// xorshift64*: deterministic test data without another dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Randomness that repeats: two providers with the same seed hand out the
/// same explicit nonces, so `seal_record` and `encrypt` can be compared byte
/// for byte. The cipher itself is the default provider's.
struct Repeatable {
    inner: Arc<dyn RTCCryptoProvider>,
    random: RepeatableRandom,
}

struct RepeatableRandom(AtomicU64);

impl RTCRandom for RepeatableRandom {
    fn fill(&self, output: &mut [u8]) -> Result<(), CryptoError> {
        for b in output.iter_mut() {
            let n = self.0.fetch_add(1, Ordering::Relaxed);
            *b = (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8;
        }
        Ok(())
    }
}

impl RTCCryptoProvider for Repeatable {
    fn name(&self) -> &'static str {
        "repeatable-random"
    }

    fn crypto(&self) -> &dyn RTCCrypto {
        self.inner.crypto()
    }

    fn random(&self) -> &dyn RTCRandom {
        &self.random
    }
}

fn repeatable(seed: u64) -> Arc<dyn RTCCryptoProvider> {
    Arc::new(Repeatable {
        inner: crypto_provider::default_provider().expect("a default crypto provider"),
        random: RepeatableRandom(AtomicU64::new(seed)),
    })
}

struct Keys {
    key: [u8; 16],
    salt: [u8; 4],
}

fn keys(rng: &mut Rng) -> Keys {
    let mut key = [0u8; 16];
    key.copy_from_slice(&rng.bytes(16));
    let mut salt = [0u8; 4];
    salt.copy_from_slice(&rng.bytes(4));
    Keys { key, salt }
}

/// A sealing side (`local` keys) as `CryptoGcm` holds it; `remote` keys are
/// what it opens with.
fn gcm(provider: Arc<dyn RTCCryptoProvider>, local: &Keys, remote: &Keys) -> CryptoGcm {
    CryptoGcm::new(provider, &local.key, &local.salt, &remote.key, &remote.salt)
        .expect("CryptoGcm::new")
}

fn header(epoch: u16, sequence_number: u64, len: usize) -> RecordLayerHeader {
    RecordLayerHeader {
        content_type: ContentType::ApplicationData,
        protocol_version: PROTOCOL_VERSION1_2,
        epoch,
        sequence_number,
        content_len: len as u16,
    }
}

/// RFC 5246 §6.2.3.3 with DTLS's seq_num (RFC 6347 §4.1.2.1): epoch and
/// sequence number, type, version, plaintext length. Written out here rather
/// than taken from the crate, so a mistake there shows.
fn additional_data(epoch: u16, sequence_number: u64, len: usize) -> [u8; 13] {
    let mut ad = [0u8; 13];
    ad[..2].copy_from_slice(&epoch.to_be_bytes());
    ad[2..8].copy_from_slice(&sequence_number.to_be_bytes()[2..]);
    ad[8] = 23; // application_data
    ad[9] = 0xfe; // DTLS 1.2
    ad[10] = 0xfd;
    ad[11..13].copy_from_slice(&(len as u16).to_be_bytes());
    ad
}

fn stock_open(keys: &Keys, record: &[u8]) -> Result<Vec<u8>, aes_gcm::Error> {
    let h = &record[..RECORD_LAYER_HEADER_SIZE];
    let epoch = u16::from_be_bytes([h[3], h[4]]);
    let mut seq = [0u8; 8];
    seq[2..].copy_from_slice(&h[5..11]);
    let body = &record[RECORD_LAYER_HEADER_SIZE..];
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(&keys.salt);
    nonce[4..].copy_from_slice(&body[..NONCE_EXPLICIT]);
    let sealed = &body[NONCE_EXPLICIT..];
    let ad = additional_data(epoch, u64::from_be_bytes(seq), sealed.len() - TAG);
    Aes128Gcm::new_from_slice(&keys.key).unwrap().decrypt(
        Nonce::from_slice(&nonce),
        Payload {
            msg: sealed,
            aad: &ad,
        },
    )
}

fn stock_seal(keys: &Keys, epoch: u16, seq: u64, explicit: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(&keys.salt);
    nonce[4..].copy_from_slice(explicit);
    let ad = additional_data(epoch, seq, payload.len());
    let sealed = Aes128Gcm::new_from_slice(&keys.key)
        .unwrap()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: payload,
                aad: &ad,
            },
        )
        .unwrap();
    let mut record = Vec::new();
    header(epoch, seq, NONCE_EXPLICIT + sealed.len())
        .marshal(&mut record)
        .unwrap();
    record.extend_from_slice(explicit);
    record.extend_from_slice(&sealed);
    record
}

fn lengths(rng: &mut Rng) -> Vec<usize> {
    let mut v: Vec<usize> = (0..=600).collect();
    v.extend([1023, 1024, 1025, 1187, 1200, 1400, 1432, 4096, 8932, 16383, MAX_PLAINTEXT]);
    v.extend((0..40).map(|_| rng.below(MAX_PLAINTEXT + 1)));
    v
}

#[test]
fn seal_record_equals_encrypt_and_opens_with_stock_aes_gcm() {
    let mut rng = Rng(0x5eed_0001);
    let a = keys(&mut rng);
    let b = keys(&mut rng);
    // Same seed: the two hand out the same explicit nonces in turn.
    let mut patched = gcm(repeatable(7), &a, &b);
    let mut general = gcm(repeatable(7), &a, &b);
    let mut seq = 0u64;
    for len in lengths(&mut rng) {
        let payload = rng.bytes(len);
        seq += rng.below(1000) as u64 + 1;
        let epoch = 1 + rng.below(3) as u16;
        let h = header(epoch, seq, len);

        let sealed = patched.seal_record(&h, &payload).expect("seal_record");
        let mut raw = Vec::new();
        h.marshal(&mut raw).unwrap();
        raw.extend_from_slice(&payload);
        let encrypted = general.encrypt(&h, &raw).expect("encrypt");
        assert_eq!(sealed, encrypted, "len {len}: seal_record and encrypt differ");

        assert_eq!(
            sealed.len(),
            RECORD_LAYER_HEADER_SIZE + NONCE_EXPLICIT + len + TAG
        );
        assert_eq!(
            u16::from_be_bytes([sealed[11], sealed[12]]) as usize,
            NONCE_EXPLICIT + len + TAG,
            "len {len}: the header's length field counts nonce, ciphertext and tag"
        );
        if len >= 16 {
            assert_ne!(
                &sealed[RECORD_LAYER_HEADER_SIZE + NONCE_EXPLICIT..][..len],
                &payload[..],
                "len {len}: payload in the clear"
            );
        }
        assert_eq!(
            stock_open(&a, &sealed).expect("aes-gcm opens the sealed record"),
            payload,
            "len {len}"
        );
    }
}

#[test]
fn open_record_in_place_opens_stock_aes_gcm_and_agrees_with_decrypt() {
    let mut rng = Rng(0x5eed_0002);
    let a = keys(&mut rng);
    let b = keys(&mut rng);
    let provider = crypto_provider::default_provider().unwrap();
    // Receives what `a` seals.
    let mut receiver = gcm(provider, &b, &a);
    let mut seq = 0u64;
    for len in lengths(&mut rng) {
        let payload = rng.bytes(len);
        seq += 1;
        let explicit = rng.bytes(NONCE_EXPLICIT);
        let record = stock_seal(&a, 1, seq, &explicit, &payload);

        let mut in_place = record.clone();
        let range = receiver
            .open_record_in_place(&mut in_place)
            .expect("open_record_in_place opens an aes-gcm record");
        assert_eq!(range, RECORD_LAYER_HEADER_SIZE + NONCE_EXPLICIT..record.len() - TAG);
        assert_eq!(&in_place[range], &payload[..], "len {len}");
        assert_eq!(
            &in_place[..RECORD_LAYER_HEADER_SIZE],
            &record[..RECORD_LAYER_HEADER_SIZE],
            "the header is left as it was"
        );

        let decrypted = receiver.decrypt(&record).expect("decrypt");
        assert_eq!(&decrypted[RECORD_LAYER_HEADER_SIZE..], &payload[..], "len {len}");
    }
}

#[test]
fn open_record_in_place_rejects_every_forgery_and_truncation() {
    let mut rng = Rng(0x5eed_0003);
    let a = keys(&mut rng);
    let b = keys(&mut rng);
    let provider = crypto_provider::default_provider().unwrap();
    let mut sender = gcm(provider.clone(), &a, &b);
    let mut receiver = gcm(provider, &b, &a);
    for (n, len) in [0usize, 1, 15, 16, 17, 100, 1200, 4000].into_iter().enumerate() {
        let payload = rng.bytes(len);
        let record = sender
            .seal_record(&header(1, n as u64 + 1, len), &payload)
            .unwrap();
        assert!(receiver.open_record_in_place(&mut record.clone()).is_ok());

        // Every byte but the header's own length field (11, 12) is
        // authenticated: type, version, epoch and sequence number through
        // the additional data, the rest as nonce, ciphertext or tag.
        for at in (0..record.len()).filter(|&i| i != 11 && i != 12) {
            for flip in [0x01u8, 0x80] {
                let mut forged = record.clone();
                forged[at] ^= flip;
                assert!(
                    receiver.open_record_in_place(&mut forged).is_err(),
                    "len {len}: a record with byte {at} ^ {flip:#x} was accepted"
                );
            }
        }
        // A tag of all zeros.
        let mut zero_tag = record.clone();
        let tag_at = zero_tag.len() - TAG;
        zero_tag[tag_at..].fill(0);
        assert!(receiver.open_record_in_place(&mut zero_tag).is_err());

        for cut in 0..record.len() {
            let mut short = record[..cut].to_vec();
            if cut >= RECORD_LAYER_HEADER_SIZE {
                // Keep the header consistent with what is left, as a sender
                // forging a shorter record would.
                let body = (cut - RECORD_LAYER_HEADER_SIZE) as u16;
                short[11..13].copy_from_slice(&body.to_be_bytes());
            }
            assert!(
                receiver.open_record_in_place(&mut short).is_err(),
                "len {len}: the record cut to {cut} bytes was accepted"
            );
        }
    }
}

fn client_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5444))
}

fn server_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5445))
}

fn config(is_client: bool, suite: CipherSuiteId) -> Arc<HandshakeConfig> {
    let provider = crypto_provider::default_provider().unwrap();
    let mut builder = ConfigBuilder::default()
        .with_crypto_provider(provider.clone())
        .with_cipher_suites(vec![suite])
        .with_insecure_skip_verify(true);
    if !is_client {
        builder = builder.with_certificates(vec![Certificate::generate_self_signed(
            vec!["localhost".to_owned()],
            provider.crypto(),
        )
        .unwrap()]);
    }
    Arc::new(builder.build(is_client, None).unwrap())
}

fn deliver(to: &mut Endpoint, from: SocketAddr, datagram: BytesMut) -> Vec<Vec<u8>> {
    to.read(Instant::now(), from, None, datagram)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|event| match event {
            EndpointEvent::ApplicationData(data) => Some(data.to_vec()),
            _ => None,
        })
        .collect()
}

fn handshake(suite: CipherSuiteId) -> (Endpoint, Endpoint) {
    let mut server = Endpoint::new(
        server_addr(),
        TransportProtocol::UDP,
        Some(config(false, suite)),
    );
    let mut client = Endpoint::new(client_addr(), TransportProtocol::UDP, None);
    client
        .connect(Instant::now(), server_addr(), config(true, suite), None)
        .unwrap();
    let (mut client_done, mut server_done) = (false, false);
    for _ in 0..32 {
        while let Some(t) = client.poll_transmit() {
            for e in server
                .read(Instant::now(), client_addr(), None, t.message)
                .unwrap()
            {
                server_done |= matches!(e, EndpointEvent::HandshakeComplete);
            }
        }
        while let Some(t) = server.poll_transmit() {
            for e in client
                .read(Instant::now(), server_addr(), None, t.message)
                .unwrap()
            {
                client_done |= matches!(e, EndpointEvent::HandshakeComplete);
            }
        }
        if client_done && server_done {
            break;
        }
    }
    assert!(client_done && server_done, "{suite:?}: no handshake");
    // Nothing left over from the handshake, so each write below is a lone
    // record: the patched path.
    while let Some(t) = client.poll_transmit() {
        server
            .read(Instant::now(), client_addr(), None, t.message)
            .unwrap();
    }
    while let Some(t) = server.poll_transmit() {
        client
            .read(Instant::now(), server_addr(), None, t.message)
            .unwrap();
    }
    (client, server)
}

/// One write from `a` to `to`: returns the one datagram it made.
fn write(a: &mut Endpoint, to: SocketAddr, payload: &[u8]) -> BytesMut {
    a.write(Instant::now(), to, payload).expect("write");
    let datagram = a.poll_transmit().expect("a datagram for the write").message;
    assert!(a.poll_transmit().is_none(), "one write, one datagram");
    datagram
}

fn exchange(suite: CipherSuiteId, aead_gcm: bool) {
    let (mut client, mut server) = handshake(suite);
    let mut rng = Rng(0x5eed_0004 ^ suite as u64);
    let mut sizes: Vec<usize> = (1..=64).collect();
    sizes.extend([100, 255, 256, 1000, 1187, 1200, 1432, 4096, 8932, MAX_PLAINTEXT]);
    sizes.extend((0..16).map(|_| 1 + rng.below(MAX_PLAINTEXT)));
    for (i, &len) in sizes.iter().enumerate() {
        let client_sends = i % 2 == 0;
        let (from, to, to_addr, from_addr) = if client_sends {
            (&mut client, &mut server, server_addr(), client_addr())
        } else {
            (&mut server, &mut client, client_addr(), server_addr())
        };
        let payload = rng.bytes(len);
        let datagram = write(from, to_addr, &payload);
        if aead_gcm {
            assert_eq!(
                datagram.len(),
                RECORD_LAYER_HEADER_SIZE + NONCE_EXPLICIT + len + TAG,
                "{suite:?} len {len}: one AES-GCM record"
            );
        }

        // Forgeries first: none delivers anything, and none burns the
        // sequence number of the genuine record that follows.
        for at in [0, 3, 4, 6, 10, 13, 20, datagram.len() / 2, datagram.len() - 1] {
            let mut forged = datagram.clone();
            forged[at] ^= 0x40;
            assert!(
                deliver(to, from_addr, forged).is_empty(),
                "{suite:?} len {len}: a record with byte {at} changed was delivered"
            );
        }
        for cut in [datagram.len() - 1, datagram.len() - TAG, RECORD_LAYER_HEADER_SIZE + 9, RECORD_LAYER_HEADER_SIZE + 1] {
            let mut short = BytesMut::from(&datagram[..cut]);
            let body = (cut - RECORD_LAYER_HEADER_SIZE) as u16;
            short[11..13].copy_from_slice(&body.to_be_bytes());
            assert!(
                deliver(to, from_addr, short).is_empty(),
                "{suite:?} len {len}: the record cut to {cut} bytes was delivered"
            );
            // Cut without fixing the length: a malformed datagram.
            assert!(deliver(to, from_addr, BytesMut::from(&datagram[..cut])).is_empty());
        }

        let got = deliver(to, from_addr, datagram.clone());
        assert_eq!(got, vec![payload.clone()], "{suite:?} len {len}");
        assert!(
            deliver(to, from_addr, datagram).is_empty(),
            "{suite:?} len {len}: a replay was delivered"
        );
    }
}

#[test]
fn endpoints_exchange_aes_gcm_records_sealed_and_opened_in_place() {
    exchange(CipherSuiteId::Tls_Ecdhe_Ecdsa_With_Aes_128_Gcm_Sha256, true);
}

#[test]
fn endpoints_exchange_records_of_the_other_suites_on_the_general_path() {
    for suite in [
        CipherSuiteId::Tls_Ecdhe_Ecdsa_With_Aes_128_Ccm,
        CipherSuiteId::Tls_Ecdhe_Ecdsa_With_Aes_128_Ccm_8,
        CipherSuiteId::Tls_Ecdhe_Ecdsa_With_Aes_256_Cbc_Sha,
        CipherSuiteId::Tls_Ecdhe_Ecdsa_With_ChaCha20_Poly1305_Sha256,
    ] {
        exchange(suite, false);
    }
}
