//! The command line as a user meets it: what `--help` tells, and logs written to a file.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use ferry_tests::{Ferry, ferry_bin};

/// A folder holding one valid API.
fn hello_api() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("api.yaml"),
        "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {name: hello}
spec:
  context: /hello
  resources:
    - methods: [GET]
      inSequence: [{respond: {}}]
",
    )
    .unwrap();
    dir
}

#[test]
fn the_help_names_the_log_filter_variable() {
    for args in [&["--help"][..], &["run", "--help"]] {
        let out = Command::new(ferry_bin())
            .args(args)
            .env_remove("FERRY_LOG")
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {help}");
        // Not FERRY_LOG_FORMAT: the variable itself, as clap shows it.
        assert!(help.contains("[env: FERRY_LOG="), "{args:?}:\n{help}");
    }
}

#[test]
fn logs_written_to_a_file_carry_no_colour_codes() {
    let dir = hello_api();
    // The harness sends ferry's stderr to a file.
    let ferry = Ferry::start(&[dir.path()], &[]);
    let log = ferry.log();
    assert!(log.contains("serving"), "{log}");
    assert!(!log.contains('\u{1b}'), "{log:?}");
}

#[test]
fn an_empty_or_invalid_log_filter_falls_back_to_the_default() {
    let dir = hello_api();
    let ferry = Ferry::start(&[dir.path()], &["--log-filter", ""]);
    assert!(ferry.log().contains("serving"), "{}", ferry.log());
    let ferry = Ferry::start(&[dir.path()], &["--log-filter", "ferry=[[nonsense"]);
    let log = ferry.log();
    assert!(
        log.contains("WARN invalid log filter; using the default"),
        "{log}"
    );
    assert!(log.contains("serving"), "{log}");
}
