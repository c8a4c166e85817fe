//! Twilio's conventions, independent of any resource: the error shape, form bodies with
//! repeated keys, request signatures, and access tokens.

pub mod error;
pub mod form;
pub mod signature;
pub mod token;
