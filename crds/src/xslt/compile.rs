//! Compiles a stylesheet's tree into templates and instructions: every XPath expression,
//! pattern and attribute value template is parsed here, so a stylesheet that compiles only
//! fails at run time on what depends on the input.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use sxd_document::dom::{ChildOfElement, Element};
use sxd_document::parser;
use sxd_xpath::{Factory, XPath};

use super::XSL_NS;
use super::functions::DecimalFormat;
use super::pattern::{NodeTest, PathPattern, Pattern, PatternEnv};
use super::text::{self, AvtPart, Uses};

/// A compiled stylesheet.
pub(super) struct Compiled {
    pub templates: Vec<Template>,
    /// Template rules by mode (`""`: the default mode), best first (highest priority, then
    /// last in the stylesheet).
    pub rules: HashMap<String, Vec<Rule>>,
    pub named: HashMap<String, usize>,
    /// Top-level variables and parameters, each after those it refers to.
    pub globals: Vec<Global>,
    pub keys: Vec<Key>,
    pub attribute_sets: HashMap<String, AttributeSet>,
    /// `xsl:strip-space` (true) and `xsl:preserve-space` (false) tests.
    pub space: Vec<(NodeTest, f64, bool)>,
    pub output: OutputSpec,
    /// Every namespace prefix the stylesheet declares, for XPath names.
    pub namespaces: Vec<(String, String)>,
    pub formats: Rc<HashMap<String, DecimalFormat>>,
    pub uses: Uses,
    /// The stylesheet's text, when `document('')` reads it.
    pub text: Option<String>,
}

pub(super) struct Template {
    pub params: Vec<Param>,
    pub body: Vec<Instr>,
}

pub(super) struct Rule {
    pub pattern: PathPattern,
    pub template: usize,
}

pub(super) struct Param {
    pub name: String,
    pub var: String,
    pub value: VarValue,
}

pub(super) struct Global {
    pub var: String,
    pub value: VarValue,
    /// The name a supplied parameter binds, for `xsl:param`.
    pub param: Option<String>,
}

pub(super) enum VarValue {
    Select(XPath),
    /// Content: a result tree fragment.
    Tree(Vec<Instr>),
    Empty,
}

pub(super) struct WithParam {
    pub name: String,
    pub value: VarValue,
}

pub(super) struct Key {
    pub name: String,
    pub pattern: Pattern,
    pub using: XPath,
}

pub(super) struct AttributeSet {
    pub uses: Vec<String>,
    pub attributes: Vec<Instr>,
}

#[derive(Default)]
pub(super) struct OutputSpec {
    pub text: bool,
    pub indent: bool,
    pub xml_declaration: bool,
    pub standalone: Option<String>,
    pub doctype_public: Option<String>,
    pub doctype_system: Option<String>,
    pub cdata: Vec<(Option<String>, String)>,
}

pub(super) type Avt = Vec<AvtPart<XPath>>;

/// The `xsl:sort`s and `xsl:with-param`s of an instruction, and its other children.
type SortsAndParams<'e> = (Vec<Sort>, Vec<WithParam>, Vec<ChildOfElement<'e>>);

/// A result element's or attribute's name, known when compiling.
pub(super) struct LiteralName {
    pub ns: Option<String>,
    pub local: String,
    pub prefix: Option<String>,
}

/// A `select` expression: the common steps from the context node are taken directly, the
/// rest evaluated by `sxd-xpath`.
pub(super) enum Select {
    /// `.`
    Context,
    /// `node()`, `*`, `text()`, `name`: children passing the test.
    Children(NodeTest),
    /// `@*`, `@name`: attributes passing the test.
    Attributes(NodeTest),
    /// `@*|node()` (or `node()|@*`): attributes, then children.
    AttributesAndChildren,
    XPath(XPath),
}

pub(super) struct Sort {
    pub select: XPath,
    pub order: Avt,
    pub data_type: Avt,
    pub case_order: Avt,
}

pub(super) enum Level {
    Single,
    Multiple,
    Any,
}

pub(super) struct NumberSpec {
    pub level: Level,
    pub count: Option<Pattern>,
    pub from: Option<Pattern>,
    pub value: Option<XPath>,
    pub format: Avt,
    pub grouping_separator: Option<Avt>,
    pub grouping_size: Option<Avt>,
}

pub(super) enum Instr {
    Text {
        text: String,
        raw: bool,
    },
    Literal {
        name: LiteralName,
        attributes: Vec<(LiteralName, Avt)>,
        sets: Vec<String>,
        body: Vec<Instr>,
    },
    Element {
        name: Avt,
        namespace: Option<Avt>,
        in_scope: Rc<Vec<(String, String)>>,
        sets: Vec<String>,
        body: Vec<Instr>,
    },
    Attribute {
        name: Avt,
        namespace: Option<Avt>,
        in_scope: Rc<Vec<(String, String)>>,
        body: Vec<Instr>,
    },
    ValueOf {
        select: Select,
        raw: bool,
    },
    CopyOf(Select),
    Copy {
        sets: Vec<String>,
        body: Vec<Instr>,
    },
    ApplyTemplates {
        select: Option<Select>,
        mode: Option<String>,
        sorts: Vec<Sort>,
        params: Vec<WithParam>,
    },
    CallTemplate {
        name: String,
        params: Vec<WithParam>,
    },
    ForEach {
        select: Select,
        sorts: Vec<Sort>,
        body: Vec<Instr>,
    },
    If {
        test: XPath,
        body: Vec<Instr>,
    },
    Choose {
        whens: Vec<(XPath, Vec<Instr>)>,
        otherwise: Vec<Instr>,
    },
    Variable {
        var: String,
        value: VarValue,
    },
    Comment(Vec<Instr>),
    Pi {
        name: Avt,
        body: Vec<Instr>,
    },
    Number(Box<NumberSpec>),
    Message {
        body: Vec<Instr>,
        terminate: bool,
    },
    /// An instruction of a later XSLT version without an `xsl:fallback`: an error if run.
    Fail(String),
}

impl Compiled {
    /// Compiles stylesheet `text`; `_supplied` names the parameters the mediator binds (any
    /// top-level `xsl:param` can be bound, so they need no special treatment).
    pub fn new(text: &str, _supplied: &[String]) -> Result<Compiled, String> {
        let package = parser::parse(text)
            .map_err(|e| format!("the stylesheet is not XML: {}", text::parse_error(text, &e)))?;
        let doc = package.as_document();
        let root = doc
            .root()
            .children()
            .into_iter()
            .find_map(|c| c.element())
            .ok_or("the stylesheet has no root element")?;
        let mut c = Compiler::default();
        c.collect_namespaces(root);
        let simplified = !(is_xsl(root, "stylesheet") || is_xsl(root, "transform"));
        let version = if simplified {
            root.attribute_value((XSL_NS, "version"))
                .ok_or(
                    "the root element is not xsl:stylesheet or xsl:transform (nor a literal \
                     result element with xsl:version)",
                )?
                .to_string()
        } else {
            attr(root, "version")
                .ok_or("xsl:stylesheet needs a version")?
                .to_string()
        };
        c.forwards = version.trim() != "1.0";
        c.extension_prefixes(root, simplified);
        if simplified {
            let body = c.instruction(root)?.into_iter().collect();
            c.templates.push(Template {
                params: Vec::new(),
                body,
            });
            let pattern = Pattern::parse("/", &mut c)?;
            c.add_rules(pattern, None, None, 0)?;
        } else {
            c.top_level(root)?;
        }
        let mut compiled = c.finish()?;
        if compiled.uses.document {
            compiled.text = Some(text.to_string());
        }
        Ok(compiled)
    }
}

#[derive(Default)]
struct Compiler {
    factory: Factory,
    forwards: bool,
    uses: Uses,
    counter: usize,
    /// Top-level variables: name → unique name.
    global_names: HashMap<String, String>,
    /// Local variables in scope, innermost last.
    scope: Vec<(String, String)>,
    /// Global unique names the expression being compiled refers to.
    refs: Vec<String>,
    namespaces: HashMap<String, String>,
    extension: HashSet<String>,
    /// The element whose namespaces resolve prefixes in patterns and names.
    ns_scope: Vec<(String, String)>,
    templates: Vec<Template>,
    rules: HashMap<Option<String>, Vec<(f64, usize, Rule)>>,
    named: HashMap<String, usize>,
    called: Vec<String>,
    globals: Vec<(Global, Vec<String>)>,
    keys: Vec<Key>,
    attribute_sets: HashMap<String, AttributeSet>,
    space: Vec<(NodeTest, f64, bool)>,
    output: OutputSpec,
    formats: HashMap<String, DecimalFormat>,
}

impl PatternEnv for Compiler {
    fn xpath(&mut self, text: &str) -> Result<XPath, String> {
        Compiler::xpath(self, text)
    }

    fn namespace(&self, prefix: &str) -> Result<String, String> {
        self.ns_scope
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, u)| u.clone())
            .ok_or_else(|| format!("the namespace prefix {prefix} is not declared"))
    }
}

impl Compiler {
    fn collect_namespaces(&mut self, el: Element<'_>) {
        for ns in el.namespaces_in_scope() {
            if ns.prefix() != "xml" {
                self.namespaces
                    .entry(ns.prefix().to_string())
                    .or_insert_with(|| ns.uri().to_string());
            }
        }
        for child in el.children() {
            if let ChildOfElement::Element(e) = child {
                self.collect_namespaces(e);
            }
        }
    }

    fn extension_prefixes(&mut self, el: Element<'_>, literal: bool) {
        let value = if literal {
            el.attribute_value((XSL_NS, "extension-element-prefixes"))
        } else {
            attr(el, "extension-element-prefixes")
        };
        for prefix in value.unwrap_or_default().split_whitespace() {
            let prefix = if prefix == "#default" { "" } else { prefix };
            let uri = if prefix.is_empty() {
                el.default_namespace_uri()
            } else {
                el.namespace_uri_for_prefix(prefix)
            };
            if let Some(uri) = uri {
                self.extension.insert(uri.to_string());
            }
        }
    }

    fn set_ns_scope(&mut self, el: Element<'_>) {
        self.ns_scope = el
            .namespaces_in_scope()
            .into_iter()
            .map(|n| (n.prefix().to_string(), n.uri().to_string()))
            .collect();
    }

    /// The expanded name of QName `name` written on `el` (`{uri}local`, or `local`).
    fn expand(&self, el: Element<'_>, name: &str) -> Result<String, String> {
        if !text::is_qname(name) {
            return Err(format!("{name} is not a QName"));
        }
        match name.split_once(':') {
            Some((prefix, local)) => {
                let uri = el
                    .namespace_uri_for_prefix(prefix)
                    .ok_or_else(|| format!("the namespace prefix {prefix} is not declared"))?;
                Ok(format!("{{{uri}}}{local}"))
            }
            None => Ok(name.to_string()),
        }
    }

    fn unique(&mut self, name: &str) -> String {
        self.counter += 1;
        format!("{}.{}", name.replace(':', "."), self.counter)
    }

    fn xpath(&mut self, text: &str) -> Result<XPath, String> {
        let scope = &self.scope;
        let globals = &self.global_names;
        let refs = &mut self.refs;
        let known = (!self.forwards).then_some(text::FUNCTIONS);
        let namespaces = &self.namespaces;
        let declared = |prefix: &str| namespaces.contains_key(prefix);
        let rewritten = text::rewrite_xpath(text, known, &declared, &mut self.uses, &mut |name| {
            if let Some((_, unique)) = scope.iter().rev().find(|(n, _)| n == name) {
                return Ok(unique.clone());
            }
            match globals.get(name) {
                Some(unique) => {
                    refs.push(unique.clone());
                    Ok(unique.clone())
                }
                None => Err(format!("the variable ${name} is not declared")),
            }
        })?;
        match self.factory.build(&rewritten) {
            Ok(Some(x)) => Ok(x),
            Ok(None) => Err(format!("the expression {text:?} is empty")),
            Err(e) => Err(format!("the expression {text:?} does not parse: {e}")),
        }
    }

    /// A `select`: one of the common steps taken directly, or an XPath expression.
    fn select(&mut self, text: &str) -> Result<Select, String> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let name_test = |this: &Self, name: &str| -> Option<NodeTest> {
            match name.split_once(':') {
                Some((prefix, local)) if text::is_ncname(prefix) && text::is_ncname(local) => {
                    let uri = this.namespaces.get(prefix)?;
                    Some(NodeTest::Name(Some(uri.clone()), local.to_string()))
                }
                None if text::is_ncname(name) => Some(NodeTest::Name(None, name.to_string())),
                _ => None,
            }
        };
        let fast = match compact.as_str() {
            "." => Some(Select::Context),
            "node()" => Some(Select::Children(NodeTest::Node)),
            "*" => Some(Select::Children(NodeTest::Any)),
            "text()" => Some(Select::Children(NodeTest::Text)),
            "@*" => Some(Select::Attributes(NodeTest::Any)),
            "@*|node()" | "node()|@*" => Some(Select::AttributesAndChildren),
            c => match c.strip_prefix('@') {
                Some(name) => name_test(self, name).map(Select::Attributes),
                None => name_test(self, c).map(Select::Children),
            },
        };
        match fast {
            Some(f) => Ok(f),
            None => self.xpath(text).map(Select::XPath),
        }
    }

    fn avt(&mut self, text: &str) -> Result<Avt, String> {
        text::split_avt(text)?
            .into_iter()
            .map(|p| match p {
                AvtPart::Literal(l) => Ok(AvtPart::Literal(l)),
                AvtPart::Expr(e) => self.xpath(&e).map(AvtPart::Expr),
            })
            .collect()
    }

    fn pattern(&mut self, el: Element<'_>, text: &str) -> Result<Pattern, String> {
        self.set_ns_scope(el);
        Pattern::parse(text, self)
    }

    fn top_level(&mut self, root: Element<'_>) -> Result<(), String> {
        // Global names first: top-level variables may refer to later ones.
        for el in child_elements(root) {
            if is_xsl(el, "variable") || is_xsl(el, "param") {
                let name = required(el, "name")?;
                let unique = self.unique(name);
                if self.global_names.insert(name.to_string(), unique).is_some() {
                    return Err(format!("the top-level variable ${name} is declared twice"));
                }
            }
        }
        for el in child_elements(root) {
            if el.name().namespace_uri() != Some(XSL_NS) {
                continue;
            }
            let local = el.name().local_part();
            let what = format!("xsl:{local}");
            self.top_level_element(el, local).map_err(|e| {
                if e.starts_with(&what) {
                    e
                } else {
                    format!("{what}: {e}")
                }
            })?;
        }
        Ok(())
    }

    fn top_level_element(&mut self, el: Element<'_>, local: &str) -> Result<(), String> {
        match local {
            "template" => self.template(el),
            "variable" | "param" => {
                let name = required(el, "name")?;
                let var = self.global_names.get(name).cloned().unwrap_or_default();
                self.refs.clear();
                let value = self.var_value(el)?;
                let refs = std::mem::take(&mut self.refs);
                self.globals.push((
                    Global {
                        var,
                        value,
                        param: (local == "param").then(|| name.to_string()),
                    },
                    refs,
                ));
                Ok(())
            }
            "output" => {
                match attr(el, "method").map(str::trim) {
                    None | Some("xml") | Some("html") => {}
                    Some("text") => self.output.text = true,
                    Some(other) => {
                        return Err(format!(
                            "xsl:output method {other} is not supported (xml, html, text)"
                        ));
                    }
                }
                self.output.indent = attr(el, "indent") == Some("yes");
                self.output.xml_declaration = attr(el, "omit-xml-declaration") == Some("no");
                self.output.standalone = attr(el, "standalone").map(str::to_string);
                self.output.doctype_public = attr(el, "doctype-public").map(str::to_string);
                self.output.doctype_system = attr(el, "doctype-system").map(str::to_string);
                for name in attr(el, "cdata-section-elements")
                    .unwrap_or_default()
                    .split_whitespace()
                {
                    let expanded = self.expand(el, name)?;
                    self.output.cdata.push(split_expanded(&expanded));
                }
                Ok(())
            }
            "key" => {
                let name = self.expand(el, required(el, "name")?)?;
                let pattern = self.pattern(el, required(el, "match")?)?;
                let using = self.xpath(required(el, "use")?)?;
                self.keys.push(Key {
                    name,
                    pattern,
                    using,
                });
                Ok(())
            }
            "attribute-set" => {
                let name = self.expand(el, required(el, "name")?)?;
                let uses = self.attribute_set_names(el, attr(el, "use-attribute-sets"))?;
                let mut attributes = Vec::new();
                for child in child_elements(el) {
                    if !is_xsl(child, "attribute") {
                        return Err("an attribute set holds only xsl:attribute".into());
                    }
                    attributes.extend(self.instruction(child)?);
                }
                let set = self.attribute_sets.entry(name).or_insert(AttributeSet {
                    uses: Vec::new(),
                    attributes: Vec::new(),
                });
                set.uses.extend(uses);
                set.attributes.extend(attributes);
                Ok(())
            }
            "strip-space" | "preserve-space" => {
                self.set_ns_scope(el);
                for name in required(el, "elements")?.split_whitespace() {
                    let pattern = Pattern::parse(name, self)?;
                    for alt in pattern.0 {
                        let test = alt
                            .only_test()
                            .ok_or_else(|| format!("{name} is not a name test"))?;
                        self.space
                            .push((test, alt.priority, local == "strip-space"));
                    }
                }
                Ok(())
            }
            "decimal-format" => {
                let name = match attr(el, "name") {
                    Some(n) => self.expand(el, n)?,
                    None => String::new(),
                };
                let format = DecimalFormat::from_attributes(|a| attr(el, a))?;
                self.formats.insert(name, format);
                Ok(())
            }
            "include" | "import" => Err(
                "xsl:include and xsl:import are not supported: put the templates in one \
                 stylesheet"
                    .into(),
            ),
            "namespace-alias" => Err("xsl:namespace-alias is not supported".into()),
            // Forwards-compatible mode: a later version's top-level element is ignored.
            _ if self.forwards => Ok(()),
            other => Err(format!("xsl:{other} is not an XSLT 1.0 top-level element")),
        }
    }

    fn attribute_set_names(
        &self,
        el: Element<'_>,
        value: Option<&str>,
    ) -> Result<Vec<String>, String> {
        value
            .unwrap_or_default()
            .split_whitespace()
            .map(|n| self.expand(el, n))
            .collect()
    }

    fn template(&mut self, el: Element<'_>) -> Result<(), String> {
        let index = self.templates.len();
        let mode = attr(el, "mode").map(|m| self.expand(el, m)).transpose()?;
        let name = attr(el, "name").map(|n| self.expand(el, n)).transpose()?;
        let priority = attr(el, "priority")
            .map(|p| {
                p.trim()
                    .parse::<f64>()
                    .map_err(|_| format!("priority {p} is not a number"))
            })
            .transpose()?;
        let pattern = attr(el, "match").map(|m| self.pattern(el, m)).transpose()?;
        if pattern.is_none() && name.is_none() {
            return Err("xsl:template needs a match or a name".into());
        }
        if pattern.is_none() && mode.is_some() {
            return Err("xsl:template with a mode needs a match".into());
        }
        let mut params = Vec::new();
        let mut children = el.children().into_iter().peekable();
        let depth = self.scope.len();
        while let Some(child) = children.peek() {
            match child {
                ChildOfElement::Element(p) if is_xsl(*p, "param") => {
                    let p = *p;
                    let name = required(p, "name")?;
                    let value = self.var_value(p)?;
                    let var = self.unique(name);
                    self.scope.push((name.to_string(), var.clone()));
                    params.push(Param {
                        name: name.to_string(),
                        var,
                        value,
                    });
                    children.next();
                }
                ChildOfElement::Text(t) if text::is_xml_space(t.text()) => {
                    children.next();
                }
                _ => break,
            }
        }
        let rest: Vec<ChildOfElement<'_>> = children.collect();
        let body = self.body(&rest, false)?;
        self.scope.truncate(depth);
        self.templates.push(Template { params, body });
        if let Some(name) = name
            && self.named.insert(name.clone(), index).is_some()
        {
            return Err(format!("two templates are named {name}"));
        }
        if let Some(pattern) = pattern {
            self.add_rules(pattern, mode, priority, index)?;
        }
        Ok(())
    }

    fn add_rules(
        &mut self,
        pattern: Pattern,
        mode: Option<String>,
        priority: Option<f64>,
        template: usize,
    ) -> Result<(), String> {
        let rules = self.rules.entry(mode).or_default();
        for alt in pattern.0 {
            let p = priority.unwrap_or(alt.priority);
            rules.push((
                p,
                template,
                Rule {
                    pattern: alt,
                    template,
                },
            ));
        }
        Ok(())
    }

    /// A variable's or parameter's value: `select`, content, or the empty string.
    fn var_value(&mut self, el: Element<'_>) -> Result<VarValue, String> {
        let children = el.children();
        let has_content = children.iter().any(|c| match c {
            ChildOfElement::Text(t) => !text::is_xml_space(t.text()),
            ChildOfElement::Element(_) => true,
            _ => false,
        });
        match attr(el, "select") {
            Some(_) if has_content => {
                Err("a variable with a select attribute must be empty".into())
            }
            Some(s) => Ok(VarValue::Select(self.xpath(s)?)),
            None if has_content => Ok(VarValue::Tree(self.body(&children, false)?)),
            None => Ok(VarValue::Empty),
        }
    }

    /// Compiles a sequence of instructions; local variables are in scope for the siblings
    /// after them.
    fn body(
        &mut self,
        children: &[ChildOfElement<'_>],
        keep_space: bool,
    ) -> Result<Vec<Instr>, String> {
        let depth = self.scope.len();
        let mut out = Vec::new();
        for child in children {
            match child {
                ChildOfElement::Text(t) if keep_space || !text::is_xml_space(t.text()) => {
                    // The parser splits text at references: one instruction per run.
                    if let Some(Instr::Text { text, raw: false }) = out.last_mut() {
                        text.push_str(t.text());
                    } else {
                        out.push(Instr::Text {
                            text: t.text().to_string(),
                            raw: false,
                        });
                    }
                }
                ChildOfElement::Element(e) => {
                    if is_xsl(*e, "variable") {
                        let name = required(*e, "name")?;
                        if self.scope[depth..].iter().any(|(n, _)| n == name) {
                            return Err(format!("the variable ${name} is declared twice"));
                        }
                        let value = self
                            .var_value(*e)
                            .map_err(|m| format!("xsl:variable: {m}"))?;
                        let var = self.unique(name);
                        self.scope.push((name.to_string(), var.clone()));
                        out.push(Instr::Variable { var, value });
                    } else {
                        out.extend(self.instruction(*e)?);
                    }
                }
                _ => {}
            }
        }
        self.scope.truncate(depth);
        Ok(out)
    }

    fn children_body(&mut self, el: Element<'_>) -> Result<Vec<Instr>, String> {
        self.body(&el.children(), false)
    }

    fn sorts_and_params<'e>(&mut self, el: Element<'e>) -> Result<SortsAndParams<'e>, String> {
        let mut sorts = Vec::new();
        let mut params = Vec::new();
        let mut rest = Vec::new();
        for child in el.children() {
            match child {
                ChildOfElement::Element(e) if is_xsl(e, "sort") => {
                    sorts.push(Sort {
                        select: self.xpath(attr(e, "select").unwrap_or("."))?,
                        order: self.avt(attr(e, "order").unwrap_or("ascending"))?,
                        data_type: self.avt(attr(e, "data-type").unwrap_or("text"))?,
                        case_order: self.avt(attr(e, "case-order").unwrap_or(""))?,
                    });
                }
                ChildOfElement::Element(e) if is_xsl(e, "with-param") => {
                    let name = required(e, "name")?.to_string();
                    if params.iter().any(|p: &WithParam| p.name == name) {
                        return Err(format!("the parameter {name} is passed twice"));
                    }
                    let value = self.var_value(e)?;
                    params.push(WithParam { name, value });
                }
                other => rest.push(other),
            }
        }
        Ok((sorts, params, rest))
    }

    /// Compiles one element of a template body (`None`: it produces nothing).
    fn instruction(&mut self, el: Element<'_>) -> Result<Option<Instr>, String> {
        let name = el.name();
        if name.namespace_uri() != Some(XSL_NS) {
            if name
                .namespace_uri()
                .is_some_and(|ns| self.extension.contains(ns))
            {
                return self.fallback(el, &format!("the extension element {}", name.local_part()));
            }
            return self.literal(el).map(Some);
        }
        let local = name.local_part();
        let what = format!("xsl:{local}");
        self.xsl_instruction(el, local).map_err(|e| {
            if e.starts_with("xsl:") {
                e
            } else {
                format!("{what}: {e}")
            }
        })
    }

    fn xsl_instruction(&mut self, el: Element<'_>, local: &str) -> Result<Option<Instr>, String> {
        let instr = match local {
            "apply-templates" => {
                let select = attr(el, "select").map(|s| self.select(s)).transpose()?;
                let mode = attr(el, "mode").map(|m| self.expand(el, m)).transpose()?;
                let (sorts, params, rest) = self.sorts_and_params(el)?;
                if rest.iter().any(|c| matches!(c, ChildOfElement::Element(_))) {
                    return Err("only xsl:sort and xsl:with-param may be inside".into());
                }
                Instr::ApplyTemplates {
                    select,
                    mode,
                    sorts,
                    params,
                }
            }
            "call-template" => {
                let name = self.expand(el, required(el, "name")?)?;
                let (sorts, params, _) = self.sorts_and_params(el)?;
                if !sorts.is_empty() {
                    return Err("xsl:sort is not allowed here".into());
                }
                self.called.push(name.clone());
                Instr::CallTemplate { name, params }
            }
            "for-each" => {
                let select = self.select(required(el, "select")?)?;
                let (sorts, params, rest) = self.sorts_and_params(el)?;
                if !params.is_empty() {
                    return Err("xsl:with-param is not allowed here".into());
                }
                let body = self.body(&rest, false)?;
                Instr::ForEach {
                    select,
                    sorts,
                    body,
                }
            }
            "value-of" => Instr::ValueOf {
                select: self.select(required(el, "select")?)?,
                raw: attr(el, "disable-output-escaping") == Some("yes"),
            },
            "copy-of" => Instr::CopyOf(self.select(required(el, "select")?)?),
            "copy" => Instr::Copy {
                sets: self.attribute_set_names(el, attr(el, "use-attribute-sets"))?,
                body: self.children_body(el)?,
            },
            "if" => Instr::If {
                test: self.xpath(required(el, "test")?)?,
                body: self.children_body(el)?,
            },
            "choose" => {
                let mut whens = Vec::new();
                let mut otherwise = Vec::new();
                for child in child_elements(el) {
                    if is_xsl(child, "when") {
                        let test = self.xpath(required(child, "test")?)?;
                        whens.push((test, self.children_body(child)?));
                    } else if is_xsl(child, "otherwise") {
                        otherwise = self.children_body(child)?;
                    } else {
                        return Err("only xsl:when and xsl:otherwise may be inside".into());
                    }
                }
                if whens.is_empty() {
                    return Err("xsl:choose needs an xsl:when".into());
                }
                Instr::Choose { whens, otherwise }
            }
            "text" => {
                let text: String = el
                    .children()
                    .into_iter()
                    .filter_map(|c| c.text().map(|t| t.text().to_string()))
                    .collect();
                Instr::Text {
                    text,
                    raw: attr(el, "disable-output-escaping") == Some("yes"),
                }
            }
            "element" => Instr::Element {
                name: self.avt(required(el, "name")?)?,
                namespace: attr(el, "namespace").map(|n| self.avt(n)).transpose()?,
                in_scope: Rc::new(in_scope(el)),
                sets: self.attribute_set_names(el, attr(el, "use-attribute-sets"))?,
                body: self.children_body(el)?,
            },
            "attribute" => Instr::Attribute {
                name: self.avt(required(el, "name")?)?,
                namespace: attr(el, "namespace").map(|n| self.avt(n)).transpose()?,
                in_scope: Rc::new(in_scope(el)),
                body: self.children_body(el)?,
            },
            "comment" => Instr::Comment(self.children_body(el)?),
            "processing-instruction" => Instr::Pi {
                name: self.avt(required(el, "name")?)?,
                body: self.children_body(el)?,
            },
            "number" => Instr::Number(Box::new(self.number(el)?)),
            "message" => Instr::Message {
                body: self.children_body(el)?,
                terminate: match attr(el, "terminate").map(str::trim) {
                    None | Some("no") => false,
                    Some("yes") => true,
                    Some(other) => return Err(format!("terminate {other} is not yes or no")),
                },
            },
            "fallback" => return Ok(None),
            "variable" | "param" => {
                return Err(format!("xsl:{local} is not allowed here"));
            }
            "apply-imports" => {
                return Err("xsl:apply-imports needs xsl:import, which is not supported".into());
            }
            other if self.forwards => {
                return self.fallback(el, &format!("xsl:{other}"));
            }
            other => return Err(format!("xsl:{other} is not an XSLT 1.0 instruction")),
        };
        Ok(Some(instr))
    }

    /// An instruction this processor does not know: its `xsl:fallback`s, or an error when
    /// it runs.
    fn fallback(&mut self, el: Element<'_>, what: &str) -> Result<Option<Instr>, String> {
        let mut body = Vec::new();
        let mut any = false;
        for child in child_elements(el) {
            if is_xsl(child, "fallback") {
                any = true;
                body.extend(self.children_body(child)?);
            }
        }
        if !any {
            return Ok(Some(Instr::Fail(format!("{what} is not supported"))));
        }
        // The fallback's instructions run in place, as a sequence.
        Ok(Some(Instr::Choose {
            whens: vec![(self.xpath("true()")?, body)],
            otherwise: Vec::new(),
        }))
    }

    fn literal(&mut self, el: Element<'_>) -> Result<Instr, String> {
        let q = el.name();
        let name = LiteralName {
            ns: q.namespace_uri().map(str::to_string),
            local: q.local_part().to_string(),
            prefix: el.preferred_prefix().map(str::to_string),
        };
        let mut attributes = Vec::new();
        let mut sets = Vec::new();
        for a in el.attributes() {
            let an = a.name();
            if an.namespace_uri() == Some(XSL_NS) {
                if an.local_part() == "use-attribute-sets" {
                    sets = self.attribute_set_names(el, Some(a.value()))?;
                }
                continue;
            }
            let value = self.avt(a.value())?;
            attributes.push((
                LiteralName {
                    ns: an.namespace_uri().map(str::to_string),
                    local: an.local_part().to_string(),
                    prefix: a.preferred_prefix().map(str::to_string),
                },
                value,
            ));
        }
        Ok(Instr::Literal {
            name,
            attributes,
            sets,
            body: self.children_body(el)?,
        })
    }

    fn number(&mut self, el: Element<'_>) -> Result<NumberSpec, String> {
        let level = match attr(el, "level").unwrap_or("single") {
            "single" => Level::Single,
            "multiple" => Level::Multiple,
            "any" => Level::Any,
            other => return Err(format!("level {other} is not single, multiple or any")),
        };
        Ok(NumberSpec {
            level,
            count: attr(el, "count").map(|p| self.pattern(el, p)).transpose()?,
            from: attr(el, "from").map(|p| self.pattern(el, p)).transpose()?,
            value: attr(el, "value").map(|v| self.xpath(v)).transpose()?,
            format: self.avt(attr(el, "format").unwrap_or("1"))?,
            grouping_separator: attr(el, "grouping-separator")
                .map(|v| self.avt(v))
                .transpose()?,
            grouping_size: attr(el, "grouping-size").map(|v| self.avt(v)).transpose()?,
        })
    }

    fn finish(mut self) -> Result<Compiled, String> {
        for name in &self.called {
            if !self.named.contains_key(name) {
                return Err(format!("xsl:call-template: no template is named {name}"));
            }
        }
        for set in self.attribute_sets.values() {
            for used in &set.uses {
                if !self.attribute_sets.contains_key(used) {
                    return Err(format!("no attribute set is named {used}"));
                }
            }
        }
        let globals = order_globals(std::mem::take(&mut self.globals))?;
        let rules = self
            .rules
            .into_iter()
            .map(|(mode, mut rules)| {
                // Best first: higher priority, then later in the stylesheet.
                rules.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
                (
                    mode.unwrap_or_default(),
                    rules.into_iter().map(|r| r.2).collect(),
                )
            })
            .collect();
        let mut namespaces: Vec<(String, String)> = self.namespaces.into_iter().collect();
        namespaces.sort();
        Ok(Compiled {
            templates: self.templates,
            rules,
            named: self.named,
            globals,
            keys: self.keys,
            attribute_sets: self.attribute_sets,
            space: self.space,
            output: self.output,
            namespaces,
            formats: Rc::new(self.formats),
            uses: self.uses,
            text: None,
        })
    }
}

/// Orders top-level variables so each comes after those its value refers to.
fn order_globals(globals: Vec<(Global, Vec<String>)>) -> Result<Vec<Global>, String> {
    let index: HashMap<String, usize> = globals
        .iter()
        .enumerate()
        .map(|(i, (g, _))| (g.var.clone(), i))
        .collect();
    let mut state = vec![0u8; globals.len()];
    let mut order = Vec::with_capacity(globals.len());
    fn visit(
        i: usize,
        globals: &[(Global, Vec<String>)],
        index: &HashMap<String, usize>,
        state: &mut [u8],
        order: &mut Vec<usize>,
    ) -> Result<(), String> {
        match state[i] {
            2 => return Ok(()),
            1 => {
                let name = globals[i].0.var.rsplit_once('.').map_or("", |p| p.0);
                return Err(format!("the top-level variable ${name} refers to itself"));
            }
            _ => {}
        }
        state[i] = 1;
        for r in &globals[i].1 {
            if let Some(&j) = index.get(r) {
                visit(j, globals, index, state, order)?;
            }
        }
        state[i] = 2;
        order.push(i);
        Ok(())
    }
    for i in 0..globals.len() {
        visit(i, &globals, &index, &mut state, &mut order)?;
    }
    let mut slots: Vec<Option<Global>> = globals.into_iter().map(|(g, _)| Some(g)).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

pub(super) fn split_expanded(expanded: &str) -> (Option<String>, String) {
    match expanded.strip_prefix('{').and_then(|r| r.split_once('}')) {
        Some((ns, local)) => (Some(ns.to_string()), local.to_string()),
        None => (None, expanded.to_string()),
    }
}

fn in_scope(el: Element<'_>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = el
        .namespaces_in_scope()
        .into_iter()
        .map(|n| (n.prefix().to_string(), n.uri().to_string()))
        .collect();
    if let Some(d) = el.recursive_default_namespace_uri() {
        v.push((String::new(), d.to_string()));
    }
    v
}

pub(super) fn is_xsl(el: Element<'_>, local: &str) -> bool {
    let name = el.name();
    name.local_part() == local && name.namespace_uri() == Some(XSL_NS)
}

fn attr<'d>(el: Element<'d>, name: &str) -> Option<&'d str> {
    el.attribute_value(name)
}

fn required<'d>(el: Element<'d>, name: &str) -> Result<&'d str, String> {
    attr(el, name).ok_or_else(|| format!("xsl:{} needs a {name} attribute", el.name().local_part()))
}

fn child_elements(el: Element<'_>) -> impl Iterator<Item = Element<'_>> {
    el.children().into_iter().filter_map(|c| c.element())
}
