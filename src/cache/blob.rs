//! How a blob lies on disk, and the streams that write and read it.
//!
//! A blob is named by the digest of its bytes and is stored in one of two encodings:
//!
//! ```text
//! blobs/<2 hex>/<64 hex>        the bytes as they are
//! blobs/<2 hex>/<64 hex>.zst    zstd frames, then a skippable frame with the size of the bytes
//! ```
//!
//! A writer compresses when it pays: it compresses the first [`SAMPLE`] bytes to see, and keeps
//! the bytes as they are when they are few or hardly shrink (random data, archives). The
//! trailing frame gives the size without decompressing, so that a truncated file is told at
//! lookup, as the size of a plain one is. Readers always get the bytes as they were written,
//! whatever the encoding: remote caches and bundles carry them so, and their digest is checked
//! where they are read.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, Write};
use std::os::unix::fs::FileExt;

use super::manifest::Blob;
use crate::digest::Digest;

/// How many first bytes decide whether a blob is compressed.
const SAMPLE: usize = 128 * 1024;
/// Fewer bytes are kept as they are: compressing them saves next to nothing.
const SMALLEST: usize = 4 * 1024;
/// zstd's default level: about as fast as the disk on one core, and a good ratio for logs.
const LEVEL: i32 = 3;
/// The skippable frame that ends a compressed blob: magic, length of its content (8), size.
const TRAILER_MAGIC: u32 = 0x184D_2A5E;
const TRAILER_LEN: u64 = 16;

/// A blob's encoding on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Plain,
    Zstd,
}

impl Encoding {
    /// The encodings a reader tries, in order.
    pub(crate) const ALL: [Encoding; 2] = [Encoding::Zstd, Encoding::Plain];

    /// The file name of a blob in this encoding.
    pub(crate) fn file_name(self, hash: &Digest) -> String {
        match self {
            Encoding::Plain => hash.to_hex(),
            Encoding::Zstd => format!("{}.zst", hash.to_hex()),
        }
    }

    /// The digest a blob file's name says, in any encoding; `None` for any other name.
    pub(crate) fn digest_named(name: &str) -> Option<Digest> {
        let hex = name.strip_suffix(".zst").unwrap_or(name);
        Digest::try_from(hex.to_string()).ok()
    }

    /// The size of the bytes a blob file of this encoding holds, read from the open file.
    pub(crate) fn stored_size(self, file: &File) -> io::Result<Option<u64>> {
        let length = file.metadata()?.len();
        match self {
            Encoding::Plain => Ok(Some(length)),
            Encoding::Zstd => {
                if length < TRAILER_LEN {
                    return Ok(None);
                }
                let mut trailer = [0; TRAILER_LEN as usize];
                file.read_exact_at(&mut trailer, length - TRAILER_LEN)?;
                let word = |at: usize| {
                    u32::from_le_bytes(trailer[at..at + 4].try_into().expect("four bytes"))
                };
                if word(0) != TRAILER_MAGIC || word(4) != 8 {
                    return Ok(None);
                }
                let size = u64::from_le_bytes(trailer[8..].try_into().expect("eight bytes"));
                Ok(Some(size))
            }
        }
    }
}

/// Writes a blob: hashes and counts the bytes, and encodes them into `out`.
pub(crate) struct BlobWriter<W: Write> {
    hasher: blake3::Hasher,
    size: u64,
    state: State<W>,
}

enum State<W: Write> {
    /// The first bytes, held until they tell whether compressing pays.
    Sampling {
        sample: Vec<u8>,
        out: W,
    },
    Plain(W),
    Zstd(zstd::Encoder<'static, W>),
    /// A write failed: the blob is lost.
    Broken,
}

/// A blob written: where, its digest and size, and how it is encoded.
pub(crate) struct Written<W> {
    pub out: W,
    pub blob: Blob,
    pub encoding: Encoding,
}

impl<W: Write> BlobWriter<W> {
    pub(crate) fn new(out: W) -> BlobWriter<W> {
        BlobWriter {
            hasher: blake3::Hasher::new(),
            size: 0,
            state: State::Sampling {
                sample: Vec::new(),
                out,
            },
        }
    }

    /// Choose the encoding from the sample held, and write the sample in it.
    fn decide(&mut self) -> io::Result<()> {
        let (sample, out) = match std::mem::replace(&mut self.state, State::Broken) {
            State::Sampling { sample, out } => (sample, out),
            decided => {
                self.state = decided;
                return Ok(());
            }
        };
        let pays = sample.len() >= SMALLEST
            && zstd::bulk::compress(&sample, LEVEL)
                .is_ok_and(|compressed| compressed.len() * 8 <= sample.len() * 7);
        self.state = if pays {
            let mut encoder = zstd::Encoder::new(out, LEVEL)?;
            encoder.write_all(&sample)?;
            State::Zstd(encoder)
        } else {
            let mut out = out;
            out.write_all(&sample)?;
            State::Plain(out)
        };
        Ok(())
    }

    /// End the blob: the stream it was written to, and what it holds.
    pub(crate) fn finish(mut self) -> io::Result<Written<W>> {
        self.decide()?;
        let (out, encoding) = match std::mem::replace(&mut self.state, State::Broken) {
            State::Plain(mut out) => {
                out.flush()?;
                (out, Encoding::Plain)
            }
            State::Zstd(encoder) => {
                let mut out = encoder.finish()?;
                out.write_all(&TRAILER_MAGIC.to_le_bytes())?;
                out.write_all(&8u32.to_le_bytes())?;
                out.write_all(&self.size.to_le_bytes())?;
                out.flush()?;
                (out, Encoding::Zstd)
            }
            State::Sampling { .. } | State::Broken => {
                return Err(io::Error::other("a write of the blob failed before"));
            }
        };
        Ok(Written {
            out,
            blob: Blob {
                hash: Digest::from(self.hasher.finalize()),
                size: self.size,
            },
            encoding,
        })
    }
}

impl<W: Write> Write for BlobWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = match &mut self.state {
            State::Sampling { sample, .. } => {
                let taken = bytes.len().min(SAMPLE - sample.len());
                sample.extend_from_slice(&bytes[..taken]);
                let full = sample.len() == SAMPLE;
                self.hasher.update(&bytes[..taken]);
                self.size += taken as u64;
                if full {
                    self.decide()?;
                }
                return Ok(taken);
            }
            State::Plain(out) => out.write(bytes)?,
            State::Zstd(encoder) => encoder.write(bytes)?,
            State::Broken => return Err(io::Error::other("a write of the blob failed before")),
        };
        self.hasher.update(&bytes[..written]);
        self.size += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The bytes of a stored blob, decoded, never more than its manifest's size and one byte.
///
/// A read error is the stored copy's fault (damaged, cut short): [`BlobReader::failed`] tells
/// it apart from an error of where the bytes go.
pub(crate) struct BlobReader {
    inner: io::Take<Decoded>,
    failed: bool,
}

enum Decoded {
    Plain(File),
    Zstd(zstd::Decoder<'static, BufReader<File>>),
}

impl Read for Decoded {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoded::Plain(file) => file.read(buffer),
            Decoded::Zstd(decoder) => decoder.read(buffer),
        }
    }
}

impl BlobReader {
    /// Read `file`, in `encoding`, from its start: the bytes of `blob`.
    pub(crate) fn new(mut file: File, encoding: Encoding, blob: &Blob) -> io::Result<BlobReader> {
        file.rewind()?;
        let decoded = match encoding {
            Encoding::Plain => Decoded::Plain(file),
            Encoding::Zstd => Decoded::Zstd(zstd::Decoder::new(file)?),
        };
        Ok(BlobReader {
            inner: decoded.take(blob.size + 1),
            failed: false,
        })
    }

    /// Whether reading the stored copy failed.
    pub(crate) fn failed(&self) -> bool {
        self.failed
    }

    /// Start again from the first byte, on the same open file.
    pub(crate) fn restart(self, blob: &Blob) -> io::Result<BlobReader> {
        match self.inner.into_inner() {
            Decoded::Plain(file) => BlobReader::new(file, Encoding::Plain, blob),
            Decoded::Zstd(decoder) => {
                BlobReader::new(decoder.finish().into_inner(), Encoding::Zstd, blob)
            }
        }
    }
}

impl Read for BlobReader {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.inner.read(buffer) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    self.failed = true;
                    return Err(error);
                }
                Ok(read) => return Ok(read),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(bytes: &[u8]) -> Written<Vec<u8>> {
        let mut writer = BlobWriter::new(Vec::new());
        for chunk in bytes.chunks(1000) {
            writer.write_all(chunk).unwrap();
        }
        writer.finish().unwrap()
    }

    fn read_back(written: &Written<Vec<u8>>) -> Vec<u8> {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&written.out).unwrap();
        assert_eq!(
            written.encoding.stored_size(&file).unwrap(),
            Some(written.blob.size)
        );
        let mut reader = BlobReader::new(file, written.encoding, &written.blob).unwrap();
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).unwrap();
        let mut again = Vec::new();
        reader
            .restart(&written.blob)
            .unwrap()
            .read_to_end(&mut again)
            .unwrap();
        assert_eq!(bytes, again);
        bytes
    }

    #[test]
    fn compressible_bytes_are_compressed_and_read_back_whole() {
        let bytes = b"a line of a log\n".repeat(50_000);
        let written = written(&bytes);
        assert_eq!(written.encoding, Encoding::Zstd);
        assert!(written.out.len() < bytes.len() / 20);
        assert_eq!(written.blob.hash, Digest::of_bytes(&bytes));
        assert_eq!(written.blob.size, bytes.len() as u64);
        assert_eq!(read_back(&written), bytes);
    }

    #[test]
    fn few_or_random_bytes_are_kept_as_they_are() {
        let mut random = Vec::new();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            random.push(state as u8);
        }
        for bytes in [&b"short\n"[..], &random, b""] {
            let written = written(bytes);
            assert_eq!(written.encoding, Encoding::Plain);
            assert_eq!(written.out, bytes);
            assert_eq!(read_back(&written), bytes);
        }
    }

    #[test]
    fn a_compressed_file_cut_short_has_no_size() {
        let written = written(&b"x".repeat(100_000));
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&written.out[..written.out.len() - 3])
            .unwrap();
        assert_eq!(Encoding::Zstd.stored_size(&file).unwrap(), None);
    }
}
