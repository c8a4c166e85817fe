//! The webchat's keys and signatures: the key that signs visitors' access tokens, the one that
//! signs their refresh tokens (both derived from a server secret, the auth token, so neither is
//! the secret itself and neither can sign for the other), and the check of an identity a host's
//! backend signed with its flow's identity secret (Intercom's `user_hash`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn derive(secret: &[u8], label: &[u8]) -> [u8; 32] {
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

/// The key that signs visitors' access tokens: (its id, 16 bytes for an `SK` SID; its secret, hex).
pub fn token_key(secret: &[u8]) -> ([u8; 16], String) {
    let id = derive(secret, b"switchboard/webchat/token-key-id/v1");
    let mut key_id = [0; 16];
    key_id.copy_from_slice(&id[..16]);
    (key_id, hex::encode(derive(secret, b"switchboard/webchat/token-key/v1")))
}

/// The hex signature of a refresh token's payload.
pub fn sign_refresh(secret: &[u8], payload: &str) -> String {
    hex::encode(refresh_mac(secret, payload).finalize().into_bytes())
}

/// Whether `signature` signs `payload` as a refresh token; in constant time.
pub fn verify_refresh(secret: &[u8], payload: &str, signature: &str) -> bool {
    let Ok(given) = hex::decode(signature) else { return false };
    refresh_mac(secret, payload).verify_slice(&given).is_ok()
}

fn refresh_mac(secret: &[u8], payload: &str) -> HmacSha256 {
    let key = derive(secret, b"switchboard/webchat/refresh/v1");
    let mut mac = <HmacSha256 as Mac>::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(payload.as_bytes());
    mac
}

/// Whether `hash` is the hex HMAC-SHA256 of `identity` under the flow's identity secret, as a
/// host's backend computes it (`hmac(secret, identity)`); in constant time.
pub fn identity_matches(identity_secret: &[u8], identity: &str, hash: &str) -> bool {
    let Ok(given) = hex::decode(hash.trim()) else { return false };
    let mut mac = <HmacSha256 as Mac>::new_from_slice(identity_secret)
        .expect("HMAC takes keys of any length");
    mac.update(identity.as_bytes());
    mac.verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_differ_by_purpose_and_secret() {
        let (id, key) = token_key(b"auth-token");
        let (other_id, other_key) = token_key(b"another");
        assert_ne!((id, &key), (other_id, &other_key));
        assert_eq!(token_key(b"auth-token"), (id, key.clone()), "stable across restarts");
        assert_ne!(key, hex::encode(b"auth-token"));
        let signature = sign_refresh(b"auth-token", "payload");
        assert_ne!(signature, key, "the refresh key is not the token key");
        assert!(verify_refresh(b"auth-token", "payload", &signature));
        assert!(!verify_refresh(b"auth-token", "payloaD", &signature));
        assert!(!verify_refresh(b"another", "payload", &signature));
        assert!(!verify_refresh(b"auth-token", "payload", "zz"));
    }

    #[test]
    fn a_host_signed_identity_is_checked() {
        // What a host's backend computes: HMAC-SHA256(secret, identity), hex.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(b"flow-secret").unwrap();
        mac.update(b"customer-42");
        let hash = hex::encode(mac.finalize().into_bytes());
        assert!(identity_matches(b"flow-secret", "customer-42", &hash));
        assert!(!identity_matches(b"flow-secret", "customer-43", &hash));
        assert!(!identity_matches(b"other", "customer-42", &hash));
        assert!(!identity_matches(b"flow-secret", "customer-42", "not hex"));
    }
}
