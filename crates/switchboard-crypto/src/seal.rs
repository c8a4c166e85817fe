//! Sealing with XChaCha20-Poly1305, wrapped data keys, and the chain hash.
//!
//! Nonces are 192 random bits per seal. With random nonces that size, a key can seal far more
//! records than any channel will ever hold before a collision is a concern, and no nonce counter
//! has to survive a crash. The associated data is the caller's: the store binds each record to its
//! place in the log with it, so a record copied elsewhere does not open.

use std::fmt;

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{CryptoError, KeyFingerprint, MasterKey};

/// Bytes of nonce in front of every sealed value.
pub const NONCE_LEN: usize = 24;
/// Bytes of authentication tag at the end of every sealed value.
pub const TAG_LEN: usize = 16;

/// 16 bytes from the operating system's random source: identifiers that must never repeat
/// (a data folder's), not keys.
pub fn random_id() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// SHA-256 over bytes that arrive in parts (a backup stream).
#[derive(Clone, Default)]
pub struct StreamHash(Sha256);

impl fmt::Debug for StreamHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StreamHash")
    }
}

impl StreamHash {
    pub fn new() -> StreamHash {
        StreamHash::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// SHA-256 of stored bytes: what each record carries of its predecessor.
pub fn chain_hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A random 256-bit key that encrypts one channel's records (or the index secret).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; 32]);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    pub fn generate() -> DataKey {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        DataKey(bytes)
    }

    pub fn sealer(&self) -> Sealer {
        Sealer { cipher: XChaCha20Poly1305::new((&self.0).into()) }
    }

    /// The key's bytes as an HMAC secret, for the index key.
    pub fn to_index_key(&self) -> crate::IndexKey {
        crate::IndexKey::from_bytes(self.0)
    }
}

/// An initialised cipher for one key. Cheap to use, worth caching per channel.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// Appends `nonce ‖ ciphertext ‖ tag` of `plaintext` to `out`.
    pub fn seal_into(&self, associated_data: &[u8], plaintext: &[u8], out: &mut Vec<u8>) {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        out.reserve(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        let start = out.len();
        out.extend_from_slice(plaintext);
        let tag = self
            .cipher
            .encrypt_in_place_detached(
                XNonce::from_slice(&nonce),
                associated_data,
                &mut out[start..],
            )
            .expect("XChaCha20-Poly1305 seals any length a Vec can hold");
        out.extend_from_slice(&tag);
    }

    /// Opens what [`Sealer::seal_into`] produced, checking the tag against `associated_data`.
    pub fn open(&self, associated_data: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut plaintext = ciphertext.to_vec();
        self.cipher
            .decrypt_in_place_detached(
                XNonce::from_slice(nonce),
                associated_data,
                &mut plaintext,
                Tag::from_slice(tag),
            )
            .map_err(|_| CryptoError::Open)?;
        Ok(plaintext)
    }
}

/// A data key sealed under a master key, as stored: `fingerprint ‖ nonce ‖ ciphertext ‖ tag`.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    pub master: KeyFingerprint,
    sealed: Vec<u8>,
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WrappedKey(master {})", self.master)
    }
}

const WRAP_DOMAIN: &[u8] = b"switchboard/wrapped-key/v1";
const WRAPPED_LEN: usize = 8 + NONCE_LEN + 32 + TAG_LEN;

impl WrappedKey {
    /// Seals `key` under `master`. `context` names where the key belongs (its channel and key id),
    /// so a wrapped key copied to another channel does not unwrap there.
    pub fn wrap(master: &MasterKey, key: &DataKey, context: &[u8]) -> WrappedKey {
        let sealer = DataKey(*master.bytes()).sealer();
        let mut sealed = Vec::with_capacity(WRAPPED_LEN - 8);
        sealer.seal_into(&wrap_aad(context), &key.0, &mut sealed);
        WrappedKey { master: master.fingerprint(), sealed }
    }

    pub fn unwrap(&self, master: &MasterKey, context: &[u8]) -> Result<DataKey, CryptoError> {
        let given = master.fingerprint();
        if given != self.master {
            return Err(CryptoError::WrongMasterKey { expected: self.master, given });
        }
        let sealer = DataKey(*master.bytes()).sealer();
        let mut plain = sealer.open(&wrap_aad(context), &self.sealed)?;
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&plain);
        plain.zeroize();
        Ok(DataKey(bytes))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(WRAPPED_LEN);
        out.extend_from_slice(&self.master.0);
        out.extend_from_slice(&self.sealed);
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<WrappedKey, CryptoError> {
        if bytes.len() != WRAPPED_LEN {
            return Err(CryptoError::WrappedFormat);
        }
        let mut master = [0u8; 8];
        master.copy_from_slice(&bytes[..8]);
        Ok(WrappedKey { master: KeyFingerprint(master), sealed: bytes[8..].to_vec() })
    }
}

fn wrap_aad(context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(WRAP_DOMAIN.len() + context.len());
    aad.extend_from_slice(WRAP_DOMAIN);
    aad.extend_from_slice(context);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip() {
        let sealer = DataKey::generate().sealer();
        let mut sealed = b"prefix".to_vec();
        sealer.seal_into(b"aad", b"hello", &mut sealed);
        assert_eq!(&sealed[..6], b"prefix");
        assert_eq!(sealed.len(), 6 + NONCE_LEN + 5 + TAG_LEN);
        assert_eq!(sealer.open(b"aad", &sealed[6..]).unwrap(), b"hello");
    }

    #[test]
    fn every_flipped_byte_or_other_aad_fails() {
        let sealer = DataKey::generate().sealer();
        let mut sealed = Vec::new();
        sealer.seal_into(b"place-1", b"the message", &mut sealed);
        assert!(sealer.open(b"place-2", &sealed).is_err());
        for i in 0..sealed.len() {
            let mut altered = sealed.clone();
            altered[i] ^= 0x01;
            assert!(sealer.open(b"place-1", &altered).is_err(), "flip at {i} went unnoticed");
        }
        assert!(DataKey::generate().sealer().open(b"place-1", &sealed).is_err());
        assert!(sealer.open(b"place-1", &sealed[..10]).is_err());
    }

    #[test]
    fn wrapped_keys_need_the_right_master_and_context() {
        let master = MasterKey::generate();
        let key = DataKey::generate();
        let wrapped = WrappedKey::wrap(&master, &key, b"channel-1");
        let stored = WrappedKey::from_bytes(&wrapped.to_bytes()).unwrap();
        let back = stored.unwrap(&master, b"channel-1").unwrap();
        let mut probe = Vec::new();
        key.sealer().seal_into(b"", b"x", &mut probe);
        assert_eq!(back.sealer().open(b"", &probe).unwrap(), b"x");
        assert!(stored.unwrap(&master, b"channel-2").is_err());
        assert!(matches!(
            stored.unwrap(&MasterKey::generate(), b"channel-1"),
            Err(CryptoError::WrongMasterKey { .. })
        ));
    }

    #[test]
    fn chain_hash_is_sha256() {
        assert_eq!(
            chain_hash(b"abc")[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "SHA-256(abc) starts ba7816bf"
        );
    }
}
