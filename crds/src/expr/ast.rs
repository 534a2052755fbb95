//! The syntax tree of a Synapse expression (`${...}`) and of the JSON paths inside it.
//!
//! The parser (`parser.rs`) builds these at load time; the runtime's evaluator walks them on
//! the request path. They are plain data: no evaluation logic lives here.

use std::fmt;

use serde_json::Value;

/// A node of a Synapse expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A literal: string, number (integers stay integral), boolean or null.
    Literal(Value),
    /// An array literal `[a, b]`.
    Array(Vec<Node>),
    /// A regular expression compiled at load time (`=~ /.../i` in filters).
    Regex(Pattern),
    /// A value read from one of the roots, then walked along a JSON path.
    Path {
        /// Where the value comes from.
        root: Root,
        /// The JSON path applied to it, in order.
        segments: Vec<Segment>,
    },
    /// A function call, optionally followed by a JSON path (`object(var.s).a`).
    Call {
        /// The function.
        function: Function,
        /// Its arguments, in order.
        args: Vec<Node>,
        /// The JSON path applied to the result.
        segments: Vec<Segment>,
    },
    /// A parenthesised expression followed by a JSON path (`(var.a ? var.b : var.c).x`).
    Group {
        /// The inner expression.
        inner: Box<Node>,
        /// The JSON path applied to its value.
        segments: Vec<Segment>,
    },
    /// `!x` or `-x`.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// Its operand.
        operand: Box<Node>,
    },
    /// `a op b`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// The left operand.
        left: Box<Node>,
        /// The right operand.
        right: Box<Node>,
    },
    /// `cond ? then : otherwise`.
    Conditional {
        /// The condition; must evaluate to a boolean.
        condition: Box<Node>,
        /// The value when the condition holds.
        then: Box<Node>,
        /// The value otherwise.
        otherwise: Box<Node>,
    },
}

/// A compiled regular expression; equal when the patterns are.
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// Where a path starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// The message payload seen as JSON (`payload`, `$`).
    Payload,
    /// A flow variable (`var.name`, `var["name"]`).
    Variable(String),
    /// A transport header (`headers.name`, `headers["Content-Type"]`).
    Header(String),
    /// A property (`props.synapse.x`, `properties.axis2.x`).
    Property {
        /// The scope named in the expression.
        scope: PropertyScope,
        /// The property name.
        name: String,
    },
    /// A parameter (`params.queryParams.q`, `params.uriParams.id`, `params.functionParams.p`).
    Param {
        /// Which parameter family.
        kind: ParamKind,
        /// The parameter name.
        name: String,
    },
    /// A configuration value (`config.http.port` reads key `http.port`).
    Config(String),
    /// The current item inside a filter (`@`).
    Current,
}

/// The property scopes a Synapse expression can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyScope {
    /// `props.synapse.x`: the default message-context scope.
    Synapse,
    /// `props.axis2.x`: the Axis2 scope (`HTTP_SC`, `messageType`, ...).
    Axis2,
}

/// The parameter families under `params`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// `params.queryParams.x`.
    Query,
    /// `params.uriParams.x` (alias `params.pathParams.x`).
    Uri,
    /// `params.functionParams.x`: sequence-template parameters.
    Function,
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// `.name` or `["name"]`.
    Child(String),
    /// `[3]`, `[-1]`: an index fixed at load time.
    Index(i64),
    /// `[expr]`: an index (number) or key (string) computed at run time.
    Dynamic(Node),
    /// `[0, 2]`, `["a", "b"]`: several indices or keys.
    Union(Vec<Node>),
    /// `.*` or `[*]`: every member.
    Wildcard,
    /// `[start:end:step]`, each part optional.
    Slice {
        /// The first index (inclusive); negative counts from the end.
        start: Option<Box<Node>>,
        /// The end index (exclusive); negative counts from the end.
        end: Option<Box<Node>>,
        /// The step (default 1).
        step: Option<Box<Node>>,
    },
    /// `[?(cond)]`: the members for which `cond` holds, with `@` bound to each.
    Filter(Box<Node>),
    /// `..`: the current value and all its descendants; the next segment applies to each.
    Descendants,
    /// `.length()`, `.keys()` and the other Jayway path functions.
    Function(PathFunction),
}

/// Jayway's path functions, applied to the value (or list) selected so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathFunction {
    /// `length()`: the number of items (or characters).
    Length,
    /// `size()`: the same as `length()`.
    Size,
    /// `min()` of numbers.
    Min,
    /// `max()` of numbers.
    Max,
    /// `avg()` of numbers.
    Avg,
    /// `sum()` of numbers.
    Sum,
    /// `stddev()` of numbers (population).
    StdDev,
    /// `keys()` of an object.
    Keys,
    /// `first()` item.
    First,
    /// `last()` item.
    Last,
}

impl PathFunction {
    /// Looks up a path function by its name (without parentheses).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "length" => Self::Length,
            "size" => Self::Size,
            "min" => Self::Min,
            "max" => Self::Max,
            "avg" => Self::Avg,
            "sum" => Self::Sum,
            "stddev" => Self::StdDev,
            "keys" => Self::Keys,
            "first" => Self::First,
            "last" => Self::Last,
            _ => return None,
        })
    }
}

/// Prefix operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `!x`: boolean negation.
    Not,
    /// `-x`: numeric negation.
    Neg,
}

/// Infix operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`: numeric addition or string concatenation.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Rem,
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `&&` / `and`.
    And,
    /// `||` / `or`.
    Or,
    /// `=~ /regex/flags` (filters only): the right operand is a [`Node::Literal`] pattern.
    Matches,
    /// `in` (filters only): the left value is one of the right array's items.
    In,
    /// `nin` (filters only): the left value is none of the right array's items.
    NotIn,
    /// `subsetof` (filters only): every left item is in the right array.
    SubsetOf,
    /// `anyof` (filters only): some left item is in the right array.
    AnyOf,
    /// `noneof` (filters only): no left item is in the right array.
    NoneOf,
    /// `size` (filters only): the left array or string has the right length.
    Size,
    /// `empty` (filters only): the left array or string is empty iff the right is true.
    Empty,
}

impl BinaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Add => "+",
            Self::Sub => "-",
            Self::Mul => "*",
            Self::Div => "/",
            Self::Rem => "%",
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::And => "&&",
            Self::Or => "||",
            Self::Matches => "=~",
            Self::In => "in",
            Self::NotIn => "nin",
            Self::SubsetOf => "subsetof",
            Self::AnyOf => "anyof",
            Self::NoneOf => "noneof",
            Self::Size => "size",
            Self::Empty => "empty",
        }
    }
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// The functions of Synapse expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// `length(stringOrArray)`.
    Length,
    /// `toUpper(s)`.
    ToUpper,
    /// `toLower(s)`.
    ToLower,
    /// `subString(s, start[, end])`.
    SubString,
    /// `startsWith(s, prefix)`.
    StartsWith,
    /// `endsWith(s, suffix)`.
    EndsWith,
    /// `contains(s, part)`.
    Contains,
    /// `trim(s)`.
    Trim,
    /// `replace(s, old, new)`: every occurrence, literally.
    Replace,
    /// `split(s, regex)`: an array.
    Split,
    /// `charAt(s, i)`.
    CharAt,
    /// `indexOf(s, part[, from])`: -1 when absent.
    IndexOf,
    /// `abs(n)`.
    Abs,
    /// `floor(n)`.
    Floor,
    /// `ceil(n)`.
    Ceil,
    /// `sqrt(n)`.
    Sqrt,
    /// `log(n)`: natural logarithm.
    Log,
    /// `pow(base, exponent)`.
    Pow,
    /// `round(n[, decimals])`.
    Round,
    /// `base64encode(s[, charset])`.
    Base64Encode,
    /// `base64decode(s)`.
    Base64Decode,
    /// `urlEncode(s[, charset])`.
    UrlEncode,
    /// `urlDecode(s)`.
    UrlDecode,
    /// `isNumber(v)`.
    IsNumber,
    /// `isString(v)`.
    IsString,
    /// `isArray(v)`.
    IsArray,
    /// `isObject(v)`.
    IsObject,
    /// `integer(v)`.
    Integer,
    /// `float(v)`.
    Float,
    /// `string(v)`.
    String,
    /// `boolean(v)`.
    Boolean,
    /// `object(v)`: parses a JSON object held in a string.
    Object,
    /// `array(v)`: parses a JSON array held in a string.
    Array,
    /// `now()`: epoch milliseconds.
    Now,
    /// `formatDateTime(value, [inputFormat,] outputFormat)`.
    FormatDateTime,
    /// `exists(v)`: false when `v` fails or is missing.
    Exists,
    /// `not(b)`.
    Not,
    /// `xpath(expr[, variableName])`.
    XPath,
    /// `registry(path)`: parsed so it can be reported, not supported by Ferry yet.
    Registry,
    /// `secret(alias)`: parsed so it can be reported, not supported by Ferry yet.
    Secret,
}

impl Function {
    /// Every function, for documentation and tests.
    pub const ALL: [Function; 40] = [
        Self::Length,
        Self::ToUpper,
        Self::ToLower,
        Self::SubString,
        Self::StartsWith,
        Self::EndsWith,
        Self::Contains,
        Self::Trim,
        Self::Replace,
        Self::Split,
        Self::CharAt,
        Self::IndexOf,
        Self::Abs,
        Self::Floor,
        Self::Ceil,
        Self::Sqrt,
        Self::Log,
        Self::Pow,
        Self::Round,
        Self::Base64Encode,
        Self::Base64Decode,
        Self::UrlEncode,
        Self::UrlDecode,
        Self::IsNumber,
        Self::IsString,
        Self::IsArray,
        Self::IsObject,
        Self::Integer,
        Self::Float,
        Self::String,
        Self::Boolean,
        Self::Object,
        Self::Array,
        Self::Now,
        Self::FormatDateTime,
        Self::Exists,
        Self::Not,
        Self::XPath,
        Self::Registry,
        Self::Secret,
    ];

    /// The name as written in expressions.
    pub fn name(self) -> &'static str {
        match self {
            Self::Length => "length",
            Self::ToUpper => "toUpper",
            Self::ToLower => "toLower",
            Self::SubString => "subString",
            Self::StartsWith => "startsWith",
            Self::EndsWith => "endsWith",
            Self::Contains => "contains",
            Self::Trim => "trim",
            Self::Replace => "replace",
            Self::Split => "split",
            Self::CharAt => "charAt",
            Self::IndexOf => "indexOf",
            Self::Abs => "abs",
            Self::Floor => "floor",
            Self::Ceil => "ceil",
            Self::Sqrt => "sqrt",
            Self::Log => "log",
            Self::Pow => "pow",
            Self::Round => "round",
            Self::Base64Encode => "base64encode",
            Self::Base64Decode => "base64decode",
            Self::UrlEncode => "urlEncode",
            Self::UrlDecode => "urlDecode",
            Self::IsNumber => "isNumber",
            Self::IsString => "isString",
            Self::IsArray => "isArray",
            Self::IsObject => "isObject",
            Self::Integer => "integer",
            Self::Float => "float",
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Object => "object",
            Self::Array => "array",
            Self::Now => "now",
            Self::FormatDateTime => "formatDateTime",
            Self::Exists => "exists",
            Self::Not => "not",
            Self::XPath => "xpath",
            Self::Registry => "registry",
            Self::Secret => "secret",
        }
    }

    /// Looks a function up by its exact (case-sensitive) name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The accepted number of arguments, inclusive.
    pub fn arity(self) -> (usize, usize) {
        match self {
            Self::Now => (0, 0),
            Self::SubString | Self::IndexOf => (2, 3),
            Self::FormatDateTime => (2, 3),
            Self::Round | Self::Base64Encode | Self::UrlEncode | Self::XPath => (1, 2),
            Self::StartsWith
            | Self::EndsWith
            | Self::Contains
            | Self::Split
            | Self::CharAt
            | Self::Pow => (2, 2),
            Self::Replace => (3, 3),
            _ => (1, 1),
        }
    }

    /// Whether Ferry evaluates this function (the others are rejected at load time).
    pub fn is_supported(self) -> bool {
        !matches!(self, Self::Registry | Self::Secret)
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// === impl Node ===

impl Node {
    /// Whether evaluating this node reads the payload (directly, through a filter, or via
    /// `xpath()`), so the runtime knows the body must be parsed.
    pub fn uses_payload(&self) -> bool {
        match self {
            Node::Literal(_) | Node::Regex(_) => false,
            Node::Array(items) => items.iter().any(Node::uses_payload),
            Node::Path { root, segments } => {
                *root == Root::Payload || segments.iter().any(Segment::uses_payload)
            }
            Node::Call {
                function,
                args,
                segments,
            } => {
                // `xpath('...', 'var')` reads a variable, not the body.
                (*function == Function::XPath && args.len() == 1)
                    || args.iter().any(Node::uses_payload)
                    || segments.iter().any(Segment::uses_payload)
            }
            Node::Group { inner, segments } => {
                inner.uses_payload() || segments.iter().any(Segment::uses_payload)
            }
            Node::Unary { operand, .. } => operand.uses_payload(),
            Node::Binary { left, right, .. } => left.uses_payload() || right.uses_payload(),
            Node::Conditional {
                condition,
                then,
                otherwise,
            } => condition.uses_payload() || then.uses_payload() || otherwise.uses_payload(),
        }
    }
}

impl Segment {
    fn uses_payload(&self) -> bool {
        match self {
            Segment::Dynamic(n) => n.uses_payload(),
            Segment::Filter(n) => n.uses_payload(),
            Segment::Union(items) => items.iter().any(Node::uses_payload),
            Segment::Slice { start, end, step } => [start, end, step]
                .into_iter()
                .flatten()
                .any(|n| n.uses_payload()),
            _ => false,
        }
    }
}

// === configuration keys read ===

impl Node {
    /// Adds the configuration keys (`${config.x}`) this expression reads to `out`.
    pub fn config_keys<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Node::Literal(_) | Node::Regex(_) => {}
            Node::Array(items) => items.iter().for_each(|n| n.config_keys(out)),
            Node::Path { root, segments } => {
                if let Root::Config(key) = root {
                    out.push(key);
                }
                segments.iter().for_each(|s| s.config_keys(out));
            }
            Node::Call { args, segments, .. } => {
                args.iter().for_each(|n| n.config_keys(out));
                segments.iter().for_each(|s| s.config_keys(out));
            }
            Node::Group { inner, segments } => {
                inner.config_keys(out);
                segments.iter().for_each(|s| s.config_keys(out));
            }
            Node::Unary { operand, .. } => operand.config_keys(out),
            Node::Binary { left, right, .. } => {
                left.config_keys(out);
                right.config_keys(out);
            }
            Node::Conditional {
                condition,
                then,
                otherwise,
            } => {
                condition.config_keys(out);
                then.config_keys(out);
                otherwise.config_keys(out);
            }
        }
    }
}

impl Segment {
    fn config_keys<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Segment::Dynamic(n) => n.config_keys(out),
            Segment::Filter(n) => n.config_keys(out),
            Segment::Union(items) => items.iter().for_each(|n| n.config_keys(out)),
            Segment::Slice { start, end, step } => [start, end, step]
                .into_iter()
                .flatten()
                .for_each(|n| n.config_keys(out)),
            _ => {}
        }
    }
}
