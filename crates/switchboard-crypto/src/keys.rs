//! The master key, its fingerprint, and the keyed hash used for indexes.
//!
//! Key bytes are zeroed when dropped and never printed: `Debug` shows only the fingerprint.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::CryptoError;

type HmacSha256 = Hmac<Sha256>;

/// The first 8 bytes of a keyed hash of a master key: names a key without revealing it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyFingerprint(pub [u8; 8]);

impl fmt::Display for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyFingerprint({self})")
    }
}

/// Where the master key came from, so the daemon can warn about development keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    File(String),
    /// Generated on this start into the data folder: fine for development, not for production.
    GeneratedDevelopmentKey(String),
}

/// The operator's root secret. It only wraps and unwraps other keys.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.fingerprint())
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        MasterKey(bytes)
    }

    pub fn generate() -> MasterKey {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        MasterKey(bytes)
    }

    /// Parses base64 of exactly 32 bytes; surrounding white space is ignored.
    pub fn from_base64(text: &str) -> Result<MasterKey, CryptoError> {
        let mut decoded = BASE64
            .decode(text.trim())
            .map_err(|e| CryptoError::KeyFormat(format!("not base64 ({e})")))?;
        if decoded.len() != 32 {
            let len = decoded.len();
            decoded.zeroize();
            return Err(CryptoError::KeyFormat(format!("decoded to {len} bytes")));
        }
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&decoded);
        decoded.zeroize();
        Ok(MasterKey(bytes))
    }

    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    pub fn fingerprint(&self) -> KeyFingerprint {
        let digest = hmac_parts(&self.0, &[b"switchboard master key fingerprint v1"]);
        let mut out = [0u8; 8];
        out.copy_from_slice(&digest[..8]);
        KeyFingerprint(out)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn load(path: &Path) -> Result<MasterKey, CryptoError> {
        let text = fs::read_to_string(path)
            .map_err(|source| CryptoError::KeyFile { path: path.display().to_string(), source })?;
        MasterKey::from_base64(&text)
    }

    /// Writes the key as base64 to a new file readable by its owner only; never overwrites.
    pub fn save_new(&self, path: &Path) -> Result<(), CryptoError> {
        let err = |source| CryptoError::KeyFile { path: path.display().to_string(), source };
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(err)?;
        let mut text = self.to_base64();
        text.push('\n');
        let written = file.write_all(text.as_bytes()).and_then(|()| file.sync_all());
        text.zeroize();
        written.map_err(err)
    }

    /// Loads the key at `path`, or creates it there when it does not exist yet.
    /// Returns the key and whether it was created now.
    pub fn load_or_create(path: &Path) -> Result<(MasterKey, bool), CryptoError> {
        if path.exists() {
            return Ok((MasterKey::load(path)?, false));
        }
        let key = MasterKey::generate();
        key.save_new(path)?;
        Ok((key, true))
    }
}

/// The secret behind index keys: HMAC-SHA256 of the lookup's parts.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct IndexKey([u8; 32]);

impl fmt::Debug for IndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IndexKey(..)")
    }
}

impl IndexKey {
    pub fn from_bytes(bytes: [u8; 32]) -> IndexKey {
        IndexKey(bytes)
    }

    /// A keyed hash of `parts`. Each part is length-prefixed, so ("ab","c") and ("a","bc") differ.
    pub fn digest(&self, parts: &[&[u8]]) -> [u8; 32] {
        hmac_parts(&self.0, parts)
    }
}

pub(crate) fn hmac_parts(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip_and_errors() {
        let key = MasterKey::generate();
        let back = MasterKey::from_base64(&format!("  {}\n", key.to_base64())).unwrap();
        assert_eq!(back.fingerprint(), key.fingerprint());
        assert!(MasterKey::from_base64("not base64!").is_err());
        assert!(MasterKey::from_base64(&BASE64.encode([1u8; 16])).is_err());
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let key = MasterKey::from_bytes([0xab; 32]);
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.to_base64()));
        assert!(!shown.to_lowercase().contains("abab"));
    }

    #[test]
    fn key_file_is_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let (first, created) = MasterKey::load_or_create(&path).unwrap();
        assert!(created);
        let (again, created) = MasterKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(first.fingerprint(), again.fingerprint());
        assert!(MasterKey::generate().save_new(&path).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn index_digest_separates_parts() {
        let key = IndexKey::from_bytes([7; 32]);
        assert_ne!(key.digest(&[b"ab", b"c"]), key.digest(&[b"a", b"bc"]));
        assert_ne!(key.digest(&[b"x"]), IndexKey::from_bytes([8; 32]).digest(&[b"x"]));
    }
}
