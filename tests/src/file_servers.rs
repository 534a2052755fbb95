//! Remote file servers of one test, on free ports of 127.0.0.1: Debian's OpenSSH server
//! (`sshd`) for SFTP, run with its own config, host key and authorized key in a temporary
//! folder, and pyftpdlib (PyPI) for FTP and FTPS. `.ci/services.sh` installs both; a test
//! skips, saying why, only when one is not installed. Dropping a server stops it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::process::{Process, free_port};

/// An OpenSSH server logged into as the current user, with a key of its own or, from
/// [`Sshd::start_with_password`], with a password.
pub struct Sshd {
    /// Its port.
    pub port: u16,
    /// The user to log in as.
    pub user: String,
    /// The client's private key (OpenSSH format, no passphrase); the server takes it unless
    /// started with a password.
    pub key_file: PathBuf,
    /// With [`Sshd::start_with_password`]: the password the server takes.
    pub password: Option<String>,
    /// A file holding [`Sshd::password`] (or nothing, when the server takes a key).
    pub password_file: PathBuf,
    /// The host key's fingerprint, `SHA256:...`.
    pub host_key: String,
    /// A folder the files of the test go in (absolute: paths are as on the server).
    pub root: PathBuf,
    process: Process,
}

/// How the server lets the user in.
enum Login {
    Key,
    /// The password, and the private copy of /etc/shadow that holds its hash.
    Password(String, PathBuf),
}

fn sshd_path() -> Option<PathBuf> {
    let sshd = ["/usr/sbin/sshd", "/usr/local/sbin/sshd"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if sshd.is_none() {
        eprintln!(
            "skipped: sshd (Debian's openssh-server) is not installed; .ci/services.sh installs it"
        );
    }
    sshd
}

fn output(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().expect("the command runs");
    assert!(out.status.success(), "{cmd:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Sshd {
    /// Starts `sshd` taking the client key; `None` (after saying why) when it is not
    /// installed.
    pub fn start() -> Option<Sshd> {
        let sshd = sshd_path()?;
        Some(Self::launch(&sshd, |_, _| Login::Key))
    }

    /// Starts `sshd` taking a password only (no key). Without PAM, OpenSSH checks a
    /// password against the user's hash in /etc/shadow, and the test's user (root in CI)
    /// has none; the machine's /etc/shadow is never changed: sshd runs in a mount namespace
    /// of its own (`unshare --mount`) where a copy holding the test password's hash is
    /// bind-mounted over it. That needs root; `None` (after saying why) without it or
    /// without sshd.
    pub fn start_with_password() -> Option<Sshd> {
        let sshd = sshd_path()?;
        if output(Command::new("id").arg("-u")) != "0" {
            eprintln!(
                "skipped: a password login needs root, to give sshd a private /etc/shadow (unshare --mount)"
            );
            return None;
        }
        Some(Self::launch(&sshd, |d, user| {
            let password = "s3cret-sftp".to_string();
            let hash = output(Command::new("openssl").args(["passwd", "-6", &password]));
            let shadow = std::fs::read_to_string("/etc/shadow").expect("/etc/shadow (as root)");
            let mut found = false;
            let mut lines: Vec<String> = shadow
                .lines()
                .map(|line| {
                    let mut fields: Vec<&str> = line.split(':').collect();
                    if fields.first() == Some(&user) && fields.len() > 2 {
                        found = true;
                        fields[1] = &hash;
                        // Never expired, whatever the machine's entry says.
                        fields.truncate(2);
                        fields.extend(["19000", "0", "99999", "7", "", "", ""]);
                    }
                    fields.join(":")
                })
                .collect();
            if !found {
                lines.push(format!("{user}:{hash}:19000:0:99999:7:::"));
            }
            let copy = d.join("shadow");
            std::fs::write(&copy, lines.join("\n") + "\n").expect("written");
            Login::Password(password, copy)
        }))
    }

    fn launch(sshd: &Path, login: impl FnOnce(&Path, &str) -> Login) -> Sshd {
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
        let fp = output(
            Command::new("ssh-keygen")
                .arg("-lf")
                .arg(d.join("host.pub")),
        );
        let host_key = fp
            .split_whitespace()
            .nth(1)
            .expect("a fingerprint")
            .to_string();
        let user = output(Command::new("id").arg("-un"));
        let login = login(d, &user);
        // sshd refuses to start without its privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = free_port();
        let root = d.join("files");
        std::fs::create_dir_all(&root).expect("mkdir");
        let auth = match &login {
            Login::Key => {
                "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\n\
                           PasswordAuthentication no\n"
            }
            Login::Password(..) => {
                "PermitRootLogin yes\nPubkeyAuthentication no\nPasswordAuthentication yes\n"
            }
        };
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {pid}\n\
             AuthorizedKeysFile {keys}\n{auth}KbdInteractiveAuthentication no\nUsePAM no\n\
             StrictModes no\nSubsystem sftp internal-sftp\nLogLevel ERROR\n",
            host = d.join("host").display(),
            pid = d.join("sshd.pid").display(),
            keys = d.join("authorized_keys").display(),
        );
        std::fs::write(d.join("sshd_config"), config).expect("written");
        let password_file = d.join("password");
        let mut cmd = match &login {
            Login::Key => Command::new(sshd),
            Login::Password(password, shadow) => {
                std::fs::write(&password_file, format!("{password}\n")).expect("written");
                // unshare makes the namespace's mounts private: the bind mount is seen by
                // this sshd and its sessions only. `exec` keeps the child's pid sshd's.
                let mut cmd = Command::new("unshare");
                cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
                    .arg("mount --bind \"$1\" /etc/shadow && shift && exec \"$@\"")
                    .arg("sh")
                    .arg(shadow)
                    .arg(sshd);
                cmd
            }
        };
        cmd.arg("-D").arg("-e").arg("-f").arg(d.join("sshd_config"));
        let key_file = d.join("client");
        Sshd {
            process: Process::spawn(cmd, dir, port, "sshd"),
            port,
            user,
            key_file,
            password: match login {
                Login::Key => None,
                Login::Password(password, _) => Some(password),
            },
            password_file,
            host_key,
            root,
        }
    }

    /// A `server` block (YAML flow style) logging in with the client key and checking the
    /// host key.
    pub fn key_server(&self) -> String {
        format!(
            "{{protocol: sftp, host: 127.0.0.1, port: {}, user: {}, privateKeyFile: {}, hostKey: '{}'}}",
            self.port,
            self.user,
            self.key_file.display(),
            self.host_key
        )
    }

    /// The server's log.
    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// A pyftpdlib FTP (or explicit FTPS) server with one user, `ferry`, whose home is `root`.
pub struct FtpServer {
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
    process: Process,
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
        let mut cmd = Command::new("python3");
        cmd.arg(d.join("server.py"))
            .arg(&root)
            .arg(port.to_string())
            .arg(&password)
            .arg(cert)
            .arg(key);
        Some(FtpServer {
            process: Process::spawn(cmd, dir, port, "pyftpdlib"),
            port,
            password,
            password_file,
            root,
            ca,
        })
    }

    /// The server's log.
    pub fn log(&self) -> String {
        self.process.log()
    }
}
