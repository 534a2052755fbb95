//! Remote files, black box, against real servers on 127.0.0.1 started by each test: Debian's
//! OpenSSH server for SFTP and pyftpdlib for FTP and FTPS (`ferry_tests::file_servers`).
//! A file inbound endpoint polls a remote folder (pattern, part files and files still
//! growing left alone, CSV records streamed, move or delete after, move after a failure);
//! file endpoints write, append and move on the server, through typed `server` blocks and
//! MI's `vfs:sftp://` / `vfs:ftp://` addresses; a wrong host key is refused.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use ferry_tests::backend::Reply;
use ferry_tests::file_servers::{FtpServer, Sshd};
use ferry_tests::files::{file_api, names, post_file, record_to_api};
use ferry_tests::{Backend, Ferry, assert_contains_all, validate_fails, wait_until, write_config};
use serde_json::{Value, json};

/// A file inbound endpoint polling `DIRECTORY` on `SERVER` into `record-to-api`.
const INBOUND: &str = "apiVersion: ferry.dev/v1alpha1
kind: InboundEndpoint
metadata:
  name: remote-in
spec:
  protocol: file
  sequence: record-to-api
  file:
    directory: DIRECTORY
SERVER    fileNamePattern: '.*\\.csv'
    interval: 100
    stableFor: 300
    content: csv
    actionAfterProcess: AFTER
    moveAfterFailure: FAILED
";

fn inbound(port: u16, directory: &str, server: &str, after: &str, failed: &str) -> String {
    record_to_api(port)
        + &INBOUND
            .replace("DIRECTORY", directory)
            .replace("SERVER", server)
            .replace("AFTER", after)
            .replace("FAILED", failed)
}

fn skus(backend: &Backend) -> Vec<String> {
    let mut skus: Vec<String> = backend
        .requests()
        .iter()
        .map(|r| r.json()["sku"].as_str().unwrap_or_default().to_string())
        .collect();
    skus.sort();
    skus
}

/// Drops CSV files into `inbox` (a folder the server shows): two good ones, one with a
/// failing record, one not matching the pattern, one part file, and one still growing.
fn drop_files(inbox: &Path) -> std::fs::File {
    std::fs::create_dir_all(inbox).unwrap();
    std::fs::write(inbox.join("b.csv"), "sku,qty\nB1,2\nB2,5\n").unwrap();
    std::fs::write(inbox.join("a.csv"), "sku,qty\nA1,1\n").unwrap();
    std::fs::write(inbox.join("bad.csv"), "sku,qty\nD4,1\nBAD,1\nE5,1\n").unwrap();
    std::fs::write(inbox.join("notes.txt"), "not matched").unwrap();
    std::fs::write(inbox.join("c.csv.part"), "sku,qty\nZ9,1\n").unwrap();
    let mut growing = std::fs::File::create(inbox.join("growing.csv")).unwrap();
    std::io::Write::write_all(&mut growing, b"sku,qty\nG1,1\n").unwrap();
    growing
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sftp_folder_is_polled_records_streamed_and_files_moved_after() {
    let Some(sshd) = Sshd::start() else { return };
    let backend = Backend::start(|_| Reply::json(json!({"ok": true})));
    let root = sshd.root.clone();
    let server = format!("    server: {}\n", sshd.key_server());
    let conf = tempfile::tempdir().unwrap();
    write_config(
        conf.path(),
        &inbound(
            backend.port(),
            &root.join("in").display().to_string(),
            &server,
            &format!(
                "move\n    moveAfterProcess: {}",
                root.join("done").display()
            ),
            &root.join("failed").display().to_string(),
        ),
    );
    let mut growing = drop_files(&root.join("in"));
    // A big file, streamed record by record.
    let mut big = String::from("sku,qty\n");
    for n in 0..300 {
        big.push_str(&format!("L{n:03},{n}\n"));
    }
    std::fs::write(root.join("in/large.csv"), big).unwrap();
    let ferry = Ferry::start(&[conf.path()], &[]);

    // The growing file keeps changing for a while: it must not be taken meanwhile.
    for n in 0..8 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        std::io::Write::write_all(&mut growing, format!("G{},1\n", n + 2).as_bytes()).unwrap();
        assert!(
            !names(&root.join("done")).contains(&"growing.csv".to_string()),
            "a file still being written was taken"
        );
    }
    drop(growing);
    wait_until("the files to be handled", Duration::from_secs(30), || {
        names(&root.join("done")).len() == 4 && names(&root.join("failed")).len() == 1
    })
    .await;
    assert_eq!(
        names(&root.join("done")),
        ["a.csv", "b.csv", "growing.csv", "large.csv"],
        "{}",
        ferry.log()
    );
    assert_eq!(names(&root.join("failed")), ["bad.csv"]);
    assert_eq!(names(&root.join("in")), ["c.csv.part", "notes.txt"]);
    let got = skus(&backend);
    assert_eq!(got.iter().filter(|s| s.starts_with('L')).count(), 300);
    for sku in ["A1", "B1", "B2", "D4", "G1", "G9"] {
        assert!(got.contains(&sku.to_string()), "{sku} missing in {got:?}");
    }
    assert!(
        !got.contains(&"E5".to_string()),
        "records after a failure are not sent"
    );
    drop(ferry);
    drop(sshd);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sftp_server_with_another_host_key_is_refused() {
    let Some(sshd) = Sshd::start() else { return };
    let backend = Backend::start(|_| Reply::json(json!({"ok": true})));
    let root = sshd.root.clone();
    let server = format!(
        "    server: {{protocol: sftp, host: 127.0.0.1, port: {}, user: {}, privateKeyFile: {}, hostKey: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'}}\n",
        sshd.port,
        sshd.user,
        sshd.key_file.display()
    );
    let conf = tempfile::tempdir().unwrap();
    write_config(
        conf.path(),
        &inbound(
            backend.port(),
            &root.join("in").display().to_string(),
            &server,
            "delete",
            &root.join("failed").display().to_string(),
        ),
    );
    std::fs::create_dir_all(root.join("in")).unwrap();
    std::fs::write(root.join("in/a.csv"), "sku,qty\nA1,1\n").unwrap();
    let ferry = Ferry::start(&[conf.path()], &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = ferry.log();
        if log.contains("host key") {
            break;
        }
        assert!(Instant::now() < deadline, "no host key error in:\n{log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(names(&root.join("in")), ["a.csv"], "nothing taken");
    assert!(backend.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftp_and_ftps_folders_are_polled_and_files_deleted_or_moved() {
    for tls in [false, true] {
        let Some(ftp) = FtpServer::start(tls) else {
            return;
        };
        let backend = Backend::start(|_| Reply::json(json!({"ok": true})));
        let conf = tempfile::tempdir().unwrap();
        let (directory, server, env) = if tls {
            (
                "/in".to_string(),
                format!(
                    "    server:\n      protocol: ftps\n      host: 127.0.0.1\n      port: {}\n      user: ferry\n      passwordFile: {}\n      tls: {{caFrom: {{env: FTPS_CA}}}}\n",
                    ftp.port,
                    ftp.password_file.display()
                ),
                vec![("FTPS_CA", ftp.ca.clone().unwrap())],
            )
        } else {
            // MI's form: the account in the folder's URI.
            (
                format!(
                    "'vfs:ftp://ferry:{}@127.0.0.1:{}/in?transport.vfs.Passive=true'",
                    ftp.password, ftp.port
                ),
                String::new(),
                vec![],
            )
        };
        write_config(
            conf.path(),
            &inbound(backend.port(), &directory, &server, "delete", "/failed"),
        );
        let growing = drop_files(&ftp.root.join("in"));
        drop(growing);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let ferry = Ferry::start_with_env(&[conf.path()], &[], &env);
        wait_until("the files to be handled", Duration::from_secs(30), || {
            names(&ftp.root.join("in")) == ["c.csv.part", "notes.txt"]
                && names(&ftp.root.join("failed")).len() == 1
        })
        .await;
        assert_eq!(names(&ftp.root.join("failed")), ["bad.csv"], "tls {tls}");
        let got = skus(&backend);
        for sku in ["A1", "B1", "B2", "D4", "G1"] {
            assert!(
                got.contains(&sku.to_string()),
                "{sku} missing in {got:?} (tls {tls})"
            );
        }
        assert!(
            !ferry.log().contains(&ftp.password),
            "the password is never logged"
        );
        drop(ferry);
        drop(ftp);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_endpoints_write_append_and_move_on_an_sftp_server() {
    let Some(sshd) = Sshd::start() else { return };
    let root = sshd.root.clone();
    let conf = tempfile::tempdir().unwrap();
    // MI's address naming a folder: the file's name comes from ReplyFileName.
    let endpoint = format!(
        "              address: {{uri: 'vfs:sftp://{}@127.0.0.1:{}{}/?transport.vfs.SFTPIdentities={}'}}",
        sshd.user,
        sshd.port,
        root.join("out").display(),
        sshd.key_file.display()
    );
    write_config(conf.path(), &file_api(&endpoint));
    let ferry = Ferry::start(&[conf.path()], &[]);
    let (status, body) = post_file(&ferry, json!({"reply": "a.json", "v": 1})).await;
    assert_eq!(status, 200, "{body} {}", ferry.log());
    let (status, body) = post_file(&ferry, json!({"reply": "a.json", "v": 2})).await;
    assert_eq!(status, 200, "{body}");
    let a: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("out/a.json")).unwrap()).unwrap();
    assert_eq!(a, json!({"reply": "a.json", "v": 2}), "overwritten");
    assert_eq!(
        names(&root.join("out")),
        ["a.json"],
        "no temporary file left"
    );
    drop(ferry);

    // A typed endpoint appending lines, then one moving files on the server.
    let server = sshd.key_server();
    let endpoint = format!(
        "              file: {{directory: {}, fileName: log.jsonl, mode: append, appendNewline: true, server: {server}}}",
        root.join("out").display()
    );
    write_config(conf.path(), &file_api(&endpoint));
    let ferry = Ferry::start(&[conf.path()], &[]);
    for n in 0..3 {
        assert_eq!(
            post_file(&ferry, json!({"n": n})).await.0,
            200,
            "{}",
            ferry.log()
        );
    }
    assert_eq!(
        std::fs::read_to_string(root.join("out/log.jsonl")).unwrap(),
        "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n"
    );
    drop(ferry);

    let endpoint = format!(
        "              file: {{mode: move, sourceDirectory: {}, sourceFileName: '${{payload.name}}', directory: {}, fileName: '${{payload.name}}', server: {server}}}",
        root.join("out").display(),
        root.join("archive/2026").display()
    );
    write_config(conf.path(), &file_api(&endpoint));
    let ferry = Ferry::start(&[conf.path()], &[]);
    let (status, body) = post_file(&ferry, json!({"name": "a.json"})).await;
    assert_eq!(status, 200, "{body} {}", ferry.log());
    assert_eq!(
        names(&root.join("archive/2026")),
        ["a.json"],
        "parents made"
    );
    assert_eq!(names(&root.join("out")), ["log.jsonl"]);
    // The destination exists now: without replaceExisting a second move is refused.
    std::fs::write(root.join("out/a.json"), "again").unwrap();
    let (status, body) = post_file(&ferry, json!({"name": "a.json"})).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("exists"),
        "{body}"
    );
    assert!(root.join("out/a.json").exists(), "the source stays");
    let (status, _) = post_file(&ferry, json!({"name": "missing.json"})).await;
    assert_eq!(status, 503, "a missing source is a fault");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sftp_login_by_password_writes_and_a_wrong_password_is_a_clear_fault() {
    // A server that takes the password only: no key could log in instead.
    let Some(sshd) = Sshd::start_with_password() else {
        return;
    };
    let password = sshd.password.clone().unwrap();
    let root = sshd.root.clone();
    let conf = tempfile::tempdir().unwrap();
    let typed = |password_file: &Path| {
        format!(
            "              file: {{directory: {}, fileName: '${{payload.name}}', server: {{protocol: sftp, host: 127.0.0.1, port: {}, user: {}, passwordFile: {}, hostKey: '{}'}}}}",
            root.join("typed").display(),
            sshd.port,
            sshd.user,
            password_file.display(),
            sshd.host_key
        )
    };
    write_config(conf.path(), &file_api(&typed(&sshd.password_file)));
    let ferry = Ferry::start(&[conf.path()], &[]);
    let (status, body) = post_file(&ferry, json!({"name": "a.json"})).await;
    assert_eq!(status, 200, "{body} {} {}", ferry.log(), sshd.log());
    assert_eq!(names(&root.join("typed")), ["a.json"]);
    drop(ferry);

    // MI's form: the password in the address.
    let endpoint = format!(
        "              address: {{uri: 'vfs:sftp://{}:{password}@127.0.0.1:{}{}/'}}",
        sshd.user,
        sshd.port,
        root.join("mi").display()
    );
    write_config(conf.path(), &file_api(&endpoint));
    let ferry = Ferry::start(&[conf.path()], &[]);
    let (status, body) = post_file(&ferry, json!({"reply": "b.json"})).await;
    assert_eq!(status, 200, "{body} {}", ferry.log());
    assert_eq!(names(&root.join("mi")), ["b.json"]);
    assert!(
        !ferry.log().contains(&password),
        "the password is never logged"
    );
    drop(ferry);

    let wrong = conf.path().join("wrong-password");
    std::fs::write(&wrong, "not-the-password\n").unwrap();
    let other = tempfile::tempdir().unwrap();
    write_config(other.path(), &file_api(&typed(&wrong)));
    let ferry = Ferry::start(&[other.path()], &[]);
    let (status, body) = post_file(&ferry, json!({"name": "c.json"})).await;
    assert_eq!(status, 503, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "sftp://{}@127.0.0.1:{}: the server refused the login of {} with the password",
            sshd.user, sshd.port, sshd.user
        )),
        "{message}"
    );
    assert!(!message.contains("not-the-password"), "{message}");
    assert_eq!(names(&root.join("typed")), ["a.json"], "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_endpoints_write_create_and_move_on_ftp_and_ftps() {
    for tls in [false, true] {
        let Some(ftp) = FtpServer::start(tls) else {
            return;
        };
        let conf = tempfile::tempdir().unwrap();
        let scheme = if tls { "ftps" } else { "ftp" };
        let env = ftp
            .ca
            .clone()
            .map(|ca| vec![("FTPS_CA", ca)])
            .unwrap_or_default();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let server = format!(
            "{{protocol: {scheme}, host: 127.0.0.1, port: {}, user: ferry, passwordFile: {}{}}}",
            ftp.port,
            ftp.password_file.display(),
            if tls {
                ", tls: {caFrom: {env: FTPS_CA}}"
            } else {
                ""
            }
        );
        let endpoint = format!(
            "              file: {{directory: /out/new, fileName: '${{payload.name}}', mode: create, server: {server}}}"
        );
        write_config(conf.path(), &file_api(&endpoint));
        let ferry = Ferry::start_with_env(&[conf.path()], &[], &env);
        let (status, body) = post_file(&ferry, json!({"name": "o.json", "v": 1})).await;
        assert_eq!(status, 200, "{body} {} {}", ferry.log(), ftp.log());
        let (status, body) = post_file(&ferry, json!({"name": "o.json", "v": 2})).await;
        assert_eq!(status, 503, "create refuses an existing file: {body}");
        let o: Value = serde_json::from_str(
            &std::fs::read_to_string(ftp.root.join("out/new/o.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(o["v"], 1, "the first is kept ({scheme})");
        assert_eq!(names(&ftp.root.join("out/new")), ["o.json"]);
        drop(ferry);

        let endpoint = format!(
            "              file: {{mode: move, sourceDirectory: /out/new, sourceFileName: '${{payload.name}}', directory: /done, fileName: 'moved-${{payload.name}}', replaceExisting: true, server: {server}}}"
        );
        write_config(conf.path(), &file_api(&endpoint));
        let ferry = Ferry::start_with_env(&[conf.path()], &[], &env);
        let (status, body) = post_file(&ferry, json!({"name": "o.json"})).await;
        assert_eq!(status, 200, "{body} {}", ferry.log());
        assert_eq!(names(&ftp.root.join("done")), ["moved-o.json"]);
        assert!(names(&ftp.root.join("out/new")).is_empty());
        assert!(
            !ferry.log().contains(&ftp.password),
            "the password is never logged"
        );
    }
}

#[test]
fn validate_refuses_remote_settings_it_cannot_honour() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: bad-server
spec:
  file:
    directory: /out
    fileName: x
    server: {protocol: ftp, host: h, user: u, privateKeyFile: /k, passive: false, hostKey: 'SHA256:x'}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: bad-sftp
spec:
  file:
    directory: /out
    fileName: x
    mode: move
    server: {protocol: sftp, host: h, user: u}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata:
  name: bad-uri
spec:
  address: {uri: 'vfs:sftp://u@h/in?transport.vfs.Passive=false'}
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {name: s}
spec:
  mediators: [{log: {}}]
---
apiVersion: ferry.dev/v1alpha1
kind: InboundEndpoint
metadata:
  name: bad-in
spec:
  protocol: file
  sequence: s
  file:
    directory: 'ftp://u:p@h/in?transport.vfs.Locking=true'
    server: {protocol: ftp, host: h, user: u}
",
    );
    let text = validate_fails(&[dir.path()]);
    assert_contains_all(
        &text,
        &[
            "Endpoint/bad-server spec.file.server.privateKeyFile: a private key logs in over sftp only",
            "Endpoint/bad-server spec.file.server.passive: active FTP is not supported",
            "Endpoint/bad-server spec.file.server.hostKey: a host key is checked over sftp only",
            "Endpoint/bad-sftp spec.file.sourceDirectory: mode move needs sourceDirectory",
            "Endpoint/bad-sftp spec.file.server.passwordFile: sftp needs passwordFile or privateKeyFile",
            "Endpoint/bad-uri spec.address.uri: sftp needs a password in the address",
            "InboundEndpoint/bad-in spec.file.directory: unknown parameter \"transport.vfs.Locking\"",
            "InboundEndpoint/bad-in spec.file.directory: the directory is a URI naming its server",
        ],
    );
    assert!(
        !text.contains(":p@"),
        "no password in the messages:\n{text}"
    );
}
