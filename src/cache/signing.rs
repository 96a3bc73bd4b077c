//! Signed entries: an HMAC-SHA256 over an entry's manifest, made with a key the trusted CI jobs
//! share (`RTASK_CACHE_SIGNING_KEY`). When the key is set, an entry from a remote cache or a
//! bundle is restored only if its signature is right, so one written by someone without the
//! key (a pull request's job, a tampered artifact) is never served.
//!
//! The manifest names every blob by its digest, so its signature covers the whole entry.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// The secret entries are signed with. Never printed.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(…)")
    }
}

/// What `RTASK_CACHE_SIGNING_KEY` asks for.
#[derive(Debug, Clone)]
pub enum Signing {
    /// Unset: entries are neither signed nor checked.
    Unset,
    /// Set, but empty (as CI passes a secret a job may not read): as unset, with a warning.
    Empty,
    Key(SigningKey),
}

impl Signing {
    /// The variable's value, if it is set.
    pub fn of(value: Option<&[u8]>) -> Signing {
        match value {
            None => Signing::Unset,
            Some(secret) => SigningKey::new(secret).map_or(Signing::Empty, Signing::Key),
        }
    }

    pub fn key(&self) -> Option<&SigningKey> {
        match self {
            Signing::Key(key) => Some(key),
            Signing::Unset | Signing::Empty => None,
        }
    }
}

/// Why an entry's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SignatureProblem {
    #[error("it is not signed")]
    Missing,
    #[error("its signature is malformed")]
    Malformed,
    #[error("its signature does not match (signed with another key, or altered)")]
    Wrong,
}

impl SigningKey {
    /// A key from its secret; `None` when the secret is empty.
    pub fn new(secret: &[u8]) -> Option<SigningKey> {
        (!secret.is_empty()).then(|| SigningKey(secret.to_vec()))
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length: this cannot fail.
        HmacSha256::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!("HMAC takes any key"))
    }

    /// The signature of a manifest's bytes, as 64 hex digits.
    pub fn sign(&self, manifest: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(manifest);
        crate::digest::hex(&mac.finalize().into_bytes())
    }

    /// Check a manifest's signature (`None`: it came without one), in constant time.
    pub fn verify(&self, manifest: &[u8], signature: Option<&str>) -> Result<(), SignatureProblem> {
        let signature = signature.ok_or(SignatureProblem::Missing)?;
        let bytes = unhex(signature.trim()).ok_or(SignatureProblem::Malformed)?;
        let mut mac = self.mac();
        mac.update(manifest);
        mac.verify_slice(&bytes)
            .map_err(|_| SignatureProblem::Wrong)
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_its_key_and_its_bytes() {
        let key = SigningKey::new(b"secret").unwrap();
        let signature = key.sign(b"manifest");
        assert_eq!(signature.len(), 64);
        assert_eq!(key.verify(b"manifest", Some(&signature)), Ok(()));
        assert_eq!(
            key.verify(b"manifest!", Some(&signature)),
            Err(SignatureProblem::Wrong)
        );
        let other = SigningKey::new(b"other").unwrap();
        assert_eq!(
            other.verify(b"manifest", Some(&signature)),
            Err(SignatureProblem::Wrong)
        );
        assert_eq!(
            key.verify(b"manifest", None),
            Err(SignatureProblem::Missing)
        );
        assert_eq!(
            key.verify(b"manifest", Some("zz")),
            Err(SignatureProblem::Malformed)
        );
    }

    #[test]
    fn the_signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231, test case 2.
        let key = SigningKey::new(b"Jefe").unwrap();
        assert_eq!(
            key.sign(b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn an_empty_secret_is_no_key_and_a_key_never_prints() {
        assert!(SigningKey::new(b"").is_none());
        let key = SigningKey::new(b"hunter2").unwrap();
        assert!(!format!("{key:?}").contains("hunter2"));
    }
}
