//! Content digests: blake3, kept as 32 bytes and written as lowercase hex.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Files at least this large are hashed in chunks rather than read whole.
const LARGE: u64 = 256 * 1024;

/// A blake3 digest; serialised as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest([u8; 32]);

impl Digest {
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        Digest::from(blake3::hash(bytes))
    }

    /// The digest of a regular file's contents.
    pub fn of_file(path: &Path) -> io::Result<Digest> {
        let file = File::open(path)?;
        let length = file.metadata()?.len();
        Digest::of_open_file(file, length)
    }

    /// The digest of an open regular file whose length is known: small files are read whole
    /// in one buffer of their size, large ones streamed.
    pub fn of_open_file(mut file: File, length: u64) -> io::Result<Digest> {
        if length >= LARGE {
            // Streamed, never mapped: a file truncated while it is read must be an error or a
            // changed digest, not a SIGBUS.
            let mut hasher = blake3::Hasher::new();
            copy_hashing_into(&mut file, &mut hasher)?;
            return Ok(Digest::from(hasher.finalize()));
        }
        // A plain read loop: `read_to_end` would stat and seek the file again to size its buffer.
        let mut bytes = vec![0; usize::try_from(length).unwrap_or(0) + 1];
        let mut filled = 0;
        loop {
            match file.read(&mut bytes[filled..]) {
                Ok(0) => break,
                Ok(read) => filled += read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            }
            if filled == bytes.len() {
                bytes.resize(bytes.len() * 2, 0);
            }
        }
        Ok(Digest::of_bytes(&bytes[..filled]))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Digest {
        Digest(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 hex characters.
    pub fn to_hex(self) -> String {
        self.to_string()
    }

    /// The first twelve hex characters, for people.
    pub fn short(&self) -> String {
        let mut hex = self.to_hex();
        hex.truncate(12);
        hex
    }
}

/// Bytes as lowercase hex, two digits a byte (a sha256 or an HMAC; a [`Digest`] has
/// [`Digest::to_hex`]).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl From<blake3::Hash> for Digest {
    fn from(hash: blake3::Hash) -> Digest {
        Digest(*hash.as_bytes())
    }
}

impl TryFrom<String> for Digest {
    type Error = String;

    fn try_from(text: String) -> Result<Digest, String> {
        // Lowercase only: one digest has one spelling, so manifests compare as text too.
        if text.len() == 64
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && let Ok(hash) = blake3::Hash::from_hex(&text)
        {
            Ok(Digest::from(hash))
        } else {
            Err(format!("`{text}` is not a blake3 digest"))
        }
    }
}

impl From<Digest> for String {
    fn from(digest: Digest) -> String {
        digest.to_hex()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(blake3::Hash::from_bytes(self.0).to_hex().as_str())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// Feeds everything from `reader` to `hasher`, a megabyte at a time.
fn copy_hashing_into(reader: &mut impl Read, hasher: &mut blake3::Hasher) -> io::Result<()> {
    let mut buffer = vec![0; 1024 * 1024];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(read) => {
                hasher.update_rayon(&buffer[..read]);
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

/// Copies everything from `reader` to `writer`, returning the digest and length of what passed.
pub fn copy_hashing(reader: &mut impl Read, writer: &mut impl Write) -> io::Result<(Digest, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0; 64 * 1024];
    let mut total = 0;
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        hasher.update(&buffer[..read]);
        writer.write_all(&buffer[..read])?;
        total += read as u64;
    }
    Ok((Digest::from(hasher.finalize()), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_and_byte_digests_agree() {
        let dir = tempfile::tempdir().unwrap();
        for size in [0, 10, LARGE as usize + 1] {
            let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let path = dir.path().join("f");
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(Digest::of_file(&path).unwrap(), Digest::of_bytes(&bytes));
        }
    }

    #[test]
    fn hex_round_trips() {
        let digest = Digest::of_bytes(b"x");
        assert_eq!(Digest::try_from(digest.to_hex()).unwrap(), digest);
        assert_eq!(digest.short().len(), 12);
        assert!(digest.to_hex().starts_with(&digest.short()));
    }

    #[test]
    fn rejects_malformed_hex() {
        assert!(Digest::try_from("abc".to_string()).is_err());
        assert!(Digest::try_from("G".repeat(64)).is_err());
        assert!(Digest::try_from("A".repeat(64)).is_err());
    }
}
