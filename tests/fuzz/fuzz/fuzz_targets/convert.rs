#![no_main]
//! cargo-fuzz entry for `ferry_fuzz::targets::convert`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_fuzz::targets::convert(data));
