//! SQL with parameters, cut once into text and parameter slots so the runtime only joins
//! the pieces with its driver's placeholder (`$1` for PostgreSQL, `?` for MySQL and
//! SQLite). Request values are never part of the text: each slot is bound by the driver.
//!
//! The scanner knows where a `:name` or `?` is not a parameter: inside quoted strings and
//! identifiers (`'...'`, `"..."`, `` `...` ``, PostgreSQL's `$tag$...$tag$`), comments
//! (`-- ...`, `/* ... */`) and PostgreSQL casts (`::int`).

/// One piece of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlPiece {
    /// SQL text, as written.
    Text(String),
    /// A named parameter `:name` (data services).
    Named(String),
    /// A positional parameter `?` (the database mediators), numbered from 0.
    Positional(usize),
}

/// Which parameter form a statement uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamStyle {
    /// `:name`, as MI data services write them.
    Named,
    /// `?`, as JDBC (and MI's dbLookup / dbReport) write them.
    Positional,
}

/// Cuts `sql` into pieces; the error says what is wrong (an unterminated string, a
/// parameter of the other style).
pub fn parse(sql: &str, style: ParamStyle) -> Result<Vec<SqlPiece>, String> {
    let bytes = sql.as_bytes();
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut positional = 0;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\'' | b'"' | b'`' => {
                let end = quoted_end(bytes, i, c)
                    .ok_or_else(|| format!("unterminated {} at byte {i}", quote_name(c)))?;
                text.push_str(&sql[i..end]);
                i = end;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                let end = sql[i..].find('\n').map_or(bytes.len(), |n| i + n);
                text.push_str(&sql[i..end]);
                i = end;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = sql[i + 2..]
                    .find("*/")
                    .map(|n| i + 2 + n + 2)
                    .ok_or_else(|| format!("unterminated comment at byte {i}"))?;
                text.push_str(&sql[i..end]);
                i = end;
            }
            b'$' => match dollar_tag(bytes, i) {
                Some(tag_len) => {
                    let tag = &sql[i..i + tag_len];
                    let end = sql[i + tag_len..]
                        .find(tag)
                        .map(|n| i + tag_len + n + tag_len)
                        .ok_or_else(|| format!("unterminated {tag} string at byte {i}"))?;
                    text.push_str(&sql[i..end]);
                    i = end;
                }
                None => {
                    text.push('$');
                    i += 1;
                }
            },
            b':' if bytes.get(i + 1) == Some(&b':') => {
                text.push_str("::");
                i += 2;
            }
            b':' if bytes.get(i + 1).is_some_and(|b| is_name_start(*b)) => {
                let end = (i + 1..bytes.len())
                    .find(|&j| !is_name_char(bytes[j]))
                    .unwrap_or(bytes.len());
                let name = &sql[i + 1..end];
                if style == ParamStyle::Positional {
                    return Err(format!(
                        "named parameter :{name} where this statement takes ? placeholders"
                    ));
                }
                flush(&mut text, &mut pieces);
                pieces.push(SqlPiece::Named(name.to_string()));
                i = end;
            }
            b'?' => {
                if style == ParamStyle::Named {
                    return Err(
                        "a ? placeholder where this statement takes named parameters (:name)"
                            .to_string(),
                    );
                }
                flush(&mut text, &mut pieces);
                pieces.push(SqlPiece::Positional(positional));
                positional += 1;
                i += 1;
            }
            _ => {
                // Copy the whole UTF-8 character.
                let len = utf8_len(c);
                text.push_str(&sql[i..(i + len).min(sql.len())]);
                i += len;
            }
        }
    }
    flush(&mut text, &mut pieces);
    Ok(pieces)
}

/// The named parameters of `pieces`, in order of first use.
pub fn names(pieces: &[SqlPiece]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for p in pieces {
        if let SqlPiece::Named(n) = p
            && !out.contains(&n.as_str())
        {
            out.push(n);
        }
    }
    out
}

/// How many `?` placeholders `pieces` has.
pub fn positional_count(pieces: &[SqlPiece]) -> usize {
    pieces
        .iter()
        .filter(|p| matches!(p, SqlPiece::Positional(_)))
        .count()
}

fn flush(text: &mut String, pieces: &mut Vec<SqlPiece>) {
    if !text.is_empty() {
        pieces.push(SqlPiece::Text(std::mem::take(text)));
    }
}

fn quote_name(c: u8) -> &'static str {
    match c {
        b'\'' => "string",
        b'"' => "quoted identifier",
        _ => "backquoted identifier",
    }
}

/// The end (exclusive) of the quoted run starting at `start`; a doubled quote is an
/// escaped one, and in strings a backslash escapes the next byte (MySQL).
fn quoted_end(bytes: &[u8], start: usize, quote: u8) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' && quote == b'\'' {
            i += 2;
            continue;
        }
        if b == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// The length of a `$tag$` opening PostgreSQL's dollar-quoted string at `start`, if one is.
fn dollar_tag(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
        // `$1` is a positional parameter of PostgreSQL, not a tag.
        if i == start + 1 && bytes[i].is_ascii_digit() {
            return None;
        }
        i += 1;
    }
    (bytes.get(i) == Some(&b'$')).then_some(i + 1 - start)
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(sql: &str) -> Vec<SqlPiece> {
        match parse(sql, ParamStyle::Named) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn named_parameters_are_cut_out_of_the_text() {
        assert_eq!(
            named("SELECT * FROM t WHERE id = :id AND n = :n"),
            vec![
                SqlPiece::Text("SELECT * FROM t WHERE id = ".into()),
                SqlPiece::Named("id".into()),
                SqlPiece::Text(" AND n = ".into()),
                SqlPiece::Named("n".into()),
            ]
        );
    }

    #[test]
    fn strings_comments_and_casts_hold_no_parameters() {
        let pieces = named(
            "SELECT ':a', \"b:c\", `d:e`, $$ :f $$, $x$ :g $x$, x::int -- :h\n/* :i */ FROM t WHERE y = :y",
        );
        assert_eq!(names(&pieces), vec!["y"]);
        let text: String = pieces
            .iter()
            .map(|p| match p {
                SqlPiece::Text(t) => t.clone(),
                _ => "#".into(),
            })
            .collect();
        assert!(text.contains("x::int"), "{text}");
        assert!(text.contains("':a'"), "{text}");
    }

    #[test]
    fn escaped_quotes_stay_inside_the_string() {
        assert_eq!(
            names(&named("SELECT 'it''s :no', 'a\\'b :no2' , :yes")),
            vec!["yes"]
        );
    }

    #[test]
    fn unicode_text_is_kept_whole() {
        let pieces = named("SELECT 'müller', name AS 名前 FROM t WHERE a = :a");
        assert!(matches!(&pieces[0], SqlPiece::Text(t) if t.contains("名前")));
    }

    #[test]
    fn positional_statements_count_their_placeholders() {
        let pieces = parse(
            "UPDATE t SET a = ? WHERE b = ? AND c = '?'",
            ParamStyle::Positional,
        )
        .unwrap_or_default();
        assert_eq!(positional_count(&pieces), 2);
    }

    #[test]
    fn mixing_styles_and_unterminated_strings_are_errors() {
        assert!(parse("SELECT ? , :a", ParamStyle::Named).is_err());
        assert!(parse("SELECT :a", ParamStyle::Positional).is_err());
        assert!(parse("SELECT 'open", ParamStyle::Named).is_err());
        assert!(parse("SELECT /* open", ParamStyle::Named).is_err());
    }

    #[test]
    fn postgres_positional_dollars_are_text() {
        assert_eq!(names(&named("SELECT $1, :a")), vec!["a"]);
    }
}
