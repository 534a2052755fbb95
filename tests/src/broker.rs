//! RabbitMQ for the black-box tests. A test that stops the broker mid-stream starts its own
//! node ([`PrivateBroker`]) on its own ports in a temporary folder, so it never takes the
//! machine's shared broker (127.0.0.1:5672) away from other tests or other people. Tests
//! that only publish and consume use the shared broker; the one thing they may do to it
//! besides that is purge their own queue ([`purge_shared_queue`]).

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a node may take to boot (about 6 s on a 2-core machine) or to run one
/// `rabbitmqctl` command before the test gives up on it.
const BOOT_TIMEOUT: Duration = Duration::from_secs(90);
const CTL_TIMEOUT: Duration = Duration::from_secs(60);

// === shared broker ===

/// Whether the shared broker answers on 127.0.0.1:5672 and `rabbitmqctl` reaches it; when
/// not, says why the calling test skips.
pub fn shared_reachable() -> bool {
    let up = TcpStream::connect("127.0.0.1:5672").is_ok()
        && Command::new("rabbitmqctl")
            .arg("status")
            .output()
            .is_ok_and(|o| o.status.success());
    if !up {
        eprintln!("skipped: no controllable RabbitMQ on 127.0.0.1:5672 (make services starts it)");
    }
    up
}

/// Empties `queue` on the shared broker; a queue that does not exist yet is fine. The only
/// `rabbitmqctl` command the tests send the shared broker: anything that stops it belongs
/// on a [`PrivateBroker`].
pub fn purge_shared_queue(queue: &str) {
    let output = Command::new("rabbitmqctl")
        .args(["purge_queue", queue])
        .output()
        .expect("rabbitmqctl runs");
    let missing = String::from_utf8_lossy(&output.stderr).contains("not_found");
    assert!(
        output.status.success() || missing,
        "rabbitmqctl purge_queue {queue} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

// === impl PrivateBroker ===

/// A RabbitMQ node of this test alone: AMQP, Erlang distribution and the CLI on free ports
/// of 127.0.0.1, its database, logs and config in a temporary folder, no plugins. Dropping
/// it stops the node and removes the folder, also when the test panics.
pub struct PrivateBroker {
    node: String,
    port: u16,
    tls_port: Option<u16>,
    scripts: PathBuf,
    env: Vec<(&'static str, OsString)>,
    server: Child,
    // Dropped after `Drop::drop` has stopped the node, which removes the folder.
    dir: tempfile::TempDir,
}

impl PrivateBroker {
    /// Starts a node and waits until it accepts AMQP connections. `None` when RabbitMQ is
    /// not installed, after saying why the calling test skips. A node that is installed but
    /// does not boot fails the test with its log: a broken broker must not pass as a skip.
    pub fn start() -> Option<PrivateBroker> {
        Self::start_with(None)
    }

    /// Starts a node with an `amqps` listener besides the plain one: its certificate
    /// `server`, and client certificates issued by `client_ca` required (RabbitMQ's
    /// `verify_peer` with `fail_if_no_peer_cert`). `None` as [`Self::start`].
    pub fn start_tls(server: &crate::tls::Pem, client_ca: &str) -> Option<PrivateBroker> {
        Self::start_with(Some((server, client_ca)))
    }

    fn start_with(tls: Option<(&crate::tls::Pem, &str)>) -> Option<PrivateBroker> {
        let Some(scripts) = scripts() else {
            eprintln!(
                "skipped: rabbitmq-server is not installed, so no private RabbitMQ node to stop and start"
            );
            return None;
        };
        static NODES: AtomicU32 = AtomicU32::new(0);
        let node = format!(
            "ferry-test-{}-{}@localhost",
            std::process::id(),
            NODES.fetch_add(1, Ordering::Relaxed)
        );
        let dir = tempfile::Builder::new()
            .prefix("ferry-rabbitmq-")
            .tempdir()
            .expect("a temporary folder");
        let [port, dist_port, ctl_port, tls_port] = free_ports();
        let at = |name: &str| dir.path().join(name).into_os_string();
        let mut conf = format!("listeners.tcp.local = 127.0.0.1:{port}\n");
        if let Some((server, client_ca)) = tls {
            for (file, pem) in [
                ("server.pem", &server.cert),
                ("server.key", &server.key),
                ("client-ca.pem", &client_ca.to_string()),
            ] {
                std::fs::write(dir.path().join(file), pem).expect("written");
            }
            let path = |name: &str| dir.path().join(name).display().to_string();
            conf.push_str(&format!(
                "listeners.ssl.local = 127.0.0.1:{tls_port}\n\
                 ssl_options.certfile = {}\n\
                 ssl_options.keyfile = {}\n\
                 ssl_options.cacertfile = {}\n\
                 ssl_options.verify = verify_peer\n\
                 ssl_options.fail_if_no_peer_cert = true\n",
                path("server.pem"),
                path("server.key"),
                path("client-ca.pem"),
            ));
        }
        std::fs::write(dir.path().join("rabbitmq.conf"), conf)
            .expect("the node's config is written");
        // No plugins: the management plugin would open another port, and booting is faster.
        std::fs::write(dir.path().join("enabled_plugins"), "[].\n").expect("written");
        // Empty: the machine's /etc/rabbitmq/rabbitmq-env.conf describes the shared node.
        std::fs::write(dir.path().join("rabbitmq-env.conf"), "").expect("written");
        let env = vec![
            // Erlang creates a cookie in $HOME when the node starts; rabbitmqctl run with the
            // same HOME reads it. So the node and its CLI agree without the user's or the
            // shared broker's ~/.erlang.cookie being read or written.
            ("HOME", dir.path().as_os_str().to_owned()),
            ("RABBITMQ_NODENAME", node.clone().into()),
            ("RABBITMQ_DIST_PORT", dist_port.to_string().into()),
            // rabbitmqctl listens too, by default on 35672-35682 (derived from 5672), where it
            // can collide with this node's AMQP port: seen as `eaddrinuse` on `start_app`.
            ("RABBITMQ_CTL_DIST_PORT_MIN", ctl_port.to_string().into()),
            ("RABBITMQ_CTL_DIST_PORT_MAX", ctl_port.to_string().into()),
            ("RABBITMQ_CONFIG_FILE", at("rabbitmq.conf")),
            ("RABBITMQ_ADVANCED_CONFIG_FILE", at("advanced.config")),
            ("RABBITMQ_CONF_ENV_FILE", at("rabbitmq-env.conf")),
            ("RABBITMQ_ENABLED_PLUGINS_FILE", at("enabled_plugins")),
            ("RABBITMQ_PLUGINS_EXPAND_DIR", at("plugins-expand")),
            ("RABBITMQ_MNESIA_BASE", at("mnesia")),
            ("RABBITMQ_LOG_BASE", at("log")),
            ("RABBITMQ_PID_FILE", at("pid")),
            // Erlang distribution (node and CLI) on the loopback interface only.
            ("ERL_EPMD_ADDRESS", "127.0.0.1".into()),
            (
                "ERL_FLAGS",
                "-kernel inet_dist_use_interface {127,0,0,1}".into(),
            ),
        ];
        let server = spawn_server(&scripts, &env, dir.path());
        let mut broker = PrivateBroker {
            node,
            port,
            tls_port: tls.map(|_| tls_port),
            scripts,
            env,
            server,
            dir,
        };
        broker.wait_for_amqp();
        Some(broker)
    }

    /// The node's AMQP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The node's `amqps` port on 127.0.0.1, when started with [`Self::start_tls`].
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// Stops the RabbitMQ application (`rabbitmqctl stop_app`): clients lose their
    /// connections and new ones are refused, while the node (and its queues) stay.
    pub fn stop_app(&self) {
        self.ctl(&["stop_app"]);
    }

    /// Starts the RabbitMQ application again and returns once it accepts AMQP connections.
    pub fn start_app(&mut self) {
        self.ctl(&["start_app"]);
        self.wait_for_amqp();
    }

    /// Stops the whole node (`rabbitmqctl stop`: the Erlang VM exits, as when the broker's
    /// machine restarts) and returns once it is gone. Its queues stay on disk.
    pub fn stop_node(&mut self) {
        self.ctl(&["stop"]);
        assert!(
            wait_exit(&mut self.server, Duration::from_secs(30)),
            "the node {} did not exit",
            self.node
        );
    }

    /// Starts the node again on the same ports and database, after [`Self::stop_node`];
    /// returns once it accepts AMQP connections.
    pub fn start_node(&mut self) {
        self.server = spawn_server(&self.scripts, &self.env, self.dir.path());
        self.wait_for_amqp();
    }

    /// Runs `rabbitmqctl -n NODE ARGS` against this node and requires it to succeed.
    fn ctl(&self, args: &[&str]) {
        let out_path = self.dir.path().join("ctl.out");
        let ok = self.try_ctl(args, &out_path, CTL_TIMEOUT);
        assert!(
            ok,
            "rabbitmqctl {args:?} on {} failed: {}",
            self.node,
            std::fs::read_to_string(&out_path).unwrap_or_default()
        );
    }

    /// Runs `rabbitmqctl -n NODE ARGS` with its output in `out_path`; whether it succeeded
    /// within `timeout` (a hung command is killed).
    fn try_ctl(&self, args: &[&str], out_path: &Path, timeout: Duration) -> bool {
        let Ok(out) = File::create(out_path) else {
            return false;
        };
        let Ok(err) = out.try_clone() else {
            return false;
        };
        let child = Command::new(self.scripts.join("rabbitmqctl"))
            .arg("-n")
            .arg(&self.node)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn();
        child.is_ok_and(|mut child| wait_success(&mut child, timeout))
    }

    /// Waits until the node answers an AMQP protocol header with a frame, failing the test
    /// with the node's output when it exits or takes longer than [`BOOT_TIMEOUT`].
    fn wait_for_amqp(&mut self) {
        let deadline = Instant::now() + BOOT_TIMEOUT;
        loop {
            if accepts_amqp(self.port) {
                return;
            }
            let exited = self.server.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                let out =
                    std::fs::read_to_string(self.dir.path().join("server.out")).unwrap_or_default();
                panic!(
                    "the private RabbitMQ node {} did not accept AMQP on 127.0.0.1:{} ({}):\n{out}\n(its logs: {})",
                    self.node,
                    self.port,
                    exited.map_or("timed out".to_string(), |s| format!("exited: {s}")),
                    self.dir.path().join("log").display()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        // `stop` halts the node cleanly and returns once it is down.
        let out = self.dir.path().join("stop.out");
        let stopped = self.try_ctl(&["stop"], &out, CTL_TIMEOUT)
            && wait_exit(&mut self.server, Duration::from_secs(10));
        if !stopped {
            // The Erlang VM is a child of the server script, not the script itself: kill it
            // by the pid it wrote, so that no node outlives the test.
            if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("pid")) {
                let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
            }
            let _ = self.server.kill();
        }
        let _ = self.server.wait();
    }
}

/// Runs `rabbitmq-server` with the node's environment, its output appended to
/// `server.out` in `dir`.
fn spawn_server(scripts: &Path, env: &[(&'static str, OsString)], dir: &Path) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.out"))
        .expect("a log file");
    Command::new(scripts.join("rabbitmq-server"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("a log file"))
        .stderr(out)
        .spawn()
        .expect("rabbitmq-server runs")
}

/// The folder holding `rabbitmq-server` and `rabbitmqctl` to run as this user.
fn scripts() -> Option<PathBuf> {
    // Debian's /usr/sbin wrappers switch to the rabbitmq user when run as root, and that
    // user cannot write the test's folder; the scripts they wrap run as whoever calls them.
    let packaged = PathBuf::from("/usr/lib/rabbitmq/bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::iter::once(packaged)
        .chain(std::env::split_paths(&path))
        .chain(["/usr/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .find(|dir| dir.join("rabbitmq-server").is_file() && dir.join("rabbitmqctl").is_file())
}

/// `N` distinct free ports on 127.0.0.1, none in 35672-35682 where other rabbitmqctl runs
/// (against the shared broker) listen by default.
fn free_ports<const N: usize>() -> [u16; N] {
    let mut held = Vec::new();
    let mut ports = [0; N];
    let mut found = 0;
    while found < N {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port on 127.0.0.1");
        let port = listener.local_addr().expect("a bound port").port();
        if !(35672..=35682).contains(&port) {
            ports[found] = port;
            found += 1;
        }
        // Held until all are picked, so that they differ.
        held.push(listener);
    }
    ports
}

/// Whether a broker on `port` answers the AMQP 0-9-1 protocol header with a frame (its
/// `connection.start`): listening alone can come before the broker serves connections.
fn accepts_amqp(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let mut frame_type = [0u8; 1];
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .is_ok()
        && stream.write_all(b"AMQP\x00\x00\x09\x01").is_ok()
        && stream.read_exact(&mut frame_type).is_ok()
        && frame_type[0] == 1
}

/// Waits for `child` to exit within `timeout` (killing it if it does not); whether it
/// exited successfully.
fn wait_success(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// Whether `child` exits within `timeout`.
fn wait_exit(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
