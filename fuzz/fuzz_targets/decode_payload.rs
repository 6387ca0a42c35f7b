#![no_main]
//! Arbitrary bytes as a scanned QR payload: decoding must never panic, and
//! whatever decodes must rebuild into a description that parses again and
//! re-encodes to a payload that decodes to the same description.

use libfuzzer_sys::fuzz_target;
use qrpair::signal::{self, Description, Form};

fuzz_target!(|data: &[u8]| {
    if let Ok(payload) = signal::decode(data) {
        if payload.form == Form::Compact {
            let description = Description::from_sdp(&payload.sdp).expect("a rebuilt description parses");
            let again = signal::encode(payload.kind, &payload.sdp, payload.tag);
            let back = signal::decode(&again).expect("re-encoded payload decodes");
            assert_eq!(Description::from_sdp(&back.sdp).expect("parses"), description);
        }
    }
});
