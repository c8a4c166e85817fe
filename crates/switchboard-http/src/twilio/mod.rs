//! Twilio's conventions, independent of any resource: the error shape, form bodies with
//! repeated keys, request signatures, and access tokens.

pub mod error;
pub mod form;
pub mod token;

/// Signatures are crypto; they live in `switchboard-crypto`, shared with the outbox.
pub use switchboard_crypto::webhook as signature;
