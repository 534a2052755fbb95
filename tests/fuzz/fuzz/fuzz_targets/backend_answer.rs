#![no_main]
//! cargo-fuzz entry for `ferry_fuzz::targets::backend_answer`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_fuzz::targets::backend_answer(data));
