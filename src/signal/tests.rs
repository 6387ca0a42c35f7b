use super::*;

fn fixture_sdps() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sdp");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let sdp = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => {
                serde_json::from_str::<serde_json::Value>(&text).unwrap()["sdp"].as_str().unwrap().to_string()
            }
            Some("sdp") => text,
            _ => continue,
        };
        out.push((name, sdp));
    }
    assert!(out.len() >= 10, "fixtures missing: {out:?}");
    out
}

#[test]
fn real_descriptions_round_trip_in_deflate_form() {
    for (name, sdp) in fixture_sdps() {
        let kind = if name.contains("answer") { Kind::Answer } else { Kind::Offer };
        let bytes = encode_deflate(kind, &sdp, None);
        let payload = decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(payload.kind, kind, "{name}");
        assert_eq!(payload.sdp, minimize_sdp(&sdp), "{name}");
        let (orig, back) = (SdpSummary::parse(&sdp), SdpSummary::parse(&payload.sdp));
        assert_eq!(orig, back, "{name}: fingerprint, credentials, setup or candidates lost");
        assert!(back.fingerprint.is_some() && back.ice_ufrag.is_some() && !back.candidates.is_empty(), "{name}");
        assert!(payload.sdp.contains("a=ice-pwd:"), "{name}");
        assert!(payload.sdp.contains("m=application"), "{name}");
        // Stripping must actually shrink what goes into the QR.
        assert!(payload.sdp.len() < sdp.len(), "{name}");
        assert!(bytes.len() < 480, "{name}: {} bytes", bytes.len());
    }
}

#[test]
fn minimize_keeps_only_component_one_and_drops_noise() {
    let sdp =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sdp/qrpair_offer_3cands.sdp")).unwrap();
    let min = minimize_sdp(&sdp);
    assert_eq!(min.lines().filter(|l| l.starts_with("a=candidate:")).count(), 3);
    assert!(!min.contains(" 2 udp "));
    assert!(!min.contains("extmap-allow-mixed"));
    assert!(!min.contains("a=sendrecv"));
    assert!(min.ends_with("\r\n"));
    let summary = SdpSummary::parse(&min);
    let addrs: Vec<String> = summary.candidates.iter().map(|c| c.address.to_string()).collect();
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
    assert_eq!(decode(&[0xff, 0xfe, 0x00, 0x01]), Err(Error::ForeignBinary(4)));
    assert_eq!(decode(&[0x30, 0x00, 0x80]), Err(Error::UnknownVersion(3)));
    // Version 0 was never written by any qrpair: such bytes are foreign.
    assert_eq!(decode(&[0x00, 0x80, 0x80]), Err(Error::ForeignBinary(3)));
    assert_eq!(decode(&[0x18, 0x00]), Err(Error::UnknownFlags(0x18)));
    assert_eq!(
        decode(&[0x12, 0x00]),
        Err(Error::UnknownFlags(0x12)),
        "the extended bit means nothing in the deflate form"
    );
}

#[test]
fn every_truncation_of_a_real_payload_is_refused() {
    let sdp =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sdp/qrpair_offer_3cands.sdp")).unwrap();
    let bytes = encode_deflate(Kind::Offer, &sdp, None);
    for cut in 1..bytes.len() {
        let err = decode(&bytes[..cut]).expect_err("a truncated payload decoded");
        assert!(matches!(err, Error::Corrupt | Error::NotSdp(_)), "cut {cut}: {err:?}");
    }
    let mut extended = bytes.clone();
    extended.push(0);
    assert_eq!(decode(&extended), Err(Error::Corrupt), "trailing garbage must not be ignored");
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
    assert_eq!(decode(&deflated(0, &[0xff, 0xfe])), Err(Error::NotSdp("it is not text")));
    assert_eq!(decode(&deflated(0, b"hello")), Err(Error::NotSdp("it does not start with v=0")));
    assert_eq!(decode(&deflated(0, b"v=0\r\ns=-\r\n")), Err(Error::NotSdp("it has no media section")));
}

#[test]
fn wrong_kind_says_which_code_to_give() {
    let sdp =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sdp/qrpair_offer_3cands.sdp")).unwrap();
    let offer = encode(Kind::Offer, &sdp, None);
    let err = decode_expecting(&offer, Kind::Answer).unwrap_err();
    assert!(matches!(err, Error::WrongKind { found: Kind::Offer, expected: Kind::Answer, .. }));
    assert!(err.to_string().starts_with("this is an offer, but an answer was expected"), "{err}");
    assert!(decode_expecting(&offer, Kind::Offer).is_ok());
    let answer = encode(Kind::Answer, &sdp, None);
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
    assert!(token[TOKEN_PREFIX.len()..].chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'));
    assert_eq!(decode_token(&token).unwrap(), bytes);
    let wrapped: String =
        token.chars().enumerate().flat_map(|(i, c)| if i % 40 == 39 { vec![c, '\n'] } else { vec![c] }).collect();
    assert_eq!(decode_token(&format!("  {wrapped}\n")).unwrap(), bytes);
}

#[test]
fn token_errors_are_named() {
    assert_eq!(decode_token("hello"), Err(TokenError::MissingPrefix));
    assert_eq!(decode_token("qrp:"), Err(TokenError::Empty));
    assert_eq!(decode_token("qrp:abc$def.xx"), Err(TokenError::BadBase64(4)));
    assert!(matches!(decode_token(&format!("qrp:{}", "A".repeat(9000))), Err(TokenError::TooLong(9000))));
    assert_eq!(decode_token("qrp:QUJD"), Err(TokenError::Incomplete));
    assert_eq!(decode_token("qrp:QUJD.x"), Err(TokenError::Incomplete));
    let good = encode_token(b"ABC");
    assert_eq!(decode_token(&good).unwrap(), b"ABC");
    let typo = good.replacen("QUJD", "QUJE", 1);
    assert_eq!(decode_token(&typo), Err(TokenError::CheckMismatch));
}

#[test]
fn truncated_tokens_never_decode_to_a_payload() {
    let sdp =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sdp/qrpair_answer_1cand.sdp")).unwrap();
    let token = encode_token(&encode(Kind::Answer, &sdp, None));
    for cut in TOKEN_PREFIX.len()..token.len() {
        let result =
            decode_token(&token[..cut]).map_err(|e| e.to_string()).and_then(|b| decode(&b).map_err(|e| e.to_string()));
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
        for header in [0x10, 0x14, 0x20, 0x21, 0x22, 0x23, 0x24, 0x26, 0x27] {
            let mut with_header = bytes.clone();
            with_header.insert(0, header);
            let _ = decode(&with_header);
        }
    }
}

// ---- compact form ----

fn chromium_fixtures() -> Vec<(String, String)> {
    fixture_sdps().into_iter().filter(|(n, _)| n.starts_with("chromium")).collect()
}

#[test]
fn every_chromium_description_packs_compact_in_at_most_100_bytes_and_rebuilds_exactly() {
    let fixtures = chromium_fixtures();
    assert!(fixtures.len() >= 8);
    for (name, sdp) in fixtures {
        let kind = if name.contains("answer") { Kind::Answer } else { Kind::Offer };
        let original = Description::from_sdp(&sdp).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(!original.has_derived_credentials(), "{name}");
        let bytes = encode(kind, &sdp, None);
        assert!(bytes.len() <= 100, "{name}: {} bytes", bytes.len());
        let payload = decode(&bytes).unwrap();
        assert_eq!(payload.form, Form::Compact, "{name}");
        assert_eq!(payload.kind, kind);
        let rebuilt = Description::from_sdp(&payload.sdp).unwrap();
        assert_eq!(rebuilt, original, "{name}");
        assert!(!payload.made_by_qrpair, "{name}");
        // The rebuilt text keeps what a browser checks.
        for needle in
            ["a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:sha-256 ", "a=setup:", "a=mid:0", "a=sctp-port:5000"]
        {
            assert!(payload.sdp.contains(needle), "{name}: {needle}");
        }
    }
}

fn qrpair_description(n: usize, answer: bool, seed: u8) -> String {
    let fingerprint: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(31).wrapping_add(seed));
    let (ufrag, pwd) = derive_credentials(&fingerprint);
    let candidates = (0..n)
        .map(|i| candidate::Candidate {
            address: candidate::Address::V4(std::net::Ipv4Addr::new(192, 168, 1, 10 + i as u8)),
            port: 40000 + i as u16,
            kind: candidate::CandidateType::Host,
            transport: candidate::Transport::Udp,
            related: None,
        })
        .collect();
    let d = Description {
        fingerprint,
        ufrag,
        pwd,
        setup: if answer { compact::Setup::Active } else { compact::Setup::ActPass },
        mid: "0".into(),
        sctp_port: 5000,
        max_message_size: 65536,
        ice_lite: false,
        candidates,
    };
    d.to_sdp()
}

#[test]
fn qrpair_offer_with_n_ipv4_hosts_is_exactly_1_plus_32_plus_6n_bytes() {
    for n in 0..=8 {
        let sdp = qrpair_description(n, false, n as u8);
        assert!(parsed(&sdp).made_by_qrpair);
        let bytes = encode(Kind::Offer, &sdp, None);
        assert_eq!(bytes.len(), 1 + 32 + 6 * n, "{n} candidates");
        let back = decode(&bytes).unwrap();
        assert_eq!(Description::from_sdp(&back.sdp).unwrap(), Description::from_sdp(&sdp).unwrap());
    }
}

#[test]
fn qrpair_answer_is_its_offer_size_plus_the_tag_and_names_its_offer() {
    for n in 1..=4 {
        let offer_sdp = qrpair_description(n, false, 1);
        let answer_sdp = qrpair_description(n, true, 2);
        let offer = encode(Kind::Offer, &offer_sdp, None);
        let tag = parsed(&offer_sdp).answer_tag();
        assert!(tag.is_some());
        let answer = encode(Kind::Answer, &answer_sdp, tag);
        assert_eq!(answer.len(), offer.len() + TAG_LEN);
        let payload = decode(&answer).unwrap();
        assert_eq!(payload.tag, tag);
        assert_eq!(check_answer_belongs(&payload, tag.unwrap()), Ok(()));
        let other_offer = parsed(&qrpair_description(n, false, 3)).answer_tag().unwrap();
        let err = check_answer_belongs(&payload, other_offer).unwrap_err();
        assert_eq!(err, Error::OtherOffer);
        assert_eq!(err.to_string().split(':').next().unwrap(), "this answer belongs to a different offer");
    }
}

#[test]
fn deflate_form_carries_the_tag_too() {
    let offer_sdp = qrpair_description(1, false, 1);
    let tag = parsed(&offer_sdp).answer_tag();
    let bytes = encode_deflate(Kind::Answer, &qrpair_description(1, true, 2), tag);
    let payload = decode(&bytes).unwrap();
    assert_eq!((payload.form, payload.tag), (Form::Deflate, tag));
}

#[test]
fn descriptions_the_compact_form_cannot_carry_fall_back_to_deflate() {
    let base = qrpair_description(2, false, 9);
    let with_media =
        base.replace("m=application", "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\nm=application");
    let sha384 = base.replacen("a=fingerprint:sha-256 ", "a=fingerprint:sha-384 ", 1);
    let sctpmap = base.replace("a=sctp-port:5000\r\n", "a=sctpmap:5000 webrtc-datachannel 1024\r\n");
    for (what, sdp) in [("media", with_media), ("sha-384", sha384), ("sctpmap", sctpmap)] {
        assert!(encode_compact(Kind::Offer, &sdp, None).is_none(), "{what}");
        let payload = decode(&encode(Kind::Offer, &sdp, None)).unwrap();
        assert_eq!(payload.form, Form::Deflate, "{what}");
        assert_eq!(payload.sdp, minimize_sdp(&sdp), "{what}");
    }
}

#[test]
fn unusual_but_packable_values_survive() {
    let sdp =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sdp/qrpair_offer_3cands.sdp")).unwrap();
    let sdp = sdp
        .replace("a=mid:0", "a=mid:data")
        .replace("BUNDLE 0", "BUNDLE data")
        .replace("a=sctp-port:5000", "a=sctp-port:5001")
        .replace("a=setup:actpass", "a=setup:passive")
        .replace("a=max-message-size:65536", "a=max-message-size:1073741823")
        .replace(
            "a=end-of-candidates",
            "a=candidate:9 1 udp 1677729535 203.0.113.7 61000 typ srflx raddr 192.0.2.2 rport 36342\r\n\
             a=candidate:10 1 tcp 1518280447 192.0.2.2 9 typ host tcptype active\r\n\
             a=candidate:11 1 udp 41885439 198.51.100.9 3478 typ relay raddr 203.0.113.7 rport 61000\r\n\
             a=candidate:12 1 udp 2113937151 ccdff8af-8bc3-4aac-91f0-6b00ca20c25c.local 41717 typ host\r\n\
             a=candidate:13 1 tcp 1518280446 192.0.2.2 50123 typ host tcptype passive\r\n\
             a=end-of-candidates",
        );
    let original = Description::from_sdp(&sdp).unwrap();
    // The active TCP candidate (port 9, never checked) is left out.
    assert_eq!(original.candidates.len(), 7);
    assert!(original.candidates.iter().all(|c| c.transport != candidate::Transport::TcpActive));
    let bytes = encode_compact(Kind::Offer, &sdp, None).expect("packable");
    let payload = decode(&bytes).unwrap();
    assert_eq!(Description::from_sdp(&payload.sdp).unwrap(), original);
    assert!(payload.sdp.contains(" tcptype passive\r\n") && !payload.sdp.contains("tcptype active"), "{}", payload.sdp);
}

#[test]
fn compact_decoder_names_its_errors() {
    let sdp = qrpair_description(2, false, 4);
    let short = encode(Kind::Offer, &sdp, None);
    assert_eq!(decode(&short[..20]), Err(Error::Compact(compact::CompactError::Truncated)));
    assert_eq!(decode(&short[..short.len() - 1]), Err(Error::Compact(compact::CompactError::Truncated)));
    let chromium = chromium_fixtures().remove(0).1;
    let ext = encode(Kind::Offer, &chromium, None);
    assert_eq!(ext[0] & EXTENDED_BIT, EXTENDED_BIT);
    for cut in 33..ext.len() {
        assert!(decode(&ext[..cut]).is_err(), "cut {cut} decoded");
    }
    let mut trailing = ext.clone();
    trailing.push(7);
    assert_eq!(decode(&trailing), Err(Error::Compact(compact::CompactError::TrailingBytes(1))));
    let mut unknown = ext.clone();
    unknown[33] |= 0x80;
    assert!(matches!(decode(&unknown), Err(Error::Compact(compact::CompactError::UnknownField(_)))));
}

#[test]
fn hostnames_cannot_smuggle_sdp_lines() {
    // header: compact, extended; fingerprint; presence 0; one candidate of
    // family "name" whose text holds a line break.
    let mut bytes = vec![0x22];
    bytes.extend_from_slice(&[7u8; 32]);
    bytes.push(0);
    bytes.push(1);
    bytes.push(3);
    let evil = b"a\r\na=ice-lite";
    bytes.push(evil.len() as u8);
    bytes.extend_from_slice(evil);
    bytes.extend_from_slice(&[0, 9]);
    assert_eq!(decode(&bytes), Err(Error::Compact(compact::CompactError::BadCandidate)));
}

mod properties;

#[test]
fn authentication_string_depends_on_both_fingerprints_and_their_roles() {
    let fingerprint = |seed: u8| parsed(&qrpair_description(1, seed != 1, seed)).sha256.unwrap();
    let (a, b, c) = (fingerprint(1), fingerprint(2), fingerprint(3));
    let ab = authentication_string(&a, &b, None);
    assert_eq!(ab.len(), 7);
    assert!(ab.chars().enumerate().all(|(i, ch)| if i == 3 { ch == ' ' } else { ch.is_ascii_digit() }), "{ab}");
    assert_eq!(authentication_string(&a, &b, None), ab, "deterministic");
    assert_ne!(authentication_string(&a, &c, None), ab, "another answer, another string");
    assert_ne!(authentication_string(&b, &a, None), ab, "roles are part of it");
    // Between qrpair peers the nonces decide it too, each in its place.
    let (x, y) = ([1u8; 32], [2u8; 32]);
    let with = authentication_string(&a, &b, Some((x, y)));
    assert_eq!(authentication_string(&a, &b, Some((x, y))), with);
    assert_ne!(authentication_string(&a, &b, Some((y, x))), with);
    assert_ne!(authentication_string(&a, &b, Some((x, [3u8; 32]))), with);
}

#[test]
fn a_description_is_parsed_once_into_what_the_pairing_needs() {
    let sdp = qrpair_description(2, false, 7);
    let payload = parsed(&sdp);
    assert!(payload.made_by_qrpair);
    assert_eq!(payload.sha256, Some(Description::from_sdp(&sdp).unwrap().fingerprint));
    assert_eq!(payload.answer_tag(), Some(offer_tag(&payload.sha256.unwrap())));
    let shown: Vec<String> = payload.summary.candidates.iter().map(|c| c.to_string()).collect();
    assert_eq!(shown, ["192.168.1.10:40000 udp host", "192.168.1.11:40001 udp host"]);
    // Credentials that do not follow from the fingerprint: another app's.
    let foreign = sdp.replace(
        &format!("a=ice-pwd:{}", payload.summary.ice_pwd.clone().unwrap()),
        "a=ice-pwd:aaaaaaaaaaaaaaaaaaaaaaaa",
    );
    assert!(!parsed(&foreign).made_by_qrpair);
    // Another hash: usable, but no SHA-256 bytes, so no tag and no code.
    let sha384 = sdp.replace("sha-256", "sha-384");
    assert_eq!((parsed(&sha384).sha256, parsed(&sha384).answer_tag()), (None, None));
}

fn parsed(sdp: &str) -> Payload {
    Payload::new(Kind::Offer, sdp.to_string(), None, Form::Deflate).expect("a usable description")
}

#[test]
fn descriptions_that_can_never_connect_are_refused_on_decode() {
    let base = qrpair_description(2, false, 9);
    for (hash, name) in [("sha-1", "sha-1"), ("md5", "md5")] {
        let sdp = base.replacen("a=fingerprint:sha-256 ", &format!("a=fingerprint:{hash} "), 1);
        match decode(&encode(Kind::Offer, &sdp, None)) {
            Err(Error::Unusable(why)) => assert!(why.contains(name), "{why}"),
            other => panic!("{hash}: {other:?}"),
        }
    }
    let named = base.replace(
        "a=end-of-candidates",
        "a=candidate:9 1 udp 2113937151 printer.example.org 5000 typ host\r\na=end-of-candidates",
    );
    match decode(&encode(Kind::Offer, &named, None)) {
        Err(Error::Unusable(why)) => assert!(why.contains("printer.example.org"), "{why}"),
        other => panic!("{other:?}"),
    }
    let mdns = base.replace("a=end-of-candidates", "a=candidate:9 1 udp 2113937151 ccdff8af-8bc3-4aac-91f0-6b00ca20c25c.local 5000 typ host\r\na=end-of-candidates");
    decode(&encode(Kind::Offer, &mdns, None)).expect("an mDNS name is usable");
}

/// A real Firefox ESR 153 offer (headless, default settings): one mDNS UDP
/// host candidate and its active TCP twin (port 9). The twin is left out,
/// 19 bytes less: 110 B (QR version 7 at EC M) before, 91 B (version 6) now.
#[test]
fn a_firefox_offer_packs_without_its_active_tcp_candidate() {
    let json = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sdp/firefox_offer_mdns_1.json"))
        .unwrap();
    let (kind, sdp) = parse_sdp_json(&json).unwrap();
    assert_eq!(kind, Kind::Offer);
    assert!(sdp.contains("tcptype active"));
    let bytes = encode(kind, &sdp, None);
    assert_eq!(bytes.len(), 91);
    assert!(bytes.len() <= 106, "QR version 6 at EC M holds 106 bytes");
    let payload = decode(&bytes).unwrap();
    assert_eq!(payload.form, Form::Compact);
    let description = Description::from_sdp(&payload.sdp).unwrap();
    assert_eq!(description.candidates.len(), 1);
    assert_eq!(description.candidates[0].transport, candidate::Transport::Udp);
    assert_eq!(description.max_message_size, 1073741823);
}

#[test]
fn a_server_reflexive_candidate_repeating_a_host_one_is_left_out() {
    let sdp =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sdp/qrpair_offer_3cands.sdp")).unwrap();
    let public = sdp.replace(
        "a=end-of-candidates",
        "a=candidate:8 1 udp 2130706431 203.0.113.7 61000 typ host\r\n\
         a=candidate:9 1 udp 1694498815 203.0.113.7 61000 typ srflx raddr 203.0.113.7 rport 61000\r\n\
         a=candidate:10 1 udp 1694498815 203.0.113.7 61001 typ srflx raddr 192.0.2.2 rport 36342\r\n\
         a=end-of-candidates",
    );
    let plain = Description::from_sdp(&sdp).unwrap();
    let with_public = Description::from_sdp(&public).unwrap();
    let added: Vec<_> = with_public.candidates[plain.candidates.len()..].iter().map(|c| (c.kind, c.port)).collect();
    // The host and the srflx on another port stay; the repeat goes.
    assert_eq!(added, vec![(candidate::CandidateType::Host, 61000), (candidate::CandidateType::Srflx, 61001)]);
    let shorter = encode_compact(Kind::Offer, &public, None).unwrap().len();
    let unpruned =
        encode_compact(Kind::Offer, &public.replace("61000 typ srflx", "61002 typ srflx"), None).unwrap().len();
    assert!(shorter < unpruned, "{shorter} B with the repeat left out, {unpruned} B with a distinct srflx");
}
