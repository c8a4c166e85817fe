//! Twilio's conventions, independent of any resource: the error shape, form bodies and query
//! strings with repeated keys (and typed forms read from them), list paging, request signatures, access tokens, time formats, and
//! the lengths of what clients send.

pub mod error;
pub mod form;
pub mod lengths;
pub mod paging;
pub mod signature;
pub mod time;
pub mod token;
pub mod typed_form;
