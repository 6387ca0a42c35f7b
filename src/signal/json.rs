//! The browser's own form of a description: what
//! `JSON.stringify(pc.localDescription)` prints, `{"type":"offer","sdp":"v=0\r\n…"}`.

use super::{Kind, MAX_SDP_BYTES};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JsonError {
    #[error("not a session description in JSON ({0}): paste the whole JSON.stringify(pc.localDescription) output")]
    Malformed(String),
    #[error("the JSON description has type {0:?}; only \"offer\" and \"answer\" can be used")]
    UnknownType(String),
    #[error("the JSON description is larger than {MAX_SDP_BYTES} bytes, which no real description needs")]
    TooLarge,
}

pub fn looks_like_json(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Wire<'a> {
    #[serde(rename = "type")]
    kind: std::borrow::Cow<'a, str>,
    sdp: std::borrow::Cow<'a, str>,
}

pub fn parse_sdp_json(text: &str) -> Result<(Kind, String), JsonError> {
    if text.len() > MAX_SDP_BYTES * 2 {
        return Err(JsonError::TooLarge);
    }
    let wire: Wire<'_> = serde_json::from_str(text.trim()).map_err(|e| JsonError::Malformed(e.to_string()))?;
    let kind = match wire.kind.as_ref() {
        "offer" => Kind::Offer,
        "answer" => Kind::Answer,
        other => return Err(JsonError::UnknownType(other.chars().take(20).collect())),
    };
    if wire.sdp.len() > MAX_SDP_BYTES {
        return Err(JsonError::TooLarge);
    }
    Ok((kind, wire.sdp.into_owned()))
}

/// One line, as a browser console would print it and accept it back.
pub fn to_sdp_json(kind: Kind, sdp: &str) -> String {
    let wire = Wire { kind: kind.as_str().into(), sdp: sdp.into() };
    serde_json::to_string(&wire).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_json_round_trips() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sdp/chromium_offer_mdns_1.json"))
                .unwrap();
        let (kind, sdp) = parse_sdp_json(&text).unwrap();
        assert_eq!(kind, Kind::Offer);
        assert!(sdp.starts_with("v=0\r\n") && sdp.contains(".local "));
        let again = to_sdp_json(kind, &sdp);
        assert_eq!(again.lines().count(), 1);
        assert_eq!(again.trim(), text.trim());
    }

    #[test]
    fn bad_json_is_named() {
        assert!(matches!(parse_sdp_json("{\"type\":\"offer\"}"), Err(JsonError::Malformed(_))));
        assert!(matches!(parse_sdp_json("{nope"), Err(JsonError::Malformed(_))));
        assert_eq!(
            parse_sdp_json("{\"type\":\"pranswer\",\"sdp\":\"v=0\"}"),
            Err(JsonError::UnknownType("pranswer".into()))
        );
    }
}
