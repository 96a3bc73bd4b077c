//! The action-cache record of an entry: a REAPI `ActionResult` protobuf, hand-encoded.
//!
//! Only the fields rtask uses are written and read (field numbers from
//! `build/bazel/remote/execution/v2/remote_execution.proto`):
//!
//! ```text
//! ActionResult { repeated OutputFile output_files = 2; }
//! OutputFile   { string path = 1; Digest digest = 2; }
//! Digest       { string hash = 1; int64 size_bytes = 2; }
//! ```
//!
//! An entry's record lists its manifest (`rtask/manifest.json`), its signature when it is
//! signed (`rtask/signature`), and every blob its manifest names (`rtask/blobs/<blake3 hex>`),
//! each with the sha256 digest of the bytes stored in the CAS. Decoding skips unknown fields
//! and refuses anything malformed; it never panics.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};

/// Where the manifest is in a record.
pub(crate) const MANIFEST: &str = "rtask/manifest.json";
/// Where the signature is, when the entry is signed.
pub(crate) const SIGNATURE: &str = "rtask/signature";
/// Where blobs are, by their BLAKE3 hex.
pub(crate) const BLOBS: &str = "rtask/blobs/";

const ACTION_RESULT_OUTPUT_FILES: u64 = 2;
const OUTPUT_FILE_PATH: u64 = 1;
const OUTPUT_FILE_DIGEST: u64 = 2;
const DIGEST_HASH: u64 = 1;
const DIGEST_SIZE: u64 = 2;

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LENGTH_DELIMITED: u64 = 2;
const FIXED32: u64 = 5;

/// A CAS digest: the sha256 of the stored bytes, and their size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CasDigest {
    /// 64 lowercase hex digits.
    pub hash: String,
    pub size: u64,
}

impl CasDigest {
    pub(crate) fn of(bytes: &[u8]) -> CasDigest {
        CasDigest {
            hash: crate::digest::hex(&Sha256::digest(bytes)),
            size: bytes.len() as u64,
        }
    }
}

/// The record: each path with its digest, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ActionResult {
    pub files: Vec<(String, CasDigest)>,
}

/// Why a record could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Undecodable {
    #[error("it ends in the middle of a field")]
    Truncated,
    #[error("it has a field of an unknown wire type")]
    WireType,
    #[error("a path or digest in it is not text")]
    NotText,
    #[error("a digest in it is not a sha256 hex digest")]
    BadDigest,
}

impl ActionResult {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (path, digest) in &self.files {
            let mut digest_bytes = Vec::new();
            put_bytes(&mut digest_bytes, DIGEST_HASH, digest.hash.as_bytes());
            put_varint_field(&mut digest_bytes, DIGEST_SIZE, digest.size);
            let mut file = Vec::new();
            put_bytes(&mut file, OUTPUT_FILE_PATH, path.as_bytes());
            put_bytes(&mut file, OUTPUT_FILE_DIGEST, &digest_bytes);
            put_bytes(&mut out, ACTION_RESULT_OUTPUT_FILES, &file);
        }
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<ActionResult, Undecodable> {
        let mut files = Vec::new();
        for field in Fields(bytes) {
            if let (ACTION_RESULT_OUTPUT_FILES, Value::Bytes(file)) = field? {
                files.push(decode_file(file)?);
            }
        }
        Ok(ActionResult { files })
    }

    /// The files by path (the first of each path).
    pub(crate) fn by_path(&self) -> BTreeMap<&str, &CasDigest> {
        let mut map = BTreeMap::new();
        for (path, digest) in &self.files {
            map.entry(path.as_str()).or_insert(digest);
        }
        map
    }
}

fn decode_file(bytes: &[u8]) -> Result<(String, CasDigest), Undecodable> {
    let mut path = String::new();
    let mut digest = CasDigest {
        hash: String::new(),
        size: 0,
    };
    for field in Fields(bytes) {
        match field? {
            (OUTPUT_FILE_PATH, Value::Bytes(text)) => path = text_of(text)?,
            (OUTPUT_FILE_DIGEST, Value::Bytes(inner)) => digest = decode_digest(inner)?,
            _ => {}
        }
    }
    Ok((path, digest))
}

fn decode_digest(bytes: &[u8]) -> Result<CasDigest, Undecodable> {
    let mut digest = CasDigest {
        hash: String::new(),
        size: 0,
    };
    for field in Fields(bytes) {
        match field? {
            (DIGEST_HASH, Value::Bytes(text)) => digest.hash = text_of(text)?,
            (DIGEST_SIZE, Value::Varint(size)) => digest.size = size,
            _ => {}
        }
    }
    let hex_digits = digest.hash.len() == 64
        && digest
            .hash
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
    if !hex_digits {
        return Err(Undecodable::BadDigest);
    }
    Ok(digest)
}

fn text_of(bytes: &[u8]) -> Result<String, Undecodable> {
    String::from_utf8(bytes.to_vec()).map_err(|_| Undecodable::NotText)
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of a message, in order.
struct Fields<'a>(&'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Value<'a>), Undecodable>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let field = self.field();
        if field.is_err() {
            // Nothing after a malformed field can be read.
            self.0 = &[];
        }
        Some(field)
    }
}

impl<'a> Fields<'a> {
    fn field(&mut self) -> Result<(u64, Value<'a>), Undecodable> {
        let tag = self.varint()?;
        let number = tag >> 3;
        let value = match tag & 7 {
            VARINT => Value::Varint(self.varint()?),
            LENGTH_DELIMITED => {
                let length = usize::try_from(self.varint()?).map_err(|_| Undecodable::Truncated)?;
                Value::Bytes(self.take(length)?)
            }
            FIXED64 => {
                self.take(8)?;
                Value::Fixed
            }
            FIXED32 => {
                self.take(4)?;
                Value::Fixed
            }
            _ => return Err(Undecodable::WireType),
        };
        Ok((number, value))
    }

    fn take(&mut self, length: usize) -> Result<&'a [u8], Undecodable> {
        if length > self.0.len() {
            return Err(Undecodable::Truncated);
        }
        let (taken, rest) = self.0.split_at(length);
        self.0 = rest;
        Ok(taken)
    }

    fn varint(&mut self) -> Result<u64, Undecodable> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.0.split_first().ok_or(Undecodable::Truncated)?;
            self.0 = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Undecodable::Truncated)
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_varint_field(out: &mut Vec<u8>, number: u64, value: u64) {
    if value != 0 {
        put_varint(out, number << 3 | VARINT);
        put_varint(out, value);
    }
}

fn put_bytes(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
    put_varint(out, number << 3 | LENGTH_DELIMITED);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ActionResult {
        ActionResult {
            files: vec![
                (MANIFEST.to_string(), CasDigest::of(b"{}")),
                (format!("{BLOBS}ab"), CasDigest::of(&[7; 300])),
                ("empty".to_string(), CasDigest::of(b"")),
            ],
        }
    }

    #[test]
    fn a_record_decodes_to_what_was_encoded() {
        let record = sample();
        assert_eq!(ActionResult::decode(&record.encode()), Ok(record));
    }

    #[test]
    fn unknown_fields_are_skipped() {
        let mut bytes = Vec::new();
        put_varint_field(&mut bytes, 4, 1); // exit_code
        bytes.extend(sample().encode());
        put_bytes(&mut bytes, 5, b"stdout"); // stdout_raw
        bytes.extend([(7 << 3) | FIXED64 as u8, 1, 2, 3, 4, 5, 6, 7, 8]);
        bytes.extend([(8 << 3) | FIXED32 as u8, 1, 2, 3, 4]);
        assert_eq!(ActionResult::decode(&bytes), Ok(sample()));
    }

    #[test]
    fn garbage_never_panics() {
        let encoded = sample().encode();
        for cut in 0..encoded.len() {
            let _ = ActionResult::decode(&encoded[..cut]);
        }
        let mut state: u32 = 1;
        for _ in 0..2000 {
            let bytes: Vec<u8> = (0..64)
                .map(|_| {
                    state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (state >> 16) as u8
                })
                .collect();
            let _ = ActionResult::decode(&bytes);
        }
        assert_eq!(
            ActionResult::decode(&[0x12, 0x05, 1]),
            Err(Undecodable::Truncated)
        );
        assert_eq!(ActionResult::decode(&[0x0b]), Err(Undecodable::WireType));
        assert_eq!(
            ActionResult::decode(&[0xff; 11]),
            Err(Undecodable::Truncated)
        );
    }

    #[test]
    fn sha256_digests_are_the_standard_ones() {
        assert_eq!(
            CasDigest::of(b"abc").hash,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
