//! What `ferry test` prints and writes: a line per case (with the failures, their diffs and
//! the case's log lines under a failed one), a summary, JUnit XML for CI systems, and the
//! coverage table.

use std::fmt::Write as _;
use std::time::Duration;

use super::CaseResult;
use crate::coverage::{self, Kind};

/// The readable report of every case, and the summary line.
pub fn text(results: &[CaseResult], elapsed: Duration) -> String {
    let mut out = String::new();
    for r in results {
        let ms = r.duration.as_millis();
        if r.passed() {
            let _ = writeln!(out, "PASS  {} / {} ({ms} ms)", r.suite, r.case);
        } else {
            let _ = writeln!(
                out,
                "FAIL  {} / {} ({ms} ms)  {}:{}",
                r.suite, r.case, r.file, r.line
            );
            for f in &r.failures {
                let _ = writeln!(out, "      {}", f.message);
                if let Some(detail) = &f.detail {
                    for line in detail.lines() {
                        let _ = writeln!(out, "      {line}");
                    }
                }
            }
            if !r.logs.is_empty() {
                let _ = writeln!(out, "      log lines of the case:");
                for l in &r.logs {
                    let _ = writeln!(out, "        {} {}", l.level, l.text);
                }
            }
        }
        for note in &r.notes {
            let _ = writeln!(out, "      note: {note}");
        }
    }
    let failed = results.iter().filter(|r| !r.passed()).count();
    let _ = writeln!(
        out,
        "\n{} case{}: {} passed, {failed} failed ({:.2} s)",
        results.len(),
        if results.len() == 1 { "" } else { "s" },
        results.len() - failed,
        elapsed.as_secs_f64()
    );
    out
}

/// Text safe in XML: markup escaped, characters XML 1.0 cannot hold dropped.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML (the Ant/Jenkins `junit-10.xsd` shape every CI system reads): one
/// `<testsuite>` per TestSuite, one `<testcase>` per case, a `<failure>` with the full
/// report of a failed one, and the case's log lines as its `<system-out>`.
pub fn junit(results: &[CaseResult], timestamp: &str) -> String {
    let mut suites: Vec<(&str, Vec<&CaseResult>)> = Vec::new();
    for r in results {
        match suites.iter_mut().find(|(name, _)| *name == r.suite) {
            Some((_, cases)) => cases.push(r),
            None => suites.push((&r.suite, vec![r])),
        }
    }
    let total_failed = results.iter().filter(|r| !r.passed()).count();
    let total_time: f64 = results.iter().map(|r| r.duration.as_secs_f64()).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"ferry test\" tests=\"{}\" failures=\"{total_failed}\" errors=\"0\" time=\"{total_time:.3}\">",
        results.len()
    );
    for (id, (name, cases)) in suites.iter().enumerate() {
        let failed = cases.iter().filter(|r| !r.passed()).count();
        let time: f64 = cases.iter().map(|r| r.duration.as_secs_f64()).sum();
        let file = cases.first().map_or("", |r| r.file.as_str());
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\" time=\"{time:.3}\" timestamp=\"{}\" hostname=\"localhost\" id=\"{id}\" package=\"{}\" file=\"{}\">",
            xml_escape(name),
            cases.len(),
            xml_escape(timestamp),
            xml_escape(name),
            xml_escape(file),
        );
        out.push_str("    <properties/>\n");
        for r in cases {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\" file=\"{}\" line=\"{}\"",
                xml_escape(&r.case),
                xml_escape(&r.suite),
                r.duration.as_secs_f64(),
                xml_escape(&r.file),
                r.line
            );
            if r.passed() && r.logs.is_empty() {
                out.push_str("/>\n");
                continue;
            }
            out.push_str(">\n");
            if let Some(first) = r.failures.first() {
                let mut full = String::new();
                for f in &r.failures {
                    let _ = writeln!(full, "{}", f.message);
                    if let Some(d) = &f.detail {
                        full.push_str(d);
                    }
                }
                let _ = writeln!(
                    out,
                    "      <failure message=\"{}\" type=\"AssertionError\">{}</failure>",
                    xml_escape(&first.message),
                    xml_escape(&full)
                );
            }
            if !r.logs.is_empty() {
                let logs: String = r
                    .logs
                    .iter()
                    .map(|l| format!("{} {}\n", l.level, l.text))
                    .collect();
                let _ = writeln!(out, "      <system-out>{}</system-out>", xml_escape(&logs));
            }
            out.push_str("    </testcase>\n");
        }
        out.push_str("    <system-out/>\n    <system-err/>\n  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// The coverage table: per kind, how many of the configuration's points the cases passed,
/// then every point they did not.
pub fn coverage() -> String {
    let entries = coverage::snapshot();
    let mut out = String::from("\ncoverage:\n");
    let kinds = [Kind::Resource, Kind::Sequence, Kind::Branch, Kind::Fault];
    for kind in kinds {
        let of_kind: Vec<_> = entries.iter().filter(|e| e.kind == kind).collect();
        let hit = of_kind.iter().filter(|e| e.hits > 0).count();
        let percent = if of_kind.is_empty() {
            100.0
        } else {
            100.0 * hit as f64 / of_kind.len() as f64
        };
        let _ = writeln!(
            out,
            "  {:<16} {hit:>4}/{:<4} {percent:5.1}%",
            kind.heading(),
            of_kind.len()
        );
    }
    let missed: Vec<_> = entries.iter().filter(|e| e.hits == 0).collect();
    if !missed.is_empty() {
        out.push_str("  not exercised:\n");
        for e in missed {
            let what = if e.what.is_empty() {
                String::new()
            } else {
                format!(" {}", e.what)
            };
            let _ = writeln!(out, "    {:<15} {}{what}", e.kind.heading(), e.owner);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert::Failure;

    fn case(name: &str, failures: Vec<Failure>) -> CaseResult {
        CaseResult {
            suite: "s<1>".into(),
            file: "t.yaml".into(),
            line: 7,
            case: name.into(),
            duration: Duration::from_millis(12),
            failures,
            notes: Vec::new(),
            logs: Vec::new(),
        }
    }

    #[test]
    fn junit_counts_failures_and_escapes_text() {
        let xml = junit(
            &[
                case("ok", vec![]),
                case(
                    "bad & \u{1}worse",
                    vec![Failure::new("status: expected 200, got <500>")],
                ),
            ],
            "2026-01-01T00:00:00",
        );
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert!(xml.contains("name=\"bad &amp; worse\""), "{xml}");
        assert!(
            xml.contains("message=\"status: expected 200, got &lt;500&gt;\""),
            "{xml}"
        );
        assert!(xml.contains("<testsuite name=\"s&lt;1&gt;\""), "{xml}");
    }

    #[test]
    fn the_text_report_shows_a_failed_case_with_its_location() {
        let text = text(
            &[case(
                "bad",
                vec![Failure::new("status: expected 200, got 500")],
            )],
            Duration::from_millis(30),
        );
        assert!(
            text.contains("FAIL  s<1> / bad (12 ms)  t.yaml:7"),
            "{text}"
        );
        assert!(text.contains("1 case: 0 passed, 1 failed"), "{text}");
    }
}
