//! Fuzz target: `switchboard_http::fuzzing::access_token`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard_http::fuzzing::access_token(data));
