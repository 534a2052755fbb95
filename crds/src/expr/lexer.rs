//! Splits the inside of a Synapse expression (`${...}`) into tokens for the parser.
//!
//! Offsets are in characters from the start of the whole expression string, so errors can
//! point at a column the user recognises.

use super::ExprError;

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spanned {
    pub tok: Tok,
    pub at: usize,
}

/// The tokens of Synapse expressions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A number as written; `float` when it has a fraction or exponent.
    Number {
        text: String,
        float: bool,
    },
    /// A string literal, unescaped.
    Str(String),
    /// An identifier or keyword (`payload`, `and`, `true`, function names, keys).
    Ident(String),
    /// A regular-expression literal after `=~`: pattern and flags.
    Regex {
        pattern: String,
        flags: String,
    },
    Dollar,
    At,
    Dot,
    DotDot,
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Colon,
    Question,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    EqEq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    AndAnd,
    OrOr,
    Bang,
    Match,
    Eof,
}

/// Tokenises `chars[from..to]`; offsets are reported as indices into `chars`.
pub(crate) fn tokenize(chars: &[char], from: usize, to: usize) -> Result<Vec<Spanned>, ExprError> {
    let mut out = Vec::new();
    let mut i = from;
    while i < to {
        let c = chars[i];
        let at = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let next = if i + 1 < to { Some(chars[i + 1]) } else { None };
        let (tok, len) = match (c, next) {
            ('.', Some('.')) => (Tok::DotDot, 2),
            ('=', Some('=')) => (Tok::EqEq, 2),
            ('!', Some('=')) => (Tok::NotEq, 2),
            ('<', Some('=')) => (Tok::Le, 2),
            ('>', Some('=')) => (Tok::Ge, 2),
            ('&', Some('&')) => (Tok::AndAnd, 2),
            ('|', Some('|')) => (Tok::OrOr, 2),
            ('=', Some('~')) => {
                out.push(Spanned {
                    tok: Tok::Match,
                    at,
                });
                i = lex_regex(chars, i + 2, to, &mut out)?;
                continue;
            }
            ('$', _) => (Tok::Dollar, 1),
            ('@', _) => (Tok::At, 1),
            ('.', _) => (Tok::Dot, 1),
            ('[', _) => (Tok::LBracket, 1),
            (']', _) => (Tok::RBracket, 1),
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            (',', _) => (Tok::Comma, 1),
            (':', _) => (Tok::Colon, 1),
            ('?', _) => (Tok::Question, 1),
            ('+', _) => (Tok::Plus, 1),
            ('-', _) => (Tok::Minus, 1),
            ('*', _) => (Tok::Star, 1),
            ('/', _) => (Tok::Slash, 1),
            ('%', _) => (Tok::Percent, 1),
            ('<', _) => (Tok::Lt, 1),
            ('>', _) => (Tok::Gt, 1),
            ('!', _) => (Tok::Bang, 1),
            ('"' | '\'', _) => {
                let (s, end) = lex_string(chars, i, to)?;
                out.push(Spanned {
                    tok: Tok::Str(s),
                    at,
                });
                i = end;
                continue;
            }
            (c, _) if c.is_ascii_digit() => {
                let (tok, end) = lex_number(chars, i, to);
                out.push(Spanned { tok, at });
                i = end;
                continue;
            }
            (c, _) if c.is_alphabetic() || c == '_' => {
                let mut end = i;
                while end < to && (chars[end].is_alphanumeric() || chars[end] == '_') {
                    end += 1;
                }
                let word: String = chars[i..end].iter().collect();
                out.push(Spanned {
                    tok: Tok::Ident(word),
                    at,
                });
                i = end;
                continue;
            }
            (c, _) => return Err(ExprError::new(format!("unexpected character '{c}'"), at)),
        };
        out.push(Spanned { tok, at });
        i += len;
    }
    out.push(Spanned {
        tok: Tok::Eof,
        at: to,
    });
    Ok(out)
}

/// Reads a quoted string starting at `start` (the quote); returns the text and the index
/// after the closing quote.
fn lex_string(chars: &[char], start: usize, to: usize) -> Result<(String, usize), ExprError> {
    let quote = chars[start];
    let mut s = String::new();
    let mut i = start + 1;
    while i < to {
        let c = chars[i];
        if c == quote {
            return Ok((s, i + 1));
        }
        if c != '\\' {
            s.push(c);
            i += 1;
            continue;
        }
        let Some(&e) = chars.get(i + 1).filter(|_| i + 1 < to) else {
            break;
        };
        i += 2;
        match e {
            'b' => s.push('\u{8}'),
            't' => s.push('\t'),
            'n' => s.push('\n'),
            'f' => s.push('\u{c}'),
            'r' => s.push('\r'),
            '"' | '\'' | '\\' | '/' => s.push(e),
            'u' => {
                let hex: String = chars[i..to.min(i + 4)].iter().collect();
                let code = (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .and_then(char::from_u32)
                    .ok_or_else(|| ExprError::new("invalid \\u escape in string", i - 2))?;
                s.push(code);
                i += 4;
            }
            '0'..='7' => {
                // Java-style octal escape: up to three digits, at most \377.
                let mut value = e.to_digit(8).unwrap_or(0);
                let max_digits = if e <= '3' { 3 } else { 2 };
                let mut digits = 1;
                while digits < max_digits && i < to {
                    match chars[i].to_digit(8) {
                        Some(d) => {
                            value = value * 8 + d;
                            i += 1;
                            digits += 1;
                        }
                        None => break,
                    }
                }
                s.push(char::from_u32(value).unwrap_or('\u{fffd}'));
            }
            other => {
                return Err(ExprError::new(
                    format!("invalid escape '\\{other}' in string"),
                    i - 2,
                ));
            }
        }
    }
    Err(ExprError::new("unterminated string", start))
}

/// Reads a number: digits, an optional fraction and an optional exponent.
fn lex_number(chars: &[char], start: usize, to: usize) -> (Tok, usize) {
    let mut i = start;
    let digits = |i: &mut usize| {
        while *i < to && chars[*i].is_ascii_digit() {
            *i += 1;
        }
    };
    digits(&mut i);
    let mut float = false;
    if i + 1 < to && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
        float = true;
        i += 1;
        digits(&mut i);
    }
    if i < to && matches!(chars[i], 'e' | 'E') {
        let mut j = i + 1;
        if j < to && matches!(chars[j], '+' | '-') {
            j += 1;
        }
        if j < to && chars[j].is_ascii_digit() {
            float = true;
            i = j;
            digits(&mut i);
        }
    }
    let text = chars[start..i].iter().collect();
    (Tok::Number { text, float }, i)
}

/// Reads `/pattern/flags` (or a quoted string) after `=~`, pushing a `Regex` token.
fn lex_regex(
    chars: &[char],
    mut i: usize,
    to: usize,
    out: &mut Vec<Spanned>,
) -> Result<usize, ExprError> {
    while i < to && chars[i].is_whitespace() {
        i += 1;
    }
    let at = i;
    if i < to && matches!(chars[i], '"' | '\'') {
        let (pattern, end) = lex_string(chars, i, to)?;
        out.push(Spanned {
            tok: Tok::Regex {
                pattern,
                flags: String::new(),
            },
            at,
        });
        return Ok(end);
    }
    if i >= to || chars[i] != '/' {
        return Err(ExprError::new("expected a /regex/ after =~", at));
    }
    let mut pattern = String::new();
    i += 1;
    loop {
        if i >= to {
            return Err(ExprError::new("unterminated regular expression", at));
        }
        match chars[i] {
            '/' => break,
            '\\' if i + 1 < to && chars[i + 1] == '/' => {
                pattern.push('/');
                i += 2;
            }
            c => {
                pattern.push(c);
                i += 1;
            }
        }
    }
    i += 1;
    let mut flags = String::new();
    while i < to && chars[i].is_ascii_alphabetic() {
        flags.push(chars[i]);
        i += 1;
    }
    out.push(Spanned {
        tok: Tok::Regex { pattern, flags },
        at,
    });
    Ok(i)
}
