#![no_main]
//! cargo-fuzz entry for `ferry_fuzz::targets::http_head`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_fuzz::targets::http_head(data));
