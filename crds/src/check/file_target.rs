//! File endpoint checks: the typed `file` block and Micro Integrator's VFS addresses
//! (`vfs:file:///data/out/orders.txt?transport.vfs.Append=true`), both into one checked
//! form. Only local files: `vfs:sftp://`, `vfs:ftp://` and other VFS schemes are refused.

use percent_encoding::percent_decode_str;

use super::cx::Cx;
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
    if cx.error_count() > before {
        return None;
    }
    Some(FileTarget {
        directory: f.directory.clone(),
        file_name: FileName::Template(template?),
        mode: f.mode,
        append_newline: f.append_newline,
        create_directory: f.create_directory,
    })
}

/// Parses a `vfs:file://...` address; `Err` lists every problem.
pub fn vfs(uri: &str) -> Result<FileTarget, Vec<String>> {
    let rest = &uri[SCHEME.len().min(uri.len())..];
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut problems = Vec::new();
    let Some(path) = location
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("file://"))
        .map(|_| &location[7..])
    else {
        return Err(vec![format!(
            "only local files (vfs:file:///path) are supported, not {location:?}"
        )]);
    };
    let path = percent_decode_str(path).decode_utf8_lossy().into_owned();
    if path.is_empty() {
        problems.push("the address names no path (vfs:file:///data/out/orders.txt)".into());
    }
    let mut mode = FileWriteMode::Overwrite;
    let mut create_directory = true;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let flag = match value.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        };
        match (key, flag) {
            ("transport.vfs.Append", Some(true)) => mode = FileWriteMode::Append,
            ("transport.vfs.Append", Some(false)) => mode = FileWriteMode::Overwrite,
            ("transport.vfs.CreateFolder", Some(v)) => create_directory = v,
            ("transport.vfs.Append" | "transport.vfs.CreateFolder", None) => {
                problems.push(format!("{key} must be true or false, not {value:?}"))
            }
            _ => problems.push(format!(
                "unknown parameter {key:?}; known: transport.vfs.Append, transport.vfs.CreateFolder"
            )),
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
    fn remote_schemes_and_unknown_parameters_are_refused() {
        assert!(vfs("vfs:sftp://host/x").is_err());
        let p = vfs("vfs:file:///x/y?transport.vfs.Append=maybe&transport.vfs.Locking=true")
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
