//! Every integration test in one binary: it links the webrtc stack once
//! instead of a dozen times, and the test harness runs long waits (a late
//! answer, a lossy link, a browser) beside other tests instead of one
//! binary after another. `cargo test --release --test integration faults::`
//! picks one module. The clipboard test stays a binary of its own: it sets
//! DISPLAY for the whole process.

#[path = "../common/mod.rs"]
mod common;

mod browser;
mod cli;
mod faults;
mod fuzz_regressions;
mod hostile;
mod inputs;
mod layers;
mod nat;
mod network;
mod pmtu;
mod screen;
mod screenshots;
mod snapshots;
mod terminal_pairing;
mod topologies;
mod transfer;
