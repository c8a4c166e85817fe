//! Keys and sealing for Switchboard. The only crate that touches key material or the AEAD.
//!
//! - [`MasterKey`]: the one secret an operator provides (or a development key made on first start).
//!   It never encrypts data itself; it wraps other keys, so rotating it rewrites keys, not events.
//! - [`DataKey`]: a random key per channel (and one for the indexes), stored wrapped.
//! - [`Sealer`]: XChaCha20-Poly1305 with random 192-bit nonces and caller-supplied associated data.
//! - [`IndexKey`]: HMAC-SHA256 for index keys, so lookups work without storing the values.
//! - [`chain_hash`]: SHA-256 over stored bytes, for the tamper-evident chain.
//! - [`webhook`]: Twilio's and Meta's webhook signatures.
//! - [`media_link`]: signatures of time-limited public links to outbound media.
//! - [`heads`]: Ed25519 signatures of anchored heads, under a key derived from the master key.
//! - [`webchat`]: the keys of visitors' tokens and the check of host-signed identities.
//! - [`password`]: console passwords (argon2id) and one-time bearer secrets.

pub mod heads;
mod keys;
pub mod media_link;
pub mod password;
mod seal;
pub mod webchat;
pub mod webhook;

pub use keys::{IndexKey, KeyFingerprint, KeySource, MasterKey};
pub use seal::{
    chain_hash, random_id, DataKey, Sealer, StreamHash, WrappedKey, NONCE_LEN, TAG_LEN,
};

/// What can go wrong with keys and sealed data.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The tag did not verify: wrong key, wrong associated data, or altered bytes.
    #[error("decryption failed: the data was altered, moved, or sealed under another key")]
    Open,
    #[error("a key is 32 bytes, base64-encoded: {0}")]
    KeyFormat(String),
    #[error("wrapped key is malformed")]
    WrappedFormat,
    #[error("key was wrapped by master key {expected}, but master key {given} was given")]
    WrongMasterKey { expected: KeyFingerprint, given: KeyFingerprint },
    #[error("key file {path}: {source}")]
    KeyFile { path: String, source: std::io::Error },
}
