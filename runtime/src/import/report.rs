//! The import report: one line per artifact mapped, per adjustment and per thing that
//! could not be imported, each with its source file, line and element path, so nothing is
//! dropped without a word. `--strict` fails the command when any line says "not imported".

use std::fmt;

/// How an item of the source fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Mapped as it was.
    Mapped,
    /// Mapped with a change whose reason the message gives.
    Adjusted,
    /// Left out: Ferry cannot run it yet, or the source could not be read.
    NotImported,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Mapped => "mapped",
            Status::Adjusted => "adjusted",
            Status::NotImported => "not imported",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What happened.
    pub status: Status,
    /// The source file (inside a `.car`: `archive.car!/path`).
    pub file: String,
    /// The 1-based line in the source file (0 when the file has none).
    pub line: u32,
    /// The element path (`api[HealthcareAPI]/resource[1]/inSequence/log[2]`).
    pub path: String,
    /// What was done, or why not.
    pub message: String,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        write!(f, ": {}: ", self.status.label())?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "{}", self.message)
    }
}

/// All lines of an import.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// The lines, in source order per file.
    pub entries: Vec<Entry>,
}

impl Report {
    /// Whether something could not be imported.
    pub fn has_unmapped(&self) -> bool {
        self.entries.iter().any(|e| e.status == Status::NotImported)
    }

    /// Counts by status: (mapped, adjusted, not imported).
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |s| self.entries.iter().filter(|e| e.status == s).count();
        (
            count(Status::Mapped),
            count(Status::Adjusted),
            count(Status::NotImported),
        )
    }
}
