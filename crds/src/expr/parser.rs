//! Recursive-descent parser from tokens to the Synapse expression tree ([`super::ast`]).
//!
//! Precedence, loosest first: `?:`, `||`/`or`, `&&`/`and`, `==`/`!=`, relational (and the
//! Jayway filter operators), `+`/`-`, `*`/`/`/`%`, prefix `!`/`-`, then primaries with their
//! JSON-path suffixes. Function names and arities are checked here, at load time.

use serde_json::{Number, Value};

use super::ast::{
    BinaryOp, Function, Node, ParamKind, PathFunction, Pattern, PropertyScope, Root, Segment,
    UnaryOp,
};
use super::lexer::{Spanned, Tok, tokenize};
use super::{ExprError, xpath};

/// Parses `chars[from..to]` (the inside of `${...}`) as one expression.
pub(crate) fn parse(
    chars: &[char],
    from: usize,
    to: usize,
    namespaces: &[(String, String)],
) -> Result<Node, ExprError> {
    let toks = tokenize(chars, from, to)?;
    if matches!(toks.first(), Some(Spanned { tok: Tok::Eof, .. })) {
        return Err(ExprError::new("empty expression", from));
    }
    let mut p = Parser {
        toks,
        pos: 0,
        filter_depth: 0,
        namespaces,
        hyphen_names: false,
        depth: 0,
        operators: 0,
    };
    let node = p.expression()?;
    match p.peek() {
        Tok::Eof => Ok(node),
        other => Err(p.error_here(format!("unexpected {}", describe(other)))),
    }
}

/// Parses `chars[from..to]` as JSON-path steps only (what follows `$` in `json-eval`).
/// Jayway accepts hyphens in dotted names (`$.first-name`), so they are joined here.
pub(crate) fn parse_segments(
    chars: &[char],
    from: usize,
    to: usize,
) -> Result<Vec<Segment>, ExprError> {
    let toks = tokenize(chars, from, to)?;
    let mut p = Parser {
        toks,
        pos: 0,
        filter_depth: 0,
        namespaces: &[],
        hyphen_names: true,
        depth: 0,
        operators: 0,
    };
    let segments = p.segments()?;
    match p.peek() {
        Tok::Eof => Ok(segments),
        other => Err(p.error_here(format!("unexpected {} in JSONPath", describe(other)))),
    }
}

struct Parser<'n> {
    toks: Vec<Spanned>,
    pos: usize,
    /// Above zero inside `[?( )]`, where `@` and the Jayway operators are allowed.
    filter_depth: usize,
    namespaces: &'n [(String, String)],
    /// Whether `a-b` after a dot is one name (JSONPath) rather than a subtraction.
    hyphen_names: bool,
    /// How deep the descent is now (nested parentheses, brackets, calls, `!`/`-`).
    depth: usize,
    /// Binary operators so far: a long chain makes a deep tree too.
    operators: usize,
}

/// How deep an expression may nest, and how many binary operators it may hold: far beyond
/// any configuration, and well within a 2 MiB thread's stack for parsing, evaluating and
/// dropping the tree (a fuzzer's `((((...` overflowed it).
const MAX_DEPTH: usize = 64;
const MAX_OPERATORS: usize = 256;

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Eof => "end of expression".into(),
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Str(s) => format!("string '{s}'"),
        Tok::Number { text, .. } => format!("number {text}"),
        other => format!("{other:?}"),
    }
}

// === impl Parser ===

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        self.peek_at(0)
    }

    fn peek_at(&self, n: usize) -> &Tok {
        let i = (self.pos + n).min(self.toks.len() - 1);
        &self.toks[i].tok
    }

    fn at(&self) -> usize {
        self.toks[self.pos.min(self.toks.len() - 1)].at
    }

    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if self.peek() == tok {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &Tok, what: &str) -> Result<(), ExprError> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.error_here(format!("expected {what}, found {}", describe(self.peek()))))
        }
    }

    fn error_here(&self, message: impl Into<String>) -> ExprError {
        ExprError::new(message, self.at())
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Ident(w) if w == word)
    }

    /// One level deeper; an error past [`MAX_DEPTH`].
    fn descend(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_here(format!(
                "the expression nests more than {MAX_DEPTH} levels deep"
            )));
        }
        Ok(())
    }

    fn combine(&mut self, op: BinaryOp, left: Node, right: Node) -> Result<Node, ExprError> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(self.error_here(format!(
                "the expression has more than {MAX_OPERATORS} operators"
            )));
        }
        Ok(binary(op, left, right))
    }

    fn expression(&mut self) -> Result<Node, ExprError> {
        self.descend()?;
        let node = self.conditional();
        self.depth -= 1;
        node
    }

    fn conditional(&mut self) -> Result<Node, ExprError> {
        let condition = self.or()?;
        if !self.eat(&Tok::Question) {
            return Ok(condition);
        }
        let then = self.expression()?;
        self.expect(&Tok::Colon, "':' of a conditional expression")?;
        let otherwise = self.expression()?;
        Ok(Node::Conditional {
            condition: Box::new(condition),
            then: Box::new(then),
            otherwise: Box::new(otherwise),
        })
    }

    fn or(&mut self) -> Result<Node, ExprError> {
        let mut left = self.and()?;
        while self.eat(&Tok::OrOr) || self.eat_word("or") {
            let right = self.and()?;
            left = self.combine(BinaryOp::Or, left, right)?;
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Node, ExprError> {
        let mut left = self.equality()?;
        while self.eat(&Tok::AndAnd) || self.eat_word("and") {
            let right = self.equality()?;
            left = self.combine(BinaryOp::And, left, right)?;
        }
        Ok(left)
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if self.is_word(word) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn equality(&mut self) -> Result<Node, ExprError> {
        let mut left = self.relational()?;
        loop {
            let op = match self.peek() {
                Tok::EqEq => BinaryOp::Eq,
                Tok::NotEq => BinaryOp::Ne,
                _ => return Ok(left),
            };
            self.bump();
            let right = self.relational()?;
            left = self.combine(op, left, right)?;
        }
    }

    fn relational(&mut self) -> Result<Node, ExprError> {
        let mut left = self.additive()?;
        loop {
            let op = match self.peek() {
                Tok::Lt => BinaryOp::Lt,
                Tok::Le => BinaryOp::Le,
                Tok::Gt => BinaryOp::Gt,
                Tok::Ge => BinaryOp::Ge,
                Tok::Match if self.filter_depth > 0 => BinaryOp::Matches,
                Tok::Ident(w) if self.filter_depth > 0 => match w.as_str() {
                    "in" => BinaryOp::In,
                    "nin" => BinaryOp::NotIn,
                    "subsetof" => BinaryOp::SubsetOf,
                    "anyof" => BinaryOp::AnyOf,
                    "noneof" => BinaryOp::NoneOf,
                    "size" => BinaryOp::Size,
                    "empty" => BinaryOp::Empty,
                    _ => return Ok(left),
                },
                Tok::Match => return Err(self.error_here("'=~' is only allowed inside filters")),
                _ => return Ok(left),
            };
            self.bump();
            let right = if op == BinaryOp::Matches {
                self.regex()?
            } else {
                self.additive()?
            };
            left = self.combine(op, left, right)?;
        }
    }

    fn regex(&mut self) -> Result<Node, ExprError> {
        let at = self.at();
        let Tok::Regex { pattern, flags } = self.bump() else {
            return Err(ExprError::new("expected a regular expression after =~", at));
        };
        let mut builder = regex::RegexBuilder::new(&pattern);
        for flag in flags.chars() {
            match flag {
                'i' => builder.case_insensitive(true),
                'm' => builder.multi_line(true),
                's' => builder.dot_matches_new_line(true),
                'x' => builder.ignore_whitespace(true),
                other => {
                    return Err(ExprError::new(format!("unknown regex flag '{other}'"), at));
                }
            };
        }
        let re = builder
            .build()
            .map_err(|e| ExprError::new(format!("invalid regular expression: {e}"), at))?;
        Ok(Node::Regex(Pattern(re)))
    }

    fn additive(&mut self) -> Result<Node, ExprError> {
        let mut left = self.multiplicative()?;
        loop {
            let op = match self.peek() {
                Tok::Plus => BinaryOp::Add,
                Tok::Minus => BinaryOp::Sub,
                _ => return Ok(left),
            };
            self.bump();
            let right = self.multiplicative()?;
            left = self.combine(op, left, right)?;
        }
    }

    fn multiplicative(&mut self) -> Result<Node, ExprError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Star => BinaryOp::Mul,
                Tok::Slash => BinaryOp::Div,
                Tok::Percent => BinaryOp::Rem,
                _ => return Ok(left),
            };
            self.bump();
            let right = self.unary()?;
            left = self.combine(op, left, right)?;
        }
    }

    fn unary(&mut self) -> Result<Node, ExprError> {
        self.descend()?;
        let node = self.unary_inner();
        self.depth -= 1;
        node
    }

    fn unary_inner(&mut self) -> Result<Node, ExprError> {
        if self.eat(&Tok::Bang) {
            let operand = self.unary()?;
            return Ok(Node::Unary {
                op: UnaryOp::Not,
                operand: Box::new(operand),
            });
        }
        if self.eat(&Tok::Minus) {
            let operand = self.unary()?;
            // Fold `-3` into a literal so indices like `[-1]` stay load-time constants.
            if let Node::Literal(Value::Number(n)) = &operand {
                if let Some(i) = n.as_i64() {
                    return Ok(Node::Literal(Value::from(-i)));
                }
                if let Some(f) = n.as_f64().and_then(|f| Number::from_f64(-f)) {
                    return Ok(Node::Literal(Value::Number(f)));
                }
            }
            return Ok(Node::Unary {
                op: UnaryOp::Neg,
                operand: Box::new(operand),
            });
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Node, ExprError> {
        let at = self.at();
        match self.bump() {
            Tok::Number { text, float } => number(&text, float, at),
            Tok::Str(s) => Ok(Node::Literal(Value::String(s))),
            Tok::LParen => {
                let inner = self.expression()?;
                self.expect(&Tok::RParen, "')'")?;
                let segments = self.segments()?;
                if segments.is_empty() {
                    Ok(inner)
                } else {
                    Ok(Node::Group {
                        inner: Box::new(inner),
                        segments,
                    })
                }
            }
            Tok::LBracket => {
                let mut items = Vec::new();
                if !self.eat(&Tok::RBracket) {
                    loop {
                        items.push(self.expression()?);
                        if self.eat(&Tok::RBracket) {
                            break;
                        }
                        self.expect(&Tok::Comma, "',' or ']' in an array literal")?;
                    }
                }
                Ok(Node::Array(items))
            }
            Tok::Dollar => self.path(Root::Payload),
            Tok::At if self.filter_depth > 0 => self.path(Root::Current),
            Tok::At => Err(ExprError::new("'@' is only allowed inside filters", at)),
            Tok::Ident(word) => self.word(word, at),
            other => Err(ExprError::new(
                format!("unexpected {}", describe(&other)),
                at,
            )),
        }
    }

    fn word(&mut self, word: String, at: usize) -> Result<Node, ExprError> {
        if self.peek() == &Tok::LParen {
            return self.call(&word, at);
        }
        match word.as_str() {
            "true" => Ok(Node::Literal(Value::Bool(true))),
            "false" => Ok(Node::Literal(Value::Bool(false))),
            "null" => Ok(Node::Literal(Value::Null)),
            "payload" => self.path(Root::Payload),
            "var" => {
                let name = self.name("a variable name after 'var'")?;
                self.path(Root::Variable(name))
            }
            "headers" => {
                let name = self.name("a header name after 'headers'")?;
                self.path(Root::Header(name))
            }
            "props" | "properties" => {
                let scope_at = self.at();
                let scope = match self.name("'synapse' or 'axis2' after 'props'")?.as_str() {
                    "synapse" => PropertyScope::Synapse,
                    "axis2" => PropertyScope::Axis2,
                    other => {
                        return Err(ExprError::new(
                            format!("unknown property scope '{other}' (expected synapse or axis2)"),
                            scope_at,
                        ));
                    }
                };
                let name = self.name("a property name")?;
                self.path(Root::Property { scope, name })
            }
            "params" => {
                let kind_at = self.at();
                let kind = match self.name("a parameter family after 'params'")?.as_str() {
                    "queryParams" => ParamKind::Query,
                    "uriParams" | "pathParams" => ParamKind::Uri,
                    "functionParams" => ParamKind::Function,
                    other => {
                        return Err(ExprError::new(
                            format!(
                                "unknown parameter family '{other}' (expected queryParams, \
                                 uriParams, pathParams or functionParams)"
                            ),
                            kind_at,
                        ));
                    }
                };
                let name = self.name("a parameter name")?;
                self.path(Root::Param { kind, name })
            }
            "config" => {
                // Configuration keys may contain dots: `config.http.port` reads `http.port`.
                let mut key = self.name("a configuration key after 'config'")?;
                while self.peek() == &Tok::Dot && matches!(self.peek_at(1), Tok::Ident(_)) {
                    self.bump();
                    if let Tok::Ident(part) = self.bump() {
                        key.push('.');
                        key.push_str(&part);
                    }
                }
                Ok(Node::Path {
                    root: Root::Config(key),
                    segments: Vec::new(),
                })
            }
            "vars" => Err(ExprError::new(
                "unknown root 'vars': variables are read with 'var.name'",
                at,
            )),
            other => Err(ExprError::new(
                format!(
                    "unknown identifier '{other}' (roots are payload, $, var, headers, props, \
                     properties, params and config; quote keys with special characters as \
                     [\"...\"])"
                ),
                at,
            )),
        }
    }

    /// Reads `.name`, `["name"]` or `.["name"]` after a root keyword.
    fn name(&mut self, what: &str) -> Result<String, ExprError> {
        if self.eat(&Tok::Dot) {
            match self.bump() {
                Tok::Ident(s) | Tok::Str(s) => return Ok(s),
                Tok::LBracket => return self.bracketed_name(what),
                _ => {}
            }
        } else if self.eat(&Tok::LBracket) {
            return self.bracketed_name(what);
        }
        Err(self.error_here(format!("expected {what}")))
    }

    fn bracketed_name(&mut self, what: &str) -> Result<String, ExprError> {
        let Tok::Str(s) = self.bump() else {
            return Err(self.error_here(format!("expected {what} as a quoted string")));
        };
        self.expect(&Tok::RBracket, "']'")?;
        Ok(s)
    }

    fn call(&mut self, name: &str, at: usize) -> Result<Node, ExprError> {
        let function = Function::from_name(name)
            .ok_or_else(|| ExprError::new(format!("unknown function '{name}'"), at))?;
        if !function.is_supported() {
            return Err(ExprError::new(
                format!("function '{name}' is not supported by Ferry yet"),
                at,
            ));
        }
        self.expect(&Tok::LParen, "'('")?;
        let mut args = Vec::new();
        if !self.eat(&Tok::RParen) {
            loop {
                args.push(self.expression()?);
                if self.eat(&Tok::RParen) {
                    break;
                }
                self.expect(&Tok::Comma, "',' or ')' in an argument list")?;
            }
        }
        let (min, max) = function.arity();
        if args.len() < min || args.len() > max {
            let expected = if min == max {
                min.to_string()
            } else {
                format!("{min} to {max}")
            };
            return Err(ExprError::new(
                format!(
                    "function '{name}' takes {expected} argument{}, found {}",
                    if max == 1 { "" } else { "s" },
                    args.len()
                ),
                at,
            ));
        }
        if let (Function::XPath, Some(Node::Literal(Value::String(src)))) = (function, args.first())
        {
            xpath::XPathExpression::parse(src, self.namespaces)
                .map_err(|e| ExprError::new(format!("in xpath(): {}", e.message), at))?;
        }
        let segments = self.segments()?;
        Ok(Node::Call {
            function,
            args,
            segments,
        })
    }

    fn path(&mut self, root: Root) -> Result<Node, ExprError> {
        let segments = self.segments()?;
        Ok(Node::Path { root, segments })
    }

    /// Parses JSON-path steps until something else comes.
    fn segments(&mut self) -> Result<Vec<Segment>, ExprError> {
        let mut segments = Vec::new();
        loop {
            match self.peek() {
                Tok::Dot => {
                    self.bump();
                    segments.push(self.dot_member()?);
                }
                Tok::DotDot => {
                    self.bump();
                    segments.push(Segment::Descendants);
                    if self.eat(&Tok::LBracket) {
                        segments.push(self.bracket()?);
                    } else {
                        segments.push(self.dot_member()?);
                    }
                }
                Tok::LBracket => {
                    self.bump();
                    segments.push(self.bracket()?);
                }
                _ => return Ok(segments),
            }
        }
    }

    /// After `.` or `..`: a name, `*`, a path function or a bracket.
    fn dot_member(&mut self) -> Result<Segment, ExprError> {
        let at = self.at();
        match self.bump() {
            Tok::Star => Ok(Segment::Wildcard),
            Tok::LBracket => self.bracket(),
            Tok::Str(s) => Ok(Segment::Child(s)),
            Tok::Ident(name) => {
                if self.peek() == &Tok::LParen && self.peek_at(1) == &Tok::RParen {
                    let f = PathFunction::from_name(&name).ok_or_else(|| {
                        ExprError::new(format!("unknown path function '{name}()'"), at)
                    })?;
                    self.bump();
                    self.bump();
                    return Ok(Segment::Function(f));
                }
                let mut name = name;
                if self.hyphen_names {
                    self.join_hyphenated(&mut name, at);
                }
                Ok(Segment::Child(name))
            }
            Tok::Number { text, float: false } => Ok(Segment::Child(text)),
            other => Err(ExprError::new(
                format!(
                    "expected a member name after '.', found {}",
                    describe(&other)
                ),
                at,
            )),
        }
    }

    /// Appends `-part` pieces written without spaces to a dotted name.
    fn join_hyphenated(&mut self, name: &mut String, at: usize) {
        let mut end = at + name.chars().count();
        loop {
            let minus = &self.toks[self.pos.min(self.toks.len() - 1)];
            let Some(part) = self.toks.get(self.pos + 1) else {
                return;
            };
            let piece = match &part.tok {
                Tok::Ident(s) => s.clone(),
                Tok::Number { text, .. } => text.clone(),
                _ => return,
            };
            if minus.tok != Tok::Minus || minus.at != end || part.at != end + 1 {
                return;
            }
            self.bump();
            self.bump();
            name.push('-');
            name.push_str(&piece);
            end = end + 1 + piece.chars().count();
        }
    }

    /// After `[`: wildcard, filter, names, indices, union or slice, through `]`.
    fn bracket(&mut self) -> Result<Segment, ExprError> {
        if self.eat(&Tok::Star) {
            self.expect(&Tok::RBracket, "']'")?;
            return Ok(Segment::Wildcard);
        }
        if self.eat(&Tok::Question) {
            self.filter_depth += 1;
            let cond = self.expression();
            self.filter_depth -= 1;
            let cond = cond?;
            self.expect(&Tok::RBracket, "']' closing the filter")?;
            return Ok(Segment::Filter(Box::new(cond)));
        }
        let start = if self.peek() == &Tok::Colon {
            None
        } else {
            Some(self.expression()?)
        };
        if self.peek() == &Tok::Colon {
            self.bump();
            let end = self.slice_part()?;
            let step = if self.eat(&Tok::Colon) {
                self.slice_part()?
            } else {
                None
            };
            self.expect(&Tok::RBracket, "']' closing the slice")?;
            return Ok(Segment::Slice {
                start: start.map(Box::new),
                end,
                step,
            });
        }
        let Some(first) = start else {
            return Err(self.error_here("expected an index"));
        };
        if self.eat(&Tok::RBracket) {
            return Ok(match first {
                Node::Literal(Value::String(s)) => Segment::Child(s),
                Node::Literal(Value::Number(n)) if n.is_i64() => {
                    Segment::Index(n.as_i64().unwrap_or_default())
                }
                other => Segment::Dynamic(other),
            });
        }
        let mut items = vec![first];
        while self.eat(&Tok::Comma) {
            items.push(self.expression()?);
        }
        self.expect(&Tok::RBracket, "']'")?;
        Ok(Segment::Union(items))
    }

    fn slice_part(&mut self) -> Result<Option<Box<Node>>, ExprError> {
        if matches!(self.peek(), Tok::Colon | Tok::RBracket) {
            Ok(None)
        } else {
            Ok(Some(Box::new(self.expression()?)))
        }
    }
}

fn binary(op: BinaryOp, left: Node, right: Node) -> Node {
    Node::Binary {
        op,
        left: Box::new(left),
        right: Box::new(right),
    }
}

fn number(text: &str, float: bool, at: usize) -> Result<Node, ExprError> {
    if let (false, Ok(i)) = (float, text.parse::<i64>()) {
        return Ok(Node::Literal(Value::from(i)));
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(|n| Node::Literal(Value::Number(n)))
        .ok_or_else(|| ExprError::new(format!("invalid number {text}"), at))
}
