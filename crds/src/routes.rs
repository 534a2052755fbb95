//! The route table: from a request's method, path and query to one API resource.
//!
//! Built once per configuration by the checker (`crate::check`, which translates
//! `IntegrationAPI` resources into plain [`ApiRoute`]s, so a route that cannot be built is a
//! located validation error) and consulted by the runtime's HTTP handler for every request.
//! Nothing is parsed on lookup; the only allocations are the parameters it returns.
//!
//! Dispatch follows Synapse:
//! 1. The API is chosen by its context, matched at a segment boundary. With a version, the
//!    context becomes `/{context}/{version}` (`versionType: url`), or the context's
//!    `{version}` placeholder is replaced (`versionType: context`; a context without the
//!    placeholder gets the version appended as its last segment). The longest context wins,
//!    and an API whose context is `/` catches what no other API takes.
//! 2. The resource path is what follows the context (`/` when nothing does); a trailing
//!    slash is tolerated. Resources are tried in Synapse's dispatcher order: URL mappings
//!    (exact, then the longest `/prefix/*`, then `*.ext`), then URI templates, then the
//!    resource with neither (Synapse's default resource).
//! 3. Only resources accepting the request's method take part. When some resource matches
//!    the path but none accepts the method, the answer is 405 with an `Allow` list.
//!
//! Where Ferry is deliberately stricter or more predictable than Synapse:
//! - Among URI templates, the most specific wins (static segments before variables, as
//!   `matchit` orders them) rather than declaration order, so reordering resources never
//!   changes routing.
//! - A template's query part (`/search?q={q}`) requires each named parameter, in any order,
//!   and tolerates extra ones; Synapse matches the query text literally.
//! - Two resources that would take the same path and method are a build error, not a
//!   silent first-wins.
//! - A 405 is answered whenever the path matches a resource with another method; Synapse
//!   answers 404 when some other resource accepts the method.

use std::collections::{HashMap, HashSet};

/// The lookups on the request path hash request-chosen paths: foldhash, seeded per
/// process, costs a fraction of std's SipHash on these short keys.
type PathMap<V> = HashMap<String, V, foldhash::fast::RandomState>;
use std::fmt;

use http::Method;
use percent_encoding::percent_decode_str;

// === input ===

/// How an API's version appears in its URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionType {
    /// The version is part of the context: `{version}` in the context is replaced, or the
    /// version is appended when the context has no placeholder.
    #[default]
    Context,
    /// The version is the first path segment after the context: `/{context}/{version}/...`.
    Url,
}

/// One API as the route table sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRoute {
    /// The API's name, used in error messages.
    pub name: String,
    /// The context, e.g. `/healthcare` (may contain `{version}`).
    pub context: String,
    /// The API version, if it has one.
    pub version: Option<String>,
    /// Where the version goes in the URL.
    pub version_type: VersionType,
    /// The API's resources, in declaration order (their indices are reported back).
    pub resources: Vec<ResourceRoute>,
}

/// One resource of an API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRoute {
    /// The methods it accepts; empty means every method.
    pub methods: Vec<Method>,
    /// Which paths it accepts.
    pub pattern: ResourcePattern,
}

/// The path part of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourcePattern {
    /// A URI template: `/categories/{category}/reserve?q={q}`. `{name}` binds one segment,
    /// `{+name}` as the last segment binds the rest of the path, a trailing `/*` accepts any
    /// rest without binding it, and the query part binds (or, as `name=value`, requires)
    /// query parameters.
    UriTemplate(String),
    /// A servlet-style URL mapping: exact `/foo`, prefix `/foo/*`, or extension `*.do`.
    UrlMapping(String),
    /// Neither: the resource accepts every path under its API.
    Any,
}

// === output ===

/// The outcome of a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMatch {
    /// A resource takes the request.
    Found {
        /// Index of the API in the input.
        api: usize,
        /// Index of the resource within the API.
        resource: usize,
        /// Template variables, percent-decoded (`uri.var.*`, `${params.uriParams.*}`),
        /// including those bound from the template's query part.
        uri_params: Vec<(String, String)>,
        /// Every query parameter, percent-decoded, in request order (`$url:*`,
        /// `${params.queryParams.*}`).
        query_params: Vec<(String, String)>,
        /// What follows the context (and the version, for URL versioning), with `?query`
        /// when there is one: Synapse's `REST_URL_POSTFIX`.
        url_postfix: String,
    },
    /// Resources of `api` match the path, but none accepts the method.
    MethodNotAllowed {
        /// Index of the API in the input.
        api: usize,
        /// The methods that would have been accepted, for the `Allow` header.
        allow: Vec<Method>,
    },
    /// Nothing matches. `api` is set when an API matched the context but none of its
    /// resources matched the path.
    NotFound {
        /// Index of the API whose context matched, if any.
        api: Option<usize>,
    },
}

/// Why a route table could not be built. Every problem is reported, each with its indices.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The context (or version) cannot form a URL prefix.
    #[error("api[{api}]: invalid context: {message}")]
    InvalidContext {
        /// Index of the API.
        api: usize,
        /// What is wrong.
        message: String,
    },
    /// Two APIs resolve to the same context and version.
    #[error("api[{api}]: context {prefix} is already used by api[{other}]")]
    DuplicateContext {
        /// Index of the later API.
        api: usize,
        /// Index of the API that already has the context.
        other: usize,
        /// The resolved context, version included.
        prefix: String,
    },
    /// A URI template or URL mapping cannot be parsed.
    #[error("api[{api}].resources[{resource}]: invalid pattern {pattern:?}: {message}")]
    InvalidPattern {
        /// Index of the API.
        api: usize,
        /// Index of the resource.
        resource: usize,
        /// The pattern as written.
        pattern: String,
        /// What is wrong.
        message: String,
    },
    /// Two resources would take the same requests.
    #[error("api[{api}].resources[{resource}]: overlaps resources[{other}] for {method} {pattern}")]
    Conflict {
        /// Index of the API.
        api: usize,
        /// Index of the later resource.
        resource: usize,
        /// Index of the resource it overlaps.
        other: usize,
        /// A method both accept (`*` when both accept every method).
        method: MethodLabel,
        /// The pattern both resolve to.
        pattern: String,
    },
}

/// A method in an error message: a concrete method, or every method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodLabel(pub Option<Method>);

impl fmt::Display for MethodLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(m) => f.write_str(m.as_str()),
            None => f.write_str("*"),
        }
    }
}

// === compiled form ===

/// The compiled route table of one configuration. Immutable; share it behind an `Arc`.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    /// Resolved context (version included, no trailing slash) to API.
    by_prefix: PathMap<ApiTable>,
    /// The API whose context is `/`, if any.
    root: Option<ApiTable>,
}

#[derive(Debug, Clone)]
struct ApiTable {
    api: usize,
    /// Byte length of the resolved context in the request path (0 for the root API).
    prefix_len: usize,
    /// One dispatcher per method named by some resource.
    by_method: Vec<(Method, Dispatch)>,
    /// The dispatcher for methods no resource names (only method-less resources in it).
    other_methods: Dispatch,
}

/// The resources accepting one method, in Synapse's dispatcher order.
#[derive(Debug, Clone, Default)]
struct Dispatch {
    exact: PathMap<usize>,
    /// `(prefix without "/*", resource)`, longest first (the bare `/*` has an empty prefix).
    prefixes: Vec<(String, usize)>,
    /// `(".ext", resource)`, longest first.
    extensions: Vec<(String, usize)>,
    /// Templates without a catch-all, then those with one; tried in that order because
    /// `matchit` refuses a catch-all beside a parameter in the same position.
    templates: [Templates; 2],
    fallback: Option<usize>,
}

#[derive(Debug, Clone, Default)]
struct Templates {
    router: matchit::Router<usize>,
    /// Keyed by the `matchit` route; holds the candidates sharing that path shape.
    buckets: Vec<Vec<TemplateEntry>>,
    bucket_of: PathMap<usize>,
}

#[derive(Debug, Clone)]
struct TemplateEntry {
    resource: usize,
    /// Variable name per `matchit` parameter `p{i}`; `None` for an unnamed `/*`.
    vars: Vec<Option<String>>,
    query: Vec<QueryRequirement>,
    /// Added for `/foo/*` so that `/foo` itself matches; yields to explicit entries.
    implicit: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct QueryRequirement {
    name: String,
    value: QueryValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum QueryValue {
    /// `name={var}`: any value, bound to `var`.
    Bind(String),
    /// `name=value`: exactly this value.
    Literal(String),
}

/// Why a resource could not join a dispatcher.
#[derive(Debug)]
enum Clash {
    /// It overlaps this resource.
    With(usize),
    /// `matchit` cannot represent the template.
    Invalid(String),
}

/// What a resource contributes to a dispatcher, parsed once per resource.
#[derive(Debug, Clone)]
enum ParsedPattern {
    Exact(String),
    Prefix(String),
    Extension(String),
    Template(ParsedTemplate),
    Any,
}

#[derive(Debug, Clone)]
struct ParsedTemplate {
    /// The `matchit` route, with variables renamed `p0, p1, ...`.
    route: String,
    vars: Vec<Option<String>>,
    query: Vec<QueryRequirement>,
    catch_all: bool,
    /// For a trailing `/*`, the route without it (so `/foo` matches `/foo/*`).
    implicit_route: Option<String>,
}

// === impl RouteTable ===

impl RouteTable {
    /// Compiles the table, reporting every invalid pattern and every conflict.
    pub fn build(apis: &[ApiRoute]) -> Result<RouteTable, Vec<RouteError>> {
        let mut errors = Vec::new();
        let mut table = RouteTable::default();
        let mut owner_of_prefix: HashMap<String, usize> = HashMap::new();

        for (api_index, api) in apis.iter().enumerate() {
            let prefix = match resolve_prefix(api) {
                Ok(p) => p,
                Err(message) => {
                    errors.push(RouteError::InvalidContext {
                        api: api_index,
                        message,
                    });
                    continue;
                }
            };
            if let Some(&other) = owner_of_prefix.get(&prefix) {
                errors.push(RouteError::DuplicateContext {
                    api: api_index,
                    other,
                    prefix,
                });
                continue;
            }
            owner_of_prefix.insert(prefix.clone(), api_index);

            let api_table = build_api(api_index, api, &prefix, &mut errors);
            if prefix == "/" {
                table.root = Some(api_table);
            } else {
                table.by_prefix.insert(prefix, api_table);
            }
        }

        if errors.is_empty() {
            Ok(table)
        } else {
            Err(errors)
        }
    }

    /// Finds the resource for a request. `path` is the request's path (no query), `query`
    /// its raw query string.
    pub fn route(&self, method: &Method, path: &str, query: Option<&str>) -> RouteMatch {
        let Some(api) = self.find_api(path) else {
            return RouteMatch::NotFound { api: None };
        };
        let postfix = &path[api.prefix_len..];
        let sub_path = if postfix.is_empty() { "/" } else { postfix };
        let query = query.unwrap_or("");

        let dispatch = api
            .by_method
            .iter()
            .find(|(m, _)| m == method)
            .map_or(&api.other_methods, |(_, d)| d);
        if let Some((resource, uri_params)) = dispatch.find(sub_path, query) {
            let mut url_postfix = String::with_capacity(postfix.len() + query.len() + 1);
            url_postfix.push_str(postfix);
            if !query.is_empty() {
                url_postfix.push('?');
                url_postfix.push_str(query);
            }
            return RouteMatch::Found {
                api: api.api,
                resource,
                uri_params,
                query_params: parse_query(query),
                url_postfix,
            };
        }

        // Off the hot path: work out which methods would have matched.
        let allow: Vec<Method> = api
            .by_method
            .iter()
            .filter(|(_, d)| d.find(sub_path, query).is_some())
            .map(|(m, _)| m.clone())
            .collect();
        if allow.is_empty() {
            RouteMatch::NotFound { api: Some(api.api) }
        } else {
            RouteMatch::MethodNotAllowed {
                api: api.api,
                allow,
            }
        }
    }

    /// Whether the table has no APIs at all.
    pub fn is_empty(&self) -> bool {
        self.by_prefix.is_empty() && self.root.is_none()
    }

    /// The API with the longest context that is a segment-aligned prefix of `path`.
    fn find_api(&self, path: &str) -> Option<&ApiTable> {
        if !path.starts_with('/') {
            return None;
        }
        if let Some(api) = self.by_prefix.get(path) {
            return Some(api);
        }
        // Each '/' (except the leading one) ends a candidate context, longest first.
        let mut end = path.len();
        while let Some(slash) = path.as_bytes()[..end].iter().rposition(|&b| b == b'/') {
            if slash == 0 {
                break;
            }
            if let Some(api) = self.by_prefix.get(&path[..slash]) {
                return Some(api);
            }
            end = slash;
        }
        self.root.as_ref()
    }
}

/// The context as it appears in request paths: version applied, no trailing slash.
pub fn resolve_prefix(api: &ApiRoute) -> Result<String, String> {
    const PLACEHOLDER: &str = "{version}";
    let context = api.context.trim();
    if !context.starts_with('/') {
        return Err(format!("context {context:?} must start with '/'"));
    }
    let resolved = match (&api.version, api.version_type) {
        (None, _) if context.contains(PLACEHOLDER) => {
            return Err(format!(
                "context {context:?} uses {{version}} but the API has no version"
            ));
        }
        (None, _) => context.to_owned(),
        (Some(version), version_type) => {
            if version.is_empty() || version.contains(['/', '?', '#', '{', '}']) {
                return Err(format!(
                    "version {version:?} must be one non-empty path segment"
                ));
            }
            match version_type {
                VersionType::Context if context.contains(PLACEHOLDER) => {
                    context.replace(PLACEHOLDER, version)
                }
                VersionType::Context | VersionType::Url => {
                    format!("{}/{version}", context.trim_end_matches('/'))
                }
            }
        }
    };
    let resolved = if resolved.len() > 1 {
        resolved.trim_end_matches('/')
    } else {
        &resolved
    };
    let resolved = if resolved.is_empty() { "/" } else { resolved };
    if resolved.contains(['?', '#', '{', '}', '*']) {
        return Err(format!(
            "context {resolved:?} may not contain '?', '#', '*' or braces"
        ));
    }
    if resolved.contains("//") {
        return Err(format!("context {resolved:?} has an empty segment"));
    }
    Ok(resolved.to_owned())
}

fn build_api(
    api_index: usize,
    api: &ApiRoute,
    prefix: &str,
    errors: &mut Vec<RouteError>,
) -> ApiTable {
    let parsed: Vec<Option<ParsedPattern>> = api
        .resources
        .iter()
        .enumerate()
        .map(|(i, r)| match parse_pattern(&r.pattern) {
            Ok(p) => Some(p),
            Err(message) => {
                errors.push(RouteError::InvalidPattern {
                    api: api_index,
                    resource: i,
                    pattern: pattern_text(&r.pattern).to_owned(),
                    message,
                });
                None
            }
        })
        .collect();

    // Every method some resource names gets its own dispatcher holding the resources that
    // name it plus the method-less ones; any other method sees only the method-less ones.
    let mut methods: Vec<Method> = Vec::new();
    for r in &api.resources {
        for m in &r.methods {
            if !methods.contains(m) {
                methods.push(m.clone());
            }
        }
    }

    let mut reported: HashSet<(usize, usize)> = HashSet::new();
    let mut build = |method: Option<&Method>| {
        let mut dispatch = Dispatch::default();
        for (i, (resource, pattern)) in api.resources.iter().zip(&parsed).enumerate() {
            let Some(pattern) = pattern else { continue };
            let accepts = match method {
                Some(m) => resource.methods.is_empty() || resource.methods.contains(m),
                None => resource.methods.is_empty(),
            };
            if !accepts {
                continue;
            }
            match dispatch.insert(i, pattern) {
                Ok(()) => {}
                Err(Clash::Invalid(message)) => {
                    if reported.insert((i, i)) {
                        errors.push(RouteError::InvalidPattern {
                            api: api_index,
                            resource: i,
                            pattern: pattern_text(&resource.pattern).to_owned(),
                            message,
                        });
                    }
                }
                Err(Clash::With(other)) if reported.insert((other, i)) => {
                    let both_any = resource.methods.is_empty()
                        && api
                            .resources
                            .get(other)
                            .is_some_and(|o| o.methods.is_empty());
                    errors.push(RouteError::Conflict {
                        api: api_index,
                        resource: i,
                        other,
                        method: MethodLabel(if both_any { None } else { method.cloned() }),
                        pattern: match &resource.pattern {
                            ResourcePattern::Any => "(any path)".to_owned(),
                            p => pattern_text(p).to_owned(),
                        },
                    });
                }
                Err(Clash::With(_)) => {}
            }
        }
        dispatch.finish();
        dispatch
    };

    let by_method = methods
        .iter()
        .map(|m| (m.clone(), build(Some(m))))
        .collect();
    let other_methods = build(None);
    ApiTable {
        api: api_index,
        prefix_len: if prefix == "/" { 0 } else { prefix.len() },
        by_method,
        other_methods,
    }
}

fn pattern_text(pattern: &ResourcePattern) -> &str {
    match pattern {
        ResourcePattern::UriTemplate(s) | ResourcePattern::UrlMapping(s) => s,
        ResourcePattern::Any => "",
    }
}

fn parse_pattern(pattern: &ResourcePattern) -> Result<ParsedPattern, String> {
    match pattern {
        ResourcePattern::Any => Ok(ParsedPattern::Any),
        ResourcePattern::UrlMapping(mapping) => parse_mapping(mapping.trim()),
        ResourcePattern::UriTemplate(template) => {
            parse_template(template.trim()).map(ParsedPattern::Template)
        }
    }
}

fn parse_mapping(mapping: &str) -> Result<ParsedPattern, String> {
    if mapping.contains(['?', '#', '{', '}']) {
        return Err("a URL mapping may not contain '?', '#' or braces".to_owned());
    }
    if let Some(ext) = mapping.strip_prefix("*.") {
        if ext.is_empty() || ext.contains(['/', '*']) {
            return Err("an extension mapping is '*.' followed by an extension".to_owned());
        }
        return Ok(ParsedPattern::Extension(format!(".{ext}")));
    }
    if !mapping.starts_with('/') {
        return Err("a URL mapping starts with '/' (or is '*.ext')".to_owned());
    }
    if let Some(prefix) = mapping.strip_suffix("/*") {
        if prefix.contains('*') {
            return Err("'*' may only end a prefix mapping".to_owned());
        }
        return Ok(ParsedPattern::Prefix(prefix.to_owned()));
    }
    if mapping.contains('*') {
        return Err("'*' may only appear as '/prefix/*' or '*.ext'".to_owned());
    }
    Ok(ParsedPattern::Exact(
        trim_trailing_slash(mapping).to_owned(),
    ))
}

fn parse_template(template: &str) -> Result<ParsedTemplate, String> {
    let (path, query) = match template.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (template, None),
    };
    if !path.starts_with('/') {
        return Err("a URI template starts with '/'".to_owned());
    }
    let path = trim_trailing_slash(path);

    let mut route = String::with_capacity(path.len() + 8);
    let mut vars: Vec<Option<String>> = Vec::new();
    let mut catch_all = false;
    let mut implicit_route = None;
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (index, segment) in segments.iter().enumerate() {
        let last = index + 1 == segments.len();
        route.push('/');
        if *segment == "*" && last {
            implicit_route = Some(if route.len() > 1 {
                route[..route.len() - 1].to_owned()
            } else {
                "/".to_owned()
            });
            route.push_str(&format!("{{*p{}}}", vars.len()));
            vars.push(None);
            catch_all = true;
            continue;
        }
        if segment.matches('{').count() > 1 {
            return Err("only one parameter is allowed per path segment".to_owned());
        }
        let mut rest = *segment;
        while let Some(open) = rest.find('{') {
            let literal = &rest[..open];
            if literal.contains('}') {
                return Err("unbalanced '}'".to_owned());
            }
            route.push_str(literal);
            let Some(close) = rest[open..].find('}') else {
                return Err("unbalanced '{'".to_owned());
            };
            let expr = &rest[open + 1..open + close];
            rest = &rest[open + close + 1..];
            if let Some(name) = expr.strip_prefix('+') {
                check_var_name(name)?;
                if !last || open != 0 || !rest.is_empty() {
                    return Err(format!("{{+{name}}} must be the whole last segment"));
                }
                route.push_str(&format!("{{*p{}}}", vars.len()));
                catch_all = true;
            } else {
                check_var_name(expr)?;
                route.push_str(&format!("{{p{}}}", vars.len()));
            }
            vars.push(Some(expr.trim_start_matches('+').to_owned()));
        }
        if rest.contains('}') {
            return Err("unbalanced '}'".to_owned());
        }
        route.push_str(rest);
    }
    if route.is_empty() {
        route.push('/');
    }
    check_unique(vars.iter().flatten())?;

    let query = match query {
        None => Vec::new(),
        Some(q) => parse_query_template(q)?,
    };
    let bound = vars
        .iter()
        .flatten()
        .chain(query.iter().filter_map(|r| match &r.value {
            QueryValue::Bind(v) => Some(v),
            QueryValue::Literal(_) => None,
        }));
    check_unique(bound)?;

    Ok(ParsedTemplate {
        route,
        vars,
        query,
        catch_all,
        implicit_route,
    })
}

fn parse_query_template(query: &str) -> Result<Vec<QueryRequirement>, String> {
    let mut out: Vec<QueryRequirement> = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let Some((name, value)) = part.split_once('=') else {
            return Err(format!(
                "query part {part:?} must be name={{var}} or name=value"
            ));
        };
        if name.is_empty() || name.contains(['{', '}']) {
            return Err(format!("query part {part:?} has no plain parameter name"));
        }
        let value = if let Some(var) = value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
            check_var_name(var)?;
            QueryValue::Bind(var.to_owned())
        } else if value.contains(['{', '}']) {
            return Err(format!(
                "query part {part:?}: a variable must be the whole value"
            ));
        } else {
            QueryValue::Literal(decode_query_component(value))
        };
        let name = decode_query_component(name);
        if out.iter().any(|r| r.name == name) {
            return Err(format!("query parameter {name:?} appears twice"));
        }
        out.push(QueryRequirement { name, value });
    }
    Ok(out)
}

fn check_var_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty variable name".to_owned());
    }
    if let Some(op) = name.chars().next().filter(|c| "#./;?&=,!@|".contains(*c)) {
        return Err(format!("template operator {op:?} is not supported"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(format!("invalid variable name {name:?}"));
    }
    Ok(())
}

fn check_unique<'a>(names: impl Iterator<Item = &'a String>) -> Result<(), String> {
    let mut seen = HashSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(format!("variable {name:?} is bound twice"));
        }
    }
    Ok(())
}

fn trim_trailing_slash(path: &str) -> &str {
    if path.len() > 1 {
        path.strip_suffix('/').unwrap_or(path)
    } else {
        path
    }
}

// === impl Dispatch ===

impl Dispatch {
    /// Adds a resource, or says why it cannot go in.
    fn insert(&mut self, resource: usize, pattern: &ParsedPattern) -> Result<(), Clash> {
        match pattern {
            ParsedPattern::Exact(path) => {
                if let Some(&other) = self.exact.get(path) {
                    return Err(Clash::With(other));
                }
                self.exact.insert(path.clone(), resource);
            }
            ParsedPattern::Prefix(prefix) => {
                if let Some((_, other)) = self.prefixes.iter().find(|(p, _)| p == prefix) {
                    return Err(Clash::With(*other));
                }
                self.prefixes.push((prefix.clone(), resource));
            }
            ParsedPattern::Extension(ext) => {
                if let Some((_, other)) = self.extensions.iter().find(|(e, _)| e == ext) {
                    return Err(Clash::With(*other));
                }
                self.extensions.push((ext.clone(), resource));
            }
            ParsedPattern::Any => {
                if let Some(other) = self.fallback {
                    return Err(Clash::With(other));
                }
                self.fallback = Some(resource);
            }
            ParsedPattern::Template(t) => {
                let tier = &mut self.templates[usize::from(t.catch_all)];
                tier.insert(&t.route, resource, t, false)?;
                if let Some(implicit) = &t.implicit_route {
                    self.templates[0].insert(implicit, resource, t, true)?;
                }
            }
        }
        Ok(())
    }

    /// Orders the candidate lists for lookup.
    fn finish(&mut self) {
        self.prefixes
            .sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        self.extensions
            .sort_by_key(|(e, _)| std::cmp::Reverse(e.len()));
        for tier in &mut self.templates {
            for bucket in &mut tier.buckets {
                // Explicit before implicit, then the most demanding query first.
                bucket.sort_by_key(|e| (e.implicit, std::cmp::Reverse(e.query.len())));
            }
        }
    }

    /// The resource taking `sub_path` (which starts with '/'), with its template variables.
    fn find(&self, sub_path: &str, query: &str) -> Option<(usize, Vec<(String, String)>)> {
        let trimmed = trim_trailing_slash(sub_path);
        if let Some(&r) = self.exact.get(trimmed) {
            return Some((r, Vec::new()));
        }
        for (prefix, r) in &self.prefixes {
            let matches = prefix.is_empty()
                || trimmed == prefix
                || (trimmed.starts_with(prefix.as_str())
                    && trimmed.as_bytes().get(prefix.len()) == Some(&b'/'));
            if matches {
                return Some((*r, Vec::new()));
            }
        }
        for (ext, r) in &self.extensions {
            if sub_path.ends_with(ext.as_str()) {
                return Some((*r, Vec::new()));
            }
        }
        for tier in &self.templates {
            if let Some(found) = tier.find(trimmed, query) {
                return Some(found);
            }
        }
        self.fallback.map(|r| (r, Vec::new()))
    }
}

// === impl Templates ===

impl Templates {
    fn insert(
        &mut self,
        route: &str,
        resource: usize,
        template: &ParsedTemplate,
        implicit: bool,
    ) -> Result<(), Clash> {
        let entry = TemplateEntry {
            resource,
            vars: template.vars.clone(),
            query: template.query.clone(),
            implicit,
        };
        if let Some(&bucket) = self.bucket_of.get(route) {
            let clash = self.buckets[bucket]
                .iter()
                .find(|e| !implicit && !e.implicit && same_query(&e.query, &entry.query));
            if let Some(other) = clash {
                return Err(Clash::With(other.resource));
            }
            self.buckets[bucket].push(entry);
            return Ok(());
        }
        let bucket = self.buckets.len();
        match self.router.insert(route, bucket) {
            Ok(()) => {
                self.buckets.push(vec![entry]);
                self.bucket_of.insert(route.to_owned(), bucket);
                Ok(())
            }
            // The route shapes differ but `matchit` cannot tell them apart.
            Err(matchit::InsertError::Conflict { with }) => Err(Clash::With(
                self.bucket_of
                    .get(&with)
                    .and_then(|&b| self.buckets[b].first())
                    .map_or(resource, |e| e.resource),
            )),
            Err(e) => Err(Clash::Invalid(e.to_string())),
        }
    }

    fn find(&self, path: &str, query: &str) -> Option<(usize, Vec<(String, String)>)> {
        let matched = self.router.at(path).ok()?;
        let bucket = self.buckets.get(*matched.value)?;
        let entry = bucket.iter().find(|e| query_satisfies(query, &e.query))?;
        let mut params = Vec::with_capacity(matched.params.len() + entry.query.len());
        for (key, value) in matched.params.iter() {
            let index = key.strip_prefix('p').and_then(|i| i.parse::<usize>().ok());
            if let Some(Some(name)) = index.and_then(|i| entry.vars.get(i)) {
                params.push((
                    name.clone(),
                    percent_decode_str(value).decode_utf8_lossy().into(),
                ));
            }
        }
        for req in &entry.query {
            if let QueryValue::Bind(var) = &req.value {
                let value = query_value(query, &req.name).unwrap_or_default();
                params.push((var.clone(), value));
            }
        }
        Some((entry.resource, params))
    }
}

fn same_query(a: &[QueryRequirement], b: &[QueryRequirement]) -> bool {
    let shape = |r: &QueryRequirement| match &r.value {
        QueryValue::Bind(_) => (r.name.clone(), None),
        QueryValue::Literal(v) => (r.name.clone(), Some(v.clone())),
    };
    let a: HashSet<_> = a.iter().map(shape).collect();
    let b: HashSet<_> = b.iter().map(shape).collect();
    a == b
}

fn query_satisfies(query: &str, requirements: &[QueryRequirement]) -> bool {
    requirements
        .iter()
        .all(|req| match (&req.value, query_value(query, &req.name)) {
            (_, None) => false,
            (QueryValue::Bind(_), Some(_)) => true,
            (QueryValue::Literal(expected), Some(actual)) => *expected == actual,
        })
}

// === query strings ===

/// The first value of `name` in a raw query string, decoded.
fn query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (!k.is_empty() && decode_query_component(k) == name).then(|| decode_query_component(v))
    })
}

/// Every `name=value` pair of a raw query string, decoded, in order (a bare `name` has an
/// empty value).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_query_component(k), decode_query_component(v))
        })
        .collect()
}

/// Form decoding, as Synapse's `URLDecoder`: `+` is a space, then percent-decoding
/// (malformed UTF-8 is replaced rather than failing the request).
fn decode_query_component(raw: &str) -> String {
    if raw.contains('+') {
        let spaced = raw.replace('+', " ");
        percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
    } else {
        percent_decode_str(raw).decode_utf8_lossy().into_owned()
    }
}

#[cfg(test)]
mod tests;
