//! Request signatures as the HTTP layer uses them: Twilio's `X-Twilio-Signature` (HMAC-SHA1 over
//! the URL and the sorted parameters, port-tolerant, `bodySHA256` for JSON bodies) and Meta's
//! `X-Hub-Signature-256`.
//!
//! The code, and its tests against every published vector, live in `switchboard_crypto::webhook`
//! (the crate that owns every keyed hash, shared with the outbox that signs what we send); this
//! module re-exports it under the Twilio conventions.

pub use switchboard_crypto::webhook::{
    compute, meta_signature, validate, validate_json, validate_meta,
};

/// The header Twilio signs requests with.
pub const TWILIO_HEADER: &str = "X-Twilio-Signature";
/// The header Meta (WhatsApp Cloud API, Messenger) signs webhooks with.
pub const META_HEADER: &str = "X-Hub-Signature-256";
