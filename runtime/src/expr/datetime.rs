//! `formatDateTime`: Java `DateTimeFormatter` patterns (`yyyy-MM-dd'T'HH:mm:ss`) translated
//! to chrono's strftime items, so configurations written for MI keep their patterns.

use std::fmt::Write as _;

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, NaiveTime};

use super::EvalError;

/// Translates a Java date-time pattern to a chrono format string.
pub(crate) fn java_to_chrono(pattern: &str) -> Result<String, EvalError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // 'literal' text; '' is a single quote.
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        out.push('\'');
                        i += 2;
                        continue;
                    }
                    break;
                }
                push_literal(&mut out, chars[i]);
                i += 1;
            }
            i += 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            push_literal(&mut out, c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        i += n;
        let item = match (c, n) {
            ('y' | 'u', 2) => "%y",
            ('y' | 'u', _) => "%Y",
            ('M' | 'L', 1) => "%-m",
            ('M' | 'L', 2) => "%m",
            ('M' | 'L', 3) => "%b",
            ('M' | 'L', _) => "%B",
            ('d', 1) => "%-d",
            ('d', _) => "%d",
            ('D', _) => "%j",
            ('H', 1) => "%-H",
            ('H', _) => "%H",
            ('h', 1) => "%-I",
            ('h', _) => "%I",
            ('m', 1) => "%-M",
            ('m', _) => "%M",
            ('s', 1) => "%-S",
            ('s', _) => "%S",
            ('S', 3) => "%3f",
            ('S', 6) => "%6f",
            ('S', 9) => "%9f",
            ('a', _) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('e', _) => "%u",
            ('z', _) => "%Z",
            ('Z', _) => "%z",
            ('X' | 'x', 1 | 2) => "%z",
            ('X' | 'x', _) => "%:z",
            _ => {
                let letters: String = std::iter::repeat_n(c, n).collect();
                return Err(EvalError::Invalid(format!(
                    "formatDateTime(): pattern letters '{letters}' are not supported"
                )));
            }
        };
        out.push_str(item);
    }
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

/// `formatDateTime(millis, outputFormat)`: epoch milliseconds in the local time zone.
pub(crate) fn format_millis(millis: i64, output: &str) -> Result<String, EvalError> {
    let fmt = java_to_chrono(output)?;
    let at = DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| EvalError::Invalid(format!("formatDateTime(): {millis} is out of range")))?
        .with_timezone(&Local);
    render(at.format(&fmt), output)
}

/// `formatDateTime(text, inputFormat, outputFormat)`: parsed as a date-time, else a date,
/// else a time (as MI tries them).
pub(crate) fn reformat(text: &str, input: &str, output: &str) -> Result<String, EvalError> {
    let in_fmt = java_to_chrono(input)?;
    let out_fmt = java_to_chrono(output)?;
    if let Ok(dt) = NaiveDateTime::parse_from_str(text, &in_fmt) {
        return render(dt.format(&out_fmt), output);
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, &in_fmt) {
        return render(d.format(&out_fmt), output);
    }
    if let Ok(t) = NaiveTime::parse_from_str(text, &in_fmt) {
        return render(t.format(&out_fmt), output);
    }
    Err(EvalError::Invalid(format!(
        "formatDateTime(): '{text}' does not match '{input}'"
    )))
}

/// Writes a delayed format; an output pattern asking for fields the value lacks (a time
/// of day for a date) is an error rather than a panic.
fn render(df: impl std::fmt::Display, pattern: &str) -> Result<String, EvalError> {
    let mut s = String::new();
    write!(s, "{df}").map_err(|_| {
        EvalError::Invalid(format!(
            "formatDateTime(): '{pattern}' needs fields the value lacks"
        ))
    })?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_patterns_translate_to_chrono() {
        assert_eq!(
            java_to_chrono("yyyy-MM-dd'T'HH:mm:ss.SSS").unwrap(),
            "%Y-%m-%dT%H:%M:%S.%3f"
        );
        assert_eq!(
            java_to_chrono("dd MMM yy, EEE h:m a").unwrap(),
            "%d %b %y, %a %-I:%-M %p"
        );
        assert_eq!(java_to_chrono("'It''s' 100%").unwrap(), "It's 100%%");
        assert!(java_to_chrono("qqq").is_err());
    }

    #[test]
    fn reformat_parses_date_times_dates_and_times() {
        assert_eq!(
            reformat("29-09-1988", "dd-MM-yyyy", "yyyy MMM dd").unwrap(),
            "1988 Sep 29"
        );
        assert_eq!(
            reformat(
                "2024-01-02 03:04:05",
                "yyyy-MM-dd HH:mm:ss",
                "dd/MM/yyyy'T'HH.mm"
            )
            .unwrap(),
            "02/01/2024T03.04"
        );
        assert_eq!(reformat("13:45", "HH:mm", "h:mm a").unwrap(), "1:45 PM");
        assert!(reformat("nope", "yyyy", "yyyy").is_err());
        assert!(reformat("29-09-1988", "dd-MM-yyyy", "HH:mm").is_err());
    }
}
