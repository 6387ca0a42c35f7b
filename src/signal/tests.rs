use super::*;

fn fixture_sdps() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sdp");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let sdp = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => serde_json::from_str::<serde_json::Value>(&text).unwrap()["sdp"]
                .as_str()
                .unwrap()
                .to_string(),
            Some("sdp") => text,
            _ => continue,
        };
        out.push((name, sdp));
    }
    assert!(out.len() >= 10, "fixtures missing: {out:?}");
    out
}

#[test]
fn real_descriptions_round_trip_with_what_a_peer_needs() {
    for (name, sdp) in fixture_sdps() {
        let kind = if name.contains("answer") {
            Kind::Answer
        } else {
            Kind::Offer
        };
        let bytes = encode(kind, &sdp);
        let payload = decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(payload.kind, kind, "{name}");
        assert_eq!(payload.sdp, minimize_sdp(&sdp), "{name}");
        let (orig, back) = (SdpSummary::parse(&sdp), SdpSummary::parse(&payload.sdp));
        assert_eq!(
            orig, back,
            "{name}: fingerprint, credentials, setup or candidates lost"
        );
        assert!(
            back.fingerprint.is_some() && back.ice_ufrag.is_some() && !back.candidates.is_empty(),
            "{name}"
        );
        assert!(payload.sdp.contains("a=ice-pwd:"), "{name}");
        assert!(payload.sdp.contains("m=application"), "{name}");
        // Stripping must actually shrink what goes into the QR.
        assert!(payload.sdp.len() < sdp.len(), "{name}");
        assert!(bytes.len() < 480, "{name}: {} bytes", bytes.len());
    }
}

#[test]
fn minimize_keeps_only_component_one_and_drops_noise() {
    let sdp = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/sdp/qrpair_offer_3cands.sdp"
    ))
    .unwrap();
    let min = minimize_sdp(&sdp);
    assert_eq!(
        min.lines()
            .filter(|l| l.starts_with("a=candidate:"))
            .count(),
        3
    );
    assert!(!min.contains(" 2 udp "));
    assert!(!min.contains("extmap-allow-mixed"));
    assert!(!min.contains("a=sendrecv"));
    assert!(min.ends_with("\r\n"));
    let summary = SdpSummary::parse(&min);
    let addrs: Vec<&str> = summary
        .candidates
        .iter()
        .map(|c| c.address.as_str())
        .collect();
    assert_eq!(addrs, ["127.0.0.1", "192.0.2.2", "fd00::2"]);
}

#[test]
fn media_sections_other_than_data_are_kept_whole() {
    let sdp = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\na=sendrecv\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=sendrecv\r\na=mid:1\r\n";
    let min = minimize_sdp(sdp);
    assert!(min.contains("a=rtpmap:111 opus/48000/2\r\n"));
    assert_eq!(min.matches("a=sendrecv").count(), 1, "{min}");
    assert!(min.contains("a=mid:1"));
}

#[test]
fn empty_input_is_named() {
    assert_eq!(decode(&[]), Err(Error::Empty));
}

#[test]
fn foreign_text_is_quoted() {
    match decode(b"https://example.com/some/page") {
        Err(Error::ForeignText(t)) => assert_eq!(t, "https://example.com/some/page"),
        other => panic!("{other:?}"),
    }
    let long = "WIFI:".repeat(40);
    match decode(long.as_bytes()) {
        Err(Error::ForeignText(t)) => assert!(t.ends_with('…') && t.chars().count() == 81),
        other => panic!("{other:?}"),
    }
}

#[test]
fn foreign_binary_and_unknown_versions_are_named() {
    assert_eq!(
        decode(&[0xff, 0xfe, 0x00, 0x01]),
        Err(Error::ForeignBinary(4))
    );
    assert_eq!(decode(&[0x20, 0x00, 0x80]), Err(Error::UnknownVersion(2)));
    assert_eq!(decode(&[0x00, 0x80, 0x80]), Err(Error::UnknownVersion(0)));
    assert_eq!(decode(&[0x1e, 0x00]), Err(Error::UnknownFlags(0x1e)));
}

#[test]
fn every_truncation_of_a_real_payload_is_refused() {
    let sdp = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/sdp/qrpair_offer_3cands.sdp"
    ))
    .unwrap();
    let bytes = encode(Kind::Offer, &sdp);
    for cut in 1..bytes.len() {
        let err = decode(&bytes[..cut]).expect_err("a truncated payload decoded");
        assert!(
            matches!(err, Error::Corrupt | Error::NotSdp(_)),
            "cut {cut}: {err:?}"
        );
    }
    let mut extended = bytes.clone();
    extended.push(0);
    assert_eq!(
        decode(&extended),
        Err(Error::Corrupt),
        "trailing garbage must not be ignored"
    );
}

#[test]
fn corrupt_body_is_named() {
    assert_eq!(decode(&[0x10, 0xff, 0xff, 0xff, 0xff]), Err(Error::Corrupt));
}

#[test]
fn deflate_bomb_is_refused_within_the_cap() {
    let huge = format!("v=0\r\nm=application\r\n{}", "a".repeat(10 * 1024 * 1024));
    let mut bytes = vec![FORMAT_DEFLATE << 4];
    let mut enc = DeflateEncoder::new(&mut bytes, Compression::best());
    enc.write_all(huge.as_bytes()).unwrap();
    enc.finish().unwrap();
    assert!(bytes.len() < 20_000, "bomb is small: {}", bytes.len());
    assert_eq!(decode(&bytes), Err(Error::TooLarge));
}

fn deflated(kind_bits: u8, text: &[u8]) -> Vec<u8> {
    let mut bytes = vec![(FORMAT_DEFLATE << 4) | kind_bits];
    let mut enc = DeflateEncoder::new(&mut bytes, Compression::best());
    enc.write_all(text).unwrap();
    enc.finish().unwrap();
    bytes
}

#[test]
fn inflated_text_that_is_not_sdp_is_refused() {
    assert_eq!(
        decode(&deflated(0, &[0xff, 0xfe])),
        Err(Error::NotSdp("it is not text"))
    );
    assert_eq!(
        decode(&deflated(0, b"hello")),
        Err(Error::NotSdp("it does not start with v=0"))
    );
    assert_eq!(
        decode(&deflated(0, b"v=0\r\ns=-\r\n")),
        Err(Error::NotSdp("it has no media section"))
    );
}

#[test]
fn wrong_kind_says_which_code_to_give() {
    let sdp = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/sdp/qrpair_offer_3cands.sdp"
    ))
    .unwrap();
    let offer = encode(Kind::Offer, &sdp);
    let err = decode_expecting(&offer, Kind::Answer).unwrap_err();
    assert!(matches!(
        err,
        Error::WrongKind {
            found: Kind::Offer,
            expected: Kind::Answer,
            ..
        }
    ));
    assert!(
        err.to_string()
            .starts_with("this is an offer, but an answer was expected"),
        "{err}"
    );
    assert!(decode_expecting(&offer, Kind::Offer).is_ok());
    let answer = encode(Kind::Answer, &sdp);
    assert!(decode_expecting(&answer, Kind::Offer)
        .unwrap_err()
        .to_string()
        .contains("an answer, but an offer was expected"));
}

#[test]
fn token_round_trips_and_tolerates_wrapping() {
    let bytes: Vec<u8> = (0..=255u8).collect();
    let token = encode_token(&bytes);
    assert!(token.starts_with(TOKEN_PREFIX));
    assert!(token[TOKEN_PREFIX.len()..]
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    assert_eq!(decode_token(&token).unwrap(), bytes);
    let wrapped: String = token
        .chars()
        .enumerate()
        .flat_map(|(i, c)| if i % 40 == 39 { vec![c, '\n'] } else { vec![c] })
        .collect();
    assert_eq!(decode_token(&format!("  {wrapped}\n")).unwrap(), bytes);
}

#[test]
fn token_errors_are_named() {
    assert_eq!(decode_token("hello"), Err(TokenError::MissingPrefix));
    assert_eq!(decode_token("qrp:"), Err(TokenError::Empty));
    assert_eq!(decode_token("qrp:abc$def"), Err(TokenError::BadBase64(4)));
    assert!(matches!(
        decode_token(&format!("qrp:{}", "A".repeat(9000))),
        Err(TokenError::TooLong(9000))
    ));
    // A token cut at a length base64 cannot have is refused by base64 ...
    assert!(matches!(
        decode_token("qrp:QUJDR"),
        Err(TokenError::BadBase64(_))
    ));
}

#[test]
fn truncated_tokens_never_decode_to_a_payload() {
    let sdp = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/sdp/qrpair_answer_1cand.sdp"
    ))
    .unwrap();
    let token = encode_token(&encode(Kind::Answer, &sdp));
    for cut in TOKEN_PREFIX.len()..token.len() {
        let result = decode_token(&token[..cut])
            .map_err(|e| e.to_string())
            .and_then(|b| decode(&b).map_err(|e| e.to_string()));
        assert!(result.is_err(), "cut at {cut} decoded");
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap deterministic sweep; the fuzz target covers more ground.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for len in 0..600 {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let _ = decode(&bytes);
        let mut with_header = bytes.clone();
        with_header.insert(0, 0x10);
        let _ = decode(&with_header);
    }
}
