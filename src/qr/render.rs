//! Payload bytes → QR code → PNG, terminal block, or file.

use super::EcLevel;
use image::{GrayImage, ImageEncoder, Luma};
use qrcode::{bits::Bits, Color, QrCode, Version};
use std::io::Write;
use std::path::Path;

/// Quiet zone in modules: the QR standard asks for 4, and scanners fail
/// without it when the code sits next to other dark UI.
pub const QUIET_ZONE: usize = 4;
pub const DEFAULT_MODULE_PX: u32 = 8;

#[derive(Debug, thiserror::Error)]
#[error("payload of {0} bytes does not fit in any QR code at error-correction level {1}")]
pub struct TooBig(pub usize, pub EcLevel);

/// A QR code with the payload in byte mode at the smallest version that fits.
pub struct RenderedQr {
    code: QrCode,
    ec: EcLevel,
}

/// Byte mode is forced: the optimising encoder may pick Kanji mode for byte
/// pairs that look like Shift JIS, and decoders turn those into other bytes.
pub fn render_qr(payload: &[u8], ec: EcLevel) -> Result<RenderedQr, TooBig> {
    let level = qrcode_level(ec);
    for v in 1..=40 {
        let mut bits = Bits::new(Version::Normal(v));
        if bits.push_byte_data(payload).is_err() || bits.push_terminator(level).is_err() {
            continue;
        }
        if let Ok(code) = QrCode::with_bits(bits, level) {
            return Ok(RenderedQr { code, ec });
        }
    }
    Err(TooBig(payload.len(), ec))
}

pub(super) fn qrcode_level(ec: EcLevel) -> qrcode::EcLevel {
    match ec {
        EcLevel::L => qrcode::EcLevel::L,
        EcLevel::M => qrcode::EcLevel::M,
        EcLevel::Q => qrcode::EcLevel::Q,
        EcLevel::H => qrcode::EcLevel::H,
    }
}

impl RenderedQr {
    pub fn version(&self) -> u8 {
        match self.code.version() {
            Version::Normal(v) | Version::Micro(v) => v as u8,
        }
    }

    pub fn ec_level(&self) -> EcLevel {
        self.ec
    }

    /// Modules per side, without the quiet zone.
    pub fn width(&self) -> usize {
        self.code.width()
    }

    fn dark(&self, x: usize, y: usize) -> bool {
        let w = self.code.width();
        let (x, y) = (x.wrapping_sub(QUIET_ZONE), y.wrapping_sub(QUIET_ZONE));
        x < w && y < w && self.code[(x, y)] == Color::Dark
    }

    /// Pure black on white, `module_px` pixels per module, quiet zone included.
    pub fn to_image(&self, module_px: u32) -> GrayImage {
        let side = (self.width() + 2 * QUIET_ZONE) as u32;
        let scale = module_px.max(1);
        GrayImage::from_fn(side * scale, side * scale, |px, py| {
            let dark = self.dark((px / scale) as usize, (py / scale) as usize);
            Luma([if dark { 0 } else { 255 }])
        })
    }

    pub fn to_png(&self, module_px: u32) -> Vec<u8> {
        let img = self.to_image(module_px);
        let mut png = Vec::new();
        let encoder = image::codecs::png::PngEncoder::new(&mut png);
        // Encoding an in-memory grayscale image into a Vec cannot fail.
        let _ = encoder.write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::L8);
        png
    }

    /// Two modules per character cell (upper and lower half blocks), with
    /// explicit black and white colours on every cell so the code reads the
    /// same on light and dark terminal themes.
    pub fn to_terminal(&self) -> String {
        const RESET: &str = "\x1b[0m";
        let side = self.width() + 2 * QUIET_ZONE;
        let mut out = String::new();
        for row in (0..side).step_by(2) {
            let mut current = None;
            for col in 0..side {
                let (upper, lower) = (self.dark(col, row), row + 1 < side && self.dark(col, row + 1));
                // Lower half block: foreground is the lower module, the
                // cell's background the upper one. xterm draws half blocks
                // from the font, and DejaVu's upper half block leaves the
                // top pixel row of the cell uncovered: a light seam across
                // every dark module. The lower one reaches the cell's edge.
                if current != Some((upper, lower)) {
                    let fg = if lower { "30" } else { "97" };
                    let bg = if upper { "40" } else { "107" };
                    out.push_str(&format!("\x1b[{fg};{bg}m"));
                    current = Some((upper, lower));
                }
                // A cell of one colour is a space on that background: no
                // glyph, so nothing of a font's shape can show.
                out.push(if upper == lower { ' ' } else { '▄' });
            }
            out.push_str(RESET);
            out.push('\n');
        }
        out
    }
}

/// Writes next to the destination and renames over it, so a program watching
/// the path never sees half a file. Only a regular file (or nothing) is
/// replaced: renaming over a device, a pipe or a symbolic link would destroy
/// something that is not a picture. The file gets the usual permissions
/// (0666 less the umask), so a peer running as another user can read it
/// from a shared folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_file() => {
            let what = if meta.file_type().is_symlink() {
                "a symbolic link"
            } else if meta.is_dir() {
                "a folder"
            } else {
                "not a regular file (a device, pipe or socket)"
            };
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("it is {what}, which qrpair does not replace: choose another path"),
            ));
        }
        _ => {}
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".qrpair-")
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
