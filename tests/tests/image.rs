//! The runtime image, black box: `.ci/build-image.sh` builds it as `make images` does (the
//! static musl executable in a FROM scratch image), the test unpacks its root filesystem
//! (`buildah mount`, or `docker export` where a Docker engine runs), and runs the image's
//! entrypoint, command, user and environment in it with `chroot` on the healthcare sample.
//! The sample's backends are named `hospitals.ferry.test`, which only the image's
//! `/etc/hosts` maps to 127.0.0.1: a reservation answered proves the executable resolves
//! names with no C library beside it, and `/readyz` that it starts in an empty image.
//!
//! It needs root (chroot), a Docker engine or buildah, and the musl target; without them it
//! prints `skipped:` with the reason. The release build it starts takes minutes on a cold
//! target folder, so it runs only with `FERRY_IMAGE_TEST=1` (docs/kubernetes.md, "Images").

// Test code: a panic here is a failed test, with its message and backtrace.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferry_tests::{client, workspace_root};
use serde_json::{Value, json};

const TRIPLE: &str = "x86_64-unknown-linux-musl";
/// The backends' host name: only the image's /etc/hosts knows it.
const BACKEND_HOST: &str = "hospitals.ferry.test";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Builder {
    Docker,
    Buildah,
}

impl Builder {
    fn name(self) -> &'static str {
        match self {
            Builder::Docker => "docker",
            Builder::Buildah => "buildah",
        }
    }
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Why the test cannot run here, or the tool that builds the image.
fn builder() -> Result<Builder, String> {
    if std::env::var("FERRY_IMAGE_TEST").as_deref() != Ok("1") {
        return Err(
            "FERRY_IMAGE_TEST=1 not set (the static release build takes minutes cold)".into(),
        );
    }
    let builder = if succeeds("docker", &["info"]) {
        Builder::Docker
    } else if succeeds("buildah", &["--version"]) {
        Builder::Buildah
    } else {
        return Err("neither a Docker engine nor buildah (make image-tools installs it)".into());
    };
    if !succeeds("sh", &["-c", "[ \"$(id -u)\" = 0 ]"]) {
        return Err("not root: the image's root filesystem is entered with chroot".into());
    }
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l == TRIPLE)
        })
        .unwrap_or(false);
    if !installed || !succeeds("sh", &["-c", "command -v musl-gcc"]) {
        return Err(format!(
            "the {TRIPLE} target or musl-gcc is missing (make image-tools installs them)"
        ));
    }
    Ok(builder)
}

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// The static executable `make image-build` builds, built now (or found up to date). The
/// same packages and features as there: features unify across the packages of one build,
/// so building `ferry` alone would make a different executable, and rebuild it.
fn static_ferry() -> PathBuf {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let mut cargo = Command::new(env!("CARGO"));
    // Not the variables cargo set for this test (CARGO_PKG_VERSION_MAJOR, OUT_DIR, ...):
    // build scripts rerun when such a variable they watch changes, and then the whole
    // release build after them, though nothing changed.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if (name.starts_with("CARGO_") && name != "CARGO_HOME" && name != "CARGO_TARGET_DIR")
            || name == "OUT_DIR"
        {
            cargo.env_remove(name.as_ref());
        }
    }
    run(cargo
        .args(["build", "-q", "--release", "--locked", "--target", TRIPLE])
        .args([
            "-p",
            "ferry",
            "-p",
            "ferry-operator",
            "--features",
            "ferry/kubernetes",
        ])
        .current_dir(workspace_root()));
    target_dir.join(TRIPLE).join("release/ferry")
}

/// An image built for this test, and its unpacked root filesystem; all removed on drop.
struct Image {
    builder: Builder,
    tag: String,
    container: String,
    rootfs: PathBuf,
    _unpacked: Option<tempfile::TempDir>,
}

impl Image {
    fn build(builder: Builder, executable: &Path) -> Image {
        let tag = format!("localhost/ferry-image-test:{}", std::process::id());
        run(Command::new("bash")
            .arg(workspace_root().join(".ci/build-image.sh"))
            .arg(workspace_root().join("runtime/Dockerfile"))
            .arg(executable)
            .args([tag.as_str(), "--data-dir"])
            .env("IMAGE_BUILDER", builder.name()));
        match builder {
            Builder::Buildah => {
                let container = run(Command::new("buildah").args(["from", &tag]));
                let rootfs =
                    PathBuf::from(run(Command::new("buildah").args(["mount", &container])));
                Image {
                    builder,
                    tag,
                    container,
                    rootfs,
                    _unpacked: None,
                }
            }
            Builder::Docker => {
                let container = run(Command::new("docker").args(["create", &tag]));
                let dir = tempfile::tempdir().unwrap();
                run(Command::new("sh").arg("-c").arg(format!(
                    "docker export {container} | tar -x -C {}",
                    dir.path().display()
                )));
                let rootfs = dir.path().to_path_buf();
                Image {
                    builder,
                    tag,
                    container,
                    rootfs,
                    _unpacked: Some(dir),
                }
            }
        }
    }

    /// The image's configuration: `Entrypoint`, `Cmd`, `Env`, `User`.
    fn config(&self) -> Value {
        match self.builder {
            Builder::Buildah => {
                let text =
                    run(Command::new("buildah").args(["inspect", "--type", "image", &self.tag]));
                let inspected: Value = serde_json::from_str(&text).unwrap();
                inspected["OCIv1"]["config"].clone()
            }
            Builder::Docker => {
                let text = run(Command::new("docker").args(["image", "inspect", &self.tag]));
                let inspected: Value = serde_json::from_str(&text).unwrap();
                inspected[0]["Config"].clone()
            }
        }
    }

    /// The image's size as its builder reports it, in bytes.
    fn size(&self) -> u64 {
        let text = match self.builder {
            Builder::Buildah => run(Command::new("buildah").args([
                "images",
                "--format",
                "{{.Size}}",
                "--noheading",
                &self.tag,
            ])),
            Builder::Docker => run(Command::new("docker").args([
                "image",
                "inspect",
                "--format",
                "{{.Size}}",
                &self.tag,
            ])),
        };
        // buildah prints a human size ("12.3 MB"); docker bytes.
        let mut parts = text.split_whitespace();
        let number: f64 = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0.0);
        let unit = match parts.next() {
            Some("kB") | Some("KB") => 1e3,
            Some("MB") => 1e6,
            Some("GB") => 1e9,
            _ => 1.0,
        };
        (number * unit) as u64
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let tool = self.builder.name();
        if self.builder == Builder::Buildah {
            let _ = Command::new(tool)
                .args(["umount", &self.container])
                .output();
        }
        let _ = Command::new(tool).args(["rm", &self.container]).output();
        let _ = Command::new(tool).args(["rmi", &self.tag]).output();
    }
}

/// A process killed (and reaped) on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The healthcare sample at `/etc/ferry/bundle` (the image's default command serves it),
/// its backends addressed by name, and that name in `/etc/hosts`.
fn install_sample(rootfs: &Path) {
    let bundle = rootfs.join("etc/ferry/bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    let sample = workspace_root().join("config/samples/healthcare");
    for entry in std::fs::read_dir(sample).unwrap() {
        let path = entry.unwrap().path();
        // Files only: the sample's tests/ folder holds TestSuites for `ferry test`.
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.replace("http://127.0.0.1:", &format!("http://{BACKEND_HOST}:"));
        std::fs::write(bundle.join(path.file_name().unwrap()), text).unwrap();
    }
    std::fs::write(
        rootfs.join("etc/hosts"),
        format!("127.0.0.1 localhost\n127.0.0.1 {BACKEND_HOST}\n"),
    )
    .unwrap();
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs the image's entrypoint and command as its user, with its environment only, inside
/// the root filesystem; ephemeral ports reported through a file in the image's /tmp.
fn start(rootfs: &Path, config: &Value, log: &Path) -> Running {
    let mut command = Command::new("chroot");
    let user = config["User"].as_str().unwrap_or("0:0");
    command
        .arg(format!("--userspec={user}"))
        .arg(rootfs)
        .args(strings(&config["Entrypoint"]))
        .args(strings(&config["Cmd"]))
        .args([
            "--http-port",
            "0",
            "--admin-port",
            "0",
            "--host",
            "127.0.0.1",
        ])
        .args(["--ports-file", "/tmp/ports.json"])
        .env_clear()
        .env("FERRY_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    for pair in strings(&config["Env"]) {
        if let Some((k, v)) = pair.split_once('=') {
            command.env(k, v);
        }
    }
    Running(command.spawn().unwrap())
}

fn ports(rootfs: &Path, ferry: &mut Running, log: &Path) -> (String, String) {
    let file = rootfs.join("tmp/ports.json");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(&file)
            && let Ok(v) = serde_json::from_str::<Value>(&text)
            && let (Some(http), Some(admin)) = (v["http"].as_str(), v["admin"].as_str())
        {
            return (http.to_string(), admin.to_string());
        }
        let log = || std::fs::read_to_string(log).unwrap_or_default();
        assert!(
            ferry.0.try_wait().unwrap().is_none(),
            "ferry exited:\n{}",
            log()
        );
        assert!(Instant::now() < deadline, "no ports file:\n{}", log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_image_serves_the_healthcare_sample_resolving_backends_by_etc_hosts() {
    let builder = match builder() {
        Ok(builder) => builder,
        Err(why) => {
            println!("skipped: {why}");
            return;
        }
    };
    let executable = static_ferry();
    let image = Image::build(builder, &executable);
    let config = image.config();
    assert_eq!(strings(&config["Entrypoint"]), ["/ferry"], "{config}");
    assert_eq!(config["User"], "65532:65532", "the image runs as non-root");
    install_sample(&image.rootfs);

    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("ferry.log");
    let mut ferry = start(&image.rootfs, &config, &log);
    let (http, admin) = ports(&image.rootfs, &mut ferry, &log);
    let log = || std::fs::read_to_string(&log).unwrap_or_default();
    let web = client();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = web.get(format!("http://{admin}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "never ready:\n{}", log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let idle_rss = rss_kib(ferry.0.id());

    let reservation = json!({
        "name": "John Doe", "dob": "1940-03-19", "ssn": "234-23-525",
        "address": "California", "phone": "8770586755", "email": "johndoe@gmail.com",
        "doctor": "thomas collins", "hospital": "grand oak community hospital",
        "cardNo": "7844481124110331", "appointment_date": "2025-04-02"
    });
    // The hospital is called at hospitals.ferry.test: resolved through /etc/hosts.
    let resp = web
        .post(format!(
            "http://{http}/healthcare/categories/surgery/appointment"
        ))
        .json(&reservation)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", log());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["doctor"]["hospital"], "grand oak community hospital");
    assert_eq!(body["fee"], json!(7000.0));
    // A reservation: answered at once, its payment kept in the SQLite store under the
    // image's /var/lib/ferry (writable by the non-root user) and settled by the processor.
    let resp = web
        .post(format!(
            "http://{http}/healthcare/categories/surgery/reserve"
        ))
        .json(&reservation)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "{}", log());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log().contains("payment settled:") {
        assert!(
            Instant::now() < deadline,
            "payment never settled:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "image {}: {:.1} MB, idle RSS {:.1} MiB, built with {}",
        image.tag,
        image.size() as f64 / 1e6,
        idle_rss as f64 / 1024.0,
        builder.name()
    );
}
