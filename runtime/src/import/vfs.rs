//! MI's remote VFS locations (`vfs:sftp://user:pass@host:port/path`, `ftp://`, `ftps://`)
//! to Ferry's `server` block and a path on it. The URI is split by the very parser
//! `ferry validate` uses for such addresses; the password is never written into YAML: the
//! block names a password file (a mounted Secret) and an "adjusted" line says so.

use ferry_api::check::file_server::{self, Password, RemoteUri};
use ferry_api::resources::endpoint::FileProtocol;
use serde_json::{Value, json};

use super::cx::{Cx, Obj};
use super::dom::Element;

/// Whether `uri` names a remote server Ferry can reach (`sftp`, `ftp`, `ftps`).
pub fn is_remote(uri: &str) -> bool {
    file_server::is_remote(uri)
}

/// A remote folder: the `server` block and the path on it.
pub struct Remote {
    /// The `server` block.
    pub server: Value,
    /// The folder, as the server shows it.
    pub path: String,
    uri: RemoteUri,
}

/// Where the password of the server of resource `name` is read from.
pub fn password_file(name: &str) -> String {
    format!("/etc/ferry/secrets/{name}/password")
}

/// The server and folder of `uri`, with the remote-only parameters (`SFTPIdentities`,
/// `Passive`, `SFTPUserDirIsRoot`) given beside it as `params`; `None` (reported at `el`)
/// when it is not a usable address. `name` is the resource's Kubernetes name.
pub fn remote(
    cx: &mut Cx<'_>,
    el: &Element,
    uri: &str,
    params: &[(String, String, Element)],
    name: &str,
) -> Option<Remote> {
    // The identity may be a parameter of its own rather than part of the URI.
    let identity = params
        .iter()
        .find(|(k, _, _)| k == "transport.vfs.SFTPIdentities");
    let full = match identity {
        Some((k, v, _)) => with_query(uri, k, v),
        None => uri.to_string(),
    };
    let mut u = match file_server::parse(&full) {
        Ok(u) => u,
        Err(problems) => {
            cx.not_imported(
                el,
                format!("{}: {}; left out", shown(uri), problems.join("; ")),
            );
            return None;
        }
    };
    let mut pairs: Vec<(String, String, Option<&Element>)> = u
        .query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string(), None)
        })
        .collect();
    pairs.extend(
        params
            .iter()
            .map(|(k, v, e)| (k.clone(), v.clone(), Some(e))),
    );
    let mut user_dir_is_root = false;
    for (key, value, at) in &pairs {
        let at = at.unwrap_or(el);
        if key == "transport.vfs.SFTPUserDirIsRoot" {
            user_dir_is_root = value.eq_ignore_ascii_case("true");
            continue;
        }
        let mut problems = Vec::new();
        if !file_server::parameter(&mut u.server, key, value, &mut problems) {
            problems.push(format!("{key} has no Ferry counterpart"));
        }
        for p in problems {
            cx.not_imported(at, format!("{p}; left out"));
        }
    }
    let password = match &u.server.password {
        Some(Password::Inline(_)) => {
            let file = password_file(name);
            cx.adjusted(el, format!("the password in {} is not copied into the resource: Ferry reads it from passwordFile {file}; mount a Secret holding it there", shown(uri)));
            Some(file)
        }
        Some(Password::File(f)) => Some(f.clone()),
        None => None,
    };
    let default_port = match u.server.protocol {
        FileProtocol::Sftp => 22,
        FileProtocol::Ftp | FileProtocol::Ftps => 21,
    };
    let protocol = match u.server.protocol {
        FileProtocol::Sftp => "sftp",
        FileProtocol::Ftp => "ftp",
        FileProtocol::Ftps => "ftps",
    };
    let server = Obj::new()
        .s("protocol", Some(protocol))
        .s("host", Some(u.server.host.as_str()))
        .v(
            "port",
            (u.server.port != default_port).then(|| json!(u.server.port)),
        )
        .s("user", Some(u.server.user.as_str()))
        .s("passwordFile", password)
        .s("privateKeyFile", u.server.private_key_file.clone())
        .build();
    let path = if user_dir_is_root {
        cx.adjusted(
            el,
            "SFTPUserDirIsRoot: the folder is written relative to the user's home directory",
        );
        relative(&u.path)
    } else {
        u.path.clone()
    };
    Some(Remote {
        server,
        path,
        uri: u,
    })
}

/// The folder `uri` names on `remote`'s server (a move after processing or failure);
/// `None` (reported at `el`) when it is on another server or not an address.
pub fn path_on(cx: &mut Cx<'_>, el: &Element, uri: &str, remote: &Remote) -> Option<String> {
    // A move address often leaves the credentials out; they are the folder's server's.
    let parsed = file_server::parse(&with_query(uri, "transport.vfs.SFTPIdentities", "-"));
    let same = parsed.as_ref().is_ok_and(|m| {
        let (a, b) = (&m.server, &remote.uri.server);
        a.protocol == b.protocol && a.host == b.host && a.port == b.port && a.user == b.user
    });
    match parsed {
        Ok(m) if same => Some(if remote.path.starts_with('/') {
            m.path
        } else {
            relative(&m.path)
        }),
        _ => {
            cx.not_imported(el, format!("{} is not on the polled folder's server: Ferry moves files on that server only; left out", shown(uri)));
            None
        }
    }
}

fn relative(path: &str) -> String {
    let p = path.trim_start_matches('/');
    if p.is_empty() { ".".into() } else { p.into() }
}

fn with_query(uri: &str, key: &str, value: &str) -> String {
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{key}={value}")
}

/// `uri` with any password masked, for report lines.
fn shown(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_string();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((account, host)) => {
            let user = account.split_once(':').map_or(account, |(u, _)| u);
            let masked = if account.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{masked}@{host}{tail}")
        }
        None => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn report_lines_never_show_a_password() {
        assert_eq!(
            shown("vfs:sftp://bob:s3cret@host:2222/in?x=1"),
            "vfs:sftp://bob:***@host:2222/in?x=1"
        );
        assert_eq!(shown("ftp://anon@host/in"), "ftp://anon@host/in");
    }
}
