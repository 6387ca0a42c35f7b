//! Reading a file that a flag or an environment variable names: never
//! more than a limit, whatever the path is (`/dev/zero`, a 4 GiB sparse
//! file), and never blocking on a pipe that no one writes.

use std::io::Read;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("could not be read: {0}")]
    Io(#[from] std::io::Error),
    #[error("is not a regular file (a pipe, device, socket or folder)")]
    NotRegular,
    #[error("is larger than {}, more than such a file ever needs", size_in_words(*.limit))]
    TooLarge { limit: u64 },
}

/// A byte count as a person reads it: `1 MiB`, `64 KiB`, `300 bytes`.
pub fn size_in_words(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// The whole of `path`, a regular file of at most `limit` bytes. It is
/// opened without blocking, so a FIFO is refused at once rather than
/// waited on, and its size is checked before anything is read.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = open_without_waiting(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge { limit });
    }
    read_capped(file, limit)
}

/// How long a FIFO may go without a writer before it is read as empty.
pub const FIFO_WRITER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// `path` opened for reading without blocking on a FIFO (reads still
/// never block) and without becoming our controlling terminal.
fn open_without_waiting(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK | libc::O_NOCTTY);
    options.open(path)
}

/// `path` opened for reading, once. A FIFO gets `FIFO_WRITER_WAIT` for a
/// writer to come (a producer started just after, `mkfifo f; make-code >
/// f &`), then reads as empty rather than hanging; reads then block as
/// usual, so a pipe being written is read to its end. Open a path once and
/// decide from the open file: opening a FIFO twice, the first opening's
/// close ends a writer that wrote once (EPIPE) and the second waits
/// forever.
pub fn open_once(path: &Path) -> std::io::Result<std::fs::File> {
    let file = open_without_waiting(path)?;
    #[cfg(unix)]
    if std::os::unix::fs::FileTypeExt::is_fifo(&file.metadata()?.file_type()) {
        crate::sys::wait_readable(&file, FIFO_WRITER_WAIT);
    }
    crate::sys::set_blocking(&file)?;
    Ok(file)
}

/// At most `limit` bytes of `reader`: one byte past it is read to tell a
/// reader that has more (a device, a pipe, a file that grew) from one that
/// ends at the limit.
pub fn read_capped(reader: impl Read, limit: u64) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    reader.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_pipes_folders_and_large_files_are_refused_without_reading_them() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(read_regular(Path::new("/dev/zero"), 1 << 20), Err(ReadError::NotRegular)));
        assert!(matches!(read_regular(dir.path(), 1 << 20), Err(ReadError::NotRegular)));
        let fifo = dir.path().join("fifo");
        crate::sys::make_fifo(&fifo).unwrap();
        // No writer: a blocking open would wait here forever.
        assert!(matches!(read_regular(&fifo, 1 << 20), Err(ReadError::NotRegular)));
        let sparse = dir.path().join("sparse");
        std::fs::File::create(&sparse).unwrap().set_len(4 << 30).unwrap();
        let err = read_regular(&sparse, 1 << 20).unwrap_err();
        assert_eq!(err.to_string(), "is larger than 1 MiB, more than such a file ever needs");
        let small = dir.path().join("small");
        std::fs::write(&small, b"hello").unwrap();
        assert_eq!(read_regular(&small, 5).unwrap(), b"hello");
        assert!(matches!(read_regular(&small, 4), Err(ReadError::TooLarge { limit: 4 })));
        assert!(matches!(read_regular(&dir.path().join("missing"), 5), Err(ReadError::Io(_))));
    }

    #[test]
    fn an_endless_reader_stops_one_byte_past_the_limit() {
        let endless = std::io::repeat(0);
        assert!(matches!(read_capped(endless, 64 << 10), Err(ReadError::TooLarge { limit: 65536 })));
        assert_eq!(size_in_words(64 << 10), "64 KiB");
        assert_eq!(size_in_words(300), "300 bytes");
    }

    #[test]
    fn a_fifo_is_read_whole_when_its_writer_comes_after_the_opening() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        crate::sys::make_fifo(&fifo).unwrap();
        let writer = std::thread::spawn({
            let fifo = fifo.clone();
            move || {
                std::thread::sleep(std::time::Duration::from_millis(200));
                let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
                for _ in 0..4 {
                    std::io::Write::write_all(&mut f, &[7u8; 100_000]).unwrap();
                }
            }
        });
        let file = open_once(&fifo).unwrap();
        assert_eq!(read_capped(file, 1 << 20).unwrap(), vec![7u8; 400_000]);
        writer.join().unwrap();
    }
}
