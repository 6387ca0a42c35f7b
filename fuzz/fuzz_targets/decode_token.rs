#![no_main]
//! Arbitrary text as a pasted token or browser JSON description.

use libfuzzer_sys::fuzz_target;
use qrpair::signal;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(bytes) = signal::decode_token(text) {
        let _ = signal::decode(&bytes);
    }
    if let Ok((kind, sdp)) = signal::parse_sdp_json(text) {
        let _ = signal::decode(&signal::encode(kind, &sdp, None));
    }
});
