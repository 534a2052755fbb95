#![no_main]
//! cargo-fuzz entry for `ferry_fuzz::targets::routes`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_fuzz::targets::routes(data));
