//! Reload on a file change, for every way a configuration path reaches `ferry run`: relative
//! with several components (`make run` passes `config/samples`), `./`-prefixed, absolute, a
//! single file, a folder through a symlink, and a Kubernetes ConfigMap volume. Each test
//! changes the files and waits for the new answer over HTTP.
//!
//! Reloading a broken configuration, and SIGHUP, are in `lifecycle.rs`.

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::{Duration, Instant};

use ferry_tests::{Ferry, client};

/// `GET /hello` answers `ANSWER`.
const API: &str = "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata:
  name: hello
spec:
  context: /hello
  resources:
    - methods: [GET]
      uriTemplate: /
      inSequence:
        - payloadFactory: {mediaType: text, format: ANSWER}
        - respond: {}
";

fn api(answer: &str) -> String {
    API.replace("ANSWER", answer)
}

/// Writes the API answering `answer` at `path`, creating its folder.
fn write_api(path: &Path, answer: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, api(answer)).unwrap();
}

/// Waits up to ten seconds for `GET /hello` to answer `expected`; fails with ferry's log.
async fn answers(ferry: &Ferry, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    while Instant::now() < deadline {
        if let Ok(resp) = client().get(ferry.url("/hello")).send().await {
            seen = resp.text().await.unwrap_or_default();
            if seen == expected {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "GET /hello answers {seen:?}, not {expected:?}: the change was not picked up\n{}",
        ferry.log()
    );
}

/// Starts ferry in `cwd` on `path`, then checks that rewriting `file` is served.
async fn edits_are_served(cwd: &Path, path: &str, file: &Path) {
    let ferry = Ferry::start_in(cwd, &[Path::new(path)], &[]);
    answers(&ferry, "one").await;
    write_api(file, "two");
    answers(&ferry, "two").await;
    // And again: the first reload must not have lost the watch.
    write_api(file, "three");
    answers(&ferry, "three").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relative_folder_path_reloads_as_under_make_run() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("config/samples/api.yaml");
    write_api(&file, "one");
    edits_are_served(tmp.path(), "config/samples", &file).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dot_slash_folder_path_reloads() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("config/api.yaml");
    write_api(&file, "one");
    edits_are_served(tmp.path(), "./config", &file).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absolute_folder_path_reloads() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("config/api.yaml");
    write_api(&file, "one");
    let absolute = tmp.path().join("config");
    edits_are_served(tmp.path(), absolute.to_str().unwrap(), &file).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_file_path_reloads_when_an_editor_replaces_it() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("config/api.yaml");
    write_api(&file, "one");
    let ferry = Ferry::start_in(tmp.path(), &[Path::new("config/api.yaml")], &[]);
    answers(&ferry, "one").await;
    write_api(&file, "two");
    answers(&ferry, "two").await;
    // Editors save by writing a new file and renaming it over the old one.
    let swap = tmp.path().join("config/.api.yaml.swp");
    write_api(&swap, "three");
    std::fs::rename(&swap, &file).unwrap();
    answers(&ferry, "three").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_through_a_symlink_reloads_on_edits_and_when_repointed() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (
        tmp.path().join("releases/one/api.yaml"),
        tmp.path().join("releases/two/api.yaml"),
    );
    write_api(&one, "one");
    write_api(&two, "two");
    symlink("releases/one", tmp.path().join("current")).unwrap();
    let ferry = Ferry::start_in(tmp.path(), &[Path::new("current")], &[]);
    answers(&ferry, "one").await;
    write_api(&one, "one-edited");
    answers(&ferry, "one-edited").await;

    // Repointed the atomic way: a new link renamed over the old one.
    symlink("releases/two", tmp.path().join("current.new")).unwrap();
    std::fs::rename(tmp.path().join("current.new"), tmp.path().join("current")).unwrap();
    answers(&ferry, "two").await;
    write_api(&two, "two-edited");
    answers(&ferry, "two-edited").await;
}

/// Lays out `volume` the way the kubelet mounts a ConfigMap with the key `api.yaml`: the
/// file in a timestamped folder, `..data` linking to that folder, and `api.yaml` a link
/// through `..data`.
fn configmap(volume: &Path, stamp: &str, answer: &str) {
    write_api(&volume.join(stamp).join("api.yaml"), answer);
    symlink(stamp, volume.join("..data")).unwrap();
    symlink("..data/api.yaml", volume.join("api.yaml")).unwrap();
}

/// Updates it the way the kubelet does: a new timestamped folder, a `..data_tmp` link to it
/// renamed over `..data` (atomic), then the old folder removed.
fn configmap_update(volume: &Path, old: &str, new: &str, answer: &str) {
    write_api(&volume.join(new).join("api.yaml"), answer);
    symlink(new, volume.join("..data_tmp")).unwrap();
    std::fs::rename(volume.join("..data_tmp"), volume.join("..data")).unwrap();
    std::fs::remove_dir_all(volume.join(old)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configmap_volume_reloads_when_the_kubelet_swaps_its_data() {
    let tmp = tempfile::tempdir().unwrap();
    let volume = tmp.path().join("etc/ferry");
    std::fs::create_dir_all(&volume).unwrap();
    configmap(&volume, "..2026_01_01_00_00_00.1", "one");
    let ferry = Ferry::start(&[&volume], &[]);
    answers(&ferry, "one").await;
    configmap_update(
        &volume,
        "..2026_01_01_00_00_00.1",
        "..2026_01_01_00_01_00.2",
        "two",
    );
    answers(&ferry, "two").await;
    configmap_update(
        &volume,
        "..2026_01_01_00_01_00.2",
        "..2026_01_01_00_02_00.3",
        "three",
    );
    answers(&ferry, "three").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_file_of_a_configmap_volume_reloads_when_the_kubelet_swaps_its_data() {
    let tmp = tempfile::tempdir().unwrap();
    let volume = tmp.path().join("etc/ferry");
    std::fs::create_dir_all(&volume).unwrap();
    configmap(&volume, "..2026_01_01_00_00_00.1", "one");
    let ferry = Ferry::start(&[&volume.join("api.yaml")], &[]);
    answers(&ferry, "one").await;
    configmap_update(
        &volume,
        "..2026_01_01_00_00_00.1",
        "..2026_01_01_00_01_00.2",
        "two",
    );
    answers(&ferry, "two").await;
}
