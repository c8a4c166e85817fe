//! Fuzz target: `switchboard_http::fuzzing::list_query`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard_http::fuzzing::list_query(data));
