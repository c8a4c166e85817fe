//! Fuzz target: `switchboard_http::fuzzing::ws_frame`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard_http::fuzzing::ws_frame(data));
