//! Remote file servers of one test, on free ports of 127.0.0.1: Debian's OpenSSH server
//! (`sshd`) for SFTP, run with its own config, host key and authorized key in a temporary
//! folder, and pyftpdlib (PyPI) for FTP and FTPS. `.ci/services.sh` installs both; a test
//! skips, saying why, only when one is not installed. Dropping a server stops it.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
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

/// An OpenSSH server logged into as the current user with a key of its own.
pub struct Sshd {
    child: Child,
    /// Its port.
    pub port: u16,
    /// The user to log in as.
    pub user: String,
    /// The client's private key (OpenSSH format, no passphrase).
    pub key_file: PathBuf,
    /// The host key's fingerprint, `SHA256:...`.
    pub host_key: String,
    /// A folder the files of the test go in (absolute: paths are as on the server).
    pub root: PathBuf,
    dir: tempfile::TempDir,
}

impl Sshd {
    /// Starts `sshd`; `None` (after saying why) when it is not installed.
    pub fn start() -> Option<Sshd> {
        let sshd = ["/usr/sbin/sshd", "/usr/local/sbin/sshd"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists());
        let Some(sshd) = sshd else {
            eprintln!(
                "skipped: sshd (Debian's openssh-server) is not installed; .ci/services.sh installs it"
            );
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("ferry-sshd-")
            .tempdir()
            .expect("a temporary folder");
        let d = dir.path();
        for (name, kind) in [("host", "ed25519"), ("client", "ed25519")] {
            let ok = Command::new("ssh-keygen")
                .args(["-q", "-t", kind, "-N", "", "-C", "ferry-test", "-f"])
                .arg(d.join(name))
                .stdin(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "ssh-keygen makes the {name} key");
        }
        std::fs::copy(d.join("client.pub"), d.join("authorized_keys")).expect("copied");
        let fp = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(d.join("host.pub"))
            .output()
            .expect("ssh-keygen -lf");
        let host_key = String::from_utf8_lossy(&fp.stdout)
            .split_whitespace()
            .nth(1)
            .expect("a fingerprint")
            .to_string();
        let user = String::from_utf8_lossy(
            &Command::new("id")
                .arg("-un")
                .output()
                .expect("id -un")
                .stdout,
        )
        .trim()
        .to_string();
        // sshd refuses to start without its privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = free_port();
        let root = d.join("files");
        std::fs::create_dir_all(&root).expect("mkdir");
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {pid}\n\
             AuthorizedKeysFile {keys}\nPermitRootLogin prohibit-password\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
             StrictModes no\nSubsystem sftp internal-sftp\nLogLevel ERROR\n",
            host = d.join("host").display(),
            pid = d.join("sshd.pid").display(),
            keys = d.join("authorized_keys").display(),
        );
        std::fs::write(d.join("sshd_config"), config).expect("written");
        let log = d.join("sshd.log");
        let out = std::fs::File::create(&log).expect("a log");
        let mut child = Command::new(sshd)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("sshd runs");
        wait_greeting(&mut child, port, &log, "sshd");
        Some(Sshd {
            child,
            port,
            user,
            key_file: d.join("client"),
            host_key,
            root,
            dir,
        })
    }

    /// The server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A pyftpdlib FTP (or explicit FTPS) server with one user, `ferry`, whose home is `root`.
pub struct FtpServer {
    child: Child,
    /// Its port.
    pub port: u16,
    /// The user's password (also in `password_file`).
    pub password: String,
    /// A file holding the password.
    pub password_file: PathBuf,
    /// The user's home, `/` on the server.
    pub root: PathBuf,
    /// With TLS: the CA certificate (PEM) the server's certificate is signed with.
    pub ca: Option<String>,
    dir: tempfile::TempDir,
}

const FTP_SERVER: &str = r#"
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

root, port, password, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
authorizer = DummyAuthorizer()
authorizer.add_user("ferry", password, root, perm="elradfmwMT")
handler = FTPHandler
if cert:
    from pyftpdlib.handlers import TLS_FTPHandler
    handler = TLS_FTPHandler
    handler.certfile = cert
    handler.keyfile = key
    handler.tls_control_required = True
    handler.tls_data_required = True
handler.authorizer = authorizer
handler.permit_foreign_addresses = False
server = FTPServer(("127.0.0.1", port), handler)
server.serve_forever()
"#;

impl FtpServer {
    /// Starts pyftpdlib, with explicit TLS when `tls`; `None` (after saying why) when it is
    /// not installed.
    pub fn start(tls: bool) -> Option<FtpServer> {
        let probe = if tls {
            "import pyftpdlib, OpenSSL"
        } else {
            "import pyftpdlib"
        };
        let installed = Command::new("python3")
            .args(["-c", probe])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            eprintln!(
                "skipped: pyftpdlib{} (PyPI) is not installed; .ci/services.sh installs it",
                if tls { " with pyopenssl" } else { "" }
            );
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("ferry-ftp-")
            .tempdir()
            .expect("a temporary folder");
        let d = dir.path();
        let root = d.join("home");
        std::fs::create_dir_all(&root).expect("mkdir");
        std::fs::write(d.join("server.py"), FTP_SERVER).expect("written");
        let password = "s3cret-ftp".to_string();
        let password_file = d.join("password");
        std::fs::write(&password_file, format!("{password}\n")).expect("written");
        let (cert, key, ca) = if tls {
            let ca = crate::tls::TestCa::new("ferry ftps test CA");
            let pem = ca.issue("127.0.0.1", &["127.0.0.1"], crate::tls::Usage::Server);
            std::fs::write(d.join("cert.pem"), &pem.cert).expect("written");
            std::fs::write(d.join("key.pem"), &pem.key).expect("written");
            (
                d.join("cert.pem").display().to_string(),
                d.join("key.pem").display().to_string(),
                Some(ca.cert.clone()),
            )
        } else {
            (String::new(), String::new(), None)
        };
        let port = free_port();
        let log = d.join("server.log");
        let out = std::fs::File::create(&log).expect("a log");
        let mut child = Command::new("python3")
            .arg(d.join("server.py"))
            .arg(&root)
            .arg(port.to_string())
            .arg(&password)
            .arg(cert)
            .arg(key)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("python3 runs");
        wait_greeting(&mut child, port, &log, "pyftpdlib");
        Some(FtpServer {
            child,
            port,
            password,
            password_file,
            root,
            ca,
            dir,
        })
    }

    /// The server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for FtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
