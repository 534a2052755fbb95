//! Patterns (`match`, `count`, `from`): location path patterns with `/`, `//`, `@`, node
//! tests and predicates, `id()`/`key()` patterns and unions, matched right to left.
//!
//! A step with predicates is checked by evaluating the step (`item[1]`) from the node's
//! parent and looking for the node in the result, so positional predicates mean what the
//! spec says.

use sxd_xpath::nodeset::Node;
use sxd_xpath::{Context, Value, XPath};

/// What a step tests.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum NodeTest {
    /// A name: namespace URI (none for an unprefixed name) and local name.
    Name(Option<String>, String),
    /// `prefix:*`: any name in the namespace.
    Namespace(String),
    /// `*`: any name.
    Any,
    /// `node()`.
    Node,
    /// `text()`.
    Text,
    /// `comment()`.
    Comment,
    /// `processing-instruction()` with an optional target.
    Pi(Option<String>),
}

#[derive(Debug)]
struct Step {
    attribute: bool,
    test: NodeTest,
    /// The whole step as an XPath expression, when it has predicates.
    predicated: Option<XPath>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Sep {
    Child,
    Descendant,
}

#[derive(Debug)]
enum Anchor {
    /// Matches anywhere (a relative pattern, or one starting with `//`).
    Anywhere,
    /// `/`: the first step's parent is the root.
    Root,
    /// `id(...)` or `key(...)`, then `/` or `//` to the first step.
    Call(XPath, Sep),
}

/// One alternative of a pattern.
#[derive(Debug)]
pub(super) struct PathPattern {
    anchor: Anchor,
    /// Left to right; `seps[i]` joins `steps[i - 1]` and `steps[i]` (`seps[0]` is unused).
    steps: Vec<Step>,
    seps: Vec<Sep>,
    /// The default priority the spec gives this alternative.
    pub priority: f64,
}

/// A pattern: alternatives, any of which matches.
#[derive(Debug)]
pub(super) struct Pattern(pub Vec<PathPattern>);

/// What parsing a pattern needs from the stylesheet.
pub(super) trait PatternEnv {
    /// Compiles an XPath expression (a predicated step or an `id()`/`key()` call).
    fn xpath(&mut self, text: &str) -> Result<XPath, String>;
    /// The namespace URI of a prefix in scope.
    fn namespace(&self, prefix: &str) -> Result<String, String>;
}

impl Pattern {
    pub fn parse(text: &str, env: &mut dyn PatternEnv) -> Result<Pattern, String> {
        let mut alternatives = Vec::new();
        for alt in split_top(text, "|") {
            alternatives
                .push(parse_path(alt.trim(), env).map_err(|e| format!("pattern {text}: {e}"))?);
        }
        Ok(Pattern(alternatives))
    }

    pub fn matches<'d>(&self, node: Node<'d>, cx: &Context<'d>) -> Result<bool, String> {
        for alt in &self.0 {
            if alt.matches(node, cx)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

impl PathPattern {
    pub fn matches<'d>(&self, node: Node<'d>, cx: &Context<'d>) -> Result<bool, String> {
        if self.steps.is_empty() {
            return match &self.anchor {
                Anchor::Root => Ok(matches!(node, Node::Root(_))),
                Anchor::Call(x, _) => in_result(x, cx, node, node),
                Anchor::Anywhere => Ok(false),
            };
        }
        self.match_step(self.steps.len() - 1, node, cx)
    }

    fn match_step<'d>(&self, i: usize, node: Node<'d>, cx: &Context<'d>) -> Result<bool, String> {
        if !self.steps[i].matches(node, cx)? {
            return Ok(false);
        }
        let (sep, previous) = if i == 0 {
            match &self.anchor {
                Anchor::Anywhere => return Ok(true),
                Anchor::Root => return Ok(matches!(node.parent(), Some(Node::Root(_)))),
                Anchor::Call(x, sep) => {
                    let mut up = node.parent();
                    while let Some(p) = up {
                        if in_result(x, cx, p, p)? {
                            return Ok(true);
                        }
                        if *sep == Sep::Child {
                            break;
                        }
                        up = p.parent();
                    }
                    return Ok(false);
                }
            }
        } else {
            (self.seps[i], i - 1)
        };
        let mut up = node.parent();
        while let Some(p) = up {
            if self.match_step(previous, p, cx)? {
                return Ok(true);
            }
            if sep == Sep::Child {
                break;
            }
            up = p.parent();
        }
        Ok(false)
    }
}

impl Step {
    fn matches<'d>(&self, node: Node<'d>, cx: &Context<'d>) -> Result<bool, String> {
        let principal = match node {
            Node::Attribute(_) => self.attribute,
            Node::Element(_)
            | Node::Text(_)
            | Node::Comment(_)
            | Node::ProcessingInstruction(_) => !self.attribute,
            Node::Root(_) | Node::Namespace(_) => false,
        };
        if !principal || !test_matches(&self.test, node) {
            return Ok(false);
        }
        match (&self.predicated, node.parent()) {
            (None, _) => Ok(true),
            (Some(x), Some(parent)) => in_result(x, cx, parent, node),
            (Some(_), None) => Ok(false),
        }
    }
}

/// Whether `node` passes the node test (on its principal node type).
pub(super) fn test_matches(test: &NodeTest, node: Node<'_>) -> bool {
    let name = match node {
        Node::Element(e) => Some(e.name()),
        Node::Attribute(a) => Some(a.name()),
        _ => None,
    };
    match test {
        NodeTest::Node => true,
        NodeTest::Text => matches!(node, Node::Text(_)),
        NodeTest::Comment => matches!(node, Node::Comment(_)),
        NodeTest::Pi(target) => match node {
            Node::ProcessingInstruction(p) => target.as_deref().is_none_or(|t| p.target() == t),
            _ => false,
        },
        NodeTest::Any => name.is_some(),
        NodeTest::Namespace(ns) => name.is_some_and(|n| n.namespace_uri() == Some(ns.as_str())),
        NodeTest::Name(ns, local) => {
            name.is_some_and(|n| n.local_part() == local && n.namespace_uri() == ns.as_deref())
        }
    }
}

/// Whether evaluating `x` from `from` gives a node-set holding `node`.
fn in_result<'d>(
    x: &XPath,
    cx: &Context<'d>,
    from: Node<'d>,
    node: Node<'d>,
) -> Result<bool, String> {
    match x.evaluate(cx, from).map_err(|e| e.to_string())? {
        Value::Nodeset(set) => Ok(set.contains(node)),
        _ => Ok(false),
    }
}

fn parse_path(text: &str, env: &mut dyn PatternEnv) -> Result<PathPattern, String> {
    if text.is_empty() {
        return Err("an empty alternative".into());
    }
    let (anchor, rest, leading_descendant) = if text == "/" {
        (Anchor::Root, "", false)
    } else if text.starts_with("id(") || text.starts_with("id (") || text.starts_with("key(") {
        let close = matching_paren(text).ok_or("an unclosed id() or key() call")?;
        let call = env.xpath(&text[..=close])?;
        let rest = &text[close + 1..];
        if let Some(r) = rest.strip_prefix("//") {
            (Anchor::Call(call, Sep::Descendant), r, false)
        } else if let Some(r) = rest.strip_prefix('/') {
            (Anchor::Call(call, Sep::Child), r, false)
        } else if rest.trim().is_empty() {
            (Anchor::Call(call, Sep::Child), "", false)
        } else {
            return Err(format!("unexpected {rest} after the call"));
        }
    } else if let Some(r) = text.strip_prefix("//") {
        (Anchor::Anywhere, r, true)
    } else if let Some(r) = text.strip_prefix('/') {
        (Anchor::Root, r, false)
    } else {
        (Anchor::Anywhere, text, false)
    };
    let mut steps = Vec::new();
    let mut seps = Vec::new();
    if !rest.is_empty() {
        let mut sep = Sep::Child;
        let pieces = split_top(rest, "/");
        let mut pending_descendant = false;
        for piece in pieces {
            if piece.trim().is_empty() {
                // `a//b` splits into "a", "", "b".
                if steps.is_empty() || pending_descendant {
                    return Err("an empty step".into());
                }
                pending_descendant = true;
                continue;
            }
            seps.push(if pending_descendant {
                Sep::Descendant
            } else {
                sep
            });
            pending_descendant = false;
            sep = Sep::Child;
            steps.push(parse_step(piece.trim(), env)?);
        }
        if pending_descendant {
            return Err("a pattern cannot end with //".into());
        }
    }
    let priority = match (&anchor, steps.as_slice()) {
        (Anchor::Anywhere, [step]) if !leading_descendant && step.predicated.is_none() => {
            match &step.test {
                NodeTest::Name(..) | NodeTest::Pi(Some(_)) => 0.0,
                NodeTest::Namespace(_) => -0.25,
                _ => -0.5,
            }
        }
        _ => 0.5,
    };
    Ok(PathPattern {
        anchor,
        steps,
        seps,
        priority,
    })
}

fn parse_step(text: &str, env: &mut dyn PatternEnv) -> Result<Step, String> {
    let (attribute, body) = if let Some(r) = text.strip_prefix('@') {
        (true, r.trim_start())
    } else if let Some(r) = text.strip_prefix("attribute::") {
        (true, r.trim_start())
    } else if let Some(r) = text.strip_prefix("child::") {
        (false, r.trim_start())
    } else if text
        .split('[')
        .next()
        .is_some_and(|head| head.contains("::"))
    {
        return Err(format!(
            "step {text}: only the child and attribute axes are allowed in patterns"
        ));
    } else {
        (false, text)
    };
    let bracket = body.find('[');
    let test_text = bracket.map_or(body, |b| &body[..b]).trim();
    let test = parse_test(test_text, env).map_err(|e| format!("step {text}: {e}"))?;
    let predicated = match bracket {
        Some(_) => {
            let axis = if attribute { "attribute::" } else { "child::" };
            Some(env.xpath(&format!("{axis}{body}"))?)
        }
        None => None,
    };
    Ok(Step {
        attribute,
        test,
        predicated,
    })
}

fn parse_test(text: &str, env: &mut dyn PatternEnv) -> Result<NodeTest, String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    Ok(match compact.as_str() {
        "*" => NodeTest::Any,
        "node()" => NodeTest::Node,
        "text()" => NodeTest::Text,
        "comment()" => NodeTest::Comment,
        "processing-instruction()" => NodeTest::Pi(None),
        t if t.starts_with("processing-instruction(") && t.ends_with(')') => {
            let inner = &t["processing-instruction(".len()..t.len() - 1];
            let target = inner.trim_matches(|c| c == '\'' || c == '"');
            NodeTest::Pi(Some(target.to_string()))
        }
        t => match t.split_once(':') {
            Some((prefix, "*")) => NodeTest::Namespace(env.namespace(prefix)?),
            Some((prefix, local)) if super::text::is_ncname(local) => {
                NodeTest::Name(Some(env.namespace(prefix)?), local.to_string())
            }
            None if super::text::is_ncname(t) => NodeTest::Name(None, t.to_string()),
            _ => return Err(format!("{text} is not a node test")),
        },
    })
}

/// Splits `text` on `sep` outside quotes, brackets and parentheses.
pub(super) fn split_top<'a>(text: &'a str, sep: &str) -> Vec<&'a str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[' | '(') => depth += 1,
            (None, ']' | ')') => depth -= 1,
            (None, _) if depth == 0 && text[i..].starts_with(sep) => {
                parts.push(&text[start..i]);
                start = i + sep.len();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// The index of the `)` closing the first `(` in `text`.
fn matching_paren(text: &str) -> Option<usize> {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

impl PathPattern {
    /// The node test of a pattern that is one child-axis step without predicates.
    pub(super) fn only_test(&self) -> Option<NodeTest> {
        match (&self.anchor, self.steps.as_slice()) {
            (Anchor::Anywhere, [step]) if !step.attribute && step.predicated.is_none() => {
                Some(step.test.clone())
            }
            _ => None,
        }
    }
}
