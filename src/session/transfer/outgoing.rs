use super::TransferError;
use crate::session::DATA_CHUNK;
use bytes::BytesMut;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Chunks in flight between the disk and the channel on either side: enough
/// to keep the channel busy while the disk and the hash catch up, a few MiB
/// at most.
pub(super) const CHUNKS_IN_FLIGHT: usize = 16;

/// Reads and hashes `size` bytes of `file` on a blocking thread, so disk
/// reads and hashing overlap with sending. The first `offset` bytes (the
/// receiver's `.part`) are hashed from our copy but not sent: if the two
/// differ, the final digests differ. Each chunk is a ready data frame.
pub(super) fn read_ahead(
    file: std::fs::File,
    offset: u64,
    size: u64,
) -> (mpsc::Receiver<BytesMut>, JoinHandle<std::io::Result<String>>) {
    let (chunks, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let reader = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut hasher = blake3::Hasher::new();
        // A file that grows while it is sent is cut at the announced size.
        let mut file = file.take(size);
        std::io::copy(&mut (&mut file).take(offset), &mut hasher)?;
        // Sized to what is left: a tiny file costs a tiny buffer.
        while file.limit() > 0 {
            let want = file.limit().min(DATA_CHUNK as u64);
            // Read into spare capacity (read_to_end never zeroes it first):
            // zeroing 64 KiB per chunk was 2 % of the sender's CPU.
            let mut chunk = Vec::with_capacity(want as usize + 1);
            chunk.push(crate::session::frame::TAG_DATA);
            let n = read_to_end_retrying(&mut (&mut file).take(want), &mut chunk)?;
            if n == 0 {
                break;
            }
            let chunk = BytesMut::from(bytes::Bytes::from(chunk));
            hasher.update(&chunk[1..]);
            // The sending side has stopped; it reports why.
            if chunks.blocking_send(chunk).is_err() {
                break;
            }
        }
        Ok(hasher.finalize().to_hex().to_string())
    });
    (rx, reader)
}

/// A small file read at once: its bytes after a type byte, and its digest.
/// A file that grew is cut at the announced size.
pub(super) fn read_small(file: std::fs::File, size: u64) -> std::io::Result<(BytesMut, blake3::Hash)> {
    let mut chunk = BytesMut::zeroed(size as usize + 1);
    chunk[0] = crate::session::frame::TAG_DATA;
    let n = read_full(&mut std::io::Read::take(file, size), &mut chunk[1..])?;
    chunk.truncate(n + 1);
    let digest = blake3::hash(&chunk[1..]);
    Ok((chunk, digest))
}

/// Per packed file: index, length, digest.
pub(super) const PACKED_HEADER: usize = 4 + 4 + 32;
/// Files up to this size go packed, many to a message (with its type byte,
/// one such file alone still fits).
pub(super) const PACKED_FILE_MAX: u64 = (crate::peer::MAX_MESSAGE - 1 - PACKED_HEADER) as u64;

/// Small whole files collected into one message: for 100 000 tiny files,
/// a hundred messages instead of three hundred thousand.
pub(super) struct Pack {
    frame: BytesMut,
}

impl Pack {
    pub(super) fn new() -> Self {
        Pack { frame: BytesMut::new() }
    }

    pub(super) fn fits(&self, len: usize) -> bool {
        self.frame.len().max(1) + PACKED_HEADER + len <= crate::peer::MAX_MESSAGE
    }

    pub(super) fn add(&mut self, index: usize, data: &[u8], digest: &blake3::Hash) {
        use bytes::BufMut;
        if self.frame.is_empty() {
            self.frame.put_u8(crate::session::frame::TAG_FILES);
        }
        self.frame.put_u32_le(index as u32);
        self.frame.put_u32_le(data.len() as u32);
        self.frame.put_slice(digest.as_bytes());
        self.frame.put_slice(data);
    }

    pub(super) fn take(&mut self) -> Option<BytesMut> {
        (!self.frame.is_empty()).then(|| std::mem::take(&mut self.frame))
    }
}

/// The records of a packed-files message, or why it is malformed.
pub(super) fn unpack(mut body: &[u8]) -> Result<Vec<(usize, [u8; 32], &[u8])>, TransferError> {
    let malformed = || TransferError::Protocol("a malformed packed-files message".into());
    let mut out = Vec::new();
    while !body.is_empty() {
        if body.len() < PACKED_HEADER {
            return Err(malformed());
        }
        let index = u32::from_le_bytes(body[0..4].try_into().map_err(|_| malformed())?) as usize;
        let len = u32::from_le_bytes(body[4..8].try_into().map_err(|_| malformed())?) as usize;
        let digest: [u8; 32] = body[8..40].try_into().map_err(|_| malformed())?;
        let rest = &body[PACKED_HEADER..];
        if len > rest.len() {
            return Err(malformed());
        }
        out.push((index, digest, &rest[..len]));
        body = &rest[len..];
    }
    Ok(out)
}

/// Fills `buf` unless the end comes first: full chunks keep messages few.
/// `read_to_end` that goes on after an interrupted read, as `read_full`
/// does; the bytes it appended.
fn read_to_end_retrying(file: &mut impl std::io::Read, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let start = buf.len();
    loop {
        match file.read_to_end(buf) {
            Ok(_) => return Ok(buf.len() - start),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

pub(super) fn read_full(file: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
