//! Fuzz target: `switchboard_store::fuzzing::stored_record`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard_store::fuzzing::stored_record(data));
