//! Check of the `cache` mediator (Micro Integrator 4.x): a finder's settings parsed once
//! (methods, the headers that go into the request hash, the status regex); a collector
//! takes no settings of its own, so a field set on it is an error rather than a setting
//! that silently does nothing. What Ferry cannot honour (another hash generator, a
//! protocol other than HTTP) is a located error.

use std::time::Duration;

use super::{Mediator, check_list};
use crate::check::cx::Cx;
use crate::mediator::{CacheProtocol, CacheSpec};

/// Micro Integrator's default hash generator, the one Ferry's request hash follows.
pub const HTTP_REQUEST_HASH_GENERATOR: &str =
    "org.wso2.carbon.mediator.cache.digest.HttpRequestHashGenerator";

/// A checked `cache` mediator.
#[derive(Debug, Clone)]
pub enum Cache {
    /// `collector: false`: looks requests up and answers hits.
    Finder(Box<Finder>),
    /// `collector: true`: stores the response for the request its finder looked up.
    Collector,
}

/// A checked finder.
#[derive(Debug, Clone)]
pub struct Finder {
    /// How long a stored response stays valid.
    pub timeout: Duration,
    /// Larger bodies are not stored.
    pub max_message_size: Option<u64>,
    /// What a hit does.
    pub on_hit: OnHit,
    /// Upper-case methods whose responses are stored; `None`: all.
    pub methods: Option<Vec<String>>,
    /// Which request headers go into the hash.
    pub headers: HashedHeaders,
    /// Status codes (as text) stored when they match in full.
    pub response_codes: regex::Regex,
    /// Honour `Cache-Control` of responses.
    pub enable_cache_control: bool,
    /// Add `Age` to answers from the cache.
    pub include_age_header: bool,
    /// Entries kept at most.
    pub max_size: usize,
    /// Bytes kept at most.
    pub max_total_size: u64,
}

/// What a hit does after the cached response replaced the message.
#[derive(Debug, Clone)]
pub enum OnHit {
    /// Answer with it.
    Respond,
    /// Run these mediators; the flow ends after them.
    Mediators(Vec<Mediator>),
    /// Run this named Sequence; the flow ends after it.
    Sequence(String),
}

/// The request headers that go into the hash (names lower-case).
#[derive(Debug, Clone)]
pub enum HashedHeaders {
    /// Every header but these (Micro Integrator's exclusion mode; empty: all).
    AllBut(Vec<String>),
    /// Only these.
    Only(Vec<String>),
    /// None (`headersToExcludeInHash: ["*"]`).
    None,
}

pub(super) fn cache(cx: &mut Cx<'_>, field: &str, spec: &CacheSpec) -> Option<Cache> {
    if spec.collector {
        return collector(cx, field, spec).then_some(Cache::Collector);
    }
    let before = cx.error_count();
    let p = &spec.protocol;
    let pf = format!("{field}.protocol");
    if !p.type_.eq_ignore_ascii_case("http") {
        cx.error(
            &format!("{pf}.type"),
            format!(
                "protocol {:?} is not supported: Ferry caches HTTP requests (type: http)",
                p.type_
            ),
        );
    }
    if let Some(generator) = &p.hash_generator
        && generator != HTTP_REQUEST_HASH_GENERATOR
    {
        cx.error(
            &format!("{pf}.hashGenerator"),
            format!(
                "hash generator {generator:?} cannot be honoured: Ferry hashes requests as \
                 {HTTP_REQUEST_HASH_GENERATOR} does (leave hashGenerator out)"
            ),
        );
    }
    let methods = methods(cx, &format!("{pf}.methods"), &p.methods);
    let headers = hashed_headers(cx, &pf, p);
    let codes_field = format!("{pf}.responseCodes");
    let response_codes = cx
        .regex(&codes_field, &p.response_codes)
        .and_then(|_| cx.regex(&codes_field, &format!("^(?:{})$", p.response_codes)));
    for (name, zero) in [
        ("timeout", spec.timeout == 0),
        ("maxSize", spec.max_size == 0),
        ("maxTotalSize", spec.max_total_size == 0),
    ] {
        if zero {
            cx.error(&format!("{field}.{name}"), "must be more than 0");
        }
    }
    let on_hit = match (&spec.on_cache_hit_sequence, spec.on_cache_hit.is_empty()) {
        (Some(_), false) => {
            cx.error(
                &format!("{field}.onCacheHitSequence"),
                "set either onCacheHit or onCacheHitSequence, not both",
            );
            None
        }
        (Some(name), true) => cx
            .sequence_ref(&format!("{field}.onCacheHitSequence"), name)
            .map(OnHit::Sequence),
        (None, true) => Some(OnHit::Respond),
        (None, false) => {
            check_list(cx, &format!("{field}.onCacheHit"), &spec.on_cache_hit).map(OnHit::Mediators)
        }
    };
    if cx.error_count() > before {
        return None;
    }
    Some(Cache::Finder(Box::new(Finder {
        timeout: Duration::from_millis(spec.timeout),
        max_message_size: spec.max_message_size,
        on_hit: on_hit?,
        methods: methods?,
        headers: headers?,
        response_codes: response_codes?,
        enable_cache_control: p.enable_cache_control,
        include_age_header: p.include_age_header,
        max_size: usize::try_from(spec.max_size).unwrap_or(usize::MAX),
        max_total_size: spec.max_total_size,
    })))
}

/// A collector has nothing to set: each field that differs from its default is an error.
fn collector(cx: &mut Cx<'_>, field: &str, spec: &CacheSpec) -> bool {
    let defaults = CacheSpec {
        collector: true,
        ..CacheSpec::default()
    };
    let mut set = Vec::new();
    if spec.timeout != defaults.timeout {
        set.push("timeout");
    }
    if spec.max_message_size.is_some() {
        set.push("maxMessageSize");
    }
    if !spec.on_cache_hit.is_empty() {
        set.push("onCacheHit");
    }
    if spec.on_cache_hit_sequence.is_some() {
        set.push("onCacheHitSequence");
    }
    if spec.protocol != CacheProtocol::default() {
        set.push("protocol");
    }
    if spec.max_size != defaults.max_size {
        set.push("maxSize");
    }
    if spec.max_total_size != defaults.max_total_size {
        set.push("maxTotalSize");
    }
    for name in &set {
        cx.error(
            &format!("{field}.{name}"),
            "a collector stores what its finder decided and takes no settings: set this on \
             the finder (the cache mediator with collector: false)",
        );
    }
    set.is_empty()
}

fn methods(cx: &mut Cx<'_>, field: &str, list: &[String]) -> Option<Option<Vec<String>>> {
    if list.is_empty() {
        cx.error(
            field,
            "list the methods whose responses are stored, or * for all",
        );
        return None;
    }
    let mut out = Vec::with_capacity(list.len());
    let mut ok = true;
    for (i, m) in list.iter().enumerate() {
        let m = m.trim();
        if m == "*" {
            return Some(None);
        }
        if m.is_empty() || !m.chars().all(|c| c.is_ascii_alphabetic() || c == '-') {
            cx.error(
                &format!("{field}[{i}]"),
                format!("{m:?} is not an HTTP method"),
            );
            ok = false;
        }
        out.push(m.to_ascii_uppercase());
    }
    ok.then_some(Some(out))
}

fn hashed_headers(cx: &mut Cx<'_>, field: &str, p: &CacheProtocol) -> Option<HashedHeaders> {
    let lower = |list: &[String]| -> Vec<String> {
        list.iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect()
    };
    let include = lower(&p.headers_to_include_in_hash);
    let exclude = lower(&p.headers_to_exclude_in_hash);
    match (include.is_empty(), exclude.is_empty()) {
        (false, false) => {
            cx.error(
                &format!("{field}.headersToIncludeInHash"),
                "set either headersToIncludeInHash or headersToExcludeInHash, not both",
            );
            None
        }
        (false, true) if include.iter().any(|h| h == "*") => {
            Some(HashedHeaders::AllBut(Vec::new()))
        }
        (false, true) => Some(HashedHeaders::Only(include)),
        (true, _) if exclude.iter().any(|h| h == "*") => Some(HashedHeaders::None),
        (true, _) => Some(HashedHeaders::AllBut(exclude)),
    }
}

#[cfg(test)]
mod tests {
    use crate::bundle::{Source, load};

    fn check(cache: &str) -> Vec<String> {
        let yaml = format!(
            "apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {{name: s}}
spec:
  mediators:
    - cache: {cache}
"
        );
        let (bundle, mut diagnostics) = load(&[Source {
            name: "c.yaml".into(),
            text: yaml,
        }]);
        diagnostics.extend(crate::validate::validate(&bundle));
        diagnostics.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn finders_and_collectors_with_what_mi_documents_are_valid() {
        for ok in [
            "{}",
            "{collector: true}",
            "{timeout: 1000, maxSize: 10, protocol: {methods: [GET, post], headersToExcludeInHash: ['*'], responseCodes: '2[0-9][0-9]', hashGenerator: org.wso2.carbon.mediator.cache.digest.HttpRequestHashGenerator}, onCacheHit: [{respond: {}}]}",
            "{protocol: {type: HTTP, headersToIncludeInHash: [Accept]}}",
        ] {
            assert_eq!(check(ok), Vec::<String>::new(), "{ok}");
        }
    }

    #[test]
    fn what_cannot_be_honoured_is_a_located_error() {
        let cases = [
            (
                "{protocol: {hashGenerator: org.wso2.carbon.mediator.cache.digest.DOMHASHGenerator}}",
                "c.yaml:6: Sequence/s spec.mediators[0].cache.protocol.hashGenerator: hash generator",
            ),
            (
                "{protocol: {type: jms}}",
                "cache.protocol.type: protocol \"jms\" is not supported",
            ),
            (
                "{collector: true, timeout: 10}",
                "cache.timeout: a collector stores what its finder decided",
            ),
            (
                "{protocol: {methods: []}}",
                "cache.protocol.methods: list the methods",
            ),
            (
                "{protocol: {methods: ['G T']}}",
                "cache.protocol.methods[0]: \"G T\" is not an HTTP method",
            ),
            (
                "{protocol: {headersToIncludeInHash: [a], headersToExcludeInHash: [b]}}",
                "cache.protocol.headersToIncludeInHash: set either",
            ),
            (
                "{protocol: {responseCodes: '2[0-9'}}",
                "cache.protocol.responseCodes: invalid regex",
            ),
            ("{timeout: 0}", "cache.timeout: must be more than 0"),
            (
                "{onCacheHitSequence: nope}",
                "cache.onCacheHitSequence: sequence \"nope\" is not defined",
            ),
            ("{scope: per-host}", "unknown field `scope`"),
        ];
        for (cache, expected) in cases {
            let d = check(cache);
            assert_eq!(d.len(), 1, "{cache}: {d:?}");
            assert!(d[0].contains(expected), "{cache}: {d:?}");
        }
    }
}
