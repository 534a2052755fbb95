//! File endpoints, black box: an API whose `call` writes the payload to a file through a
//! typed `file` endpoint (overwrite, create, append; the file name from an expression) and
//! through MI's `vfs:file://` addresses; a file name that tries to leave the directory is a
//! fault; bad settings are refused by `ferry validate`.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use ferry_tests::files::{file_api, names, post_file};
use ferry_tests::{Ferry, assert_contains_all, validate_fails, write_config};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_are_written_overwritten_and_appended_by_file_name_expression() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let endpoint = format!(
        "              file:
                directory: {}
                fileName: 'order-${{payload.id}}.json'",
        out.display()
    );
    write_config(dir.path(), &file_api(&endpoint));
    let ferry = Ferry::start(&[dir.path()], &[]);
    let (status, body) = post_file(&ferry, json!({"id": 7, "v": 1})).await;
    assert_eq!(status, 200, "{body} {}", ferry.log());
    assert_eq!(
        body,
        json!({"id": 7, "v": 1}),
        "the message goes on unchanged"
    );
    let (status, _) = post_file(&ferry, json!({"id": 7, "v": 2})).await;
    assert_eq!(status, 200);
    let (status, _) = post_file(&ferry, json!({"id": 8, "v": 1})).await;
    assert_eq!(status, 200);
    assert_eq!(
        names(&out),
        ["order-7.json", "order-8.json"],
        "no temporary files left"
    );
    let seven: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("order-7.json")).unwrap()).unwrap();
    assert_eq!(seven, json!({"id": 7, "v": 2}), "overwritten");

    // A name that would leave the directory: a fault, nothing written.
    let (status, body) = post_file(&ferry, json!({"id": "../escape"})).await;
    assert_eq!(status, 503);
    assert_eq!(body["code"], "101500", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("is not a file name"),
        "{body}"
    );
    assert!(!dir.path().join("escape.json").exists());
    assert_eq!(names(&out).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_refuses_an_existing_file_and_append_adds_lines() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let endpoint = format!(
        "              file: {{directory: {}, fileName: 'once-${{payload.id}}.json', mode: create}}",
        out.display()
    );
    write_config(dir.path(), &file_api(&endpoint));
    let ferry = Ferry::start(&[dir.path()], &[]);
    assert_eq!(post_file(&ferry, json!({"id": 1})).await.0, 200);
    let (status, body) = post_file(&ferry, json!({"id": 1, "again": true})).await;
    assert_eq!(status, 503);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("the file exists"),
        "{body}"
    );
    let kept: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("once-1.json")).unwrap()).unwrap();
    assert_eq!(kept, json!({"id": 1}), "the first file is kept");
    assert_eq!(names(&out), ["once-1.json"]);
    drop(ferry);

    let endpoint = format!(
        "              file: {{directory: {}, fileName: log.jsonl, mode: append, appendNewline: true}}",
        out.display()
    );
    write_config(dir.path(), &file_api(&endpoint));
    let ferry = Ferry::start(&[dir.path()], &[]);
    for n in 0..3 {
        assert_eq!(post_file(&ferry, json!({"n": n})).await.0, 200);
    }
    let text = std::fs::read_to_string(out.join("log.jsonl")).unwrap();
    assert_eq!(text, "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mi_vfs_addresses_write_a_named_file_or_the_reply_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("vfs");
    // A directory address: the name comes from transport.vfs.ReplyFileName.
    let endpoint = format!(
        "              address: {{uri: 'vfs:file://{}/'}}",
        out.display()
    );
    write_config(dir.path(), &file_api(&endpoint));
    let ferry = Ferry::start(&[dir.path()], &[]);
    let (status, body) = post_file(&ferry, json!({"reply": "r.json", "x": 1})).await;
    assert_eq!(status, 200, "{body}");
    assert!(out.join("r.json").exists());
    // No name at all: a fault that says what to set.
    let (status, body) = post_file(&ferry, json!({"x": 2})).await;
    assert_eq!(status, 503);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("transport.vfs.ReplyFileName"),
        "{body}"
    );
    drop(ferry);

    // A file address with MI's append parameter.
    let endpoint = format!(
        "              address: {{uri: 'vfs:file://{}/all.log?transport.vfs.Append=true'}}",
        out.display()
    );
    write_config(dir.path(), &file_api(&endpoint));
    let ferry = Ferry::start(&[dir.path()], &[]);
    for n in 0..2 {
        assert_eq!(post_file(&ferry, json!({"n": n})).await.0, 200);
    }
    assert_eq!(
        std::fs::read_to_string(out.join("all.log")).unwrap(),
        "{\"n\":0}{\"n\":1}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_takes_a_file_to_another_directory_and_keeps_an_existing_one() {
    let dir = tempfile::tempdir().unwrap();
    let (inbox, archive) = (dir.path().join("in"), dir.path().join("archive/2026/12"));
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("a.csv"), "one").unwrap();
    std::fs::write(inbox.join("b.csv"), "two").unwrap();
    let endpoint = format!(
        "              file: {{mode: move, sourceDirectory: {}, sourceFileName: '${{payload.name}}', directory: {}, fileName: 'done-${{payload.name}}'}}",
        inbox.display(),
        archive.display()
    );
    write_config(dir.path(), &file_api(&endpoint));
    let ferry = Ferry::start(&[dir.path()], &[]);
    let (status, body) = post_file(&ferry, json!({"name": "a.csv"})).await;
    assert_eq!(status, 200, "{body} {}", ferry.log());
    assert_eq!(
        body,
        json!({"name": "a.csv"}),
        "the message goes on unchanged"
    );
    assert_eq!(names(&archive), ["done-a.csv"], "parent directories made");
    assert_eq!(
        std::fs::read_to_string(archive.join("done-a.csv")).unwrap(),
        "one"
    );
    assert_eq!(names(&inbox), ["b.csv"]);

    // The destination exists: refused, both files kept.
    std::fs::write(inbox.join("a.csv"), "newer").unwrap();
    let (status, body) = post_file(&ferry, json!({"name": "a.csv"})).await;
    assert_eq!(status, 503);
    assert_eq!(body["code"], "101500", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("destination exists"),
        "{body}"
    );
    assert_eq!(
        std::fs::read_to_string(archive.join("done-a.csv")).unwrap(),
        "one"
    );
    assert_eq!(
        std::fs::read_to_string(inbox.join("a.csv")).unwrap(),
        "newer"
    );

    // A missing source and a name leaving the directory: faults.
    let (status, body) = post_file(&ferry, json!({"name": "nope.csv"})).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("nope.csv"),
        "{body}"
    );
    let (status, body) = post_file(&ferry, json!({"name": "../x"})).await;
    assert_eq!(status, 503);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("is not a file name"),
        "{body}"
    );
    drop(ferry);

    // replaceExisting: the newer file replaces the archived one.
    let endpoint = format!(
        "              file: {{mode: move, sourceDirectory: {}, sourceFileName: '${{payload.name}}', directory: {}, fileName: 'done-${{payload.name}}', replaceExisting: true, createDirectory: false}}",
        inbox.display(),
        archive.display()
    );
    write_config(dir.path(), &file_api(&endpoint));
    let ferry = Ferry::start(&[dir.path()], &[]);
    let (status, body) = post_file(&ferry, json!({"name": "a.csv"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        std::fs::read_to_string(archive.join("done-a.csv")).unwrap(),
        "newer"
    );
    assert_eq!(names(&inbox), ["b.csv"]);
}

#[test]
fn validate_refuses_bad_file_endpoints_with_located_messages() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: bad-file
spec:
  file: {directory: out, fileName: '../x', appendNewline: true}
  timeout: {duration: 10}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: bad-vfs
spec:
  address: {uri: 'vfs:sftp://host/in?transport.vfs.Append=true'}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: bad-param
spec:
  address: {uri: 'vfs:file:///tmp/x.txt?transport.vfs.Locking=true'}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: bad-move
spec:
  file: {directory: out, fileName: x, mode: move, appendNewline: true}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: bad-overwrite
spec:
  file: {directory: out, fileName: x, replaceExisting: true}
",
    );
    let text = validate_fails(&[dir.path()]);
    assert_contains_all(
        &text,
        &[
            "Endpoint/bad-file spec.file.fileName: \"../x\" is not a file name",
            "spec.file.appendNewline: appendNewline goes with mode: append",
            "Endpoint/bad-file spec.timeout: timeout is not supported on a file endpoint",
            "Endpoint/bad-vfs spec.address.uri: the address names no user",
            "Endpoint/bad-move spec.file.sourceDirectory: mode move needs sourceDirectory",
            "Endpoint/bad-move spec.file.appendNewline: appendNewline goes with mode: append",
            "Endpoint/bad-overwrite spec.file.replaceExisting: replaceExisting goes with mode: move",
            "Endpoint/bad-param spec.address.uri: unknown parameter \"transport.vfs.Locking\"",
        ],
    );
}
