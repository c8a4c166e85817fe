//! Twilio's conventions, independent of any resource: the error shape, form bodies and query
//! strings with repeated keys, list paging, request signatures, access tokens, and time formats.

pub mod error;
pub mod form;
pub mod paging;
pub mod signature;
pub mod time;
pub mod token;
