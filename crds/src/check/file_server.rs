//! Remote file server checks: a typed `server` block (SFTP, FTP, FTPS) and the account part
//! of Micro Integrator's VFS URIs (`sftp://user:pass@host:2222/path`, `ftp://`, `ftps://`,
//! with or without the `vfs:` prefix), both into one checked [`Server`]. Reading the
//! password and key files and connecting are the runtime's; a password written in a URI is
//! kept out of every `Debug` and log line.

use std::fmt;

use percent_encoding::percent_decode_str;

use super::cx::Cx;
use super::tls::ClientTls;
use crate::resources::TlsVersion;
use crate::resources::endpoint::{FileProtocol, FileServer};

/// A checked remote file server.
#[derive(Debug, Clone)]
pub struct Server {
    /// SFTP, FTP or FTPS.
    pub protocol: FileProtocol,
    /// Host name or address.
    pub host: String,
    /// Port (the protocol's default filled in).
    pub port: u16,
    /// The user logged in as.
    pub user: String,
    /// Where the password comes from.
    pub password: Option<Password>,
    /// SFTP: the private key file.
    pub private_key_file: Option<String>,
    /// SFTP: the expected host key fingerprint (`SHA256:...`).
    pub host_key: Option<String>,
    /// FTPS: the TLS settings (CAs, oldest version).
    pub tls: Option<ClientTls>,
    /// Milliseconds to connect and for each operation.
    pub timeout: u64,
}

impl Server {
    /// `protocol://user@host:port`, for logs and messages: never the password.
    pub fn display(&self) -> String {
        let scheme = match self.protocol {
            FileProtocol::Sftp => "sftp",
            FileProtocol::Ftp => "ftp",
            FileProtocol::Ftps => "ftps",
        };
        format!("{scheme}://{}@{}:{}", self.user, self.host, self.port)
    }
}

/// Where a server's password comes from.
#[derive(Clone)]
pub enum Password {
    /// A file holding it.
    File(String),
    /// Written in a VFS URI (as Micro Integrator allows).
    Inline(String),
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Password::File(path) => f.debug_tuple("File").field(path).finish(),
            Password::Inline(_) => f.write_str("Inline(***)"),
        }
    }
}

fn default_port(p: FileProtocol) -> u16 {
    match p {
        FileProtocol::Sftp => 22,
        FileProtocol::Ftp | FileProtocol::Ftps => 21,
    }
}

/// Checks a typed `server` block at `field` (`spec.file.server`).
pub fn typed(cx: &mut Cx<'_>, field: &str, s: &FileServer) -> Option<Server> {
    let before = cx.error_count();
    if s.host.trim().is_empty() {
        cx.error(&format!("{field}.host"), "host is required");
    }
    if s.user.trim().is_empty() {
        cx.error(&format!("{field}.user"), "user is required");
    }
    if s.port == Some(0) {
        cx.error(&format!("{field}.port"), "must be a port number (1-65535)");
    }
    if s.timeout == 0 {
        cx.error(
            &format!("{field}.timeout"),
            "must be at least 1 millisecond",
        );
    }
    let sftp = s.protocol == FileProtocol::Sftp;
    if !sftp && s.private_key_file.is_some() {
        cx.error(
            &format!("{field}.privateKeyFile"),
            "a private key logs in over sftp only",
        );
    }
    if !sftp && s.host_key.is_some() {
        cx.error(
            &format!("{field}.hostKey"),
            "a host key is checked over sftp only (ftps: trust the server's CA with tls.caFrom)",
        );
    }
    if let Some(k) = &s.host_key
        && !k.starts_with("SHA256:")
    {
        cx.error(
            &format!("{field}.hostKey"),
            "write the fingerprint as ssh-keygen -lf prints it: SHA256:...",
        );
    }
    if sftp && s.password_file.is_none() && s.private_key_file.is_none() {
        cx.error(
            &format!("{field}.passwordFile"),
            "sftp needs passwordFile or privateKeyFile to log in",
        );
    }
    if !s.passive {
        cx.error(
            &format!("{field}.passive"),
            "active FTP is not supported (the server would have to connect back to the pod)",
        );
    }
    let tls = match (&s.tls, s.protocol) {
        (Some(t), FileProtocol::Ftps) => super::tls::client(cx, &format!("{field}.tls"), t),
        (Some(_), _) => {
            cx.error(&format!("{field}.tls"), "tls goes with protocol: ftps");
            None
        }
        (None, FileProtocol::Ftps) => Some(plain_tls()),
        (None, _) => None,
    };
    (cx.error_count() == before).then(|| Server {
        protocol: s.protocol,
        host: s.host.clone(),
        port: s.port.unwrap_or(default_port(s.protocol)),
        user: s.user.clone(),
        password: s.password_file.clone().map(Password::File),
        private_key_file: s.private_key_file.clone(),
        host_key: s.host_key.clone(),
        tls,
        timeout: s.timeout,
    })
}

/// FTPS with the system's CAs only.
fn plain_tls() -> ClientTls {
    ClientTls {
        ca_env: None,
        identity_env: None,
        server_name: None,
        min_version: TlsVersion::Tls12,
    }
}

/// Whether `uri` (less an optional `vfs:`) is a remote VFS URI: `sftp://`, `ftp://`,
/// `ftps://`.
pub fn is_remote(uri: &str) -> bool {
    scheme(uri).is_some()
}

fn scheme(uri: &str) -> Option<(FileProtocol, &str)> {
    let rest = match uri.get(..4) {
        Some(p) if p.eq_ignore_ascii_case("vfs:") => &uri[4..],
        _ => uri,
    };
    for (prefix, p) in [
        ("sftp://", FileProtocol::Sftp),
        ("ftps://", FileProtocol::Ftps),
        ("ftp://", FileProtocol::Ftp),
    ] {
        if rest
            .get(..prefix.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(prefix))
        {
            return Some((p, &rest[prefix.len()..]));
        }
    }
    None
}

/// A remote VFS URI split: the server, the path (as written after the host, decoded) and
/// the query string.
#[derive(Debug)]
pub struct RemoteUri {
    /// The server (a password written in the URI is kept as [`Password::Inline`]).
    pub server: Server,
    /// The path after the host, `/` included.
    pub path: String,
    /// The query string, without `?`.
    pub query: String,
}

/// Parses `[vfs:]sftp|ftp|ftps://user[:password]@host[:port]/path[?query]`; `Err` lists
/// every problem (never the password).
pub fn parse(uri: &str) -> Result<RemoteUri, Vec<String>> {
    let Some((protocol, rest)) = scheme(uri) else {
        return Err(vec!["not an sftp://, ftp:// or ftps:// address".into()]);
    };
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = match location.find('/') {
        Some(i) => (&location[..i], &location[i..]),
        None => (location, "/"),
    };
    let mut problems = Vec::new();
    // The password may hold '@' when not encoded: the host is after the last one.
    let (account, host_port) = match authority.rsplit_once('@') {
        Some((a, h)) => (Some(a), h),
        None => (None, authority),
    };
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let (user, password) = match account {
        Some(a) => match a.split_once(':') {
            Some((u, p)) => (decode(u), Some(Password::Inline(decode(p)))),
            None => (decode(a), None),
        },
        None => (String::new(), None),
    };
    if user.is_empty() {
        problems.push("the address names no user (sftp://user@host/path)".to_string());
    }
    // `host`, `host:port`, `[v6]` or `[v6]:port`.
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, rest)) => (h, Some(rest.strip_prefix(':').unwrap_or(rest))),
            None => (v6, None),
        },
        None => match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        },
    };
    let port = match port {
        None => default_port(protocol),
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => {
                problems.push(format!("{p:?} is not a port number"));
                default_port(protocol)
            }
        },
    };
    if host.is_empty() {
        problems.push("the address names no host".to_string());
    }
    if protocol == FileProtocol::Sftp && password.is_none() && !query.contains("SFTPIdentities") {
        problems.push(
            "sftp needs a password in the address (user:password@) or transport.vfs.SFTPIdentities (a private key file)"
                .to_string(),
        );
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(RemoteUri {
        server: Server {
            protocol,
            host: host.to_string(),
            port,
            user,
            password,
            private_key_file: None,
            host_key: None,
            tls: (protocol == FileProtocol::Ftps).then(plain_tls),
            timeout: 30_000,
        },
        path: decode(path),
        query: query.to_string(),
    })
}

/// Applies the remote-only VFS parameters of a URI's query to `server`; returns `true`
/// when `key` was one (`transport.vfs.SFTPIdentities`, `transport.vfs.Passive`,
/// `transport.vfs.SFTPUserDirIsRoot` is the caller's).
pub fn parameter(server: &mut Server, key: &str, value: &str, problems: &mut Vec<String>) -> bool {
    match key {
        "transport.vfs.SFTPIdentities" => {
            if server.protocol != FileProtocol::Sftp {
                problems.push(format!("{key} goes with sftp://"));
            } else if value.is_empty() {
                problems.push(format!("{key} must name a private key file"));
            } else {
                server.private_key_file =
                    Some(percent_decode_str(value).decode_utf8_lossy().into_owned());
            }
            true
        }
        "transport.vfs.Passive" => {
            match value.to_ascii_lowercase().as_str() {
                "true" => {}
                "false" => problems
                    .push("transport.vfs.Passive=false: active FTP is not supported".to_string()),
                _ => problems.push(format!("{key} must be true or false, not {value:?}")),
            }
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_mi_address_gives_the_server_and_path_and_hides_the_password() {
        let u = parse("vfs:sftp://bob:s%40cret@127.0.0.1:2222/upload/out").expect("ok");
        assert_eq!(u.server.protocol, FileProtocol::Sftp);
        assert_eq!((u.server.host.as_str(), u.server.port), ("127.0.0.1", 2222));
        assert_eq!(u.server.user, "bob");
        assert!(matches!(u.server.password, Some(Password::Inline(ref p)) if p == "s@cret"));
        assert_eq!(u.path, "/upload/out");
        let shown = format!("{:?} {}", u.server, u.server.display());
        assert!(
            !shown.contains("s@cret") && !shown.contains("s%40cret"),
            "{shown}"
        );
        let f =
            parse("ftps://anna:pw@files.example:990/in?transport.vfs.Passive=true").expect("ok");
        assert_eq!(f.server.protocol, FileProtocol::Ftps);
        assert!(f.server.tls.is_some());
        assert_eq!(f.query, "transport.vfs.Passive=true");
        assert_eq!(parse("ftp://anna@h/").expect("ok").server.port, 21);
        let v6 = parse("ftp://anna@[::1]:2121/x").expect("ok").server;
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 2121));
    }

    #[test]
    fn an_address_without_user_host_or_credentials_is_refused() {
        assert!(parse("sftp://host/x").is_err());
        assert!(parse("sftp://bob@host/x").is_err(), "no password, no key");
        assert!(parse("sftp://bob@host/x?transport.vfs.SFTPIdentities=/k").is_ok());
        assert!(parse("ftp://bob:pw@:21/x").is_err());
        assert!(parse("ftp://bob:pw@h:99999/x").is_err());
        assert!(parse("file:///x").is_err());
    }
}
