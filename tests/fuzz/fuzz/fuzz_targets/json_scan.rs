#![no_main]
//! cargo-fuzz entry for `ferry_fuzz::targets::json_scan`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_fuzz::targets::json_scan(data));
