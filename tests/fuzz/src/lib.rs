//! Fuzz targets as plain functions over bytes.
//!
//! Each function in [`targets`] is one fuzz target's whole logic: the libFuzzer binaries in
//! `fuzz/` (cargo-fuzz, nightly flags) only forward their input to it, and
//! `tests/corpus.rs` replays every saved input through it on stable, so a crash once found
//! and fixed stays fixed in `make test` without libFuzzer.

pub mod targets;
