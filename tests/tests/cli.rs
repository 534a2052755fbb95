//! The command line as a user meets it: what `--help` tells, output into a pipe that closes
//! early, and logs written to a file.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

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
fn crds_into_a_pipe_closed_after_one_line_exits_quietly() {
    let mut child = Command::new(ferry_bin())
        .arg("crds")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader (and the pipe) is gone here, as after `ferry crds | head -1`.
    assert_eq!(first, "---\n");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(status.success(), "{status}: {stderr}");
}

#[test]
fn crds_writes_more_than_a_pipe_holds() {
    // What makes the test above meaningful: a write into the closed pipe happens only when
    // the output outgrows the pipe's buffer (64 KiB on Linux) plus the reader's (8 KiB).
    let out = Command::new(ferry_bin()).arg("crds").output().unwrap();
    assert!(out.status.success());
    assert!(out.stdout.len() > 128 * 1024, "{} bytes", out.stdout.len());
}

#[test]
fn validate_into_a_closed_pipe_exits_quietly_with_its_verdict() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "kind: [unclosed").unwrap();
    let mut child = Command::new(ferry_bin())
        .arg("validate")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Closed before ferry writes: its first write meets a pipe without a reader.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
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
