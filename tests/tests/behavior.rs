//! Runs every data-driven behaviour file in `tests/behavior/` against the built binary.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use ferry_tests::behavior;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_behaviour_file_passes() {
    let files = behavior::files();
    assert!(!files.is_empty(), "no behaviour files found");
    let mut failures = Vec::new();
    for file in &files {
        failures.extend(behavior::run_file(file).await);
    }
    assert!(
        failures.is_empty(),
        "{} behaviour case(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
