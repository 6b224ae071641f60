//! The libFuzzer entry point of `checks/authorize_request.rs`, where the input's
//! format and what is checked are described.
#![no_main]

#[path = "../checks/authorize_request.rs"]
mod authorize_request;

libfuzzer_sys::fuzz_target!(|input: &[u8]| authorize_request::check(input));
