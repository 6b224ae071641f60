//! The libFuzzer entry point of `checks/parse_response.rs`, where the input's
//! format and what is checked are described.
#![no_main]

#[path = "../checks/parse_response.rs"]
mod parse_response;

libfuzzer_sys::fuzz_target!(|input: &[u8]| parse_response::check(input));
