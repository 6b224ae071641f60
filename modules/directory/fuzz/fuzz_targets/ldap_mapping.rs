//! The libFuzzer entry point of `checks/ldap_mapping.rs`, where the input's
//! format and what is checked are described.
#![no_main]

#[path = "../checks/common.rs"]
mod common;
#[path = "../checks/ldap_mapping.rs"]
mod ldap_mapping;

libfuzzer_sys::fuzz_target!(|input: &[u8]| ldap_mapping::check(input));
