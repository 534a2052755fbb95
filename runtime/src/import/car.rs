//! Carbon applications (`.car`): the zip archives MI projects build, holding an
//! `artifacts.xml` and one folder per artifact with its Synapse file. Every Synapse file
//! inside is imported as if it had been given on its own, named `app.car!/folder/file.xml`.

use std::io::Read as _;

use super::report::{Entry, Report, Status};
use super::{SourceFile, is_build_file};

/// Files larger than this inside an archive are not read (a Synapse artifact is a few KiB;
/// this guards against a zip bomb).
const MAX_ENTRY_BYTES: u64 = 16 * 1024 * 1024;

/// Reads the Synapse files of the archive `bytes`, shown as `shown`.
pub fn read(shown: &str, bytes: &[u8], out: &mut Vec<SourceFile>, report: &mut Report) {
    let fail = |message: String| Entry {
        status: Status::NotImported,
        file: shown.to_string(),
        line: 0,
        path: String::new(),
        message,
    };
    let mut archive = match zip::ZipArchive::new(std::io::Cursor::new(bytes)) {
        Ok(a) => a,
        Err(e) => {
            report.entries.push(fail(format!(
                "not a readable carbon application (zip): {e}"
            )));
            return;
        }
    };
    let mut names = Vec::new();
    for name in archive.file_names() {
        match name {
            Ok(n) => names.push(n.into_owned()),
            Err(e) => report
                .entries
                .push(fail(format!("an entry name cannot be read: {e}"))),
        }
    }
    if !names.iter().any(|n| n == "artifacts.xml") {
        report.entries.push(Entry {
            status: Status::Adjusted,
            file: shown.to_string(),
            line: 0,
            path: String::new(),
            message: "no artifacts.xml: not a carbon application; its Synapse files are imported all the same".into(),
        });
    }
    let mut wanted: Vec<String> = names
        .into_iter()
        .filter(|n| {
            let lower = n.to_ascii_lowercase();
            (lower.ends_with(".xml") || lower.ends_with(".dbs")) && !is_build_file(n)
        })
        .collect();
    wanted.sort();
    for name in wanted {
        let entry_name = format!("{shown}!/{name}");
        let mut file = match archive.by_name(&name) {
            Ok(f) => f,
            Err(e) => {
                report
                    .entries
                    .push(fail(format!("{name}: cannot be read: {e}")));
                continue;
            }
        };
        if file.size() > MAX_ENTRY_BYTES {
            report.entries.push(Entry {
                file: entry_name,
                ..fail(format!("larger than {MAX_ENTRY_BYTES} bytes; not read"))
            });
            continue;
        }
        let mut text = String::new();
        match file
            .by_ref()
            .take(MAX_ENTRY_BYTES)
            .read_to_string(&mut text)
        {
            Ok(_) => out.push(SourceFile {
                name: entry_name,
                text,
            }),
            Err(e) => report.entries.push(Entry {
                file: entry_name,
                ..fail(format!("cannot be read: {e}"))
            }),
        }
    }
}
