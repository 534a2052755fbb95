//! A server process one test starts (a file server, a database): its output goes to a log in
//! its own temporary folder, it counts as started once it greets on its port, and dropping
//! it stops it.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port of 127.0.0.1 free when asked.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until `port` accepts connections and sends a greeting, or fails with `log`.
fn wait_greeting(child: &mut Child, port: u16, log: &Path, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited ({status}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut b = [0u8; 8];
            if s.read(&mut b).is_ok_and(|n| n > 0) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A server process of one test, its log and folder: stopped when dropped.
pub struct Process {
    child: Child,
    log: PathBuf,
    /// The server's config, keys and files: removed once it stopped (fields drop in order).
    _dir: tempfile::TempDir,
}

impl Process {
    /// Runs `cmd` (its output to `log` in `dir`) and waits until it greets on `port`.
    pub fn spawn(mut cmd: Command, dir: tempfile::TempDir, port: u16, what: &str) -> Process {
        let log = dir.path().join(format!("{what}.log"));
        let out = std::fs::File::create(&log).expect("a log");
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("{what} does not start: {e}"));
        wait_greeting(&mut child, port, &log, what);
        Process {
            child,
            log,
            _dir: dir,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
