//! Signatures of anchored heads: Ed25519 under a key derived from the master key. A digest of
//! every stream's head, signed and shipped off the machine, later proves that the log still holds
//! what it covered; the signature says which folder's key made it, and anyone checks it with the
//! public key alone (no secret is needed to audit).

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::keys::hmac_parts;
use crate::MasterKey;

const CONTEXT: &[u8] = b"switchboard heads signing key v1";

/// The public key that checks the heads `master` signs.
pub fn public_key(master: &MasterKey) -> [u8; 32] {
    signing_key(master).verifying_key().to_bytes()
}

/// Signs the digest of a heads document; returns the public key and the signature.
pub fn sign(master: &MasterKey, digest: &[u8; 32]) -> ([u8; 32], [u8; 64]) {
    let key = signing_key(master);
    (key.verifying_key().to_bytes(), key.sign(digest).to_bytes())
}

/// Whether `signature` is `public_key`'s over `digest` (strict: no malleable encodings).
pub fn verify(public_key: &[u8; 32], digest: &[u8; 32], signature: &[u8; 64]) -> bool {
    VerifyingKey::from_bytes(public_key)
        .is_ok_and(|key| key.verify_strict(digest, &Signature::from_bytes(signature)).is_ok())
}

fn signing_key(master: &MasterKey) -> SigningKey {
    SigningKey::from_bytes(&hmac_parts(master.bytes(), &[CONTEXT]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_checks_with_its_public_key_only() {
        let master = MasterKey::generate();
        let digest = [7u8; 32];
        let (public, signature) = sign(&master, &digest);
        assert_eq!(public, public_key(&master), "the same key every time");
        assert!(verify(&public, &digest, &signature));
        assert!(!verify(&public, &[8u8; 32], &signature), "another digest");
        assert!(!verify(&public_key(&MasterKey::generate()), &digest, &signature), "another key");
        let mut forged = signature;
        forged[5] ^= 1;
        assert!(!verify(&public, &digest, &forged));
    }
}
