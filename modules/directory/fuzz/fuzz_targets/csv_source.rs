//! The libFuzzer entry point of `checks/csv_source.rs`, where the input's
//! format and what is checked are described.
#![no_main]

#[path = "../checks/common.rs"]
mod common;
#[path = "../checks/csv_source.rs"]
mod csv_source;

libfuzzer_sys::fuzz_target!(|input: &[u8]| csv_source::check(input));
