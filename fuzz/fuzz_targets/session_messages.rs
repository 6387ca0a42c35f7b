#![no_main]
//! See `qrpair::fuzzing::session`: the body lives in the library so the stable
//! test suite replays seeds and past crashes through the same code.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    qrpair::fuzzing::session(data);
});
