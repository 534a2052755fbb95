#![no_main]
//! cargo-fuzz entry for `ferry_fuzz::targets::bundle_check`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_fuzz::targets::bundle_check(data));
