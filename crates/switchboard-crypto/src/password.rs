//! Console passwords: hashed with argon2id (RustCrypto's `argon2`, its default parameters, the
//! ones OWASP recommends: 19 MiB, 2 passes, one lane) into a PHC string that carries its salt and
//! parameters, so stronger parameters later still verify old hashes. Also the one-time secrets
//! (session tokens, set-password links): random, and stored only as their SHA-256.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The shortest password a person may choose.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest: hashing is bounded by what a stranger may send.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The PHC string of `password` under a fresh salt.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2id with default parameters hashes any password of bounded length")
        .to_string()
}

/// Whether `password` is the one `phc` was made from. A malformed stored hash matches nothing.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
}

/// Spends the time a verification takes, for an account that does not exist, so that the
/// answer's timing does not say which names are accounts.
pub fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("not a password of anyone"));
    let _ = verify_password(password, dummy);
}

/// Why a new password is refused.
pub fn password_problem(password: &str) -> Option<String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Some(format!("a password has at least {MIN_PASSWORD_CHARS} characters"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Some(format!("a password has at most {MAX_PASSWORD_BYTES} bytes"));
    }
    None
}

/// A fresh secret for a bearer (a session cookie, a set-password link): 32 random bytes, hex.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What is stored of a bearer secret: its SHA-256, hex (the secret has 256 bits, so no salt or
/// slow hash is needed).
pub fn secret_digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only_and_is_argon2id() {
        let phc = hash_password("correct horse battery");
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify_password("correct horse battery", &phc));
        assert!(!verify_password("correct horse batterY", &phc));
        assert!(!verify_password("correct horse battery", "not a hash"));
        assert_ne!(phc, hash_password("correct horse battery"), "salted");
    }

    #[test]
    fn short_and_huge_passwords_are_refused() {
        assert!(password_problem("short").is_some());
        assert!(password_problem(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_some());
        assert!(password_problem("long enough pw").is_none());
    }

    #[test]
    fn secrets_are_fresh_and_stored_as_digests() {
        let (a, b) = (random_secret(), random_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(secret_digest(&a), secret_digest(&a));
        assert_ne!(secret_digest(&a), a);
    }
}
