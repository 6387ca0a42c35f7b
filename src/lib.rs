//! qrpair: pair two machines over WebRTC with a QR code as the only
//! signaling channel. docs/ARCHITECTURE.md describes the layers.

// Raw system calls live in `sys`, the one module that allows `unsafe`.
#![deny(unsafe_code)]

pub mod cli;
mod error;
pub mod files;
#[doc(hidden)]
pub mod fuzzing;
pub mod pairing;
pub mod peer;
pub mod qr;
pub mod session;
pub mod signal;
pub mod source;
pub mod sys;
pub mod text;
pub mod ui;

pub use error::{exit, Error};
