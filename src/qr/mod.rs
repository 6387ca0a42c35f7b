//! QR codes: `render` turns payload bytes into pictures, `scan` turns
//! pictures back into payload bytes. Only file I/O, no network.

mod finder;
#[doc(hidden)]
pub mod hostile;
pub mod render;
pub mod scan;
mod transform;

pub use render::{render_qr, write_atomic, RenderedQr};
pub use scan::{scan_image_bytes, scan_path, Found, ScanError};

/// QR error-correction level, by the share of the code that may be damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum EcLevel {
    /// ~7 % recoverable: smallest code
    #[value(alias = "l")]
    L,
    /// ~15 % recoverable: the default, survives a JPEG-compressed screenshot
    #[default]
    #[value(alias = "m")]
    M,
    /// ~25 % recoverable
    #[value(alias = "q")]
    Q,
    /// ~30 % recoverable: largest code
    #[value(alias = "h")]
    H,
}

impl EcLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            EcLevel::L => "L",
            EcLevel::M => "M",
            EcLevel::Q => "Q",
            EcLevel::H => "H",
        }
    }
}

impl std::fmt::Display for EcLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;
