//! File endpoint checks: the typed `file` block and Micro Integrator's VFS addresses
//! (`vfs:file:///data/out/orders.txt?transport.vfs.Append=true`,
//! `vfs:sftp://user:pass@host/out/`, `vfs:ftp://`, `vfs:ftps://`), both into one checked
//! form. Other VFS schemes (`smb://`, `http://` ...) are refused.

use percent_encoding::percent_decode_str;

use super::cx::Cx;
use super::file_server::{self, Server};
use crate::expr::Template;
use crate::resources::endpoint::{FileEndpoint, FileWriteMode};

/// The `vfs:` address scheme.
pub const SCHEME: &str = "vfs:";

/// Whether an address URI is a VFS one.
pub fn is_vfs(uri: &str) -> bool {
    uri.get(..SCHEME.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(SCHEME))
}

/// A checked file endpoint.
#[derive(Debug, Clone)]
pub struct FileTarget {
    /// The directory written into.
    pub directory: String,
    /// The file's name.
    pub file_name: FileName,
    /// How it is written.
    pub mode: FileWriteMode,
    /// With append, a line break after each payload.
    pub append_newline: bool,
    /// Create the directory when missing.
    pub create_directory: bool,
    /// With `move`: the file moved.
    pub source: Option<MoveSource>,
    /// With `move`: replace a file of the destination's name.
    pub replace_existing: bool,
    /// The remote server, `None` for the local disk.
    pub server: Option<Server>,
}

/// The file a `move` takes.
#[derive(Debug, Clone)]
pub struct MoveSource {
    /// Its directory.
    pub directory: String,
    /// Its name, rendered per message; `None`: the destination's name.
    pub file_name: Option<Template>,
}

/// Where a file endpoint's file name comes from.
#[derive(Debug, Clone)]
pub enum FileName {
    /// A template rendered per message.
    Template(Template),
    /// A VFS address's own file name, unless the message sets the property
    /// `transport.vfs.ReplyFileName` (then the address names the directory).
    Vfs {
        /// The file name in the address, if the address names a file.
        file: Option<String>,
    },
}

/// Checks a `file` block at `field` (`spec.file`).
pub fn typed(cx: &mut Cx<'_>, field: &str, f: &FileEndpoint) -> Option<FileTarget> {
    let before = cx.error_count();
    if f.directory.trim().is_empty() {
        cx.error(&format!("{field}.directory"), "directory is required");
    }
    if f.file_name.trim().is_empty() {
        cx.error(&format!("{field}.fileName"), "fileName is required");
    }
    let template = cx.template(&format!("{field}.fileName"), &f.file_name);
    if !f.file_name.contains("${")
        && let Err(e) = plain_name(&f.file_name)
    {
        cx.error(&format!("{field}.fileName"), e);
    }
    if f.append_newline && f.mode != FileWriteMode::Append {
        cx.error(
            &format!("{field}.appendNewline"),
            "appendNewline goes with mode: append",
        );
    }
    let moving = f.mode == FileWriteMode::Move;
    for (set, at) in [
        (f.source_directory.is_some(), "sourceDirectory"),
        (f.source_file_name.is_some(), "sourceFileName"),
        (f.replace_existing, "replaceExisting"),
    ] {
        if set && !moving {
            cx.error(
                &format!("{field}.{at}"),
                format!("{at} goes with mode: move"),
            );
        }
    }
    let mut source = None;
    if moving {
        match &f.source_directory {
            Some(d) if !d.trim().is_empty() => {
                let name = match &f.source_file_name {
                    Some(n) => {
                        if !n.contains("${")
                            && let Err(e) = plain_name(n)
                        {
                            cx.error(&format!("{field}.sourceFileName"), e);
                        }
                        cx.template(&format!("{field}.sourceFileName"), n).map(Some)
                    }
                    None => Some(None),
                };
                source = name.map(|file_name| MoveSource {
                    directory: d.clone(),
                    file_name,
                });
            }
            _ => cx.error(
                &format!("{field}.sourceDirectory"),
                "mode move needs sourceDirectory, the directory of the file moved",
            ),
        }
    }
    let server = match &f.server {
        Some(s) => file_server::typed(cx, &format!("{field}.server"), s).map(Some),
        None => Some(None),
    };
    if cx.error_count() > before {
        return None;
    }
    Some(FileTarget {
        directory: f.directory.clone(),
        file_name: FileName::Template(template?),
        mode: f.mode,
        append_newline: f.append_newline,
        create_directory: f.create_directory,
        source,
        replace_existing: f.replace_existing,
        server: server?,
    })
}

/// Parses a `vfs:file://...`, `vfs:sftp://...`, `vfs:ftp://...` or `vfs:ftps://...`
/// address; `Err` lists every problem.
pub fn vfs(uri: &str) -> Result<FileTarget, Vec<String>> {
    let rest = &uri[SCHEME.len().min(uri.len())..];
    let mut problems = Vec::new();
    let (mut server, path, query) = if file_server::is_remote(rest) {
        let remote = file_server::parse(rest)?;
        (Some(remote.server), remote.path, remote.query)
    } else {
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let Some(path) = location
            .get(..7)
            .filter(|s| s.eq_ignore_ascii_case("file://"))
            .map(|_| &location[7..])
        else {
            return Err(vec![format!(
                "only vfs:file://, vfs:sftp://, vfs:ftp:// and vfs:ftps:// addresses are supported, not {location:?}"
            )]);
        };
        let path = percent_decode_str(path).decode_utf8_lossy().into_owned();
        (None, path, query.to_string())
    };
    let mut path = path;
    if path.is_empty() {
        problems.push("the address names no path (vfs:file:///data/out/orders.txt)".into());
    }
    let mut mode = FileWriteMode::Overwrite;
    let mut create_directory = true;
    let mut user_dir_is_root = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if let Some(s) = server.as_mut()
            && file_server::parameter(s, key, value, &mut problems)
        {
            continue;
        }
        let flag = match value.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        };
        let sftp = server
            .as_ref()
            .is_some_and(|s| s.protocol == crate::resources::FileProtocol::Sftp);
        match (key, flag) {
            ("transport.vfs.Append", Some(true)) => mode = FileWriteMode::Append,
            ("transport.vfs.Append", Some(false)) => mode = FileWriteMode::Overwrite,
            ("transport.vfs.CreateFolder", Some(v)) => create_directory = v,
            ("transport.vfs.SFTPUserDirIsRoot", Some(v)) if sftp => user_dir_is_root = v,
            (
                "transport.vfs.Append"
                | "transport.vfs.CreateFolder"
                | "transport.vfs.SFTPUserDirIsRoot",
                None,
            ) if sftp || key != "transport.vfs.SFTPUserDirIsRoot" => {
                problems.push(format!("{key} must be true or false, not {value:?}"))
            }
            _ => problems.push(format!(
                "unknown parameter {key:?}; known: transport.vfs.Append, transport.vfs.CreateFolder{}",
                match server.as_ref().map(|s| s.protocol) {
                    Some(crate::resources::FileProtocol::Sftp) =>
                        ", transport.vfs.SFTPIdentities, transport.vfs.SFTPUserDirIsRoot",
                    Some(_) => ", transport.vfs.Passive",
                    None => "",
                }
            )),
        }
    }
    // SFTPUserDirIsRoot: the path is under the user's home directory, not the root.
    if user_dir_is_root {
        path = path.trim_start_matches('/').to_string();
        if path.is_empty() {
            path = ".".into();
        }
    }
    // A path ending in / names a directory (the file name then comes from the message's
    // transport.vfs.ReplyFileName property); otherwise its last part is the file.
    let (directory, file) = match path.strip_suffix('/') {
        Some(dir) => (dir.to_string(), None),
        None => match path.rsplit_once('/') {
            Some((dir, name)) => (
                if dir.is_empty() {
                    "/".to_string()
                } else {
                    dir.to_string()
                },
                Some(name.to_string()),
            ),
            None => (".".to_string(), Some(path.clone())),
        },
    };
    if let Some(f) = &file
        && let Err(e) = plain_name(f)
    {
        problems.push(e);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(FileTarget {
        directory: if directory.is_empty() {
            "/".into()
        } else {
            directory
        },
        file_name: FileName::Vfs { file },
        mode,
        append_newline: false,
        create_directory,
        source: None,
        replace_existing: false,
        server,
    })
}

/// Checks that `name` is a file name, not a path: no `/` or `\`, not `.` or `..`, no NUL,
/// not empty.
pub fn plain_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Err(format!(
            "{name:?} is not a file name (no /, \\, . or .. : files stay in the endpoint's directory)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vfs_address_names_a_file_or_a_directory() {
        let t = vfs("vfs:file:///data/out/orders.txt?transport.vfs.Append=true").expect("ok");
        assert_eq!(t.directory, "/data/out");
        assert!(matches!(t.file_name, FileName::Vfs { file: Some(ref f) } if f == "orders.txt"));
        assert_eq!(t.mode, FileWriteMode::Append);
        let d = vfs("vfs:file:///data/out/").expect("ok");
        assert!(matches!(d.file_name, FileName::Vfs { file: None }));
        assert_eq!(d.mode, FileWriteMode::Overwrite);
    }

    #[test]
    fn other_schemes_and_unknown_parameters_are_refused() {
        assert!(vfs("vfs:smb://host/x").is_err());
        assert!(vfs("vfs:sftp://host/x").is_err(), "no user");
        let p = vfs("vfs:file:///x/y?transport.vfs.Append=maybe&transport.vfs.Locking=true")
            .expect_err("bad");
        assert_eq!(p.len(), 2, "{p:?}");
    }

    #[test]
    fn a_remote_address_names_its_server_and_takes_its_parameters() {
        let t = vfs("vfs:sftp://bob:pw@127.0.0.1:2222/out/a.txt?transport.vfs.Append=true&transport.vfs.SFTPUserDirIsRoot=true")
            .expect("ok");
        assert_eq!(t.directory, "out");
        assert_eq!(t.mode, FileWriteMode::Append);
        let s = t.server.expect("remote");
        assert_eq!((s.host.as_str(), s.port), ("127.0.0.1", 2222));
        let f = vfs("vfs:ftp://anna:pw@h/in/?transport.vfs.Passive=true").expect("ok");
        assert_eq!(f.directory, "/in");
        let p = vfs(
            "vfs:ftp://anna:pw@h/in/?transport.vfs.Passive=false&transport.vfs.SFTPIdentities=/k",
        )
        .expect_err("bad");
        assert_eq!(p.len(), 2, "{p:?}");
    }

    #[test]
    fn a_file_name_is_never_a_path() {
        for bad in ["", ".", "..", "a/b", "..\\x", "a\0b"] {
            assert!(plain_name(bad).is_err(), "{bad:?}");
        }
        assert!(plain_name("order-7.json").is_ok());
    }
}
