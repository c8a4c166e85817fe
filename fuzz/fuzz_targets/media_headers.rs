//! Fuzz target: `switchboard_http::fuzzing::media_headers`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard_http::fuzzing::media_headers(data));
