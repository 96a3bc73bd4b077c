//! Cache bundles: a zstd-compressed tar file holding some entries of a store, to carry them to
//! another machine without a server (`rtask cache export` and `rtask cache import`).
//!
//! ```text
//! index.json              format, rtask version, and each entry: session, key, signature
//! manifests/<n>.json      the manifest of the index's entry n, byte for byte as stored
//! blobs/<64 hex>          each blob the manifests name, once
//! ```
//!
//! The index and every manifest come before the blobs, so an import checks each entry before it
//! reads any blob, and reads only the blobs of the entries it takes, each bounded by the size
//! its manifest gives. Nothing in a bundle is ever unpacked as a path: an import routes the
//! members it knows by name into the store and ignores every other one.

pub(crate) mod export;
pub(crate) mod import;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// Bumped when the layout of a bundle changes; an import refuses other formats.
pub(crate) const BUNDLE_FORMAT: u32 = 1;

const INDEX: &str = "index.json";
const MANIFESTS: &str = "manifests/";
const BLOBS: &str = "blobs/";

/// The first member of a bundle.
#[derive(Debug, Serialize, Deserialize)]
struct Index {
    format: u32,
    rtask_version: String,
    entries: Vec<IndexEntry>,
}

/// One entry of a bundle; its manifest is `manifests/<position>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IndexEntry {
    session: String,
    key: Digest,
    /// The HMAC of the manifest's bytes, when the exporting rtask had a signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
}

/// Just the format of an index, read before the rest so that another format is named as such.
#[derive(Deserialize)]
struct IndexFormat {
    format: u32,
}

fn manifest_name(position: usize) -> String {
    format!("{MANIFESTS}{position}.json")
}

fn blob_name(hash: &Digest) -> String {
    format!("{BLOBS}{hash}")
}

/// What a bundle's member is, by its name: only names an export writes are known.
#[derive(Debug, PartialEq, Eq)]
enum Member {
    Index,
    Manifest(usize),
    Blob(Digest),
    /// Anything else: ignored.
    Unknown,
}

impl Member {
    fn of(name: &[u8]) -> Member {
        let Ok(name) = std::str::from_utf8(name) else {
            return Member::Unknown;
        };
        if name == INDEX {
            return Member::Index;
        }
        if let Some(position) = name
            .strip_prefix(MANIFESTS)
            .and_then(|rest| rest.strip_suffix(".json"))
            .and_then(|digits| digits.parse::<usize>().ok())
            .filter(|&position| manifest_name(position) == name)
        {
            return Member::Manifest(position);
        }
        if let Some(hash) = name
            .strip_prefix(BLOBS)
            .and_then(|hex| Digest::try_from(hex.to_string()).ok())
        {
            return Member::Blob(hash);
        }
        Member::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_names_an_export_writes_are_members() {
        let hash = Digest::of_bytes(b"x");
        assert_eq!(Member::of(b"index.json"), Member::Index);
        assert_eq!(Member::of(b"manifests/12.json"), Member::Manifest(12));
        assert_eq!(Member::of(blob_name(&hash).as_bytes()), Member::Blob(hash));
        for odd in [
            &b"./index.json"[..],
            b"/index.json",
            b"manifests/012.json",
            b"manifests/+1.json",
            b"manifests/../1.json",
            b"blobs/../../etc/passwd",
            b"blobs/ABC",
            b"\xff",
        ] {
            assert_eq!(Member::of(odd), Member::Unknown, "{odd:?}");
        }
        let upper = blob_name(&hash).to_uppercase().replace("BLOBS", "blobs");
        assert_eq!(Member::of(upper.as_bytes()), Member::Unknown);
    }
}
