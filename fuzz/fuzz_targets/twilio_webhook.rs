//! Fuzz target: `switchboard_http::fuzzing::twilio_webhook`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard_http::fuzzing::twilio_webhook(data));
