//! Signatures of time-limited media links: what lets a provider (Twilio, Meta) fetch an outbound
//! medium without credentials of ours. The link names the medium and its expiry; the signature
//! is HMAC-SHA256 over both under a key derived from a server secret (the auth token), so a
//! link cannot be moved to another medium or kept alive past its expiry.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const DOMAIN: &[u8] = b"switchboard/media-link/v1";

/// The hex signature of a link to `media_sid` that expires at `expires` (Unix seconds).
pub fn sign(secret: &[u8], media_sid: &str, expires: u64) -> String {
    hex::encode(mac(secret, media_sid, expires).finalize().into_bytes())
}

/// Whether `signature` signs (`media_sid`, `expires`) and the link has not expired at `now`.
/// The comparison takes the same time whatever the signature.
pub fn verify(secret: &[u8], media_sid: &str, expires: u64, signature: &str, now: u64) -> bool {
    if now > expires {
        return false;
    }
    let Ok(given) = hex::decode(signature) else { return false };
    mac(secret, media_sid, expires).verify_slice(&given).is_ok()
}

fn mac(secret: &[u8], media_sid: &str, expires: u64) -> HmacSha256 {
    // The signing key is derived, so the secret itself never signs anything a provider sees.
    let mut derive =
        <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    derive.update(DOMAIN);
    let key = derive.finalize().into_bytes();
    let mut mac = <HmacSha256 as Mac>::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(&(media_sid.len() as u64).to_be_bytes());
    mac.update(media_sid.as_bytes());
    mac.update(&expires.to_be_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_verifies_until_it_expires_and_only_for_its_medium() {
        let signature = sign(b"token", "ME1", 1000);
        assert!(verify(b"token", "ME1", 1000, &signature, 999));
        assert!(verify(b"token", "ME1", 1000, &signature, 1000));
        assert!(!verify(b"token", "ME1", 1000, &signature, 1001), "expired");
        assert!(!verify(b"token", "ME2", 1000, &signature, 1), "another medium");
        assert!(!verify(b"token", "ME1", 2000, &signature, 1), "a later expiry");
        assert!(!verify(b"other", "ME1", 1000, &signature, 1), "another secret");
        assert!(!verify(b"token", "ME1", 1000, "zz", 1), "not hex");
        assert!(!verify(b"token", "ME1", 1000, &signature[..10], 1), "cut short");
    }
}
